"""Exercise `sse`: one server-sent event of the OpenAI-style streaming API.

Check it with `llmlab learn check serve sse` (your events against the API's own encoder, byte for byte, for
chunks with non-ASCII text, newlines and quotes; and a whole stream read back by the OpenAI client's SSE
decoder). A streaming response is a sequence of events, each `data: <one line of JSON>` and a blank line,
ending with `data: [DONE]` and a blank line.
"""

from __future__ import annotations

import json  # noqa: F401 - for your code
from typing import Any


def sse_event(data: dict[str, Any]) -> str:
    """"data: " + the JSON of `data` on ONE line + "\\n\\n" (the blank line ends the event).

    JSON as the API writes it: json.dumps(data, ensure_ascii=False, separators=(",", ":")) — compact, and
    "é" stays "é" (UTF-8 on the wire) instead of "\\u00e9". A newline inside a string is written as the two
    characters \\n by json, so the event stays on one line.
    Example: {"id": "cmpl-1", "choices": [{"text": "né\\n"}]} ->
             'data: {"id":"cmpl-1","choices":[{"text":"né\\\\n"}]}\\n\\n'
    """
    raise NotImplementedError("sse_event")

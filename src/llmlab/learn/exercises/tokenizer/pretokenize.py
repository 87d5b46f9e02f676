"""Exercise `pretokenize`: split texts with the regex that BPE never merges across, and count the chunks.

Check it with `llmlab learn check tokenizer pretokenize` (against HF tokenizers' Split pre-tokenizer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import regex  # noqa: F401 - for your code: \\p{L} needs the `regex` module, not `re`

from llmlab.errors import LabError  # noqa: F401 - for your code
from llmlab.tokenizer.pretokenize import compiled, resolve_pattern, texts_of  # noqa: F401 - for your code

# Given: resolve_pattern("gpt2" | "gpt4" | a regex) -> (name, regex string); compiled(regex) caches
# regex.compile; texts_of(source) turns a Corpus, one string or strings into an iterable of texts.


def count_chunks(source, pattern: str, on_text: Callable[[str], None] | None = None) -> Counter[str]:
    """How often each pre-token (regex match) occurs. Each text is split on its own: no chunk may
    span two documents. on_text(text), when given, is called after each text.

    GPT-2's pattern keeps a leading space with the word after it and splits letters, digits and
    punctuation apart:  count_chunks(["hello world", "hello"], "gpt2") -> {"hello": 2, " world": 1}
    """
    raise NotImplementedError("count_chunks")

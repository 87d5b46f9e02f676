"""Exercise `decode`: token ids back to bytes, special tokens included.

Check it with `llmlab learn check tokenizer decode` (against tiktoken's decode_bytes). A method of
llmlab's BPETokenizer: `self.vocab[i]` is the bytes of learned token i (i < len(self.vocab)), and
`self.token_bytes(i)` gives any id's bytes, special tokens too (raising for an unknown id).
"""

from __future__ import annotations

from collections.abc import Iterable

from llmlab.errors import LabError  # noqa: F401 - for your code


def decode_bytes(self, ids: Iterable[int]) -> bytes:
    """Concatenate the bytes of every id. Work in bytes: one token may hold half of a UTF-8 character
    (é is b"\\xc3\\xa9"; its two bytes can be two tokens), so decoding token by token to str is wrong.

    Example: vocab[104] = b"h", vocab[256] = b"\\xc3" ... -> decode_bytes(tok, [104, 105]) == b"hi"
    """
    raise NotImplementedError("decode_bytes")

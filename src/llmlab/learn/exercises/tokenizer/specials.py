"""Exercise `specials`: encode text with special tokens kept whole, as tiktoken does.

Check it with `llmlab learn check tokenizer specials` (against tiktoken's encode). A method of llmlab's
BPETokenizer: `self._special` maps each special token's text to its id, `self._special_regex`
(None when there are none) matches any of them, longest first, and `self.encode_ordinary(text)`
encodes plain text (regex split + BPE), treating special-token strings as ordinary characters.
"""

from __future__ import annotations

from collections.abc import Iterable

from llmlab.errors import LabError  # noqa: F401 - for your code


def encode(self, text: str, allowed_special: str | Iterable[str] = (),
           disallowed_special: str | Iterable[str] = "all") -> list[int]:
    """Encode text; a special token's text is one id where allowed, an error where disallowed.

    allowed_special: "all" or a set of special tokens to encode as their ids.
    disallowed_special: "all" (every special not allowed) or a set: finding one in text raises
        (LabError or ValueError) — text from a user must not turn into control tokens silently;
        () means "encode them as ordinary text".
    Example (<|endoftext|> = id 300): encode(tok, "a<|endoftext|>b", allowed_special="all")
             -> encode_ordinary("a") + [300] + encode_ordinary("b")
    """
    raise NotImplementedError("encode")

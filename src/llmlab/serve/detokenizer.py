"""Incremental detokenisation: turn a stream of token ids into a stream of text, one token at a time.

    detok = IncrementalDetokenizer(tokenizer, prompt_ids)
    for tok in new_tokens: stream(detok.step(tok))
    stream(detok.flush())

Decoding each token alone is wrong: a byte-level BPE splits one character (say "é", or an emoji) over
several tokens, and SentencePiece drops a token's leading space at the start of a text. So we decode a
small window twice, `ids[prefix:read]` (text already shown) and `ids[prefix:]` (with the new tokens),
and emit the difference, unless the new text ends in U+FFFD: then a character is still incomplete and
we wait for the next token. The window starts on the prompt's last tokens so that spacing is right.
"""

from __future__ import annotations

from typing import Any

CONTEXT_TOKENS = 5   # prompt tokens the window starts with


class IncrementalDetokenizer:
    def __init__(self, tokenizer: Any, prompt_ids: list[int], skip_special_tokens: bool = True):
        # the Rust tokenizer behind a fast HF tokenizer decodes ~10x faster than the Python wrapper
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            self._decode = lambda ids: backend.decode(ids, skip_special_tokens=skip_special_tokens)
        else:
            self._decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)
        self.ids = list(prompt_ids[-CONTEXT_TOKENS:])
        self.prefix = 0               # start of the window
        self.read = len(self.ids)     # tokens before this are already shown

    def step(self, token_id: int) -> str:
        self.ids.append(int(token_id))
        shown = self._decode(self.ids[self.prefix:self.read])
        text = self._decode(self.ids[self.prefix:])
        if len(text) > len(shown) and not text.endswith("\ufffd"):
            delta = text[len(shown):]
            # slide the window: it keeps the tokens just shown as context for the next ones
            self.prefix, self.read = self.read, len(self.ids)
            if self.prefix > 64:      # keep the list short on long generations
                del self.ids[:self.prefix]
                self.prefix, self.read = 0, self.read - self.prefix
            return delta
        return ""

    def flush(self) -> str:
        """At the end, whatever is still held back (an incomplete character decodes as U+FFFD)."""
        shown = self._decode(self.ids[self.prefix:self.read])
        text = self._decode(self.ids[self.prefix:])
        self.prefix = self.read = len(self.ids)
        return text[len(shown):] if len(text) > len(shown) else ""

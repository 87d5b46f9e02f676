"""Incremental detokenisation: turn a stream of token ids into a stream of text, one token at a time.

    detok = IncrementalDetokenizer(tokenizer, prompt_ids)
    for tok in new_tokens: stream(detok.step(tok))
    stream(detok.flush())

Decoding each token alone is wrong: a byte-level BPE splits one character (say "é", or an emoji) over
several tokens, and SentencePiece drops a token's leading space at the start of a text. So we decode a
small window twice, `ids[prefix:read]` (text already shown) and `ids[prefix:]` (with the new tokens),
and emit the difference, unless the new text ends in U+FFFD: then a character is still incomplete and
we wait for the next token. The window starts on the prompt's last tokens so that spacing is right.
Byte-level BPE tokenizers get a faster exact path, `ByteLevelDetokenizer` (see `make_detokenizer`).
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from llmlab.tokenizer.byte_alphabet import char_to_byte

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


def byte_table(tokenizer, skip_special_tokens: bool = True) -> list[bytes] | None:
    """For a byte-level BPE tokenizer, every id's raw bytes; None for any other kind of tokenizer."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    decoder = (json.loads(backend.to_str()).get("decoder") or {})
    if decoder.get("type") != "ByteLevel":
        return None
    to_byte = char_to_byte()
    spell = lambda tok: b"".join(bytes([to_byte[c]]) if c in to_byte else c.encode() for c in tok)  # noqa: E731
    table = [b""] * backend.get_vocab_size(with_added_tokens=True)
    for tok, i in backend.get_vocab(with_added_tokens=True).items():
        table[i] = spell(tok)
    for i, added in backend.get_added_tokens_decoder().items():
        if added.special and skip_special_tokens:
            table[i] = b""
    return table


class ByteLevelDetokenizer:
    """The fast path for byte-level BPE (GPT-2, Llama 3, Qwen): a token *is* a byte string, so the text is
    the concatenated bytes run through an incremental UTF-8 decoder, which holds back an incomplete
    character until its last byte arrives. One table lookup per token instead of two decodes."""

    def __init__(self, table: list[bytes]):
        self.table = table
        self.utf8 = codecs.getincrementaldecoder("utf-8")("replace")

    def step(self, token_id: int) -> str:
        return self.utf8.decode(self.table[token_id] if token_id < len(self.table) else b"")

    def flush(self) -> str:
        return self.utf8.decode(b"", final=True)


def make_detokenizer(tokenizer, prompt_ids: list[int], table: list[bytes] | None = None):
    return ByteLevelDetokenizer(table) if table is not None else IncrementalDetokenizer(tokenizer, prompt_ids)

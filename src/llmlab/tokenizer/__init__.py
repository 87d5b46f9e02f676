"""Tokenizers with one interface: `CharTokenizer` and `BPETokenizer` (encode, decode, save, load, to_hf)."""

from llmlab.tokenizer.base import Tokenizer, load_tokenizer
from llmlab.tokenizer.bpe import EOT, BPETokenizer
from llmlab.tokenizer.char import CharTokenizer

__all__ = ["EOT", "BPETokenizer", "CharTokenizer", "Tokenizer", "load_tokenizer"]

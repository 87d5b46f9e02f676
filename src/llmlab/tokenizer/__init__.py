"""Tokenizers with one interface: `CharTokenizer` and `BPETokenizer` (encode, decode, save, load, to_hf)."""

from llmlab.tokenizer.base import Tokenizer, load_tokenizer
from llmlab.tokenizer.char import CharTokenizer

__all__ = ["CharTokenizer", "Tokenizer", "load_tokenizer"]

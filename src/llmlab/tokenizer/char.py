"""Character-level tokenizer: one id per distinct character of the training text (sorted, as nanoGPT).

Characters never seen in training map to an `<unk>` id when one is reserved (`unk=True`, the default
for user text), so a sample prompt with a new character fails soft instead of crashing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmlab.errors import LabError
from llmlab.tokenizer.base import Tokenizer, read_meta

UNK = "<unk>"


class CharTokenizer(Tokenizer):
    kind = "char"

    def __init__(self, chars: list[str], unk: bool = True):
        self.chars = list(chars)
        self.unk = unk
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.unk_id = len(self.chars) if unk else None

    @classmethod
    def train(cls, text: str, unk: bool = True) -> CharTokenizer:
        if not text:
            raise LabError("cannot build a character vocabulary from empty text",
                           hint="give a non-empty corpus")
        return cls(sorted(set(text)), unk=unk)

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + (1 if self.unk else 0)

    @property
    def special_tokens(self) -> dict[str, int]:
        return {UNK: self.unk_id} if self.unk else {}

    def encode(self, text: str) -> list[int]:
        stoi = self.stoi
        if self.unk:
            return [stoi.get(c, self.unk_id) for c in text]
        try:
            return [stoi[c] for c in text]
        except KeyError as exc:
            raise LabError(
                f"character {exc.args[0]!r} is not in this tokenizer's vocabulary",
                hint="build the vocabulary with unk=True or from a text that contains it",
            ) from None

    def decode(self, ids: list[int]) -> str:
        n = len(self.chars)
        return "".join(self.chars[i] if 0 <= i < n else "\ufffd" for i in map(int, ids))

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        self._write_meta(directory, {"chars": self.chars, "unk": self.unk})
        self.to_hf().save_pretrained(str(directory))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> CharTokenizer:
        meta = read_meta(directory)
        return cls(meta["chars"], unk=meta.get("unk", True))

    def to_hf(self) -> Any:
        """A fast tokenizer with the same ids: each character is its own pre-token, decoded without spaces."""
        from tokenizers import Regex, decoders, models, pre_tokenizers
        from tokenizers import Tokenizer as HFTokenizer
        from transformers import PreTrainedTokenizerFast

        vocab = dict(self.stoi)
        if self.unk:
            vocab[UNK] = self.unk_id
        model = models.WordLevel(vocab=vocab, unk_token=UNK if self.unk else None)
        tok = HFTokenizer(model)
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        tok.decoder = decoders.Fuse()
        kwargs = {"unk_token": UNK} if self.unk else {}
        return PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False, **kwargs)

"""The one tokenizer interface every llmlab model uses (char-level and BPE alike).

    tok.encode(text) -> list[int]      tok.decode(ids) -> str
    tok.save(dir) / Cls.load(dir)      tok.to_hf() -> transformers.PreTrainedTokenizerFast
    tok.vocab_size                     tok.special_tokens  ({"<|endoftext|>": id, ...})

`to_hf()` is what makes a checkpoint a Hugging Face model directory: the trainer saves it next to
the weights, so `AutoTokenizer.from_pretrained(dir)` works on every model the lab writes.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from llmlab.errors import LabError

META_FILE = "llmlab_tokenizer.json"


class Tokenizer(ABC):
    kind: str = ""

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @property
    def special_tokens(self) -> dict[str, int]:
        return {}

    @abstractmethod
    def encode(self, text: str) -> list[int]: ...

    @abstractmethod
    def decode(self, ids: list[int]) -> str: ...

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    @abstractmethod
    def save(self, directory: str | Path) -> Path: ...

    @abstractmethod
    def to_hf(self) -> Any:
        """A `transformers.PreTrainedTokenizerFast` that encodes exactly as this tokenizer does."""

    @classmethod
    @abstractmethod
    def load(cls, directory: str | Path) -> Tokenizer: ...

    def _write_meta(self, directory: Path, payload: dict[str, Any]) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / META_FILE
        path.write_text(json.dumps({"kind": self.kind, **payload}, ensure_ascii=False, indent=1),
                        encoding="utf-8")
        return path


def read_meta(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / META_FILE
    if not path.exists():
        raise LabError(f"{directory} holds no llmlab tokenizer ({META_FILE} is missing)",
                       hint="train one with `llmlab tokenizer train --out DIR`, or pass the right folder")
    return json.loads(path.read_text(encoding="utf-8"))


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Load whichever llmlab tokenizer a folder holds."""
    from llmlab.tokenizer.char import CharTokenizer

    kinds: dict[str, type[Tokenizer]] = {"char": CharTokenizer}
    try:
        from llmlab.tokenizer.bpe import BPETokenizer

        kinds["bpe"] = BPETokenizer
    except ImportError:
        pass
    kind = read_meta(directory).get("kind")
    if kind not in kinds:
        raise LabError(f"unknown tokenizer kind {kind!r} in {directory}",
                       hint="expected one of " + ", ".join(kinds))
    return kinds[kind].load(directory)

"""A corpus is a list of named documents, with one deterministic train/val split rule.

- one document (tinyshakespeare, a single file): the first 90% of its characters train, the last
  10% validate — nanoGPT's rule, so figures compare with its numbers;
- several documents: split by whole document, so no document leaks across the split. The validation
  documents are the ~10% whose SHA-1 of the name sorts last: stable under reordering and across runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

DOC_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Document:
    name: str
    text: str


@dataclass
class Corpus:
    name: str
    documents: list[Document]
    source: str = ""                                 # where it came from: a path, a URL, a module
    notes: list[str] = field(default_factory=list)   # what a user should know: replaced bytes, skipped files

    @property
    def n_documents(self) -> int:
        return len(self.documents)

    @property
    def n_chars(self) -> int:
        return sum(len(d.text) for d in self.documents)

    @property
    def n_bytes(self) -> int:
        return sum(len(d.text.encode("utf-8")) for d in self.documents)

    @property
    def text(self) -> str:
        return DOC_SEPARATOR.join(d.text for d in self.documents)

    def split(self, val_fraction: float = 0.1) -> tuple[Corpus, Corpus]:
        """(train, val) by the rule in the module docstring."""
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if len(self.documents) == 1:
            (doc,) = self.documents
            cut = int(len(doc.text) * (1.0 - val_fraction))
            return (self._subset([Document(doc.name, doc.text[:cut])], "train"),
                    self._subset([Document(doc.name, doc.text[cut:])], "val"))
        n_val = max(1, round(len(self.documents) * val_fraction))
        by_hash = sorted(self.documents, key=lambda d: hashlib.sha1(d.name.encode("utf-8")).hexdigest())
        val_names = {d.name for d in by_hash[-n_val:]}
        return (self._subset([d for d in self.documents if d.name not in val_names], "train"),
                self._subset([d for d in self.documents if d.name in val_names], "val"))

    def _subset(self, docs: list[Document], part: str) -> Corpus:
        return Corpus(f"{self.name}[{part}]", docs, self.source, list(self.notes))

    def info(self, sample_chars: int = 300) -> dict:
        """The figures `llmlab data info` shows."""
        train, val = self.split()
        return {
            "corpus": self.name,
            "source": self.source,
            "documents": self.n_documents,
            "bytes": self.n_bytes,
            "characters": self.n_chars,
            "distinct_characters": len(set(self.text)),
            "split": {
                "rule": "first 90% / last 10% of the text" if self.n_documents == 1
                else "10% of documents by name hash",
                "train_documents": train.n_documents, "train_characters": train.n_chars,
                "val_documents": val.n_documents, "val_characters": val.n_chars,
            },
            "notes": self.notes,
            "sample": self.documents[0].text[:sample_chars] if self.documents else "",
        }

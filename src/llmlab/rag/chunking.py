"""Split documents into overlapping chunks, measured in the embedding model's tokens or in characters.

    chunks = chunk_corpus(load_corpus("python-docs"), ChunkConfig(size=200, overlap=32), tokenizer=tok)

Every chunk is an exact slice `doc.text[start:end]`, so its offsets are true and the chunks of a document
reassemble it. A cut prefers, in order, a paragraph break, a sentence end, a line end, then a space, as
long as the chunk keeps at least `min_fill` of its size; the next chunk starts `overlap` units earlier.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from llmlab.data import Corpus, Document
from llmlab.errors import LabError

UNITS = ("tokens", "chars")


@dataclass(frozen=True)
class ChunkConfig:
    # units per chunk (all-MiniLM-L6-v2 reads at most 256 tokens, [CLS]/[SEP] included)
    size: int = 200
    overlap: int = 32        # units shared with the previous chunk
    unit: str = "tokens"     # "tokens" of the embedding model's tokenizer, or "chars"
    min_fill: float = 0.5    # a boundary cut may shorten a chunk to this fraction of `size`, no further

    def check(self) -> None:
        if self.unit not in UNITS:
            raise LabError(f"unknown chunk unit {self.unit!r}", hint="use --set chunk_unit=tokens or chars")
        if self.size < 2:
            raise LabError(f"chunk size {self.size} is too small", hint="give chunks at least 2 units")
        if not 0 <= self.overlap < self.size:
            raise LabError(f"overlap {self.overlap} must be at least 0 and below the chunk size {self.size}",
                           hint="lower the overlap or raise the chunk size")
        if not 0.0 < self.min_fill <= 1.0:
            raise LabError(f"min_fill {self.min_fill} must be in (0, 1]", hint="e.g. 0.5")


@dataclass(frozen=True)
class Chunk:
    id: str          # "<doc>:<start>-<end>": stable for the same document and chunking settings
    doc: str         # the source document's name
    start: int       # character offsets into the document: text == document.text[start:end]
    end: int
    text: str
    n_units: int     # its size in the configured unit
    context: str = ""   # title > section path (rag/contextual.py): embedded and indexed, never shown as text

    @property
    def indexed(self) -> str:
        """What is embedded and keyword-indexed: the context line, a blank line, then the exact slice."""
        return f"{self.context}\n\n{self.text}" if self.context else self.text

    def to_dict(self) -> dict:
        return {"id": self.id, "doc": self.doc, "start": self.start, "end": self.end, "text": self.text,
                "n_units": self.n_units, **({"context": self.context} if self.context else {})}

    @classmethod
    def from_dict(cls, row: dict) -> Chunk:
        return cls(row["id"], row["doc"], row["start"], row["end"], row["text"], row["n_units"],
                   row.get("context", ""))


# Boundary strength at a cut position p (the chunk ends just before p); higher is better.
_PARAGRAPH, _SENTENCE, _LINE, _SPACE, _NONE = 4, 3, 2, 1, 0
_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]*\s$")


def boundary_strength(text: str, p: int) -> int:
    """How good a place position p is to cut `text`: a paragraph break beats a sentence end beats a space."""
    if p <= 0 or p >= len(text):
        return _PARAGRAPH
    before = text[max(0, p - 4):p]
    if before.endswith("\n\n"):
        return _PARAGRAPH
    if _SENTENCE_END.search(before):
        return _SENTENCE
    if before.endswith("\n"):
        return _LINE
    if before[-1:].isspace():
        return _SPACE
    return _NONE


def unit_starts(text: str, unit: str, tokenizer=None) -> list[int]:
    """Char positions where each unit starts, plus len(text) at the end: unit i is text[b[i]:b[i+1]].

    Tokens come from a fast tokenizer's offsets; the whitespace after a token belongs to it, so cutting
    at any b[i] never splits a token and the chunk between b[i] and b[j] holds j - i tokens."""
    if unit == "chars":
        return list(range(len(text) + 1))
    if tokenizer is None:
        raise LabError("token chunking needs the embedding model's tokenizer",
                       hint="pass tokenizer= or use unit=chars")
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                        verbose=False)["offset_mapping"]
    starts = sorted({s for s, e in offsets if e > s})
    if not starts or starts[0] != 0:
        starts = [0] + [s for s in starts if s > 0]
    return starts + [len(text)]


def chunk_text(text: str, doc: str, cfg: ChunkConfig, tokenizer=None) -> list[Chunk]:
    """The chunks of one document (an empty or blank document has none)."""
    cfg.check()
    if not text.strip():
        return []
    b = unit_starts(text, cfg.unit, tokenizer)
    n = len(b) - 1                       # units in the document
    chunks, i = [], 0
    while True:
        j = min(i + cfg.size, n)
        if j < n:
            # the best boundary in the last (1 - min_fill) of the window; ties go to the longest chunk
            lo = max(i + max(1, int(cfg.size * cfg.min_fill)), i + cfg.overlap + 1)
            best = max(range(lo, j + 1), key=lambda q: (boundary_strength(text, b[q]), q), default=j)
            j = best
        start, end = b[i], b[j]
        chunks.append(Chunk(f"{doc}:{start}-{end}", doc, start, end, text[start:end], j - i))
        if j >= n:
            return chunks
        i = _overlap_start(text, b, i, j, cfg.overlap)


def _overlap_start(text: str, b: list[int], i: int, j: int, overlap: int) -> int:
    """Where the next chunk starts: `overlap` units before j, moved forward (by at most a quarter of the
    overlap) to a word start, so the overlap does not begin inside a word."""
    k = max(i + 1, j - overlap)
    if overlap == 0:
        return j
    for q in range(k, min(j, k + max(1, overlap // 4) + 1)):
        if boundary_strength(text, b[q]) >= _SPACE:
            return q
    return k


def chunk_documents(documents: Iterable[Document], cfg: ChunkConfig, tokenizer=None) -> list[Chunk]:
    return [c for d in documents for c in chunk_text(d.text, d.name, cfg, tokenizer)]


def chunk_corpus(corpus: Corpus, cfg: ChunkConfig, tokenizer=None) -> list[Chunk]:
    return chunk_documents(corpus.documents, cfg, tokenizer)


def reassemble(chunks: list[Chunk]) -> str:
    """One document's text back from its chunks (in order), each overlap counted once."""
    out, covered = [], 0
    for c in sorted(chunks, key=lambda c: c.start):
        if c.start > covered:
            raise ValueError(f"gap between {covered} and {c.start}")
        out.append(c.text[covered - c.start:])
        covered = max(covered, c.end)
    return "".join(out)


def corpus_hash(corpus: Corpus) -> str:
    """SHA-256 over every document's name and text: an index built from other text is stale."""
    h = hashlib.sha256()
    for d in corpus.documents:
        for part in (d.name, d.text):
            data = part.encode("utf-8")
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
    return h.hexdigest()

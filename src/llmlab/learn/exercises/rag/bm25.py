"""Exercise `bm25`: Okapi BM25 keyword scores, equal to `rank_bm25.BM25Okapi` to the last digit.

Check it with `llmlab learn check rag bm25` (scores of python-docs passages and of hand-made corpora — a word
in every passage, a repeated query word, an unknown word, other k1 / b / epsilon — against
rank_bm25.BM25Okapi).
`build`, `size`, `search`, `save` and `load` are given; write `__init__` and `scores`.

build() gives you postings: for each term, the rows (passages) that hold it and how often, as two arrays —
only the passages that contain a term are touched when scoring it, which is what makes keyword search fast.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from llmlab.search.bm25 import tokenize  # noqa: F401 - "str.format()" -> ["str", "format"]
from llmlab.search.topk import top_k


class BM25:
    def __init__(self, postings: dict[str, tuple[np.ndarray, np.ndarray]], doc_len: np.ndarray,
                 k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25):
        """Keep the postings and the parameters, and precompute what every query reuses:

            N = number of passages, avgdl = mean passage length (in words), n_t = len(rows of t)
            idf(t) = ln((N - n_t + 0.5) / (n_t + 0.5))            (+0.5 both sides: rank_bm25's smoothing)
            a term in more than half the passages has idf < 0: give it epsilon · (mean of all idf) instead
            self._norm = k1 (1 - b + b |d| / avgdl)               (N,): the length part of each denominator
        Set self.postings, self.doc_len (float64), self.k1, self.b, self.epsilon, self.avgdl, self.idf
        ({term: idf}) and self._norm.
        Example: N = 4, a term in 1 passage -> ln(3.5 / 1.5) = 0.8473; in 3 -> ln(1.5 / 3.5) < 0 -> floored.
        """
        raise NotImplementedError("BM25.__init__")

    @classmethod
    def build(cls, texts: list[str], **params) -> BM25:
        rows: dict[str, list[int]] = {}
        freqs: dict[str, list[int]] = {}
        lengths = []
        for i, text in enumerate(texts):
            words = tokenize(text)
            lengths.append(len(words))
            for term, f in Counter(words).items():
                rows.setdefault(term, []).append(i)
                freqs.setdefault(term, []).append(f)
        postings = {t: (np.array(rows[t], dtype=np.int64), np.array(freqs[t],
                                                                    dtype=np.float64)) for t in rows}
        return cls(postings, np.array(lengths, dtype=np.float64), **params)

    @property
    def size(self) -> int:
        return len(self.doc_len)

    def scores(self, query: str | list[str]) -> np.ndarray:
        """(N,) the BM25 score of every passage for the query (a string is tokenize()d; a list is its words):

            score(q, d) = Σ_{t in q} idf(t) · f(t,d) (k1 + 1) / (f(t,d) + k1 (1 - b + b |d| / avgdl))
        A word repeated in the query counts each time; a word no passage holds adds nothing.
        Example: passages "a b", "c", "c d" (N = 3, avgdl 5/3), query "a": idf(a) = ln(2.5 / 1.5) = 0.5108;
                 passage 0: f = 1, norm = 1.5 (0.25 + 0.75 · 2 / (5/3)) = 1.725 -> 0.5108 · 2.5 / 2.725
                 -> scores [0.4686, 0.0, 0.0].
        """
        raise NotImplementedError("BM25.scores")

    def search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), (Q, k), best first; passages sharing no word with the query are left out (row
        -1)."""
        if self.size == 0:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        scores, rows = top_k(np.stack([self.scores(q) for q in queries]), k)
        zero = scores <= 0
        return np.where(zero, -np.inf, scores).astype(np.float32), np.where(zero, -1, rows)

    def save(self, folder: Path) -> None:
        (Path(folder) / "bm25.json").write_text(json.dumps({"k1": self.k1, "b": self.b,
                                                            "epsilon": self.epsilon}))

    @classmethod
    def load(cls, folder: Path, texts: list[str]) -> BM25:
        path = Path(folder) / "bm25.json"
        params = json.loads(path.read_text()) if path.exists() else {}
        return cls.build(texts, **params)

"""BM25 (Okapi) keyword search over chunks, with postings lists in NumPy; equal to `rank_bm25.BM25Okapi`.

    bm25 = BM25.build([chunk.text for chunk in chunks]);  scores, rows = bm25.search(["query"], k=10)

    score(q, d) = sum_{t in q} idf(t) * f(t,d) (k1 + 1) / (f(t,d) + k1 (1 - b + b |d| / avgdl))
    idf(t) = ln((N - n_t + 0.5) / (n_t + 0.5)), and a term in more than half the chunks (idf < 0) gets
    epsilon * mean idf instead: rank_bm25's floor, kept so the scores match it exactly.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from llmlab.search.topk import top_k

_WORD = re.compile(r"\w+", re.UNICODE)
# words that carry no topic, for short texts that are alike (chat turns, remembered facts): without them
# "what is my name" would match every fact that holds "is". Document search keeps every word, as rank_bm25
# does.
STOPWORDS = frozenset("a an and are as at be but by did do does for from had has have he her his how i in is "
                      "it "
                      "its me my of on or our she so that the their them then there they this to was we were "
                      "what "
                      "when where which who why will with you your".split())


def tokenize(text: str) -> list[str]:
    """Lower-cased word characters: "str.format()" -> ["str", "format"]."""
    return _WORD.findall(text.lower())


# code identifiers that `tokenize` splits apart or hides: dotted names, starred parameters, dunder names
_DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_STARRED = re.compile(r"(?<![\w*])(\*\*?)([A-Za-z_]\w*)")
_DUNDER = re.compile(r"\b__([A-Za-z]\w*?)__\b")
# operators `tokenize` drops entirely ("what does << do?"), as one word each; longest first
_OPERATORS = {"**": "power", "//": "floordiv", "<<": "lshift", ">>": "rshift", "->": "arrow",
              ":=": "walrus", "@": "at", "%": "percent", "~": "tilde", "^": "caret", "&": "ampersand",
              "|": "pipe"}
_OPERATOR = re.compile(r"\*\*(?![A-Za-z_])|" + "|".join(re.escape(op) for op in _OPERATORS if op != "**"))


def identifier_terms(text: str) -> list[str]:
    """Extra one-word terms for the identifiers in `text`, so keyword search can match them whole:
    "str.join" -> "str__join", "**kwargs" -> "starstar__kwargs", "*args" -> "star__args",
    "__init__" -> "init" (a user writes "init" for it), "<<" -> "op__lshift" (operators are otherwise
    lost). `tokenize` of each term is the term itself."""
    out = ["__".join(m.group(0).lower().split(".")) for m in _DOTTED.finditer(text)]
    out += [("starstar__" if m.group(1) == "**" else "star__") + m.group(2).lower()
            for m in _STARRED.finditer(text)]
    out += [m.group(1).lower() for m in _DUNDER.finditer(text)]
    out += ["op__" + _OPERATORS[m.group(0)] for m in _OPERATOR.finditer(text)]
    return out


def with_identifiers(text: str) -> str:
    """`text` followed by its identifier_terms: what a code-aware BM25 index and its queries tokenise,
    so the scores stay plain BM25 (equal to rank_bm25) over those tokens."""
    extra = identifier_terms(text)
    return text + ("\n" + " ".join(extra) if extra else "")


def topic_terms(text: str) -> list[str]:
    """`tokenize` without STOPWORDS: "what is my name?" -> ["name"]."""
    return [w for w in tokenize(text) if w not in STOPWORDS]


class BM25:
    def __init__(self, postings: dict[str, tuple[np.ndarray, np.ndarray]], doc_len: np.ndarray,
                 k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25):
        self.postings, self.doc_len = postings, doc_len.astype(np.float64)
        self.k1, self.b, self.epsilon = k1, b, epsilon
        n = len(doc_len)
        self.avgdl = float(self.doc_len.mean()) if n else 0.0
        df = {t: len(rows) for t, (rows, _) in postings.items()}
        idf = {t: np.log(n - f + 0.5) - np.log(f + 0.5) for t, f in df.items()}
        floor = epsilon * (sum(idf.values()) / len(idf)) if idf else 0.0
        self.idf = {t: (floor if v < 0 else v) for t, v in idf.items()}
        # the length part of the denominator, once per chunk: k1 (1 - b + b |d| / avgdl)
        self._norm = k1 * (1 - b + b * self.doc_len / max(self.avgdl, 1e-12))

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
        """(N,) BM25 score of every chunk; a repeated query word counts each time, as in rank_bm25."""
        words = tokenize(query) if isinstance(query, str) else query
        out = np.zeros(self.size)
        for term in words:
            if term not in self.postings:
                continue
            rows, f = self.postings[term]
            out[rows] += self.idf[term] * f * (self.k1 + 1) / (f + self._norm[rows])
        return out

    def search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), (Q, k), best first; chunks sharing no word with the query are left out (row -1)."""
        if self.size == 0:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        scores, rows = top_k(np.stack([self.scores(q) for q in queries]), k)
        zero = scores <= 0
        return np.where(zero, -np.inf, scores).astype(np.float32), np.where(zero, -1, rows)

    def save(self, folder: Path) -> None:
        # the tokenised chunks are cheap to rebuild from chunks.jsonl; only the parameters are stored
        (Path(folder) / "bm25.json").write_text(json.dumps({"k1": self.k1, "b": self.b,
                                                            "epsilon": self.epsilon}))

    @classmethod
    def load(cls, folder: Path, texts: list[str]) -> BM25:
        path = Path(folder) / "bm25.json"
        params = json.loads(path.read_text()) if path.exists() else {}
        return cls.build(texts, **params)

"""Keyword recall of old turns: Okapi BM25 over the messages that fell out of the context window.

    scores = bm25_scores(["the cat sat", "dogs bark"], "where did the cat sit?")

llmlab.rag did not exist when this was written, so the chat keeps this small scorer (tested against the
rank-bm25 package). For a document d and query terms q_1..q_n:

    score(d) = Σ_i IDF(q_i) · f(q_i, d) (k1 + 1) / (f(q_i, d) + k1 (1 - b + b |d| / avgdl))
    IDF(q)   = ln((N - n(q) + 0.5) / (n(q) + 0.5))         (negative IDFs floored at ε · mean IDF, as rank-bm25 does)
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

WORD = re.compile(r"\w+", re.UNICODE)
# the commonest English words carry no topic; dropping them keeps "what is my name" from matching every turn
STOPWORDS = frozenset("a an and are as at be but by did do does for from had has have he her his how i in is it "
                      "its me my of on or our she so that the their them then there they this to was we were what "
                      "when where which who why will with you your".split())


def terms(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if w not in STOPWORDS]


def bm25_scores(documents: Sequence[str], query: str, k1: float = 1.5, b: float = 0.75,
                epsilon: float = 0.25) -> list[float]:
    """BM25 score of each document for `query` (rank-bm25's BM25Okapi with its default constants)."""
    docs = [terms(d) for d in documents]
    if not docs:
        return []
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n or 1.0
    df = Counter(t for d in docs for t in set(d))
    idf = {t: math.log((n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
    floor = epsilon * (sum(idf.values()) / len(idf)) if idf else 0.0
    idf = {t: (v if v >= 0 else floor) for t, v in idf.items()}
    scores = []
    for d in docs:
        tf = Counter(d)
        norm = k1 * (1 - b + b * len(d) / avgdl)
        scores.append(sum(idf.get(q, 0.0) * tf[q] * (k1 + 1) / (tf[q] + norm) for q in terms(query)))
    return scores


def recall(documents: Sequence[str], query: str, k: int = 3) -> list[int]:
    """Indices of the (at most k) best-matching documents with a positive score, best first."""
    scores = bm25_scores(documents, query)
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], -i))     # ties: the later turn first
    return [i for i in ranked[:k] if scores[i] > 0]

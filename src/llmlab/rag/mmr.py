"""Maximal marginal relevance: re-rank candidates so the top k are relevant and not all alike.

    order = mmr(relevance, vectors, k=5, lam=0.7)      # indices into the candidates, best first

    pick_next = argmax_d  lam * rel(d) - (1 - lam) * max_{s in picked} cos(d, s)

(Carbonell & Goldstein, SIGIR 1998). `relevance` is the retriever's own score rescaled to [0, 1] over the
candidates (so a fused RRF ranking keeps its BM25 half), `vectors` the candidates' unit embeddings.
lam = 1 is the input order; lower values trade relevance for diversity.
"""

from __future__ import annotations

import numpy as np


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, lam: float = 0.7) -> list[int]:
    """Indices of `k` candidates in MMR order. relevance: (N,) any scale; vectors: (N, D) unit rows."""
    n = len(relevance)
    if n == 0:
        return []
    rel = np.asarray(relevance, dtype=np.float64)
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones(n)
    sim = vectors @ vectors.T                                   # (N, N) cosine between candidates
    picked: list[int] = []
    closest = np.full(n, -np.inf)                               # max similarity to anything picked so far
    for _ in range(min(k, n)):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        score = lam * rel - (1 - lam) * penalty
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        closest = np.maximum(closest, sim[best])
    return picked

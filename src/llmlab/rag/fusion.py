"""Reciprocal rank fusion: merge ranked lists (dense, BM25, ...) by rank alone, so their scores need no common
scale.

    rrf(d) = sum_m  w_m / (k + rank_m(d)),   rank_m(d) = 1 for the best item of list m, k = 60

k = 60 is the value of Cormack, Clarke & Buettcher (SIGIR 2009), who found it robust across collections: it
damps the head of each list so one list's first place cannot outvote agreement further down. An item
missing from a list adds nothing from that list.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K,
                           weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """[(item, fused score)] best first; ties keep the order items first appear in (list 0 first)."""
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            if item < 0:             # padding from a store that had fewer than k results
                continue
            fused[item] = fused.get(item, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])

"""Exercise `fusion`: reciprocal rank fusion — merge ranked lists (dense, BM25, ...) by rank alone.

Check it with `llmlab learn check rag fusion` (hand cases with known fused scores, weights, padding, ties).

A cosine similarity and a BM25 score have no common scale, so adding them means nothing; ranks do. k = 60 is
the value of Cormack, Clarke & Buettcher (SIGIR 2009): it damps the head of each list, so one list's first
place cannot outvote agreement further down.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmlab.rag.fusion import RRF_K  # noqa: F401 - 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K,
                           weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """[(item, fused score)], best first, over every item in any list:

        rrf(d) = Σ_m  w_m / (k + rank_m(d))       rank_m(d) = 1 for the first item of list m (not 0)
    An item missing from a list adds nothing from it; an item < 0 is padding (a store with fewer results than
    asked) and is skipped. Weights default to 1 each; a different number of weights than lists: ValueError.
    Ties keep the order in which items first appear (list 0 first, then list 1, ...): a stable sort.

    Example: rankings [[3, 1, 2], [1, 4]], k = 60 ->
             1: 1/62 + 1/61 = 0.03252,  3: 1/61 = 0.01639,  4: 1/62 = 0.01613,  2: 1/63 = 0.01587
             -> [(1, 0.03252), (3, 0.01639), (4, 0.01613), (2, 0.01587)]
    """
    raise NotImplementedError("reciprocal_rank_fusion")

"""Exercise `metrics`: recall@k and the reciprocal rank, the two numbers every retrieval table reports.

Check it with `llmlab learn check rag metrics` (hand cases with known answers, and rankings scored by
scikit-learn: top_k_accuracy_score for recall@k with one answer, label_ranking_average_precision_score for
1/rank).

A ranking here is a list of documents, best first, each at most once; `relevant` is the set of answers.
`llmlab.rag.metrics.evaluate_rankings` averages both over the questions (MRR = the mean reciprocal rank).
"""

from __future__ import annotations

from collections.abc import Sequence


def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """The share of the relevant documents found in the top k:

        recall@k = |relevant ∩ ranked[:k]| / |relevant|        (divide by |relevant|, not by k); 0.0 if none
        relevant
    Example: ranked ["a", "b", "c", "d"], relevant {"b", "x"}: k = 1 -> 0.0, k = 2 -> 0.5, k = 10 -> 0.5.
    """
    raise NotImplementedError("recall_at_k")


def reciprocal_rank(ranked: Sequence[str], relevant: set[str]) -> float:
    """1 / the rank of the first relevant document, counting from 1; 0.0 if none is ranked.

    Example: ranked ["a", "b", "c"], relevant {"c", "b"} -> 1/2;  relevant {"a"} -> 1.0;  relevant {"z"} ->
    0.0.
    """
    raise NotImplementedError("reciprocal_rank")

"""Retrieval metrics at the document level: recall@k, MRR and nDCG@k over a set of queries with known answers.

A ranked list of chunks becomes a ranked list of documents (each document at the rank of its best chunk),
since a question is answered by a document, whichever of its chunks is found; documents that are copies of
one answer form an answer group and count once. With R the relevant set (of answers):

    recall@k = |R ∩ top_k| / |R|        MRR = mean 1 / rank of the first relevant document (0 if none)
    nDCG@k   = DCG@k / IDCG@k,  DCG@k = sum_{i<=k, d_i in R} 1 / log2(i + 1),  IDCG@k = DCG of a perfect list
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def dedupe(docs: Sequence[str]) -> list[str]:
    """Documents in order of first appearance (the rank of a document is that of its best chunk)."""
    seen: set[str] = set()
    return [d for d in docs if not (d in seen or seen.add(d))]


def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: set[str]) -> float:
    return next((1.0 / i for i, d in enumerate(ranked, start=1) if d in relevant), 0.0)


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 1) for i, d in enumerate(ranked[:k], start=1) if d in relevant)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal if ideal else 0.0


def as_answers(ranked_docs: Sequence[str], groups: Sequence[set[str] | frozenset[str]]) -> tuple[list, set]:
    """Documents -> answer groups: copies of one answer count once, at the rank of the first copy found.

    Returns the ranking in group ids (a document in no group stays itself, a miss) and the relevant ids."""
    def gid(doc: str):
        return next((i for i, g in enumerate(groups) if doc in g), doc)
    return dedupe([gid(d) for d in ranked_docs]), set(range(len(groups)))


def evaluate_rankings(rankings: Sequence[Sequence[str]], relevant: Sequence[Sequence[set[str]]],
                      ks: Sequence[int] = (1, 3, 5, 10)) -> dict[str, float]:
    """Mean recall@k and nDCG@k for each k, and MRR, over queries.

    rankings[i]: documents of query i's chunks, best first; relevant[i]: its answer groups (sets of documents
    that each hold the answer; one group for a one-answer question)."""
    if len(rankings) != len(relevant):
        raise ValueError(f"{len(rankings)} rankings for {len(relevant)} relevance sets")
    n = max(len(rankings), 1)
    pairs = [as_answers(r, g) for r, g in zip(rankings, relevant, strict=True)]
    out = {f"recall@{k}": sum(recall_at_k(r, rel, k) for r, rel in pairs) / n for k in ks}
    out["mrr"] = sum(reciprocal_rank(r, rel) for r, rel in pairs) / n
    out.update({f"ndcg@{k}": sum(ndcg_at_k(r, rel, k) for r, rel in pairs) / n for k in ks})
    return out

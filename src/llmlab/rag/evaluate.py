"""Score an index on an evaluation set (dense vs BM25 vs hybrid) and check its stores against brute force.

    report = evaluate_index(index, questions(corpus))          # {"dense": {"recall@5": ...}, "bm25": ...,
    ...} agreement = store_agreement(index.vectors, index.embedder.embed_queries(texts), ["faiss", "chroma"],
    k=10)
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from llmlab.rag.evalset import Query
from llmlab.rag.index import METHODS, Hit, Index
from llmlab.rag.metrics import as_answers, evaluate_rankings
from llmlab.rag.stores import NumpyStore, make_store

KS = (1, 3, 5, 10)
DEPTH = 50      # chunks retrieved per query before ranking documents (MRR looks this deep)


def index_methods(index: Index) -> tuple[str, ...]:
    """The methods an index can answer: all three, or BM25 alone for a keyword-only index (nothing
    embedded)."""
    return METHODS if index.store is not None else ("bm25",)


def hit_labels(queries: Sequence[Query], hits: Sequence[Sequence[Hit]]) -> list[list[list[str]]]:
    """Per query, per hit: the documents it stands for (its own and its copies'), as the query labels them."""
    return [[[q.label(c.doc, c.start, c.end) for c in h.sources] for h in hs]
            for q, hs in zip(queries, hits, strict=True)]


def hit_scores(queries: Sequence[Query], hits: Sequence[Sequence[Hit]], ks: Sequence[int]) -> dict:
    """What a user sees in the first k hits of `rag search`: hit_recall@k (share of questions whose answer
    is among them) and sources@k (mean number of distinct documents they show)."""
    labels = hit_labels(queries, hits)
    out = {}
    n = max(len(queries), 1)
    for k in ks:
        found = sum(any(d in g for h in hs[:k] for d in h for g in q.groups) for q, hs in zip(queries, labels,
                                                                                                strict=True))
        out[f"hit_recall@{k}"] = found / n
        out[f"sources@{k}"] = sum(len({d for h in hs[:k] for d in h}) for hs in labels) / n
    return out


def evaluate_index(index: Index, queries: Sequence[Query], methods: Sequence[str] | None = None,
                   ks: Sequence[int] = KS, depth: int = DEPTH, **options) -> dict[str, dict]:
    """Per method: mean recall@k, nDCG@k, MRR, seconds per query, and each query's answer rank (0: not
    found). recall@k counts distinct documents down the ranking (a document at the rank of its best chunk);
    hit_recall@k counts the first k hits exactly as search returns them. `options` go to search_many."""
    methods = methods or index_methods(index)
    texts = [q.text for q in queries]
    if any(m != "bm25" for m in methods):
        # embed once up front, so per-method timings compare search alone
        index.embedder.embed_queries(texts)
    report = {}
    for method in methods:
        start = time.perf_counter()
        hits = index.search_many(texts, k=depth, method=method, **options)
        seconds = time.perf_counter() - start
        rankings = [[d for h in hs for d in h] for hs in hit_labels(queries, hits)]
        groups = [list(q.groups) for q in queries]
        scores = {**evaluate_rankings(rankings, groups, ks), **hit_scores(queries, hits, ks)}
        ranks = []
        for ranking, g in zip(rankings, groups, strict=True):
            ids, _ = as_answers(ranking, g)
            ranks.append(next((i for i, a in enumerate(ids, start=1) if a == 0), 0))
        report[method] = {**scores, "ms_per_query": 1000 * seconds / max(len(texts), 1),
                          "answer_ranks": ranks}
    return report


def store_agreement(vectors: np.ndarray, query_vectors: np.ndarray, kinds: Sequence[str], k: int = 10,
                    folder=None, repeats: int = 3) -> dict[str, dict]:
    """Each store built from `vectors` (N, D) vs brute force, searched with `query_vectors` (Q, D): exact
    top-k share, id overlap, timing.

    `exact_topk` is the share of queries whose top-k is a correct top-k (ties at the k-th score may swap);
    `overlap` the mean |top-k ∩ brute-force top-k| / k; `max_score_error` the largest gap between a score
    a store reports and the true inner product. Search time is the median of
    `repeats` rounds over all queries, and `speed_vs_numpy` is brute force's time over the store's."""
    qv = query_vectors
    brute = NumpyStore(vectors.shape[1])
    brute.add(vectors)
    out = {}
    stores = {"numpy": brute}
    for kind in kinds:
        if kind == "numpy":
            continue
        start = time.perf_counter()
        store = make_store(kind, brute.dim, folder=folder)
        store.add(vectors)
        stores[kind] = (store, time.perf_counter() - start)
    times = {kind: [] for kind in stores}
    results = {}
    for round_ in range(repeats + 1):      # interleave the stores so a noisy moment hits all of them
        for kind, entry in stores.items():
            store = entry[0] if isinstance(entry, tuple) else entry
            start = time.perf_counter()
            results[kind] = store.search(qv, k)
            if round_:                     # round 0 warms caches and thread pools, uncounted
                times[kind].append(time.perf_counter() - start)
    full = qv @ vectors.T                                  # (Q, N) every true score
    kth = np.sort(full, axis=1)[:, -min(k, full.shape[1])]       # the k-th best true score per query
    ref_rows = results["numpy"][1]
    for kind, entry in stores.items():
        scores, rows = results[kind]
        overlap = [len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(rows, ref_rows, strict=True)]
        exact = [_exact_topk(r, full[i], kth[i], k) for i, r in enumerate(rows)]
        valid = rows >= 0
        true = np.take_along_axis(full, np.where(valid, rows, 0), axis=1)
        out[kind] = {
            "exact_topk": float(np.mean(exact)), "overlap": float(np.mean(overlap)),
            "max_score_error": float(np.abs(scores - true)[valid].max()) if valid.any() else 0.0,
            "build_s": entry[1] if isinstance(entry, tuple) else 0.0,
            "search_ms_per_query": 1000 * float(np.median(times[kind])) / max(len(qv), 1),
            "speed_vs_numpy": float(np.median(times["numpy"]) / max(np.median(times[kind]), 1e-12)),
        }
    return out


def _exact_topk(rows: np.ndarray, true: np.ndarray, kth: float, k: int, tol: float = 1e-5) -> bool:
    """A correct top-k: k distinct rows, each scoring at least the true k-th best (within float rounding).

    Rows tied with the k-th best may be swapped for one another, so comparing id lists would call a correct
    answer wrong."""
    picked = [r for r in rows.tolist() if r >= 0]
    want = min(k, len(true))
    return len(picked) == want and len(set(picked)) == want and bool((true[picked] >= kth - tol).all())


def report(index: Index, queries: Sequence[Query], out, title: str, ks: Sequence[int] = KS,
           methods: Sequence[str] | None = None) -> dict:
    """evaluate_index + the recall@k picture (one curve per method) + a compact table for summary.json."""
    from pathlib import Path

    from llmlab.plots import plot_curves

    methods = methods or index_methods(index)
    results = evaluate_index(index, queries, methods, ks=tuple(range(1, max(ks) + 1)))
    picture = plot_curves(
        {
            m: (list(range(1, max(ks) + 1)), [results[m][f"recall@{k}"] for k in range(1, max(ks) + 1)])
            for m in methods
        },
        Path(out) / "recall_at_k.png",
        title=title,
        xlabel="k",
        ylabel="recall@k (answer document in the top k)",
    )
    table = {m: {key: round(results[m][key], 4) for key in
                 [f"recall@{k}" for k in ks] + ["mrr"] + [f"ndcg@{k}" for k in ks] + ["ms_per_query"]
                 + [f"hit_recall@{k}" for k in ks]}
             for m in methods}
    return {"metrics": table, "queries": len(queries), "picture": picture.name,
            "answer_ranks": {m: results[m]["answer_ranks"] for m in methods}}

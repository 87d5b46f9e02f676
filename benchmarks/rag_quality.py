"""RAG retrieval quality: the ablation (plain -> contextual -> dedup -> fusion tuned) on the dev and test
questions over python-docs, the fusion grid on dev only, the stdlib docstring set, and index build times.

    python benchmarks/rag_quality.py                 # ablation, grid, stdlib (embeddings cached after run 1)
    python benchmarks/rag_quality.py --build-times   # also: cold index builds, today's settings vs default

Settings are chosen on `dev` (the 61 questions of rag/evalset.py); `test` (81 questions written before
tuning) and `stdlib` are only reported. hit_recall@5 counts the 5 hits `llmlab rag search` shows; recall@5
counts the first 5 distinct documents down a 50-chunk ranking (the figure docs/results.md reported before).
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time

COLUMNS = ("hit_recall@5", "recall@5", "mrr", "sources@5")


def build(corpus, embedder, **cfg):
    from llmlab.rag.index import Index, IndexConfig

    return Index.build(corpus, IndexConfig(store="numpy", **cfg), embedder=embedder, progress=False)


def score(index, queries, **options) -> dict:
    from llmlab.rag.evaluate import evaluate_index

    res = evaluate_index(index, queries, ["hybrid"], ks=(1, 3, 5, 10), **options)["hybrid"]
    return {c: round(res[c], 4) for c in COLUMNS}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-times", action="store_true")
    parser.add_argument("--skip-stdlib", action="store_true")
    parser.add_argument("--skip-grid", action="store_true", help="only the ablation rows (and stdlib)")
    args = parser.parse_args()

    from llmlab.data import load_corpus
    from llmlab.rag.embed import Embedder
    from llmlab.rag.evalset import heldout, questions, stdlib
    from llmlab.rag.evalsets.stdlib_docstrings import stdlib_corpus
    from llmlab.rag.index import CANDIDATES, FUSION_K, WEIGHTS

    corpus = load_corpus("python-docs")
    sets = {"dev": questions(corpus), "test": heldout(corpus)}
    embedder = Embedder()
    out: dict = {"queries": {k: len(v) for k, v in sets.items()}, "ablation": {}, "grid": []}
    today = dict(candidates=50, weights=(1.0, 1.0), rrf_k=60, per_doc=None, opening=0.0)
    tuned = dict(candidates=CANDIDATES, weights=WEIGHTS, rrf_k=FUSION_K)
    plain = build(corpus, embedder, contextual=False, identifiers=False)
    ctx = build(corpus, embedder, contextual=True, identifiers=False)
    ctx_ids = build(corpus, embedder, contextual=True, identifiers=True)
    rows = {
        "plain (today)": (plain, dict(dedup=False, **today)),
        "+ contextual": (ctx, dict(dedup=False, **today)),
        "+ identifier tokens": (ctx_ids, dict(dedup=False, **today)),
        "+ dedup": (ctx_ids, dict(dedup=True, **today)),
        "+ fusion tuned": (ctx_ids, dict(dedup=True, **tuned, per_doc=None, opening=0.0)),
        "+ one hit per document": (ctx_ids, dict(dedup=True, **tuned, per_doc=1, opening=0.0)),
        "+ page openings": (ctx_ids, dict(per_doc=1)),
        "- one hit per document (default)": (ctx_ids, {}),
        "default + mmr 0.85": (ctx_ids, dict(mmr=0.85)),
    }
    for name, (index, options) in rows.items():
        out["ablation"][name] = {s: score(index, qs, **options) for s, qs in sets.items()}
        print(name, json.dumps(out["ablation"][name]), flush=True)
    # the grid, on dev only
    grid = itertools.product((0.25, 0.5, 0.75, 1.0), (30, 60), (None, 1), (0.0, 1.0, 2.0))
    for w, rk, per_doc, opening in [] if args.skip_grid else grid:
        opts = dict(dedup=True, weights=(1.0, w), rrf_k=rk, per_doc=per_doc, opening=opening)
        out["grid"].append({"w_bm25": w, "rrf_k": rk, "per_doc": per_doc, "opening": opening,
                            **score(ctx_ids, sets["dev"], **opts)})
    # the rule that chose the defaults: dev hit_recall@5 first, then dev MRR
    best = sorted(out["grid"], key=lambda r: (-r["hit_recall@5"], -r["mrr"]))[:8]
    print("best on dev:", *map(json.dumps, best), sep="\n")
    if not args.skip_stdlib:
        small = stdlib_corpus()
        qs = stdlib(small)
        out["stdlib"] = {"queries": len(qs)}
        s_plain = build(small, embedder, contextual=False, identifiers=False)
        s_ctx = build(small, embedder, identifiers=False)
        s_ids = build(small, embedder)
        for name, index, opts in (
                ("plain (today)", s_plain, dict(dedup=False, **today)),
                ("+ contextual", s_ctx, dict(dedup=False, **today)),
                ("+ identifier tokens", s_ids, dict(dedup=False, **today)),
                ("+ dedup", s_ids, dict(dedup=True, **today)),
                ("+ fusion tuned", s_ids, dict(dedup=True, **tuned, per_doc=None, opening=0.0)),
                ("+ one hit per document", s_ids, dict(per_doc=1, opening=0.0)),
                ("+ page openings", s_ids, dict(per_doc=1)),
                ("- one hit per document (default)", s_ids, {})):
            out["stdlib"][name] = score(index, qs, **opts)
            print("stdlib", name, out["stdlib"][name], flush=True)
    if args.build_times:
        out["build_s"] = build_times(corpus)
        print("build seconds", out["build_s"])
    print(json.dumps(out))


def build_times(corpus, rounds: int = 2) -> dict:
    """Cold builds (no embedding cache), today's settings and the default, interleaved: wall seconds and
    CPU seconds of this process (the CPU figure is the fairer one on a machine shared with other work)."""
    from llmlab.rag.embed import Embedder
    from llmlab.rag.index import Index, IndexConfig

    times: dict[str, dict[str, list[float]]] = {"today": {"wall": [], "cpu": []},
                                                "default": {"wall": [], "cpu": []}}
    for _ in range(rounds):
        for name, cfg in (("today", IndexConfig(contextual=False, identifiers=False)),
                          ("default", IndexConfig())):
            with tempfile.TemporaryDirectory() as cache:
                emb = Embedder(cache_dir=cache)
                wall, cpu = time.perf_counter(), time.process_time()
                Index.build(corpus, cfg, embedder=emb, progress=False)
                times[name]["wall"].append(round(time.perf_counter() - wall, 1))
                times[name]["cpu"].append(round(time.process_time() - cpu, 1))
    return times


if __name__ == "__main__":
    main()

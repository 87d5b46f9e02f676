"""RAG benchmark: retrieval quality (dense vs BM25 vs hybrid) on python-docs, and vector-store speed and
exactness.

    python benchmarks/rag.py            # all 79 python-docs documents (first run embeds ~960 chunks: minutes
    on CPU;
                                        # the embedding cache makes later runs fast) + stores at 20k vectors
    python benchmarks/rag.py --quick    # the documents under 1,500 characters + stores at 5k vectors

Store timings are ratios against brute-force NumPy measured in the same run (interleaved, median of repeats);
BM25 timings against rank_bm25 on the same chunks, whose scores it must equal.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def retrieval(quick: bool) -> tuple[dict, object]:
    from llmlab.data import Corpus, load_corpus
    from llmlab.rag.evalset import questions, titles
    from llmlab.rag.evaluate import evaluate_index
    from llmlab.rag.index import Index, IndexConfig
    from llmlab.rag.metrics import evaluate_rankings

    full = load_corpus("python-docs")
    corpus = Corpus("python-docs[<1500 chars]",
                    [d for d in full.documents if len(d.text) <= 1500]) if quick else full
    start = time.perf_counter()
    index = Index.build(corpus, IndexConfig(store="faiss"))
    build_s = time.perf_counter() - start
    out = {"corpus": corpus.name, "documents": corpus.n_documents, "chunks": len(index), "build_s": build_s,
           "sets": {}}
    for name, make in (("questions", questions), ("titles", titles)):
        queries = make(corpus)
        res = evaluate_index(index, queries)
        texts = [q.text for q in queries]
        # weighted hybrids: how much BM25 helps or hurts next to the dense ranking
        for w in (0.5, 2.0):
            hits = index.search_many(texts, k=50, method="hybrid", weights=(1.0, w))
            res[f"hybrid w_bm25={w}"] = evaluate_rankings([[h.chunk.doc for h in hs] for hs in hits],
                                                          [list(q.groups) for q in queries])
        out["sets"][name] = {"queries": len(queries), "methods": res}
    return out, index


def stores(index, n_synthetic: int, repeats: int = 5) -> dict:
    from llmlab.rag.evalset import QUESTIONS
    from llmlab.rag.evaluate import store_agreement

    kinds = ["faiss", "faiss-hnsw", "faiss-ivf", "chroma"]
    folder = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    qv = index.embedder.embed_queries([q for q, _ in QUESTIONS])
    real = store_agreement(index.vectors, qv, kinds, k=10, folder=folder / "docs", repeats=repeats)
    # clustered synthetic vectors (like real embeddings, unlike uniform noise): 200 centres + noise, unit
    # length
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, index.vectors.shape[1]))
    x = centres[rng.integers(0, 200, n_synthetic)] + 0.6 * rng.normal(size=(n_synthetic, centres.shape[1]))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    q = x[rng.choice(n_synthetic, 200, replace=False)] + 0.05 * rng.normal(size=(200, x.shape[1]))
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    synthetic = store_agreement(x, q, kinds, k=10, folder=folder / "synthetic", repeats=repeats)
    shutil.rmtree(folder, ignore_errors=True)
    return {"python-docs": {"vectors": len(index.vectors), "stores": real},
            "synthetic": {"vectors": n_synthetic, "stores": synthetic}}


def bm25_speed(index, repeats: int = 5) -> dict:
    from rank_bm25 import BM25Okapi

    from llmlab.rag.evalset import QUESTIONS
    from llmlab.search.bm25 import BM25, tokenize

    texts = [c.text for c in index.chunks]
    mine, ref = BM25.build(texts), BM25Okapi([tokenize(t) for t in texts])
    queries = [q for q, _ in QUESTIONS]
    err = max(float(np.abs(mine.scores(t) - ref.get_scores(tokenize(t))).max()) for t in queries)
    t_mine, t_ref = [], []
    for _ in range(repeats):
        s = time.perf_counter()
        for t in queries:
            mine.scores(t)
        t_mine.append(time.perf_counter() - s)
        s = time.perf_counter()
        for t in queries:
            ref.get_scores(tokenize(t))
        t_ref.append(time.perf_counter() - s)
    return {"chunks": len(texts), "max_score_diff": err,
            "llmlab_ms_per_query": 1000 * statistics.median(t_mine) / len(queries),
            "rank_bm25_ms_per_query": 1000 * statistics.median(t_ref) / len(queries),
            "speedup_vs_rank_bm25": statistics.median(t_ref) / statistics.median(t_mine)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import torch

    result, index = retrieval(args.quick)
    result["stores"] = stores(index, 5000 if args.quick else 20000)
    result["bm25"] = bm25_speed(index)
    result["machine"] = {"cpus": torch.get_num_threads(), "torch": torch.__version__}
    if args.json:
        print(json.dumps(result, indent=1, default=float))
        return 0
    print(f"\n{result['corpus']}: {result['documents']} documents, {result['chunks']} chunks, "
          f"index built in {result['build_s']:.1f}s (embedding cache may hold some chunks)")
    for name, block in result["sets"].items():
        print(f"\n{name} ({block['queries']} queries)   recall@1  recall@5  recall@10   MRR   nDCG@10")
        for method, m in block["methods"].items():
            print(f"  {method:<20} {m['recall@1']:8.3f} {m['recall@5']:9.3f} {m['recall@10']:9.3f} "
                  f"{m['mrr']:6.3f} {m['ndcg@10']:8.3f}")
    for name, block in result["stores"].items():
        print(f"\nstores on {name} ({block['vectors']} vectors, top-10)   exact top-k  overlap  "
              f"ms/query  speed vs numpy  build s")
        for kind, s in block["stores"].items():
            print(f"  {kind:<12} {s['exact_topk']:26.2f} {s['overlap']:8.3f} {s['search_ms_per_query']:9.3f} "
                  f"{s['speed_vs_numpy']:14.2f} {s['build_s']:8.2f}")
    b = result["bm25"]
    print(f"\nBM25 on {b['chunks']} chunks: llmlab {b['llmlab_ms_per_query']:.3f} ms/query, rank_bm25 "
          f"{b['rank_bm25_ms_per_query']:.3f} ms/query ({b['speedup_vs_rank_bm25']:.1f}x), max score diff "
          f"{b['max_score_diff']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

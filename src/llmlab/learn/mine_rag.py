"""`llmlab learn run rag --mine`: llmlab's evaluation questions over python-docs retrieved through the
learner's chunker, BM25 and fusion, scored with their recall@k and MRR, beside the same run on llmlab's
pieces.

Two parts, each run with llmlab's pieces and then with the learner's passing ones patched into `llmlab.rag`:
  1. keyword search: all 79 documents, the 61 hand-written questions, BM25 only. Embedding every chunk of the
     whole corpus takes about 5 minutes on 2 CPU cores, too slow here, so this part embeds nothing.
  2. hybrid search: the 38 documents under 1,500 characters (the roadmap's quick corpus) and their 28
  questions,
     dense (all-MiniLM-L6-v2, llmlab's embedder) and BM25 fused by RRF — about 15 s of embedding the first
     time; the vectors are cached on disk, so the second run (and the learner's, when their chunks are the
     same) is quick.
With llmlab's code in every file the two columns are identical.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from unittest import mock

PATCHES = {   # exercise -> [(module patched, its name, name in the learner's file)]
    "chunking": [("llmlab.rag.chunking", "chunk_text", "chunk_text")],
    "bm25": [("llmlab.rag.index", "BM25", "BM25")],
    "fusion": [("llmlab.rag.index", "reciprocal_rank_fusion", "reciprocal_rank_fusion")],
    "metrics": [("llmlab.rag.metrics", "recall_at_k", "recall_at_k"),
                ("llmlab.rag.metrics", "reciprocal_rank", "reciprocal_rank")],
}
SHORT_DOCUMENT = 1500      # characters: the roadmap's quick corpus
COLUMNS = ("recall@1", "recall@3", "recall@5", "recall@10", "mrr")


@contextlib.contextmanager
def learner_pieces(modules: dict):
    with contextlib.ExitStack() as stack:
        for exercise, module in modules.items():
            for target, name, theirs in PATCHES.get(exercise, []):
                stack.enter_context(mock.patch.object(importlib.import_module(target), name, getattr(module,
                                                                                                     theirs)))
        yield


def _score(corpus, method: str, embedder=None, unit: str = "tokens") -> dict:
    """Build an index of `corpus` (keyword-only for bm25) and score `method` on the questions it answers."""
    from llmlab.rag.embed import DEFAULT_MODEL
    from llmlab.rag.evalset import questions
    from llmlab.rag.evaluate import evaluate_index
    from llmlab.rag.index import KEYWORD_ONLY, Index, IndexConfig

    # with an embedder given, Index.build uses it (and records its name); keyword-only builds embed nothing
    cfg = IndexConfig(embed_model=KEYWORD_ONLY if method == "bm25" else DEFAULT_MODEL, store="numpy",
                      chunk_unit=unit)
    index = Index.build(corpus, cfg, embedder=None if method == "bm25" else embedder, progress=False)
    queries = questions(corpus)
    scores = evaluate_index(index, queries, [method])[method]
    return {"chunks": len(index), "queries": len(queries), **{k: scores[k] for k in COLUMNS},
            "answer_ranks": scores["answer_ranks"]}


def run_rag(folder: Path, modules: dict, log=print, corpus=None, hybrid: bool = True, embedder=None,
            unit: str = "tokens") -> dict:
    """{part: {"reference": scores, "mine": scores}} for "bm25" (every document) and "hybrid" (short ones)."""
    from llmlab.data import Corpus, load_corpus

    full = corpus or load_corpus("python-docs")
    parts = {"bm25": (full, "bm25")}
    if hybrid:
        short = Corpus(f"{full.name}[<{SHORT_DOCUMENT} chars]",
                       [d for d in full.documents if len(d.text) <= SHORT_DOCUMENT], full.source)
        if embedder is None:
            from llmlab.rag.embed import Embedder

            embedder = Embedder()
        parts["hybrid"] = (short, "hybrid")
    out = {}
    for part, (docs, method) in parts.items():
        log(f"{part}: {docs.n_documents} python-docs documents, "
            + ("BM25 only (nothing embedded)" if method == "bm25" else "dense + BM25 fused by RRF") + " ...")
        reference = _score(docs, method, embedder, unit)
        with learner_pieces(modules):
            mine = _score(docs, method, embedder, unit)
        out[part] = {"reference": reference, "mine": mine}
    out["identical"] = all(p["reference"] == p["mine"] for k, p in out.items())
    return out


def run_mine(folder: Path, modules: dict, steps: int = 0, seed: int = 0, log=print) -> str:
    """Print recall@k and MRR, llmlab's beside yours, for each part; return the tracker's one-line note."""
    result = run_rag(folder, modules, log=log)
    for part in ("bm25", "hybrid"):
        ref, mine = result[part]["reference"], result[part]["mine"]
        log(f"{part}: {ref['queries']} questions; chunks: reference {ref['chunks']}, mine {mine['chunks']}")
        log(f"  {'':<10}" + "".join(f"{c:>11}" for c in COLUMNS))
        for who, row in (("reference", ref), ("mine", mine)):
            log(f"  {who:<10}" + "".join(f"{row[c]:>11.3f}" for c in COLUMNS))
        same = sum(a == b for a, b in zip(ref["answer_ranks"], mine["answer_ranks"], strict=True))
        log(f"  the answer at the same rank for {same} of {ref['queries']} questions")
    same = "identical" if result["identical"] else "differs from llmlab's"
    pieces = ", ".join(sorted(set(modules) & set(PATCHES))) or "none"
    bm25, hybrid = result["bm25"]["mine"], result["hybrid"]["mine"]
    summary = (f"recall@5 BM25 {bm25['recall@5']:.3f} (reference "
               f"{result['bm25']['reference']['recall@5']:.3f}) on "
               f"{bm25['queries']} questions, hybrid {hybrid['recall@5']:.3f} (reference "
               f"{result['hybrid']['reference']['recall@5']:.3f}) on {hybrid['queries']} ({same})")
    log(summary)
    return f"run --mine (mine: {pieces}): {summary}"

"""Graders of project 7: chunking against llmlab's chunker and the properties every chunking keeps, BM25
against
`rank_bm25.BM25Okapi`, reciprocal rank fusion on hand cases, recall@k and 1/rank against scikit-learn.

Every case is fixed or seeded, so a verdict never changes between runs.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from llmlab.learn.grading import Mismatch, check_close, check_equal


# ---- chunking ------------------------------------------------------------------------------------------
def _spans(chunks) -> list[tuple[int, int]]:
    return [(c.start, c.end) for c in chunks]


def _check_properties(text: str, doc: str, chunks, cfg, what: str) -> None:
    """What any correct chunking keeps, said in words before the chunk-for-chunk comparison."""
    from llmlab.rag.chunking import Chunk

    for n, c in enumerate(chunks):
        if not isinstance(c, Chunk):
            raise Mismatch(f"chunk_text ({what}): chunk {n} is a {type(c).__name__}, expected a Chunk")
        if c.text != text[c.start:c.end]:
            raise Mismatch(f"chunk_text ({what}): chunk {n} is not the exact slice text[{c.start}:{c.end}]: "
                           f"text {c.text[:40]!r}..., the slice {text[c.start:c.end][:40]!r}...")
        if c.id != f"{doc}:{c.start}-{c.end}" or c.doc != doc:
            raise Mismatch(f"chunk_text ({what}): chunk {n} has id {c.id!r} and doc {c.doc!r}, expected id "
                           f"{doc}:{c.start}-{c.end!r} and doc {doc!r}")
    if chunks and (chunks[0].start != 0 or chunks[-1].end != len(text)):
        raise Mismatch(f"chunk_text ({what}): the chunks cover {chunks[0].start}..{chunks[-1].end}, the text "
                       f"is "
                       f"0..{len(text)} — the first must start at 0 and the last end at the end")
    for n, (a, b) in enumerate(zip(chunks, chunks[1:], strict=False)):
        if not a.start < b.start <= a.end:
            raise Mismatch(f"chunk_text ({what}): chunk {n + 1} starts at {b.start}, chunk {n} spans "
                           f"{a.start}..{a.end} — each chunk must start after the previous one's start and "
                           f"no "
                           "later than its end (no gap)")


def _compare(ns, text: str, doc: str, cfg, tokenizer, what: str) -> None:
    from llmlab.rag.chunking import chunk_text

    got = ns.chunk_text(text, doc, cfg, tokenizer)
    if not isinstance(got, list):
        raise Mismatch(f"chunk_text ({what}): expected a list of Chunk, got {type(got).__name__}")
    expected = chunk_text(text, doc, cfg, tokenizer)
    _check_properties(text, doc, got, cfg, what)
    for n, (mine, ref) in enumerate(zip(got, expected, strict=False)):
        if (mine.start, mine.end, mine.n_units) != (ref.start, ref.end, ref.n_units):
            raise Mismatch(f"chunk_text ({what}): chunk {n} spans {mine.start}..{mine.end} ({mine.n_units} "
                           f"{cfg.unit}), expected {ref.start}..{ref.end} ({ref.n_units} {cfg.unit})\n"
                           f"yours ends   ...{mine.text[-30:]!r}\nexpected ends ...{ref.text[-30:]!r}")
    check_equal("chunk_text: number of chunks", len(got), len(expected), what)


@lru_cache(maxsize=1)
def _docs() -> tuple[tuple[str, str], ...]:
    from llmlab.data import load_corpus

    docs = load_corpus("python-docs").documents
    return tuple((d.name, d.text) for d in docs[:40:8])


def grade_chunking(ns) -> None:
    from llmlab.rag.chunking import ChunkConfig
    from llmlab.rag.embed import embedding_tokenizer

    cfg = ChunkConfig(size=30, overlap=10, unit="chars")
    got = ns.chunk_text("x" * 100, "d", cfg)
    check_equal("chunk_text('x' * 100, size 30, overlap 10, chars): (start, end) of each chunk",
                _spans(got or []), [(0, 30), (20, 50), (40, 70), (60, 90), (80, 100)],
                "no boundary anywhere: cuts at exactly 30 units, each chunk repeats the last 10 of the "
                "previous")
    check_equal("chunk_text('x' * 100, size 30, overlap 0, chars)", _spans(ns.chunk_text("x" * 100, "d",
                ChunkConfig(size=30, overlap=0, unit="chars")) or []), [(0, 30), (30, 60), (60, 90), (90,
                                                                                                      100)],
                "overlap 0: the chunks meet")
    para = "First paragraph sentence one. Sentence two is here.\n\nSecond paragraph starts here and runs on"
    first = (ns.chunk_text(para, "d", ChunkConfig(size=70, overlap=0, unit="chars")) or [None])[0]
    check_equal("chunk_text: the first chunk's text (size 70, chars)", getattr(first, "text", first),
                para[:para.index("\n\n") + 2], "the cut goes at the paragraph break, not at character 70")
    check_equal("chunk_text of a blank document", ns.chunk_text(" \n\n ", "d", cfg), [], "no chunks")
    tokenizer = embedding_tokenizer()
    for name, text in _docs():
        for cfg, tok in ((ChunkConfig(size=300, overlap=40, unit="chars"), None),
                         (ChunkConfig(size=64, overlap=8, unit="tokens"), tokenizer),
                         (ChunkConfig(size=120, overlap=30, unit="tokens", min_fill=0.8), tokenizer)):
            what = (f"python-docs {name!r} ({len(text)} chars), size {cfg.size}, overlap {cfg.overlap} "
                    f"{cfg.unit}, "
                    f"min_fill {cfg.min_fill}" + (", all-MiniLM-L6-v2's tokens" if tok else ""))
            _compare(ns, text, name, cfg, tok, what)


# ---- BM25 ----------------------------------------------------------------------------------------------
HAND = ["the cat sat on the mat", "the dog sat", "a cat and a dog and a cat", "the end", "cats are not dogs"]


def grade_bm25(ns) -> None:
    from rank_bm25 import BM25Okapi

    from llmlab.data import load_corpus
    from llmlab.rag.evalset import QUESTIONS
    from llmlab.search.bm25 import tokenize

    docs = load_corpus("python-docs").documents[:12]
    passages = [p for d in docs for p in d.text.split("\n\n") if p.strip()]
    cases = [(HAND, ["cat", "the cat", "dog dog", "the", "sat mat end", "unknown words only", "cats"], {}),
             (HAND, ["cat", "the dog", "a a"], {"k1": 1.2, "b": 0.5, "epsilon": 0.5}),
             (passages, [q for q, _ in QUESTIONS[:20]] + ["return return value", "the"], {})]
    for texts, queries, params in cases:
        mine = ns.BM25.build(texts, **params)
        ref = BM25Okapi([tokenize(t) for t in texts], **params)
        corpus = f"{len(texts)} passages" + (" of python-docs" if texts is passages else f" {texts[:2]}...")
        for q in queries:
            expected = ref.get_scores(tokenize(q))
            check_close("BM25.build(texts).scores(query)", mine.scores(q), expected, 1e-9,
                        f"{corpus}, query {q!r}" + (f", {params}" if params else "")
                        + "; against rank_bm25.BM25Okapi")
        check_close("BM25.scores(list of words)", mine.scores(tokenize(queries[0])), ref.get_scores(
            tokenize(queries[0])), 1e-9, f"{corpus}: a list is taken as the query's words")


# ---- fusion --------------------------------------------------------------------------------------------
def _check_fused(got, expected: list[tuple[int, float]], what: str) -> None:
    if not isinstance(got, list) or not all(isinstance(p, tuple | list) and len(p) == 2 for p in got):
        raise Mismatch(f"reciprocal_rank_fusion ({what}): expected a list of (item, score) pairs, got "
                       f"{got!r}"[:300])
    check_equal("reciprocal_rank_fusion: the items, best first", [int(i) for i, _ in got], [i for i,
                                                                                            _ in expected],
                what)
    check_close("reciprocal_rank_fusion: the fused scores", [float(s) for _, s in got], [s for _,
                                                                                         s in expected],
                1e-12, what)


def grade_fusion(ns) -> None:
    r = [[3, 1, 2], [1, 4]]
    _check_fused(ns.reciprocal_rank_fusion(r), [(1, 1 / 62 + 1 / 61), (3, 1 / 61), (4, 1 / 62), (2, 1 / 63)],
                 f"rankings {r}, k = 60 (ranks start at 1)")
    _check_fused(ns.reciprocal_rank_fusion(r, k=1), [(1, 1 / 3 + 1 / 2), (3, 1 / 2), (4, 1 / 3), (2, 1 / 4)],
                 f"rankings {r}, k = 1")
    _check_fused(ns.reciprocal_rank_fusion(r, weights=[2.0, 0.5]),
                 [(1, 2 / 62 + 0.5 / 61), (3, 2 / 61), (2, 2 / 63), (4, 0.5 / 62)],
                 f"rankings {r}, weights [2.0, 0.5]")
    pad = [[5, 7, -1, -1], [7, -1, -1, -1]]
    _check_fused(ns.reciprocal_rank_fusion(pad), [(7, 1 / 62 + 1 / 61), (5, 1 / 61)],
                 f"rankings {pad}: -1 is padding, never an item")
    ties = [[10, 20], [20, 10], [30]]
    _check_fused(ns.reciprocal_rank_fusion(ties), [(10, 1 / 61 + 1 / 62), (20, 1 / 62 + 1 / 61), (30,
                                                                                                  1 / 61)],
                 f"rankings {ties}: 10 and 20 tie (equal sums); ties keep first appearance, 10 before 20, "
                 "and 30 (1/61) after them")
    _check_fused(ns.reciprocal_rank_fusion([]), [], "no rankings")
    try:
        ns.reciprocal_rank_fusion(r, weights=[1.0])
    except ValueError:
        pass
    else:
        raise Mismatch("reciprocal_rank_fusion(two rankings, weights=[1.0]) must raise ValueError: one "
                       "weight per list")


# ---- recall@k and reciprocal rank ----------------------------------------------------------------------
def grade_metrics(ns) -> None:
    from sklearn.metrics import label_ranking_average_precision_score, top_k_accuracy_score

    hand = [(["a", "b", "c", "d"], {"b", "x"}, {1: 0.0, 2: 0.5, 10: 0.5}, 1 / 2),
            (["a", "b", "c"], {"a"}, {1: 1.0, 3: 1.0}, 1.0),
            (["a", "b", "c"], {"z"}, {1: 0.0, 5: 0.0}, 0.0),
            (["a", "b", "c", "d", "e"], {"c", "d", "e"}, {2: 0.0, 3: 1 / 3, 4: 2 / 3, 5: 1.0}, 1 / 3),
            ([], {"a"}, {3: 0.0}, 0.0),
            (["a"], set(), {1: 0.0}, 0.0)]
    for ranked, relevant, recalls, rr in hand:
        for k, value in recalls.items():
            check_close(f"recall_at_k({ranked}, {sorted(relevant)}, {k})", ns.recall_at_k(list(ranked),
                                                                                          set(relevant), k),
                        value, 1e-12, "the share of the relevant set in the top k; 0.0 with nothing relevant")
        check_close(f"reciprocal_rank({ranked}, {sorted(relevant)})", ns.reciprocal_rank(list(ranked),
                                                                                         set(relevant)),
                    rr, 1e-12, "1 / rank of the first relevant document, ranks from 1; 0.0 if none")
    rng = np.random.default_rng(5)
    n_docs = 12
    for trial in range(30):
        scores = rng.standard_normal(n_docs)
        ranked = [f"d{i}" for i in np.argsort(-scores)]
        answer = int(rng.integers(n_docs))
        k = int(rng.integers(1, n_docs))
        what = f"random ranking {trial} of {n_docs} documents, answer d{answer}, k = {k}; scikit-learn"
        want = top_k_accuracy_score([answer], scores[None], k=k, labels=list(range(n_docs)))
        check_close(f"recall_at_k(ranking, {{'d{answer}'}}, {k})", ns.recall_at_k(ranked, {f"d{answer}"}, k),
                    want, 1e-12, what + "'s top_k_accuracy_score")
        truth = np.zeros((1, n_docs))
        truth[0, answer] = 1
        want = label_ranking_average_precision_score(truth, scores[None])
        check_close("reciprocal_rank(ranking, {answer})", ns.reciprocal_rank(ranked, {f"d{answer}"}), want,
                    1e-12,
                    what + "'s label_ranking_average_precision_score (= 1/rank with one answer)")
    if not math.isclose(ns.recall_at_k(["a", "b"], {"a", "b", "c", "d"}, 10), 0.5):
        raise Mismatch("recall_at_k(['a', 'b'], {'a', 'b', 'c', 'd'}, 10) must be 0.5 (2 of 4 answers found)")

"""Project 7's exercises (RAG): llmlab's own code passes each grader (llmlab's chunker and its invariants,
rank_bm25, hand-computed fusion, scikit-learn's ranking metrics), the untouched stub fails it clearly, planted
bugs fail it;
`run rag --mine` with llmlab's pieces copied scores the evaluation questions exactly as llmlab and falls back
per piece."""

import hashlib

import numpy as np
import pytest

from learn_helpers import contract_tests, grade_text, planted
from llmlab.cli import main
from llmlab.learn.catalog import project
from llmlab.learn.check import check_project

PROJECT = project("rag")
NAMES = [ex.name for ex in PROJECT.exercises]

# (what, old, new, replace every occurrence)
BUGS = {
    "chunking": [
        ("overlap off by one (one unit too few repeated)", "k = max(i + 1, j - overlap)",
         "k = max(i + 1, j - overlap + 1)", False),
        ("chunks stripped: no longer exact slices", "text[start:end], j - i))",
         "text[start:end].strip(), j - i))",
         False),
        ("boundaries ignored: always cut at size", "            j = best\n", "            pass\n", False),
        ("the overlap not moved to a word start", "        if boundary_strength(text, b[q]) >= _SPACE:",
         "        if False:", False),
    ],
    "bm25": [
        ("idf without the +0.5 smoothing",
         "idf = {t: np.log(n - f + 0.5) - np.log(f + 0.5) for t, f in df.items()}",
         "idf = {t: np.log(max(n - f, 1)) - np.log(f) for t, f in df.items()}", False),
        ("negative idf kept (no epsilon floor)", "(floor if v < 0 else v)", "v", False),
        ("no length normalisation (b ignored)", "k1 * (1 - b + b * self.doc_len / max(self.avgdl, 1e-12))",
         "k1 * np.ones_like(self.doc_len)", False),
        ("term frequency not saturated (k1 + 1 dropped)", "* f * (self.k1 + 1) /", "* f /", False),
    ],
    "fusion": [
        ("ranks start at 0", "enumerate(ranking, start=1)", "enumerate(ranking)", False),
        ("weights ignored", "fused.get(item, 0.0) + w / (k + rank)", "fused.get(item, 0.0) + 1 / (k + rank)",
         False),
        ("padding (-1) fused as an item", "            if item < 0:", "            if item < -1:", False),
    ],
    "metrics": [
        ("recall divided by k", "len(set(ranked[:k]) & relevant) / len(relevant)",
         "len(set(ranked[:k]) & relevant) / k", False),
        ("reciprocal rank counted from 0 (+1 too late)", "enumerate(ranked, start=1)",
         "enumerate(ranked, start=2)",
         False),
        ("recall over the whole ranking, not the top k", "set(ranked[:k])", "set(ranked)", False),
    ],
}


# every exercise: two planted bugs or more, llmlab passes, the stub fails clearly, each bug fails
(test_every_exercise_has_at_least_two_planted_bugs, test_llmlabs_own_code_passes,
 test_the_untouched_stub_fails_clearly, test_a_planted_bug_fails) = contract_tests("rag", BUGS)


def test_a_failing_case_is_said_in_words(tmp_path):
    text = planted("rag", "chunking", "k = max(i + 1, j - overlap)", "k = max(i + 1, j - overlap + 1)")
    message = grade_text(tmp_path, "rag", "chunking", text).message
    assert "(0, 30), (20, 50)" in message and "(0, 30), (21, 51)" in message
    text = planted("rag", "metrics", "len(set(ranked[:k]) & relevant) / len(relevant)",
                   "len(set(ranked[:k]) & relevant) / k")
    assert "recall_at_k(['a', 'b', 'c', 'd'], ['b', 'x'], 10)" in grade_text(tmp_path, "rag", "metrics",
                                                                             text).message


class HashingEmbedder:
    """A stand-in for the sentence embedder: hashed bag of words, unit length (fast, deterministic,
    offline)."""
    name, dim, max_tokens, tokenizer = "hashing-test", 64, None, None

    def _embed(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    def embed_documents(self, texts, progress=False):
        return self._embed(texts)

    def embed_queries(self, texts):
        return self._embed(texts)


@pytest.fixture(scope="module")
def small_corpus():
    """The answer documents of ten evaluation questions plus five others: both parts stay small."""
    from llmlab.data import Corpus, load_corpus
    from llmlab.rag.evalset import QUESTIONS

    full = load_corpus("python-docs")
    answers = {a for _, a in QUESTIONS[:10]}
    docs = [d for d in full.documents if d.name in answers] + [
        d for d in full.documents if d.name not in answers
    ][:5]
    return Corpus("python-docs[small]", docs, full.source)


def _solve(root, skip=()):
    main(["learn", "start", "rag", "--dir", str(root)])
    for ex in PROJECT.exercises:
        if ex.name not in skip:
            (root / "rag" / ex.stub).write_text(PROJECT.solved_text(ex))


def test_run_mine_with_llmlabs_pieces_scores_exactly_as_llmlab(tmp_path, small_corpus):
    from llmlab.learn.mine_rag import run_rag

    _solve(tmp_path)
    _, modules = check_project(tmp_path, PROJECT)
    assert sorted(modules) == sorted(NAMES)
    result = run_rag(tmp_path / "rag", modules, log=lambda m: None, corpus=small_corpus,
                     embedder=HashingEmbedder(), unit="chars")
    assert result["identical"]
    assert result["bm25"]["mine"]["queries"] >= 5 and result["hybrid"]["mine"]["queries"] >= 1
    assert 0 < result["bm25"]["reference"]["recall@10"] <= 1


def test_the_learners_pieces_are_the_ones_that_run(tmp_path, small_corpus):
    """Passing pieces of the learner's that count their calls: building, searching and scoring must call
    each."""
    from llmlab.learn.mine_rag import run_rag

    _solve(tmp_path)
    for stub, name in (("chunking.py", "chunk_text"), ("fusion.py", "reciprocal_rank_fusion"),
                       ("metrics.py", "recall_at_k")):
        path = tmp_path / "rag" / stub
        path.write_text(path.read_text() + f"\n\nCALLS = []\n_inner = {name}\n\n\n"
                        f"def {name}(*args, **kw):\n    CALLS.append(1)\n    return _inner(*args, **kw)\n")
    _, modules = check_project(tmp_path, PROJECT)
    for name in ("chunking", "fusion", "metrics"):
        modules[name].CALLS.clear()
    result = run_rag(tmp_path / "rag", modules, log=lambda m: None, corpus=small_corpus,
                     embedder=HashingEmbedder(), unit="chars")
    assert all(modules[name].CALLS for name in ("chunking", "fusion", "metrics"))
    assert result["identical"]


def test_a_wrong_piece_changes_the_scores(tmp_path, small_corpus):
    from llmlab.learn.mine_rag import run_rag

    _solve(tmp_path)
    _, modules = check_project(tmp_path, PROJECT)
    bad = type(modules["metrics"])("bad")
    bad.recall_at_k = lambda ranked, relevant, k: len(set(ranked[:k]) & relevant) / k
    bad.reciprocal_rank = modules["metrics"].reciprocal_rank
    result = run_rag(tmp_path / "rag", {**modules, "metrics": bad}, log=lambda m: None, corpus=small_corpus,
                     hybrid=False, unit="chars")
    assert not result["identical"]


def test_a_stubbed_piece_falls_back_and_says_so(tmp_path, capsys, monkeypatch, small_corpus):
    import llmlab.learn.mine_rag as mine

    real = mine.run_rag
    monkeypatch.setattr(mine, "run_rag", lambda folder, modules, log: real(
        folder, modules, log=log, corpus=small_corpus, embedder=HashingEmbedder(), unit="chars"))
    _solve(tmp_path, skip=("bm25",))
    assert main(["learn", "run", "rag", "--mine", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "llmlab’s  bm25" in out and "yours     fusion" in out
    assert "recall@5" in out and "(identical)" in out
    assert "run --mine (mine: chunking, fusion, metrics)" in (tmp_path / "PROGRESS.md").read_text()

"""`llmlab rag ...` end to end on a small folder corpus with the bundled MiniLM, and the roadmap step."""

import json

import pytest

from llmlab.cli import main

DOCS = {
    "loops.txt": "Loops\n\nThe break statement leaves the nearest enclosing loop at once.\n\n"
                 "The continue statement skips the rest of the current iteration.",
    "files.txt": "Files\n\nUse open() to read a file, and a with statement so it is closed for you.",
    "numbers.txt": "Numbers\n\nDividing two integers with / gives a float; // rounds down to an integer.",
}


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("rag-corpus")
    for name, text in DOCS.items():
        (d / name).write_text(text)
    return d


@pytest.mark.slow
def test_index_search_eval_ask_summarize(corpus_dir, tmp_path, monkeypatch, capsys):
    from llmlab.serve.random_model import make_model_dir

    monkeypatch.setenv("LLMLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("LLMLAB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "idx"
    assert main(["rag", "index", "--corpus", str(corpus_dir), "--out", str(out), "--set", "chunk_size=16",
                 "--set", "chunk_overlap=4", "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["documents"] == 3 and built["chunks"] > 3 and built["store"] == "faiss"
    assert (out / "manifest.json").exists() and (out / "config.json").exists()

    assert main(["rag", "search", "how do I exit a loop early", "--index", str(out), "-k", "2",
                 "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["doc"] == "loops.txt" and [h["rank"] for h in hits] == [1, 2]

    assert main(["rag", "eval", "--index", str(out), "--eval-set", "titles", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["queries"] == 3 and set(ev["metrics"]) == {"hybrid", "dense", "bm25"}
    assert (out / "eval-titles" / "recall_at_k.png").exists()

    model = make_model_dir(tmp_path / "llm", family="gpt2", n_layer=1, n_embd=32, tokenizer="bpe",
                           n_positions=512)
    assert main(["rag", "ask", "How do I exit a loop?", "--index", str(out), "--model", f"engine:{model}",
                 "--max-new-tokens", "8", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["sources"] and answer["completion_tokens"] > 0
    assert main(["rag", "summarize", "--doc", "loops.txt", "--index", str(out), "--model", f"engine:{model}",
                 "--max-new-tokens", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chunks"] >= 1

    # the corpus changes: the index is stale and says how to rebuild
    (corpus_dir / "files.txt").write_text("Files changed.")
    assert main(["rag", "search", "loop", "--index", str(out)]) == 2
    assert "stale" in capsys.readouterr().err
    (corpus_dir / "files.txt").write_text(DOCS["files.txt"])


def test_missing_index_and_bad_arguments(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLMLAB_RUNS", str(tmp_path / "runs"))
    assert main(["rag", "search", "x", "--index", "nothing-here"]) == 2
    err = capsys.readouterr().err
    assert "llmlab rag index" in err and str(tmp_path / "runs" / "rag" / "nothing-here") in err
    assert main(["rag", "search", "x", "--index", str(tmp_path / "no" / "idx")]) == 2
    assert f"no index at {tmp_path / 'no' / 'idx'} " in capsys.readouterr().err     # the folder as typed
    assert main(["rag", "index", "--corpus", "python-docs", "--set", "chunk_overlap=500"]) == 2
    # a typo in --store is refused before the corpus is read or embedded, and leaves no run folder behind
    monkeypatch.setattr("llmlab.rag.embed.Embedder.__init__",
                        lambda *a, **k: pytest.fail("the embedding model must not load for a bad --store"))
    assert main(["rag", "index", "--corpus", "python-docs", "--store", "fais"]) == 2
    assert "unknown vector store 'fais'" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "rag").exists()


@pytest.mark.slow
def test_roadmap_step(tmp_path, monkeypatch):
    from llmlab.projects import project
    from llmlab.roadmap.runner import run_step

    monkeypatch.setenv("LLMLAB_CACHE", str(tmp_path / "cache"))
    result = run_step(project("rag"), tmp_path, quick=True, log=lambda s: None)
    assert result.status == "passed", result.summary.get("checks") or result.error
    assert (tmp_path / "rag" / "recall_at_k.png").exists()
    assert result.summary["metrics"]["dense"]["recall@5"] > 0.5
    # dense recall@5 recomputed from the saved index: sentence-transformers' query vectors against its
    # embeddings.npy by brute force, chunks -> documents -> answer groups, each counted once
    import numpy as np

    from llmlab.data import Corpus, load_corpus
    from llmlab.rag.embed import Embedder
    from llmlab.rag.evalset import questions

    folder = tmp_path / "rag" / "index"
    manifest = json.loads((folder / "manifest.json").read_text())
    docs = [
        json.loads(line)["doc"] for line in (folder / "chunks.jsonl").read_text().splitlines() if line.strip()
    ]
    full = load_corpus("python-docs")
    queries = questions(Corpus("indexed", [d for d in full.documents if d.name in set(docs)], full.source))
    assert len(queries) == result.summary["queries"]
    model = Embedder(manifest["embed_model"]).model  # the SentenceTransformer itself
    scores = (
        model.encode([q.text for q in queries], normalize_embeddings=True)
        @ np.load(folder / "embeddings.npy").T
    )
    recalls = []
    for query, row in zip(queries, scores, strict=True):
        ranked = []
        for i in np.argsort(-row, kind="stable")[:50]:
            group = next((g for g, members in enumerate(query.groups) if docs[i] in members), docs[i])
            if group not in ranked:
                ranked.append(group)
        recalls.append(len([g for g in ranked[:5] if isinstance(g, int)]) / len(query.groups))
    assert np.mean(recalls) == pytest.approx(result.summary["metrics"]["dense"]["recall@5"], abs=1e-4)


def test_keyword_only_index_evaluates_bm25_alone(corpus_dir, tmp_path, monkeypatch, capsys):
    """An index built with embed_model=none has no vectors: eval scores BM25 and never loads an embedding
    model."""
    monkeypatch.setenv("LLMLAB_RUNS", str(tmp_path / "runs"))
    out = tmp_path / "kw"
    assert main(["rag", "index", "--corpus", str(corpus_dir), "--out", str(out), "--embed-model", "none",
                 "--set", "chunk_unit=chars", "--set", "chunk_size=80", "--set", "chunk_overlap=10",
                 "--json"]) == 0
    capsys.readouterr()
    assert main(["rag", "eval", "--index", str(out), "--eval-set", "titles", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert set(ev["metrics"]) == {"bm25"} and ev["metrics"]["bm25"]["recall@10"] == 1.0
    assert (out / "eval-titles" / "recall_at_k.png").exists()
    assert main(["rag", "search", "loop", "--index", str(out)]) == 2
    assert "--method bm25" in capsys.readouterr().err
    # and the commands that retrieve take that --method
    from tests.test_rag_qa import ScriptedLLM

    import llmlab.llm

    monkeypatch.setattr(llmlab.llm, "load_llm", lambda spec: ScriptedLLM(window=10_000,
                                                                         reply="Loops end [1]."))
    assert main(["rag", "summarize", "--query", "break loop", "--method", "bm25", "--index", str(out),
                 "--model", "scripted", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["citations"]["cited"] == [1]
    assert main(["rag", "ask", "How do I break a loop?", "--method", "bm25", "--index", str(out),
                 "--model", "scripted", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sources"][0]["doc"] == "loops.txt"


def test_eval_on_the_held_out_test_questions(tmp_path, monkeypatch, capsys):
    # the README's `llmlab rag eval --eval-set test`, on a keyword-only python-docs index (seconds, nothing
    # embedded): every held-out question is asked, and BM25 alone already finds most answers
    from llmlab.rag.evalsets.python_docs_test import TEST_QUESTIONS

    monkeypatch.setenv("LLMLAB_RUNS", str(tmp_path / "runs"))
    out = tmp_path / "kw"
    assert main(["rag", "index", "--corpus", "python-docs", "--out", str(out), "--set", "embed_model=none",
                 "--json"]) == 0
    capsys.readouterr()
    assert main(["rag", "eval", "--index", str(out), "--eval-set", "test", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["eval_set"] == "test" and ev["queries"] == len(TEST_QUESTIONS) >= 60
    assert set(ev["metrics"]) == {"bm25"} and 0.5 < ev["metrics"]["bm25"]["recall@5"] <= 1.0

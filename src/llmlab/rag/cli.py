"""`llmlab rag ...`: build an index, search it, ask questions with citations, summarise, and score retrieval.

    llmlab rag index --corpus python-docs --store faiss            # runs/rag/python-docs (chroma: --store
    chroma) llmlab rag search "how do I leave a loop early?" -k 5 --method hybrid
    llmlab rag ask "How do I leave a loop early?" --model hf:TinyLlama/TinyLlama-1.1B-Chat-v1.0
    llmlab rag summarize --doc typesseq --model openai:http://127.0.0.1:8000/v1
    llmlab rag eval --eval-set test --json                         # dense vs BM25 vs hybrid, held out
    llmlab rag eval --answers hf:TinyLlama/TinyLlama-1.1B-Chat-v1.0  # + grounding of generated answers
"""

from __future__ import annotations

from pathlib import Path

import typer

from llmlab.llm.registry import SPEC_HELP

app = typer.Typer(help="Retrieval-augmented generation: chunk, embed, search (dense/BM25/hybrid), answer "
                       "with citations.",
                  no_args_is_help=True)

INDEX_HELP = "an index folder, or a name under runs/rag/ (default: the corpus's name)"
METHOD_HELP = "hybrid (RRF of dense and BM25), dense or bm25"
MMR_HELP = "re-rank for diversity by maximal marginal relevance, lambda in (0, 1] (e.g. 0.7); off by default"
RERANK_HELP = "re-score candidates with a cross-encoder, e.g. cross-encoder/ms-marco-MiniLM-L-6-v2 (network)"


@app.command()
def index(corpus: str = typer.Option("python-docs", "--corpus",
                                     help="python-docs, python-stdlib, a file or folder, hf:NAME"),
          store: str = typer.Option("faiss", "--store", help="faiss, faiss-ivf, faiss-hnsw, chroma or numpy"),
          name: str = typer.Option(None, "--name",
                                   help="index name under runs/rag/ (default: the corpus's name)"),
          out: Path = typer.Option(None, "--out", help="index folder (overrides --name)"),
          embed_model: str = typer.Option(None, "--embed-model",
                                          help="sentence-transformers model (default all-MiniLM-L6-v2, "
                                               "offline)"),
          chroma_url: str = typer.Option(None, "--chroma-url",
                                         help="a Chroma server (http://host:8000) instead of the embedded "
                                              "one"),
          max_documents: int = typer.Option(None, "--max-documents", help="read only the first N documents"),
          overrides: list[str] = typer.Option(None, "--set",
                                              help="key=value of IndexConfig, e.g. chunk_size=128"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Chunk a corpus, embed the chunks and store them (plus BM25) in an index folder with a manifest."""
    from llmlab.config import apply_overrides
    from llmlab.console import print_summary
    from llmlab.rag.index import Index, IndexConfig, index_slug
    from llmlab.runs import RunFolder

    cfg = IndexConfig(corpus=corpus, store=store, chroma_url=chroma_url, max_documents=max_documents)
    if embed_model:
        cfg.embed_model = embed_model
    cfg = apply_overrides(cfg, overrides).check()
    run = RunFolder.create("rag", name=name or index_slug(corpus), out=out)
    # swapped in whole: a failed build leaves the old index
    built = Index.build(cfg.corpus, cfg, out=run.path)
    run.save_config(cfg)
    summary = {"index": str(run.path), **{k: built.manifest[k] for k in
                                          ("corpus", "documents", "chunks", "embed_model", "dim", "store",
                                           "seconds")}}
    run.save_summary(summary)
    print_summary(summary, as_json, title="rag index")


@app.command()
def search(query: str = typer.Argument(..., help="what to look for"),
           index_name: str = typer.Option("python-docs", "--index", help=INDEX_HELP),
           k: int = typer.Option(5, "-k", "--k", help="how many chunks"),
           method: str = typer.Option("hybrid", "--method", help=METHOD_HELP),
           mmr: float = typer.Option(None, "--mmr", help=MMR_HELP),
           rerank: str = typer.Option(None, "--rerank", help=RERANK_HELP),
           dedup: bool = typer.Option(True, "--dedup/--no-dedup",
                                      help="collapse copies of one text into one hit listing every source"),
           per_doc: int = typer.Option(None, "--per-doc",
                                       help="at most this many hits from one document (default: no "
                                            "limit; 1 makes every hit a different source)"),
           opening: float = typer.Option(None, "--opening",
                                         help="weight of the page-openings list in hybrid fusion (default 1; "
                                              "0 leaves it out, better for source code)"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """The best chunks for a query, with their document, offsets and scores (copies listed as also in)."""
    import json

    from rich.table import Table

    from llmlab.console import console
    from llmlab.rag.index import open_index

    options = {} if per_doc is None else {"per_doc": per_doc or None}     # 0 also means no limit
    if opening is not None:
        options["opening"] = opening
    hits = open_index(index_name).search(query, k=k, method=method, mmr=mmr, rerank=rerank, dedup=dedup,
                                         **options)
    if as_json:
        print(json.dumps([h.to_dict() for h in hits], indent=1, ensure_ascii=False))
        return
    table = Table(title=f"{method} search: {query}")
    for col in ("#", "score", "document", "chars", "text"):
        table.add_column(col, overflow="fold")
    for h in hits:
        text = " ".join(h.chunk.text.split())
        doc = h.chunk.doc + "".join(f"\n(also {c.doc} {c.start}-{c.end})" for c in h.copies)
        table.add_row(str(h.rank), f"{h.score:.4f}", doc, f"{h.chunk.start}-{h.chunk.end}",
                      text[:160] + ("…" if len(text) > 160 else ""))
    console.print(table)


@app.command()
def ask(question: str = typer.Argument(...),
        model: str = typer.Option(..., "--model", help=SPEC_HELP),
        index_name: str = typer.Option("python-docs", "--index", help=INDEX_HELP),
        k: int = typer.Option(5, "-k", "--k", help="chunks to retrieve"),
        method: str = typer.Option("hybrid", "--method", help=METHOD_HELP),
        max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
        temperature: float = typer.Option(0.0, "--temperature"),
        as_json: bool = typer.Option(False, "--json")) -> None:
    """Retrieve, fit the chunks into the model's context window, answer with [n] citations, check them."""
    from llmlab.console import console, print_summary
    from llmlab.generation import SamplingParams
    from llmlab.llm import load_llm
    from llmlab.rag.index import open_index
    from llmlab.rag.qa import answer

    idx = open_index(index_name)
    with load_llm(model) as llm:
        result = answer(llm, idx, question, k=k, method=method,
                        params=SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature))
    if as_json:
        print_summary(result.to_dict(), as_json=True)
        return
    console.print(f"[bold]{question}[/bold]\n\n{result.text.strip()}\n")
    for i, h in enumerate(result.sources, start=1):
        mark = "✓" if i in result.citations.cited else " "
        console.print(f" {mark} [{i}] {h.chunk.doc} (chars {h.chunk.start}-{h.chunk.end})")
    g = result.grounding
    if g.sentences:
        console.print(f"grounding: faithfulness {g.faithfulness:.2f} (sentences supported by their sources), "
                      f"context precision {g.context_precision:.2f}")
        for s in g.sentences:
            if not s.supported:
                sim = "" if s.similarity is None else f", similarity {s.similarity:.2f}"
                console.print(f"[yellow]  unsupported: {s.text[:100]} (words in [{s.source}] "
                              f"{s.lexical:.2f}{sim})[/yellow]")
    note = (
        f"{result.dropped} retrieved source(s) left out to fit the context window" if result.dropped else ""
    )
    bad = f"citations pointing at no source: {result.citations.invalid}" if result.citations.invalid else ""
    for line in (note, bad):
        if line:
            console.print(f"[yellow]{line}[/yellow]")


@app.command()
def summarize(model: str = typer.Option(..., "--model", help=SPEC_HELP),
              doc: str = typer.Option(None, "--doc", help="summarise this document of the index"),
              query: str = typer.Option(None, "--query",
                                        help="summarise what the top-k chunks say about this"),
              index_name: str = typer.Option("python-docs", "--index", help=INDEX_HELP),
              k: int = typer.Option(8, "-k", "--k"),
              method: str = typer.Option("hybrid", "--method", help=METHOD_HELP + " (with --query)"),
              max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """Summarise a document or a query's top chunks, map-reduce when they do not fit one prompt."""
    from llmlab.console import console, print_summary
    from llmlab.errors import LabError
    from llmlab.generation import SamplingParams
    from llmlab.llm import load_llm
    from llmlab.rag.qa import summarize as run_summary

    if (doc is None) == (query is None):
        raise LabError("say what to summarise", hint="give exactly one of --doc NAME or --query TEXT")
    from llmlab.rag.index import open_index

    idx = open_index(index_name)
    if doc is not None:
        chunks = [c for c in idx.chunks if c.doc == doc]
        if not chunks:
            names = sorted({c.doc for c in idx.chunks})
            raise LabError(f"no document {doc!r} in the index", hint="e.g. " + ", ".join(names[:8]))
    else:
        chunks = [h.chunk for h in idx.search(query, k=k, method=method)]
    with load_llm(model) as llm:
        result = run_summary(llm, chunks, SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0),
                             focus=query)
    if as_json:
        print_summary(result.to_dict(), as_json=True)
        return
    console.print(result.text.strip())
    console.print(f"[dim]{result.strategy}: {result.calls} call(s), prompts per round {result.rounds}, "
                  f"{len(result.chunks)} chunks[/dim]")


@app.command("eval")
def eval_cmd(index_name: str = typer.Option("python-docs", "--index", help=INDEX_HELP),
             eval_set: str = typer.Option("questions", "--eval-set",
                                          help="questions (= dev, 61 hand-written), test (81 held out), "
                                               "stdlib (docstrings; index python-stdlib) or titles"),
             answers: str = typer.Option(None, "--answers",
                                         help="also answer each question with this model and report "
                                              "grounding (" + SPEC_HELP + ")"),
             limit: int = typer.Option(None, "--limit", help="with --answers: only the first N questions"),
             out: Path = typer.Option(None, "--out",
                                      help="where summary.json and the picture go (default "
                                           "<index>/eval-<set>)"),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Recall@k, MRR and nDCG@k of dense, BM25 and hybrid retrieval on python-docs questions."""
    from rich.table import Table

    from llmlab.console import console, print_summary
    from llmlab.errors import LabError
    from llmlab.rag.evalset import EVAL_SETS
    from llmlab.rag.evaluate import report
    from llmlab.runs import RunFolder

    if eval_set not in EVAL_SETS:
        raise LabError(f"unknown eval set {eval_set!r}", hint="use " + " or ".join(EVAL_SETS))
    from llmlab.rag.index import corpus_of, open_index

    idx = open_index(index_name)
    corpus = corpus_of(idx)
    if corpus is None:
        raise LabError(f"cannot read the corpus of {idx.folder} again ({idx.manifest['corpus']})",
                       hint="evaluate an index built with llmlab rag index --corpus python-docs")
    queries = EVAL_SETS[eval_set](corpus)
    if not queries:
        raise LabError(f"the {eval_set} eval set has no query for corpus {corpus.name!r}",
                       hint="the questions are about python-docs: index it with llmlab rag index --corpus "
                            "python-docs")
    run = RunFolder.create("rag", out=out or Path(idx.folder) / f"eval-{eval_set}")
    result = report(idx, queries, run.path, title=f"{corpus.name}: {eval_set} ({len(queries)} queries)")
    summary = {"index": str(idx.folder), "eval_set": eval_set, "queries": result["queries"],
               "embed_model": idx.manifest["embed_model"], "store": idx.manifest["store"], "chunks": len(idx),
               "metrics": result["metrics"], "picture": result["picture"]}
    if answers:
        summary["answers"] = answer_grounding(idx, queries[:limit] if limit else queries, answers)
    run.save_summary(summary)
    if as_json:
        print_summary(summary, as_json=True)
        return
    cols = ["recall@1", "recall@3", "recall@5", "recall@10", "mrr", "ndcg@5", "ndcg@10", "hit_recall@5",
            "ms_per_query"]
    table = Table(title=f"retrieval on {corpus.name}, {eval_set} ({len(queries)} queries, {len(idx)} chunks)")
    table.add_column("method")
    short = {"mrr": "MRR", "ms_per_query": "ms/query", "hit_recall@5": "in 5 hits"}
    for c in cols:
        table.add_column(short.get(c, c.replace("recall", "R").replace("ndcg", "nDCG")), justify="right")
    for method, row in result["metrics"].items():
        table.add_row(method, *(f"{row[c]:.3f}" for c in cols))
    console.print(table)
    if answers:
        a = summary["answers"]
        console.print(f"answers by {answers} on {a['questions']} questions: "
                      f"faithfulness {a['faithfulness']:.3f}, "
                      f"context precision {a['context_precision']:.3f}")
    console.print(f"summary and recall@k picture in {run.path}")


def answer_grounding(idx, queries, model: str) -> dict:
    """Answer each query with `model` over `idx` and average the grounding scores (rag/grounding.py)."""
    from llmlab.llm import load_llm
    from llmlab.rag.qa import answer, default_params

    rows = []
    with load_llm(model) as llm:
        for q in queries:
            g = answer(llm, idx, q.text, params=default_params(192)).grounding
            rows.append({"question": q.text, "faithfulness": g.faithfulness,
                         "context_precision": g.context_precision, "sentences": len(g.sentences)})
    n = max(len(rows), 1)
    return {"model": model, "questions": len(rows),
            "faithfulness": sum(r["faithfulness"] for r in rows) / n,
            "context_precision": sum(r["context_precision"] for r in rows) / n, "per_question": rows}


def register(root: typer.Typer) -> None:
    """Plug `llmlab rag ...` into the root command."""
    root.add_typer(app, name="rag")

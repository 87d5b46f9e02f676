"""Roadmap step for project 7: index python-docs, score dense / BM25 / hybrid retrieval, check the stores, ask
once.

quick: the 38 python-docs documents under 1,500 characters (~8k tokens, 28 of the 61 questions) so embedding
fits the demo budget; full: all 79 documents (~150k tokens, a few minutes on a laptop CPU). Then: FAISS flat
and Chroma against brute force on every question, and one QA round through llmlab.llm on a tiny random GPT-2
(the text is gibberish: the round checks the prompt, the token budget and citation parsing, not answer
quality).
"""

from __future__ import annotations

QUICK_MAX_CHARS = 1500
QA_QUESTION = "How do I leave a loop before it finishes?"


def run(ctx) -> dict:
    from transformers import AutoModelForCausalLM

    from llmlab.data import Corpus, load_corpus
    from llmlab.generation import SamplingParams
    from llmlab.llm import load_llm
    from llmlab.rag.evalset import questions
    from llmlab.rag.evaluate import report, store_agreement
    from llmlab.rag.index import Index, IndexConfig
    from llmlab.rag.prompts import parse_citations
    from llmlab.rag.qa import answer
    from llmlab.serve.random_model import make_model_dir
    from llmlab.training import count_params

    full = load_corpus("python-docs")
    corpus = (Corpus("python-docs[<1500 chars]",
                     [d for d in full.documents if len(d.text) <= QUICK_MAX_CHARS],
                     full.source) if ctx.quick else full)
    index = Index.build(corpus, IndexConfig(store="faiss"), out=ctx.out / "index", progress=False)
    queries = questions(corpus)
    evaluation = report(index, queries, ctx.out,
                        title=f"{corpus.name}: {len(queries)} questions, {len(index)} chunks")
    m = evaluation["metrics"]
    agree = store_agreement(index.vectors, index.embedder.embed_queries([q.text for q in queries]), ["faiss",
                                                                                                     "chroma"],
                            k=10, folder=ctx.out / "stores")

    # one QA round through a real backend: a tiny random GPT-2 whose BPE was trained on the corpus
    model_dir = make_model_dir(ctx.out / "tiny-llm", family="gpt2", preset="tiny", tokenizer="bpe",
                               text=corpus.text, bpe_vocab=1000, n_positions=1024, seed=ctx.seed)
    with load_llm(f"engine:{model_dir}", device="cpu") as llm:
        qa = answer(llm, index, QA_QUESTION, k=8, params=SamplingParams(max_new_tokens=24, temperature=0.0))
        window = llm.context_window
    qa_params = count_params(AutoModelForCausalLM.from_pretrained(model_dir))
    sent = "\n".join(m["content"] for m in qa.messages)
    where = [sent.find(f"[{i}] {h.chunk.doc} (chars {h.chunk.start}-") for i, h in enumerate(qa.sources,
                                                                                             start=1)]
    prompt_numbers = all(p >= 0 for p in where) and where == sorted(where)
    parsed = parse_citations("Use break [1]; see [2][3] and [99].", 3)
    n_random = 5 / max(corpus.n_documents, 1)                    # recall@5 of a random ranking of documents
    checks = {
        "faiss_flat_equals_brute_force": agree["faiss"]["exact_topk"] == 1.0,
        "chroma_equals_brute_force": agree["chroma"]["exact_topk"] == 1.0,
        "dense_beats_random_by_3x": m["dense"]["recall@5"] > 3 * n_random,
        "hybrid_and_bm25_ran": m["hybrid"]["mrr"] > 0 and m["bm25"]["mrr"] > 0,
        "prompt_fits_the_window": qa.prompt_tokens + 24 <= window and len(qa.sources) >= 1,
        "sources_numbered_in_rank_order": prompt_numbers,
        "citations_checked": parsed.cited == [1, 2, 3] and parsed.invalid == [99]
                             and all(1 <= n <= len(qa.sources) for n in qa.citations.cited),
        "picture_written": (ctx.out / evaluation["picture"]).exists(),
    }
    return {
        "checks": checks,
        "headline": (f"{corpus.name} ({corpus.n_documents} docs, {len(index)} chunks, all-MiniLM-L6-v2): "
                     f"recall@5 / MRR "
                     f"on {len(queries)} questions: hybrid "
                     f"{m['hybrid']['recall@5']:.2f}/{m['hybrid']['mrr']:.2f}, "
                     f"dense {m['dense']['recall@5']:.2f}/{m['dense']['mrr']:.2f}, "
                     f"BM25 {m['bm25']['recall@5']:.2f}/{m['bm25']['mrr']:.2f}; FAISS = Chroma = brute force "
                     f"top-10 on {agree['faiss']['exact_topk']:.0%}/{agree['chroma']['exact_topk']:.0%} of "
                     f"queries; "
                     f"QA prompt kept {len(qa.sources)} of 8 sources in {window} tokens"),
        "pictures": [evaluation["picture"]],
        "model": [{"name": f"{index.embedder.name} (embeddings)",
                   "params": sum(p.numel() for p in index.embedder.model.parameters())},
                  {"name": "random-weight GPT-2 (QA mechanics only)", "params": qa_params}],
        "corpus": corpus.name, "documents": corpus.n_documents, "chunks": len(index), "queries": len(queries),
        "metrics": m, "stores": agree, "index_seconds": index.manifest["seconds"],
        "qa": {k: v for k, v in qa.to_dict().items() if k != "sources"} | {"sources": len(qa.sources)},
    }


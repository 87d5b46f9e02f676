"""Question answering and summarisation over retrieved chunks, through `llmlab.llm` only.

    llm = load_llm("hf:TinyLlama/TinyLlama-1.1B-Chat-v1.0")      # or engine:DIR, openai:http://host/v1
    result = answer(llm, index, "How do I leave a loop early?", k=5)
    result.text, result.citations.cited, result.dropped           # sources cited, sources that did not fit
    summary = summarize(llm, chunks)                              # map-reduce when the chunks do not fit

Summaries: if every chunk fits one prompt, one call ("stuff"). Otherwise map: consecutive chunks are packed
into prompts that fit and each is summarised with the source numbers it holds; reduce: the partial
summaries are packed and merged the same way, round after round, until one is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmlab.errors import LabError
from llmlab.generation import SamplingParams
from llmlab.rag.chunking import Chunk
from llmlab.rag.grounding import Grounding, grounding
from llmlab.rag.prompts import (
    Citations,
    check_question,
    combine_messages,
    fit_sources,
    parse_citations,
    qa_messages,
    summary_messages,
)


def default_params(max_new_tokens: int = 256) -> SamplingParams:
    return SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)


@dataclass
class Answer:
    question: str
    text: str
    sources: list            # the hits given to the model; source [i] is sources[i - 1]
    dropped: int             # retrieved hits left out to fit the context window
    citations: Citations
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    budget: int
    repeats: int = 0         # retrieved hits with the same text as a better one, left out
    messages: list = field(default_factory=list)   # the chat sent to the model
    grounding: Grounding = field(default_factory=Grounding)   # each sentence against its cited sources

    def to_dict(self) -> dict:
        return {"question": self.question, "answer": self.text, "citations": self.citations.to_dict(),
                "grounding": self.grounding.to_dict(),
                "sources": [{"n": i + 1, **h.to_dict()} for i, h in enumerate(self.sources)],
                "dropped_sources": self.dropped, "repeated_sources": self.repeats,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "finish_reason": self.finish_reason,
                "prompt_budget": self.budget}


def answer(llm, index, question: str, k: int = 5, method: str = "hybrid",
           params: SamplingParams | None = None,
           hits: list | None = None) -> Answer:
    """Retrieve k chunks (or take `hits`), fit them into the prompt, ask, and check the citations."""
    question = check_question(question)
    params = params or default_params()
    hits = hits if hits is not None else index.search(question, k=k, method=method)
    hits, repeats = unique_texts(hits)
    plan = fit_sources(llm, lambda chunks: qa_messages(question, chunks), hits, params.max_new_tokens)
    out = llm.chat(plan.messages, params)
    # embedding similarity only when an index (and so its embedding model) is at hand
    embed = index.embedder.embed_queries if index is not None and index.store is not None else None
    checked = grounding(out.text, [getattr(h, "chunk", h).text for h in plan.used], embed)
    return Answer(question, out.text, plan.used, len(plan.dropped), parse_citations(out.text, len(plan.used)),
                  out.prompt_tokens or plan.prompt_tokens, out.completion_tokens, out.finish_reason,
                  plan.budget,
                  repeats, plan.messages, checked)


def unique_texts(hits: list) -> tuple[list, int]:
    """Hits whose text (whitespace aside) was not seen at a better rank, and how many were repeats.

    Corpora repeat themselves (python-docs holds `for` twice, once inside `compound`); a repeated source
    only spends the context window."""
    seen, kept = set(), []
    for h in hits:
        key = " ".join(getattr(h, "chunk", h).text.split())
        if key not in seen:
            seen.add(key)
            kept.append(h)
    return kept, len(hits) - len(kept)


@dataclass
class Summary:
    text: str
    chunks: list[Chunk]
    calls: int                    # model calls in all
    rounds: list[int] = field(default_factory=list)    # prompts per round: [map prompts, reduce prompts, ...]
    citations: Citations = field(default_factory=Citations)

    @property
    def strategy(self) -> str:
        return "stuff" if self.calls == 1 else "map-reduce"

    def to_dict(self) -> dict:
        return {"summary": self.text, "strategy": self.strategy, "calls": self.calls, "rounds": self.rounds,
                "chunks": len(self.chunks), "citations": self.citations.to_dict()}


def summarize(llm, chunks: list[Chunk], params: SamplingParams | None = None,
              focus: str | None = None) -> Summary:
    """Summarise `chunks` (in order) with source numbers [1..N]; map-reduce when they do not fit one
    prompt."""
    if not chunks:
        raise LabError("nothing to summarise", hint="pick a document or a query that retrieves some chunks")
    params = params or default_params()
    calls, rounds = 0, []
    # map: pack consecutive chunks into prompts that fit; numbering stays global so citations survive
    partials, first = [], 0
    while first < len(chunks):
        plan = fit_sources(llm, lambda cs, f=first: summary_messages(cs, f + 1, focus), chunks[first:],
                           params.max_new_tokens)
        if not plan.used:
            c = chunks[first]
            raise LabError(f"chunk {c.id} alone does not fit {llm.name}'s context window of "
                           f"{llm.context_window} "
                           f"tokens with {params.max_new_tokens} for the answer",
                           hint="index with smaller chunks (--set chunk_size=...) or lower max_new_tokens")
        partials.append(llm.chat(plan.messages, params).text)
        calls += 1
        first += len(plan.used)
    rounds.append(len(partials))
    # reduce: merge partial summaries the same way until one is left; every round must shrink the list
    while len(partials) > 1:
        merged, i = [], 0
        while i < len(partials):
            plan = fit_sources(llm, lambda ps: combine_messages(ps, focus), partials[i:],
                               params.max_new_tokens,
                               chunk_of=lambda p: p)
            if len(plan.used) >= 2:
                merged.append(llm.chat(plan.messages, params).text)
                calls += 1
                i += len(plan.used)
            else:
                # no room to merge it with the next: carried to the next round
                merged.append(partials[i])
                i += 1
        if len(merged) == len(partials):
            raise LabError("partial summaries are too long to merge two at a time in the context window",
                           hint="lower max_new_tokens so two partial summaries fit in one prompt")
        rounds.append(len(merged))
        partials = merged
    return Summary(partials[0], list(chunks), calls, rounds, parse_citations(partials[0], len(chunks)))

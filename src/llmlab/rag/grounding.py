"""Grounding: is each sentence of an answer supported by the sources it cites?

    g = grounding(result.text, [h.chunk.text for h in result.sources], embed=index.embedder.embed_queries)
    g.faithfulness, g.context_precision, g.sentences[0].lexical, g.sentences[0].similarity

Per sentence (its [n] markers removed), against its cited sources (all sources when it cites none):
    lexical    = share of the sentence's topic words found in the best source (stopwords aside)
    similarity = cosine of the sentence's and the best source's embeddings (when `embed` is given)
    supported  = lexical >= 0.5, or similarity >= 0.6
Aggregated like RAGAS (Es et al., 2023), with these scores standing in for its LLM judge:
    faithfulness      = supported sentences / sentences
    context precision = mean over the ranks k of relevant sources of precision@k, where a source is
                        relevant when it supports at least one sentence (1.0: the useful sources come first)
The thresholds are rough: two cheap signals, not a judge; a high lexical score can come from copying
words, a high similarity from the same topic. They flag answers worth reading twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from llmlab.search.bm25 import topic_terms

LEXICAL_MIN, SIMILARITY_MIN = 0.5, 0.6
_CITATION = re.compile(r"\[(\d+)\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(\[`])")


@dataclass
class SentenceSupport:
    text: str
    cited: list[int]                 # source numbers (1-based) the sentence cites
    source: int | None               # the best-supporting source among them (or among all, uncited)
    lexical: float
    similarity: float | None
    supported: bool


@dataclass
class Grounding:
    sentences: list[SentenceSupport] = field(default_factory=list)
    faithfulness: float = 0.0
    context_precision: float = 0.0

    def to_dict(self) -> dict:
        return {"faithfulness": round(self.faithfulness, 4),
                "context_precision": round(self.context_precision, 4),
                "sentences": [asdict(s) for s in self.sentences]}


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def lexical_support(sentence: str, source: str) -> float:
    """Share of the sentence's topic words that the source contains (1.0 when it has none to check)."""
    words = set(topic_terms(sentence))
    if not words:
        return 1.0
    return len(words & set(topic_terms(source))) / len(words)


def grounding(answer: str, sources: Sequence[str],
              embed: Callable[[list[str]], np.ndarray] | None = None) -> Grounding:
    """Score every sentence of `answer` against `sources` (source [n] is sources[n - 1])."""
    sentences = split_sentences(answer)
    if not sentences or not sources:
        return Grounding()
    plain = [re.sub(r"\s+([.!?,;:])", r"\1", _CITATION.sub("", s)).strip() for s in sentences]
    sims = None
    if embed is not None:
        vectors = embed(plain + list(sources))                       # (S + N, D) unit rows
        sims = vectors[:len(plain)] @ vectors[len(plain):].T         # (S, N) cosine
    out, useful = [], set()
    for i, (raw, text) in enumerate(zip(sentences, plain, strict=True)):
        cited = sorted({int(n) for n in _CITATION.findall(raw) if 1 <= int(n) <= len(sources)})
        pool = [n - 1 for n in cited] or list(range(len(sources)))
        lex = {j: lexical_support(text, sources[j]) for j in pool}
        sim = {j: float(sims[i, j]) for j in pool} if sims is not None else {}
        best = max(pool, key=lambda j: (lex[j] >= LEXICAL_MIN or sim.get(j, -1) >= SIMILARITY_MIN,
                                        lex[j] + sim.get(j, 0.0)))
        ok = lex[best] >= LEXICAL_MIN or sim.get(best, -1.0) >= SIMILARITY_MIN
        if ok:
            useful.add(best)
        out.append(SentenceSupport(text, cited, best + 1, round(lex[best], 4),
                                   round(sim[best], 4) if sim else None, ok))
    return Grounding(out, sum(s.supported for s in out) / len(out), context_precision(useful, len(sources)))


def context_precision(relevant: set[int], n: int) -> float:
    """RAGAS context precision of a ranked list of n sources whose relevant positions (0-based) are given."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for k in range(n):
        if k in relevant:
            hits += 1
            total += hits / (k + 1)
    return total / len(relevant)

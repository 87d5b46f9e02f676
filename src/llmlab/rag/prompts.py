"""Prompts that put retrieved chunks in front of a question, numbered [1], [2], ..., fitted to the model's
window.

    plan = fit_sources(llm, lambda sources: qa_messages(question, sources), hits, max_new_tokens=128)
    plan.messages, plan.used, plan.dropped            # the chat to send, the sources kept, the ones left out
    parse_citations("Use break [2][3].", n_sources=3)   # Citations(cited=[2, 3], invalid=[])

The budget is `llm.context_window - max_new_tokens`, counted with the model's own `count_chat_tokens`.
Sources are kept best-first; when they do not all fit, the lowest-ranked go first (their number is reported).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from llmlab.errors import LabError
from llmlab.llm import ContextWindowError
from llmlab.rag.chunking import Chunk

QA_SYSTEM = ("You answer questions using only the numbered sources given. After each claim, cite the sources "
             "that support it by number in square brackets, like [1] or [2][3]. If the sources do not "
             "contain "
             "the answer, say that you do not know.")
SUMMARY_SYSTEM = ("You summarise the numbered sources given. Keep the key facts, cite the sources each point "
                  "comes from by number in square brackets, like [1], and add nothing that is not in them.")
COMBINE_SYSTEM = ("You merge partial summaries of one text into a single summary. Keep every cited source "
                  "number like [4] as it is, remove repetition, and add nothing new.")


def format_source(number: int, chunk: Chunk) -> str:
    """One numbered source: '[3] typesseq (chars 120-980)' then its text."""
    return f"[{number}] {chunk.doc} (chars {chunk.start}-{chunk.end})\n{chunk.text.strip()}"


def format_sources(chunks: Sequence[Chunk], first: int = 1) -> str:
    return "\n\n".join(format_source(first + i, c) for i, c in enumerate(chunks))


def qa_messages(question: str, chunks: Sequence[Chunk]) -> list[dict[str, str]]:
    sources = format_sources(chunks) if chunks else "(no sources)"
    return [{"role": "system", "content": QA_SYSTEM},
            {"role": "user", "content": f"Sources:\n\n{sources}\n\nQuestion: {question}\n"
                                        "Answer with citations:"}]


def summary_messages(chunks: Sequence[Chunk], first: int = 1, focus: str | None = None) -> list[dict[str,
                                                                                                     str]]:
    about = f" Focus on: {focus}." if focus else ""
    return [{"role": "system", "content": SUMMARY_SYSTEM + about},
            {"role": "user",
             "content": f"Sources:\n\n{format_sources(chunks, first)}\n\nSummary with citations:"}]


def combine_messages(partials: Sequence[str], focus: str | None = None) -> list[dict[str, str]]:
    about = f" Focus on: {focus}." if focus else ""
    body = "\n\n".join(f"Part {i + 1}:\n{p.strip()}" for i, p in enumerate(partials))
    return [{"role": "system", "content": COMBINE_SYSTEM + about},
            {"role": "user", "content": f"{body}\n\nOne summary with citations:"}]


@dataclass
class PromptPlan:
    messages: list[dict[str, str]]
    used: list            # the items (hits or chunks) in the prompt, source [i] is used[i - 1]
    dropped: list         # lowest-ranked items that did not fit
    prompt_tokens: int
    budget: int           # context_window - max_new_tokens


def fit_sources(llm, render: Callable[[list], list[dict[str, str]]], items: Sequence, max_new_tokens: int,
                chunk_of: Callable = lambda item: getattr(item, "chunk", item)) -> PromptPlan:
    """The longest best-first prefix of `items` whose prompt fits; prompt size grows with n, so bisect n."""
    # a default too long for a small window is scaled down
    max_new_tokens = llm.answer_budget(max_new_tokens)
    budget = llm.context_window - max_new_tokens
    items = list(items)

    def tokens(n: int) -> int:
        return llm.count_chat_tokens(render([chunk_of(x) for x in items[:n]]))

    lo, hi = 0, len(items)                      # invariant: n = lo fits (checked below), n = hi + 1 does not
    if tokens(0) > budget:
        raise ContextWindowError(
            f"{llm.name}'s context window is {llm.context_window} tokens; the prompt without any source "
            f"needs "
            f"{tokens(0)} and the answer {max_new_tokens}",
            hint="lower max_new_tokens or use a model with a longer context")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if tokens(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    messages = render([chunk_of(x) for x in items[:lo]])
    return PromptPlan(messages, items[:lo], items[lo:], llm.count_chat_tokens(messages), budget)


# ---- citations -----------------------------------------------------------------------------------

_BRACKET = re.compile(r"\[(\s*\d+(?:\s*(?:[,;]|[-–])\s*\d+)*\s*)\]")


@dataclass
class Citations:
    cited: list[int] = field(default_factory=list)     # valid source numbers, in order of first citation
    invalid: list[int] = field(default_factory=list)   # numbers that point at no given source

    @property
    def ok(self) -> bool:
        return not self.invalid

    def to_dict(self) -> dict:
        return {"cited": self.cited, "invalid": self.invalid}


def parse_citations(text: str, n_sources: int) -> Citations:
    """Source numbers cited as [2], [2, 3], [2][3] or [2-4]; each checked against 1..n_sources."""
    seen: list[int] = []
    for match in _BRACKET.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            bounds = [int(x) for x in re.split(r"[-–]", part) if x.strip()]
            numbers = (
                range(bounds[0], bounds[-1] + 1)
                if len(bounds) == 2 and bounds[1] - bounds[0] < 50
                else bounds
            )
            seen.extend(n for n in numbers if n not in seen)
    return Citations([n for n in seen if 1 <= n <= n_sources], [n for n in seen if not 1 <= n <= n_sources])


def check_question(question: str) -> str:
    if not question or not question.strip():
        raise LabError("the question is empty",
                       hint='ask something, e.g. llmlab rag ask "How do I leave a loop early?"')
    return question.strip()

"""An agent's memory: the scratchpad of this run fitted to the context window, and facts kept across runs.

    memory = LongTermMemory.open("ada")            # runs/agents/ada/memory.jsonl
    memory.add("The user's locker code is 4821")
    memory.search("what is my locker code?", k=3)  # BM25 (llmlab.search.bm25) over the stored facts
    kept, dropped = fit_steps(lambda k: build_prompt(steps[k:]), len(steps), llm.count_tokens, budget)

Short-term: the prompt is rebuilt every step from the question and the steps so far; when it would not fit
`llm.context_window - max_new_tokens`, the oldest steps are dropped first (exact token counts, never a guess).
Long-term: one JSON line per fact; a fact with a key replaces the older fact with that key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmlab.atomic import locked
from llmlab.errors import LabError
from llmlab.runs import check_name, runs_root, write_text_atomic

# ---- short-term: the scratchpad ----------------------------------------------------------------------------

def fit_steps(build: Callable[[int], Any], n_steps: int, count: Callable[[Any], int],
              budget: int) -> tuple[Any, int]:
    """(prompt, dropped): the prompt from `build(dropped)` with the fewest oldest steps dropped that fits
    `budget`.

    `build(k)` makes the prompt without the first k steps (text, or chat messages with a matching `count`).
    Dropping a step never lengthens the prompt, so the first k that fits is the most that can be kept.
    Raises ContextWindowError when even the prompt without any step is over the budget.
    """
    from llmlab.llm.base import ContextWindowError

    for dropped in range(n_steps + 1):
        prompt = build(dropped)
        tokens = count(prompt)
        if tokens <= budget:
            return prompt, dropped
    raise ContextWindowError(f"the agent's prompt needs {tokens} tokens with every earlier step dropped, "
                             f"but only {budget} fit beside the answer",
                             hint="shorten the question or the system prompt, use fewer tools, lower "
                                  "max_new_tokens, "
                                  "or use a model with a longer context")


# ---- long-term: facts across runs --------------------------------------------------------------------------

@dataclass
class Fact:
    text: str
    key: str | None = None
    time: float = 0.0
    source: str = ""            # the run that stored it


def terms(text: str) -> list[str]:
    """Lower-cased words without stop words (llmlab.search.bm25.topic_terms): both sides of the fact
    search."""
    from llmlab.search.bm25 import topic_terms

    return topic_terms(text)


class LongTermMemory:
    """Facts in `folder/memory.jsonl`, recalled by BM25 relevance to a query."""

    FILE = "memory.jsonl"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / self.FILE

    @classmethod
    def open(cls, name: str, root: str | Path | None = None) -> LongTermMemory:
        """The memory named `name`: runs/agents/<name>/ (or <root>/<name>/)."""
        check_name(name, "memory name")
        return cls(Path(root) if root else runs_root() / "agents" / name)

    def facts(self) -> list[Fact]:
        if not self.path.exists():
            return []
        rows = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(Fact(**json.loads(line)))
            except (ValueError, TypeError):
                raise LabError(f"{self.path} line {number} is not a memory fact",
                               hint="fix or delete that line (each line: {\"text\": ..., \"key\": "
                                    "...})") from None
        return rows

    def add(self, text: str, key: str | None = None, source: str = "") -> Fact:
        """Store a fact; the same text again is kept once, the same key again replaces the old fact."""
        text = " ".join(text.split())
        if not text:
            raise LabError("cannot remember an empty fact", hint="give the fact as a sentence")
        fact = Fact(text, key, round(time.time(), 3), source)
        with locked(self.folder):        # read, change, write as one step: two threads' facts are both kept
            kept = [f for f in self.facts() if not ((key and f.key == key) or f.text == text)]
            self._write(kept + [fact])
        return fact

    def forget(self, key_or_text: str) -> int:
        """Remove the facts with this key or this exact text; how many were removed."""
        with locked(self.folder):
            facts = self.facts()
            kept = [f for f in facts if f.key != key_or_text and f.text != key_or_text]
            # nothing removed: nothing written (a mistyped name makes no folder)
            if len(kept) < len(facts):
                self._write(kept)
        return len(facts) - len(kept)

    def search(self, query: str, k: int = 3) -> list[Fact]:
        """The (at most k) facts that share a topic word with `query`: any that contain the whole query first,
        then by BM25 score."""
        facts = self.facts()
        words = terms(query)
        if not facts or not words or k <= 0:
            return []
        from llmlab.search.bm25 import BM25

        # both sides without stop words, so a fact's length counts only its topic words
        scores = BM25.build([" ".join(terms(f.text)) for f in facts]).scores(words)
        # a fact holding the whole query (the same question asked again) first, then by score, newer first on
        # ties; keep only facts that share a word with the query. Words alone cannot tell 9-6 from 6+9.
        whole = " ".join(query.lower().split())
        shared = [i for i, f in enumerate(facts) if set(words) & set(terms(f.text))]
        ranked = sorted(shared, key=lambda i: (whole not in facts[i].text.lower(), -scores[i], -i))
        return [facts[i] for i in ranked[:k]]

    def _write(self, facts: list[Fact]) -> None:
        # a uniquely named temp file, then a rename: a crash leaves the old file, never half a line
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, "".join(json.dumps(asdict(f), ensure_ascii=False) + "\n" for f in facts))

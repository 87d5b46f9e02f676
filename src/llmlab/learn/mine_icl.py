"""`llmlab learn run icl --mine`: k-shot prompts built by the learner's builder and demonstration picker, run
through llmlab's experiment harness beside llmlab's, on a reader that learns only from what the prompt shows.

The "model" is a nearest-demonstration reader, scripted and instant: it splits the prompt at blank lines,
takes the last "Input: x / Output:" block as the query and the "Input: x / Output: y" blocks before it as the
demonstrations; if every demonstration's output is its input spelled backwards it applies that rule, otherwise
it answers with the label of the demonstration sharing the most words with the query. With no demonstration it
has nothing to go on. So its accuracy moves with k exactly as far as the demonstrations allow (one reversed
word teaches the rule; shared words are a poor guide to sentiment, since the two "coffee" reviews disagree, so
that task stays near chance), and a prompt with the query before the examples, or without the blank lines,
changes its answers.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM, Delta

PATCHES = {   # exercise -> [(module patched, its name, name in the learner's file)]
    "few_shot": [("llmlab.experiments.harness", "icl_prompt", "icl_prompt")],
    "demos": [("llmlab.experiments.harness", "pick_demos", "pick_demos")],
}
TASKS, SHOTS, N = ["sentiment", "reverse"], [0, 1, 4], 20
FIELD = re.compile(r"^([^:\n]+): ?(.*)$")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


class DemoReader(LLM):
    """Answers the query from the demonstrations in the prompt text alone (see the module's docstring)."""

    name = "demo-reader"

    def __init__(self):
        self.prompts: list[str] = []

    @property
    def context_window(self) -> int:
        return 100_000

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def read(self, prompt: str) -> str:
        blocks = [
            [FIELD.match(line) for line in block.strip().splitlines()] for block in prompt.split("\n\n")
        ]
        query = blocks[-1]
        if len(query) < 2 or not all(query[-2:]) or query[-1].group(2):
            return "?"                                  # no "Input: x" then an open "Output:" at the end
        name, x = query[-2].group(1), query[-2].group(2)
        demos = [(b[0].group(2), b[1].group(2)) for b in blocks[:-1]
                 if len(b) == 2 and all(b) and b[0].group(1) == name]
        if not demos:
            return "?"
        if all(y == dx[::-1] for dx, y in demos):
            return x[::-1]
        best = max(range(len(demos)), key=lambda i: (len(_words(demos[i][0]) & _words(x)), -i))
        return demos[best][1]

    def _generate(self, prompt: str, params: SamplingParams) -> Iterator[Delta]:
        self.prompts.append(prompt)
        text = f" {self.read(prompt)}"
        yield Delta(text, "stop", self.count_tokens(prompt), 1)


@contextlib.contextmanager
def learner_pieces(modules: dict):
    with contextlib.ExitStack() as stack:
        for exercise, module in modules.items():
            for target, name, theirs in PATCHES.get(exercise, []):
                stack.enter_context(mock.patch.object(importlib.import_module(target), name, getattr(module,
                                                                                                     theirs)))
        yield


def accuracy_by_shots(seed: int) -> dict:
    """{(task, k): accuracy}, every row, and the prompts the reader saw, in order."""
    from llmlab.experiments.harness import IclRun, run_icl

    reader = DemoReader()
    rows = run_icl(reader, IclRun(tasks=TASKS, shots=SHOTS, n=N, seed=seed))
    table = {}
    for task in TASKS:
        for k in SHOTS:
            hits = [r["correct"] for r in rows if r["task"] == task and r["shots"] == k]
            table[(task, k)] = sum(hits) / len(hits)
    return {"table": table, "rows": rows, "prompts": reader.prompts}


def run_icl_mine(folder: Path, modules: dict, seed: int = 0) -> dict:
    from llmlab.experiments.report import write_jsonl
    from llmlab.learn.mine_transformer import new_run_dir

    out = new_run_dir(folder)
    reference = accuracy_by_shots(seed)
    with learner_pieces(modules):
        mine = accuracy_by_shots(seed)
    write_jsonl(reference["rows"], out / "reference.jsonl")
    write_jsonl(mine["rows"], out / "mine.jsonl")
    same = sum(a == b for a, b in zip(mine["prompts"], reference["prompts"], strict=True))
    return {"reference": reference, "mine": mine, "same_prompts": same, "prompts": len(reference["prompts"]),
            "folder": str(out)}


def run_mine(folder: Path, modules: dict, steps: int = 0, seed: int = 0, log=print) -> str:
    """Print accuracy by task and shots, yours beside llmlab's; return the tracker's note."""
    pieces = ", ".join(sorted(set(modules) & set(PATCHES))) or "none"
    log(f"tasks {', '.join(TASKS)}: {N} queries each at {', '.join(map(str, SHOTS))} shots, read by a "
        f"nearest-demonstration reader; your pieces: {pieces}")
    r = run_icl_mine(folder, modules, seed)
    log(f"{'task':<12}{'shots':>6}{'yours':>8}{'llmlab':>8}")
    for (task, k), acc in r["mine"]["table"].items():
        log(f"{task:<12}{k:>6}{acc:>8.0%}{r['reference']['table'][(task, k)]:>8.0%}")
    log(f"prompts identical to llmlab's: {r['same_prompts']}/{r['prompts']}")
    log(f"answers: {r['folder']}")
    return f"run --mine (mine: {pieces}): {r['same_prompts']}/{r['prompts']} prompts identical to llmlab's"

"""`llmlab learn run cot --mine`: self-consistency through llmlab's experiment harness with the learner's
answer extraction and voting, beside llmlab's: 30 word problems, few-shot chain of thought, one greedy sample
and then five samples voted.

The model is scripted, so what it writes is known: the worked rationale of each problem, ended in one of the
ways models end (“The answer is 1,204.”, “Answer: 1204”, “So that makes 1,204 in all.”), and, in about one
sample in three, a slip in that last number. One greedy sample keeps its slips; a vote over five mostly
outvotes them, as Wang et al. (2022) found with real samples. Every sample, answer and vote is kept in the run
folder.
"""

from __future__ import annotations

import contextlib
import importlib
import random
import re
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM, Delta

PATCHES = {   # exercise -> [(module patched, its name, name in the learner's file)]
    "extract": [("llmlab.experiments.harness", "extract_number", "extract_number"),
                ("llmlab.experiments.harness", "normalize_number", "normalize_number")],
    "vote": [("llmlab.experiments.harness", "majority", "majority")],
}
N, SAMPLES, SHOTS, SLIP = 30, 5, 2, 0.35


class SlipperySolver(LLM):
    """Writes the rationale of the problem asked last; the final number slips with probability SLIP per
    sample."""

    name = "scripted-cot"

    def __init__(self, items):
        self.by_question = {item.question: item for item in items}

    @property
    def context_window(self) -> int:
        return 100_000

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _generate(self, prompt: str, params: SamplingParams) -> Iterator[Delta]:
        item = self.by_question[re.findall(r"Q: (.*?)\nA:", prompt, re.S)[-1]]
        rng = random.Random(f"{item.id}-{params.seed if params.temperature > 0 else 'greedy'}")
        answer = int(item.answer)
        if rng.random() < SLIP:
            answer = max(0, answer + rng.choice([-10, -2, -1, 1, 2, 10]))
        body = item.rationale.rsplit("The answer is", 1)[0].rstrip()
        ending = rng.choice([f"The answer is {answer:,}.", f"Answer: {answer}",
                             f"So that makes {answer:,} in all."])
        text = f" {body} {ending}"
        yield Delta(text, "stop", self.count_tokens(prompt), self.count_tokens(text))


@contextlib.contextmanager
def learner_pieces(modules: dict):
    with contextlib.ExitStack() as stack:
        for exercise, module in modules.items():
            for target, name, theirs in PATCHES.get(exercise, []):
                stack.enter_context(mock.patch.object(importlib.import_module(target), name, getattr(module,
                                                                                                     theirs)))
        yield


def self_consistency(seed: int) -> dict:
    """Accuracy of one greedy sample and of SAMPLES voted, and every row the harness kept."""
    from llmlab.experiments.harness import CotRun, run_cot
    from llmlab.experiments.word_problems import word_problems

    llm = SlipperySolver(word_problems(N, seed))
    out = {}
    for samples in (1, SAMPLES):
        rows = run_cot(llm, CotRun(n=N, conditions=[f"cot-{SHOTS}"], samples=samples, seed=seed))
        out[samples] = {"accuracy": sum(r["correct"] for r in rows) / len(rows), "rows": rows}
    return out


def run_cot_mine(folder: Path, modules: dict, seed: int = 0) -> dict:
    from llmlab.experiments.report import write_jsonl
    from llmlab.learn.mine_transformer import new_run_dir

    out = new_run_dir(folder)
    reference = self_consistency(seed)
    with learner_pieces(modules):
        mine = self_consistency(seed)
    for who, result in (("reference", reference), ("mine", mine)):
        for samples, r in result.items():
            write_jsonl(r["rows"], out / f"{who}-{samples}-samples.jsonl")
    return {"reference": reference, "mine": mine, "folder": str(out)}


def run_mine(folder: Path, modules: dict, steps: int = 0, seed: int = 0, log=print) -> str:
    """Print the accuracies and how many answers and votes match llmlab's; return the tracker's note."""
    pieces = ", ".join(sorted(set(modules) & set(PATCHES))) or "none"
    log(f"{N} word problems, {SHOTS}-shot chain of thought, a scripted model that slips in about "
        f"{SLIP:.0%} of samples; your pieces: {pieces}")
    r = run_cot_mine(folder, modules, seed)
    log(f"{'':<28}{'yours':>8}{'llmlab':>8}")
    for samples in (1, SAMPLES):
        label = "1 greedy sample" if samples == 1 else f"majority of {samples} samples"
        log(f"{label:<28}{r['mine'][samples]['accuracy']:>8.0%}{r['reference'][samples]['accuracy']:>8.0%}")
    mine_rows, ref_rows = r["mine"][SAMPLES]["rows"], r["reference"][SAMPLES]["rows"]
    answers = sum(a["answers"] == b["answers"] for a, b in zip(mine_rows, ref_rows, strict=True))
    votes = sum(a["answer"] == b["answer"] for a, b in zip(mine_rows, ref_rows, strict=True))
    log(f"extracted answers as llmlab's: {answers}/{N} problems (all {SAMPLES} samples); votes as llmlab's: "
        f"{votes}/{N}")
    log(f"samples, answers and votes: {r['folder']}")
    return (f"run --mine (mine: {pieces}): self-consistency {r['mine'][1]['accuracy']:.0%} -> "
            f"{r['mine'][SAMPLES]['accuracy']:.0%} (llmlab {r['reference'][1]['accuracy']:.0%} -> "
            f"{r['reference'][SAMPLES]['accuracy']:.0%}); {votes}/{N} votes as llmlab's")

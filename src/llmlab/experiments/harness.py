"""Run prompt experiments against any `llmlab.llm` model: chain of thought on word problems, k-shot in-context
learning on small tasks. Every answer is kept (items.jsonl); accuracy comes with a 95% Wilson interval.

    llm = load_llm("hf:Qwen/Qwen2.5-0.5B-Instruct")
    rows = run_cot(llm, CotRun(n=50, conditions=["direct-0", "cot-0", "direct-4", "cot-4"]))
    rows = run_icl(llm, IclRun(tasks=["sentiment"], shots=[0, 1, 2, 4, 8]))

Self-consistency: `samples=n` draws n answers per prompt (temperature 0.7 unless set) and keeps the majority.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmlab.errors import LabError
from llmlab.experiments.extract import (
    extract_number,
    free_answer,
    match_label,
    matches_text,
    normalize_number,
)
from llmlab.experiments.icl_tasks import icl_task
from llmlab.experiments.prompts import THEREFORE, Prompt, cot_prompt, icl_prompt, pick_demos
from llmlab.experiments.stats import majority
from llmlab.experiments.word_problems import check_counts, word_problems
from llmlab.generation import SamplingParams
from llmlab.llm import LLM, ContextWindowError

COT_STOPS = ("\n\nQ:", "\nQ:", "\n\n\n")       # a base model would go on to write the next question itself


@dataclass
class Sampling:
    samples: int = 1                  # > 1: self-consistency, the majority answer of `samples` draws
    temperature: float | None = None  # None: greedy for one sample, 0.7 for several
    max_new_tokens: int = 256
    chat: bool = False                # send chat messages (instruction-tuned models) instead of plain text
    seed: int = 0

    def params(self, sample: int, max_new_tokens: int | None = None, stop: tuple[str,
                                                                                 ...] = ()) -> SamplingParams:
        temperature = self.temperature if self.temperature is not None else (0.7 if self.samples > 1 else 0.0)
        return SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens or self.max_new_tokens,
                              stop=() if self.chat else stop, seed=self.seed + sample)


    def check_sampling(self) -> None:
        if self.samples < 1:
            raise LabError(f"samples={self.samples}: need at least 1",
                           hint="--num-samples 5 for self-consistency")
        if self.max_new_tokens < 1:
            raise LabError(f"max_new_tokens={self.max_new_tokens}: need at least 1",
                           hint="--max-new-tokens 256")


@dataclass
class CotRun(Sampling):
    n: int = 50
    conditions: list[str] = field(default_factory=lambda: ["direct-0", "cot-0", "direct-4", "cot-4"])
    min_steps: int = 2
    max_steps: int = 4
    two_stage: bool = True            # zero-shot CoT without "the answer is": ask "Therefore, the answer is"

    def check(self) -> CotRun:
        """Every setting, before a model is loaded: a bad one must not surface after minutes of prompts."""
        self.check_sampling()
        if not self.conditions:
            raise LabError("no conditions to compare", hint="e.g. --conditions direct-0,cot-0")
        for c in self.conditions:
            parse_condition(c)
        check_counts(self.n, self.min_steps, self.max_steps)
        return self


@dataclass
class IclRun(Sampling):
    tasks: list[str] = field(default_factory=lambda: ["sentiment", "capital", "reverse"])
    shots: list[int] = field(default_factory=lambda: [0, 1, 2, 4, 8])
    n: int = 40                       # queries per task (each task ships 40 items)
    instruction: bool = True
    max_new_tokens: int = 12

    def check(self) -> IclRun:
        """Every setting, before a model is loaded: tasks exist, n >= 1, each shot count fits every task's
        pool."""
        self.check_sampling()
        if not self.tasks or not self.shots:
            raise LabError("no tasks or no shot counts to compare",
                           hint="e.g. --tasks sentiment --shots 0,1,2,4,8")
        if self.n < 1:
            raise LabError(f"n={self.n}: ask at least one query per task", hint="--n 40")
        if min(self.shots) < 0:
            raise LabError(f"shots {self.shots}: a shot count cannot be negative",
                           hint="e.g. --shots 0,1,2,4,8")
        for name in self.tasks:
            # a query's demonstrations are the task's other items
            pool = len(icl_task(name).items) - 1
            if max(self.shots) > pool:
                raise LabError(f"{max(self.shots)} shots asked for, but task {name!r} has only {pool} other "
                               f"items",
                               hint=f"use at most {pool} shots")
        return self


def parse_condition(name: str) -> tuple[str, int]:
    """"cot-4" -> ("cot", 4): a prompt style and a number of worked examples."""
    style, _, shots = name.partition("-")
    if style not in ("direct", "cot") or not shots.isdigit():
        raise LabError(f"unknown condition {name!r}",
                       hint="write conditions as STYLE-SHOTS, e.g. direct-0,cot-0,cot-4")
    return style, int(shots)


def _ask(llm: LLM, prompt: Prompt, cfg: Sampling, params: SamplingParams) -> str:
    if cfg.chat:
        return llm.chat(prompt.messages, params).text
    return llm.complete(prompt.text, params).text


def _sampled(llm: LLM, prompt: Prompt, cfg: Sampling, answer_of: Callable[[str, SamplingParams],
                                                                          tuple[str | None, dict]],
             stop: tuple[str, ...]) -> dict[str, Any]:
    """Ask `samples` times; each output -> an answer; the majority is the item's answer."""
    outputs, answers, extra = [], [], []
    for s in range(cfg.samples):
        params = cfg.params(s, stop=stop)
        try:
            text = _ask(llm, prompt, cfg, params)
        except ContextWindowError as exc:
            return {"outputs": [], "answers": [], "answer": None, "error": exc.message}
        answer, more = answer_of(text, params)
        outputs.append(text)
        answers.append(answer)
        extra.append(more)
    row = {"outputs": outputs, "answers": answers, "answer": majority(answers)}
    if any(extra):
        row["second_stage"] = extra
    return row


def run_cot(llm: LLM, cfg: CotRun, progress: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Every (condition, problem): the prompt's outputs, extracted answers, the vote, and whether it is
    right."""
    conditions = [parse_condition(c) for c in cfg.conditions]
    items = word_problems(cfg.n, cfg.seed, cfg.min_steps, cfg.max_steps)
    # worked examples come from their own problems, never the test ones
    pool = word_problems(max([k for _, k in conditions] + [1]), cfg.seed + 1000, cfg.min_steps, cfg.max_steps)
    rows = []
    for style, shots in conditions:
        for item in items:
            prompt = cot_prompt(item, style, pool[:shots])

            def answer_of(text: str, params: SamplingParams, prompt=prompt, style=style) -> tuple[str | None,
                                                                                                  dict]:
                answer = extract_number(text, last=style == "cot")
                if (style == "cot" and prompt.shots == 0 and cfg.two_stage and not cfg.chat
                        and "answer is" not in text.lower()):
                    follow = f"{prompt.text}{text.rstrip()}\n{THEREFORE}"
                    try:
                        second = llm.complete(follow, cfg.params(0, 16, ("\n",))).text
                    except ContextWindowError:
                        return answer, {}
                    return extract_number(second, last=False) or answer, {"text": second}
                return answer, {}

            row = _sampled(llm, prompt, cfg, answer_of, COT_STOPS)
            rows.append({"task": "arithmetic", "condition": f"{style}-{shots}", "style": style,
                         "shots": shots,
                         "id": item.id, "steps": item.meta["steps"], "question": item.question,
                         "expected": item.answer, **row,
                         "correct": row["answer"] is not None
                                    and row["answer"] == normalize_number(item.answer)})
            if progress:
                progress()
    return rows


def run_icl(llm: LLM, cfg: IclRun, progress: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Every (task, shots, query): k demonstrations from the task's other items, the answer, right or not."""
    rows = []
    for name in cfg.tasks:
        task = icl_task(name)
        queries = task.items[:cfg.n]
        for k in cfg.shots:
            for item in queries:
                prompt = icl_prompt(task, item, pick_demos(task.items, item, k, cfg.seed), cfg.instruction)

                def answer_of(text: str, params: SamplingParams, task=task) -> tuple[str | None, dict]:
                    if task.labels:
                        return match_label(text, task.labels), {}
                    return free_answer(text), {}

                row = _sampled(llm, prompt, cfg, answer_of, ("\n",))
                if task.labels:
                    correct = row["answer"] == item.answer
                else:   # free answers: the voted first line must be the expected text
                    correct = row["answer"] is not None and matches_text(row["answer"], item.answer)
                rows.append({"task": name, "shots": k, "id": item.id, "query": item.question,
                             "expected": item.answer, **row, "correct": correct})
                if progress:
                    progress()
    return rows


def total_prompts(cfg: CotRun | IclRun) -> int:
    if isinstance(cfg, CotRun):
        return len(cfg.conditions) * cfg.n
    return sum(min(cfg.n, len(icl_task(t).items)) for t in cfg.tasks) * len(cfg.shots)

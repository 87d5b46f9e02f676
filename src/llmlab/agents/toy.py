"""The offline reproduction: a tiny GPT-2 trained here on synthetic agent traces, then tested with and without
its tool.

    summary = train_toy(ToyPreset(max_steps=800), out="runs/agents/toy")     # model:
    runs/agents/toy/checkpoint

The traces are arithmetic questions ("4821+377") written in the agent's own bare prompt format (prompt.py), so
training and the agent loop cannot drift apart. Four kinds, mixed:

    tool     Tools: calculator / Question: 4821+377 / Action: calculator[4821+377] / Observation: 5198 / Final
    Answer: 5198 direct   Question: 4821+377 / Final Answer: 5198                     (no tool listed: answer
    from the weights) memory   Tools: ... / Question: 4821+377 / Memory: 4821+377 -> 5198 / Final Answer: 5198
    decoy    Tools: ... / Question: 4821+377 / Memory: 4821+120 -> 4941 / Action: calculator[...] ...  (recall
    missed)

The loss covers only what the model writes: the prompt (tools, memory, question) and the observation's value
(the tool's text, not the model's) are masked, so the tool traces teach no arithmetic at all. The same weights
then answer held-out questions two ways: through the agent loop with the calculator, and directly.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmlab.agents.prompt import PastStep, render_prompt
from llmlab.agents.tools import ToolRegistry, calculator_tool
from llmlab.config import apply_overrides
from llmlab.errors import LabError
from llmlab.training.batches import IGNORE_INDEX, SeededBatches

END = "\n\n"             # a blank line ends every trace; the agent stops on it too
KINDS = ("tool", "direct", "memory", "decoy")


@dataclass
class ToyPreset:
    min_digits: int = 1
    max_digits: int = 3              # digits per operand
    ops: str = "+-"
    # of the traces: tool, direct, memory, decoy. Decoys (a recalled fact about another question) teach the
    # model to check what memory says before trusting it; measured at 0.1 (memory 0.1, 600 steps) the model
    # then learned neither the tool path (8% right) nor the memory path, so they are off by default
    shares: str = "0.4,0.3,0.3,0"
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    n_inner: int | None = None       # MLP width (None: 4 * n_embd)
    batch_size: int = 16
    max_steps: int = 800
    max_time: float | None = None
    lr: float = 5e-3                 # 1e-2 learns faster but stalled one seed in three at 63% (5e-3: 97-100%)
    warmup_steps: int = 30
    eval_questions: int = 20         # held-out questions per digit count (never seen in training)
    memory_questions: int = 8        # questions asked twice for the memory demo
    seed: int = 0
    threads: int = 1                 # a model this small runs fastest on one thread

    @property
    def kind_shares(self) -> list[float]:
        parts = [float(x) for x in self.shares.split(",")]
        if len(parts) != len(KINDS) or min(parts) < 0 or sum(parts) <= 0:
            raise LabError(f"shares {self.shares!r} must be {len(KINDS)} non-negative numbers "
                           f"({', '.join(KINDS)})",
                           hint='e.g. --set shares="0.45,0.35,0.1,0.1"')
        return [p / sum(parts) for p in parts]

    @property
    def block_size(self) -> int:
        """The longest trace (a decoy with max_digits operands) plus one, rounded up to a multiple of 8."""
        n = self.max_digits
        # the longest answer: a product has 2n digits, a sum n + 1, a difference n and its sign
        question, answer = "9" * n + "+" + "9" * n, "9" * (2 * n if "*" in self.ops else n + 1)
        longest = len(decoy_trace(question, answer, question, answer).text)
        return -(-(longest + 1) // 8) * 8

    def validate(self) -> ToyPreset:
        if not 1 <= self.min_digits <= self.max_digits <= 9:
            raise LabError(f"digits [{self.min_digits}, {self.max_digits}] must satisfy 1 <= min <= max <= 9",
                           hint="--set max_digits=4")
        if not self.ops or set(self.ops) - set("+-*"):
            raise LabError(f"ops {self.ops!r} must be made of + - *", hint="--set ops=+-")
        self.kind_shares  # noqa: B018 (validates)
        return self


# ---- questions and traces
# -----------------------------------------------------------------------------------

def make_question(rng: random.Random, digits: int, ops: str) -> tuple[str, str]:
    """("4821+377", "5198"): two operands of exactly `digits` digits (0-9 for one digit) and one operator."""
    low = 10 ** (digits - 1) if digits > 1 else 0
    a, b = rng.randint(low, 10 ** digits - 1), rng.randint(low, 10 ** digits - 1)
    op = rng.choice(ops)
    value = a + b if op == "+" else a - b if op == "-" else a * b
    return f"{a}{op}{b}", str(value)


@dataclass
class Trace:
    text: str
    start: int                       # first character the model is trained to write (after the question line)
    # [start, end) spans inside the answer part that are not the model's (observations)
    masked: list[tuple[int, int]]


TOOLS = ToolRegistry([calculator_tool()])
NO_TOOLS = ToolRegistry()


def _trace(question: str, steps: list[PastStep], tools: ToolRegistry, answer: str,
           memory: list[str]) -> Trace:
    head = render_prompt(question, [], tools, "bare", memory)
    text = render_prompt(question, steps, tools, "bare", memory) + f"Final Answer: {answer}" + END
    masked, at = [], len(head)
    for step in steps:                                   # mask each observation's value
        at = text.index("Observation: ", at) + len("Observation: ")
        masked.append((at, at + len(step.observation)))
    return Trace(text, len(head), masked)


def tool_trace(question: str, answer: str) -> Trace:
    return _trace(question, [PastStep(f"Action: calculator[{question}]", answer)], TOOLS, answer, [])


def direct_trace(question: str, answer: str) -> Trace:
    return _trace(question, [], NO_TOOLS, answer, [])


def memory_trace(question: str, answer: str) -> Trace:
    return _trace(question, [], TOOLS, answer, [f"{question} -> {answer}"])


def decoy_trace(question: str, answer: str, other: str, other_answer: str) -> Trace:
    return _trace(question, [PastStep(f"Action: calculator[{question}]", answer)], TOOLS, answer,
                  [f"{other} -> {other_answer}"])


def decoy_of(rng: random.Random, question: str, digits: int, ops: str) -> tuple[str, str]:
    """A different question that shares the first operand (what a keyword recall would wrongly bring back)."""
    from llmlab.agents.calculator import calculate

    first = re.match(r"\d+", question).group()
    while True:
        other, _ = make_question(rng, digits, ops)
        candidate = first + other[len(re.match(r"\d+", other).group()):]
        if candidate != question:
            return candidate, calculate(candidate)


def random_trace(rng: random.Random, cfg: ToyPreset, held_out: set[str]) -> Trace:
    digits = rng.randint(cfg.min_digits, cfg.max_digits)
    while True:
        question, answer = make_question(rng, digits, cfg.ops)
        if question not in held_out:
            break
    kind = rng.choices(KINDS, weights=cfg.kind_shares)[0]
    if kind == "tool":
        return tool_trace(question, answer)
    if kind == "direct":
        return direct_trace(question, answer)
    if kind == "memory":
        return memory_trace(question, answer)
    other, other_answer = decoy_of(rng, question, digits, cfg.ops)
    return decoy_trace(question, answer, other, other_answer)


def held_out_questions(cfg: ToyPreset) -> dict[int, list[tuple[str, str]]]:
    """Per digit count, `eval_questions` distinct questions from their own stream; training never draws
    them."""
    rng = random.Random(f"agents-toy-eval-{cfg.seed}")
    out: dict[int, list[tuple[str, str]]] = {}
    for digits in range(cfg.min_digits, cfg.max_digits + 1):
        seen: dict[str, str] = {}
        limit = (10 ** digits - (10 ** (digits - 1) if digits > 1 else 0)) ** 2 * len(cfg.ops)
        while len(seen) < min(cfg.eval_questions, limit // 4):     # leave most small questions to training
            q, a = make_question(rng, digits, cfg.ops)
            seen.setdefault(q, a)
        out[digits] = list(seen.items())
    return out


class TraceBatches(SeededBatches):
    """A training-loop batch source of fresh random traces: (x, y) with y = IGNORE_INDEX where nothing is
    learned.

    Batch i is drawn from a generator seeded by (seed, stream, i): the position is one counter, so a resume
    is exact, and `eval_batch(i)` gives the same validation traces at every evaluation.
    """

    def __init__(self, tokenizer, cfg: ToyPreset, held_out: set[str], stream: int = 0):
        self.tok, self.cfg, self.held_out, self.stream = tokenizer, cfg, held_out, stream
        self.key = str(cfg.seed)
        self.block_size, self.batch_size = cfg.block_size, cfg.batch_size
        self.pad = tokenizer.unk_id
        self.cursor = 0

    @property
    def tokens_per_batch(self) -> int:
        return self.batch_size * self.block_size

    def encode(self, trace: Trace, n: int | None = None) -> tuple[list[int], list[int]]:
        """(inputs, targets) of one trace, padded to n (block_size): targets[t] = ids[t + 1] where learned."""
        ids = self.tok.encode(trace.text)
        learn = np.zeros(len(ids), dtype=bool)
        learn[trace.start:] = True
        for a, b in trace.masked:
            learn[a:b] = False
        n = n or self.block_size
        x = (ids[:-1] + [self.pad] * n)[:n]
        y = [t if ok else IGNORE_INDEX for t, ok in zip(ids[1:], learn[1:], strict=True)]
        return x, (y + [IGNORE_INDEX] * n)[:n]

    def _batch(self, rng: random.Random):
        import torch

        traces = [random_trace(rng, self.cfg, self.held_out) for _ in range(self.batch_size)]
        # pad to the batch's longest trace (a multiple of 8), not block_size: most batches are shorter
        n = min(self.block_size, -(-max(len(t.text) for t in traces) // 8) * 8)
        rows = [self.encode(t, n) for t in traces]
        x = torch.tensor([r[0] for r in rows], dtype=torch.long)      # (B, T)
        y = torch.tensor([r[1] for r in rows], dtype=torch.long)      # (B, T)
        return x, y


def toy_tokenizer():
    """Characters of every trace: the templates' letters, digits, operators and brackets."""
    from llmlab.tokenizer.char import CharTokenizer

    sample = (tool_trace("0123456789+-*", "-0").text + direct_trace("1", "1").text + memory_trace("1",
                                                                                                  "1").text
              + decoy_trace("1", "1", "2", "2").text + "(),.")
    return CharTokenizer.train(sample, unk=True)


def train_toy(preset: ToyPreset | None = None, out: str | Path | None = None,
              overrides: list[str] | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Train the toy agent model; the Trainer's summary plus `model_dir` (an HF model directory). A folder
    that already holds a run is refused unless `overwrite`."""
    from llmlab.runs import RunFolder
    from llmlab.training.toy_gpt import train_toy_gpt

    cfg = apply_overrides(preset or ToyPreset(), overrides).validate()
    run = RunFolder.start("agents", name="toy", out=out, overwrite=overwrite)
    tok = toy_tokenizer()
    held = held_out_questions(cfg)
    held_set = {q for qs in held.values() for q, _ in qs}
    train = TraceBatches(tok, cfg, held_set)
    val = TraceBatches(tok, cfg, held_set, stream=1)
    # sinusoidal positions (as the attention toy starts): "the token k back" heads that copying needs are
    # there from the first step
    _, summary = train_toy_gpt(cfg, train, val, tok, run, n_positions=2 * cfg.block_size, run_config=cfg,
                               description="agent toy", warmup_divisor=5, sinusoidal=True)
    return {**summary, "model_dir": str(run.path / "checkpoint"), "block_size": cfg.block_size,
            "held_out": {str(d): qs for d, qs in held.items()}, "run_dir": str(run.path)}

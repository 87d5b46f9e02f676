"""Prompt builders: zero-shot, zero-shot chain of thought, few-shot, few-shot chain of thought, and k-shot
in-context prompts, each as plain text for a base model and as chat messages for an instruction-tuned one.

    p = cot_prompt(item, "cot", exemplars[:4])
    p.text       # "Q: ...\\nA: Ava starts with ... The answer is 29.\\n\\nQ: <question>\\nA:"
    p.messages   # the same exemplars as user/assistant turns, the question last

Styles (Kojima et al. 2022 for zero-shot CoT, Wei et al. 2022 for few-shot CoT):
  direct, 0 shots:  "Q: <q>\\nA: The answer (arabic numerals) is"
  cot,    0 shots:  "Q: <q>\\nA: Let's think step by step."
  direct, k shots:  k × "Q: <q_i>\\nA: The answer is <a_i>." then "Q: <q>\\nA:"
  cot,    k shots:  k × "Q: <q_i>\\nA: <rationale_i>"       then "Q: <q>\\nA:"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmlab.errors import LabError
from llmlab.experiments.icl_tasks import IclTask
from llmlab.experiments.word_problems import Item
from llmlab.llm import Message

STYLES = ("direct", "cot")
STEP_BY_STEP = "Let's think step by step."
DIRECT_CUE = "The answer (arabic numerals) is"
THEREFORE = "Therefore, the answer (arabic numerals) is"      # Kojima's second stage: read the number out
CHAT_DIRECT = "Reply with the number only."
CHAT_COT = "Let's think step by step, and end with \"The answer is <number>.\""


@dataclass
class Prompt:
    text: str                     # for `llm.complete` (a base model continues it)
    messages: list[Message]       # for `llm.chat` (an instruction-tuned model answers the last user turn)
    style: str = "direct"
    shots: int = 0


def _worked(item: Item, style: str) -> str:
    return item.rationale if style == "cot" else f"The answer is {item.answer}."


def cot_prompt(item: Item, style: str, exemplars: Sequence[Item] = ()) -> Prompt:
    """A word-problem prompt in one of the four styles (0 exemplars = zero-shot)."""
    if style not in STYLES:
        raise LabError(f"unknown prompt style {style!r}", hint="use direct or cot")
    if style == "cot" and any(not e.rationale for e in exemplars):
        raise LabError("few-shot chain of thought needs exemplars with worked rationales",
                       hint="use items from word_problems(), which carry rationales")
    shots = "".join(f"Q: {e.question}\nA: {_worked(e, style)}\n\n" for e in exemplars)
    if exemplars:
        text = f"{shots}Q: {item.question}\nA:"
    else:
        text = f"Q: {item.question}\nA: {STEP_BY_STEP if style == 'cot' else DIRECT_CUE}"
    messages: list[Message] = []
    for e in exemplars:
        messages += [{"role": "user", "content": e.question}, {"role": "assistant", "content": _worked(e,
                                                                                                       style)}]
    cue = CHAT_COT if style == "cot" else CHAT_DIRECT
    messages.append({"role": "user", "content": item.question if exemplars else f"{item.question}\n{cue}"})
    return Prompt(text, messages, style, len(exemplars))


def icl_prompt(task: IclTask, item: Item, demos: Sequence[Item] = (), instruction: bool = True) -> Prompt:
    """k demonstrations "Input: x\\nOutput: y" then the query; the task's instruction first unless turned off
    (without it, and with no demonstrations, the model has only the query to go on)."""
    head = f"{task.instruction}\n\n" if instruction else ""
    shots = "".join(f"{task.input_name}: {d.question}\n{task.output_name}: {d.answer}\n\n" for d in demos)
    text = f"{head}{shots}{task.input_name}: {item.question}\n{task.output_name}:"
    messages: list[Message] = []
    if instruction:
        messages.append({"role": "system", "content": task.instruction
                         + (f" Answer with one of: {', '.join(task.labels)}." if task.labels else
                            " Answer with the answer only.")})
    for d in demos:
        messages += [{"role": "user", "content": d.question}, {"role": "assistant", "content": d.answer}]
    messages.append({"role": "user", "content": item.question})
    return Prompt(text, messages, "direct", len(demos))


def pick_demos(pool: Sequence[Item], query: Item, k: int, seed: int) -> list[Item]:
    """k demonstrations for `query` from `pool` (never the query itself), the same seeded order for every k,
    so the 2-shot demos are the first two of the 4-shot demos: curves over k differ only in k."""
    import random

    others = [p for p in pool if p.id != query.id]
    if k > len(others):
        raise LabError(f"{k} shots asked for, but the pool has only {len(others)} other items",
                       hint="ask for fewer shots or a larger task")
    random.Random(f"{seed}-{query.id}").shuffle(others)
    return others[:k]

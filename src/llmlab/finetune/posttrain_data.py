"""Where post-training data and models come from: the offline chain task, a JSONL file, or a Hub dataset.

    model, tok = posttrain_model("tiny", task)         # a fresh tiny GPT for the toy task, or an HF model
    rows = load_rows("toy", "dpo", task, model, tok)       # conversations | pairs | prompts, checked

Fields each stage needs (TRL's names, so TRL datasets load as they are):
    sft   {"messages": [{"role", "content"}, ...]}
    dpo   {"prompt", "chosen", "rejected"}      (prompt: text or messages; chosen/rejected: text or [message])
    grpo  {"prompt", "answer"}                  (answer: what the exact-answer reward compares with)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from llmlab.errors import LabError

FIELDS = {"sft": ("messages",), "dpo": ("prompt", "chosen", "rejected"), "grpo": ("prompt", "answer")}
DATA_HELP = "toy (the offline chain task), a .jsonl file, or hf:NAME[:split] (a Hub dataset, needs a network)"


def load_rows(spec: str, stage: str, task: Any = None, model: Any = None, tokenizer: Any = None,
              limit: int | None = None) -> list[Any]:
    """The stage's examples, each checked for the fields it needs."""
    from llmlab.finetune.dpo import check_fields

    if spec == "toy":
        if stage == "sft":
            return task.conversations(limit)
        if stage == "dpo":       # the model's own wrong answers as the rejected side
            return task.preference_pairs(model, tokenizer, limit or 1000)
        return task.prompts(limit)
    rows = _read(spec)[:limit]
    if not rows:
        raise LabError(f"{spec} holds no examples", hint=DATA_HELP)
    for i, row in enumerate(rows):
        check_fields(row, FIELDS[stage], i, stage.upper())
    return [row["messages"] for row in rows] if stage == "sft" else rows


def _read(spec: str) -> list[dict[str, Any]]:
    if spec.startswith("hf:"):
        from datasets import load_dataset

        name, _, split = spec[3:].partition(":")
        try:
            return list(load_dataset(name, split=split or "train"))
        except Exception as exc:          # offline, unknown name, wrong split: say which
            raise LabError(f"cannot load the dataset {name!r}: {str(exc).splitlines()[0]}",
                           hint="check the name and split, and that the Hub is reachable") from exc
    path = Path(spec)
    if not path.is_file():
        raise LabError(f"no dataset {spec!r}", hint=DATA_HELP)
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise LabError(f"{path} is not JSON lines: {exc}", hint="one JSON object per line") from exc


def posttrain_model(spec: str, task: Any = None, chat_template: str | Path | None = None) -> tuple[Any, Any]:
    """(model, tokenizer): `tiny` is a fresh tiny GPT on the toy task's tokenizer; anything else loads through
    llmlab.hub (a directory, or a Hub name with a network). `chat_template` (a Jinja file) replaces the
    tokenizer's template, for a base model like gpt2 that has none."""
    if spec == "tiny":
        if task is None:
            raise LabError("--model tiny is the toy task's model", hint="use it with --data toy")
        from llmlab.finetune.posttrain_demo import ToyShape
        from llmlab.training.toy_gpt import build_toy_gpt

        tok = task.tokenizer()
        return build_toy_gpt(ToyShape(), len(tok), n_positions=64, sinusoidal=True), tok
    from llmlab.hub import load_causal_lm

    model, tok = load_causal_lm(spec, hint="give an HF model directory (a run's model/), a Hub name with a "
                                           "network, or `tiny` with --data toy")
    if chat_template:
        tok.chat_template = Path(chat_template).read_text(encoding="utf-8")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def last_number_reward(prompts: list[Any], completions: list[str], answers: list[Any]) -> list[float]:
    """1.0 when the last number in the completion equals the answer (GSM8K-style data)."""
    out = []
    for text, answer in zip(completions, answers, strict=True):
        numbers = re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
        out.append(float(bool(numbers) and numbers[-1] == str(answer).strip()))
    return out

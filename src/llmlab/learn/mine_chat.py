"""`llmlab learn run chat --mine`: a chat session through llmlab's ChatBot whose context the learner's planner
builds, turn by turn beside llmlab's, then a small GPT-2 quantised to int8 by the learner's quantiser.

The chat model is scripted (one token per word, a 140-token window) and answers with what it can read:
which numbered turns reached it and whether the pinned note did. So each line shows what the planner kept,
and with llmlab's planner in the file the two sessions are the same word for word. The quantised model is
a random GPT-2 (2 layers, width 64): `quantize_model` with the exact "dequant" kernel, so both of the
learner's functions run; its logits are compared with the float model's and with llmlab's int8 model's.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM, Delta

PATCHES = {   # exercise -> [(module patched, its name, name in the learner's file)]
    "context": [("llmlab.chat.bot", "fit_context", "fit_context")],
    "quantize": [("llmlab.chat.quantize", "quantize_weight", "quantize_weight"),
                 ("llmlab.chat.quantize", "dequantize_weight", "dequantize_weight")],
}
SYSTEM = "You are a patient assistant who answers in one line."
FACT = "the user's name is Ada"
TURNS = ["hello there, I would like some help planning a small garden behind my house",
         "the garden gets sun in the morning only and the soil is heavy clay",
         "which vegetables grow well in clay soil with half a day of sun",
         "I also keep two beehives near the fence, is that a problem for the plants",
         "what should I plant first this spring",
         "how deep should the beds be",
         "and how often should I water them in summer",
         "thanks, can you remind me what we said about the soil"]
WINDOW, ANSWER_TOKENS = 140, 12


class TurnReader(LLM):
    """A scripted chat model: one token per word; it answers with the turns and the note it can read."""

    name = "turn-reader"

    @property
    def context_window(self) -> int:
        return WINDOW

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _generate(self, prompt: str, params: SamplingParams) -> Iterator[Delta]:
        turns = [int(n) for n in re.findall(r"\(turn (\d+)\)", prompt)]
        seen = f"I read turns {turns[0]} to {turns[-1]}" if len(turns) > 1 else f"I read turn {turns[-1]}"
        words = (seen + (" and your name is Ada" if FACT in prompt else "")).split()[:params.max_new_tokens]
        for word in words:
            yield Delta(word + " ")
        yield Delta("", "stop", self.count_tokens(prompt), len(words))


@contextlib.contextmanager
def learner_pieces(modules: dict):
    import importlib

    with contextlib.ExitStack() as stack:
        for exercise, module in modules.items():
            for target, name, theirs in PATCHES.get(exercise, []):
                stack.enter_context(mock.patch.object(importlib.import_module(target), name, getattr(module,
                                                                                                     theirs)))
        yield


def chat_session(folder: Path) -> list[dict]:
    """One session of len(TURNS) turns through ChatBot; per turn: the kept turn numbers and the figures."""
    from llmlab.chat.bot import ChatBot
    from llmlab.chat.memory import Session

    session = Session(Path(folder))
    session.remember(FACT)
    bot = ChatBot(TurnReader(), session, system=SYSTEM, recall_k=0)
    rows = []
    for i, text in enumerate(TURNS, start=1):
        answer = bot.reply(f"(turn {i}) {text}", SamplingParams(temperature=0.0,
                                                                max_new_tokens=ANSWER_TOKENS))
        plan = bot.last_plan
        # newest too
        kept = [int(n) for m in plan.messages for n in re.findall(r"^\(turn (\d+)\)", m["content"])]
        rows.append({"turn": i, "kept": kept, "dropped": len(plan.dropped), "tokens": plan.prompt_tokens,
                     "budget": plan.budget, "notes": len(plan.memory_kept), "answer": answer.strip()})
    return rows


def quantized_logits(seed: int) -> dict:
    """A random GPT-2's logits in float and after quantize_model (the exact dequant kernel)."""
    import copy

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from llmlab.chat.quantize import quantize_model

    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=64, n_embd=64, n_layer=2, n_head=4,
                                       bos_token_id=0, eos_token_id=0)).eval()
    ids = torch.randint(0, 256, (4, 32), generator=torch.Generator().manual_seed(seed))
    int8 = copy.deepcopy(model)
    report = quantize_model(int8, kernel="dequant")
    with torch.no_grad():
        return {"float": model(ids).logits, "int8": int8(ids).logits, "compression": report.compression,
                "layers": len(report.layers)}


def run_chat(folder: Path, modules: dict, seed: int = 0, log=print) -> dict:
    from llmlab.learn.mine_transformer import new_run_dir

    out = new_run_dir(folder)
    reference = chat_session(out / "reference-session")
    ref_q = quantized_logits(seed)
    with learner_pieces(modules):
        mine = chat_session(out / "mine-session")
        mine_q = quantized_logits(seed)
    return {"reference": reference, "mine": mine, "folder": str(out),
            "int8_vs_float": float((mine_q["int8"] - mine_q["float"]).abs().max()),
            "reference_int8_vs_float": float((ref_q["int8"] - ref_q["float"]).abs().max()),
            "int8_vs_reference_int8": float((mine_q["int8"] - ref_q["int8"]).abs().max()),
            "compression": mine_q["compression"], "layers": mine_q["layers"]}


def _turns(kept: list[int]) -> str:
    return "none" if not kept else (f"{kept[0]}-{kept[-1]}" if len(kept) > 1 else str(kept[0]))


def run_mine(folder: Path, modules: dict, steps: int = 60, seed: int = 0, log=print) -> str:
    """Print the two sessions turn by turn and the quantised model's error; return the tracker's note.
    (`steps` is unused: nothing trains here.)"""
    pieces = ", ".join(sorted(set(modules) & set(PATCHES))) or "none"
    log(f"a chat of {len(TURNS)} turns with a scripted model (1 token per word, window {WINDOW}, answers of "
        f"at most "
        f"{ANSWER_TOKENS}), the note {FACT!r} pinned; your pieces: {pieces}")
    r = run_chat(folder, modules, seed=seed, log=log)
    log(f"{'turn':>4}  {'turns in the prompt (yours / llmlab)':<37} {'tokens':>11}  the model says (yours)")
    for a, b in zip(r["mine"], r["reference"], strict=True):
        kept = f"{_turns(a['kept'])} / {_turns(b['kept'])}" + ("" if a == b else "  differs")
        log(f"{a['turn']:>4}  {kept:<37} {a['tokens']:>4}/{a['budget']:<6}  {a['answer']!r}")
    same = sum(a == b for a, b in zip(r["mine"], r["reference"], strict=True))
    log(f"int8 ({r['layers']} layers, {r['compression']:.2f}x smaller): max |logit - float logit| yours "
        f"{r['int8_vs_float']:.3g}, llmlab's {r['reference_int8_vs_float']:.3g}; yours vs llmlab's int8 "
        f"{r['int8_vs_reference_int8']:.3g}")
    log(f"sessions: {r['folder']}")
    return (f"run --mine (mine: {pieces}): {same}/{len(TURNS)} turns planned as llmlab does; int8 logits "
            f"within "
            f"{r['int8_vs_reference_int8']:.2g} of llmlab's")

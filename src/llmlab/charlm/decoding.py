"""The decoding strategies side by side: one prompt, five ways to continue it, and what each one costs.

    rows = compare_decoding(model, tok, "ROMEO:", tokens=200, seed=0)
Per strategy: the text, distinct-n (unique word n-grams / all word n-grams; low = repetitive), rep/16 (share
of words already seen among the 16 before; Welleck et al., 2019) and the model's own perplexity of the
continuation (exp of its mean next-token loss at temperature 1: greedy and beam find likely text, so
theirs is low; sampling pays perplexity for variety).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from llmlab.generation import SamplingParams
from llmlab.generation.beam import beam_search
from llmlab.generation.decode import generate
from llmlab.generation.steppers import model_device, stepper_for

STRATEGIES = ("greedy", "sample", "top-k", "top-p", "beam")


def decode(model, tokenizer, prompt: str, strategy: str, tokens: int = 200, temperature: float = 0.8,
           top_k: int = 20, top_p: float = 0.9, beams: int = 4, seed: int | None = 0,
           stop: tuple[str, ...] = (), repetition_penalty: float = 1.0) -> str:
    """The continuation of `prompt` under one named strategy."""
    from llmlab.errors import LabError

    ids = tokenizer.encode(prompt) or tokenizer.encode("\n")
    if strategy == "beam":
        text = beam_search(model, ids, num_beams=beams, max_new_tokens=tokens, tokenizer=tokenizer,
                           repetition_penalty=repetition_penalty).text or ""
        for s in stop:   # beams have no stop strings of their own: cut the best one afterwards
            text = text.split(s)[0]
        return text
    settings = {"greedy": dict(temperature=0.0), "sample": dict(temperature=temperature),
                "top-k": dict(temperature=temperature, top_k=top_k), "top-p": dict(temperature=temperature,
                                                                                   top_p=top_p)}
    if strategy not in settings:
        raise LabError(f"unknown strategy {strategy!r}", hint="use one of " + ", ".join(STRATEGIES))
    params = SamplingParams(max_new_tokens=tokens, seed=seed, stop=stop,
                            repetition_penalty=repetition_penalty,
                            **settings[strategy])
    return generate(model, ids, params, tokenizer=tokenizer).texts[0]


def distinct_n(text: str, n: int) -> float:
    words = text.split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(text: str, window: int = 16) -> float:
    words = text.split()
    if len(words) < 2:
        return 0.0
    return sum(w in words[max(0, i - window):i] for i, w in enumerate(words) if i) / (len(words) - 1)


@torch.no_grad()
def own_perplexity(model, tokenizer, prompt: str, continuation: str) -> float | None:
    """exp(mean -log p(next token)) of `continuation` after `prompt`, under the model itself (T = 1)."""
    ids = tokenizer.encode(prompt) or tokenizer.encode("\n")
    new = tokenizer.encode(continuation)
    if not new:
        return None
    device = model_device(model)
    stepper = stepper_for(model)
    logits = stepper.prefill(torch.tensor([ids], device=device))
    nll = 0.0
    for t in new:
        nll -= float(logits.log_softmax(-1)[0, t])
        logits = stepper.step(torch.tensor([t], device=device))
    return math.exp(nll / len(new))


def compare_decoding(model, tokenizer, prompt: str, tokens: int = 200, seed: int = 0,
                     temperature: float = 0.8,
                     top_k: int = 20, top_p: float = 0.9, beams: int = 4) -> list[dict[str, Any]]:
    rows = []
    for strategy in STRATEGIES:
        text = decode(model, tokenizer, prompt, strategy, tokens, temperature, top_k, top_p, beams, seed)
        rows.append({"strategy": strategy, "text": text, "distinct_1": distinct_n(text, 1),
                     "distinct_2": distinct_n(text, 2), "distinct_3": distinct_n(text, 3),
                     "rep_16": repetition_rate(text), "perplexity": own_perplexity(model, tokenizer, prompt,
                                                                                   text)})
    return rows

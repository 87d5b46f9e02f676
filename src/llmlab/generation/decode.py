"""Greedy and sampled decoding (temperature, top-k, top-p, repetition penalty), with stop tokens and strings.

    gen = generate(model, prompt_ids, SamplingParams(temperature=0, max_new_tokens=50))   # greedy
    text = generate_text(model, tokenizer, "ROMEO:", SamplingParams(top_p=0.9, seed=0))
Every choice goes through `sample_next` (the shared processors), every stop through `find_stop`;
beam search lives in beam.py. The same loop drives torch models and the NumPy Transformer (ids and
logits stay NumPy arrays there, and torch is never imported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from llmlab.errors import LabError
from llmlab.generation.arrays import namespace
from llmlab.generation.params import SamplingParams
from llmlab.generation.sampling import make_generator, sample_next
from llmlab.generation.steppers import model_device, stepper_for
from llmlab.generation.stop import find_stop

if TYPE_CHECKING:
    import torch


@dataclass
class Generation:
    tokens: list[list[int]]          # new tokens of each row (a stop token is kept, text after a stop string is not)
    texts: list[str] | None          # decoded continuation of each row, cut before a stop string
    finish_reasons: list[str]        # "length", "stop_token" or "stop_string"


def _prompt_rows(prompt: Sequence[int] | torch.Tensor, num_samples: int, device: torch.device | None):
    """(B, T) int64 ids on the model's device, or a NumPy array for a NumPy model (device None)."""
    if device is None:
        ids = np.asarray(prompt, dtype=np.int64)
    else:
        import torch

        ids = torch.as_tensor(prompt, dtype=torch.long, device=device)
    ids = ids.reshape(1, -1) if ids.ndim == 1 else ids
    if ids.shape[1] == 0:
        raise LabError("the prompt is empty", hint="give at least one token (e.g. a newline) to start from")
    if ids.shape[0] == 1 and num_samples > 1:
        ids = namespace(ids).concatenate([ids] * num_samples, axis=0)
    return ids


def iter_tokens(model, prompt: Sequence[int] | torch.Tensor, params: SamplingParams, num_samples: int = 1,
                context: int | None = None):
    """The decode loop itself: yield each step's chosen tokens (B,), at most `params.max_new_tokens` times.

    The caller decides when to stop (stop tokens, stop strings, a closed stream) by no longer iterating;
    the model runs one step only when the next token is asked for.
    """
    device = model_device(model)
    ids = _prompt_rows(prompt, num_samples, device)                     # (B, T)
    if device is None:                                                   # NumPy: no autograd to turn off
        return _decode_loop(model, ids, params, device, context)
    import torch

    # no_grad around each step, the caller's grad mode between them (as on a generator function)
    return torch.no_grad()(_decode_loop)(model, ids, params, device, context)


def _decode_loop(model, ids, params: SamplingParams, device, context: int | None):
    """ids (B, T) -> each step's tokens (B,): prefill, then choose a token, feed it back, repeat."""
    stepper = stepper_for(model, context)
    generator = make_generator(params.seed, device)
    logits = stepper.prefill(ids)
    history = ids
    for i in range(params.max_new_tokens):
        previous = history if params.repetition_penalty != 1.0 else None
        next_ids = sample_next(logits, params, previous=previous, generators=generator)   # (B,)
        yield next_ids
        if i + 1 == params.max_new_tokens:
            return
        if params.repetition_penalty != 1.0:
            history = namespace(history).concatenate([history, next_ids[:, None]], axis=1)
        logits = stepper.step(next_ids)


def generate(model, prompt: Sequence[int] | torch.Tensor, params: SamplingParams,
             tokenizer=None, num_samples: int = 1, context: int | None = None) -> Generation:
    """Decode `params.max_new_tokens` tokens after `prompt` ((T,) ids, or (B, T) rows of equal length)."""
    batch = _prompt_rows(prompt, num_samples, model_device(model)).shape[0]
    if params.stop and tokenizer is None:
        raise LabError("stop strings need a tokenizer to see the text",
                       hint="pass tokenizer=... or use stop_token_ids")
    new: list[list[int]] = []        # each step's tokens, one per row
    done = [False] * batch
    reasons, cut_chars = ["length"] * batch, [None] * batch
    stop_ids = set(params.stop_token_ids)
    texts = [""] * batch
    for next_ids in iter_tokens(model, prompt, params, num_samples, context):
        step = [int(t) for t in next_ids.tolist()]     # one copy to the host per step, for the stop checks
        new.append(step)
        for row in range(batch):
            if not done[row] and step[row] in stop_ids:
                reasons[row], done[row] = "stop_token", True
        if params.stop:
            for row in (r for r in range(batch) if not done[r]):
                before = len(texts[row])
                texts[row] += tokenizer.decode([step[row]])
                at = find_stop(texts[row], params.stop, before)
                if at >= 0:
                    reasons[row], cut_chars[row] = "stop_string", at
                    done[row] = True
        if all(done):
            break
    out = [list(row) for row in zip(*new, strict=True)] if new else [[] for _ in range(batch)]
    tokens = []
    for row in range(batch):
        seq = out[row]
        if reasons[row] == "stop_token":
            seq = seq[:next(i for i, t in enumerate(seq) if t in params.stop_token_ids) + 1]
        elif reasons[row] == "stop_string":
            seq = seq[:_tokens_covering(seq, tokenizer, cut_chars[row])]
        tokens.append(seq)
    decoded = None
    if tokenizer is not None:
        decoded = [tokenizer.decode(seq) if cut is None else tokenizer.decode(seq)[:cut]
                   for seq, cut in zip(tokens, cut_chars, strict=True)]
    return Generation(tokens, decoded, reasons)


def _tokens_covering(seq: list[int], tokenizer, chars: int) -> int:
    """How many tokens it takes to cover the first `chars` characters plus the stop string's first token."""
    text = ""
    for i, t in enumerate(seq):
        text += tokenizer.decode([t])
        if len(text) > chars:
            return i + 1
    return len(seq)


def generate_text(model, tokenizer, prompt: str, params: SamplingParams,
                  context: int | None = None) -> str:
    """The continuation of `prompt` as text (the prompt itself is not repeated)."""
    ids = tokenizer.encode(prompt)
    return generate(model, ids, params, tokenizer=tokenizer, context=context).texts[0]

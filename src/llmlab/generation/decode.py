"""Greedy and sampled decoding (temperature, top-k, top-p, repetition penalty), with stop tokens and strings.

    gen = generate(model, prompt_ids, SamplingParams(temperature=0, max_new_tokens=50))   # greedy
    text = generate_text(model, tokenizer, "ROMEO:", SamplingParams(top_p=0.9, seed=0))
Every choice goes through `sample_next` (the shared processors), every stop through `StopChecker`
(stopping.py); beam search lives in beam.py. The same loop drives torch models and the NumPy Transformer (ids
and logits stay NumPy arrays there, and torch is never imported).
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
from llmlab.generation.stopping import LENGTH, STOP, StopChecker

if TYPE_CHECKING:
    import torch


@dataclass
class Generation:
    # each row's new tokens, up to the one that ended it (a stop token is kept)
    tokens: list[list[int]]
    texts: list[str] | None          # each row's decoded text: no stop token's text, cut before a stop string
    finish_reasons: list[str]        # "stop" or "length" (stopping.py)


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
    """Decode up to `params.max_new_tokens` tokens after `prompt` ((T,) ids, or (B, T) rows of equal length),
    each row stopping by the one rule of stopping.py (only `params.stop_token_ids`: which EOS a model
    has is the caller's to add)."""
    batch = _prompt_rows(prompt, num_samples, model_device(model)).shape[0]
    if params.stop and tokenizer is None:
        raise LabError("stop strings need a tokenizer to see the text",
                       hint="pass tokenizer=... or use stop_token_ids")
    # the text is built token by token only where stop strings need it; the answer is decoded whole below
    piece = (lambda t: tokenizer.decode([t])) if params.stop else None
    checkers = [StopChecker(params, piece=piece) for _ in range(batch)]
    new: list[list[int]] = []        # each step's tokens, one per row
    for next_ids in iter_tokens(model, prompt, params, num_samples, context):
        step = [int(t) for t in next_ids.tolist()]     # one copy to the host per step, for the stop checks
        new.append(step)
        for row, checker in enumerate(checkers):
            if checker.finish_reason is None:
                checker.add(step[row])
        if all(c.finish_reason is not None for c in checkers):
            break
    out = [list(row) for row in zip(*new, strict=True)] if new else [[] for _ in range(batch)]
    tokens = [seq[:c.count] for seq, c in zip(out, checkers, strict=True)]
    decoded = None
    if tokenizer is not None:
        decoded = [_answer(seq, c, tokenizer) for seq, c in zip(tokens, checkers, strict=True)]
    return Generation(tokens, decoded, [c.finish_reason or LENGTH for c in checkers])


def _answer(seq: list[int], checker: StopChecker, tokenizer) -> str:
    """A row's text: its tokens decoded whole (so characters split across tokens come out right), without a
    stop token's text, and cut where a stop string began."""
    if checker.finish_reason == STOP and not checker.cut:
        seq = seq[:-1]                                 # the stop token ended it: counted, not shown
    text = tokenizer.decode(seq)
    return text[:len(checker.text)] if checker.cut else text


def generate_text(model, tokenizer, prompt: str, params: SamplingParams,
                  context: int | None = None) -> str:
    """The continuation of `prompt` as text (the prompt itself is not repeated)."""
    ids = tokenizer.encode(prompt)
    return generate(model, ids, params, tokenizer=tokenizer, context=context).texts[0]

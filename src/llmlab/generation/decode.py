"""Greedy and sampled decoding (temperature, top-k, top-p, repetition penalty), with stop tokens and strings.

    gen = generate(model, prompt_ids, SamplingParams(temperature=0, max_new_tokens=50))   # greedy
    text = generate_text(model, tokenizer, "ROMEO:", SamplingParams(top_p=0.9, seed=0))
Every choice goes through `sample_next` (the shared processors), every stop through `find_stop`;
beam search lives in beam.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from llmlab.generation.params import SamplingParams
from llmlab.generation.sampling import make_generator, sample_next
from llmlab.generation.steppers import model_device, stepper_for
from llmlab.generation.stop import find_stop


@dataclass
class Generation:
    tokens: list[list[int]]          # new tokens of each row (a stop token is kept, text after a stop string is not)
    texts: list[str] | None          # decoded continuation of each row, cut before a stop string
    finish_reasons: list[str]        # "length", "stop_token" or "stop_string"


def _prompt_tensor(prompt: Sequence[int] | torch.Tensor, num_samples: int, device: torch.device) -> torch.Tensor:
    ids = torch.as_tensor(prompt, dtype=torch.long, device=device)
    ids = ids.reshape(1, -1) if ids.dim() == 1 else ids
    if ids.shape[1] == 0:
        from llmlab.errors import LabError

        raise LabError("the prompt is empty", hint="give at least one token (e.g. a newline) to start from")
    return ids.repeat(num_samples, 1) if ids.shape[0] == 1 and num_samples > 1 else ids


@torch.no_grad()
def iter_tokens(model: torch.nn.Module, prompt: Sequence[int] | torch.Tensor, params: SamplingParams,
                num_samples: int = 1, context: int | None = None):
    """The decode loop itself: yield each step's chosen tokens (B,), at most `params.max_new_tokens` times.

    The caller decides when to stop (stop tokens, stop strings, a closed stream) by no longer iterating;
    the model runs one step only when the next token is asked for.
    """
    device = model_device(model)
    ids = _prompt_tensor(prompt, num_samples, device)                    # (B, T)
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
            history = torch.cat([history, next_ids[:, None]], dim=1)
        logits = stepper.step(next_ids)


def generate(model: torch.nn.Module, prompt: Sequence[int] | torch.Tensor, params: SamplingParams,
             tokenizer=None, num_samples: int = 1, context: int | None = None) -> Generation:
    """Decode `params.max_new_tokens` tokens after `prompt` ((T,) ids, or (B, T) rows of equal length)."""
    device = model_device(model)
    batch = _prompt_tensor(prompt, num_samples, device).shape[0]
    if params.stop and tokenizer is None:
        from llmlab.errors import LabError

        raise LabError("stop strings need a tokenizer to see the text", hint="pass tokenizer=... or use stop_token_ids")
    new: list[torch.Tensor] = []
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    reasons, cut_chars = ["length"] * batch, [None] * batch
    stop_ids = torch.tensor(params.stop_token_ids, device=device, dtype=torch.long)
    texts = [""] * batch
    for next_ids in iter_tokens(model, prompt, params, num_samples, context):
        new.append(next_ids)
        if len(stop_ids):
            hit = torch.isin(next_ids, stop_ids) & ~done
            for row in hit.nonzero().flatten().tolist():
                reasons[row] = "stop_token"
            done |= hit
        if params.stop:
            for row in (~done).nonzero().flatten().tolist():
                before = len(texts[row])
                texts[row] += tokenizer.decode([int(next_ids[row])])
                at = find_stop(texts[row], params.stop, before)
                if at >= 0:
                    reasons[row], cut_chars[row] = "stop_string", at
                    done[row] = True
        if bool(done.all()):
            break
    out = torch.stack(new, dim=1).tolist() if new else [[] for _ in range(batch)]
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


def generate_text(model: torch.nn.Module, tokenizer, prompt: str, params: SamplingParams,
                  context: int | None = None) -> str:
    """The continuation of `prompt` as text (the prompt itself is not repeated)."""
    ids = tokenizer.encode(prompt)
    return generate(model, ids, params, tokenizer=tokenizer, context=context).texts[0]

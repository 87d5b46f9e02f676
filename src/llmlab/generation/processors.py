"""Logits processors, written from scratch, batched: each takes logits (B, V) and returns new logits.

Every parameter may be a Python number (one setting for the whole batch) or a (B,) tensor (one per
row, as the serving engine needs when requests with different settings share a batch). They follow
transformers' definitions so that `tests/test_generation_processors.py` can check equality:

- temperature:  z / T
- top-k:        keep z_i >= the k-th largest z (ties kept); others -> -inf
- top-p:        sort ascending, p = softmax; drop tokens whose ascending cumulative probability is
                <= 1 - top_p (always keeping the most likely token)
- repetition:   for every token already in the sequence, z -> z / r if z > 0 else z * r
Order in `process_logits`: repetition penalty, temperature, top-k, top-p (transformers' order).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from llmlab.generation.params import SamplingParams

Number = float | int | torch.Tensor


def _column(value: Number, logits: torch.Tensor) -> torch.Tensor:
    """A scalar or a (B,) tensor as a (B, 1) column on the logits' device."""
    t = torch.as_tensor(value, device=logits.device)
    if t.dim() == 0:
        t = t.expand(logits.shape[0])
    return t.reshape(-1, 1)


def apply_temperature(logits: torch.Tensor, temperature: Number) -> torch.Tensor:
    if not isinstance(temperature, torch.Tensor) and temperature in (0, 1):
        return logits                       # a plain number needs no device tensor (and no GPU sync)
    t = _column(temperature, logits).to(logits.dtype)
    # temperature 0 means greedy: leave those rows untouched (argmax is the same either way)
    return logits / torch.where(t > 0, t, torch.ones_like(t))


def top_k_filter(logits: torch.Tensor, k: Number) -> torch.Tensor:
    if not isinstance(k, torch.Tensor) and (k == 0 or k >= logits.shape[-1]):
        return logits                       # keeps every token (and a huge k never reaches an int64 tensor)
    k_col = _column(k, logits).long().clamp(min=0, max=logits.shape[-1])
    if bool((k_col == 0).all()):
        return logits
    sorted_desc = torch.sort(logits, dim=-1, descending=True).values            # (B, V)
    kth = sorted_desc.gather(-1, (k_col - 1).clamp(min=0))                       # (B, 1) k-th largest
    remove = (logits < kth) & (k_col > 0)
    return logits.masked_fill(remove, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: Number) -> torch.Tensor:
    if not isinstance(p, torch.Tensor) and p >= 1.0:
        return logits
    p_col = _column(p, logits).to(torch.float32)
    if bool((p_col >= 1.0).all()):
        return logits
    sorted_logits, sorted_idx = torch.sort(logits, dim=-1, descending=False)     # ascending
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative <= (1.0 - p_col)
    remove_sorted[..., -1] = False                                               # keep the top token
    remove_sorted &= p_col < 1.0
    remove = remove_sorted.scatter(-1, sorted_idx, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def repetition_penalty(logits: torch.Tensor, previous: torch.Tensor | Sequence[Sequence[int]],
                       penalty: Number) -> torch.Tensor:
    """`previous` is a (B, T) id tensor, or one list of ids per row (rows may differ in length)."""
    r = _column(penalty, logits).to(logits.dtype)
    if bool((r == 1.0).all()):
        return logits
    if not isinstance(previous, torch.Tensor):
        width = max((len(row) for row in previous), default=0)
        if width == 0:
            return logits
        # pad with each row's first id (or 0): re-penalising a present token is harmless because
        # scatter writes the same value twice, and an empty row is masked out below
        padded = [list(row) + [row[0] if len(row) else 0] * (width - len(row)) for row in previous]
        previous = torch.tensor(padded, device=logits.device, dtype=torch.long)
        empty = torch.tensor([len(row) == 0 for row in padded], device=logits.device).reshape(-1, 1)
        r = torch.where(empty, torch.ones_like(r), r)
    if previous.numel() == 0:
        return logits
    seen = logits.gather(-1, previous)
    seen = torch.where(seen < 0, seen * r, seen / r)
    return logits.scatter(-1, previous, seen)


def process_logits(logits: torch.Tensor, params: SamplingParams | Sequence[SamplingParams],
                   previous: torch.Tensor | Sequence[Sequence[int]] | None = None) -> torch.Tensor:
    """Apply one SamplingParams to every row, or one per row, in transformers' order."""
    if isinstance(params, SamplingParams):
        temp, k, p, rep = params.temperature, params.top_k, params.top_p, params.repetition_penalty
    else:
        dev = logits.device
        temp = torch.tensor([q.temperature for q in params], device=dev)
        k = torch.tensor([min(q.top_k, logits.shape[-1]) for q in params], device=dev)
        p = torch.tensor([q.top_p for q in params], device=dev)
        rep = torch.tensor([q.repetition_penalty for q in params], device=dev)
    if previous is not None:
        logits = repetition_penalty(logits, previous, rep)
    logits = apply_temperature(logits, temp)
    logits = top_k_filter(logits, k)
    return top_p_filter(logits, p)

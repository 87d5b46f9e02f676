"""Logits processors, written from scratch, batched: each takes logits (B, V) and returns new logits.

Every parameter may be a Python number (one setting for the whole batch) or a (B,) tensor (one per
row, as the serving engine needs when requests with different settings share a batch). The logits may
be a torch tensor or a NumPy array (the NumPy Transformer's): each step is written once, through
arrays.py, and this module does not import torch. They follow transformers' definitions so that
`tests/test_generation_processors.py` can check equality:

- temperature:  z / T
- top-k:        keep z_i >= the k-th largest z (ties kept); others -> -inf
- top-p:        sort ascending, p = softmax; drop tokens whose ascending cumulative probability is
                <= 1 - top_p (always keeping the most likely token)
- repetition:   for every token already in the sequence, z -> z / r if z > 0 else z * r
Order in `process_logits`: repetition penalty, temperature, top-k, top-p (transformers' order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

import numpy as np

from llmlab.generation.arrays import (
    as_array,
    cast,
    is_tensor,
    namespace,
    put_last,
    softmax_last,
    sort_last,
    take_last,
)
from llmlab.generation.params import SamplingParams

if TYPE_CHECKING:
    import torch

Logits = Union["torch.Tensor", np.ndarray]
Number = Union[float, int, "torch.Tensor", np.ndarray]


def _per_row(value: Number) -> bool:
    return is_tensor(value) or isinstance(value, np.ndarray)


def _column(value: Number, logits: Logits) -> Logits:
    """A scalar or a (B,) tensor as a (B, 1) column on the logits' device."""
    t = as_array(value, logits)
    if t.ndim == 0:
        t = t.expand(logits.shape[0]) if is_tensor(t) else np.broadcast_to(t, logits.shape[:1])
    return t.reshape(-1, 1)


def _drop(logits: Logits, remove: Logits) -> Logits:
    """-inf where `remove` is set: those tokens can no longer be chosen."""
    return namespace(logits).where(remove, float("-inf"), logits)


def apply_temperature(logits: Logits, temperature: Number) -> Logits:
    if not _per_row(temperature) and temperature in (0, 1):
        return logits                       # a plain number needs no device tensor (and no GPU sync)
    t = cast(_column(temperature, logits), logits.dtype)
    # temperature 0 means greedy: leave those rows untouched (argmax is the same either way)
    return logits / namespace(t).where(t > 0, t, 1.0)


def top_k_filter(logits: Logits, k: Number) -> Logits:
    if not _per_row(k) and (k == 0 or k >= logits.shape[-1]):
        return logits                       # keeps every token (and a huge k never reaches an int64 tensor)
    k_col = cast(_column(k, logits), "int64").clip(0, logits.shape[-1])
    if bool((k_col == 0).all()):
        return logits
    sorted_desc, _ = sort_last(logits, descending=True)                        # (B, V)
    kth = take_last(sorted_desc, (k_col - 1).clip(0, None))                     # (B, 1) k-th largest
    remove = (logits < kth) & (k_col > 0)
    return _drop(logits, remove)


def top_p_filter(logits: Logits, p: Number) -> Logits:
    if not _per_row(p) and p >= 1.0:
        return logits
    p_col = cast(_column(p, logits), "float32")
    if bool((p_col >= 1.0).all()):
        return logits
    sorted_logits, sorted_idx = sort_last(logits)                               # ascending
    cumulative = softmax_last(sorted_logits).cumsum(-1)
    remove_sorted = cumulative <= (1.0 - p_col)
    remove_sorted[..., -1] = False                                              # keep the top token
    remove_sorted &= p_col < 1.0
    return _drop(logits, put_last(remove_sorted, sorted_idx, remove_sorted))


def repetition_penalty(logits: Logits, previous: Logits | Sequence[Sequence[int]], penalty: Number) -> Logits:
    """`previous` is a (B, T) id tensor, or one list of ids per row (rows may differ in length)."""
    r = cast(_column(penalty, logits), logits.dtype)
    if bool((r == 1.0).all()):
        return logits
    if not _per_row(previous):
        width = max((len(row) for row in previous), default=0)
        if width == 0:
            return logits
        # pad with each row's first id (or 0): re-penalising a present token is harmless because
        # scatter writes the same value twice, and an empty row is masked out below
        empty = as_array([len(row) == 0 for row in previous], logits).reshape(-1, 1)
        padded = [list(row) + [row[0] if len(row) else 0] * (width - len(row)) for row in previous]
        previous = as_array(padded, logits, "int64")
        r = namespace(r).where(empty, 1.0, r)
    if 0 in tuple(previous.shape):
        return logits
    seen = take_last(logits, previous)
    seen = namespace(seen).where(seen < 0, seen * r, seen / r)
    return put_last(logits, previous, seen)


def process_logits(logits: Logits, params: SamplingParams | Sequence[SamplingParams],
                   previous: Logits | Sequence[Sequence[int]] | None = None) -> Logits:
    """Apply one SamplingParams to every row, or one per row, in transformers' order."""
    if isinstance(params, SamplingParams):
        temp, k, p, rep = params.temperature, params.top_k, params.top_p, params.repetition_penalty
    else:
        temp = as_array([q.temperature for q in params], logits)
        k = as_array([min(q.top_k, logits.shape[-1]) for q in params], logits)
        p = as_array([q.top_p for q in params], logits)
        rep = as_array([q.repetition_penalty for q in params], logits)
    if previous is not None:
        logits = repetition_penalty(logits, previous, rep)
    logits = apply_temperature(logits, temp)
    logits = top_k_filter(logits, k)
    return top_p_filter(logits, p)

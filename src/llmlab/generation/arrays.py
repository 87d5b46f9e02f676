"""Torch tensors or NumPy arrays: the few operations of decoding that the two libraries spell differently.

The logits processors, the sampler and the decode loop are written once, against these and against the
names both libraries share (`where`, `isfinite`, `zeros_like`, `concatenate`, ...: `namespace(x)`), so
the NumPy Transformer decodes through the same code as every torch model without loading torch.
torch is never imported here: a tensor cannot exist before torch is, so `sys.modules` tells the kinds apart.

    xp = namespace(logits)                           # the torch module for a tensor, else numpy
    values, order = sort_last(logits)               # ascending along the last axis, as torch.sort
"""

from __future__ import annotations

import sys

import numpy as np


def is_tensor(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def namespace(x):
    """torch for a tensor, else numpy: `xp.where`, `xp.isfinite`, `xp.concatenate(.., axis=)` agree."""
    return sys.modules["torch"] if is_tensor(x) else np


def as_array(value, like, dtype: str | None = None):
    """`value` (a number, a list, an array) as an array of `like`'s kind and device; dtype by name."""
    if is_tensor(like):
        torch = sys.modules["torch"]
        dtype = None if dtype is None else getattr(torch, dtype)
        return torch.as_tensor(value, dtype=dtype, device=like.device)
    return np.asarray(value, dtype=dtype)


def cast(x, dtype):
    """`x` as `dtype`: a name ("float32", "int64") or a dtype of x's own library (`other.dtype`)."""
    if is_tensor(x):
        return x.to(getattr(sys.modules["torch"], dtype) if isinstance(dtype, str) else dtype)
    return x.astype(dtype, copy=False)


def sort_last(x, descending: bool = False):
    """(values, indices) along the last axis."""
    if is_tensor(x):
        out = x.sort(dim=-1, descending=descending)
        return out.values, out.indices
    order = np.argsort(x, axis=-1, kind="stable")
    if descending:
        order = np.flip(order, axis=-1)
    return np.take_along_axis(x, order, axis=-1), order


def take_last(x, index):
    """x[..., index] row by row: torch's `gather(-1, index)`."""
    return x.gather(-1, index) if is_tensor(x) else np.take_along_axis(x, index, axis=-1)


def put_last(x, index, values):
    """A copy of x with x[..., index] = values row by row: torch's `scatter(-1, index, values)`."""
    if is_tensor(x):
        return x.scatter(-1, index, values)
    out = x.copy()
    np.put_along_axis(out, index, values, axis=-1)
    return out


def softmax_last(x):
    if is_tensor(x):
        return x.softmax(dim=-1)
    with np.errstate(invalid="ignore", over="ignore"):   # an all -inf or +inf row gives NaN, as torch's does
        z = np.exp(x - x.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)

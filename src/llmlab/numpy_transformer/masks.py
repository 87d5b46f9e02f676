"""Causal and padding masks, combined into one additive bias for the attention scores.

    causal:   query i (the i-th of the Tq newest positions, Tq <= Tk) may see key j iff j <= i + (Tk - Tq)
    padding:  attention_mask (B, Tk) holds 1 for a real token and 0 for padding; padded keys are hidden
    bias:     0 where visible, the dtype's most negative number elsewhere, shaped (B or 1, 1, Tq, Tk)
A query with nothing visible (a pad token before the first real one, under left padding) is let
see every key instead, as transformers does for its SDPA path: its output is ignored anyway, and this
keeps softmax and its gradient well defined (an all-masked row would be flat in exact arithmetic but
not in its backward). Real tokens are never affected: they always see at least themselves.
"""

from __future__ import annotations

import numpy as np


def causal_mask(t_q: int, t_k: int) -> np.ndarray:
    """(Tq, Tk) bool, True where visible; the queries are the last Tq of the Tk positions."""
    offset = t_k - t_q
    return np.arange(t_k)[None, :] <= np.arange(t_q)[:, None] + offset


def padding_mask(attention_mask: np.ndarray) -> np.ndarray:
    """(B, Tk) of 0/1 -> (B, 1, 1, Tk) bool, True for real tokens."""
    return np.asarray(attention_mask).astype(bool)[:, None, None, :]


def attention_bias(t_q: int, t_k: int, attention_mask: np.ndarray | None = None,
                   dtype=np.float32) -> np.ndarray:
    """Additive bias (1 or B, 1, Tq, Tk) for scores q·k: 0 where visible, finfo.min where masked."""
    visible = causal_mask(t_q, t_k)[None, None]
    if attention_mask is not None:
        visible = visible & padding_mask(attention_mask)
        visible = visible | ~visible.any(axis=-1, keepdims=True)     # rows with nothing visible see all
    bias = np.zeros(visible.shape, dtype=dtype)
    bias[~visible] = np.finfo(dtype).min
    return bias

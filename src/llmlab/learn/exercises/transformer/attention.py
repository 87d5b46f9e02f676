"""Exercise `attention`: the causal mask and multi-head causal self-attention, forward and backward.

Check it with `llmlab learn check transformer attention`. `__init__` is given. The model builds the
additive mask `bias` from your `causal_mask` (0 where a query may look, a huge negative number
where it may not) and passes it to `forward`.

    q, k, v = split_heads(x W_qkv + b, n_head)       each (B, nh, T, hs), hs = C / nh
    S = q kᵀ · s + bias,   s = 1/√hs                 S: (B, nh, T, Tk)
    P = softmax(S),  y = P v                         y: (B, nh, T, hs)
    out = merge_heads(y) W_o + b_o                   (B, T, C): heads side by side, (B, T, nh, hs) -> (B, T,
    C)
backward, from dy = ∂L/∂y per head:
    dv = Pᵀ dy,   dP = dy vᵀ,   dS = softmax_backward(dP, P),   dq = s · dS k,   dk = s · dSᵀ q
"""

from __future__ import annotations

import numpy as np

from llmlab.numpy_transformer.activations import softmax_, softmax_backward_  # noqa: F401 - for your code
from llmlab.numpy_transformer.attention import split_heads  # noqa: F401 - for your code
from llmlab.numpy_transformer.kv_cache import KVCache
from llmlab.numpy_transformer.linear import Linear
from llmlab.numpy_transformer.module import Module

# Given: split_heads(qkv, n_head) turns (B, T, 3C) into three (B, nh, T, hs) views q, k, v (no copy).
# softmax_ / softmax_backward_ are llmlab's (in place); you may import yours from softmax.py instead.


def causal_mask(t_q: int, t_k: int) -> np.ndarray:
    """(Tq, Tk) bool, True where query i may see key j. The queries are the LAST Tq of the Tk positions
    (with a KV cache, Tk - Tq positions came before them), so query i sits at position i + (Tk - Tq)
    and sees every key at that position or earlier:

        visible[i, j] = j <= i + (Tk - Tq)

    Example: causal_mask(2, 5) -> [[T, T, T, T, F],
                                   [T, T, T, T, T]]
             causal_mask(3, 3) -> the lower triangle, diagonal included.
    """
    raise NotImplementedError("causal_mask")


class CausalSelfAttention(Module):
    def __init__(self, n_embd: int, n_head: int, rng: np.random.Generator, dtype=np.float32,
                 std: float = 0.02, proj_std: float = 0.02, scale: float | None = None):
        super().__init__()
        self.n_head = n_head
        self.head_dim = n_embd // n_head
        self.scale = self.head_dim ** -0.5 if scale is None else scale
        self.c_attn = Linear(n_embd, 3 * n_embd, rng, dtype, std)      # x -> q, k, v side by side
        self.c_proj = Linear(n_embd, n_embd, rng, dtype, proj_std)     # merged heads -> output

    def forward(self, x: np.ndarray, bias: np.ndarray, cache: KVCache | None = None,
                layer: int = 0) -> np.ndarray:
        """x (B, T, C), bias (1 or B, 1, T, Tk) -> out (B, T, C). Use self.scale (1/√hs), not a constant.

        With a cache, right after splitting the heads:  `k, v = cache.update(layer, k, v)` — it returns
        the keys and values of every position so far, (B, nh, Tk, hs), Tk = past + T.
        Linear layers: self.c_attn.forward(x), self.c_proj.forward(y) (and .backward(d) -> dx).
        Keep what backward needs on self.
        """
        raise NotImplementedError("CausalSelfAttention.forward")

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout (B, T, C) -> dx (B, T, C); the Linear layers write their own weight gradients.

        dqkv must be laid out as c_attn's output was, (B, T, 3C): split_heads of an empty (B, T, 3C)
        array gives three views to write dq, dk, dv into.
        """
        raise NotImplementedError("CausalSelfAttention.backward")

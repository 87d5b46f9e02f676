"""Multi-head causal self-attention, forward and backward, with an optional KV cache.

    q, k, v = split(x W_qkv + b)                    each (B, nh, T, hs), views into one (B, T, 3C) array
    S = s · q kᵀ + bias,   P = softmax(S),   y = P v        S, P: (B, nh, T, Tk);  s = 1/√hs
    out = merge(y) W_o + b_o                        (B, T, C)
backward (dy = ∂L/∂y per head):
    dv = Pᵀ dy,   dP = dy vᵀ,   dS = P ⊙ (dP - Σ_j dP ⊙ P),   dq = s · dS k,   dk = s · dSᵀ q
Every product is one batched `np.matmul` over (B, nh); q/k/v and their gradients are strided views,
so heads are split and merged without copies.
"""

from __future__ import annotations

import numpy as np

from llmlab.numpy_transformer.activations import softmax_, softmax_backward_
from llmlab.numpy_transformer.kv_cache import KVCache
from llmlab.numpy_transformer.linear import Linear
from llmlab.numpy_transformer.module import Module


def split_heads(qkv: np.ndarray, n_head: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, T, 3C) -> three (B, nh, T, hs) views (q, k, v), no copy."""
    b, t, c3 = qkv.shape
    qkv5 = qkv.reshape(b, t, 3, n_head, c3 // (3 * n_head))
    return tuple(qkv5[:, :, i].transpose(0, 2, 1, 3) for i in range(3))


class CausalSelfAttention(Module):
    def __init__(self, n_embd: int, n_head: int, rng: np.random.Generator, dtype=np.float32,
                 std: float = 0.02, proj_std: float = 0.02, scale: float | None = None):
        super().__init__()
        self.n_head = n_head
        self.head_dim = n_embd // n_head
        self.scale = self.head_dim ** -0.5 if scale is None else scale
        self.c_attn = Linear(n_embd, 3 * n_embd, rng, dtype, std)
        self.c_proj = Linear(n_embd, n_embd, rng, dtype, proj_std)
        self._saved: tuple | None = None

    def forward(self, x: np.ndarray, bias: np.ndarray, cache: KVCache | None = None,
                layer: int = 0) -> np.ndarray:
        b, t, c = x.shape
        qkv = self.c_attn.forward(x)                            # (B, T, 3C)
        q, k, v = split_heads(qkv, self.n_head)                 # (B, nh, T, hs) views
        if cache is not None:
            k, v = cache.update(layer, k, v)                    # (B, nh, Tk, hs), Tk = past + T
        att = np.matmul(q, k.swapaxes(-1, -2))                  # (B, nh, T, Tk)
        att *= self.scale
        att += bias
        softmax_(att)
        y = np.empty((b, t, self.n_head, self.head_dim), dtype=x.dtype)
        np.matmul(att, v, out=y.transpose(0, 2, 1, 3))          # heads written straight into (B, T, nh, hs)
        self._saved = (q, k, v, att)
        return self.c_proj.forward(y.reshape(b, t, c))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        q, k, v, att = self._saved
        b, t, c = dout.shape
        dy = self.c_proj.backward(dout).reshape(b, t, self.n_head, self.head_dim).transpose(0, 2, 1, 3)
        dqkv = np.empty((b, t, 3 * c), dtype=dout.dtype)
        dq, dk, dv = split_heads(dqkv, self.n_head)             # views: gradients land in place
        np.matmul(att.swapaxes(-1, -2), dy, out=dv)
        datt = np.matmul(dy, v.swapaxes(-1, -2))                # (B, nh, T, T)
        softmax_backward_(datt, att)
        datt *= self.scale
        np.matmul(datt, k, out=dq)
        np.matmul(datt.swapaxes(-1, -2), q, out=dk)
        self._saved = None
        return self.c_attn.backward(dqkv)

"""Grouped-query causal self-attention (Ainslie et al. 2023) with RoPE, optional q/k/v biases (Qwen2)
and optional QK-norm (Qwen3), forward and backward.

n_head query heads share n_kv_head key/value heads, g = n_head / n_kv_head queries per group: g = 1 is
ordinary multi-head attention, n_kv_head = 1 is multi-query attention. The KV cache shrinks by g.

    q, k, v = x W_q (+b), x W_k (+b), x W_v (+b)      (B, T, nh·d), (B, T, nkv·d) ×2: one fused GEMM
    q, k = rmsnorm(q), rmsnorm(k)                      QK-norm, per head over its d features (Qwen3 only)
    q, k = rope(q), rope(k)                            rope.py
    S = s · q kᵀ + bias,  P = softmax(S),  y = P v     query head h reads kv head h // g;  s = 1/√d
    out = merge(y) W_o (+b)
Query heads are laid out so that the g queries of one kv head are adjacent: q (B, nkv, g·T, d) against
k (B, nkv, Tk, d) is then one batched matmul, and in the backward pass dk = dSᵀ q sums the g heads'
contributions by itself:
    dv = Pᵀ dy,  dP = dy vᵀ,  dS = P ⊙ (dP - Σ_j dP ⊙ P),  dq = s · dS k,  dk = s · dSᵀ q     (per kv group)
QK-norm keeps the attention logits from growing without bound in long training runs (Dehghani et al. 2023).
"""

from __future__ import annotations

import numpy as np

from llmlab.numpy_transformer.activations import softmax_, softmax_backward_
from llmlab.numpy_transformer.kv_cache import KVCache
from llmlab.numpy_transformer.linear import Linear
from llmlab.numpy_transformer.module import Module
from llmlab.numpy_transformer.rmsnorm import RMSNorm
from llmlab.numpy_transformer.rope import apply_rope, rope_backward


class GroupedQueryAttention(Module):
    def __init__(self, n_embd: int, n_head: int, n_kv_head: int, head_dim: int, rng: np.random.Generator,
                 dtype=np.float32, qkv_bias: bool = False, o_bias: bool = False, qk_norm: bool = False,
                 eps: float = 1e-6, std: float = 0.02, proj_std: float = 0.02):
        super().__init__()
        if n_head % n_kv_head:
            raise ValueError(f"n_head={n_head} is not a multiple of n_kv_head={n_kv_head}")
        self.n_head, self.n_kv_head, self.head_dim = n_head, n_kv_head, head_dim
        self.scale = head_dim ** -0.5
        self.qkv = Linear(n_embd, (n_head + 2 * n_kv_head) * head_dim, rng, dtype, std, bias=qkv_bias)
        self.o_proj = Linear(n_head * head_dim, n_embd, rng, dtype, proj_std, bias=o_bias)
        self.q_norm = RMSNorm(head_dim, eps, dtype) if qk_norm else None
        self.k_norm = RMSNorm(head_dim, eps, dtype) if qk_norm else None
        self._saved: tuple | None = None

    def _split(self, qkv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(B, T, (nh + 2 nkv) d) -> q (B, T, nh, d), k and v (B, T, nkv, d): views, no copy."""
        b, t, _ = qkv.shape
        nq, nk, d = self.n_head * self.head_dim, self.n_kv_head * self.head_dim, self.head_dim
        return (qkv[..., :nq].reshape(b, t, -1, d), qkv[..., nq:nq + nk].reshape(b, t, -1, d),
                qkv[..., nq + nk:].reshape(b, t, -1, d))

    def forward(self, x: np.ndarray, bias: np.ndarray, cos: np.ndarray, sin: np.ndarray,
                cache: KVCache | None = None, layer: int = 0) -> np.ndarray:
        """x (B, T, C); bias (1 or B, 1, T, Tk) from masks.attention_bias; cos, sin (1 or B, 1, T, d)."""
        b, t, _ = x.shape
        nkv, g, d = self.n_kv_head, self.n_head // self.n_kv_head, self.head_dim
        q, k, v = self._split(self.qkv.forward(x))
        if self.q_norm is not None:
            q, k = self.q_norm.forward(q), self.k_norm.forward(k)
        q = apply_rope(q.transpose(0, 2, 1, 3), cos, sin)                # (B, nh, T, d), a new array
        k = apply_rope(k.transpose(0, 2, 1, 3), cos, sin)                # (B, nkv, T, d)
        v = v.transpose(0, 2, 1, 3)
        if cache is not None:
            k, v = cache.update(layer, k, v)                             # (B, nkv, Tk, d)
        qg = q.reshape(b, nkv, g * t, d)                                 # a group's g heads stacked: no copy
        qg *= self.scale                       # s folded into q: a pass over (g·T, d), not over (g·T, Tk)
        att = np.matmul(qg, k.swapaxes(-1, -2))                          # (B, nkv, g·T, Tk)
        att.reshape(b, nkv, g, t, -1)[...] += bias[:, :, None]           # (1|B, 1, 1, T, Tk) over the heads
        softmax_(att)
        y = np.empty((b, t, self.n_head * d), dtype=x.dtype)             # heads merged, as o_proj reads them
        np.matmul(att.reshape(b, nkv, g, t, -1), v[:, :, None],          # written straight into (B, T, nh·d)
                  out=y.reshape(b, t, nkv, g, d).transpose(0, 2, 3, 1, 4))
        self._saved = (qg, k, v, att, cos, sin)                          # qg is s·q
        return self.o_proj.forward(y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        qg, k, v, att, cos, sin = self._saved
        b, t, _ = dout.shape
        nkv, d = self.n_kv_head, self.head_dim
        dy = self.o_proj.backward(dout).reshape(b, t, self.n_head, d).transpose(0, 2, 1, 3)
        dy = dy.reshape(b, nkv, -1, d)                                   # (B, nkv, g·T, d), one copy
        dv = np.matmul(att.swapaxes(-1, -2), dy)                         # (B, nkv, Tk, d): Σ over the group
        datt = np.matmul(dy, v.swapaxes(-1, -2))                         # (B, nkv, g·T, Tk)
        softmax_backward_(datt, att)                                     # dS
        dq = np.matmul(datt, k).reshape(b, self.n_head, t, d)            # (B, nh, T, d)
        dq *= self.scale                                                 # dq = s · dS k
        dk = np.matmul(datt.swapaxes(-1, -2), qg)                        # (B, nkv, Tk, d): dSᵀ (s q)
        dq, dk = rope_backward(dq, cos, sin), rope_backward(dk, cos, sin)
        dqkv = np.empty((b, t, (self.n_head + 2 * nkv) * d), dtype=dout.dtype)
        gq, gk, gv = self._split(dqkv)                                   # views: gradients land in place
        dq, dk = dq.transpose(0, 2, 1, 3), dk.transpose(0, 2, 1, 3)      # (B, T, heads, d)
        if self.q_norm is not None:
            dq, dk = self.q_norm.backward(dq), self.k_norm.backward(dk)        # reshape copies them
        gq[...], gk[...], gv[...] = dq, dk, dv.transpose(0, 2, 1, 3)
        self._saved = None
        return self.qkv.backward(dqkv)

"""The SwiGLU MLP (Shazeer 2020) of Llama, Qwen and Mistral: a gated linear unit with SiLU as the gate.

    silu(a) = a σ(a),   silu'(a) = σ(a) (1 + a (1 - σ(a)))
    forward:   g = x W_gate,  u = x W_up,  h = silu(g) ⊙ u,  y = h W_down  (B, T, C) -> (B, T, I) -> (B, T, C)
    backward:  dh = dy W_downᵀ,  du = dh ⊙ silu(g),  dg = dh ⊙ u ⊙ silu'(g),  then the two input products
W_gate and W_up are kept side by side in one (C, 2I) matrix, so both are one matrix product; the checkpoint
code splits them into transformers' gate_proj and up_proj. No biases. With three matrices instead of two,
I ≈ 8C/3 keeps the parameter count of GPT-2's 4C MLP (Llama rounds it up to a multiple of 256).
"""

from __future__ import annotations

import numpy as np

from llmlab.numpy_transformer.linear import Linear
from llmlab.numpy_transformer.module import Module


def sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) = 1 / (1 + e⁻ᵃ) without overflow warnings for very negative a (e⁻ᵃ -> inf gives σ = 0 anyway)."""
    with np.errstate(over="ignore"):
        s = np.exp(-a)
    s += 1.0
    np.reciprocal(s, out=s)
    return s


class SwiGLU(Module):
    def __init__(self, n_embd: int, n_inner: int, rng: np.random.Generator, dtype=np.float32,
                 std: float = 0.02, proj_std: float = 0.02):
        super().__init__()
        self.n_inner = n_inner
        self.gate_up = Linear(n_embd, 2 * n_inner, rng, dtype, std, bias=False)   # [W_gate | W_up]
        self.down_proj = Linear(n_inner, n_embd, rng, dtype, proj_std, bias=False)
        self._saved: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        gu = self.gate_up.forward(x)                                     # (B, T, 2I)
        g, u = gu[..., :self.n_inner], gu[..., self.n_inner:]
        s = sigmoid(g)
        h = g * s                                                        # silu(g)
        h *= u
        self._saved = (g, u, s)
        return self.down_proj.forward(h)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        g, u, s = self._saved
        dh = self.down_proj.backward(dy)                                 # (B, T, I)
        dgu = np.empty(dh.shape[:-1] + (2 * self.n_inner,), dtype=dh.dtype)
        du = dgu[..., self.n_inner:]
        np.multiply(g, s, out=du)
        du *= dh                                                         # du = dh ⊙ silu(g)
        dg = dgu[..., :self.n_inner]
        np.subtract(1.0, s, out=dg)
        dg *= g
        dg += 1.0
        dg *= s                                                          # silu'(g) = σ (1 + g (1 - σ))
        dg *= u
        dg *= dh
        self._saved = None
        return self.gate_up.backward(dgu)

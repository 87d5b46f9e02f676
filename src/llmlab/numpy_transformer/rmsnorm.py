"""`RMSNorm` (Zhang & Sennrich 2019): LayerNorm without the mean and the bias — Llama's and Qwen's norm.

    forward:   r = 1/√(mean(x²) + ε),   x̂ = x r,   y = x̂ ⊙ w                  (mean over the C features)
    backward:  g = dy ⊙ w
               dx = r (g - x̂ ⊙ mean(g ⊙ x̂)),    dw = Σ_rows dy ⊙ x̂
Cheaper than LayerNorm (one reduction instead of two) and, in practice, as good: re-centring was not what
made LayerNorm work. Qwen3's QK-norm is this layer over each head's d features (see gqa_attention.py).
transformers computes it in float32 whatever the model's dtype; here it runs in the model's dtype.
"""

from __future__ import annotations

import numpy as np

from llmlab.numpy_transformer.module import Module


class RMSNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-6, dtype=np.float32):
        super().__init__()
        self.eps = eps
        self.add_param("weight", np.ones(dim, dtype=dtype))
        self._xhat: np.ndarray | None = None
        self._rstd: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        c = x.shape[-1]
        x2 = x.reshape(-1, c)                                            # (N, C)
        mean_sq = np.einsum("ij,ij->i", x2, x2) / c                      # (N,) without an (N, C) temporary
        rstd = (1.0 / np.sqrt(mean_sq + self.eps)).astype(x.dtype)[:, None]
        xhat = x2 * rstd
        self._xhat, self._rstd = xhat, rstd
        return (xhat * self.params["weight"]).reshape(x.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        xhat, rstd = self._xhat, self._rstd
        c = xhat.shape[1]
        dy2 = dy.reshape(-1, c)
        np.einsum("ij,ij->j", dy2, xhat, out=self.grads["weight"])      # Σ_rows dy ⊙ x̂
        g = dy2 * self.params["weight"]                                  # dL/dx̂
        mean_gx = (np.einsum("ij,ij->i", g, xhat) / c)[:, None]
        xhat *= mean_gx                                                  # the cache is not needed any more
        g -= xhat
        g *= rstd
        self._xhat = self._rstd = None
        return g.reshape(dy.shape)

"""`LayerNorm` over the last axis, forward and backward in fused, vectorised form.

    forward:   μ = mean(x),  σ² = mean((x-μ)²),  r = 1/√(σ²+ε),  x̂ = (x-μ) r,  y = x̂ ⊙ w + b
    backward:  g = dy ⊙ w
               dx = r (g - mean(g) - x̂ ⊙ mean(g ⊙ x̂))        (means over the C features of each row)
               dw = Σ_rows dy ⊙ x̂,   db = Σ_rows dy
"""

from __future__ import annotations

import numpy as np

from llmlab.numpy_transformer.module import Module


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5, dtype=np.float32):
        super().__init__()
        self.eps = eps
        self.add_param("weight", np.ones(dim, dtype=dtype))
        self.add_param("bias", np.zeros(dim, dtype=dtype))
        self._xhat: np.ndarray | None = None
        self._rstd: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        c = x.shape[-1]
        x2 = x.reshape(-1, c)                                   # (N, C)
        xhat = x2 - x2.mean(axis=-1, keepdims=True)
        var = np.einsum("ij,ij->i", xhat, xhat) / c             # (N,) without an (N, C) temporary
        rstd = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)[:, None]
        xhat *= rstd
        self._xhat, self._rstd = xhat, rstd
        y = xhat * self.params["weight"]
        y += self.params["bias"]
        return y.reshape(x.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        xhat, rstd = self._xhat, self._rstd
        c = xhat.shape[1]
        dy2 = dy.reshape(-1, c)
        np.sum(dy2, axis=0, out=self.grads["bias"])
        np.sum(dy2 * xhat, axis=0, out=self.grads["weight"])
        g = dy2 * self.params["weight"]                         # dL/dx̂
        mean_g = g.mean(axis=-1, keepdims=True)
        mean_gx = (np.einsum("ij,ij->i", g, xhat) / c)[:, None]
        g -= mean_g
        xhat *= mean_gx                                          # the cache is no longer needed: reuse it
        g -= xhat
        g *= rstd
        self._xhat = self._rstd = None
        return g.reshape(dy.shape)

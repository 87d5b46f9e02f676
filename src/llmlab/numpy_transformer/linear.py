"""`Linear`: y = x W + b, with W stored (in, out) — GPT-2's Conv1D layout, so its weights load as they are.

    forward:   y = x W + b                      x (..., n_in) -> y (..., n_out)
    backward:  dx = dy Wᵀ,  dW = xᵀ dy,  db = Σ_rows dy     (rows = every leading position, flattened)
"""

from __future__ import annotations

import numpy as np

from llmlab.numpy_transformer.module import Module


class Linear(Module):
    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, dtype=np.float32,
                 std: float = 0.02, bias: bool = True):
        super().__init__()
        self.add_param("weight", (rng.standard_normal((n_in, n_out)) * std).astype(dtype))
        if bias:
            self.add_param("bias", np.zeros(n_out, dtype=dtype))
        self._x2: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        w = self.params["weight"]
        x2 = x.reshape(-1, x.shape[-1])                  # (N, n_in): one big GEMM for every position
        self._x2 = x2
        y = x2 @ w                                       # (N, n_out)
        if "bias" in self.params:
            y += self.params["bias"]
        return y.reshape(*x.shape[:-1], w.shape[1])

    def backward(self, dy: np.ndarray) -> np.ndarray:
        w, x2 = self.params["weight"], self._x2
        dy2 = dy.reshape(-1, w.shape[1])                 # (N, n_out)
        np.matmul(x2.T, dy2, out=self.grads["weight"])   # (n_in, n_out), written in place: no temporary
        if "bias" in self.params:
            np.sum(dy2, axis=0, out=self.grads["bias"])
        dx = dy2 @ w.T                                   # (N, n_in)
        self._x2 = None
        return dx.reshape(*dy.shape[:-1], w.shape[0])

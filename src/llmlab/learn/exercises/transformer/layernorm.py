"""Exercise `layernorm`: LayerNorm over the last axis, forward and backward, in NumPy.

Check it with `llmlab learn check transformer layernorm`. `__init__` is given; write `forward` and
`backward`. Parameters live in `self.params`, and `backward` must write their gradients INTO the
arrays `self.grads["weight"]` and `self.grads["bias"]` (the optimizer holds those very arrays:
`self.grads["weight"][...] = ...`, never `self.grads["weight"] = ...`).
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

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalise each row (last axis, C features) to mean 0 and variance 1, then scale and shift.

            μ = mean(x),  σ² = mean((x - μ)²)   (the biased variance: divide by C, not C - 1)
            x̂ = (x - μ) / √(σ² + ε),   y = x̂ ⊙ weight + bias

        Shapes: x (..., C) -> y (..., C). Keep what backward needs (x̂ and 1/√(σ² + ε)) on self.
        Example (weight 1, bias 0, ε ≈ 0): x = [1, 2, 3, 6] -> μ = 3, σ² = 3.5 ->
                 y = [-1.0690, -0.5345, 0.0, 1.6036]
        """
        raise NotImplementedError("LayerNorm.forward")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dx from dy = ∂L/∂y; also write ∂L/∂weight and ∂L/∂bias into self.grads.

            g = dy ⊙ weight                                  (∂L/∂x̂)
            dx = (g - mean(g) - x̂ ⊙ mean(g ⊙ x̂)) / √(σ² + ε)   (means over the C features of a row)
            dweight = Σ_rows dy ⊙ x̂,   dbias = Σ_rows dy      (sums over every leading position)

        Shapes: dy (..., C) -> dx (..., C); grads (C,).
        """
        raise NotImplementedError("LayerNorm.backward")

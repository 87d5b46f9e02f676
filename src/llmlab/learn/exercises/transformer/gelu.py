"""Exercise `gelu`: GPT-2's GELU (the tanh approximation), forward and backward, in NumPy.

Check it with `llmlab learn check transformer gelu`.
"""

from __future__ import annotations

import math

import numpy as np

from llmlab.numpy_transformer.module import Module

K = math.sqrt(2.0 / math.pi)
A = 0.044715


class GELU(Module):
    """GELU in the tanh form GPT-2 was trained with (transformers' "gelu_new"; torch's approximate="tanh")."""

    def __init__(self) -> None:
        super().__init__()

    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = ½ x (1 + t),   t = tanh(K (x + A x³)),   K = √(2/π), A = 0.044715

        Shapes: any -> the same. Keep what backward needs (x, t) on self.
        Example: x = [1.0, -1.0, 2.0] -> y = [0.8412, -0.1588, 1.9546]
        (not the exact x Φ(x) with erf: the two differ by up to ~1e-3, and the grader can tell)
        """
        raise NotImplementedError("GELU.forward")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dx = dy ⊙ dy/dx, with the product rule and tanh' = 1 - t²:

            dy/dx = ½ (1 + t) + ½ x (1 - t²) K (1 + 3 A x²)

        Shapes: dy like x -> dx like x.
        """
        raise NotImplementedError("GELU.backward")

"""Exercise `cross_entropy`: the language-model loss over the vocabulary and its gradient.

Check it with `llmlab learn check transformer cross_entropy`. `__init__` is given.
"""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = -100   # transformers' and PyTorch's convention for "no loss at this position"


class CrossEntropy:
    def __init__(self, ignore_index: int = IGNORE_INDEX):
        self.ignore_index = ignore_index

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> float:
        """The mean loss over the rows whose target is not ignore_index (a Python float).

            L = (1/n) Σ_{i valid} [ log Σ_v exp(z_iv) - z_{i,y_i} ]       n = number of valid rows

        Compute log Σ exp stably: subtract each row's max first (logits of 1000 must not overflow).
        You may overwrite `logits` (the model does not need it afterwards). Keep what backward needs.
        Shapes: logits (N, V) float, targets (N,) int.
        Example: logits [[2, 1, 0]], targets [0] -> softmax [0.665, 0.245, 0.090] -> L = -log 0.665 = 0.4076
        """
        raise NotImplementedError("CrossEntropy.forward")

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """∂L/∂logits (N, V), times dloss:

            ∂L/∂z_iv = (softmax(z_i)_v - [v = y_i]) / n     for valid rows;   0 for ignored rows
        """
        raise NotImplementedError("CrossEntropy.backward")

"""Cross-entropy over the vocabulary, averaged over the targets that are not `ignore_index`.

    L = (1/n) Σ_{i valid} [ log Σ_v exp(z_iv) - z_{i,y_i} ]          z (N, V),  y (N,),  n = #valid
    ∂L/∂z_iv = (softmax(z_i)_v - [v = y_i]) / n   for valid rows, 0 for ignored rows
The logits buffer is overwritten by the probabilities, which become the gradient: the biggest
array of a GPT-2 step (N × 50257) is allocated once.
"""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = -100   # transformers' and PyTorch's convention


class CrossEntropy:
    def __init__(self, ignore_index: int = IGNORE_INDEX):
        self.ignore_index = ignore_index
        self._saved: tuple | None = None

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> float:
        """logits (N, V) — consumed (overwritten) — and targets (N,) -> the mean loss."""
        targets = np.asarray(targets).reshape(-1)
        valid = targets != self.ignore_index
        n = int(valid.sum())
        rows = np.arange(targets.shape[0])
        safe = np.where(valid, targets, 0)
        logits -= logits.max(axis=-1, keepdims=True)            # stable: every row's max becomes 0
        picked = logits[rows, safe]                              # z_y - max z
        np.exp(logits, out=logits)
        total = logits.sum(axis=-1)                              # Σ exp(z - max z)
        per_row = np.log(total) - picked
        loss = float(per_row[valid].sum(dtype=np.float64) / n) if n else float("nan")
        self._saved = (logits, total, safe, valid, n)
        return loss

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """∂L/∂logits (N, V), in the buffer the forward pass consumed."""
        probs, total, safe, valid, n = self._saved
        scale = dloss / max(n, 1)
        probs *= (scale / total)[:, None].astype(probs.dtype)    # softmax / n
        probs[np.arange(probs.shape[0]), safe] -= scale
        probs[~valid] = 0
        self._saved = None
        return probs

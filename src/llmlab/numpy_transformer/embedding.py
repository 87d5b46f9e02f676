"""Token embedding, learned positions and sinusoidal positions.

    Embedding:   y[b, t] = W[ids[b, t]]            ids (B, T) int -> y (B, T, C)
                 dW[i] = Σ_{(b,t): ids[b,t] = i} dy[b, t]   (a scatter-add; nothing flows to the ids)
    Sinusoidal:  P[pos, 2i] = sin(pos / 10000^(2i/C)),  P[pos, 2i+1] = cos(pos / 10000^(2i/C))  (no
    parameters)
GPT-2 learns its positions (`wpe` is an Embedding over position ids); the sinusoidal table is the
original Transformer's fixed alternative.
"""

from __future__ import annotations

import numpy as np

from llmlab.numpy_transformer.module import Module


class Embedding(Module):
    def __init__(self, n: int, dim: int, rng: np.random.Generator, dtype=np.float32, std: float = 0.02):
        super().__init__()
        self.add_param("weight", (rng.standard_normal((n, dim)) * std).astype(dtype))
        self._ids: np.ndarray | None = None

    def forward(self, ids: np.ndarray) -> np.ndarray:
        self._ids = ids
        return np.take(self.params["weight"], ids, axis=0)   # (B, T, C)

    def backward(self, dy: np.ndarray, accumulate: bool = False) -> None:
        """Scatter-add dy into the rows that were looked up; `accumulate` adds to what is there
        (the tied LM head writes its share of the same matrix first)."""
        grad = self.grads["weight"]
        if not accumulate:
            grad.fill(0)
        np.add.at(grad, self._ids.reshape(-1), dy.reshape(-1, grad.shape[1]))
        self._ids = None


def sinusoidal_table(n_positions: int, dim: int, dtype=np.float32) -> np.ndarray:
    """(n_positions, dim) table of "Attention Is All You Need", section 3.5."""
    pos = np.arange(n_positions, dtype=np.float64)[:, None]
    freq = np.exp(-np.log(10000.0) * np.arange(0, dim, 2, dtype=np.float64) / dim)   # (ceil(dim/2),)
    table = np.zeros((n_positions, dim))
    table[:, 0::2] = np.sin(pos * freq)
    table[:, 1::2] = np.cos(pos * freq[: dim // 2])
    return table.astype(dtype)


class SinusoidalPositions(Module):
    """Fixed positions: a lookup into `sinusoidal_table`, with no parameters and nothing to backpropagate."""

    def __init__(self, n_positions: int, dim: int, dtype=np.float32):
        super().__init__()
        self.table = sinusoidal_table(n_positions, dim, dtype)

    def forward(self, positions: np.ndarray) -> np.ndarray:
        return np.take(self.table, positions, axis=0)

    def backward(self, dy: np.ndarray, accumulate: bool = False) -> None:
        return None

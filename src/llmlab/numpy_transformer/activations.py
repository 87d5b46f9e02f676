"""GELU (GPT-2's tanh form), ReLU, and the row softmax with its backward — in fused, in-place NumPy.

    GELU:     y = ½ x (1 + t),   t = tanh(k (x + a x³)),   k = √(2/π),  a = 0.044715
              dy/dx = ½ (1 + t) + ½ x (1 - t²) k (1 + 3 a x²) = ½ (1 + t) (1 + x k (1 + 3 a x²) (1 - t))
    softmax:  p = exp(z - max z) / Σ exp(z - max z)          (rows = last axis)
              dz = p ⊙ (dp - Σ_j dp_j p_j)
"""

from __future__ import annotations

import math

import numpy as np

from llmlab.errors import LabError
from llmlab.numpy_transformer.module import Module

K = math.sqrt(2.0 / math.pi)
A = 0.044715


class GELU(Module):
    """The tanh approximation GPT-2 was trained with (transformers' "gelu_new")."""

    def __init__(self) -> None:
        super().__init__()
        self._x: np.ndarray | None = None
        self._t: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        t = x * x
        t *= A * K
        t += K
        t *= x                          # k (x + a x³)
        np.tanh(t, out=t)
        self._x, self._t = x, t
        y = t + 1.0
        y *= x
        y *= 0.5
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        # dy/dx = ½ (1 + t) (1 + x k (1 + 3 a x²) (1 - t)): one factorisation, five in-place passes
        x, t = self._x, self._t
        p = x * x
        p *= 3.0 * A * K
        p += K
        p *= x                          # x k (1 + 3 a x²)
        p *= 1.0 - t
        p += 1.0
        t += 1.0                        # the cache is not needed after this: reuse it
        p *= t
        p *= 0.5
        p *= dy
        self._x = self._t = None
        return p


class ReLU(Module):
    def __init__(self) -> None:
        super().__init__()
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return x * self._mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = dy * self._mask
        self._mask = None
        return dx


ACTIVATIONS = {"gelu_new": GELU, "gelu_pytorch_tanh": GELU, "gelu_fast": GELU, "relu": ReLU}


def make_activation(name: str) -> Module:
    if name not in ACTIVATIONS:
        raise LabError(f"activation {name!r} is not implemented in the NumPy Transformer",
                       hint="use one of " + ", ".join(ACTIVATIONS) + " (GPT-2 uses gelu_new)")
    return ACTIVATIONS[name]()


def softmax_(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place (z is overwritten and returned)."""
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z *= 1.0 / z.sum(axis=-1, keepdims=True)
    return z


def softmax_backward_(dp: np.ndarray, p: np.ndarray) -> np.ndarray:
    """dz = p ⊙ (dp - Σ dp ⊙ p), written into dp."""
    dp -= np.einsum("...j,...j->...", dp, p)[..., None]
    dp *= p
    return dp

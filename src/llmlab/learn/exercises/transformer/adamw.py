"""Exercise `adamw`: one step of AdamW (decoupled weight decay, bias correction), as torch.optim.AdamW.

Check it with `llmlab learn check transformer adamw`. `__init__` is given: `self.entries` holds
(name, parameter, gradient) for every parameter, `self.m` / `self.v` the moment buffers (zeros at
first), `self.decays[i]` whether parameter i is decayed (matrices yes; biases and LayerNorm gains no),
`self.t` the number of steps taken. Update the parameters IN PLACE (`p -= ...`): the model owns them.
"""

from __future__ import annotations

import math  # noqa: F401 - for your code
from collections.abc import Iterable

import numpy as np


class AdamW:
    def __init__(self, named_parameters: Iterable[tuple[str, np.ndarray, np.ndarray]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01,
                 decay_vectors: bool = False):
        self.entries = list(named_parameters)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.decays = [decay_vectors or p.ndim >= 2 for _, p, _ in self.entries]
        self.m = [np.zeros_like(p) for _, p, _ in self.entries]
        self.v = [np.zeros_like(p) for _, p, _ in self.entries]
        self.t = 0

    def step(self, lr: float | None = None) -> None:
        """One update of every parameter (lr: this step's learning rate; None means self.lr).

            t ← t + 1
            p ← p (1 - lr λ)                          only where self.decays[i]  (decoupled: not via g)
            m ← β₁ m + (1 - β₁) g,   v ← β₂ v + (1 - β₂) g²
            m̂ = m / (1 - β₁ᵗ),   v̂ = v / (1 - β₂ᵗ)     (bias correction: m and v start at zero)
            p ← p - lr m̂ / (√v̂ + ε)

        Example: first step, g = 0.1 everywhere, λ = 0 -> m̂ = 0.1, v̂ = 0.01 -> p moves by -lr · 0.1/(0.1 +
        ε) ≈ -lr
        """
        raise NotImplementedError("AdamW.step")

    def state(self) -> dict:
        return {"t": self.t, "m": self.m, "v": self.v}

"""AdamW and gradient clipping by global norm (the learning-rate schedule is `llmlab.lr_schedule`, shared
with the torch Trainer).

    AdamW (decoupled weight decay, as torch.optim.AdamW):
        p ← p (1 - lr λ)                       only for matrices and embeddings (ndim >= 2)
        m ← β₁ m + (1-β₁) g,   v ← β₂ v + (1-β₂) g²
        p ← p - lr · (m / (1-β₁ᵗ)) / (√(v / (1-β₂ᵗ)) + ε)
    clipping:  g ← g · min(1, c / (‖g‖₂ + 1e-6)),  ‖g‖₂ over every parameter together
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


class AdamW:
    def __init__(self, named_parameters: Iterable[tuple[str, np.ndarray, np.ndarray]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01,
                 decay_vectors: bool = False):
        self.entries = list(named_parameters)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        # GPT-2 practice: biases and LayerNorm gains are not decayed (decay_vectors=True decays everything)
        self.decays = [decay_vectors or p.ndim >= 2 for _, p, _ in self.entries]
        self.m = [np.zeros_like(p) for _, p, _ in self.entries]
        self.v = [np.zeros_like(p) for _, p, _ in self.entries]
        self.t = 0

    def step(self, lr: float | None = None) -> None:
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        self.t += 1
        bc1, bc2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t
        for (_, p, g), m, v, decay in zip(self.entries, self.m, self.v, self.decays, strict=True):
            if decay and self.weight_decay:
                p *= 1.0 - lr * self.weight_decay
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            denom = np.sqrt(v)
            denom *= 1.0 / math.sqrt(bc2)
            denom += self.eps
            np.divide(m, denom, out=denom)
            denom *= lr / bc1
            p -= denom

    def state(self) -> dict:
        return {"t": self.t, "m": self.m, "v": self.v}


def global_norm(grads: Iterable[np.ndarray]) -> float:
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads))


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> float:
    """Scale every gradient in place so their joint L2 norm is at most max_norm; return the norm before."""
    norm = global_norm(grads)
    if max_norm > 0:
        coef = max_norm / (norm + 1e-6)
        if coef < 1.0:
            for g in grads:
                g *= coef
    return norm


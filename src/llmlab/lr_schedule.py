"""The learning-rate schedule of both training loops in llmlab: linear warmup, then a cosine (or linear)
decay to `min_lr`, then flat. Plain Python: the NumPy Transformer trains on it without loading torch,
and `llmlab.training.schedule.lr_at` reads a TrainConfig into it for the torch Trainer.

    lr(d) = lr * d / warmup                                              d <  warmup
    lr(d) = min_lr + (lr - min_lr) * (1 + cos(pi * r)) / 2,  r = (d - warmup) / (total - warmup)
    lr(d) = min_lr                                                       d >= total
`d` (done), `warmup` and `total` share one unit, the caller's: optimizer steps (the Trainer counts
step + 1 of warmup_steps + 1, so even step 0 learns), or fractions of a run (the NumPy trainer, whose
progress follows the clock when it has a time budget). shape "linear" weighs 1 - r instead of the cosine;
"constant" stays at lr after the warmup.
"""

from __future__ import annotations

import math


def warmup_then_decay(done: float, warmup: float, total: float, lr: float, min_lr: float,
                      shape: str = "cosine") -> float:
    if done < warmup:
        return lr * done / warmup
    if shape == "constant":
        return lr
    if done >= total:
        return min_lr
    ratio = (done - warmup) / (total - warmup)          # in [0, 1): warmup <= done < total
    weight = 0.5 * (1.0 + math.cos(math.pi * ratio)) if shape == "cosine" else 1.0 - ratio
    return min_lr + weight * (lr - min_lr)

"""The learning-rate schedule: linear warmup, then cosine (or linear) decay to `min_lr`, then flat.

    lr(s) = lr * (s + 1) / (warmup + 1)                                   s <  warmup
    lr(s) = min_lr + (lr - min_lr) * (1 + cos(pi * r)) / 2,  r = (s - warmup) / (decay - warmup)
    lr(s) = min_lr                                                        s >= decay
A pure function of the step, so restoring the step restores the schedule exactly (nothing else to save).
With `decay_by="time"` the decay ratio r is elapsed / max_time instead: the cosine ends when the time
budget does, whatever the machine's speed (a resumed run then follows the clock, not bit-exactly).
"""

from __future__ import annotations

import math

from llmlab.training.config import TrainConfig


def lr_at(step: int, cfg: TrainConfig, elapsed: float | None = None) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / (cfg.warmup_steps + 1)
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.decay_by == "time" and elapsed is not None and cfg.max_time:
        ratio = min(1.0, elapsed / cfg.max_time)
    else:
        decay = cfg.decay_steps
        if step >= decay:
            return cfg.min_lr
        ratio = (step - cfg.warmup_steps) / max(1, decay - cfg.warmup_steps)
    weight = 0.5 * (1.0 + math.cos(math.pi * ratio)) if cfg.schedule == "cosine" else 1.0 - ratio
    return cfg.min_lr + weight * (cfg.lr - cfg.min_lr)

"""The Trainer's learning rate at a step: `llmlab.lr_schedule` (warmup, then cosine or linear decay to
`min_lr`, then flat; the one schedule of the lab) read from a TrainConfig.

    lr(s) = lr * (s + 1) / (warmup + 1)                                   s <  warmup
    lr(s) = min_lr + (lr - min_lr) * (1 + cos(pi * r)) / 2,  r = (s - warmup) / (decay - warmup)
    lr(s) = min_lr                                                        s >= decay
A pure function of the step, so restoring the step restores the schedule exactly (nothing else to save).
With `decay_by="time"` the decay ratio r is elapsed / max_time instead: the cosine ends when the time
budget does, whatever the machine's speed (a resumed run then follows the clock, not bit-exactly).
"""

from __future__ import annotations

from llmlab.lr_schedule import warmup_then_decay
from llmlab.training.config import TrainConfig


def lr_at(step: int, cfg: TrainConfig, elapsed: float | None = None) -> float:
    """The learning rate of optimizer step `step` (0 = the first). Steps count from 1 in the schedule, so the
    warmup gives lr · (step + 1) / (warmup + 1), never 0; the decay then runs from step = warmup to
    step = decay. With decay_by "time" the decay runs from 0 s to max_time instead."""
    if step >= cfg.warmup_steps and cfg.decay_by == "time" and elapsed is not None and cfg.max_time:
        # warmed up by steps; from there the decay follows the clock, from lr at 0 s to min_lr at max_time
        return warmup_then_decay(elapsed, 0.0, cfg.max_time, cfg.lr, cfg.min_lr, cfg.schedule)
    return warmup_then_decay(step + 1, cfg.warmup_steps + 1, cfg.decay_steps + 1, cfg.lr, cfg.min_lr,
                             cfg.schedule)

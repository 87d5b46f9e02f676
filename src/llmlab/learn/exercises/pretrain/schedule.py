"""Exercise `schedule`: the learning-rate schedule of every training loop in llmlab — warmup, then cosine to
min_lr.

Check it with `llmlab learn check pretrain schedule` (against transformers' get_cosine_with_min_lr_schedule_
with_warmup, get_linear_schedule_with_warmup and get_constant_schedule_with_warmup, step by step, and in
fractions of a run, as the NumPy trainer calls it). Plain Python: no torch.
"""

from __future__ import annotations

import math  # noqa: F401 - for your code


def warmup_then_decay(done: float, warmup: float, total: float, lr: float, min_lr: float,
                      shape: str = "cosine") -> float:
    """The learning rate after `done` units of training (steps, or a fraction of the run; one unit for all):

        lr · done / warmup                                              done <  warmup
        min_lr + (lr - min_lr) · (1 + cos(π r)) / 2,  r = (done - warmup) / (total - warmup)     warmup <=
        done < total min_lr                                                          done >= total
    shape "linear" weighs 1 - r instead of (1 + cos(π r)) / 2; shape "constant" is lr from the warmup on.
    Warmup keeps Adam's first steps small while its second-moment estimate is still noise; the cosine spends
    most of the run near lr and lands softly on min_lr.
    Example: warmup 2, total 10, lr 1.0, min_lr 0.1: done 0 -> 0, 1 -> 0.5, 2 -> 1.0, 6 -> 0.55 (r = 0.5),
    10 -> 0.1, 12 -> 0.1.
    """
    raise NotImplementedError("warmup_then_decay")

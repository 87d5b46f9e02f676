"""Exercise `train_step`: one optimizer step — warmup + cosine learning rate, backward, clipping by the global
norm.

Check it with `llmlab learn check charlm train_step` (the schedule against torch's LinearLR +
CosineAnnealingLR, clipping against torch.nn.utils.clip_grad_norm_, and a few steps of a small LSTM
against the same steps taken with torch's own pieces). `cfg` is a llmlab TrainConfig: cfg.lr, cfg.min_lr,
cfg.warmup_steps, cfg.decay_steps (= cfg.lr_decay_steps or cfg.max_steps), cfg.schedule ("cosine" |
"linear" | "constant"), cfg.decay_by ("steps" | "time"), cfg.max_time, cfg.grad_clip (0: no clipping).
"""

from __future__ import annotations

import math  # noqa: F401 - for your code
from collections.abc import Iterable

import torch

from llmlab.lr_schedule import warmup_then_decay  # noqa: F401 - what llmlab's lr_at reads cfg into
from llmlab.training.config import TrainConfig
from llmlab.training.trainer import causal_lm_loss  # noqa: F401 - for your code: mean next-token cross-entropy


def lr_at(step: int, cfg: TrainConfig, elapsed: float | None = None) -> float:
    """The learning rate of optimizer step `step` (0 = the first step):

        lr · (step + 1) / (warmup + 1)                                step <  warmup   (never 0)
        min_lr + (lr - min_lr) · (1 + cos(π r)) / 2,  r = (step - warmup) / (decay - warmup)
        min_lr                                                        step >= decay
    with schedule "linear" the weight (1 + cos(π r)) / 2 is 1 - r instead; with "constant" it is lr after
    the warmup. With decay_by == "time" (and elapsed, max_time given): r = min(1, elapsed / max_time).
    Example: lr 1e-3, min_lr 1e-4, warmup 4, decay 10: steps 0..3 -> 2e-4, 4e-4, 6e-4, 8e-4;
             step 4 -> 1e-3; step 7 (r = 0.5) -> 5.5e-4; step 10 and later -> 1e-4.
    """
    raise NotImplementedError("lr_at")


def clip_grad_norm_(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale ALL gradients by one factor so their global L2 norm is at most max_norm; return the norm before.

        ‖g‖ = sqrt(Σ_p Σ_i g_{p,i}²)      (over every parameter that has a .grad)
        coef = min(1, max_norm / (‖g‖ + 1e-6));   p.grad ← coef · p.grad  (in place)
    One factor keeps the update's direction (clipping each entry by value would bend it).
    `parameters` may be a generator (model.parameters()): it can be read only once.
    Example: grads [3, 4] and [0], max_norm 1 -> ‖g‖ = 5, grads become [0.6, 0.8] and [0]; returns 5.
    """
    raise NotImplementedError("clip_grad_norm_")


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               step: int, cfg: TrainConfig) -> tuple[float, float, float]:
    """One step: set lr_at(step, cfg) on every param group BEFORE optimizer.step(); loss =
    causal_lm_loss(model, x, y); backward; clip_grad_norm_ to cfg.grad_clip (0 means no clipping:
    use math.inf); optimizer.step(); clear the gradients (optimizer.zero_grad()).

    Shapes: x, y (B, T) token ids, y = x shifted left by one.
    Returns (loss as a float, the gradient norm before clipping as a float, the lr used).
    """
    raise NotImplementedError("train_step")

"""One optimizer step written out in plain PyTorch: the schedule's lr, backward, clipping by the global norm,
AdamW.

    loss, grad_norm, lr = train_step(model, optimizer, x, y, step, cfg)     # cfg: a TrainConfig
It is what `llmlab.training.Trainer` does each step through accelerate, without gradient accumulation,
mixed precision or several processes; `llmlab learn run charlm --mine` trains with it, and it is the
solution of the learn exercise. clip_grad_norm_ is torch.nn.utils.clip_grad_norm_ by hand (tests compare).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from llmlab.training.config import TrainConfig
from llmlab.training.schedule import lr_at
from llmlab.training.trainer import causal_lm_loss


def clip_grad_norm_(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients together so their global L2 norm is at most max_norm; return the norm before.

        ‖g‖ = sqrt(Σ_p Σ_i g_{p,i}²)        coef = min(1, max_norm / (‖g‖ + 1e-6))        g ← coef · g
    One coefficient for every parameter keeps the update's direction; only its length is capped.
    """
    grads = [p.grad for p in parameters if p.grad is not None]      # a generator can be read only once
    if not grads:
        return torch.tensor(0.0)
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g, 2.0) for g in grads]), 2.0)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef)
    return total


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               step: int, cfg: TrainConfig) -> tuple[float, float, float]:
    """lr ← lr_at(step); loss = cross-entropy(model(x), y); backward; clip to cfg.grad_clip (0: off); step.

    Returns (loss, the gradient norm before clipping, the lr used); the gradients are cleared afterwards.
    """
    lr = lr_at(step, cfg)
    for group in optimizer.param_groups:     # set before optimizer.step(): this step uses this step's lr
        group["lr"] = lr
    loss = causal_lm_loss(model, x, y)
    loss.backward()
    norm = clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)    # otherwise the next backward adds to these gradients
    return float(loss.detach()), float(norm), lr

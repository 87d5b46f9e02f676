"""Activation-aware scaling (AWQ, Lin et al., 2023) for llmlab's int4: scale up the weight columns that meet
large inputs before rounding, so their relative rounding error shrinks where it costs the most output.

    report, errors = awq_quantize_model(model, calibration_ids, group=32)      # in place, like int4's

For a layer y = x Wᵀ and any positive s (in,), y = (x / s) (W diag(s))ᵀ exactly. Rounding W diag(s) instead
of W gives input j a step d / s_j in W's own units: finer where s_j > 1. With s_j = a_j^α, a_j how large
input j runs on calibration text (here its RMS, from the diagonal of the same H = 2 XᵀX / n that gptq.py
uses; the paper takes the mean |x_j|), α is searched on a grid per layer for the smallest output error
tr(D H Dᵀ) / 2. α = 0 is plain rounding, so on the calibration inputs AWQ is never worse than it.
s is normalised as in the paper (s / sqrt(max s · min s)) and stored as fp16. AWQ proper folds 1/s into the
previous LayerNorm or linear layer, so it costs nothing at run time; here Int4Linear keeps s (2 bytes per
input) and divides Ŵ's columns by it as it dequantises. Not done: the paper's weight clipping search.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from llmlab.chat.gptq import compensated_quantize_model, output_error
from llmlab.chat.int4 import (
    Int4Weight,
    dequantize_int4,
    quantize_int4,
)
from llmlab.chat.quantize import QuantReport


@torch.no_grad()
def awq_quantize(weight: torch.Tensor, hessian: torch.Tensor, group: int = 32, symmetric: bool = True,
                 grid: int = 20) -> tuple[Int4Weight, float]:
    """The int4 of W diag(s) (with s stored) for the α in {0, 1/grid, ..., 1} of least output error."""
    w = weight.detach().float()
    activation = (hessian.diagonal().double() / 2).sqrt().float().clamp_min(1e-8)      # RMS of each input
    best = None
    for alpha in [i / grid for i in range(grid + 1)]:
        s = activation ** alpha
        s = (s / (s.max() * s.min()).sqrt()).half()                   # what Int4Linear will hold
        q = quantize_int4(w * s.float(), group, symmetric)
        q.input_scale = s
        error = output_error(w, dequantize_int4(q), hessian)
        if best is None or error < best[0]:
            best = (error, q, alpha)
    return best[1], best[2]


@torch.no_grad()
def awq_quantize_model(model: nn.Module, calibration: Iterable[torch.Tensor], group: int = 32,
                       symmetric: bool = True, lm_head: bool = False, skip: str | None = None, grid: int = 20
                       ) -> tuple[QuantReport, dict[str, dict[str, float]]]:
    """Replace the model's Linear/Conv1D layers by AWQ-scaled int4 in place. Also returns, per layer, the
    output error on the calibration inputs of round-to-nearest and of AWQ, and the α chosen."""
    def layer(weight, hessian):
        scaled, alpha = awq_quantize(weight, hessian, group, symmetric, grid)
        return scaled, {"alpha": alpha}

    return compensated_quantize_model(model, calibration, "awq", layer, group, symmetric, lm_head, skip)

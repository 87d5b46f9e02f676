"""GPTQ (Frantar et al., 2022) for llmlab's int4: quantise a layer's weight one column at a time and let the
columns not yet quantised absorb each rounding error, weighted by the inputs the layer actually sees.

    report, errors = gptq_quantize_model(model, calibration_ids, group=32)   # in place, like int4's

For a layer y = x Wᵀ with calibration inputs X (n, in), the loss is ||X Wᵀ - X Ŵᵀ||² summed over rows of W;
its Hessian in each row is H = 2 Xᵀ X / n (in, in), the same for every row. Quantising column i to ŵ_i leaves
the error e = (w_i - ŵ_i) / [H⁻¹]_ii, and the optimal update of the remaining columns j > i is

    W[:, j] -= e [H⁻¹]_ij      (H⁻¹ taken as its upper Cholesky factor, so each step needs one row of it)

Three choices from the paper: damping (add `damp` x mean(diag H) to the diagonal, so H is invertible when
some inputs are rare or collinear), column order (`act_order`: columns with the largest H_ii, the inputs with
the most energy, go first, while many columns are left to absorb their error) and groups (each group's d and
min come from the original weights when columns go out of order, so groups stay contiguous in storage, and
from the updated weights when they go in order). Left out: the paper's blocked lazy updates (a speed trick,
the result is the same) and its sequential pass (here every layer's H comes from the float model, one pass).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from llmlab.chat.int4 import (
    Int4Weight,
    dequantize_int4,
    effective_group,
    group_params,
    int4_targets,
    linear_weight,
    pack_codes,
    quantize_codes,
    quantize_int4,
    quantize_model_int4,
)
from llmlab.chat.quantize import QuantReport
from llmlab.errors import LabError


@torch.no_grad()
def collect_hessians(model: nn.Module, layers: dict[str, nn.Module],
                     batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """H = 2 Xᵀ X / n (in, in), float64, of every named layer's input over the calibration token batches."""
    sums: dict[str, torch.Tensor] = {}
    counts = dict.fromkeys(layers, 0)

    def hook(name):
        def record(module, args, output):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).double()          # (tokens, in)
            sums[name] = sums.get(name, 0) + x.t() @ x
            counts[name] += x.shape[0]
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in layers.items()]
    try:
        for ids in batches:
            model(ids)
    finally:
        for h in handles:
            h.remove()
    if not sums:
        raise LabError("no calibration tokens reached the layers",
                       hint="give at least one batch of token ids")
    return {name: 2 * sums[name] / counts[name] for name in sums}


def output_error(weight: torch.Tensor, approx: torch.Tensor, hessian: torch.Tensor) -> float:
    """||X Wᵀ - X Ŵᵀ||² / n summed over outputs, from H alone: tr(D H Dᵀ) / 2 with D = W - Ŵ."""
    diff = (weight.double() - approx.double())
    return float(((diff @ hessian) * diff).sum() / 2)


def _dequantize_column(codes: torch.Tensor, d16: torch.Tensor, low16: torch.Tensor | None) -> torch.Tensor:
    """What Int4Linear will compute for one column: the stored fp16 d (and min) times the codes."""
    d = d16.double()
    return (codes.double() - 8) * d if low16 is None else codes.double() * d + low16.double()


@torch.no_grad()
def gptq_quantize(weight: torch.Tensor, hessian: torch.Tensor, group: int = 32, symmetric: bool = True,
                  damp: float = 0.01, act_order: bool = True) -> Int4Weight:
    """GPTQ int4 of a (out, in) weight given its input Hessian (in, in); storage as quantize_int4's."""
    out, n = weight.shape
    size = effective_group(n, group)
    W = weight.detach().double().clone()                                     # (out, in), updated as we go
    H = hessian.double().clone()
    dead = H.diagonal() == 0                 # inputs that were always zero: their weights never matter
    H[dead, dead] = 1
    W[:, dead] = 0
    d = torch.empty(out, n // size, dtype=torch.float32)
    low = None if symmetric else torch.empty(out, n // size, dtype=torch.float32)
    if act_order:                            # groups fixed up front from the original weights
        d, low = group_params(W.float().reshape(out, n // size, size), symmetric)
    perm = torch.argsort(H.diagonal(), descending=True) if act_order else torch.arange(n)
    W, H = W[:, perm], H[perm][:, perm]
    H.diagonal().add_(damp * H.diagonal().mean())
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)   # H⁻¹ = Uᵀ U
    codes = torch.zeros(out, n, dtype=torch.uint8)
    for i in range(n):
        col, g = int(perm[i]), int(perm[i]) // size
        if not act_order and col % size == 0:     # in order: the group's range from the updated weights
            gd, gl = group_params(W[:, i:i + size].float(), symmetric)
            d[:, g] = gd
            if low is not None:
                low[:, g] = gl
        w = W[:, i].float()
        q = quantize_codes(w[:, None], d[:, g], None if low is None else low[:, g])[:, 0]      # (out,)
        approx = _dequantize_column(q, d[:, g].half(), None if low is None else low[:, g].half())
        err = (W[:, i] - approx) / U[i, i]                                     # (out,)
        W[:, i:] -= err[:, None] * U[i, i:][None, :]      # the later columns absorb the rounding error
        codes[:, col] = q
    return Int4Weight(pack_codes(codes), d.half(), None if low is None else low.half(), size)


def compensated_quantize_model(model: nn.Module, calibration: Iterable[torch.Tensor], method: str,
                               quantize_layer, group: int = 32, symmetric: bool = True, lm_head: bool = False,
                               skip: str | None = None) -> tuple[QuantReport, dict[str, dict[str, float]]]:
    """Quantise the model's Linear/Conv1D layers to int4 in place, each by `quantize_layer(weight, hessian)`
    -> (Int4 weight, extra figures), with Hessians from the calibration inputs. Returns the report and, per
    layer, the output error of plain round-to-nearest ("rtn") and of `method`, plus the extra figures. The
    one loop GPTQ and AWQ-style scaling share."""
    targets = int4_targets(model, lm_head, skip)
    hessians = collect_hessians(model, targets, calibration)
    weights, errors = {}, {}
    for name, module in targets.items():
        if name not in hessians:
            continue
        weight = linear_weight(module).float()
        try:
            rtn = quantize_int4(weight, group, symmetric)
        except LabError:
            continue                                  # quantize_model_int4 keeps this layer float
        weights[name], extra = quantize_layer(weight, hessians[name])
        errors[name] = {"rtn": output_error(weight, dequantize_int4(rtn), hessians[name]),
                        method: output_error(weight, dequantize_int4(weights[name]), hessians[name]), **extra}
    report = quantize_model_int4(model, group, symmetric, lm_head, skip, weights=weights)
    return report, errors


@torch.no_grad()
def gptq_quantize_model(model: nn.Module, calibration: Iterable[torch.Tensor], group: int = 32,
                        symmetric: bool = True, damp: float = 0.01, act_order: bool = True,
                        lm_head: bool = False, skip: str | None = None
                        ) -> tuple[QuantReport, dict[str, dict[str, float]]]:
    """Replace the model's Linear/Conv1D layers by GPTQ int4 in place. Also returns, per layer, the output
    error on the calibration inputs of plain round-to-nearest and of GPTQ at the same group and symmetry."""
    def layer(weight, hessian):
        return gptq_quantize(weight, hessian, group, symmetric, damp, act_order), {}

    return compensated_quantize_model(model, calibration, "gptq", layer, group, symmetric, lm_head, skip)

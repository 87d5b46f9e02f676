"""Group-wise int4 weight-only quantisation: two 4-bit codes per byte and one fp16 scale (and min) per group
of `group` weights along a row, with a matmul that dequantises on the fly. `quantize_model_int4(model, 32)`.

The rounding rules are llama.cpp's, so group 32 is bit for bit GGUF's Q4_0 (symmetric) and Q4_1 (asymmetric):

    symmetric:   d = m / -8 (m: the group's weight of largest |w|, sign kept),
                 q = clamp(trunc(w/d + 8.5), 0, 15),
                 ŵ = d (q - 8)                      -> 0.5 byte per weight + 2 bytes (fp16 d) per group
    asymmetric:  d = (max - min) / 15,  q = clamp(trunc((w - min)/d + 0.5), 0, 15),
                 ŵ = d q + min                      -> 0.5 byte per weight + 4 bytes (fp16 d, min) per group

(the codes use the float32 d, as llama.cpp does; the stored d and min are fp16). The largest weight lands
exactly on -8 d, so the symmetric grid spends its 16th level on that sign. Smaller groups follow the weights
more closely and cost more scales: 32 -> 4.5 (sym) or 5 (asym) bits per weight, 128 -> 4.125 or 4.25.
Codes are packed along the row: byte j of a row holds code 2j in its low nibble and code 2j+1 in its high one.
Not handled: activations (they stay float, W4A32) and a fused int4 kernel (the weight is rebuilt per call).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from llmlab.chat.quantize import LayerReport, QuantReport, is_linear, replace_module, weight_bytes
from llmlab.errors import LabError

GROUP_SIZES = (32, 64, 128)


@dataclass
class Int4Weight:
    """A (out, in) weight as packed codes (out, in/2) uint8, fp16 scales (out, in/group) and, when asymmetric,
    fp16 mins (out, in/group); awq.py adds fp16 input scales s (in,): the codes then hold W diag(s)."""
    packed: torch.Tensor
    scale: torch.Tensor
    minimum: torch.Tensor | None
    group: int
    input_scale: torch.Tensor | None = None

    @property
    def symmetric(self) -> bool:
        return self.minimum is None

    def nbytes(self) -> int:
        tensors = [self.packed, self.scale, self.minimum, self.input_scale]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def group_params(w: torch.Tensor, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-group (d, min) of grouped float32 weights (..., group): what llama.cpp's Q4_0/Q4_1 would pick."""
    if symmetric:
        index = w.abs().argmax(dim=-1, keepdim=True)
        return torch.gather(w, -1, index).squeeze(-1) / -8, None
    low, high = w.amin(dim=-1), w.amax(dim=-1)
    return (high - low) / 15, low


def quantize_codes(w: torch.Tensor, d: torch.Tensor, low: torch.Tensor | None) -> torch.Tensor:
    """float32 weights (..., k) and their group's d (...,) [and min] -> integer codes 0..15 (..., k)."""
    # an all-zero group has d = 0: every code is then 8 (or 0), which dequantises to 0 again
    inv = torch.where(d == 0, torch.zeros_like(d), 1 / d)[..., None]
    if low is None:
        return torch.clamp(torch.trunc(w * inv + 8.5), 0, 15).to(torch.uint8)
    return torch.clamp(torch.trunc((w - low[..., None]) * inv + 0.5), 0, 15).to(torch.uint8)


def pack_codes(codes: torch.Tensor) -> torch.Tensor:
    """(..., n) codes 0..15 -> (..., n/2) bytes: low nibble = even index, high nibble = odd index."""
    return codes[..., 0::2] | (codes[..., 1::2] << 4)


def unpack_codes(packed: torch.Tensor) -> torch.Tensor:
    """(..., n/2) bytes -> (..., n) codes, the inverse of pack_codes."""
    return torch.stack([packed & 0x0F, packed >> 4], dim=-1).flatten(-2)


def effective_group(in_features: int, group: int) -> int:
    """The group a row of `in_features` uses: `group`, or the whole row when the row is shorter."""
    if group not in GROUP_SIZES:
        raise LabError(f"int4 group size {group} is not offered", hint=f"use one of {GROUP_SIZES}")
    size = min(group, in_features)
    if in_features % size or size % 2:
        raise LabError(f"a row of {in_features} weights does not split into groups of {size}",
                       hint="leave this layer float (skip=...) or pick a group size that divides it")
    return size


def dequantize_int4(weight: Int4Weight, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Ŵ (out, in) in `dtype`: d (q - 8) or d q + min, per group (then each column j / s_j, for AWQ)."""
    codes = unpack_codes(weight.packed)                                       # (out, in)
    out, n = codes.shape
    grouped = codes.reshape(out, n // weight.group, weight.group).to(dtype)   # (out, G, group)
    scale = weight.scale.to(dtype)[..., None]
    if weight.symmetric:
        values = (grouped - 8) * scale
    else:
        values = grouped * scale + weight.minimum.to(dtype)[..., None]
    values = values.reshape(out, n)
    return values if weight.input_scale is None else values / weight.input_scale.to(dtype)


def quantize_int4(weight: torch.Tensor, group: int = 32, symmetric: bool = True) -> Int4Weight:
    """Round-to-nearest int4 of a (out, in) float weight, groups of `group` along each row."""
    w = weight.detach().float()
    out, n = w.shape
    size = effective_group(n, group)
    grouped = w.reshape(out, n // size, size)                                  # (out, G, group)
    d, low = group_params(grouped, symmetric)
    codes = quantize_codes(grouped, d, low).reshape(out, n)
    return Int4Weight(pack_codes(codes), d.half(), None if low is None else low.half(), size)


class Int4Linear(nn.Module):
    """y = x Ŵᵀ + b with Ŵ held as packed int4 codes and fp16 group scales: a drop-in nn.Linear."""

    def __init__(self, weight: Int4Weight, bias: torch.Tensor | None):
        super().__init__()
        self.out_features, self.in_features = weight.packed.shape[0], weight.packed.shape[1] * 2
        self.group = weight.group
        self.register_buffer("packed", weight.packed.contiguous())
        self.register_buffer("scale", weight.scale.contiguous())
        self.register_buffer("minimum", None if weight.minimum is None else weight.minimum.contiguous())
        self.register_buffer("input_scale", weight.input_scale)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    def int4_weight(self) -> Int4Weight:
        return Int4Weight(self.packed, self.scale, self.minimum, self.group, self.input_scale)

    def dequantized_weight(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize_int4(self.int4_weight(), dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # dequantise on the fly: only the packed codes live between calls, the float weight lasts one matmul
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.dequantized_weight(x.dtype), bias)

    def extra_repr(self) -> str:
        kind = "sym" if self.minimum is None else "asym"
        return f"in_features={self.in_features}, out_features={self.out_features}, group={self.group}, {kind}"


def linear_weight(module: nn.Module) -> torch.Tensor:
    """The (out, in) weight of an nn.Linear or a GPT-2 Conv1D (which stores it as (in, out))."""
    weight = module.weight.detach()
    return weight if isinstance(module, nn.Linear) else weight.t()


def int4_targets(model: nn.Module, lm_head: bool = False, skip: str | None = None) -> dict[str, nn.Module]:
    """The Linear/Conv1D layers quantize_model_int4 replaces, by name, in model order (the head if asked)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return {name: m for name, m in model.named_modules()
            if name and is_linear(m) and (lm_head or m is not head) and not (skip and re.search(skip, name))}


@torch.no_grad()
def quantize_model_int4(model: nn.Module, group: int = 32, symmetric: bool = True, lm_head: bool = False,
                        skip: str | None = None, weights: dict[str, Int4Weight] | None = None) -> QuantReport:
    """Replace the model's Linear/Conv1D layers by Int4Linear in place (round to nearest, or the given
    `weights` by layer name, e.g. from gptq.py) and report each layer's weight error. Layers whose rows do not
    split into groups stay float and are listed in kept_float."""
    report = QuantReport(bytes_before=weight_bytes(model))
    targets = int4_targets(model, lm_head, skip)
    report.kept_float = [name for name, m in model.named_modules()
                         if name and is_linear(m) and name not in targets]
    for name, module in targets.items():
        weight = linear_weight(module).float()
        try:
            q = (weights or {}).get(name) or quantize_int4(weight, group, symmetric)
        except LabError:
            report.kept_float.append(name)          # e.g. an odd width: this layer keeps its float weight
            continue
        error = weight - dequantize_int4(q)
        report.layers.append(LayerReport(name, tuple(weight.shape), float(error.abs().max()),
                                         float(error.norm() / weight.norm().clamp_min(1e-12))))
        replace_module(model, name, Int4Linear(q, module.bias))
    if lm_head and getattr(getattr(model, "config", None), "tie_word_embeddings", False):
        model.config.tie_word_embeddings = False      # the head is its own int4 copy now
    report.bytes_after = weight_bytes(model)
    return report

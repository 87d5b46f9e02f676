"""Weight-only int8 quantisation of any Hugging Face causal LM: every nn.Linear (and GPT-2's Conv1D) becomes
an `Int8Linear` in place; embeddings and the LM head stay float unless asked.  `quantize_model(model)`.

For output channel i of a weight W (out, in) the scale is symmetric and per channel:

    s_i = max_j |W_ij| / 127,     q_ij = clamp(round(W_ij / s_i), -127, 127)  in int8,     Ŵ_ij = s_i q_ij

so every weight is off by at most half a step, |W_ij - Ŵ_ij| <= s_i / 2, and the layer's output y = x Ŵᵀ + b
differs from the float layer's by at most |y_i - ŷ_i| <= (s_i / 2) Σ_j |x_j| (the per-layer bound the tests
check).
Activations stay float ("weight-only", W8A16/W8A32): only the weights shrink, 4x against fp32.

Two kernels compute x Ŵᵀ (see benchmarks/chat.py for which is faster where):
- "dequant":  Ŵ = q * s materialised in x's dtype, then F.linear — exact fp32 arithmetic, slow on CPU because
  it rebuilds the float weight on every call;
- "int8pack": torch's weight-only int8 matmul (`aten._weight_int8pack_mm`, what torchao uses) on bf16
  activations — reads int8 weights directly; the bf16 rounding of x and y adds ~0.4% relative error on top of
  the bound above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from llmlab.errors import LabError

KERNELS = ("dequant", "int8pack")
QMAX = 127          # symmetric: -128 is never used, so q and -q are both representable


def quantize_weight(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, in) float weight -> (int8 q (out, in), float32 scale (out,)) with per-row symmetric scales."""
    w = weight.detach().float()
    scale = w.abs().amax(dim=1) / QMAX                         # (out,)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))   # an all-zero row: any scale gives q = 0
    q = torch.clamp(torch.round(w / scale[:, None]), -QMAX, QMAX).to(torch.int8)
    return q, scale


def dequantize_weight(q: torch.Tensor, scale: torch.Tensor,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """int8 q (out, in) and scale (out,) -> Ŵ = s_i q_ij (out, in) in `dtype`."""
    return q.to(dtype) * scale.to(dtype)[:, None]


def int8pack_supported(in_features: int) -> bool:
    """`_weight_int8pack_mm` needs in_features % 8 == 0 on CPU (other widths crash inside the kernel)."""
    return hasattr(torch.ops.aten, "_weight_int8pack_mm") and in_features % 8 == 0


class Int8Linear(nn.Module):
    """y = x Ŵᵀ + b, Ŵ = diag(s) q stored as int8 q (out, in) and float32 s (out,): a drop-in nn.Linear."""

    def __init__(self, qweight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None,
                 kernel: str = "int8pack"):
        super().__init__()
        if kernel not in KERNELS:
            raise LabError(f"unknown int8 kernel {kernel!r}", hint=f"use one of {', '.join(KERNELS)}")
        self.out_features, self.in_features = qweight.shape
        self.register_buffer("qweight", qweight.contiguous())
        self.register_buffer("scale", scale.float().contiguous())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        # the fast kernel when this layer's shape allows it, else the exact one
        self.kernel = kernel if kernel == "dequant" or int8pack_supported(self.in_features) else "dequant"

    @classmethod
    def from_float(cls, layer: nn.Module, kernel: str = "int8pack") -> Int8Linear:
        """From an nn.Linear (weight (out, in)) or a GPT-2 Conv1D (weight (in, out): y = x W + b)."""
        weight = layer.weight.detach()
        if not isinstance(layer, nn.Linear):                  # Conv1D keeps its weight transposed
            weight = weight.t()
        q, s = quantize_weight(weight)
        return cls(q, s, layer.bias, kernel)

    def dequantized_weight(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize_weight(self.qweight, self.scale, dtype)     # (out, in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel == "dequant" or x.device.type != "cpu":
            bias = None if self.bias is None else self.bias.to(x.dtype)
            return F.linear(x, self.dequantized_weight(x.dtype), bias)
        shape = x.shape[:-1]
        flat = x.reshape(-1, self.in_features).to(torch.bfloat16).contiguous()      # (N, in)
        y = torch.ops.aten._weight_int8pack_mm(flat, self.qweight, self.scale.to(torch.bfloat16)).to(x.dtype)
        if self.bias is not None:
            y = y + self.bias.to(x.dtype)
        return y.reshape(*shape, self.out_features)                             # (..., out)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, kernel={self.kernel}"


class Int8Embedding(nn.Module):
    """An nn.Embedding whose rows are int8 with one scale per row (per token): E_t = s_t q_t."""

    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        q, s = quantize_weight(embedding.weight)
        self.register_buffer("qweight", q)
        self.register_buffer("scale", s)
        self.padding_idx = embedding.padding_idx
        self.num_embeddings, self.embedding_dim = q.shape

    @property
    def weight(self) -> torch.Tensor:      # some models read .weight (to tie or resize): the float view
        return self.qweight.float() * self.scale[:, None]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.qweight[ids].float() * self.scale[ids].unsqueeze(-1)        # (..., dim)


@dataclass
class LayerReport:
    name: str
    shape: tuple[int, int]                 # (out, in)
    max_weight_error: float                # max |W - Ŵ|
    relative_error: float                  # ||W - Ŵ||_F / ||W||_F


@dataclass
class QuantReport:
    layers: list[LayerReport] = field(default_factory=list)
    kept_float: list[str] = field(default_factory=list)
    bytes_before: int = 0
    bytes_after: int = 0

    @property
    def compression(self) -> float:
        return self.bytes_before / max(self.bytes_after, 1)

    def as_dict(self) -> dict:
        worst = max(self.layers, key=lambda r: r.relative_error) if self.layers else None
        return {"layers_quantized": len(self.layers), "kept_float": self.kept_float,
                "weight_bytes_before": self.bytes_before, "weight_bytes_after": self.bytes_after,
                "compression": round(self.compression, 3),
                "worst_layer": worst.name if worst else None,
                "worst_relative_error": worst.relative_error if worst else None}


def weight_bytes(model: nn.Module) -> int:
    """Bytes of every parameter and buffer, counting tied (shared) tensors once."""
    seen, total = set(), 0
    for t in list(model.parameters()) + list(model.buffers()):
        key = (t.untyped_storage().data_ptr(), t.dtype)
        if key in seen:
            continue
        seen.add(key)
        total += t.numel() * t.element_size()
    return total


def _is_conv1d(module: nn.Module) -> bool:
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")    # transformers.pytorch_utils.Conv1D


def is_linear(module: nn.Module) -> bool:
    """An nn.Linear or a GPT-2 Conv1D: the layers weight-only quantisation replaces."""
    return isinstance(module, nn.Linear) or _is_conv1d(module)


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put `new` where the submodule called `name` (e.g. "transformer.h.0.mlp.c_fc") was."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def _head_names(model: nn.Module) -> set[str]:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return {name for name, m in model.named_modules() if head is not None and m is head}


@torch.no_grad()
def quantize_model(model: nn.Module, kernel: str = "int8pack", lm_head: bool = False,
                   embeddings: bool = False, skip: str | None = None) -> QuantReport:
    """Replace the model's Linear/Conv1D layers by Int8Linear in place and report each layer's weight error.

    `lm_head` / `embeddings` also quantise the output head and the input embeddings (off by default: they are
    the layers most sensitive to rounding, and GPT-2 ties them, so int8 would hold a second copy). `skip` is
    a regular expression of module names to leave float (e.g. "attn").
    """
    if kernel not in KERNELS:
        raise LabError(f"unknown int8 kernel {kernel!r}", hint=f"use one of {', '.join(KERNELS)}")
    report = QuantReport(bytes_before=weight_bytes(model))
    heads = _head_names(model)
    targets = []
    for name, module in model.named_modules():
        is_embedding = isinstance(module, nn.Embedding)
        if not (is_linear(module) or is_embedding) or not name:
            continue
        keep = ((name in heads and not lm_head) or (is_embedding and not embeddings)
                or (skip is not None and re.search(skip, name)))
        if keep:
            report.kept_float.append(name)
        else:
            targets.append((name, module, is_embedding))
    for name, module, is_embedding in targets:
        new = Int8Embedding(module) if is_embedding else Int8Linear.from_float(module, kernel)
        weight = module.weight.detach().float()
        weight = weight if is_embedding or isinstance(module, nn.Linear) else weight.t()
        error = weight - new.qweight.float() * new.scale[:, None]
        report.layers.append(LayerReport(name, tuple(new.qweight.shape), float(error.abs().max()),
                                         float(error.norm() / weight.norm().clamp_min(1e-12))))
        replace_module(model, name, new)
    if lm_head and getattr(getattr(model, "config", None), "tie_word_embeddings", False):
        model.config.tie_word_embeddings = False      # the head is its own int8 copy now
    report.bytes_after = weight_bytes(model)
    return report


def int8_layers(model: nn.Module) -> dict[str, Int8Linear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, Int8Linear)}

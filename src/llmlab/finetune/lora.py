"""LoRA from scratch: a low-rank update wrapped around GPT-2's Conv1D or any nn.Linear, equal to PEFT's.

    wrapped = add_lora(model, ["c_attn", "c_proj"], r=8, alpha=16, dropout=0.05)   # only LoRA trains now
    merge_lora(model); unmerge_lora(model)      # fold B A into W and back
    plain = strip_lora(model)                   # merged, wrappers removed: a plain HF model to
    save_pretrained

The update (Hu et al. 2021), for a frozen layer y = W x + b with W: (out, in):

    y = W x + b + (alpha / r) * B A dropout(x)        A: (r, in), B: (out, r)

A starts Kaiming-uniform (a = sqrt(5), as nn.Linear and PEFT), B starts at zero, so the wrapped model
begins exactly equal to the base one. Merging sets W' = W + (alpha / r) B A (transposed for Conv1D,
whose weight is stored (in, out) and computes y = x W + b); unmerging subtracts it again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from llmlab.errors import LabError


def _is_conv1d(layer: nn.Module) -> bool:
    """GPT-2's Conv1D (transformers.pytorch_utils): a linear layer whose weight is (in, out)."""
    return type(layer).__name__ == "Conv1D" and hasattr(layer, "nf")


def layer_shape(layer: nn.Module) -> tuple[int, int]:
    """(in_features, out_features) of an nn.Linear or a Conv1D."""
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    if _is_conv1d(layer):
        n_in, n_out = layer.weight.shape          # Conv1D stores (in, out)
        return n_in, n_out
    raise LabError(f"LoRA wraps nn.Linear or GPT-2's Conv1D, not {type(layer).__name__}",
                   hint="choose target modules that are linear layers (for GPT-2: c_attn, c_proj, c_fc)")


class LoRALinear(nn.Module):
    """y = base(x) + (alpha / r) * B A dropout(x); the base layer is frozen, A and B train."""

    def __init__(self, base: nn.Module, r: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if r < 1:
            raise LabError(f"LoRA rank r must be >= 1, got {r}", hint="--set r=8")
        n_in, n_out = layer_shape(base)
        self.base, self.r, self.alpha = base, int(r), float(alpha)
        self.scaling = self.alpha / self.r
        self.fan_in_fan_out = _is_conv1d(base)
        for p in self.base.parameters():
            p.requires_grad_(False)
        weight = base.weight
        self.lora_A = nn.Parameter(torch.empty(self.r, n_in, dtype=weight.dtype, device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(n_out, self.r, dtype=weight.dtype, device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """(alpha / r) B A, shaped like the base weight: (out, in) for Linear, (in, out) for Conv1D."""
        delta = (self.lora_B @ self.lora_A) * self.scaling             # (out, in)
        return delta.T if self.fan_in_fan_out else delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)                                             # (..., out)
        if self.merged:
            return out
        # two thin matmuls, never the (out, in) product: (..., in) -> (..., r) -> (..., out)
        update = F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)
        return out + update * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.base.weight += self.delta_weight().to(self.base.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, conv1d={self.fan_in_fan_out}"


def _matches(name: str, targets: Sequence[str]) -> bool:
    # PEFT's rule for a list of names: the module's full name is a target or ends with ".<target>"
    return any(name == t or name.endswith("." + t) for t in targets)


def add_lora(model: nn.Module, targets: Sequence[str], r: int = 8, alpha: float = 16.0,
             dropout: float = 0.0) -> list[str]:
    """Wrap every target layer in a LoRALinear (in named_modules order) and freeze everything else."""
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, m in model.named_modules() if n and _matches(n, targets) and not isinstance(m,
                                                                                                  LoRALinear)]
    if not names:
        found = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                        if isinstance(m, nn.Linear) or _is_conv1d(m)})
        raise LabError(f"no module of the model matches the LoRA targets {list(targets)}",
                       hint="this model's linear layers are called: " + ", ".join(found))
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha, dropout))
    return names


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def merge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.unmerge()


def strip_lora(model: nn.Module) -> nn.Module:
    """Merge every LoRALinear into its base layer and put the base layer back: a plain model again."""
    for name, layer in lora_layers(model).items():
        layer.merge()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer.base)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def trainable_parameters(model: nn.Module) -> dict[str, int | float]:
    """Trainable and total parameter counts (shared tensors counted once) and the trainable share."""
    seen: dict[int, nn.Parameter] = {}
    for p in model.parameters():
        seen.setdefault(id(p), p)
    total = sum(p.numel() for p in seen.values())
    trainable = sum(p.numel() for p in seen.values() if p.requires_grad)
    return {"trainable_params": trainable, "total_params": total,
            "trainable_share": round(trainable / total, 6) if total else 0.0}

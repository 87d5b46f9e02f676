"""The proof that llmlab's LoRA is PEFT's LoRA: same weights in -> same outputs, gradients, merges, losses.

    report = lora_peft_parity(base_model, targets=["c_attn", "c_proj"], r=4, alpha=8, dropout=0.1)
    report["passed"]     # every difference below its tolerance; report["max_abs_diff"] holds the figures

Two deep copies of one base model get LoRA: one through PEFT's `get_peft_model`, one through `add_lora`.
PEFT's A and B (B made non-zero, or the gradient of A would be zero and prove nothing) are copied into
ours; then both see the same batches under the same dropout seeds. Float32 throughout, tolerances below.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from llmlab.finetune.lora import LoRALinear, add_lora, lora_layers, merge_lora, unmerge_lora

# float32 on a CPU: the two paths run the same ops in the same order, so differences are rounding at most
TOLERANCE = {"forward": 1e-5, "grad_A": 1e-6, "grad_B": 1e-6, "merged_weights": 1e-6,
             "unmerge_roundtrip": 1e-6, "losses": 1e-5}


def peft_lora_config(model: nn.Module, targets: Sequence[str], r: int, alpha: float, dropout: float) -> Any:
    """PEFT's LoraConfig for these targets; fan_in_fan_out for GPT-2's Conv1D layers (weights stored (in,
    out))."""
    from peft import LoraConfig

    # a layer already wrapped by add_lora (saving our adapter) is judged by the layer inside it
    conv1d = any(type(getattr(m, "base", m)).__name__ == "Conv1D" for n, m in model.named_modules()
                 if any(n == t or n.endswith("." + t) for t in targets))
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets),
                      fan_in_fan_out=conv1d, bias="none", task_type="CAUSAL_LM")


def peft_layers(peft_model: nn.Module) -> dict[str, nn.Module]:
    """PEFT's LoRA layers by their name inside the wrapped HF model (the names add_lora uses)."""
    inner = peft_model.base_model.model
    return {n: m for n, m in inner.named_modules() if hasattr(m, "lora_A") and "default" in getattr(m,
                                                                                                    "lora_A",
                                                                                                    {})}


@torch.no_grad()
def copy_peft_into_scratch(peft_model: nn.Module, model: nn.Module) -> int:
    """Copy every PEFT adapter's A and B into the matching LoRALinear; returns how many layers."""
    ours, theirs = lora_layers(model), peft_layers(peft_model)
    if set(ours) != set(theirs):
        raise ValueError(f"LoRA layers differ: only ours {sorted(set(ours) - set(theirs))[:3]}, "
                         f"only PEFT's {sorted(set(theirs) - set(ours))[:3]}")
    for name, layer in ours.items():
        layer.lora_A.copy_(theirs[name].lora_A["default"].weight)     # (r, in)
        layer.lora_B.copy_(theirs[name].lora_B["default"].weight)     # (out, r)
    return len(ours)


def _loss(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    return model(input_ids=ids, labels=ids, use_cache=False).loss


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().float() - b.detach().float()).abs().max())


def lora_peft_parity(base: nn.Module, targets: Sequence[str], r: int = 4, alpha: float = 8.0,
                     dropout: float = 0.1, batches: Sequence[torch.Tensor] | None = None, steps: int = 5,
                     lr: float = 1e-2, seed: int = 0) -> dict[str, Any]:
    """Compare llmlab's LoRA with PEFT's on copies of `base`; `batches`: (B, T) id tensors (random if
    None)."""
    from peft import get_peft_model

    torch.manual_seed(seed)
    base = base.float()
    if batches is None:
        vocab = base.config.vocab_size
        batches = [torch.randint(0, vocab, (2, 16)) for _ in range(steps)]
    peft_model = get_peft_model(copy.deepcopy(base), peft_lora_config(base, targets, r, alpha, dropout))
    with torch.no_grad():   # B = 0 would make A's gradient zero: give both factors values
        for layer in peft_layers(peft_model).values():
            layer.lora_B["default"].weight.normal_(0.0, 0.02)
    ours = copy.deepcopy(base)
    add_lora(ours, targets, r, alpha, dropout)
    layers = copy_peft_into_scratch(peft_model, ours)
    diffs: dict[str, float] = {}

    # 1. forward (train mode: dropout on, the same masks from the same seed) and 2. gradients of A and B
    peft_model.train(), ours.train()
    torch.manual_seed(seed + 1)
    loss_peft = _loss(peft_model, batches[0])
    torch.manual_seed(seed + 1)
    loss_ours = _loss(ours, batches[0])
    loss_peft.backward(), loss_ours.backward()
    diffs["forward"] = abs(loss_peft.item() - loss_ours.item())
    peft_model.eval(), ours.eval()
    with torch.no_grad():
        logits_peft = peft_model(input_ids=batches[0]).logits
        diffs["forward"] = max(diffs["forward"], _max_diff(logits_peft, ours(input_ids=batches[0]).logits))
    theirs = peft_layers(peft_model)
    diffs["grad_A"] = max(_max_diff(m.lora_A.grad, theirs[n].lora_A["default"].weight.grad)
                          for n, m in lora_layers(ours).items())
    diffs["grad_B"] = max(_max_diff(m.lora_B.grad, theirs[n].lora_B["default"].weight.grad)
                          for n, m in lora_layers(ours).items())
    grad_A_norm = sum(float(m.lora_A.grad.norm()) for m in lora_layers(ours).values())
    peft_model.zero_grad(set_to_none=True), ours.zero_grad(set_to_none=True)

    # 3. N optimizer steps on the same batches with the same dropout seeds: the same losses
    losses_peft = _train(peft_model, batches, steps, lr, seed)
    losses_ours = _train(ours, batches, steps, lr, seed)
    diffs["losses"] = max(abs(a - b) for a, b in zip(losses_peft, losses_ours, strict=True))

    # 4. merge: ours (W + (alpha/r) B A) equals PEFT's merge_and_unload, and unmerge gives W back
    before = {n: m.base.weight.detach().clone() for n, m in lora_layers(ours).items()}
    merge_lora(ours)
    merged_peft = dict(peft_model.merge_and_unload().named_parameters())
    diffs["merged_weights"] = max(_max_diff(m.base.weight, merged_peft[n + ".weight"])
                                  for n, m in lora_layers(ours).items())
    unmerge_lora(ours)
    diffs["unmerge_roundtrip"] = max(_max_diff(m.base.weight, before[n]) for n,
                                     m in lora_layers(ours).items())

    passed = {k: diffs[k] <= TOLERANCE[k] for k in diffs}
    return {"passed": all(passed.values()), "checks": passed, "max_abs_diff": diffs, "tolerance": TOLERANCE,
            "layers": layers, "steps": steps, "losses_ours": losses_ours, "losses_peft": losses_peft,
            "grad_A_norm": grad_A_norm}


def _train(model: nn.Module, batches: Sequence[torch.Tensor], steps: int, lr: float,
           seed: int) -> list[float]:
    """Plain AdamW steps; parameters in named order (both models list A, B per layer in module order)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for step in range(steps):
        torch.manual_seed(seed + 100 + step)      # the same dropout masks in both models
        loss = _loss(model, batches[step % len(batches)])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses


__all__ = ["TOLERANCE", "LoRALinear", "copy_peft_into_scratch", "lora_peft_parity", "peft_lora_config"]

"""FLOPs per token and the accelerator's peak, for model FLOPs utilisation (MFU).

    flops/token = 6 N + 12 L d T     (N: parameters without position embeddings; forward + backward;
                                      the second term is attention's QK^T and AV, per PaLM's appendix B)
    MFU = flops/token * tokens/s / (peak FLOP/s of the card * processes)
Peaks are the dense bf16 tensor-core figures from each vendor's data sheet; unknown devices give None
and no MFU is reported rather than a made-up one.
"""

from __future__ import annotations

import torch

# name fragment (as torch.cuda.get_device_name shows it) -> dense bf16 FLOP/s
PEAK_BF16 = [
    ("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("GH200", 989e12),
    ("A100", 312e12), ("A10G", 70e12), ("A10", 125e12), ("L40S", 362e12), ("L4", 121e12),
    ("RTX 4090", 165e12), ("RTX 3090", 71e12), ("V100", 125e12), ("T4", 65e12),
]


def device_peak_flops(device: torch.device | str) -> tuple[float | None, str]:
    """(peak dense bf16 FLOP/s, device name) or (None, name) when the card is not in the table."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None, device.type
    name = torch.cuda.get_device_name(device)
    for fragment, peak in PEAK_BF16:
        if fragment in name:
            return peak, name
    return None, name


def count_params(model: torch.nn.Module, exclude_position_embeddings: bool = True) -> int:
    """Distinct parameters (tied weights once); learned position tables left out, as nanoGPT does."""
    seen, total = set(), 0
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if exclude_position_embeddings and name.endswith(("wpe.weight", "position_embeddings.weight")):
            continue
        total += p.numel()
    return total


def flops_per_token(model: torch.nn.Module, seq_len: int) -> float:
    """Training FLOPs per token: 6N for any model, plus the attention term for transformers with a config."""
    n = count_params(model)
    cfg = getattr(model, "config", None)
    layers = getattr(cfg, "n_layer", None) or getattr(cfg, "num_hidden_layers", None)
    width = getattr(cfg, "n_embd", None) or getattr(cfg, "hidden_size", None)
    attention = 12 * layers * width * seq_len if layers and width else 0
    return float(6 * n + attention)

"""Attention probabilities taken out of an HF model with forward hooks: what `output_attentions=True` does
inside transformers, written out.

    probs = capture_attention(model, ids)          # (L, B, H, T, T) float32, one (B, H, T, T) per attention
    module

`HFAttentionModel` asks transformers for the same arrays (`output_attentions=True`, which knows each
architecture's output layout); this is the mechanism under it, for a reader and for the hook exercise of
`llmlab learn`. Covers models whose attention modules return (output, weights), as GPT-2, Llama and Qwen do
under eager attention.
"""

from __future__ import annotations

import numpy as np

from llmlab.errors import LabError


def attention_modules(model) -> list:
    """Every self-attention module of an HF causal LM, first layer first (GPT2Attention, LlamaAttention,
    ...)."""
    found = [m for _, m in model.named_modules() if type(m).__name__.endswith("Attention")]
    if not found:
        raise LabError(f"{type(model).__name__} has no module named *Attention",
                       hint="hooks need the model's attention modules; GPT-2, Llama and Qwen models have "
                            "them")
    return found


def capture_attention(model, ids) -> np.ndarray:
    """(L, B, H, T, T) attention probabilities of `model` on ids (B, T), read by a forward hook on each
    attention module: under eager attention the module returns (output, P) with P = softmax(q kᵀ/√d + mask)
    (B, H, T, T)."""
    import torch

    modules = attention_modules(model)
    seen: list = [None] * len(modules)

    def hook_for(i):
        def hook(module, args, output):
            seen[i] = output[1].detach()               # (B, H, T, T): the probabilities, after the softmax
        return hook

    previous = model.config._attn_implementation
    # fused SDPA / flash kernels never form P: output[1] is None
    if previous != "eager":
        model.set_attn_implementation("eager")
    handles = [m.register_forward_hook(hook_for(i)) for i, m in enumerate(modules)]
    try:
        with torch.no_grad():
            model(input_ids=torch.as_tensor(np.asarray(ids), device=next(model.parameters()).device),
                  use_cache=False)
    finally:                                           # a hook left behind would run on every later forward
        for handle in handles:
            handle.remove()
        if previous != "eager":
            model.set_attn_implementation(previous)
    return np.stack([p.float().cpu().numpy() for p in seen])

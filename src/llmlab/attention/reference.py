"""Attention recomputed by hand from a model's weights, to check a capture against: P = softmax(q kᵀ/√d +
mask).

    probs = recompute_attention(model, ids)          # (L, B, H, T, T) float64, GPT-2 and Llama families

Only each attention module's input (the normed hidden state x) is taken from the model, through a forward
pre-hook; q and k are rebuilt from the weights: GPT-2 q|k|v = x W + b (Conv1D), Llama q = x W_qᵀ and k = x
W_kᵀ rotated by RoPE (θ_i = base^(-2i/d), rotate-half layout) with the K heads repeated for grouped queries.
"""

from __future__ import annotations

import numpy as np

from llmlab.errors import LabError


def _softmax_causal(scores: np.ndarray) -> np.ndarray:
    """scores (B, H, T, T) -> probabilities with every future key masked out."""
    t = scores.shape[-1]
    scores = np.where(np.triu(np.ones((t, t), dtype=bool), k=1), -np.inf, scores)
    scores = scores - scores.max(-1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(-1, keepdims=True)


def _heads(x: np.ndarray, n: int) -> np.ndarray:
    """(B, T, n*d) -> (B, n, T, d)."""
    b, t, c = x.shape
    return x.reshape(b, t, n, c // n).transpose(0, 2, 1, 3)


def _rope(x: np.ndarray, base: float) -> np.ndarray:
    """Rotary position embedding of x (B, H, T, d), positions 0..T-1, halves rotated as in Llama."""
    t, d = x.shape[-2:]
    inv_freq = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)           # (d/2,)
    angles = np.arange(t, dtype=np.float64)[:, None] * inv_freq[None, :]     # (T, d/2)
    cos, sin = np.cos(np.concatenate([angles, angles], -1)), np.sin(np.concatenate([angles, angles], -1))
    half = d // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


def _attention_inputs(model, modules, ids) -> list[np.ndarray]:
    """The hidden state entering each attention module (B, T, C), as float64."""
    import torch

    seen: list[np.ndarray] = [None] * len(modules)

    def hook_for(i):
        def hook(module, args, kwargs):
            x = args[0] if args else kwargs["hidden_states"]
            seen[i] = x.detach().double().cpu().numpy()
        return hook

    handles = [m.register_forward_pre_hook(hook_for(i), with_kwargs=True) for i, m in enumerate(modules)]
    try:
        with torch.no_grad():
            model(input_ids=torch.as_tensor(np.asarray(ids)), use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return seen


def _w(t) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def recompute_attention(model, ids) -> np.ndarray:
    """(L, B, H, T, T) attention probabilities of `model` on ids (B, T), rebuilt from its weights."""
    cfg = model.config
    if cfg.model_type == "gpt2":
        blocks = model.transformer.h
        xs = _attention_inputs(model, [b.attn for b in blocks], ids)
        out = []
        for i, (block, x) in enumerate(zip(blocks, xs, strict=True)):
            qkv = x @ _w(block.attn.c_attn.weight) + _w(block.attn.c_attn.bias)     # (B, T, 3C)
            q, k, _ = np.split(qkv, 3, axis=-1)
            q, k = _heads(q, cfg.n_head), _heads(k, cfg.n_head)                   # (B, H, T, hs)
            scale = q.shape[-1] ** -0.5 if cfg.scale_attn_weights else 1.0
            if cfg.scale_attn_by_inverse_layer_idx:
                scale /= i + 1
            out.append(_softmax_causal(q @ k.swapaxes(-1, -2) * scale))
        return np.stack(out)
    if cfg.model_type == "llama":
        layers = model.model.layers
        xs = _attention_inputs(model, [layer.self_attn for layer in layers], ids)
        n_q, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        base = (cfg.rope_parameters or {}).get("rope_theta", 10000.0)
        if (cfg.rope_parameters or {}).get("rope_type", "default") != "default":
            raise LabError("only the default RoPE is recomputed here",
                           hint="use a model without rope scaling")
        out = []
        for layer, x in zip(layers, xs, strict=True):
            att = layer.self_attn
            q = x @ _w(att.q_proj.weight).T + (_w(att.q_proj.bias) if att.q_proj.bias is not None else 0.0)
            k = x @ _w(att.k_proj.weight).T + (_w(att.k_proj.bias) if att.k_proj.bias is not None else 0.0)
            q, k = _rope(_heads(q, n_q), base), _rope(_heads(k, n_kv), base)        # (B, Hq|Hkv, T, d)
            # query head h reads K head h // group
            k = np.repeat(k, n_q // n_kv, axis=1)
            out.append(_softmax_causal(q @ k.swapaxes(-1, -2) * q.shape[-1] ** -0.5))
        return np.stack(out)
    raise LabError(f"no hand recomputation for model type {cfg.model_type!r}",
                   hint="gpt2 and llama are covered")

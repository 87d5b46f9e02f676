"""How much a later head reads what an earlier head wrote: the composition scores of Elhage et al. (2021).

    k = k_composition(model, earlier_layer=0, later_layer=1)     # (H_later, H_earlier)

With row vectors, head h writes x W_OV,h into the residual stream (W_OV = W_V W_O, d x d) and scores a key x_k
for a query x_q as x_q W_QK x_kᵀ (W_QK = W_Q W_Kᵀ, d x d). If the key side reads the earlier head's output,
x_q W_QK (x W_OV)ᵀ = x_q (W_QK W_OVᵀ) xᵀ, and K-composition is how much of that product survives:
    K(h2 <- h1) = ||W_QK,h2 W_OV,h1ᵀ||_F / (||W_QK,h2||_F ||W_OV,h1||_F)
Unrelated random matrices give about 1/√d; an induction head's query-key circuit reading its previous-token
head's output gives clearly more. The input norm's weight γ is folded into W_Q, W_K and W_V; rotary positions
are left out (they rotate q and k by the positions' difference, which the plain product ignores; the standard
simplification). GPT-2 (fused c_attn) and Llama-style models (q/k/v_proj, grouped K/V heads) are read.
"""

from __future__ import annotations

import numpy as np

from llmlab.attention.components import model_parts
from llmlab.errors import LabError


def head_matrices(model, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """(W_QK (H, d, d), W_OV (H, d, d)) of one layer, with the input norm's γ folded in."""
    import torch

    parts = model_parts(model)
    block, attn = parts.blocks[layer], parts.attn[layer]
    norm = getattr(block, "ln_1", None) or getattr(block, "input_layernorm", None)
    d, H, dh = model.config.hidden_size, parts.n_heads, parts.head_dim
    with torch.no_grad():
        gamma = norm.weight.double() if norm is not None else torch.ones(d, dtype=torch.float64)
        if hasattr(attn, "c_attn"):  # GPT-2: Conv1D (d, 3d) = [q | k | v]
            wq, wk, wv = attn.c_attn.weight.double().split(d, dim=1)
            n_kv = H
        elif hasattr(attn, "q_proj"):  # Llama: Linear (out, in)
            wq, wk, wv = (getattr(attn, f"{n}_proj").weight.double().T for n in "qkv")
            n_kv = wk.shape[1] // dh
        else:
            raise LabError(
                f"{type(attn).__name__}: cannot find its query, key and value weights",
                hint="composition scores read GPT-2 (c_attn) and Llama-style (q/k/v_proj) models",
            )
        wq, wk, wv = (gamma[:, None] * w for w in (wq, wk, wv))  # (d, ·): x ⊙ γ then the projection
        wo, _ = parts.head_weights(layer)  # (H, dh, d)
        group = H // n_kv  # query heads per K/V head
        qk, ov = [], []
        for h in range(H):
            q = wq[:, h * dh : (h + 1) * dh]
            kv = slice((h // group) * dh, (h // group + 1) * dh)
            qk.append(q @ wk[:, kv].T)  # (d, d)
            ov.append(wv[:, kv] @ wo[h].double())  # (d, d)
    return torch.stack(qk).numpy(), torch.stack(ov).numpy()


def k_composition(model, earlier_layer: int, later_layer: int) -> np.ndarray:
    """(H_later, H_earlier) K-composition scores of every later head reading every earlier head."""
    qk, _ = head_matrices(model, later_layer)
    _, ov = head_matrices(model, earlier_layer)
    scores = np.zeros((len(qk), len(ov)))
    for i, a in enumerate(qk):
        for j, b in enumerate(ov):
            scores[i, j] = np.linalg.norm(a @ b.T) / (np.linalg.norm(a) * np.linalg.norm(b))
    return scores

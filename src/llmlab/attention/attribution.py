"""Direct logit attribution: how much each head, each MLP and the embedding add to one logit, directly
(through the unembedding, not through later layers).

    dla = direct_logit_attribution(model, ids, token=id_of_answer, position=-1)
    dla["heads"]    # (L, H);  dla["mlp"] (L,);  dla["embed"];  dla["total"] == the model's logit

The final residual is a sum x = embed + Σ_l (Σ_h head[l, h] + attn_bias[l] + mlp[l]), and the logit of
token k is norm(x) · u_k + b_k (u_k the unembedding row). The norm is not linear, but with its scale frozen
at the value it takes on the whole x (as the literature does: Elhage et al. 2021, TransformerLens'
`apply_ln_to_stack`) it is, per component c:
    LayerNorm (GPT-2)   (c - mean(c)) · s · γ · u_k,   s = 1 / sqrt(var(x) + eps)   (β · u_k + b_k: own term)
    RMSNorm (Llama)     c · s · γ · u_k,               s = 1 / sqrt(mean(x²) + eps)
so the terms sum to the real logit exactly (up to float rounding), which the tests check. With a `wrong`
token the target is the logit difference k - wrong, through u_k - u_wrong.
"""

from __future__ import annotations

import numpy as np

from llmlab.attention.components import head_outputs, model_parts, run_with_trace
from llmlab.errors import LabError


def _norm_terms(norm, x):
    """(scale s, centre: bool, weight γ, bias β or None) of the final norm at the residual x (d,)."""
    import torch

    if isinstance(norm, torch.nn.LayerNorm):
        var = x.var(unbiased=False)
        return torch.rsqrt(var + norm.eps), True, norm.weight, norm.bias
    eps = getattr(norm, "variance_epsilon", getattr(norm, "eps", None))
    if eps is None or "RMSNorm" not in type(norm).__name__:
        raise LabError(
            f"final norm {type(norm).__name__} is neither LayerNorm nor RMSNorm",
            hint="direct logit attribution handles GPT-2 and Llama-style models",
        )
    return torch.rsqrt(x.pow(2).mean() + eps), False, norm.weight, None


def direct_logit_attribution(model, ids, token: int, wrong: int | None = None, position: int = -1) -> dict:
    """Each component's direct contribution to logit[token] (minus logit[wrong] if given) at `position`."""
    import torch

    parts = model_parts(model)
    ids = np.asarray(ids).reshape(-1)
    trace = run_with_trace(model, ids[None])
    with torch.no_grad():
        u = parts.unembed.weight[token].double()  # (d,)
        bias = parts.unembed.bias
        b = float(bias[token]) if bias is not None else 0.0
        if wrong is not None:
            u = u - parts.unembed.weight[wrong].double()
            b -= float(bias[wrong]) if bias is not None else 0.0
        x = trace.resid[-1, 0, position].double()  # the final residual (d,)
        s, centre, gamma, beta = _norm_terms(parts.final_norm, x)
        direction = s * gamma.double() * u  # (d,)

        def through(c):  # (..., d) -> (...)
            c = c.double()
            return ((c - c.mean(-1, keepdim=True)) if centre else c) @ direction

        embed = trace.embed[0, position]
        heads, mlp, attn_bias, rebuilt = [], [], [], embed.double().clone()
        for layer in range(parts.n_layers):
            h = head_outputs(parts, trace, layer)[0, position]  # (H, d)
            _, ob = parts.head_weights(layer)
            ob = torch.zeros_like(h[0]) if ob is None else ob
            m = trace.mlp[layer, 0, position]
            heads.append(through(h))
            attn_bias.append(through(ob))
            mlp.append(through(m))
            rebuilt += h.double().sum(0) + ob.double() + m.double()
        gap = float((rebuilt - x).abs().max() / (x.abs().max() + 1e-12))
        if gap > 1e-3:
            raise LabError(
                f"{type(model).__name__}: the residual stream is not embed + heads + MLPs "
                f"(relative gap {gap:.1e})",
                hint="direct logit attribution needs plain pre-norm blocks (GPT-2, Llama, Qwen)",
            )
        constant = (float(beta.double() @ u) if beta is not None else 0.0) + b
        logits = trace.logits[0, position].double()
        actual = float(logits[token] - (logits[wrong] if wrong is not None else 0.0))
        heads_np = torch.stack(heads).cpu().numpy()  # (L, H)
        terms = {
            "embed": float(through(embed)),
            "heads": heads_np,
            "mlp": np.array([float(v) for v in mlp]),
            "attn_bias": np.array([float(v) for v in attn_bias]),
            "norm_bias": constant,
        }
    total = terms["embed"] + heads_np.sum() + terms["mlp"].sum() + terms["attn_bias"].sum() + constant
    return {**terms, "total": float(total), "logit": actual, "final_norm_scale": float(s)}


def ranked_terms(dla: dict, k: int = 10) -> list[dict]:
    """The k largest contributions by size: [{"component": "L1H2" / "L0 mlp" / "embed", "value"}]."""
    rows = [{"component": "embed", "value": dla["embed"]}]
    for (layer, head), v in np.ndenumerate(dla["heads"]):
        rows.append({"component": f"L{layer}H{head}", "value": float(v)})
    rows += [{"component": f"L{layer} mlp", "value": float(v)} for layer, v in enumerate(dla["mlp"])]
    return sorted(rows, key=lambda r: -abs(r["value"]))[:k]

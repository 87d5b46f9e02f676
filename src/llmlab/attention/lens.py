"""The logit lens (nostalgebraist 2020): read the residual stream after each layer through the model's own
final norm and unembedding, as if the model stopped there.

    table = logit_lens(model, ids)     # {"logprobs": (L, T, V), "top": ..., "rank"/"prob" of the next token}

After the last layer this is exactly the model's output (the test checks it), so the rows show how the
prediction forms with depth: in early layers the top tokens are often the current token or its frequent
neighbours; the right next token climbs in rank as layers add to the stream. Reading the middle of a model
through the final norm is an approximation (the later layers may use a basis the unembedding does not read),
which is why later work trains a probe per layer (the tuned lens); the plain lens needs nothing trained.
"""

from __future__ import annotations

import numpy as np

from llmlab.attention.components import model_parts, run_with_trace


def numpy_residuals(gpt, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The NumPy GPT (project 1): (residual after each block (L, T, C), logits (T, V)) of ids (T,), recorded
    by wrapping each block's forward for one call (the model's own forward runs unchanged)."""
    seen = []
    for block in gpt.h:

        def record(*args, _forward=block.forward, **kwargs):
            out = _forward(*args, **kwargs)
            seen.append(out[0].copy())  # (T, C) of the one sequence
            return out

        block.forward = record  # an instance attribute, shadowing the class's method
    try:
        logits = gpt(ids)
    finally:
        for block in gpt.h:
            del block.forward
    return np.stack(seen), logits


def logit_lens(model, ids, top: int = 5) -> dict:
    """ids (T,) -> per layer l and position t: log-probabilities (L, T, V) of the residual after block l, the
    `top` token ids, and the rank (0 = top) and probability of the token that actually comes next (T - 1 of
    them; the last position has no next token). `model`: an HF causal LM or the NumPy GPT."""
    import torch

    ids = np.asarray(ids).reshape(-1)
    if isinstance(model, torch.nn.Module):
        parts = model_parts(model)
        trace = run_with_trace(model, ids[None])
        with torch.no_grad():
            logits = parts.unembed(parts.final_norm(trace.resid[:, 0]))  # (L, T, V)
        model_logits = trace.logits[0]
    else:  # the NumPy GPT: its own final norm and head
        resid, out = numpy_residuals(model, ids)
        logits = torch.as_tensor(model.ln_f.forward(resid) @ model._head_weight().T)  # (L, T, V)
        model_logits = torch.as_tensor(out)
    logprobs = torch.log_softmax(logits.float(), -1)
    nxt = torch.as_tensor(ids[1:], device=logprobs.device)  # (T-1,)
    # (L, T-1)
    actual = logprobs[:, :-1].gather(-1, nxt[None, :, None].expand(logprobs.shape[0], -1, 1))[..., 0]
    rank = (logprobs[:, :-1] > actual[..., None]).sum(-1)  # tokens strictly more likely
    return {
        "logprobs": logprobs.cpu().numpy(),
        "model_logits": model_logits.float().cpu().numpy(),  # (T, V): what the model said
        "lens_logits": logits.float().cpu().numpy(),
        "top": logprobs.topk(top, -1).indices.cpu().numpy(),  # (L, T, top)
        "next_rank": rank.cpu().numpy(),
        "next_prob": actual.exp().cpu().numpy(),
    }

"""Activation patching (causal tracing): run a clean and a corrupted prompt, copy one component's activation
from the clean run into the corrupted one, and see how much of the clean behaviour comes back.

    result = patch_sweep(model, clean_ids, corrupted_ids, answer=id_mary, wrong=id_john)
    result["resid"]  # (L, T): patching the residual stream after layer l at position t
    result["heads"]  # (L, H): patching one head's output at every position

The metric is the logit difference answer - wrong at the last position, reported as the fraction restored,
(patched - corrupted) / (clean - corrupted): 1 = that component alone carries the difference, 0 = it carries
none of it. Clean and corrupted must have the same length, so that positions line up (the indirect-object
example swaps one name for another; the induction example changes one earlier token).
"""

from __future__ import annotations

import numpy as np

from llmlab.attention.components import Patch, model_parts, run_with_trace
from llmlab.errors import LabError


def logit_diff(logits, answer: int, wrong: int) -> float:
    """logit[answer] - logit[wrong] at the last position of the first sequence."""
    return float(logits[0, -1, answer] - logits[0, -1, wrong])


def patched_metric(model, corrupted_ids, clean, patches: list[Patch], answer: int, wrong: int) -> float:
    """The logit difference of the corrupted run with `patches` taken from the clean trace."""
    return logit_diff(run_with_trace(model, corrupted_ids, patches, clean).logits, answer, wrong)


def patch_sweep(model, clean_ids, corrupted_ids, answer: int, wrong: int) -> dict:
    """Patch, one at a time, the residual stream, attention output and MLP output at each (layer, position),
    and each head at every position; each result as the fraction of the clean logit difference restored."""
    clean_ids = np.asarray(clean_ids).reshape(1, -1)
    corrupted_ids = np.asarray(corrupted_ids).reshape(1, -1)
    if clean_ids.shape != corrupted_ids.shape:
        raise LabError(
            f"the clean prompt has {clean_ids.shape[1]} tokens and the corrupted one "
            f"{corrupted_ids.shape[1]}",
            hint="patching lines positions up: change a token for another of the same length",
        )
    parts = model_parts(model)
    clean = run_with_trace(model, clean_ids)
    corrupted = run_with_trace(model, corrupted_ids)
    m_clean, m_corrupt = logit_diff(clean.logits, answer, wrong), logit_diff(corrupted.logits, answer, wrong)
    span = m_clean - m_corrupt
    if abs(span) < 1e-6:
        raise LabError(
            f"the clean and corrupted prompts give the same logit difference ({m_clean:.3g})",
            hint="choose a corruption that changes the answer (swap the name, change the repeated token)",
        )

    def restored(patches):
        return (patched_metric(model, corrupted_ids, clean, patches, answer, wrong) - m_corrupt) / span

    L, T = parts.n_layers, clean_ids.shape[1]
    grids = {
        kind: np.array([[restored([Patch(kind, layer, position=t)]) for t in range(T)] for layer in range(L)])
        for kind in ("resid", "attn", "mlp")
    }
    heads = np.array(
        [[restored([Patch("head", layer, head)]) for head in range(parts.n_heads)] for layer in range(L)]
    )
    return {"clean": m_clean, "corrupted": m_corrupt, **grids, "heads": heads}


def patch_everything(model, clean_ids, corrupted_ids, answer: int, wrong: int) -> float:
    """The corrupted run with the embedding, every head and every MLP patched from the clean run, at every
    position: the residual stream is their sum, so this is the clean run again (the check that nothing is
    lost)."""
    parts = model_parts(model)
    clean = run_with_trace(model, np.asarray(clean_ids).reshape(1, -1))
    patches = [Patch("embed")]
    for layer in range(parts.n_layers):
        patches += [Patch("head", layer, h) for h in range(parts.n_heads)] + [Patch("mlp", layer)]
    return patched_metric(model, np.asarray(corrupted_ids).reshape(1, -1), clean, patches, answer, wrong)

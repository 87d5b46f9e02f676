"""Choosing the next token: `sample_next(logits, params, previous, generators)`.

Greedy rows (temperature 0) take the argmax of the processed logits; the others draw from the
softmax with their own `torch.Generator`, so a seeded request gives the same text whatever else
shares its batch. NumPy logits are accepted too (the NumPy Transformer samples through here).
Non-finite scores never raise: a row whose probabilities come out NaN or infinite (an overflowing
model, an extreme temperature or penalty) takes its argmax instead of failing the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from llmlab.generation.params import SamplingParams
from llmlab.generation.processors import process_logits


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator | None:
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def sample_next(logits: torch.Tensor | np.ndarray, params: SamplingParams | Sequence[SamplingParams],
                previous: torch.Tensor | Sequence[Sequence[int]] | None = None,
                generators: torch.Generator | Sequence[torch.Generator | None] | None = None) -> torch.Tensor:
    """logits (B, V) or (V,) -> next ids (B,) (or a 0-d tensor for (V,) input)."""
    if isinstance(logits, np.ndarray):
        logits = torch.from_numpy(np.ascontiguousarray(logits))
    squeeze = logits.dim() == 1
    logits = logits.reshape(1, -1) if squeeze else logits
    if previous is not None and squeeze and not isinstance(previous, torch.Tensor):
        previous = [list(previous)]
    batch = logits.shape[0]
    per_row = [params] * batch if isinstance(params, SamplingParams) else list(params)
    scores = process_logits(logits.float(), params, previous)
    out = scores.argmax(dim=-1)
    if not all(q.greedy for q in per_row):        # decided on the host: no GPU sync for greedy batches
        greedy = torch.tensor([q.greedy for q in per_row], device=logits.device)
        probs = scores.softmax(dim=-1)
        # multinomial refuses a NaN/inf row (on a GPU, with a device-side assert that ends the process)
        broken = ~probs.isfinite().all(dim=-1, keepdim=True)                # (B, 1)
        probs = probs.masked_fill(broken, 0.0).scatter_add_(-1, out.unsqueeze(-1), broken.to(probs.dtype))
        gens = generators if isinstance(generators, Sequence) else [generators] * batch
        if all(g is None for g in gens):
            drawn = torch.multinomial(probs, 1).squeeze(-1)
        else:  # one generator per row keeps seeded rows reproducible
            drawn = torch.stack([torch.multinomial(probs[i], 1, generator=gens[i]).squeeze(-1)
                                 for i in range(batch)])
        out = torch.where(greedy, out, drawn)
    return out[0] if squeeze else out

"""Choosing the next token: `sample_next(logits, params, previous, generators)`.

Greedy rows (temperature 0) take the argmax of the processed logits; the others draw from the
softmax with their own generator, so a seeded request gives the same text whatever else shares its
batch. torch logits draw with a `torch.Generator`; NumPy logits (the NumPy Transformer's) go through
the same processors and draw with a NumPy `Generator`, so that path never loads torch.
Non-finite scores never raise: a row whose probabilities come out NaN or infinite (an overflowing
model, an extreme temperature or penalty) takes its argmax instead of failing the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from llmlab.generation.arrays import as_array, cast, is_tensor, namespace, put_last, softmax_last
from llmlab.generation.params import SamplingParams
from llmlab.generation.processors import Logits, process_logits

if TYPE_CHECKING:
    import torch

Generator = Any   # a torch.Generator for torch logits, a numpy.random.Generator for NumPy ones


def make_generator(seed: int | None, device: torch.device | str | None = "cpu") -> Generator | None:
    """A seeded generator: torch's on `device`, or NumPy's for `device=None` (a model without torch)."""
    if seed is None:
        return None
    if device is None:
        return np.random.default_rng(int(seed))
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def sample_next(logits: Logits, params: SamplingParams | Sequence[SamplingParams],
                previous: Logits | Sequence[Sequence[int]] | None = None,
                generators: Generator | Sequence[Generator | None] | None = None) -> Logits:
    """logits (B, V) or (V,) -> next ids (B,) (or a 0-d tensor for (V,) input)."""
    squeeze = logits.ndim == 1
    logits = logits.reshape(1, -1) if squeeze else logits
    if previous is not None and squeeze and not (is_tensor(previous) or isinstance(previous, np.ndarray)):
        previous = [list(previous)]
    batch = logits.shape[0]
    per_row = [params] * batch if isinstance(params, SamplingParams) else list(params)
    scores = process_logits(cast(logits, "float32"), params, previous)
    out = scores.argmax(-1)
    if not all(q.greedy for q in per_row):        # decided on the host: no GPU sync for greedy batches
        xp = namespace(scores)
        greedy = as_array([q.greedy for q in per_row], logits)
        probs = softmax_last(scores)
        # multinomial refuses a NaN/inf row (on a GPU, with a device-side assert that ends the process):
        # such a row becomes one-hot on its argmax
        broken = ~xp.isfinite(probs).all(-1).reshape(-1, 1)                  # (B, 1)
        one_hot = put_last(xp.zeros_like(probs), out.reshape(-1, 1), 1.0)
        probs = xp.where(broken, one_hot, probs)
        gens = generators if isinstance(generators, Sequence) else [generators] * batch
        out = xp.where(greedy, out, _draw(probs, gens))
    return out[0] if squeeze else out


def _draw(probs: Logits, gens: Sequence[Generator | None]) -> Logits:
    """One token per row of probs (B, V), each row with its own generator (None: unseeded)."""
    if is_tensor(probs):
        import torch

        if all(g is None for g in gens):
            return torch.multinomial(probs, 1).squeeze(-1)
        # one generator per row keeps seeded rows reproducible
        return torch.stack([torch.multinomial(probs[i], 1, generator=gens[i]).squeeze(-1)
                            for i in range(len(gens))])
    # NumPy: invert the cumulative distribution at a uniform draw (a zero-probability token is never hit)
    drawn = []
    for row, g in zip(probs, gens, strict=True):
        cdf = np.cumsum(row, dtype=np.float64)
        u = (g if g is not None else np.random.default_rng()).random() * cdf[-1]
        drawn.append(min(int(np.searchsorted(cdf, u, side="right")), len(cdf) - 1))
    return np.asarray(drawn, dtype=np.int64)

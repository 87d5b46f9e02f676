"""Decoding the NumPy model: a KV-cache stepper plugged into llmlab's one decoding loop.

    text = sample_text(model, tokenizer, "def ", SamplingParams(temperature=0.8, top_k=20, seed=0))
The loop, the logits processors (temperature, top-k, top-p, repetition penalty) and the stop rules
are `llmlab.generation`'s: they take NumPy logits as they take torch's, and draw with a seeded NumPy
generator, so decoding here never loads torch. Past the model's positions the stepper restarts its
cache from the last half-window of tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llmlab.errors import LabError
from llmlab.generation.decode import Generation
from llmlab.generation.decode import generate as decode
from llmlab.numpy_transformer.kv_cache import KVCache


class KVCacheStepper:
    """prefill(ids (B, T)) -> next-token logits (B, V); step(next_ids (B,)) -> (B, V), one row of work
    each."""

    def __init__(self, model, context: int | None = None):
        self.model = model
        self.window = min(context or model.config.n_positions, model.config.n_positions)
        self.cache: KVCache | None = None
        self.ids = np.zeros((0, 0), dtype=np.int64)

    def prefill(self, ids) -> np.ndarray:
        self.ids = np.asarray(ids, dtype=np.int64)
        if self.ids.ndim != 2 or self.ids.shape[1] == 0:
            raise LabError("the prompt is empty", hint="give at least one token to start from")
        return self._restart(self.window)

    def step(self, next_ids) -> np.ndarray:
        next_ids = np.asarray(next_ids, dtype=np.int64).reshape(-1, 1)      # (B, 1)
        self.ids = np.concatenate([self.ids, next_ids], axis=1)
        if self.cache.length >= self.cache.max_len:                          # full: slide by half a window
            return self._restart(max(1, self.window // 2))
        return self.model(next_ids, cache=self.cache)[:, -1]

    def reorder(self, index) -> None:
        index = np.asarray(index)
        self.ids = self.ids[index]
        self.cache.reorder(index)

    def _restart(self, keep: int) -> np.ndarray:
        self.cache = KVCache.for_model(self.model, batch=self.ids.shape[0], max_len=self.window)
        return self.model(self.ids[:, -keep:], cache=self.cache)[:, -1]


def generate(model, prompt: Sequence[int], params, tokenizer=None, num_samples: int = 1) -> Generation:
    """`llmlab.generation.decode.generate` over the NumPy model: a `Generation` (tokens, texts, reasons)."""
    return decode(model, list(prompt), params, tokenizer=tokenizer, num_samples=num_samples)


def sample_text(model, tokenizer, prompt: str, params, num_samples: int = 1) -> list[str]:
    """Continuations of `prompt` (the prompt itself not repeated), one per sample."""
    ids = tokenizer.encode(prompt) or tokenizer.encode("\n")
    return generate(model, ids, params, tokenizer=tokenizer, num_samples=num_samples).texts

"""Exercise `kv_cache`: one decoding step with a KV cache — keep every layer's keys and values so a
new token costs one row of attention instead of a whole forward pass.

Check it with `llmlab learn check transformer kv_cache`. Everything but `update` is given.

    cache = KVCache.for_model(model, batch=1, max_len=64)
    logits = model(prompt_ids, cache=cache)         # prefill: T tokens fill positions [0, T)
    logits = model(next_ids[:, None], cache=cache)  # then one token at a time
Each layer calls `update(layer, k, v)` with its new rows; after the last layer the model calls
`advance(T)`, so inside one forward pass every layer sees the same `self.length` (the past).
"""

from __future__ import annotations

import numpy as np

from llmlab.errors import LabError


class KVCache:
    def __init__(self, n_layer: int, batch: int, n_head: int, max_len: int, head_dim: int, dtype=np.float32):
        self.k = np.zeros((n_layer, batch, n_head, max_len, head_dim), dtype=dtype)
        self.v = np.zeros_like(self.k)
        self.key_mask = np.ones((batch, max_len), dtype=bool)   # False at padded positions
        self.length = 0                                         # positions filled in every layer

    @classmethod
    def for_model(cls, model, batch: int = 1, max_len: int | None = None) -> KVCache:
        cfg = model.config
        max_len = max_len or cfg.n_positions
        if max_len > cfg.n_positions:
            raise LabError(f"a cache of {max_len} positions is longer than the model's context "
                           f"({cfg.n_positions})",
                           hint=f"use max_len <= {cfg.n_positions}")
        return cls(cfg.n_layer, batch, cfg.n_head, max_len, cfg.n_embd // cfg.n_head, model.dtype)

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    @property
    def batch(self) -> int:
        return self.k.shape[1]

    def check_room(self, t: int) -> None:
        if self.length + t > self.max_len:
            raise LabError(f"the KV cache holds {self.max_len} positions; {self.length} are used and {t} "
                           f"more "
                           "were given", hint="start a new cache, or crop the context (generate() does this)")

    def update(self, layer: int, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Write the new keys and values of `layer` after the `self.length` positions already held, and
        return everything held so far for that layer (past and new), for the attention to use.

        Shapes: k, v (B, nh, T, hs) -> two (B, nh, length + T, hs) arrays (views of self.k / self.v).
        Do not change self.length here: the model calls advance(T) once every layer has written.
        Example: length 3, T = 1 -> write position 3, return positions 0..3 (4 rows).
        """
        raise NotImplementedError("KVCache.update")

    def advance(self, t: int) -> None:
        """Called by the model once every layer has written its T new positions."""
        self.length += t

    def reset(self) -> None:
        self.length = 0
        self.key_mask[:] = True

    def reorder(self, index: np.ndarray) -> None:
        """Keep rows `index` (beam search picks which hypotheses live on)."""
        self.k, self.v, self.key_mask = self.k[:, index], self.v[:, index], self.key_mask[index]

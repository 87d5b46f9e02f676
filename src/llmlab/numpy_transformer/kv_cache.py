"""`KVCache`: keys and values of every layer kept between decoding steps, so each new token costs
one row of attention instead of a whole forward pass.

    cache = KVCache.for_model(model, batch=1, max_len=256)
    logits = model(prompt_ids, cache=cache)        # prefill: (B, T) tokens, fills positions [0, T)
    logits = model(next_ids[:, None], cache=cache) # then one token at a time
Buffers are allocated once, (n_layer, B, nh, max_len, hs); `update` writes the new rows and hands the
attention a view of everything so far, so no step copies the past.
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
        # grouped-query models (Llama, Qwen) cache only their n_kv_head key/value heads
        n_kv = getattr(cfg, "n_kv_head", cfg.n_head)
        head_size = getattr(cfg, "head_size", cfg.n_embd // cfg.n_head)
        return cls(cfg.n_layer, batch, n_kv, max_len, head_size, model.dtype)

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    @property
    def batch(self) -> int:
        return self.k.shape[1]

    def check_room(self, t: int) -> None:
        if self.length + t > self.max_len:
            raise LabError(f"the KV cache holds {self.max_len} positions; {self.length} are used and {t} "
                           "more were given",
                           hint="start a new cache, or crop the context (generate() does this)")

    def update(self, layer: int, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Write k, v (B, nh, T, hs) at the current position; return views (B, nh, length + T, hs)."""
        end = self.length + k.shape[2]
        self.k[layer, :, :, self.length:end] = k
        self.v[layer, :, :, self.length:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, t: int) -> None:
        """Called by the model once every layer has written its T new positions."""
        self.length += t

    def reset(self) -> None:
        self.length = 0
        self.key_mask[:] = True

    def reorder(self, index: np.ndarray) -> None:
        """Keep rows `index` (beam search picks which hypotheses live on)."""
        self.k, self.v, self.key_mask = self.k[:, index], self.v[:, index], self.key_mask[index]

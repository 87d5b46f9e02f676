"""Batch sources for the training loop: random (x, y) windows over token arrays, resumable and rank-aware.

    source = TokenWindows(np.array(ids, dtype=np.uint16), block_size=256, batch_size=64, seed=0)
    x, y = source.next_batch()          # (B, T) int64 each; y is x shifted by one token

Any object with `next_batch()`, `state_dict()`, `load_state_dict()` and `tokens_per_batch` can feed the
Trainer (the `BatchSource` protocol); `eval_batch(i)` is needed for a validation source.

Windows are drawn the nanoGPT way (uniform random start offsets) but from a generator seeded by
(seed, optimizer step), not a running RNG: the position is a single counter, a resume is exact, and the
windows of one optimizer step are split across processes and micro-batches, so 2 processes x batch B
see the same global batch as 1 process with grad_accum 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from llmlab.errors import LabError

IGNORE_INDEX = -100   # a target the loss skips (F.cross_entropy's default ignore_index): masked rows use it


@runtime_checkable
class BatchSource(Protocol):
    tokens_per_batch: int

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def pad_rows(seqs: list[list[int]], masks: list[list[bool]], pad_id: int,
             length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ragged token lists -> (N, L) ids padded with `pad_id` and (N, L) target flags (False on padding); L is
    the longest list's length unless `length` is given."""
    length = length or max(len(s) for s in seqs)
    ids = np.full((len(seqs), length), pad_id, dtype=np.int64)
    flags = np.zeros((len(seqs), length), dtype=bool)
    for i, (s, m) in enumerate(zip(seqs, masks, strict=True)):
        ids[i, :len(s)], flags[i, :len(m)] = s, m
    return ids, flags


def next_token_targets(rows: torch.Tensor, flags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T+1) ids and target flags -> (x, y), (B, T) each: the target of position t is token t+1, and
    IGNORE_INDEX where that token is not a target."""
    return rows[:, :-1], rows[:, 1:].masked_fill(~flags[:, 1:], IGNORE_INDEX)


def collate_rows(rows: list[tuple[list[int], list[bool]]], pad: int, block_size: int):
    """(x, y) of (ids, learned) rows padded with `pad` to the longest (a multiple of 8, at most block_size); y
    holds the next token where the row learns it, IGNORE_INDEX elsewhere."""
    n = min(block_size, -(-max(len(r[0]) - 1 for r in rows) // 8) * 8)             # a multiple of 8
    ids, flags = pad_rows([r[0] for r in rows], [r[1] for r in rows], pad, length=n + 1)
    return next_token_targets(torch.as_tensor(ids), torch.as_tensor(flags))        # (B, n) each


class SeededBatches:
    """A batch source drawn fresh each step: batch i comes from random.Random(f"{key}-{stream}-{i}") and
    evaluation batch j from random.Random(f"{key}-eval-{j}"), so a resume restores one counter and is exact,
    and eval_batch(j) is the same at every evaluation. A subclass sets key, stream and tokens_per_batch and
    writes _batch(rng) -> (x, y)."""

    key: str = "0"
    stream: int = 0
    cursor: int = 0

    def _batch(self, rng):
        raise NotImplementedError

    def next_batch(self):
        import random

        self.cursor += 1
        return self._batch(random.Random(f"{self.key}-{self.stream}-{self.cursor}"))

    def eval_batch(self, index: int):
        import random

        return self._batch(random.Random(f"{self.key}-eval-{index}"))

    def state_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cursor = int(state["cursor"])


class TokenWindows:
    """Random windows of `block_size + 1` tokens from one array or a set of shards (memmaps welcome).

    `chars_per_token` / `bytes_per_token` (of this split's text) let the trainer report bits per
    character / byte next to the loss: bits = loss / ln 2 / chars_per_token.
    """

    EVAL_STREAM = 1  # eval windows come from their own stream, fixed across evals

    def __init__(self, tokens: np.ndarray | Sequence[np.ndarray], block_size: int, batch_size: int,
                 seed: int = 0, chars_per_token: float | None = None, bytes_per_token: float | None = None):
        arrays = [tokens] if isinstance(tokens, np.ndarray) else list(tokens)
        self.block_size, self.batch_size, self.seed = int(block_size), int(batch_size), int(seed)
        self.arrays = [a for a in arrays if len(a) > self.block_size]
        if not self.arrays:
            longest = max((len(a) for a in arrays), default=0)
            raise LabError(f"the token data is too short for windows of {block_size + 1} tokens "
                           f"(longest array: {longest} tokens)",
                           hint="use a larger corpus or a smaller block_size")
        # window starts per array; a global start index maps to (array, offset) through `bounds`
        self.starts = np.array([len(a) - self.block_size for a in self.arrays], dtype=np.int64)
        self.bounds = np.concatenate([[0], np.cumsum(self.starts)])
        self.chars_per_token, self.bytes_per_token = chars_per_token, bytes_per_token
        self.cursor = 0                                   # micro-batches drawn by this process
        self.rank, self.world_size, self.grad_accum = 0, 1, 1
        self._offsets_step, self._offsets = -1, None
        self._span = np.arange(self.block_size + 1, dtype=np.int64)

    @property
    def n_tokens(self) -> int:
        return int(sum(len(a) for a in self.arrays))

    @property
    def tokens_per_batch(self) -> int:
        return self.batch_size * self.block_size

    def bind(self, rank: int, world_size: int, grad_accum: int) -> None:
        """Called by the Trainer: which slice of each optimizer step's global batch is this process's."""
        self.rank, self.world_size, self.grad_accum = int(rank), int(world_size), int(grad_accum)
        self._offsets_step = -1

    def _starts_for(self, stream: int, index: int, count: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, stream, index])
        return rng.integers(0, int(self.bounds[-1]), size=count)

    def _gather(self, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self.arrays) == 1:
            rows = self.arrays[0][starts[:, None] + self._span]            # (B, T+1)
        else:
            which = np.searchsorted(self.bounds, starts, side="right") - 1
            rows = np.stack([self.arrays[w][s - self.bounds[w]:s - self.bounds[w] + self.block_size + 1]
                             for w, s in zip(which, starts, strict=True)])
        rows = torch.from_numpy(np.ascontiguousarray(rows).astype(np.int64))
        return rows[:, :-1], rows[:, 1:]

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        step, micro = divmod(self.cursor, self.grad_accum)
        if step != self._offsets_step:  # one draw per optimizer step covers every process and micro-batch
            per_step = self.batch_size * self.grad_accum * self.world_size
            self._offsets, self._offsets_step = self._starts_for(0, step, per_step), step
        part = micro * self.world_size + self.rank
        self.cursor += 1
        return self._gather(self._offsets[part * self.batch_size:(part + 1) * self.batch_size])

    def eval_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The index-th validation batch: the same windows at every eval, so evals compare."""
        return self._gather(self._starts_for(self.EVAL_STREAM, index, self.batch_size))

    def state_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "seed": self.seed, "block_size": self.block_size,
                "batch_size": self.batch_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("block_size", self.block_size) != self.block_size:
            raise LabError(f"the checkpoint was trained with block_size {state['block_size']}, "
                           f"this run asks for {self.block_size}",
                           hint="resume with the checkpoint's block_size, or start a new run folder")
        self.cursor = int(state["cursor"])
        self.seed = int(state.get("seed", self.seed))
        self._offsets_step = -1

"""Exercise `resume`: a data sampler whose position is one counter, so a resumed run sees exactly the batches
an uninterrupted run would have seen.

Check it with `llmlab learn check pretrain resume` (your batches against llmlab's TokenWindows; a run cut at
several points, its state through JSON into a fresh sampler, continued, against the run never cut; two
processes x two micro-batches against one process). The constructor, `bind`, `_gather` and `eval_batch` are
given: write `_starts_for`, `next_batch`, `state_dict` and `load_state_dict`.
Why not one running RNG? Its state after N draws is not a number you can save in JSON and check; a generator
made fresh from (seed, stream, step) needs only the step to be back exactly where it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from llmlab.errors import LabError


class TokenWindows:
    """Random windows of block_size + 1 tokens: x = window[:-1], y = window[1:], batch_size windows a
    batch."""

    EVAL_STREAM = 1  # eval windows come from their own stream, fixed across evals

    def __init__(self, tokens: np.ndarray | Sequence[np.ndarray], block_size: int, batch_size: int,
                 seed: int = 0, chars_per_token: float | None = None, bytes_per_token: float | None = None):
        arrays = [tokens] if isinstance(tokens, np.ndarray) else list(tokens)
        self.block_size, self.batch_size, self.seed = int(block_size), int(batch_size), int(seed)
        self.arrays = [a for a in arrays if len(a) > self.block_size]
        if not self.arrays:
            raise LabError(f"the token data is too short for windows of {block_size + 1} tokens",
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
    def tokens_per_batch(self) -> int:
        return self.batch_size * self.block_size

    def bind(self, rank: int, world_size: int, grad_accum: int) -> None:
        """Called by the Trainer: which slice of each optimizer step's global batch is this process's."""
        self.rank, self.world_size, self.grad_accum = int(rank), int(world_size), int(grad_accum)
        self._offsets_step = -1

    def _starts_for(self, stream: int, index: int, count: int) -> np.ndarray:
        """`count` global window starts, uniform in [0, self.bounds[-1]), from a generator made for this call:
        np.random.default_rng([self.seed, stream, index]).integers(0, self.bounds[-1], size=count).
        Training draws come from stream 0 with index = the optimizer step; eval from EVAL_STREAM."""
        raise NotImplementedError("_starts_for")

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
        """The next (x, y), each (batch_size, block_size) int64, and one step on: self.cursor += 1.

        The cursor counts this process's micro-batches; optimizer step, micro = divmod(cursor, grad_accum).
        Each optimizer step draws ONE global batch of batch_size · grad_accum · world_size starts
        (_starts_for(0, step, that many); keep them in self._offsets for the step's other micro-batches,
        self._offsets_step says which step they are), and this process takes part
        micro · world_size + rank of it: starts[part · batch_size : (part + 1) · batch_size] -> _gather.
        So 2 processes x 2 micro-batches see the same 4 · batch_size windows as 1 process x 4.
        Example: batch_size 2, grad_accum 1, world_size 1: batch i is _gather(_starts_for(0, i, 2)).
        """
        raise NotImplementedError("next_batch")

    def eval_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The index-th validation batch: the same windows at every eval, so evals compare."""
        return self._gather(self._starts_for(self.EVAL_STREAM, index, self.batch_size))

    def state_dict(self) -> dict[str, Any]:
        """The position as plain JSON-able numbers: {"cursor", "seed", "block_size", "batch_size"}.
        The Trainer writes it into trainer_state.json with the checkpoint."""
        raise NotImplementedError("state_dict")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state`: the next batch is the one the saved sampler would have drawn next.

        Take the cursor and the seed, and forget the offsets kept for a step (the next call draws afresh).
        A state saved with another block_size cannot continue this run: raise LabError naming both sizes.
        """
        raise NotImplementedError("load_state_dict")

"""Fixed-length training rows with a loss mask, as a batch source for `llmlab.training.Trainer`.

    source = MaskedRows(rows, targets, batch_size=64, seed=0)   # rows (N, T+1) ids, targets (N, T+1) bool
    x, y = source.next_batch()     # (B, T) each; y = x shifted by one, -100 where no loss is taken

The Trainer's loss is cross-entropy with torch's default ignore_index=-100, so only the positions marked as
targets (an answer, a scratchpad, the labels of demonstrations) are learned; the prompt is context only.
Batches are drawn from a generator seeded by (seed, step), like `TokenWindows`, so a resume is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from llmlab.errors import LabError
from llmlab.training.batches import next_token_targets


class MaskedRows:
    """Whole rows of `block_size + 1` tokens; a token is a target when its flag is set."""

    def __init__(self, rows: np.ndarray, targets: np.ndarray, batch_size: int, seed: int = 0):
        if rows.shape != targets.shape or rows.ndim != 2 or rows.shape[1] < 2:
            raise LabError(f"rows {rows.shape} and targets {targets.shape} must be the same (N, T+1) shape, "
                           f"T >= 1",
                           hint="build them with llmlab.training.batches.pad_rows()")
        self.rows = torch.as_tensor(rows, dtype=torch.long)
        self.targets = torch.as_tensor(targets, dtype=torch.bool)
        self.block_size, self.batch_size, self.seed = rows.shape[1] - 1, int(batch_size), int(seed)
        self.cursor = 0

    @property
    def tokens_per_batch(self) -> int:
        return self.batch_size * self.block_size

    def _take(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return next_token_targets(self.rows[index], self.targets[index])          # rows (B, T+1)

    def _draw(self, stream: int, index: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, stream, index])
        return torch.from_numpy(rng.integers(0, len(self.rows), self.batch_size))

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.cursor += 1
        return self._take(self._draw(0, self.cursor - 1))

    def eval_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The index-th validation batch: consecutive rows, the same at every eval."""
        start = (index * self.batch_size) % len(self.rows)
        return self._take(torch.arange(start, start + self.batch_size) % len(self.rows))

    def state_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cursor, self.seed = int(state["cursor"]), int(state.get("seed", self.seed))

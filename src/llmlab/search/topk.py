"""The k best scores of each row, sorted: what every search here returns (vector stores and BM25 alike)."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k columns of each row of (Q, N) scores, sorted, padded with (-inf, -1) when N < k."""
    q, n = scores.shape
    kk = min(k, n)
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk else np.zeros((q, 0), dtype=np.int64)
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    rows = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(part_scores, order, axis=1)
    if kk < k:
        rows = np.pad(rows, ((0, 0), (0, k - kk)), constant_values=-1)
        vals = np.pad(vals, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    return vals.astype(np.float32), rows.astype(np.int64)

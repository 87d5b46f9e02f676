"""The unigram baseline: what a model that ignores context scores, so a trained model can be judged by it.

    loss = -mean_t log p(val_t),  p(v) = (count_train(v) + 1) / (N_train + V)     (add-one smoothing)
"""

from __future__ import annotations

import numpy as np


def unigram_loss(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (nats/token) of `val_ids` under the add-one-smoothed token frequencies of `train_ids`."""
    counts = np.bincount(np.asarray(train_ids), minlength=vocab_size).astype(np.float64) + 1.0
    return float(-np.log(counts / counts.sum())[np.asarray(val_ids)].mean())

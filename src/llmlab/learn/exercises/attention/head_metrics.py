"""Exercise `head_metrics`: what each head does, in numbers — entropy, distance, sink, previous-token, self.

Check it with `llmlab learn check attention head_metrics` (on attention maps built by hand with known answers
— a pure previous-token head, a flat head, a self head — and on random causal maps, against
llmlab.attention.metrics).
"""

from __future__ import annotations

import numpy as np

from llmlab.attention.metrics import METRICS  # noqa: F401 - the six names, in order


def head_metrics(probs: np.ndarray) -> dict[str, np.ndarray]:
    """probs (L, B, H, T, T) -> {metric: (L, H)}: each metric averaged over the batch and over the queries i
    >= 1 (query 0 can only read itself, so it says nothing about a head). With A = probs[l, b, h], for query
    i:

        entropy         -Σ_j A_ij ln A_ij        natural log (nats); 0 · ln 0 counts as 0 (the masked future)
        entropy_norm    entropy / ln(i + 1)      ln(i + 1) is the entropy of a flat row over i + 1 keys: 1 =
        flat distance        Σ_j A_ij (i - j)         how many tokens back the head reads, on average
        sink            A_i0                     weight on the first token
        previous_token  A_i,i-1                  one below the diagonal, not on it
        self            A_ii                     the diagonal
    Compute per query, then take the mean over axes b and i: a (L, B, H, T-1) array .mean(axis=(1, 3)).
    T < 2 has no query with a choice: raise ValueError.

    Shapes: probs (L, B, H, T, T), rows sum to 1 -> dict of six (L, H) arrays, keys METRICS.
    Example: a flat head on T = 3 (rows [1], [1/2, 1/2], [1/3, 1/3, 1/3]): queries 1 and 2 ->
             entropy (ln 2 + ln 3) / 2 = 0.8959, entropy_norm 1, distance (0.5 + 1) / 2 = 0.75,
             sink (1/2 + 1/3) / 2 = 0.4167, previous_token 0.4167, self 0.4167.
    """
    raise NotImplementedError("head_metrics")

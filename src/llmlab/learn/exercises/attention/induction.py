"""Exercise `induction`: the induction test — random tokens repeated twice, and who looks where in the second
copy.

Check it with `llmlab learn check attention induction` (on hand-built induction and duplicate-token heads with
known answers, with and without a BOS prefix, and on random maps, against llmlab.attention.metrics).

The input is prefix + r + r: r is `period` random tokens, so nothing but copying predicts the second copy. At
a query i in the second copy (token r_k), an induction head reads the key after the earlier r_k — position
i - period + 1 — because that is the token that came next last time (Olsson et al., 2022). A duplicate-token
head reads the earlier r_k itself, at i - period.
"""

from __future__ import annotations

import numpy as np


def repetition_scores(probs: np.ndarray, period: int, prefix: int = 0) -> dict[str, np.ndarray]:
    """Induction and duplicate scores (L, H) from probs (L, B, H, T, T) of prefix + r + r, T = prefix +
    2·period:

        queries    i = prefix + period, ..., prefix + 2·period - 1      (the whole second copy)
        induction  mean over b and those i of  A_i,i-period+1
        duplicate  mean over b and those i of  A_i,i-period
    Fancy indexing reads one key per query at once: probs[..., queries, keys] is (L, B, H, period).

    Returns {"induction": (L, H), "duplicate": (L, H)}.
    Example: period 3, no prefix (T = 6): queries 3, 4, 5; induction reads keys 1, 2, 3; duplicate keys 0, 1,
    2.
             A head with A[3, 1] = A[4, 2] = A[5, 3] = 1 scores induction 1.0, duplicate 0.0.
    """
    raise NotImplementedError("repetition_scores")

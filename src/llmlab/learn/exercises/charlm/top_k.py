"""Exercise `top_k`: keep the k most likely tokens, drop the rest.

Check it with `llmlab learn check charlm top_k` (against transformers' TopKLogitsWarper). Works on a
batch: logits (B, V), k one number or a (B,) tensor; `_column(k, logits)` gives a (B, 1) column.
"""

from __future__ import annotations

import torch

from llmlab.generation.arrays import cast, sort_last, take_last  # noqa: F401 - llmlab's solution
from llmlab.generation.processors import Number, _column, _drop, _per_row  # noqa: F401 - for your code


def top_k_filter(logits: torch.Tensor, k: Number) -> torch.Tensor:
    """Every logit below the row's k-th largest becomes -inf; the others are kept as they are.

        kth = the k-th largest z in the row;   z'_i = z_i if z_i >= kth else -inf
    Ties at the k-th value are all kept (so a row may keep more than k), as transformers does.
    k = 0 means "off" (the row is unchanged); k >= V keeps everything. Return new logits.

    Shapes: logits (B, V); k a number or (B,) -> (B, V).
    Example: z = [[3.0, 1.0, 2.0, 2.0, 0.0]], k = 2 -> kth = 2.0 -> [[3.0, -inf, 2.0, 2.0, -inf]]
    Tools: torch.sort(logits, descending=True) or torch.topk, .gather, .masked_fill.
    """
    raise NotImplementedError("top_k_filter")

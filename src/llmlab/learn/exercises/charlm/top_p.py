"""Exercise `top_p`: nucleus sampling's filter — keep the smallest set of likely tokens holding p of the mass.

Check it with `llmlab learn check charlm top_p` (against transformers' TopPLogitsWarper). Works on a
batch: logits (B, V), p one number or a (B,) tensor; `_column(p, logits)` gives a (B, 1) column.
"""

from __future__ import annotations

import torch

from llmlab.generation.arrays import cast, put_last, softmax_last, sort_last  # noqa: F401 - llmlab's solution
from llmlab.generation.processors import Number, _column, _drop, _per_row  # noqa: F401 - for your code


def top_p_filter(logits: torch.Tensor, p: Number) -> torch.Tensor:
    """Keep the most likely tokens until their probability reaches p — including the token that
    crosses p — and set every other logit to -inf. transformers' way, which you must match:

        sort the row ascending, P = softmax of the sorted row, C = cumsum(P)
        drop the sorted tokens with C <= 1 - p      (the unlikely tail holding at most 1 - p)
        always keep the most likely token (min_tokens_to_keep = 1), even when p is tiny
    p >= 1 keeps everything. Return new logits, in the original token order.

    Shapes: logits (B, V); p a number or (B,) -> (B, V).
    Example: probabilities [0.05, 0.5, 0.15, 0.3], p = 0.7 -> 0.5 + 0.3 = 0.8 is the first sum >= 0.7,
             so tokens 1 and 3 are kept (3 crosses p) -> [-inf, z_1, -inf, z_3]; p = 0.01 -> only token 1.
    Tools: torch.sort(..., descending=False) returns the order too; .scatter puts a sorted mask back.
    """
    raise NotImplementedError("top_p_filter")

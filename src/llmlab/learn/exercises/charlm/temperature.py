"""Exercise `temperature`: sharpen or flatten the next-token distribution.

Check it with `llmlab learn check charlm temperature` (against transformers' TemperatureLogitsWarper).
Like every processor in llmlab.generation it works on a batch: logits (B, V), and the setting is one
number for every row or a (B,) tensor with one per row (the serving engine batches requests with
different settings). `_column(value, logits)` turns either into a (B, 1) column you can broadcast.
"""

from __future__ import annotations

import torch

from llmlab.generation.arrays import cast, namespace  # noqa: F401 - llmlab's solution
from llmlab.generation.processors import Number, _column, _per_row  # noqa: F401 - for your code


def apply_temperature(logits: torch.Tensor, temperature: Number) -> torch.Tensor:
    """softmax(z / T): T < 1 sharpens (T → 0 is greedy), T > 1 flattens, T = 1 changes nothing.

        z'_i = z_i / T          per row; a row with T = 0 is returned unchanged (it means greedy, and
                                the argmax is the same either way — never divide by zero)
    Return new logits; the caller's tensor must stay as it was.

    Shapes: logits (B, V); temperature a number or (B,) -> (B, V).
    Example: z = [[2.0, 1.0, 0.0]], T = 0.5 -> [[4.0, 2.0, 0.0]]  (probabilities 0.87, 0.12, 0.02
             instead of 0.67, 0.24, 0.09)
    """
    raise NotImplementedError("apply_temperature")

"""Exercise `quantize`: weight-only int8 — a symmetric scale per output channel, and back to float.

Check it with `llmlab learn check chat quantize` (q against torch.quantize_per_channel with the same
scales, Ŵ against its dequantize(), every weight within half a step of the original, all-zero rows).
llmlab quantises every Linear/Conv1D of a chat model this way (`llmlab chat quantize`): 4x smaller than
fp32, and the activations stay float. Not handled here: asymmetric (zero-point) schemes, int4, groups.
"""

from __future__ import annotations

import torch

QMAX = 127          # symmetric: -128 is never used, so q and -q are both representable


def quantize_weight(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, in) float weight -> (q: int8 (out, in), scale: float32 (out,)), one scale per output row:

        s_i  = max_j |W_ij| / 127                     (a row of zeros gets s_i = 1: any scale gives q = 0)
        q_ij = clamp(round(W_ij / s_i), -127, 127)    as torch.int8

    round is torch.round: to the NEAREST integer, halves to even (2.5 -> 2, -0.5 -> 0), as torch's own
    quantiser rounds. One scale per row, not one for the whole tensor: a row of small weights keeps its
    precision beside a row with an outlier. Every weight ends within half a step: |W_ij - s_i q_ij| <= s_i /
    2. Example: W = [[0.254, -1.27, 0.0051], [0, 0, 0]] -> s = [0.01, 1.0], q = [[25, -127, 1], [0, 0, 0]]
    """
    raise NotImplementedError("quantize_weight")


def dequantize_weight(q: torch.Tensor, scale: torch.Tensor,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Ŵ_ij = s_i q_ij: int8 q (out, in) and scale (out,) -> (out, in) in `dtype`.

    Example: q = [[25, -127, 1]], s = [0.01] -> [[0.25, -1.27, 0.01]] (the original 0.254 is off by 0.004 <=
    0.005)
    """
    raise NotImplementedError("dequantize_weight")

"""Exercise `softmax`: the row softmax and its backward, in NumPy, in place.

Check it with `llmlab learn check transformer softmax`. The attention layer calls
`softmax_(scores)` and `softmax_backward_(dscores, probs)` and then keeps using the arrays it
passed in, so both functions must write their result INTO their first argument (and return it).
"""

from __future__ import annotations

import numpy as np


def softmax_(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place: overwrite z with the probabilities and return z.

        p_i = exp(z_i - m) / Σ_k exp(z_k - m),     m = max_k z_k   (per row)

    Subtracting the row's max m cancels out in the ratio but keeps exp() from overflowing: a row of
    scores near 1000 must still give probabilities, not nan.

    Shapes: z (..., n) -> the same array; every row (last axis) sums to 1.
    Example: z = np.array([[1.0, 2.0, 3.0]]) -> [[0.0900, 0.2447, 0.6652]]
    Tools: z -= ..., np.exp(z, out=z), z /= ..., with keepdims=True on the reductions.
    """
    raise NotImplementedError("softmax_")


def softmax_backward_(dp: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The gradient of the scores from the gradient of the probabilities, written into dp (and returned).

    With p = softmax(z) and dp = ∂L/∂p, the Jacobian ∂p_i/∂z_j = p_i ([i = j] - p_j) gives

        dz_i = p_i (dp_i - Σ_j dp_j p_j)          (the sum is over the row: last axis)

    Shapes: dp (..., n), p (..., n) -> dp, overwritten with dz.
    Example: p = [0.5, 0.5], dp = [1.0, 0.0]  ->  Σ dp p = 0.5  ->  dz = [0.25, -0.25]
    """
    raise NotImplementedError("softmax_backward_")

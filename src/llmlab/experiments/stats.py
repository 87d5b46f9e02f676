"""Accuracy with an honest error bar (the Wilson score interval) and majority voting for self-consistency.

    wilson_interval(42, 50)          # (0.715, 0.917): 95% interval for 42 right out of 50
    majority(["7", "7", "3", None])  # "7"   (ties go to the answer seen first)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

Z95 = 1.959963984540054   # the 97.5% point of the standard normal: a two-sided 95% interval


def wilson_interval(correct: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson (1927) score interval for a proportion p = correct / total:

        centre = (p + z²/2n) / (1 + z²/n),   half = z / (1 + z²/n) · sqrt(p(1-p)/n + z²/4n²)

    Unlike p ± z·sqrt(p(1-p)/n) it stays inside [0, 1] and is not zero-width at 0/n or n/n, which matters for
    the small n of prompt experiments. (0, 1) when there are no trials.
    """
    if total <= 0:
        return 0.0, 1.0
    if not 0 <= correct <= total:
        raise ValueError(f"correct={correct} must lie in [0, total={total}]")
    p, n, z2 = correct / total, total, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def majority(answers: Sequence[str | None]) -> str | None:
    """The most common non-empty answer (self-consistency, Wang et al. 2022); ties go to the earliest."""
    counts = Counter(a for a in answers if a not in (None, ""))
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a not in (None, "") and counts[a] == best)

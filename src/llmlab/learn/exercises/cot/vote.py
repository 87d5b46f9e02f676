"""Exercise `vote`: self-consistency (Wang et al. 2022) — sample several chains of thought at a temperature
above 0, extract each one's answer, and keep the answer most of them reach.

Check it with `llmlab learn check cot vote` (hand cases, then seeded lists full of ties and missing answers,
against llmlab.experiments.stats.majority).

Different reasoning paths that reach the same number are evidence for it; a slip in one path rarely repeats
in the others. A sample with no answer (None) or an empty one ("") does not vote. A tie must be broken the
same way on every run and on every machine — the answer seen FIRST among the tied ones wins — or one
experiment gives two accuracies.
"""

from __future__ import annotations

from collections import Counter  # noqa: F401 - for your code
from collections.abc import Sequence


def majority(answers: Sequence[str | None]) -> str | None:
    """The most common non-empty answer; among equally common ones, the one that appears first in `answers`;
    None when no sample has an answer.

    Examples: ["7", "7", "3", None]      -> "7"
              ["3", "7", "7", "3"]       -> "3"   (2 votes each: "3" was seen first)
              [None, "", "5"]            -> "5"
              [None, None], []           -> None
    """
    raise NotImplementedError("majority")

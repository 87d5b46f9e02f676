"""Exercise `demos`: which k demonstrations a query gets — never the query itself, chosen by a seed, and the
same first ones for every k, so an accuracy-vs-shots curve changes only k between its points.

Check it with `llmlab learn check icl demos` (every task's items as queries, k = 0..8 and every item, several
seeds, against llmlab.experiments.prompts.pick_demos; plus the refusal when k is larger than the pool).

If the 4-shot demonstrations were a fresh draw instead of the 2-shot ones plus two more, the curve would mix
two effects: more examples, and other examples. And a query among its own demonstrations is an answer key.
"""

from __future__ import annotations

import random  # noqa: F401 - for your code
from collections.abc import Sequence

from llmlab.errors import LabError  # noqa: F401 - for your code
from llmlab.experiments.word_problems import Item


def pick_demos(pool: Sequence[Item], query: Item, k: int, seed: int) -> list[Item]:
    """k demonstrations for `query` from `pool`:

        others = the items of pool whose id is not query.id, in pool order
        k > len(others) -> raise LabError (say how many there are, and to ask for fewer shots)
        random.Random(f"{seed}-{query.id}").shuffle(others)       (one order per (seed, query), whatever k is)
        return others[:k]

    Example: sentiment's 40 items, query sentiment-0, seed 0:
        k = 4 -> ids sentiment-27, sentiment-37, sentiment-16, sentiment-12
        k = 2 -> sentiment-27, sentiment-37                        (the first two of the 4-shot ones)
    """
    raise NotImplementedError("pick_demos")

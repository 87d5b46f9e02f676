"""Exercise `pairs`: count adjacent token pairs, weighted by how often each chunk occurs.

Check it with `llmlab learn check tokenizer pairs`.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise  # noqa: F401 - for your code


def count_pairs(words: list[list[int]], freqs: list[int]) -> Counter[tuple[int, int]]:
    """How often each adjacent pair of token ids occurs, over every chunk ("word") and its frequency.

        count(a, b) = Σ_w freq(w) · #{i : w[i] = a, w[i+1] = b}        (overlapping pairs all count)

    Shapes: words[i] is a list of ids, freqs[i] how often that chunk occurs in the corpus.
    Example: count_pairs([[1, 2, 3, 1, 2]], [2]) -> {(1, 2): 4, (2, 3): 2, (3, 1): 2}
             count_pairs([[97, 97, 97]], [1])   -> {(97, 97): 2}      ("aaa" holds "aa" twice)
    """
    raise NotImplementedError("count_pairs")

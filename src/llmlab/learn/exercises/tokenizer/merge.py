"""Exercise `merge`: replace every occurrence of a pair by the new token, left to right.

Check it with `llmlab learn check tokenizer merge`.
"""

from __future__ import annotations


def merge_word(word: list[int], a: int, b: int, new: int) -> list[int]:
    """Replace every (a, b) in word by new, scanning left to right; a merged pair is consumed, so
    overlapping occurrences resolve to the left one.

    Example: merge_word([1, 2, 3, 1, 2], 1, 2, 9) -> [9, 3, 9]
             merge_word([97, 97, 97], 97, 97, 256)  -> [256, 97]      ("aaa" -> "aa" + "a", not "a" + "aa")
    """
    raise NotImplementedError("merge_word")

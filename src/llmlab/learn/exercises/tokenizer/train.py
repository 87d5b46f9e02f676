"""Exercise `train`: learn byte-level BPE merges from chunk counts, with Hugging Face's tie rule.

Check it with `llmlab learn check tokenizer train` (your merges against HF tokenizers' BpeTrainer).

Every chunk starts as its UTF-8 bytes (ids 0..255). Each step merges the most frequent adjacent pair
(a, b) into a new token with the next id, in every chunk, left to right, until the vocabulary has
n_tokens entries or no pair is left. The naive way recounts every pair each step; the incremental
way (llmlab's) only updates the counts next to each merged occurrence:
    x a b y -> x ab y :  count(x, a) -= f, count(b, y) -= f, count(x, ab) += f, count(ab, y) += f
Ties: among pairs with the same count, the winner has the smallest order[a], then order[b], where
order = tie_order(vocab length) ranks the bytes by their GPT-2 stand-in characters ("!" < "A" < "Ġ")
and merged tokens by id. That is HF's rule, so both learn the same vocabulary.
"""

from __future__ import annotations

import heapq  # noqa: F401 - for your code
from collections import Counter, defaultdict  # noqa: F401 - for your code
from collections.abc import Callable
from itertools import pairwise  # noqa: F401 - for your code

from llmlab.tokenizer.merges import Learned, _add_token, _initial, tie_order  # noqa: F401 - for your code

# Given: _initial(chunk_counts) -> (words: list of byte-id lists, freqs); Learned() holds merges
# [(a, b, new)], counts and vocab (list of bytes, the 256 bytes first); _add_token(learned, index,
# order, a, b) appends a+b to learned.vocab (index: bytes -> id) and returns its id.


def learn_merges(chunk_counts: dict[str, int], n_tokens: int,
                 on_merge: Callable[[int, int], None] | None = None) -> Learned:
    """Merge until the vocabulary has n_tokens byte strings or no pair is left; return a Learned.

    chunk_counts: {"hello": 3, " world": 1} (a pre-token and how often it occurs).
    on_merge(n_merges_done, vocab_len), when given, is called after every merge.
    Example: learn_merges({"aaa": 1}, 258).vocab[256:] == [b"aa", b"aaa"], merges [(97, 97, 256), (256, 97,
    257)]
    """
    raise NotImplementedError("learn_merges")

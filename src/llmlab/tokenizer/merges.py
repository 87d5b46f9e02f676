"""Learning byte-level BPE merges from chunk counts: the incremental algorithm and a naive baseline.

    learned = learn_merges({"hello": 3, " world": 1}, n_tokens=260)   # 256 bytes + 4 merges

Both functions here are plain Python and produce identical merges: `learn_merges`, the incremental
algorithm below, is the one `BPETokenizer.train` runs; `learn_merges_naive` recounts every pair before
each merge, the textbook loop that tests and benchmarks/tokenizer.py compare it with.

The algorithm. Every chunk starts as its UTF-8 bytes (ids 0..255). Pair counts are weighted by how
often the chunk occurs: count(a, b) = sum over chunks w of freq(w) * #{i : w[i] = a, w[i+1] = b}.
Each step merges the most frequent pair (a, b) into a new token ab, in every chunk, left to right
(so "aaa" becomes [aa, a]). Only chunks that contain (a, b) change, and in each one only the pairs
next to a merged occurrence change count:

    x a b y  ->  x ab y :   count(x, a) -= f   count(b, y) -= f   count(x, ab) += f   count(ab, y) += f

so a step costs the number of occurrences it merges, never a recount. A max-heap keyed by count
finds the best pair; entries whose count went down since they were pushed are stale and are
re-pushed with the current count when popped (counts of existing pairs only ever go down, so a
popped entry whose count is current is the true maximum).

Ties. Among pairs with the same count the winner is the pair whose left token, then right token,
comes first in the order: the 256 bytes sorted by their GPT-2 stand-in characters ("!" < "A" < "Ġ"),
then merged tokens in the order they were made. This is HF tokenizers' rule (it ranks pairs by
token id, and its ids follow that order), so both learn the same vocabulary.

Should a merge ever spell bytes that already are a token (a+bc after ab+c; no byte-level corpus we
tried produced one), it gets the existing id and adds no token, as in HF's trainer: training goes on
until the vocabulary holds `n_tokens` distinct byte strings.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

from llmlab.tokenizer.byte_alphabet import hf_byte_order


@dataclass
class Learned:
    """What training learned: merges (left id, right id, new id) in order, their counts, the vocabulary."""
    merges: list[tuple[int, int, int]] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)       # the pair's count when it was merged
    vocab: list[bytes] = field(default_factory=lambda: [bytes([b]) for b in range(256)])


def tie_order(vocab_len: int) -> list[int]:
    """Tie-break rank of each token id: bytes by stand-in character, merged tokens by id (>= 256)."""
    return list(hf_byte_order()) + list(range(256, vocab_len))


def _initial(chunk_counts: dict[str, int]) -> tuple[list[list[int]], list[int]]:
    words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
    return words, list(chunk_counts.values())


def _add_token(learned: Learned, index: dict[bytes, int], order: list[int], a: int, b: int) -> int:
    """The id of a+b: an existing one when those bytes are already a token, else a new id."""
    data = learned.vocab[a] + learned.vocab[b]
    new = index.get(data)
    if new is None:
        new = len(learned.vocab)
        learned.vocab.append(data)
        index[data] = new
        order.append(new)
    return new


def learn_merges(chunk_counts: dict[str, int], n_tokens: int,
                 on_merge: Callable[[int, int], None] | None = None) -> Learned:
    """Incremental BPE: merge until the vocabulary has n_tokens byte strings or no pair is left.

    `on_merge(n_merges_done, vocab_len)` is called after every merge (for a progress bar).
    """
    words, freqs = _initial(chunk_counts)
    learned = Learned()
    index = {data: i for i, data in enumerate(learned.vocab)}
    order = tie_order(256)
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)   # pair -> chunks that (once) held it
    for wi, (word, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair in pairwise(word):
            pair_counts[pair] += freq
            where[pair].add(wi)
    heap = [(-count, order[a], order[b], a, b) for (a, b), count in pair_counts.items()]
    heapq.heapify(heap)

    while len(learned.vocab) < n_tokens and heap:
        neg_count, _, _, a, b = heapq.heappop(heap)
        count = pair_counts.get((a, b), 0)
        if count != -neg_count:             # stale: the count went down since this entry was pushed
            if count > 0:
                heapq.heappush(heap, (-count, order[a], order[b], a, b))
            continue
        new = _add_token(learned, index, order, a, b)
        learned.merges.append((a, b, new))
        learned.counts.append(count)
        born: set[tuple[int, int]] = set()  # pairs that include `new`: they go on the heap below
        for wi in where.pop((a, b)):
            word, freq = words[wi], freqs[wi]
            if len(word) < 2:
                continue
            out: list[int] = []
            i, n = 0, len(word)
            while i < n:
                if i + 1 < n and word[i] == a and word[i + 1] == b:
                    if out:                 # x a b -> x ab
                        x = out[-1]
                        pair_counts[(x, a)] -= freq
                        pair_counts[(x, new)] += freq
                        where[(x, new)].add(wi)
                        born.add((x, new))
                    if i + 2 < n:           # a b y -> ab y
                        y = word[i + 2]
                        pair_counts[(b, y)] -= freq
                        pair_counts[(new, y)] += freq
                        where[(new, y)].add(wi)
                        born.add((new, y))
                    out.append(new)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            words[wi] = out
        pair_counts.pop((a, b), None)
        for x, y in born:
            if pair_counts[(x, y)] > 0:
                heapq.heappush(heap, (-pair_counts[(x, y)], order[x], order[y], x, y))
        if on_merge is not None:
            on_merge(len(learned.merges), len(learned.vocab))
    return learned


def merge_word(word: list[int], a: int, b: int, new: int) -> list[int]:
    """Replace every (a, b) in word by new, left to right."""
    out, i, n = [], 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def count_pairs(words: list[list[int]], freqs: list[int]) -> Counter[tuple[int, int]]:
    """count(a, b) = Σ_w freq(w) · #{i : w[i] = a, w[i+1] = b}, overlaps included:
    count_pairs([[1, 2, 3, 1, 2]], [2]) -> {(1, 2): 4, (2, 3): 2, (3, 1): 2}."""
    counts: Counter[tuple[int, int]] = Counter()
    for word, freq in zip(words, freqs, strict=True):
        for pair in pairwise(word):
            counts[pair] += freq
    return counts


def learn_merges_naive(chunk_counts: dict[str, int], n_tokens: int, max_merges: int | None = None) -> Learned:
    """The textbook loop: recount every pair of every chunk before each merge. Same result, O(corpus) a
    step."""
    words, freqs = _initial(chunk_counts)
    learned = Learned()
    index = {data: i for i, data in enumerate(learned.vocab)}
    order = tie_order(256)
    while len(learned.vocab) < n_tokens and (max_merges is None or len(learned.merges) < max_merges):
        counts = count_pairs(words, freqs)
        if not counts:
            break
        a, b = min(counts, key=lambda p: (-counts[p], order[p[0]], order[p[1]]))
        new = _add_token(learned, index, order, a, b)
        learned.merges.append((a, b, new))
        learned.counts.append(counts[(a, b)])
        words = [merge_word(w, a, b, new) for w in words]
    return learned

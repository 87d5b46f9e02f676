"""Exercise `minhash`: the MinHash signature of a document's shingle set, whose agreement estimates Jaccard.

Check it with `llmlab learn check pretrain minhash` (the share of equal entries against the EXACT Jaccard
of the shingle sets on a seeded corpus, then your values against llmlab's `minhash_signature`, which is
datasketch's MinHash, entry for entry). Not handled here: LSH (the next exercise), weighted MinHash.
`shingle_hashes(text, n)` (given) is the sorted array of the distinct uint32 hashes of the text's
lower-cased word n-grams; `datasketch.MinHash(num_perm=k, seed=1, scheme="affine32").permutations` is
the (a, b) pair of uint32 arrays, each (k,), of datasketch's k hash permutations (every a_k is odd).
"""

from __future__ import annotations

import numpy as np

from llmlab.data.dedup import _identity, shingle_hashes  # noqa: F401 - for your code


def minhash_signature(text: str, num_perm: int = 128, ngram: int = 5) -> np.ndarray:
    """The MinHash signature of the set S = shingle_hashes(text, ngram): num_perm uint32 values.

    For a random permutation π of the hash space, P[min π(A) = min π(B)] = |A ∩ B| / |A ∪ B| = J(A, B),
    so the share of equal entries of two signatures estimates J with standard error √(J (1 - J) / num_perm).
    datasketch's permutations (the "affine32" scheme), all arithmetic in uint32 (it wraps mod 2^32):

        f(h)     = MurmurHash3's finalizer:  h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13; h *= 0xC2B2AE35; h
        ^= h >> 16 sig_k    = min over h in S of  (a_k · f(h) + b_k) mod 2^32            k = 0 .. num_perm - 1
    with (a, b) = MinHash(num_perm=num_perm, seed=1, scheme="affine32").permutations. Vectorise: an
    (|S|, 1) column of f(h) against (1, num_perm) rows of a and b, then .min(axis=0) — (num_perm,).
    Example: A = "the cat sat on the mat today", B = "the cat sat on the mat yesterday", ngram 5 ->
    A has 3 shingles, B has 3, they share 2: J = 2 / 4 = 0.5, and about half the entries agree.
    """
    raise NotImplementedError("minhash_signature")

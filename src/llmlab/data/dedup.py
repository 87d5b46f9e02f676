"""De-duplication: exact copies by content hash, near copies by MinHash + LSH (`datasketch`).

    kept, exact = exact_dedup(docs)
    kept, near = near_dedup(kept, threshold=0.8)

Near duplicates are found on word 5-gram shingles. The Jaccard similarity of two shingle sets,
J(A, B) = |A ∩ B| / |A ∪ B|, is estimated by the share of equal MinHash values (num_perm of them),
and LSH banding turns "find all pairs above the threshold" into bucket look-ups instead of n² compares.
The first document of a group (in corpus order) is kept, so results are deterministic.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable, Iterable

import numpy as np

from llmlab.data.clean import StageReport
from llmlab.data.corpus import Document
from llmlab.errors import LabError

_WORDS = re.compile(r"\w+")
_FNV_PRIME = np.uint64(1099511628211)


def content_hash(text: str) -> str:
    """Hash of the text with surrounding whitespace ignored, so a trailing newline is no difference."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def exact_dedup(docs: list[Document]) -> tuple[list[Document], StageReport]:
    seen: dict[str, str] = {}
    kept, report = [], StageReport("exact_duplicates")
    for doc in docs:
        h = content_hash(doc.text)
        if h in seen:
            report.add(doc, f"= {seen[h]}")
        else:
            seen[h] = doc.name
            kept.append(doc)
    return kept, report


def shingle_hashes(text: str, n: int = 5) -> np.ndarray:
    """32-bit hashes of the distinct lower-cased word n-grams of `text` (one shingle if shorter).

    Each word gets a CRC32 (stable across processes, unlike `hash`), and an n-gram's hash is the
    polynomial h = sum_j w[i+j] * P^(n-1-j) mod 2^64, folded to 32 bits — vectorised over positions.
    """
    words = _WORDS.findall(text.lower())
    if not words:
        return np.zeros(1, dtype=np.uint64)
    cache: dict[str, int] = {}
    w = np.fromiter((cache[x] if x in cache else cache.setdefault(x, zlib.crc32(x.encode("utf-8")))
                     for x in words), dtype=np.uint64, count=len(words))
    if len(w) < n:
        w = np.concatenate([w, np.zeros(n - len(w), dtype=np.uint64)])
    m = len(w) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    for j in range(n):
        h = h * _FNV_PRIME + w[j:j + m]
    return np.unique((h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF))


def _identity(x):  # the shingles are hashed already
    return x


def minhash_signature(text: str, num_perm: int = 128, ngram: int = 5) -> np.ndarray:
    """The MinHash signature (num_perm uint64 values) of the text's shingle set."""
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, hashfunc=_identity, seed=1, scheme="affine32")
    m.update_batch(shingle_hashes(text, ngram).tolist())
    return m.hashvalues


def near_dedup(docs: list[Document], threshold: float = 0.8, num_perm: int = 128, ngram: int = 5,
               map_fn: Callable[[Callable, Iterable], Iterable] = map,
               ) -> tuple[list[Document], StageReport]:
    """Drop each document whose estimated Jaccard similarity to an earlier kept one is >= threshold.

    `map_fn` computes the signatures (pass a process pool's `imap` to spread the work over cores).
    """
    try:
        from datasketch import LeanMinHash, MinHash, MinHashLSH
    except ImportError:
        raise LabError("near-duplicate removal needs the datasketch package",
                       hint="pip install datasketch (or 'llmlab[pretrain]'), or turn it off with "
                            "near_dedup=false") from None
    from functools import partial

    signatures = map_fn(partial(minhash_signature, num_perm=num_perm, ngram=ngram), (d.text for d in docs))
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept, report = [], StageReport("near_duplicates")
    kept_sigs: dict[str, LeanMinHash] = {}
    for i, (doc, values) in enumerate(zip(docs, signatures, strict=True)):
        sig = LeanMinHash(MinHash(num_perm=num_perm, hashvalues=values, seed=1, scheme="affine32"))
        # LSH returns candidates; confirm each with the signature's Jaccard estimate.
        match = max(((sig.jaccard(kept_sigs[key]), key) for key in lsh.query(sig)), default=None)
        if match is not None and match[0] >= threshold:
            report.add(doc, f"~ {docs[int(match[1])].name}, J≈{match[0]:.2f}")
            continue
        key = str(i)
        lsh.insert(key, sig)
        kept_sigs[key] = sig
        kept.append(doc)
    return kept, report

"""Exercise `near_dedup`: near-duplicate removal — MinHash signatures, LSH banding for candidates, a confirmed
match.

Check it with `llmlab learn check pretrain near_dedup` (a seeded corpus of documents and edited copies whose
exact Jaccard similarities are known: what you keep and report against llmlab's `near_dedup`, and the
pairs far above / below the threshold against the exact Jaccard). `minhash_signature` is given (llmlab's,
the previous exercise). Not handled here: exact copies (`exact_dedup` runs before this), clusters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from llmlab.data.clean import StageReport  # noqa: F401 - for your code: report.add(doc, note)
from llmlab.data.corpus import Document
from llmlab.data.dedup import minhash_signature  # noqa: F401 - for your code
from llmlab.errors import LabError  # noqa: F401 - for your code


def near_dedup(docs: list[Document], threshold: float = 0.8, num_perm: int = 128, ngram: int = 5,
               map_fn: Callable[[Callable, Iterable], Iterable] = map,
               ) -> tuple[list[Document], StageReport]:
    """Drop each document whose estimated Jaccard similarity to an EARLIER KEPT one is >= threshold.

    Comparing every pair is n²/2 signature compares. LSH cuts the signature into b bands of r rows
    (b·r <= num_perm) and calls two documents candidates when ALL r rows of at least one band agree:

        P[candidates] = 1 - (1 - J^r)^b          an S-curve that rises steeply near (1/b)^(1/r)
    Use the b and r that datasketch picks for (threshold, num_perm) — `MinHashLSH(threshold=threshold,
    num_perm=num_perm)` has them as `.b` and `.r` (0.8 and 128 -> 9 bands of 13 rows) — and either that
    index itself (insert(key, minhash), query(minhash); a `LeanMinHash(MinHash(num_perm=num_perm,
    hashvalues=sig, seed=1, scheme="affine32"))` wraps a signature) or your own dict per band, keyed by
    the band's bytes, e.g. sig[i*r:(i+1)*r].tobytes().
    In corpus order, for each document:
        signature = minhash_signature(doc.text, num_perm, ngram)    (compute them with map_fn(f, texts))
        candidates = the kept documents sharing a band with it
        best = the candidate with the highest estimated J = mean(sig == sig_candidate) (a tie goes as
               max((estimate, key)) over keys str(i) decides it); if its estimate >= threshold, drop it with
               report.add(doc, f"~ {best.name}, J≈{estimate:.2f}"), else keep it (and index it).
    Dropped documents are never indexed: a chain of small edits cannot walk a group away from its first.
    Return (kept documents in corpus order, the StageReport("near_duplicates")).
    Example: A, then A with 2% of its words replaced (J ≈ 0.9), then B unrelated -> keep [A, B]; the report
    says 1 document, "A' (~ A, J≈0.90)".
    """
    raise NotImplementedError("near_dedup")

"""Near-duplicate collapse: copies of one passage (python-docs repeats whole pages: `else` is `if`,
`compound` holds `for`, `while`, `try`, ...) become one hit that lists every source.

    groups = exact_copies([c.text for c in chunks])     # row -> rows with the same text (whitespace-blind)
    kept = collapse(ranked_rows, texts, k=5)           # [(row, [other rows with that text]), ...]

Two texts are near-duplicates when one is (almost) contained in the other: the share of the shorter
text's word 3-grams found in the longer one is at least `threshold` (0.8). Containment rather than Jaccard,
since a copy embedded in a longer page is chunked at other places: its chunk overlaps the original's, it
does not equal it.
"""

from __future__ import annotations

from collections.abc import Sequence

THRESHOLD = 0.8
SHINGLE = 3


def normalise(text: str) -> str:
    """Whitespace-blind, case-blind form used to call two chunk texts the same."""
    return " ".join(text.lower().split())


def shingles(text: str, n: int = SHINGLE) -> frozenset[tuple[str, ...]]:
    words = normalise(text).split()
    if len(words) < n:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def containment(a: frozenset, b: frozenset) -> float:
    """|a ∩ b| / min(|a|, |b|): 1.0 when the shorter text's 3-grams all occur in the other."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def exact_copies(texts: Sequence[str]) -> dict[int, list[int]]:
    """Row -> the other rows holding the same text (only rows that have a copy appear)."""
    by_text: dict[str, list[int]] = {}
    for row, text in enumerate(texts):
        by_text.setdefault(normalise(text), []).append(row)
    return {row: [r for r in rows if r != row] for rows in by_text.values() if len(rows) > 1 for row in rows}


def collapse(ranked: Sequence[int], texts: Sequence[str], k: int, threshold: float = THRESHOLD,
             copies: dict[int, list[int]] | None = None, docs: Sequence[str] | None = None,
             per_doc: int | None = None) -> list[tuple[int, list[int]]]:
    """The first k distinct passages of `ranked` (rows, best first), each with the rows that repeat it.

    A row that nearly repeats a passage already kept joins that passage's sources instead of taking a
    place; `copies` (from exact_copies over the whole index) adds copies that were not retrieved at all.
    With `per_doc`, a document (docs[row]) gives at most that many passages, so the k hits show more
    sources."""
    copies = copies or {}
    taken: dict[str, int] = {}
    kept: list[tuple[int, list[int]]] = []
    grams: list[frozenset] = []
    seen: set[int] = set()
    for row in ranked:
        if row < 0 or row in seen:
            continue
        g = shingles(texts[row])
        twin = next((i for i, h in enumerate(grams) if containment(g, h) >= threshold), None)
        if twin is not None:
            kept[twin][1].append(row)
            seen.add(row)
            continue
        if len(kept) == k:
            # a full list still absorbs later copies of what it holds, but takes no new passage
            continue
        if per_doc is not None and docs is not None:
            if taken.get(docs[row], 0) >= per_doc:
                continue
            taken[docs[row]] = taken.get(docs[row], 0) + 1
        kept.append((row, list(copies.get(row, []))))
        grams.append(g)
        seen.update([row, *copies.get(row, [])])
    return kept

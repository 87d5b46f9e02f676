"""Exercise `chunking`: split a document into overlapping chunks that are exact slices of it, cut at good
boundaries.

Check it with `llmlab learn check rag chunking` (hand cases with known cuts, then python-docs documents in
characters and in the embedding model's tokens, chunk for chunk against llmlab.rag.chunking, and the
properties every chunking must keep: exact slices, no gaps, the document reassembles).

Given: `unit_starts(text, unit, tokenizer)` -> b, the character position where each unit (a character, or a
token of the embedding model) starts, plus len(text) at the end, so units i..j-1 are text[b[i]:b[j]];
`boundary_strength(text, p)` -> how good a cut just before position p is: 4 paragraph break ("\n\n"),
3 sentence end, 2 line end, 1 space (_SPACE), 0 inside a word (4 at the very start or end of the text);
`Chunk(id, doc, start, end, text, n_units)` and `ChunkConfig(size, overlap, unit, min_fill)` with
`cfg.check()`.
"""

from __future__ import annotations

from llmlab.rag.chunking import _SPACE, Chunk, ChunkConfig, boundary_strength, unit_starts  # noqa: F401 - for your code


def chunk_text(text: str, doc: str, cfg: ChunkConfig, tokenizer=None) -> list[Chunk]:
    """The chunks of one document, in order; an empty or blank text has none (call cfg.check() first).

    With b = unit_starts(...) and n = len(b) - 1 units, a chunk covers units i..j-1 (i = 0 first):
        j = min(i + size, n); if j < n, move the cut back to the best boundary among units
            q in [lo, j], lo = max(i + max(1, int(size · min_fill)), i + overlap + 1):
            the highest boundary_strength(text, b[q]); among equals the largest q (the longest chunk)
        the chunk is Chunk(f"{doc}:{b[i]}-{b[j]}", doc, b[i], b[j], text[b[i]:b[j]], j - i)   — an exact slice
        stop after the chunk that reaches n; otherwise the next chunk starts at _overlap_start(text, b, i, j,
        overlap)

    Example (unit "chars", size 30, overlap 10, text "x" * 100: no boundary anywhere) ->
        (start, end) = (0, 30), (20, 50), (40, 70), (60, 90), (80, 100): each chunk repeats the last 10 of the
        one before.
    """
    raise NotImplementedError("chunk_text")


def _overlap_start(text: str, b: list[int], i: int, j: int, overlap: int) -> int:
    """The unit where the next chunk starts, after the chunk of units i..j-1:

        overlap == 0      -> j                         (chunks meet, none repeats)
        otherwise k = max(i + 1, j - overlap)           (exactly `overlap` units repeated; always move
        forward) then move k forward by at most max(1, overlap // 4) units, to the first q in [k, j) with
        boundary_strength(text, b[q]) >= _SPACE, so the overlap does not begin inside a word; none: k.

    Example (chars, b[q] = q): text "alpha beta gamma delta", i = 0, j = 20, overlap 10 -> k = 10 (the space
             before "gamma"); q = 10, 11, 12 are tried (overlap // 4 = 2); text[:11] ends with a space -> 11:
             the next chunk starts at "gamma".
    """
    raise NotImplementedError("_overlap_start")

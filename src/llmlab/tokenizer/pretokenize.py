r"""Regex pre-tokenisation: split text into chunks that BPE never merges across, and count them.

    count_chunks(["hello world", "hello"], "gpt2") -> Counter({"hello": 2, " world": 1})

GPT-2's pattern keeps a leading space with the word after it (" world"), splits letters, digits and
punctuation apart, and leaves runs of spaces alone; GPT-4's (cl100k) also splits digits into groups
of at most three and keeps newlines apart from other whitespace. Both are written without
possessive quantifiers so that the same string works in Python's `regex`, in HF tokenizers
(Oniguruma) and in tiktoken (fancy-regex). GPT-4's is the cl100k string before tiktoken added
`\s++$` (Oniguruma reads `$` as end of *line*, so HF would split that alternative differently):
the two split every text alike except whitespace after a newline at the very end of a text
("x  \n  " -> "  \n", "  " here, "  \n  " in tiktoken), which tests pin down.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache

import regex

from llmlab.errors import LabError

PATTERNS = {
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "gpt4": (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
             r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""),
}


def resolve_pattern(pattern: str) -> tuple[str, str]:
    """("gpt2" | "gpt4" | a regex) -> (name, regex string); a bad regex fails here, not mid-training."""
    if pattern in PATTERNS:
        return pattern, PATTERNS[pattern]
    for name, known in PATTERNS.items():
        if pattern == known:
            return name, known
    try:
        regex.compile(pattern)
    except regex.error as exc:
        raise LabError(f"the split pattern {pattern!r} is not a valid regex ({exc})",
                       hint="use gpt2, gpt4, or a regex the Python `regex` module accepts") from None
    return "custom", pattern


@lru_cache(maxsize=16)
def compiled(pattern: str) -> regex.Pattern:
    return regex.compile(pattern)


def texts_of(source) -> Iterable[str]:
    """A corpus (`llmlab.data.Corpus`), one string, or an iterable of strings -> the texts to train on."""
    if isinstance(source, str):
        return [source]
    documents = getattr(source, "documents", None)
    if documents is not None:
        return (d.text for d in documents)
    return source


def count_chunks(source, pattern: str, on_text: Callable[[str], None] | None = None) -> Counter[str]:
    """How often each pre-token occurs. Each text is split on its own: no chunk spans two documents.
    `on_text(text)` is called after each text (for a progress bar)."""
    split = compiled(resolve_pattern(pattern)[1]).findall
    counts: Counter[str] = Counter()
    for text in texts_of(source):
        if not isinstance(text, str):
            raise LabError(f"training texts must be str, got {type(text).__name__}",
                           hint="pass a Corpus, a string, or an iterable of strings")
        counts.update(split(text))
        if on_text is not None:
            on_text(text)
    return counts

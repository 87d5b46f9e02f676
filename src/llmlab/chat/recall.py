"""Keyword recall of old turns: Okapi BM25 (llmlab.rag's, equal to rank-bm25) over the messages that fell out of
the context window, with the commonest English words left out of both sides.

    recall(["my name is Ada", "the weather is nice"], "what is my name?")   # -> [0]

A chat is short and its messages are alike ("what is ...", "I think ..."): without a stopword list, a question
would match every turn through "what" and "is"; with it, only the words that carry the topic score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset("a an and are as at be but by did do does for from had has have he her his how i in is it "
                      "its me my of on or our she so that the their them then there they this to was we were what "
                      "when where which who why will with you your".split())


def terms(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if w not in STOPWORDS]


def recall(documents: Sequence[str], query: str, k: int = 3) -> list[int]:
    """Indices of the (at most k) best-matching documents that share a topic word with `query`, best first."""
    from llmlab.rag.bm25 import BM25

    words = terms(query)
    if not documents or not words or k <= 0:
        return []
    scores = BM25.build([" ".join(terms(d)) for d in documents]).scores(words)
    ranked = sorted(range(len(documents)), key=lambda i: (-scores[i], -i))     # ties: the later turn first
    return [i for i in ranked[:k] if scores[i] > 0]

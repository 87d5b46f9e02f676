"""Keyword recall of old turns: Okapi BM25 (llmlab.rag's, equal to rank-bm25) over the messages that fell out
of the context window, with the commonest English words left out of both sides
(`llmlab.search.bm25.topic_terms`).

    recall(["my name is Ada", "the weather is nice"], "what is my name?")   # -> [0]

A chat is short and its messages are alike ("what is ...", "I think ..."): if stopwords counted, a question
would match every turn through "what" and "is"; with them left out, only the words that carry the topic score.
"""

from __future__ import annotations

from collections.abc import Sequence


def recall(documents: Sequence[str], query: str, k: int = 3) -> list[int]:
    """Indices of the (at most k) best-matching documents that share a topic word with `query`, best first."""
    from llmlab.search.bm25 import BM25, topic_terms

    words = topic_terms(query)
    if not documents or not words or k <= 0:
        return []
    scores = BM25.build([" ".join(topic_terms(d)) for d in documents]).scores(words)
    ranked = sorted(range(len(documents)), key=lambda i: (-scores[i], -i))     # ties: the later turn first
    return [i for i in ranked[:k] if scores[i] > 0]

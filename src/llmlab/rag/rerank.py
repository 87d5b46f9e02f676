"""An optional second stage: a cross-encoder reads (question, chunk) pairs and re-scores the candidates.

    hits = index.search(q, k=5, rerank="cross-encoder/ms-marco-MiniLM-L-6-v2")
    llmlab rag search "..." --rerank cross-encoder/ms-marco-MiniLM-L-6-v2

Needs the model from the Hugging Face Hub (a network the first time); nothing is re-ranked by default, so
the offline default is unchanged. A cross-encoder sees the question and the passage together, which a
bi-encoder (the index's embeddings) cannot, at the price of one model call per candidate.
"""

from __future__ import annotations

from llmlab.errors import LabError


def cross_encoder(name: str):
    """A sentence-transformers CrossEncoder by Hub name or local folder, with a clear error offline."""
    from pathlib import Path

    from llmlab.hub import offline_unless_reachable

    if not Path(name).expanduser().is_dir():
        offline_unless_reachable()
    try:
        from sentence_transformers import CrossEncoder

        return CrossEncoder(name, device="cpu")
    except OSError as exc:
        raise LabError(f"cannot load the cross-encoder {name!r}: {exc}",
                       hint="re-ranking needs the model from the Hugging Face Hub (a network) or a local "
                            "folder; leave out --rerank to search without it") from exc

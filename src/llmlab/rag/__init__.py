"""Retrieval-augmented generation: chunk a corpus, embed it, search it (dense, BM25, hybrid), answer with
citations.

    from llmlab.rag import Index
    index = Index.build("python-docs", out="runs/rag/python-docs")     # or Index.load("runs/rag/python-docs")
    for hit in index.search("how do I leave a loop early?", k=5):
        print(hit.rank, hit.score, hit.chunk.doc, hit.chunk.text[:80])

See docs/rag.md. Heavy libraries (torch, sentence-transformers, faiss, chromadb) load on first use.
"""

from llmlab.rag.chunking import Chunk, ChunkConfig, chunk_corpus, chunk_text
from llmlab.rag.index import METHODS, Hit, Index, IndexConfig

__all__ = ["METHODS", "Chunk", "ChunkConfig", "Hit", "Index", "IndexConfig", "chunk_corpus", "chunk_text"]

"""An llmlab.rag index as a LangChain retriever: each hit becomes a Document with its source and score.

    from llmlab.rag.langchain_retriever import LabRetriever
    retriever = LabRetriever.from_folder("runs/rag/python-docs", k=4, method="hybrid")
    docs = retriever.invoke("how do I leave a loop early?")
    docs[0].page_content, docs[0].metadata      # {"id", "doc", "start", "end", "score", "rank", "method"}

Needs the optional extra: pip install 'llmlab[langchain]'. The ranking is the index's own (`Index.search`:
dense, BM25 or their reciprocal-rank fusion); this only changes the shape of the answer.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from llmlab.rag.index import Index


class LabRetriever(BaseRetriever):
    """`index.search(query, k, method)` behind LangChain's retriever interface."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Index
    k: int = 4
    method: str = "hybrid"          # hybrid | dense | bm25 (a keyword-only index answers bm25 only)

    @classmethod
    def from_folder(cls, folder: str, **settings: Any) -> LabRetriever:
        """An index saved by `llmlab rag index` (or Index.save), loaded with its own embedding model."""
        return cls(index=Index.load(folder), **settings)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        hits = self.index.search(query, k=kwargs.get("k", self.k), method=kwargs.get("method", self.method))
        return [Document(page_content=hit.chunk.text, id=hit.chunk.id,
                         metadata={key: value for key, value in hit.to_dict().items() if key != "text"})
                for hit in hits]

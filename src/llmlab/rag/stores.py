"""Vector stores behind one small interface: brute-force NumPy, FAISS (flat, IVF, HNSW) and Chroma.

    store = make_store("faiss", dim=384)              # or "faiss-ivf", "faiss-hnsw", "chroma", "numpy"
    store.add(vectors)                                # (N, D) unit vectors; row i is chunk i
    scores, rows = store.search(queries, k)           # (Q, k) inner products, best first; rows -1 where fewer
    than k

Every store scores by inner product, which on unit vectors is cosine similarity. FAISS flat and NumPy are
exact; IVF, HNSW and Chroma (HNSW inside) are approximate, so their recall is measured against flat.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from llmlab.errors import LabError
from llmlab.search.topk import top_k

STORES = ("faiss", "faiss-ivf", "faiss-hnsw", "chroma", "numpy")


class VectorStore(ABC):
    kind: str = ""

    def __init__(self, dim: int):
        self.dim = dim

    @abstractmethod
    def add(self, vectors: np.ndarray) -> None:
        """Append rows; their positions continue from the rows already held."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), both (Q, k), best first."""

    @abstractmethod
    def save(self, folder: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, folder: Path, dim: int, **options) -> VectorStore: ...

    @property
    @abstractmethod
    def size(self) -> int: ...


def _as_matrix(x: np.ndarray, dim: int) -> np.ndarray:
    x = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float32)
    if x.shape[1] != dim:
        raise LabError(f"vectors have {x.shape[1]} dimensions, the store holds {dim}",
                       hint="query with the same embedding model the index was built with")
    return x


class NumpyStore(VectorStore):
    """Brute force: scores = Q @ X^T, the reference every other store is checked against."""
    kind = "numpy"

    def __init__(self, dim: int):
        super().__init__(dim)
        self.vectors = np.zeros((0, dim), dtype=np.float32)

    def add(self, vectors):
        self.vectors = np.concatenate([self.vectors, _as_matrix(vectors, self.dim)])

    def search(self, queries, k):
        return top_k(_as_matrix(queries, self.dim) @ self.vectors.T, k)   # (Q, N)

    @property
    def size(self):
        return len(self.vectors)

    def save(self, folder):
        np.save(Path(folder) / "vectors.npy", self.vectors)

    @classmethod
    def load(cls, folder, dim, **options):
        store = cls(dim)
        store.vectors = np.load(Path(folder) / "vectors.npy")
        return store


class FaissStore(VectorStore):
    """FAISS: `flat` (exact inner product), `ivf` (k-means cells, search `nprobe` of them), `hnsw` (graph)."""

    def __init__(self, dim: int, method: str = "flat", nlist: int | None = None, nprobe: int = 8,
                 hnsw_m: int = 32, ef_search: int = 64):
        import faiss

        super().__init__(dim)
        self.method, self.nlist, self.nprobe, self.hnsw_m, self.ef_search = (
            method,
            nlist,
            nprobe,
            hnsw_m,
            ef_search,
        )
        self.kind = "faiss" if method == "flat" else f"faiss-{method}"
        if method == "flat":
            self.index = faiss.IndexFlatIP(dim)
        elif method == "hnsw":
            self.index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efSearch = ef_search
        elif method == "ivf":
            self.index = None     # IVF needs training data: built on the first add
        else:
            raise LabError(f"unknown FAISS method {method!r}", hint="use flat, ivf or hnsw")

    def add(self, vectors):
        import faiss

        x = _as_matrix(vectors, self.dim)
        if self.index is None:
            # about sqrt(N) cells (at least 39 points each, FAISS's own warning threshold)
            self.nlist = self.nlist or max(1, min(int(np.sqrt(len(x))), len(x) // 39))
            quantizer = faiss.IndexFlatIP(self.dim)
            self.index = faiss.IndexIVFFlat(quantizer, self.dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
            self.index.train(x)
            self.index.nprobe = min(self.nprobe, self.nlist)
        self.index.add(x)

    def search(self, queries, k):
        if self.index is None or self.index.ntotal == 0:
            q = len(np.atleast_2d(queries))
            return np.full((q, k), -np.inf, dtype=np.float32), np.full((q, k), -1, dtype=np.int64)
        scores, rows = self.index.search(_as_matrix(queries, self.dim), k)
        scores = np.where(rows < 0, -np.inf, scores)
        return scores.astype(np.float32), rows.astype(np.int64)

    @property
    def size(self):
        return 0 if self.index is None else int(self.index.ntotal)

    def save(self, folder):
        import faiss

        faiss.write_index(self.index, str(Path(folder) / "faiss.index"))
        (Path(folder) / "faiss.json").write_text(json.dumps(
            {"method": self.method, "nlist": self.nlist, "nprobe": self.nprobe, "hnsw_m": self.hnsw_m,
             "ef_search": self.ef_search}))

    @classmethod
    def load(cls, folder, dim, **options):
        import faiss

        params = json.loads((Path(folder) / "faiss.json").read_text())
        store = cls(dim, **params)
        store.index = faiss.read_index(str(Path(folder) / "faiss.index"))
        if params["method"] == "ivf":
            store.index.nprobe = min(options.get("nprobe", params["nprobe"]), store.nlist)
        if params["method"] == "hnsw":
            store.index.hnsw.efSearch = options.get("ef_search", params["ef_search"])
        return store


class ChromaStore(VectorStore):
    """Chroma: embedded (a PersistentClient in a folder) or a server (`url`); rows are stored as ids "0", "1",
    ...

    Chroma's "ip" space returns distance = 1 - <q, x>, turned back into a score here. Its HNSW graph is
    searched with a wide beam (ef_search) so small corpora come back exact."""
    kind = "chroma"
    COLLECTION = "llmlab-chunks"

    def __init__(self, dim: int, folder: Path | None = None, url: str | None = None,
                 collection: str | None = None,
                 ef_search: int = 256, fresh: bool = False):
        import chromadb
        from chromadb.config import Settings

        super().__init__(dim)
        settings = Settings(anonymized_telemetry=False)
        self.url, self.ef_search = url, ef_search
        self.collection_name = collection or self.COLLECTION
        if url:
            from urllib.parse import urlparse

            parsed = urlparse(url if "://" in url else f"http://{url}")
            self.client = chromadb.HttpClient(host=parsed.hostname, port=parsed.port or 8000,
                                              ssl=parsed.scheme == "https", settings=settings)
        elif folder is not None:
            self.client = chromadb.PersistentClient(path=str(folder), settings=settings)
        else:
            self.client = chromadb.EphemeralClient(settings=settings)
        if fresh and self.collection_name in [c.name for c in self.client.list_collections()]:
            self.client.delete_collection(self.collection_name)      # a rebuild starts from nothing
        self.collection = self.client.get_or_create_collection(
            self.collection_name, embedding_function=None,
            configuration={"hnsw": {"space": "ip", "ef_search": ef_search, "ef_construction": max(ef_search,
                                                                                                  100)}})

    def add(self, vectors):
        x = _as_matrix(vectors, self.dim)
        start = self.size
        step = self.client.get_max_batch_size()
        for s in range(0, len(x), step):
            part = x[s:s + step]
            self.collection.add(ids=[str(start + s + i) for i in range(len(part))], embeddings=part)

    def search(self, queries, k):
        q = _as_matrix(queries, self.dim)
        n = min(k, self.size)
        scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        rows = np.full((len(q), k), -1, dtype=np.int64)
        if n == 0:
            return scores, rows
        result = self.collection.query(query_embeddings=q, n_results=n, include=["distances"])
        for i, (ids, dists) in enumerate(zip(result["ids"], result["distances"], strict=True)):
            rows[i, :len(ids)] = [int(x) for x in ids]
            scores[i, :len(ids)] = 1.0 - np.asarray(dists, dtype=np.float32)
        return scores, rows

    @property
    def size(self):
        return int(self.collection.count())

    def save(self, folder):
        # a PersistentClient writes as it goes; a server keeps its own data
        (Path(folder) / "chroma.json").write_text(json.dumps(
            {"url": self.url, "collection": self.collection_name, "ef_search": self.ef_search}))

    @classmethod
    def load(cls, folder, dim, **options):
        params = json.loads((Path(folder) / "chroma.json").read_text())
        url = options.get("url") or params["url"]
        return cls(dim, folder=None if url else Path(folder) / "chroma", url=url,
                   collection=params["collection"], ef_search=params["ef_search"])


def make_store(kind: str, dim: int, folder: Path | None = None, **options) -> VectorStore:
    """A new, empty store; `folder` is where an embedded Chroma keeps its database."""
    if kind == "numpy":
        return NumpyStore(dim)
    if kind in ("faiss", "faiss-flat"):
        return FaissStore(dim, "flat")
    if kind == "faiss-ivf":
        return FaissStore(dim, "ivf", nprobe=options.get("nprobe", 8))
    if kind == "faiss-hnsw":
        return FaissStore(dim, "hnsw", ef_search=options.get("ef_search", 64))
    if kind == "chroma":
        return ChromaStore(dim, folder=None if folder is None else Path(folder) / "chroma",
                           url=options.get("url"),
                           collection=options.get("collection"), fresh=True)
    raise LabError(f"unknown vector store {kind!r}", hint="use one of " + ", ".join(STORES))


def load_store(kind: str, folder: Path, dim: int, **options) -> VectorStore:
    cls = {"numpy": NumpyStore, "chroma": ChromaStore}.get(kind, FaissStore)
    if kind not in STORES and kind != "faiss-flat":
        raise LabError(f"unknown vector store {kind!r} in {folder}", hint="rebuild the index")
    return cls.load(Path(folder), dim, **options)

"""The retriever: chunks + embeddings + a vector store + BM25, saved as one folder with a manifest.

    index = Index.build("python-docs", IndexConfig(store="faiss"), out="runs/rag/python-docs")
    hits = index.search("how do I leave a loop early?", k=5)        # hybrid by default; "dense" or "bm25"
    hits[0].chunk.doc, hits[0].chunk.text, hits[0].score
    index = Index.load("runs/rag/python-docs")                       # Index.load(dir, corpus=...) checks
    staleness

The folder holds manifest.json (model, chunking, corpus hash, store), chunks.jsonl, embeddings.npy and the
store's files; an index whose corpus, model or chunking no longer match is reported as stale, never used.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from llmlab.atomic import rebuild_dir
from llmlab.data import Corpus, load_corpus
from llmlab.errors import LabError
from llmlab.rag.chunking import Chunk, ChunkConfig, chunk_corpus, corpus_hash
from llmlab.rag.contextual import add_context
from llmlab.rag.dedup import collapse, exact_copies
from llmlab.rag.embed import DEFAULT_MODEL
from llmlab.rag.fusion import reciprocal_rank_fusion
from llmlab.rag.stores import STORES, VectorStore, load_store, make_store
from llmlab.search.bm25 import BM25, with_identifiers

METHODS = ("hybrid", "dense", "bm25")
# hybrid search defaults, chosen on the dev questions only (docs/rag.md, "Tuning"): weights of (dense, BM25)
# in the fusion, the RRF constant, and how many candidates each method hands to the fusion
WEIGHTS = (1.0, 0.5)
# a third fused list ranks documents by how well their opening chunk (title + first lines) matches the
# query, each document standing for its best chunk: what a page is about, not only its best passage
OPENING_WEIGHT = 1.0
CANDIDATES = 50
FUSION_K = 30       # RRF's constant: 30 ties 60 on dev recall@5 and ranks the answer a little higher (MRR)
# at most this many hits from one document (None: no limit). One per document helped on dev before the page
# openings joined the fusion; with them it ties no limit on dev, so the simpler search is the default
PER_DOC: int | None = None
# embed_model="none": chunks + BM25, no embeddings (fast to build, bm25 search only)
KEYWORD_ONLY = "none"
FORMAT = 1
# what an index folder holds (a rebuild replaces these, and leaves any other file where it is)
INDEX_FILES = ("manifest.json", "chunks.jsonl", "embeddings.npy", "bm25.json", "vectors.npy", "faiss.index",
               "faiss.json", "chroma", "chroma.json")


@dataclass
class IndexConfig:
    corpus: str = "python-docs"
    embed_model: str = DEFAULT_MODEL  # or "none": a keyword-only index (BM25), nothing embedded
    store: str = "faiss"            # faiss | faiss-ivf | faiss-hnsw | chroma | numpy
    chroma_url: str | None = None   # a Chroma server instead of the embedded database
    chunk_size: int = 200
    chunk_overlap: int = 32
    chunk_unit: str = "tokens"      # tokens of the embedding model, or chars
    max_documents: int | None = None
    batch_size: int = 32
    device: str = "cpu"
    contextual: bool = True         # embed and BM25-index "title > section" + the chunk (rag/contextual.py)
    identifiers: bool = True        # BM25 also indexes code identifiers whole (str.join, **kwargs, __init__)

    @property
    def chunking(self) -> ChunkConfig:
        return ChunkConfig(self.chunk_size, self.chunk_overlap, self.chunk_unit)

    def check(self) -> IndexConfig:
        """Refuse bad settings before anything is embedded (a typo in --store must not cost minutes)."""
        self.chunking.check()
        if self.embed_model != KEYWORD_ONLY and self.store not in (*STORES, "faiss-flat"):
            raise LabError(f"unknown vector store {self.store!r}", hint="use one of " + ", ".join(STORES))
        return self


@dataclass
class Hit:
    """One retrieved chunk: `score` is the method's own (cosine, BM25, or fused RRF), `rank` starts at 1."""
    chunk: Chunk
    score: float
    rank: int
    method: str
    parts: dict[str, float] = field(default_factory=dict)   # hybrid: each method's rank of this chunk
    copies: list[Chunk] = field(default_factory=list)       # other sources repeating this text (rag/dedup.py)

    @property
    def sources(self) -> list[Chunk]:
        """Every chunk this hit stands for: its own, then its copies in other places."""
        return [self.chunk, *self.copies]

    def to_dict(self) -> dict:
        return {"rank": self.rank, "score": self.score, "method": self.method, "id": self.chunk.id,
                "doc": self.chunk.doc, "start": self.chunk.start, "end": self.chunk.end,
                "text": self.chunk.text,
                **({"parts": self.parts} if self.parts else {}),
                **({"also_in": [{"id": c.id, "doc": c.doc, "start": c.start, "end": c.end}
                                for c in self.copies]} if self.copies else {})}


class Index:
    def __init__(self, chunks: list[Chunk], vectors: np.ndarray, store: VectorStore, bm25: BM25,
                 manifest: dict,
                 embedder=None, folder: Path | None = None):
        self.chunks, self.vectors, self.store, self.bm25 = chunks, vectors, store, bm25
        self.manifest, self._embedder, self.folder = manifest, embedder, folder
        self._texts, self._docs = [c.text for c in chunks], [c.doc for c in chunks]
        self._openings = [i for i, c in enumerate(chunks) if c.start == 0]     # each document's first chunk
        self.copies = exact_copies(self._texts)     # row -> rows with the same text
        self._rerankers: dict = {}

    # ---- building and loading -------------------------------------------------------------------

    @classmethod
    def build(cls, corpus: Corpus | str, cfg: IndexConfig | None = None, embedder=None,
              out: str | Path | None = None, progress: bool = True) -> Index:
        """Chunk, embed and store `corpus`; with `out`, save there (replacing an index already in it only once
        the new one is complete; files in `out` that are not the index's are kept)."""
        from llmlab.rag.embed import Embedder

        cfg = (cfg or IndexConfig()).check()
        # how to read the corpus again (to check staleness); None for an object
        spec = None
        if isinstance(corpus, str):
            spec = str(Path(corpus).resolve()) if Path(corpus).exists() else corpus
            cfg = dataclasses.replace(cfg, corpus=spec)
            corpus = load_corpus(spec, max_documents=cfg.max_documents)
        keyword_only = cfg.embed_model == KEYWORD_ONLY and embedder is None
        if keyword_only:
            from llmlab.rag.embed import embedding_tokenizer

            tokenizer = embedding_tokenizer(DEFAULT_MODEL) if cfg.chunk_unit == "tokens" else None
        else:
            embedder = embedder or Embedder(cfg.embed_model, device=cfg.device, batch_size=cfg.batch_size)
            tokenizer = embedder.tokenizer if cfg.chunk_unit == "tokens" else None
        start = time.perf_counter()
        chunks = chunk_corpus(corpus, cfg.chunking, tokenizer)
        if not chunks:
            raise LabError(f"corpus {corpus.name!r} gave no chunks",
                           hint="it holds no text; point --corpus elsewhere")
        if cfg.contextual:
            chunks = add_context(chunks, corpus.documents)
        chunk_s = time.perf_counter() - start
        vectors = (np.zeros((len(chunks), 0), np.float32) if keyword_only
                   else embedder.embed_documents([c.indexed for c in chunks], progress=progress))   # (N, D)
        embed_s = time.perf_counter() - start - chunk_s
        info = {
            "format": FORMAT, "corpus": corpus.name, "corpus_spec": spec, "max_documents": cfg.max_documents,
            "corpus_hash": corpus_hash(corpus),
            "documents": corpus.n_documents, "chunks": len(chunks),
            "embed_model": KEYWORD_ONLY if keyword_only else embedder.name,
            "dim": 0 if keyword_only else embedder.dim,
            "max_tokens": None if keyword_only else embedder.max_tokens,
            "chunking": dataclasses.asdict(cfg.chunking), "chroma_url": cfg.chroma_url,
            "contextual": cfg.contextual, "identifiers": cfg.identifiers,
        }

        def assemble(folder: Path | None) -> Index:
            store = None if keyword_only else make_store(cfg.store, embedder.dim, folder=folder,
                                                         url=cfg.chroma_url)
            if store is not None:
                store.add(vectors)
            manifest = {**info, "store": KEYWORD_ONLY if keyword_only else store.kind,
                        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                        "seconds": {"chunk": round(chunk_s, 3), "embed": round(embed_s, 3),
                                    "store": round(time.perf_counter() - start - chunk_s - embed_s, 3)}}
            return cls(chunks, vectors, store, BM25.build(bm25_texts(chunks, cfg.identifiers)), manifest,
                       embedder, folder)

        if out is None:
            return assemble(None)
        # built in a sibling folder and swapped in whole at the end: a failure or a kill at any moment leaves
        # the old index loadable, never new chunks under an old manifest (or the reverse)
        folder = Path(out)
        with rebuild_dir(folder, owned=INDEX_FILES) as tmp:
            index = assemble(tmp)
            index.save(tmp)
        index.folder = folder
        if index.manifest["store"] == "chroma" and not cfg.chroma_url:
            # its database moved with the folder
            index.store = load_store("chroma", folder, index.manifest["dim"])
        return index

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "chunks.jsonl", "w", encoding="utf-8") as f:
            for c in self.chunks:
                f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
        np.save(folder / "embeddings.npy", self.vectors)
        if self.store is not None:
            self.store.save(folder)
        self.bm25.save(folder)
        (folder / "manifest.json").write_text(json.dumps(self.manifest, indent=2) + "\n", encoding="utf-8")
        self.folder = folder
        return folder

    @classmethod
    def load(cls, folder: str | Path, embedder=None, corpus: Corpus | None = None, **store_options) -> Index:
        """Open a saved index; with `corpus`, fail if the index was built from other text."""
        folder = Path(folder)
        path = folder / "manifest.json"
        if not path.exists():
            raise LabError(f"no index at {folder} (manifest.json is missing)",
                           hint="build one first: llmlab rag index --corpus python-docs")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise LabError(f"the index at {folder} has format {manifest.get('format')}, this llmlab reads "
                           f"{FORMAT}",
                           hint="rebuild it with llmlab rag index")
        with open(folder / "chunks.jsonl", encoding="utf-8") as f:
            chunks = [Chunk.from_dict(json.loads(line)) for line in f if line.strip()]
        vectors = np.load(folder / "embeddings.npy")
        if manifest.get("chroma_url") and "url" not in store_options:
            store_options["url"] = manifest["chroma_url"]
        store = (None if manifest["store"] == KEYWORD_ONLY
                 else load_store(manifest["store"], folder, manifest["dim"], **store_options))
        bm25 = BM25.load(folder, bm25_texts(chunks, manifest.get("identifiers", False)))
        index = cls(chunks, vectors, store, bm25, manifest, embedder, folder)
        if corpus is not None:
            index.check_fresh(corpus)
        if embedder is not None:
            index._check_embedder(embedder)
        return index

    def stale_reasons(self, corpus: Corpus | None = None, cfg: IndexConfig | None = None) -> list[str]:
        """Why this index no longer matches `corpus` / `cfg` (empty when it does)."""
        m, reasons = self.manifest, []
        if corpus is not None and m["corpus_hash"] != corpus_hash(corpus):
            reasons.append(f"the corpus {corpus.name!r} changed since the index was built "
                           f"(hash {m['corpus_hash'][:12]} then, {corpus_hash(corpus)[:12]} now)")
        if cfg is not None:
            if cfg.embed_model != m["embed_model"]:
                reasons.append(f"embedding model {m['embed_model']!r}, asked for {cfg.embed_model!r}")
            if dataclasses.asdict(cfg.chunking) != m["chunking"]:
                reasons.append(f"chunking {m['chunking']}, asked for {dataclasses.asdict(cfg.chunking)}")
            for key in ("contextual", "identifiers"):
                if getattr(cfg, key) != m.get(key, False):
                    reasons.append(f"{key}={m.get(key, False)}, asked for {key}={getattr(cfg, key)}")
            want = KEYWORD_ONLY if cfg.embed_model == KEYWORD_ONLY else make_store_kind(cfg.store)
            if want != m["store"]:
                reasons.append(f"store {m['store']!r}, asked for {cfg.store!r}")
        return reasons

    def check_fresh(self, corpus: Corpus | None = None, cfg: IndexConfig | None = None) -> None:
        reasons = self.stale_reasons(corpus, cfg)
        if reasons:
            raise LabError(f"the index at {self.folder} is stale: " + "; ".join(reasons),
                           hint=f"rebuild it: llmlab rag index --corpus "
                                f"{self.manifest.get('corpus_spec') or self.manifest['corpus']} "
                                f"--out {self.folder}")

    # ---- searching ------------------------------------------------------------------------------

    @property
    def embedder(self):
        if self._embedder is None:
            from llmlab.rag.embed import Embedder

            self._embedder = Embedder(self.manifest["embed_model"])
            self._check_embedder(self._embedder)
        return self._embedder

    def _check_embedder(self, embedder) -> None:
        if embedder.name != self.manifest["embed_model"] or embedder.dim != self.manifest["dim"]:
            raise LabError(f"the index was built with {self.manifest['embed_model']} ({self.manifest['dim']} "
                           f"dims), "
                           f"not {embedder.name} ({embedder.dim} dims)",
                           hint="search with the model that built the index, or rebuild it")

    def search(self, query: str, k: int = 5, method: str = "hybrid", **options) -> list[Hit]:
        """The best k chunks for one query (see `search_many`)."""
        return self.search_many([query], k, method, **options)[0]

    def search_many(self, queries: list[str], k: int = 5, method: str = "hybrid",
                    candidates: int = CANDIDATES, weights: tuple[float, float] = WEIGHTS,
                    rrf_k: int = FUSION_K, dedup: bool = True, mmr: float | None = None,
                    rerank: str | None = None, per_doc: int | None = PER_DOC,
                    opening: float = OPENING_WEIGHT) -> list[list[Hit]]:
        """Best k chunks per query. hybrid fuses the top `candidates` of dense and BM25 with weighted RRF,
        and with weight `opening` the documents ranked by their opening chunk (0: left out).

        Then, in order: `rerank` (a cross-encoder's name) re-scores the candidates, `mmr` (lambda in (0, 1])
        re-orders them for diversity, `dedup` collapses copies of one text into one hit with `copies`, and
        at most `per_doc` hits come from one document."""
        if method not in METHODS:
            raise LabError(f"unknown retrieval method {method!r}", hint="use one of " + ", ".join(METHODS))
        if k < 1:
            raise LabError(f"k={k} asks for no results", hint="use k >= 1")
        if method != "bm25" and self.store is None:
            raise LabError(f"this index is keyword-only (built with embed_model=none): {method} search needs "
                           f"embeddings",
                           hint="search with --method bm25 (method='bm25' in Python), or rebuild the index "
                                "with an "
                                "embedding model")
        if mmr is not None and not 0.0 < mmr <= 1.0:
            raise LabError(f"mmr={mmr} is outside (0, 1]", hint="e.g. --mmr 0.7 (1 keeps the plain order)")
        reorder = dedup or mmr is not None or rerank is not None
        # deeper lists when something after the ranking may drop or move items
        depth = max(k, candidates) if (method == "hybrid" or reorder) else k
        dense = self.dense_rows(queries, depth) if method != "bm25" else None
        sparse = self.bm25.search(self.bm25_queries(queries), depth) if method != "dense" else None
        pages = self.opening_ranks(queries, depth) if method == "hybrid" and opening else None
        out = []
        for qi in range(len(queries)):
            if method == "hybrid":
                ranks = [dense[1][qi].tolist(), sparse[1][qi].tolist()]
                fused = reciprocal_rank_fusion(ranks, k=rrf_k, weights=weights)
                if pages is not None:
                    best: dict[str, int] = {}
                    for row, _ in fused:
                        best.setdefault(self._docs[row], row)
                    ranks.append([best.get(self._docs[row], row) for row in pages[qi]])
                    fused = reciprocal_rank_fusion(ranks, k=rrf_k, weights=(*weights, opening))
                ranked = [(row, float(score)) for row, score in fused]
                where = [{row: i for i, row in enumerate(r, start=1)} for r in ranks]
                # two or three ranked lists (the openings only when weighted): zip stops at the last one
                names = ("dense", "bm25", "opening")
                parts = {row: {name: w[row] for name, w in zip(names, where, strict=False) if row in w}
                         for row, _ in ranked}
            else:
                scores, rows = (dense if method == "dense" else sparse)
                ranked = [(r, float(sc)) for r, sc in zip(rows[qi].tolist(), scores[qi].tolist(), strict=True)
                          if r >= 0]
                parts = {}
            out.append(self._finish(queries[qi], ranked, k, method, parts, dedup, mmr, rerank, per_doc))
        return out

    def _finish(self, query: str, ranked: list[tuple[int, float]], k: int, method: str, parts: dict,
                dedup: bool, mmr: float | None, rerank: str | None, per_doc: int | None) -> list[Hit]:
        """Re-rank, diversify and de-duplicate one query's ranked (row, score) list into k hits."""
        if rerank is not None:
            from llmlab.rag.rerank import cross_encoder

            if rerank not in self._rerankers:          # loaded once per index, not once per query
                self._rerankers[rerank] = cross_encoder(rerank)
            model = self._rerankers[rerank]
            scores = model.predict([(query, self.chunks[r].indexed) for r, _ in ranked])
            ranked = sorted(((r, float(s)) for (r, _), s in zip(ranked, scores, strict=True)),
                            key=lambda rs: -rs[1])
        if mmr is not None and ranked and self.vectors.shape[1]:
            from llmlab.rag.mmr import mmr as mmr_order

            rows = [r for r, _ in ranked]
            order = mmr_order(np.array([s for _, s in ranked]), self.vectors[rows], len(rows), mmr)
            ranked = [ranked[i] for i in order]
        score = dict(ranked)
        if dedup:
            kept = collapse([r for r, _ in ranked], self._texts, k, copies=self.copies, docs=self._docs,
                            per_doc=per_doc)
        else:
            taken: dict[str, int] = {}
            kept = []
            for r, _ in ranked:
                if len(kept) < k and (per_doc is None or taken.get(self._docs[r], 0) < per_doc):
                    taken[self._docs[r]] = taken.get(self._docs[r], 0) + 1
                    kept.append((r, []))
        return [Hit(self.chunks[row], score[row], rank, method, parts.get(row, {}),
                    [self.chunks[c] for c in copies])
                for rank, (row, copies) in enumerate(kept, start=1)]

    def opening_ranks(self, queries: list[str], depth: int) -> list[list[int]]:
        """Per query, the opening chunk rows (a document's chunk at offset 0) by cosine, best first."""
        rows = np.array(self._openings)
        sims = self.embedder.embed_queries(queries) @ self.vectors[rows].T       # (Q, documents)
        return [rows[np.argsort(-s, kind="stable")[:depth]].tolist() for s in sims]

    def bm25_queries(self, queries: list[str]) -> list[str]:
        """Queries as the BM25 index reads them (with identifier terms when it was built with them)."""
        return [with_identifiers(q) for q in queries] if self.manifest.get("identifiers") else queries

    def dense_rows(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), (Q, k): the vector store's answer for the embedded queries."""
        return self.store.search(self.embedder.embed_queries(queries), k)

    def __len__(self) -> int:
        return len(self.chunks)

    def __repr__(self) -> str:
        m = self.manifest
        return f"<Index {m['corpus']}: {m['chunks']} chunks, {m['embed_model']}, {m['store']}>"


def bm25_texts(chunks: list[Chunk], identifiers: bool) -> list[str]:
    """What BM25 indexes per chunk: its contextual text, plus identifier terms when asked."""
    return [with_identifiers(c.indexed) if identifiers else c.indexed for c in chunks]


def make_store_kind(kind: str) -> str:
    """The `kind` a store reports for a --store name (faiss-flat and faiss are one store)."""
    return "faiss" if kind == "faiss-flat" else kind


# ---- finding a saved index by name (the CLI and the agent's search tool) -----------------------------

def index_slug(name: str) -> str:
    """The folder name an index of `name` (a corpus name or path) gets under runs/rag/."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-",
                  Path(name).name if Path(name).exists() else name).strip("-") or "index"


def index_dir(index: str) -> Path:
    """An index folder, or the folder of a name under runs/rag/ ($LLMLAB_RUNS/rag/)."""
    from llmlab.runs import runs_root

    path = Path(index).expanduser()
    # a path (it exists, or it names folders) is taken as given, so a missing one is reported as typed
    if (path / "manifest.json").exists() or path.exists() or len(path.parts) > 1:
        return path
    return runs_root() / "rag" / index_slug(index)


def corpus_of(index: Index) -> Corpus | None:
    """The corpus an index was built from, read again; None when it cannot be (built from an object,
    moved)."""
    spec = index.manifest.get("corpus_spec")
    if not spec or spec.startswith("hf:"):     # hf: would download again just to compare
        return None
    try:
        return load_corpus(spec, max_documents=index.manifest.get("max_documents"))
    except LabError:
        return None


def open_index(index: str, check: bool = True) -> Index:
    """Load a saved index by folder or name; when its corpus can be read again here, refuse a stale one."""
    loaded = Index.load(index_dir(index))
    corpus = corpus_of(loaded)
    if check and corpus is not None:
        loaded.check_fresh(corpus)
    return loaded

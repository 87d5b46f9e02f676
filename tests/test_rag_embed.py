"""Embeddings: llmlab's call equals SentenceTransformer.encode and a hand-written mean pooling; the cache is
exact."""

import numpy as np
import pytest

from llmlab.rag.embed import Embedder, EmbeddingCache, embed_by_hand, resolve_model

TEXTS = ["The break statement leaves the nearest loop.", "Strings have a split method.",
         "x" * 3000,                                     # longer than 256 tokens: truncated the same way
         "Generators yield values lazily."]


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    return Embedder(cache_dir=tmp_path_factory.mktemp("emb-cache"), batch_size=2)


@pytest.mark.slow
def test_equals_sentence_transformers_and_hand_pooling(embedder):
    from sentence_transformers import SentenceTransformer

    mine = embedder.embed_documents(TEXTS, progress=False)
    ref = SentenceTransformer(resolve_model("all-MiniLM-L6-v2"), device="cpu").encode(TEXTS,
                                                                                      normalize_embeddings=True)
    assert mine.shape == (4, 384) and mine.dtype == np.float32
    np.testing.assert_allclose(mine, ref, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embed_by_hand(TEXTS, embedder.path, embedder.max_tokens), ref, atol=1e-5)
    # MiniLM has no query prompt: queries embed like documents
    np.testing.assert_allclose(embedder.embed_queries(TEXTS[:1]), ref[:1], atol=1e-5)


@pytest.mark.slow
def test_cache_returns_the_same_vectors_without_recomputing(embedder, monkeypatch):
    first = embedder.embed_documents(TEXTS, progress=False)
    reopened = EmbeddingCache(embedder.cache.folder)          # from disk, as a new process would
    assert len(reopened) >= len(TEXTS)

    def boom(*a, **k):
        raise AssertionError("cached texts must not be embedded again")

    monkeypatch.setattr(embedder, "_encode", boom)
    np.testing.assert_array_equal(embedder.embed_documents(TEXTS, progress=False), first)
    monkeypatch.undo()
    shards = sorted(embedder.cache.folder.glob("*.npz"))
    embedder.embed_queries(["a query that was never seen"])
    assert sorted(embedder.cache.folder.glob("*.npz")) == shards       # queries never touch the disk cache


def test_cache_round_trip(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put(["a", "b"], np.eye(2, dtype=np.float32))
    cache.put(["c"], np.ones((1, 2), dtype=np.float32))
    again = EmbeddingCache(tmp_path)
    got = again.get(["b", "z", "c"])
    np.testing.assert_array_equal(got[0], [0, 1])
    assert got[1] is None
    np.testing.assert_array_equal(got[2], [1, 1])


def test_cache_compacts_its_shards_and_keeps_every_vector(tmp_path):
    rng = np.random.default_rng(0)
    cache = EmbeddingCache(tmp_path, max_shards=4)
    written = {}
    for i in range(40):                                   # 40 writes, as 40 re-indexings would make
        keys = [f"k{i}-{j}" for j in range(3)]
        vectors = rng.standard_normal((3, 8)).astype(np.float32)
        cache.put(keys, vectors)
        written.update(zip(keys, vectors, strict=True))
        assert len(list(tmp_path.glob("*.npz"))) <= 4     # one shard per write used to pile up: 40 files
    again = EmbeddingCache(tmp_path)
    assert len(again) == 120
    for key, got in zip(written, again.get(list(written)), strict=True):
        np.testing.assert_array_equal(got, written[key])
    assert not list(tmp_path.glob(".*"))                  # no temporary file left


def test_cache_keeps_at_most_max_entries_newest_first(tmp_path):
    import os

    cache = EmbeddingCache(tmp_path, max_shards=2, max_entries=10)
    for i in range(12):
        cache.put([f"k{i}-{j}" for j in range(2)], np.full((2, 4), i, dtype=np.float32))
        for n, shard in enumerate(sorted(tmp_path.glob("*.npz"), key=lambda p: p.stat().st_mtime_ns)):
            os.utime(shard, ns=(10**18 + i * 1000 + n,) * 2)     # distinct times however coarse the clock
    again = EmbeddingCache(tmp_path, max_entries=10)
    kept = [k for k, v in zip([f"k{i}-{j}" for i in range(12) for j in range(2)],
                              again.get([f"k{i}-{j}" for i in range(12) for j in range(2)]), strict=True)
            if v is not None]
    assert len(kept) <= 10 and {"k11-0", "k11-1", "k10-0", "k10-1"} <= set(kept)
    assert "k0-0" not in kept                                  # the oldest went first

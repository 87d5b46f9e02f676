"""Chunking: chunks reassemble their document, overlap and sizes hold, cuts prefer boundaries, ids are
stable."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmlab.data import Corpus, Document, load_corpus
from llmlab.errors import LabError
from llmlab.rag.chunking import (
    ChunkConfig,
    boundary_strength,
    chunk_corpus,
    chunk_text,
    corpus_hash,
    reassemble,
)


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from llmlab.rag.embed import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2"))


def _check_chunks(text, chunks, cfg):
    assert reassemble(chunks) == text                          # coverage: nothing lost, nothing invented
    for c in chunks:
        assert text[c.start:c.end] == c.text                   # offsets are true
        assert 1 <= c.n_units <= cfg.size
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.start < b.start and b.start <= a.end          # moving forward, no gaps
        assert b.end > a.end


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab .\n!?")), min_size=1, max_size=400),
       size=st.integers(2, 60), overlap_frac=st.floats(0, 0.9))
def test_char_chunks_cover_any_text(text, size, overlap_frac):
    cfg = ChunkConfig(size=size, overlap=min(size - 1, int(size * overlap_frac)), unit="chars")
    chunks = chunk_text(text, "d", cfg)
    if not text.strip():
        assert chunks == []
        return
    _check_chunks(text, chunks, cfg)


def test_char_overlap_is_as_asked_when_no_boundary_moves_it():
    text = "x" * 100                                   # no boundaries: cuts at exactly size, overlap exact
    chunks = chunk_text(text, "d", ChunkConfig(size=30, overlap=10, unit="chars"))
    assert [(c.start, c.end) for c in chunks] == [(0, 30), (20, 50), (40, 70), (60, 90), (80, 100)]


def test_cuts_prefer_paragraphs_then_sentences():
    para = "First paragraph sentence one. Sentence two is here.\n\nSecond paragraph starts here and runs on"
    chunks = chunk_text(para, "d", ChunkConfig(size=70, overlap=0, unit="chars"))
    assert chunks[0].text.endswith("\n\n")              # the paragraph break, not the 70th character
    sent = "One sentence ends here. Then another one goes on and on and on without stopping"
    chunks = chunk_text(sent, "d", ChunkConfig(size=40, overlap=0, unit="chars"))
    assert chunks[0].text == "One sentence ends here. "
    assert boundary_strength("a b", 2) == 1 and boundary_strength("ab", 1) == 0


def test_token_chunks_on_python_docs(minilm_tokenizer):
    corpus = load_corpus("python-docs")
    docs = [d for d in corpus.documents if d.name in ("break", "typesseq", "formatstrings")]
    cfg = ChunkConfig(size=120, overlap=20, unit="tokens")
    chunks = chunk_corpus(Corpus("sub", docs), cfg, minilm_tokenizer)
    for d in docs:
        mine = [c for c in chunks if c.doc == d.name]
        _check_chunks(d.text, mine, cfg)
        for c in mine:      # the size in tokens is what the embedding model will see (within a token or two
            n = len(minilm_tokenizer(c.text, add_special_tokens=False)["input_ids"])    # at the cut edges)
            assert abs(n - c.n_units) <= 2 and n <= cfg.size + 2
    text = next(d.text for d in docs if d.name == "typesseq")
    long = [c for c in chunks if c.doc == "typesseq"]
    assert len(long) > 5
    # consecutive chunks share about `overlap` tokens (the start may move up to a quarter forward to a word)
    shared = [len(minilm_tokenizer(text[b.start:a.end], add_special_tokens=False)["input_ids"])
              for a, b in zip(long, long[1:], strict=False)]
    assert all(cfg.overlap * 3 // 4 - 1 <= s <= cfg.overlap + 1 for s in shared), shared


def test_ids_are_stable_and_unique():
    corpus = load_corpus("python-docs")
    cfg = ChunkConfig(size=400, overlap=50, unit="chars")
    a, b = chunk_corpus(corpus, cfg), chunk_corpus(corpus, cfg)
    assert [c.id for c in a] == [c.id for c in b]
    assert len({c.id for c in a}) == len(a)
    assert a[0].id == f"{a[0].doc}:{a[0].start}-{a[0].end}"


def test_bad_settings_and_corpus_hash():
    with pytest.raises(LabError, match="overlap"):
        chunk_text("abc", "d", ChunkConfig(size=10, overlap=10, unit="chars"))
    with pytest.raises(LabError, match="unit"):
        chunk_text("abc", "d", ChunkConfig(unit="words"))
    with pytest.raises(LabError, match="tokenizer"):
        chunk_text("abc", "d", ChunkConfig(unit="tokens"))
    one = Corpus("c", [Document("a", "x"), Document("b", "y")])
    assert corpus_hash(one) != corpus_hash(Corpus("c", [Document("a", "x"), Document("b", "z")]))
    assert corpus_hash(one) != corpus_hash(Corpus("c", [Document("ax", ""), Document("b", "y")]))

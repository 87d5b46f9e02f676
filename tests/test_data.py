from pathlib import Path

import pytest

from llmlab.data import Corpus, Document, load_corpus
from llmlab.data import tinyshakespeare as ts
from llmlab.errors import LabError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"


def test_single_text_splits_90_10_by_characters():
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    train, val = Corpus("one", [Document("one", text)]).split()
    assert train.text == text[:900]
    assert val.text == text[900:]


def test_multi_document_split_is_deterministic_and_by_document():
    docs = [Document(f"doc{i}", f"text {i} " * 10) for i in range(50)]
    train, val = Corpus("many", docs).split()
    assert val.n_documents == 5 and train.n_documents == 45
    # the same documents go to validation whatever the order they arrive in
    _, val_rev = Corpus("many", list(reversed(docs))).split()
    assert {d.name for d in val.documents} == {d.name for d in val_rev.documents}
    assert not {d.name for d in train.documents} & {d.name for d in val.documents}


def test_python_docs_is_embedded():
    corpus = load_corpus("python-docs")
    assert corpus.n_documents > 50
    assert corpus.n_bytes > 300_000
    train, val = corpus.split()
    assert train.n_documents + val.n_documents == corpus.n_documents
    assert val.n_documents == round(corpus.n_documents * 0.1)


def test_python_stdlib_reads_source_files():
    corpus = load_corpus("python-stdlib", max_documents=20)
    assert corpus.n_documents == 20
    assert any("import" in d.text for d in corpus.documents)


def test_folder_with_non_utf8_file_is_read_and_reported(tmp_path):
    (tmp_path / "good.txt").write_text("hello wörld\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("café au lait\n".encode("latin-1"))
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    corpus = load_corpus(str(tmp_path))
    assert {d.name for d in corpus.documents} == {"good.txt", "latin1.txt"}
    bad = next(d for d in corpus.documents if d.name == "latin1.txt")
    assert "\ufffd" in bad.text and bad.text.startswith("caf")
    joined = " ".join(corpus.notes)
    assert "latin1.txt" in joined and "binary" in joined


def test_missing_path_names_the_problem_and_the_fix(tmp_path):
    with pytest.raises(LabError) as err:
        load_corpus(str(tmp_path / "nowhere"))
    assert "nowhere" in err.value.message
    assert "python-docs" in err.value.hint


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(LabError, match="no text"):
        load_corpus(str(tmp_path))


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.exists() or ts.shared_hidden(),
                    reason=f"../shared/data/tinyshakespeare.txt is not beside the project (or "
                           f"{ts.NO_SHARED_ENV} "
                           "hides it)")
def test_tinyshakespeare_offline_falls_back_to_shared(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LLMLAB_SHARED_DATA", str(SHARED.parent))
    monkeypatch.setattr(ts, "URL", "http://127.0.0.1:9/unreachable.txt")

    def offline(url, timeout):
        raise OSError("network is unreachable")

    monkeypatch.setattr(ts, "_download", offline)
    corpus = load_corpus("tinyshakespeare")
    assert corpus.n_documents == 1 and corpus.n_chars == 1115394
    train, val = corpus.split()
    assert train.n_chars == int(1115394 * 0.9)


def test_tinyshakespeare_offline_without_a_copy_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ts, "shared_candidates", lambda: [tmp_path / "none.txt"])
    monkeypatch.setattr(ts, "_download", lambda url, timeout: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(LabError) as err:
        load_corpus("tinyshakespeare")
    assert ts.URL in err.value.hint


def test_tinyshakespeare_rejects_a_corrupt_download(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ts, "shared_candidates", lambda: [])
    monkeypatch.setattr(ts, "_download", lambda url, timeout: b"truncated")
    with pytest.raises(LabError, match="checksum"):
        ts.tinyshakespeare_path()
    assert not (tmp_path / "cache" / ts.FILENAME).exists()


def test_hf_dataset_offline_fails_clearly():
    with pytest.raises(LabError) as err:
        load_corpus("hf:llmlab-no-such-org/no-such-dataset")
    assert "network" in err.value.hint


def test_unigram_baseline_is_the_smoothed_frequency_cross_entropy():
    import math

    import numpy as np

    from llmlab.data.baseline import unigram_loss

    # train counts 3, 1, 0 over a vocabulary of 3 -> add-one probabilities 4/7, 2/7, 1/7
    loss = unigram_loss(np.array([0, 0, 0, 1]), np.array([0, 2]), 3)
    assert math.isclose(loss, -(math.log(4 / 7) + math.log(1 / 7)) / 2)

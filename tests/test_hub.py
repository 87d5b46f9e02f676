from llmlab import hub


def test_unreachable_hub_switches_to_offline_mode(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    assert hub.offline_unless_reachable("gpt2") is True
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_local_folder_and_reachable_hub_leave_the_mode_alone(tmp_path, monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hub, "hub_reachable",
                        lambda timeout=3.0: (_ for _ in ()).throw(AssertionError("probed")))
    assert hub.offline_unless_reachable(tmp_path) is False       # a folder: no probe, no change
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: True)
    assert hub.offline_unless_reachable("gpt2") is False
    import os

    assert "HF_HUB_OFFLINE" not in os.environ


def test_the_one_hf_tokenizer_loader_tells_a_weights_only_folder(tmp_path):
    import pytest

    from llmlab.errors import LabError
    from llmlab.hub import load_hf_tokenizer
    from llmlab.serve.random_model import byte_bpe_tokenizer

    assert load_hf_tokenizer(tmp_path, required=False) is None       # no tokenizer file: token ids only
    with pytest.raises(LabError, match="has no tokenizer"):
        load_hf_tokenizer(tmp_path)
    byte_bpe_tokenizer("hello world, hello tokens").save_pretrained(str(tmp_path))
    assert load_hf_tokenizer(tmp_path).decode(load_hf_tokenizer(tmp_path).encode("hello")) == "hello"

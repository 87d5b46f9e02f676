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
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: (_ for _ in ()).throw(AssertionError("probed")))
    assert hub.offline_unless_reachable(tmp_path) is False       # a folder: no probe, no change
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: True)
    assert hub.offline_unless_reachable("gpt2") is False
    import os

    assert "HF_HUB_OFFLINE" not in os.environ

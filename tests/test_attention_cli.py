"""`llmlab attention ...` end to end on a toy model trained in the test (offline, a few steps)."""

from __future__ import annotations

import json

import pytest

from llmlab.cli import main


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    assert main(["attention", "train-toy", "--out", str(out), "--set", "max_steps=3", "--set", "n_embd=16",
                 "--set", "n_inner=16", "--set", "block_size=16", "--set", "max_period=8", "--json"]) == 0
    return out / "checkpoint"


def test_show_writes_pictures_html_and_summary(toy_dir, tmp_path, capsys):
    out = tmp_path / "show"
    assert main(["attention", "show", "--model", str(toy_dir), "--text", "abcdeabcde", "--out", str(out),
                 "--period", "6", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tokens"] == 10 and summary["layers"] == 2 and summary["heads"] == 4
    assert summary["max_future_weight"] == 0.0
    for picture in summary["pictures"]:
        assert (out / picture).stat().st_size > 0
    assert json.loads((out / "summary.json").read_text())["pictures"] == summary["pictures"]
    assert len(json.loads((out / "heads.json").read_text())["heads"]) == 8


def test_heads_json_and_numpy_model(toy_dir, capsys):
    assert main(["attention", "heads", "--model", str(toy_dir), "--text", "hello", "--json"]) == 0
    hf = json.loads(capsys.readouterr().out)["heads"]
    assert main(["attention", "heads", "--model", f"numpy:{toy_dir}", "--text", "hello", "--json"]) == 0
    ours = json.loads(capsys.readouterr().out)["heads"]
    assert [r["kind"] for r in hf] == [r["kind"] for r in ours]
    for a, b in zip(hf, ours, strict=True):
        assert (
            abs(a["previous_token"] - b["previous_token"]) < 1e-3
            and abs(a["induction"] - b["induction"]) < 1e-3
        )


def test_compare_and_errors(toy_dir, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["attention", "compare", "--model", str(toy_dir), "--text", "abcabc", "--text", "xyzw",
                 "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tokens"] == [6, 4] and (out / "deltas_0_1.png").exists()
    assert main(["attention", "compare", "--model", str(toy_dir), "--text", "abc"]) != 0
    assert main(["attention", "show", "--model", str(tmp_path / "missing")]) != 0


def test_the_default_text_is_cut_to_fit_a_small_context(toy_dir, tmp_path, capsys):
    from llmlab.attention.capture import load_attention_model
    from llmlab.attention.cli import DEFAULT_TEXT

    context = load_attention_model(str(toy_dir)).max_positions
    # the toy's characters: the full sentence does not fit
    assert context < len(DEFAULT_TEXT)
    assert main(["attention", "heads", "--model", str(toy_dir), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["heads"]) == 8
    assert main(["attention", "show", "--model", str(toy_dir), "--out", str(tmp_path / "show"), "--period",
                 "6",
                 "--json"]) == 0
    assert 1 < json.loads(capsys.readouterr().out)["tokens"] <= context

"""`llmlab attention emergence` and the lens / patch / attribute commands end to end on a tiny attention-only
toy trained in the test for a few steps (the induction head itself needs ~600 steps: docs/results.md
records it)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from llmlab.attention.emergence import _phase_change
from llmlab.attention.induction_toy import segment_windows
from llmlab.cli import main

TINY = [
    "n_embd=16",
    "block_size=16",
    "max_period=6",
    "n_windows=256",
    "batch_size=8",
    "max_steps=4",
    "measure_every=2",
]


def test_windows_hold_one_repeated_segment_at_varied_places():
    rows = segment_windows(300, 33, 26, 4, 12, seed=0)
    assert rows.shape == (300, 33) and rows.max() < 26
    found = []
    for row in rows:
        # the longest p (and its offset a) with row[a + p : a + 2p] == row[a : a + p]
        hits = [
            (p, a)
            for p in range(12, 3, -1)
            for a in range(0, 34 - 2 * p)
            if (row[a + p : a + 2 * p] == row[a : a + p]).all()
        ]
        assert hits, "every window repeats a segment of 4-12 letters"
        found.append(hits[0])
    periods, offsets = zip(*found, strict=True)
    assert len(set(periods)) >= 8 and len(set(offsets)) >= 10  # neither length nor place is fixed


def test_the_phase_change_is_read_from_the_rows():
    rows = [
        {"step": s, "induction": [[0.9, 0.9], [v, w]], "icl_score": icl}  # layer 0 never counts
        for s, v, w, icl in (
            (0, 0.05, 0.1, 0.0),
            (50, 0.1, 0.3, -0.05),
            (100, 0.4, 0.62, -0.6),
            (150, 0.8, 0.7, -0.7),
        )
    ]
    found = _phase_change(rows, 1, 0)
    assert found["formed_at_step"] == 100 and found["chosen_head_formed_at_step"] == 150
    assert found["icl_drop_between"] == [50, 100] and found["icl_after"] == -0.7


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("emergence")
    args = ["attention", "emergence", "--out", str(out), "--json"]
    for o in TINY:
        args += ["--set", o]
    assert main(args) == 0
    return out


def test_emergence_measures_every_interval_and_keeps_snapshots(toy):
    from transformers import AutoModelForCausalLM

    rows = [json.loads(line) for line in (toy / "emergence.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2, 4]
    for r in rows:
        assert np.array(r["induction"]).shape == (2, 4) and np.array(r["previous_token"]).shape == (2, 4)
        assert np.array(r["k_composition"]).shape == (4, 4) and np.isfinite(r["icl_score"])
    summary = json.loads((toy / "summary.json").read_text())
    assert (
        summary["steps"] == 4 and summary["measurements"] == 3 and (toy / "emergence.png").stat().st_size > 0
    )
    assert summary["induction_head"]["layer"] == 1
    first = AutoModelForCausalLM.from_pretrained(toy / "snapshots" / "step_000000")
    last = AutoModelForCausalLM.from_pretrained(toy / "snapshots" / "step_000004")
    final = AutoModelForCausalLM.from_pretrained(toy / "checkpoint")
    q = "model.layers.1.self_attn.q_proj.weight"
    assert (last.state_dict()[q] == final.state_dict()[q]).all()
    # snapshots are taken as it trains
    assert not (first.state_dict()[q] == final.state_dict()[q]).all()


def test_lens_patch_and_attribute_commands_on_the_toy(toy, tmp_path, capsys):
    model = str(toy / "checkpoint")
    assert (
        main(
            [
                "attention",
                "lens",
                "--model",
                model,
                "--text",
                "abcdabcd",
                "--out",
                str(tmp_path / "l"),
                "--json",
            ]
        )
        == 0
    )
    lens = json.loads(capsys.readouterr().out)
    assert lens["last_layer_equals_model_logits_to"] < 1e-5 and (tmp_path / "l" / "lens.png").exists()
    assert len(json.loads((tmp_path / "l" / "lens.json").read_text())["rows"]) == 2 * 7
    assert (
        main(
            [
                "attention",
                "patch",
                "--model",
                model,
                "--clean",
                "abcdeabcd",
                "--corrupted",
                "abcdfabcd",
                "--answer",
                "e",
                "--wrong",
                "f",
                "--out",
                str(tmp_path / "p"),
                "--json",
            ]
        )
        == 0
    )
    patched = json.loads(capsys.readouterr().out)
    assert patched["everything_patched_logit_diff"] == pytest.approx(patched["clean_logit_diff"], abs=1e-5)
    assert (tmp_path / "p" / "patch_heads.png").exists()
    assert (
        main(
            [
                "attention",
                "attribute",
                "--model",
                model,
                "--text",
                "abcdeabcd",
                "--answer",
                "e",
                "--out",
                str(tmp_path / "a"),
                "--json",
            ]
        )
        == 0
    )
    dla = json.loads(capsys.readouterr().out)
    assert dla["sum_of_terms"] == pytest.approx(dla["logit"], abs=1e-4)
    # an answer that is two tokens, and prompts of different lengths, are refused with a reason
    assert main(["attention", "attribute", "--model", model, "--text", "abc", "--answer", "ab"]) != 0
    assert (
        main(
            [
                "attention",
                "patch",
                "--model",
                model,
                "--clean",
                "abcab",
                "--corrupted",
                "abcabc",
                "--answer",
                "c",
                "--wrong",
                "d",
            ]
        )
        != 0
    )


def test_train_toy_help_no_longer_promises_an_induction_head(capsys):
    assert main(["attention", "train-toy", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "without growing a clean induction head" in text and "forms after" not in text

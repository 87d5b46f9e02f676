"""Training the NumPy GPT: the loss falls, the run folder is complete and loads in transformers,
the CLI and the roadmap step work."""

import json
import math

import numpy as np
import pytest

from llmlab.cli import main
from llmlab.config import apply_overrides
from llmlab.numpy_transformer.train import CharData, preset, train
from llmlab.runs import RunFolder
from llmlab.tokenizer import CharTokenizer
from shared_data import NEEDS_TINYSHAKESPEARE


# python-docs (embedded, so every machine runs it) has a larger alphabet than tinyshakespeare: twice the
# steps to get below the unigram baseline
@pytest.mark.parametrize("corpus, steps", [("python-docs", 80),
                                           pytest.param("tinyshakespeare", 40, marks=NEEDS_TINYSHAKESPEARE)])
def test_a_tiny_model_learns_a_character_corpus(tmp_path, corpus, steps):
    cfg = apply_overrides(preset("tiny"), [f"corpus={corpus}", f"max_steps={steps}", "eval_interval=0",
                                           "eval_iters=2", "log_interval=5", "sample_tokens=20", "n_embd=32",
                                           "block_size=32"])
    summary = train(cfg, RunFolder.create("transformer", out=tmp_path), log=lambda m: None)
    assert summary["steps"] == steps
    assert summary["final_train_loss"] < summary["first_train_loss"] - 0.5
    assert summary["val_loss"] < summary["unigram_val_loss"]              # already below the baseline
    for name in ("config.json", "metrics.jsonl", "summary.json", "loss.png", "sample.txt",
                 "model/config.json", "model/model.safetensors"):
        assert (tmp_path / name).exists(), name
    assert len(summary["sample"]) > 0


def test_the_saved_folder_is_a_hugging_face_model(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmlab.numpy_transformer import GPT

    cfg = apply_overrides(preset("tiny"), ["max_steps=3", "eval_iters=1", "n_embd=16", "n_layer=1",
                                           "block_size=16", "sample_tokens=5"])
    train(cfg, RunFolder.create("transformer", out=tmp_path), log=lambda m: None)
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "model").eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    ids = tok("def f(x): x", return_tensors="pt").input_ids
    ours = GPT.from_pretrained(tmp_path / "model")
    assert ids[0].tolist() == CharTokenizer.load(tmp_path / "model").encode("def f(x): x")
    with torch.no_grad():
        np.testing.assert_allclose(ours(ids.numpy()), hf(ids).logits.numpy(), atol=1e-4)


def test_unigram_baseline_is_the_cross_entropy_of_character_frequencies():
    tok = CharTokenizer.train("ab", unk=False)
    data = CharData(tok, np.array([0, 0, 0, 1] * 25), np.array([0, 1]))
    p = np.array([76, 26]) / 102                      # add-one smoothed counts of "a" and "b"
    assert data.unigram_loss() == pytest.approx(-(math.log(p[0]) + math.log(p[1])) / 2)


def test_cli_train_then_sample(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["transformer", "train", "--preset", "tiny", "--set", "max_steps=5", "--set", "eval_iters=1",
                 "--set", "n_layer=1", "--set", "sample_tokens=10", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 5 and summary["corpus"] == "python-docs"
    assert main(["transformer", "sample", "--model", str(out / "model"), "--prompt", "def ",
                 "--max-new-tokens", "12", "--seed", "1", "--num-samples", "2", "--json"]) == 0
    samples = json.loads(capsys.readouterr().out)["samples"]
    assert len(samples) == 2 and all(len(s) == 12 for s in samples)


def test_cli_reports_a_bad_setting(capsys):
    assert main(["transformer", "train", "--set", "n_layer=zero"]) == 2
    assert "n_layer" in capsys.readouterr().err


@pytest.mark.slow
def test_roadmap_step_passes_its_checks(tmp_path, monkeypatch):
    from llmlab.numpy_transformer import roadmap_step
    from llmlab.projects import project
    from llmlab.roadmap.runner import StepContext

    monkeypatch.setattr(roadmap_step, "QUICK_TRAIN_SECONDS", 4.0)
    summary = roadmap_step.run(StepContext(project("transformer"), tmp_path, quick=True))
    assert summary["checks"] and all(summary["checks"].values()), summary["checks"]
    assert (tmp_path / summary["pictures"][0]).exists()
    # the saved folder is the trained model: transformers' GPT2LMHeadModel and tokenizer loaded from it score
    # the trainer's validation windows (same seed, same draws) at the val loss the step reports
    import torch
    import torch.nn.functional as F
    from transformers import AutoTokenizer, GPT2LMHeadModel

    from llmlab.data import load_corpus

    cfg = json.loads((tmp_path / "train" / "config.json").read_text())
    hf = GPT2LMHeadModel.from_pretrained(tmp_path / "train" / "model").eval()
    val = np.array(AutoTokenizer.from_pretrained(tmp_path / "train" / "model")(
        load_corpus(cfg["corpus"]).split()[1].text, add_special_tokens=False).input_ids)
    rng, block, losses = np.random.default_rng(cfg["seed"] + 1), cfg["block_size"], []
    for _ in range(cfg["eval_iters"]):
        index = rng.integers(0, len(val) - block - 1, cfg["batch_size"])[:, None] + np.arange(block)
        with torch.no_grad():
            logits = hf(torch.from_numpy(val[index])).logits
        losses.append(float(F.cross_entropy(logits.flatten(0, 1),
                                            torch.from_numpy(val[index + 1]).flatten())))
    assert np.mean(losses) == pytest.approx(summary["val_loss"], abs=1e-4)

"""Char LMs: the four architectures learn, checkpoints round-trip, presets resolve, the CLI works end to
end."""

import json
import math

import numpy as np
import pytest
import torch

from llmlab.charlm.decoding import distinct_n, repetition_rate
from llmlab.charlm.models import CharRNN, load_charlm
from llmlab.charlm.presets import resolve
from llmlab.charlm.train import train_charlm
from llmlab.cli import main
from llmlab.errors import LabError
from llmlab.generation import SamplingParams
from llmlab.generation.beam import beam_search
from llmlab.generation.decode import generate
from llmlab.generation.steppers import WindowStepper
from llmlab.runs import RunFolder
from llmlab.tokenizer import CharTokenizer

TEXT = "to be or not to be, that is the question. " * 60


def _data():
    tok = CharTokenizer.train(TEXT)
    ids = np.array(tok.encode(TEXT), dtype=np.uint16)
    return ids[:2200], ids[2200:], tok


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru", "transformer"])
def test_each_architecture_learns(tmp_path, arch):
    cfg = resolve(arch, "tiny", ["max_steps=40", "eval_interval=0", "lr=1e-2", "batch_size=8",
                                 "block_size=16",
                                 "report_to=none", "log_interval=5"])
    summary = train_charlm(cfg, out=tmp_path / arch, data=_data())
    rows = RunFolder(tmp_path / arch).metrics()
    first = next(r["loss"] for r in rows if "loss" in r)
    uniform = math.log(summary["vocab_size"])
    assert first > 0.8 * uniform                          # it started from (about) guessing
    assert summary["best_val_loss"] < first - 1.0         # and learned the repeated sentence
    assert summary["steps"] == 40 and (tmp_path / arch / "loss.png").exists()


def test_rnn_checkpoint_round_trips_and_state_decoding_equals_recompute(tmp_path):
    cfg = resolve("lstm", "tiny", ["max_steps=3", "eval_interval=0", "report_to=none"])
    train_charlm(cfg, out=tmp_path / "run", data=_data())
    ckpt = tmp_path / "run" / "checkpoint"
    assert (ckpt / "model.safetensors").exists() and json.loads((ckpt / "llmlab_model.json").read_text())[
        "model"
    ] == "lstm"
    model, tok = load_charlm(tmp_path / "run")
    assert isinstance(model, CharRNN) and tok.encode("to be") == _data()[2].encode("to be")
    prompt = tok.encode("to be or")
    # the hidden-state stepper and a full recompute of the whole text give the same greedy tokens
    carried = generate(model, prompt, SamplingParams(temperature=0.0, max_new_tokens=20)).tokens[0]
    recompute = WindowStepper(lambda ids: model(ids)[0], None)
    ids = torch.tensor([prompt])
    logits, out = recompute.prefill(ids), []
    for _ in range(20):
        nxt = logits.argmax(-1)
        out.append(int(nxt))
        logits = recompute.step(nxt)
    assert carried == out


def test_presets_and_overrides():
    baby = resolve("transformer", "nanogpt-baby")
    t = baby.train
    assert (baby.n_layer, baby.n_head, baby.n_embd, baby.block_size, baby.dropout) == (4, 4, 128, 64, 0.0)
    assert (t.batch_size, t.max_steps, t.lr, t.lr_decay_steps) == (12, 2000, 1e-3, 2000)
    cfg = resolve("gru", "cpu", ["hidden=64", "lr=5e-4"], max_time=7.0, corpus="python-docs")
    assert (
        cfg.hidden == 64
        and cfg.train.lr == 5e-4
        and cfg.train.max_time == 7.0
        and cfg.corpus == "python-docs"
    )
    with pytest.raises(LabError, match="unknown setting 'hiden'"):
        resolve("gru", "cpu", ["hiden=64"])
    with pytest.raises(LabError, match="unknown preset"):
        resolve("gru", "huge")


def test_decoding_metrics():
    assert distinct_n("a b a b", 1) == 0.5 and distinct_n("a b c d", 2) == 1.0 and distinct_n("a", 2) == 0.0
    assert repetition_rate("a b c d") == 0.0 and repetition_rate("a a a a") == 1.0


def test_cli_train_sample_compare(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LLMLAB_RUNS", str(tmp_path / "runs"))
    corpus = tmp_path / "poem.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "gru"
    assert main(["charlm", "train", "--model", "gru", "--corpus", str(corpus), "--preset", "tiny",
                 "--max-steps", "4",
                 "--set", "report_to=none", "--set", "eval_iters=1", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"best_val_loss", "final_val_loss", "steps", "train_seconds"} <= set(summary) and summary[
        "steps"
    ] == 4
    assert main(["charlm", "sample", "--model-dir", str(out), "--strategy", "beam", "--tokens", "10",
                 "--prompt", "to"]) == 0
    printed = capsys.readouterr().out
    model, tok = load_charlm(out)
    # the command prints the library's 4-beam search (proven equal to transformers' in test_generation_decode)
    best = beam_search(model, tok.encode("to"), num_beams=4, max_new_tokens=10, tokenizer=tok).text
    assert len(best) == 10 and "to" + best in printed
    assert main(["charlm", "compare-decoding", "--model-dir", str(out), "--tokens", "12", "--prompt", "to",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["strategies"]
    assert [r["strategy"] for r in rows] == ["greedy", "sample", "top-k", "top-p", "beam"]
    greedy = rows[0]
    # independent of the stepper: one forward over prompt + text, torch's cross-entropy on the text part
    prompt_ids, ids = tok.encode("to"), tok.encode("to") + tok.encode(greedy["text"])
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0][0]      # an RNN returns (logits (B, T, V), state)
    nll = torch.nn.functional.cross_entropy(logits[len(prompt_ids) - 1:-1],
                                            torch.tensor(ids[len(prompt_ids):]))
    assert greedy["perplexity"] == pytest.approx(math.exp(float(nll)), rel=1e-4)
    assert main(["charlm", "train", "--model", "lstm", "--corpus", str(corpus), "--set", "bogus=1"]) == 2

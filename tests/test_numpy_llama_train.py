"""GPT-2 style against Llama style through the one training loop: the matched parameter count and the
comparison command, at a tiny size (the real comparison is `llmlab transformer compare`, docs/results.md)."""

import json

from llmlab.cli import main
from llmlab.numpy_transformer.llama import Llama
from llmlab.numpy_transformer.llama_training import matched_llama_config
from llmlab.numpy_transformer.model import GPT, GPTConfig
from llmlab.numpy_transformer.train import build_model, preset


def test_the_llama_twin_has_the_gpt_parameter_count():
    for width, layers in ((64, 2), (128, 4), (96, 3)):
        gpt = GPTConfig(vocab_size=70, n_positions=128, n_embd=width, n_layer=layers, n_head=4)
        twin = matched_llama_config(gpt, n_kv_head=2)
        n_gpt, n_llama = GPT(gpt).num_parameters(), Llama(twin).num_parameters()
        assert abs(n_gpt - n_llama) <= 3 * width * layers / 2         # the nearest SwiGLU width
        assert twin.n_kv_head == 2 and twin.tie_word_embeddings


def test_the_training_config_builds_either_architecture():
    cfg = preset("tiny")
    assert type(build_model(cfg.model_config(50))) is GPT
    cfg.arch, cfg.n_kv_head = "llama", 2
    model = build_model(cfg.model_config(50))
    assert type(model) is Llama and model.config.n_kv_head == 2


def test_compare_trains_both_and_draws_one_picture(tmp_path, capsys):
    out = tmp_path / "cmp"
    settings = ["n_layer=1", "n_embd=16", "n_head=2", "block_size=16", "batch_size=4", "max_steps=6",
                "eval_interval=3", "eval_iters=1", "log_interval=2", "sample_tokens=5"]
    args = ["transformer", "compare", "--preset", "tiny", "--out", str(out), "--json"]
    assert main(args + [a for s in settings for a in ("--set", s)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["gpt2"]["steps"] == summary["llama"]["steps"] == 6
    assert abs(summary["gpt2"]["parameters"] - summary["llama"]["parameters"]) <= 3 * 16
    assert (out / "compare.png").stat().st_size > 0
    assert (out / "llama" / "model" / "config.json").exists()
    assert json.loads((out / "llama" / "model" / "config.json").read_text())["model_type"] == "llama"

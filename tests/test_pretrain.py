"""llmlab.pretrain on one CPU process: presets, models (GPT-2 and Llama), attention and loss parity with
transformers, a tiny end-to-end run whose checkpoint loads with AutoModelForCausalLM + AutoTokenizer,
bench."""

import json
import statistics
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llmlab.errors import LabError
from llmlab.pretrain.model import build_model, causal_lm_loss_in_forward, padded_vocab, residual_projections
from llmlab.pretrain.presets import ModelSpec, resolve


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    from llmlab.data.demo_shards import stdlib_shards

    out = tmp_path_factory.mktemp("shards")
    stdlib_shards(out, max_documents=60, vocab_size=600)
    return out


def test_presets_shapes_and_overrides():
    spec, train = resolve("gpt2-124m")
    assert (spec.n_layer, spec.n_head, spec.n_embd, spec.block_size) == (12, 12, 768, 1024)
    assert train.batch_size * train.grad_accum * spec.block_size == 2**19
    with torch.device("meta"):                                # the shapes, without 124M random numbers
        model = build_model(spec, vocab_size=50257)
    assert model.config.vocab_size == 50304 == padded_vocab(50257)
    assert sum(p.numel() for p in model.parameters()) == 124_475_904   # GPT-2 small with the padded vocab
    spec, train = resolve("gpt2-tiny", ["n_layer=3", "lr=1e-3", "compile=true"])
    assert spec.n_layer == 3 and train.lr == 1e-3 and train.compile
    with pytest.raises(LabError, match="unknown setting 'nlayer'"):
        resolve("gpt2-tiny", ["nlayer=3"])
    with pytest.raises(LabError, match="unknown preset"):
        resolve("gpt3")
    with pytest.raises(LabError, match="not a multiple of n_head"):
        resolve("gpt2-tiny", ["n_embd=65"])


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_gpt2_initialisation(arch):
    spec = ModelSpec(arch=arch, n_layer=4, n_head=4, n_embd=256, block_size=64)
    model = build_model(spec, vocab_size=1000, seed=0)
    residual = {id(p) for p in residual_projections(model)}
    assert len(residual) == 2 * spec.n_layer
    for name, p in model.named_parameters():
        if id(p) in residual:
            assert p.std().item() == pytest.approx(0.02 / (2 * spec.n_layer) ** 0.5, rel=0.05), name
        elif p.dim() >= 2:
            assert p.std().item() == pytest.approx(0.02, rel=0.05), name
        elif "norm" in name or ".ln" in name:
            assert torch.all(p == 1), name
        else:
            assert torch.all(p == 0), name


def test_llama_option_is_a_llama():
    from transformers import LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaRMSNorm, LlamaRotaryEmbedding

    spec, _ = resolve("llama-tiny")
    model = build_model(spec, vocab_size=300)
    assert isinstance(model, LlamaForCausalLM) and model.config.hidden_act == "silu"       # SwiGLU MLP
    assert any(isinstance(m, LlamaRMSNorm) for m in model.modules())
    assert any(isinstance(m, LlamaRotaryEmbedding) for m in model.modules())
    assert model.config.num_key_value_heads == 2 and model.config.intermediate_size == 192
    assert not any(n.endswith(".bias") for n, _ in model.named_parameters())


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_mask_free_sdpa_matches_transformers_attention(arch):
    """Same weights under llmlab's SDPA, transformers' SDPA and eager attention: same logits, with and
    without a padding mask, and the same greedy continuation through generate (KV cache)."""
    spec = ModelSpec(arch=arch, n_layer=2, n_head=4, n_embd=64, block_size=64)
    models = {}
    for attention in ("sdpa", "hf-sdpa", "eager"):
        models[attention] = build_model(ModelSpec(**{**spec.__dict__, "attention": attention}), 300, 0,
                                        seed=0).eval()
    x = torch.randint(1, 300, (3, 24))
    mask = torch.ones_like(x)
    mask[1, :5] = 0                                            # a left-padded row
    with torch.no_grad():
        ref = models["eager"](x).logits
        ref_masked = models["eager"](x, attention_mask=mask).logits
        for name in ("sdpa", "hf-sdpa"):
            torch.testing.assert_close(models[name](x).logits, ref, atol=2e-5, rtol=1e-4)
            torch.testing.assert_close(models[name](x, attention_mask=mask).logits[mask.bool()],
                                       ref_masked[mask.bool()], atol=2e-5, rtol=1e-4)
        outs = [m.generate(x[:1, :8], max_new_tokens=12, do_sample=False) for m in models.values()]
    assert all(torch.equal(o, outs[0]) for o in outs)


def test_loss_in_forward_equals_cross_entropy_on_the_logits():
    from llmlab.training import hf_causal_lm_loss

    model = build_model(resolve("gpt2-tiny")[0], vocab_size=300, seed=0)
    rows = torch.randint(0, 300, (4, 33))
    x, y = rows[:, :-1], rows[:, 1:]                          # y: a shifted view, as the sampler gives it
    loss = causal_lm_loss_in_forward(model, x, y)
    logits = model(x).logits
    expected = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(loss, hf_causal_lm_loss(model, x, y))


@pytest.mark.slow
def test_pretrain_end_to_end_checkpoint_is_a_hugging_face_model(shards, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from typer.testing import CliRunner

    from llmlab.cli import app
    from llmlab.tokenizer import load_tokenizer

    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "pretrain", "train", "--preset", "gpt2-tiny", "--data", str(shards), "--out", str(out), "--max-steps",
        "40",
        "--seed", "3", "--set", "batch_size=8", "--set", "eval_interval=20", "--set", "log_interval=5",
        "--set", "sample_interval=20", "--set", "sample_tokens=8", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["steps"] == 40 and summary["distributed"] == "NO"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if "loss" in r]
    evals = [r for r in rows if "val_loss" in r]
    assert {"step", "loss", "lr", "grad_norm", "tokens_per_s"} <= set(train[0])
    assert [r["step"] for r in evals] == [20, 40] and {"val_ppl", "val_bpb"} <= set(evals[0])
    # it learns
    assert train[-1]["loss"] < train[0]["loss"] - 0.5 and evals[1]["val_loss"] < evals[0]["val_loss"]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert {s["prompt"] for s in samples} == {"def ", "import ", "class "}
    for picture in ("loss.png", "val_ppl.png", "lr_gradnorm.png"):
        assert (out / picture).stat().st_size > 1000
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["n_layer"] == 2 and config["train"]["seed"] == 3

    ckpt = out / "checkpoint"
    model = AutoModelForCausalLM.from_pretrained(ckpt)
    hf_tok = AutoTokenizer.from_pretrained(ckpt)
    ours = load_tokenizer(shards / "bpe")
    text = "def main(argv):\n    return 0\n"
    assert hf_tok(text)["input_ids"] == ours.encode(text)
    ids = hf_tok(text, return_tensors="pt").input_ids
    generated = model.generate(ids, max_new_tokens=10, do_sample=False)
    assert generated.shape[1] == ids.shape[1] + 10
    assert isinstance(hf_tok.decode(generated[0]), str)
    assert model.config.eos_token_id == ours.eot_id
    # The loaded model is the trained one: its loss over the val shards, computed here from the files,
    # is the trainer's last eval (which saw random val windows, hence the tolerance), far from a fresh init.
    from llmlab.data.shards import open_shard, shard_paths

    block = config["model"]["block_size"]
    val = np.concatenate([np.asarray(open_shard(p), dtype=np.int64) for p in shard_paths(shards, "val")])
    n = min(32, (len(val) - 1) // block)
    rows = torch.from_numpy(val[: n * block + 1])
    x = torch.stack([rows[i * block:(i + 1) * block] for i in range(n)])
    y = torch.stack([rows[i * block + 1:(i + 1) * block + 1] for i in range(n)])
    with torch.no_grad():
        val_loss = float(F.cross_entropy(model(x).logits.flatten(0, 1), y.flatten()))
        fresh = AutoModelForCausalLM.from_config(model.config)
        fresh_loss = float(F.cross_entropy(fresh(x).logits.flatten(0, 1), y.flatten()))
    assert abs(val_loss - evals[-1]["val_loss"]) < 0.3 and val_loss < fresh_loss - 0.4


def test_bench_runs_on_cpu(monkeypatch):
    import llmlab.pretrain.model as pretrain_model
    from llmlab.pretrain.bench import bench

    # A clock outside bench: the model's forward is stamped at each step (grad_accum=1, no eval).
    stamps, build = [], pretrain_model.build_model

    def stamped_build(*args, **kwargs):
        model = build(*args, **kwargs)
        model.register_forward_pre_hook(lambda *_: stamps.append(time.perf_counter()))
        return model

    monkeypatch.setattr(pretrain_model, "build_model", stamped_build)
    result = bench("gpt2-tiny", ["batch_size=4", "block_size=32"], steps=8, warmup=2, window=2,
                   vocab_size=256)
    assert result["timed_windows"] == 3 and len(stamps) == 8
    step_ms = 1000 * statistics.median(b - a for a, b in zip(stamps[2:], stamps[3:], strict=False))
    assert 0.5 < result["ms_per_step"] / step_ms < 2.0, (result["ms_per_step"], step_ms)
    assert "mfu" not in result            # no peak is known for a CPU: no made-up MFU

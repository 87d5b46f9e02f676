"""The format table: KL computed two ways (and against torch.distributions and a hand-worked case), perplexity
against transformers' own loss, and `llmlab chat quantize --eval` end to end on a tiny GPT-2 (sizes accounted
byte for byte, the same numbers on a second run, usage errors)."""

import json
import math

import pytest
import torch

from llmlab.chat.quality import compare_to_reference, kl_divergence, kl_divergence_torch, reference_logits
from llmlab.cli import main


def test_kl_two_ways_agree_with_each_other_and_with_torch_distributions():
    from torch.distributions import Categorical
    from torch.distributions import kl_divergence as categorical_kl

    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 7, 300, generator=g) * 4
    b = a + torch.randn(5, 7, 300, generator=g)
    ours, theirs = kl_divergence(a, b), kl_divergence_torch(a, b)
    reference = categorical_kl(Categorical(logits=a.double()), Categorical(logits=b.double()))
    assert ours.shape == (5, 7)
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(ours, reference, rtol=1e-9, atol=1e-12)
    assert (ours > 0).all() and kl_divergence(a, a).abs().max() < 1e-12
    # P = (1/2, 1/2), Q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3)
    p, q = torch.zeros(2, dtype=torch.float64), torch.tensor([0.0, math.log(3)], dtype=torch.float64)
    assert float(kl_divergence(p, q)) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3), rel=1e-12)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from llmlab.serve.random_model import make_model_dir

    return make_model_dir(tmp_path_factory.mktemp("qe"), family="gpt2", preset="tiny", tokenizer="bpe",
                          init_std=0.05)


def test_perplexity_equals_transformers_loss_and_self_comparison_is_exact(model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    rows = [torch.randint(0, 250, (1, 20), generator=torch.Generator().manual_seed(i)) for i in range(3)]
    got = compare_to_reference(model, rows, reference_logits(model, rows))
    with torch.no_grad():
        loss = sum(float(model(r, labels=r).loss) for r in rows) / len(rows)    # equal-length rows
    assert got["perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)
    assert got["kl_mean"] == got["kl_p99"] == 0 and got["top1_agreement"] == 1 and got["kl_check"] < 1e-12


def _eval(model_dir, out, formats="int8,int4-g32-sym,gptq-g32-sym,awq-g32-sym,gguf-q4_0"):
    return main(["chat", "quantize", "--eval", str(model_dir), "--out", str(out), "--eval-rows", "2",
                 "--decode-tokens", "4", "--formats", formats, "--json"])


def test_eval_command_table_sizes_and_repeatability(model_dir, tmp_path, capsys):
    pytest.importorskip("gguf")
    from transformers import AutoModelForCausalLM

    assert _eval(model_dir, tmp_path / "a") == 0
    summary = json.loads(capsys.readouterr().out)
    rows = {r["format"]: r for r in summary["rows"]}
    # fp32 is the baseline only
    assert list(rows) == ["int8", "int4-g32-sym", "gptq-g32-sym", "awq-g32-sym", "gguf-q4_0"]
    assert (tmp_path / "a" / "quality_vs_size.png").stat().st_size > 1000
    assert "| gptq-g32-sym |" in (tmp_path / "a" / "table.md").read_text()
    # int4 memory: fp32 minus each Conv1D weight's 4 bytes, plus half a byte and 2/32 bytes of scale each
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    fp32 = sum(p.numel() * 4 for p in model.parameters())     # tied wte/lm_head counted once by parameters()
    linear = sum(m.weight.numel() for n, m in model.named_modules() if type(m).__name__ == "Conv1D")
    assert rows["int4-g32-sym"]["memory_bytes"] == fp32 - linear * 4 + linear // 2 + linear // 32 * 2
    int4 = rows["int4-g32-sym"]
    assert int4["memory_vs_fp32"] == pytest.approx(int4["memory_bytes"] / fp32)
    for r in rows.values():
        assert r["kl_check"] < 1e-9 and 0 < r["kl_mean"] <= r["kl_p99"] * 10 and 0 < r["top1_agreement"] <= 1
    assert rows["int8"]["kl_mean"] < rows["int4-g32-sym"]["kl_mean"]
    assert rows["gguf-q4_0"]["tokens_per_s"] is None and rows["int8"]["speed_vs_fp32"] > 0
    assert "below round-to-nearest" in rows["gptq-g32-sym"]["notes"] and "α" in rows["awq-g32-sym"]["notes"]
    # AWQ keeps 2 bytes per input channel more than round to nearest
    inputs = sum(m.weight.shape[0] for n, m in model.named_modules() if type(m).__name__ == "Conv1D")
    assert rows["awq-g32-sym"]["memory_bytes"] == int4["memory_bytes"] + 2 * inputs
    # seeded and deterministic: a second run gives the same quality figures (speed is a measurement)
    assert _eval(model_dir, tmp_path / "b", "int4-g32-sym,gptq-g32-sym") == 0
    again = {r["format"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    for name in again:
        r = rows[name]
        for key in ("perplexity", "kl_mean", "kl_p99", "top1_agreement", "memory_bytes"):
            assert again[name][key] == r[key], (name, key)


def test_eval_usage_errors(model_dir, tmp_path):
    assert main(["chat", "quantize", "--eval", str(model_dir), "--formats", "int3"]) == 2
    assert main(["chat", "quantize"]) == 2
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "summary.json").write_text("{}")
    # an earlier run in --out is never overwritten
    assert _eval(model_dir, tmp_path / "taken") == 2
    assert (tmp_path / "taken" / "summary.json").read_text() == "{}"

"""The logit lens, activation patching, direct logit attribution and composition scores on random tiny GPT-2
and Llama-style models (RoPE, grouped K/V heads, RMSNorm), checked against what each must equal by
construction: the lens after the last layer is the model's output; patching everything from clean restores
the clean metric; the attributions sum to the logit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmlab.attention.attribution import direct_logit_attribution
from llmlab.attention.components import Patch, model_parts, run_with_trace, zero_heads
from llmlab.attention.composition import k_composition
from llmlab.attention.lens import logit_lens
from llmlab.attention.patching import logit_diff, patch_everything, patch_sweep, patched_metric

V = 40


def _gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(
        GPT2Config(
            n_layer=3,
            n_head=4,
            n_embd=32,
            vocab_size=V,
            n_positions=32,
            initializer_range=0.2,
            bos_token_id=None,
            eos_token_id=None,
        )
    ).eval()


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(1)
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=V,
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=32,
            initializer_range=0.2,
            bos_token_id=None,
            eos_token_id=None,
            pad_token_id=None,
        )
    ).eval()


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def model(request):
    return _gpt2() if request.param == "gpt2" else _llama()


IDS = np.random.default_rng(0).integers(0, V, 10)
CORRUPTED = IDS.copy()
CORRUPTED[2] = (IDS[2] + 7) % V
ANSWER, WRONG = 5, 11


def test_lens_after_the_last_layer_is_the_models_output_and_reads_each_layer(model):
    lens = logit_lens(model, IDS, top=3)
    assert np.abs(lens["lens_logits"][-1] - lens["model_logits"]).max() < 1e-5
    # each earlier row is the hidden state transformers reports after that layer, through the final norm
    parts = model_parts(model)
    with torch.no_grad():
        hidden = model(input_ids=torch.as_tensor(IDS[None]), output_hidden_states=True).hidden_states
        for layer in range(parts.n_layers - 1):
            expected = parts.unembed(parts.final_norm(hidden[layer + 1][0])).numpy()
            assert np.abs(lens["lens_logits"][layer] - expected).max() < 1e-5
    probs = np.exp(lens["logprobs"])
    assert np.allclose(probs.sum(-1), 1, atol=1e-4)
    t = np.arange(len(IDS) - 1)
    assert np.allclose(lens["next_prob"], probs[:, t, IDS[1:]], atol=1e-6)
    top1 = lens["top"][:, t, 0]
    assert ((lens["next_rank"] == 0) == (top1 == IDS[1:])).all()


def test_direct_logit_attributions_sum_to_the_logit(model):
    with torch.no_grad():
        all_logits = model(input_ids=torch.as_tensor(IDS[None])).logits[0]
    for wrong, position in ((None, -1), (WRONG, -1), (WRONG, 4)):
        dla = direct_logit_attribution(model, IDS, ANSWER, wrong, position)
        logits = all_logits[position]
        real = float(logits[ANSWER] - (logits[wrong] if wrong is not None else 0.0))
        assert dla["total"] == pytest.approx(real, abs=1e-4)
        assert dla["logit"] == pytest.approx(real, abs=1e-5)
        assert np.abs(dla["heads"]).max() > 1e-4 and dla["heads"].shape == (3, 4)  # not all in one term


def test_a_heads_attribution_is_its_ablated_output_through_the_frozen_norm(model):
    """What zeroing head L2H1 removes from its attention's output, read through the final norm (scale frozen)
    and the unembedding, is that head's direct logit attribution."""
    parts = model_parts(model)
    dla = direct_logit_attribution(model, IDS, ANSWER)
    trace = run_with_trace(model, IDS[None])
    with zero_heads(model, [(2, 1)]):
        ablated = run_with_trace(model, IDS[None])
    removed = trace.attn[-1, 0, -1] - ablated.attn[-1, 0, -1]  # head L2H1's output (d,)
    x = trace.resid[-1, 0, -1]
    norm = parts.final_norm
    if isinstance(norm, torch.nn.LayerNorm):
        direct = ((removed - removed.mean()) / torch.sqrt(x.var(unbiased=False) + norm.eps)) * norm.weight
    else:
        direct = removed / torch.sqrt(x.pow(2).mean() + norm.variance_epsilon) * norm.weight
    assert float(direct.detach() @ parts.unembed.weight[ANSWER].detach()) == pytest.approx(
        float(dla["heads"][2, 1]), abs=1e-4
    )


def test_patching_everything_restores_the_clean_run(model):
    clean = logit_diff(run_with_trace(model, IDS[None]).logits, ANSWER, WRONG)
    corrupted = logit_diff(run_with_trace(model, CORRUPTED[None]).logits, ANSWER, WRONG)
    assert abs(clean - corrupted) > 1e-2
    assert patch_everything(model, IDS, CORRUPTED, ANSWER, WRONG) == pytest.approx(clean, abs=1e-5)
    source = run_with_trace(model, IDS[None])
    for layer in range(3):  # the residual stream at any layer, every position, carries everything
        assert patched_metric(
            model, CORRUPTED[None], source, [Patch("resid", layer)], ANSWER, WRONG
        ) == pytest.approx(clean, abs=1e-5)
    # the embedding alone at the changed position is the whole difference as well
    assert patched_metric(
        model, CORRUPTED[None], source, [Patch("embed", position=2)], ANSWER, WRONG
    ) == pytest.approx(clean, abs=1e-5)
    # the heads carry the changed token to the last position; the MLPs alone do not
    heads = [Patch("head", layer, h) for layer in range(3) for h in range(4)]
    assert patched_metric(model, CORRUPTED[None], source, heads, ANSWER, WRONG) == pytest.approx(
        clean, abs=1e-5
    )
    mlps = [Patch("mlp", layer) for layer in range(3)]
    restored = (patched_metric(model, CORRUPTED[None], source, mlps, ANSWER, WRONG) - corrupted) / (
        clean - corrupted
    )
    assert abs(restored - 1) > 0.05


def test_patch_sweep_positions_behave(model):
    result = patch_sweep(model, IDS[:6], CORRUPTED[:6], ANSWER, WRONG)  # short: one forward per cell
    assert result["resid"].shape == (3, 6) and result["heads"].shape == (3, 4)
    # before the changed token nothing differs; after the last layer only the last position reaches the logits
    assert np.abs(result["resid"][:, :2]).max() < 1e-5
    assert result["resid"][-1, -1] == pytest.approx(1.0, abs=1e-5)
    assert np.abs(result["resid"][-1, :-1]).max() < 1e-5
    assert result["resid"][0, 2] != pytest.approx(0.0, abs=1e-4)


def test_patching_refuses_prompts_of_different_lengths(model):
    from llmlab.errors import LabError

    with pytest.raises(LabError, match="tokens"):
        patch_sweep(model, IDS, IDS[:-1], ANSWER, WRONG)


def test_k_composition_is_scale_free_and_bounded(model):
    scores = k_composition(model, 0, 1)
    assert scores.shape == (4, 4) and (scores > 0).all() and (scores <= 1 + 1e-9).all()
    parts = model_parts(model)
    proj = parts.out_proj[0]
    with torch.no_grad():
        w = proj.weight
        cols = slice(0, parts.head_dim)  # head 0's part of W_O, scaled by 3
        if type(proj).__name__ == "Conv1D":
            w[cols] *= 3
        else:
            w[:, cols] *= 3
        try:
            assert np.allclose(k_composition(model, 0, 1), scores)
        finally:
            if type(proj).__name__ == "Conv1D":
                w[cols] /= 3
            else:
                w[:, cols] /= 3


def test_the_numpy_gpts_lens_equals_the_hf_lens_on_the_same_weights(tmp_path):
    from llmlab.numpy_transformer import GPT

    model = _gpt2()
    model.save_pretrained(tmp_path)
    ours = logit_lens(GPT.from_pretrained(tmp_path, dtype="float64"), IDS)
    hf = logit_lens(model, IDS)
    assert np.abs(ours["lens_logits"][-1] - ours["model_logits"]).max() < 1e-9
    assert np.abs(ours["lens_logits"] - hf["lens_logits"]).max() < 1e-4
    assert (ours["next_rank"] == hf["next_rank"]).all()

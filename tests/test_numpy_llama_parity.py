"""The NumPy Llama against transformers' LlamaForCausalLM, Qwen2ForCausalLM and Qwen3ForCausalLM: logits at
several grouped-query shapes on plain and padded batches, gradients, KV-cache decoding, directories in and
out, and the commands."""

import json

import numpy as np
import pytest
import torch

from llmlab.cli import main
from llmlab.errors import LabError
from llmlab.numpy_transformer.families import llama_config_from_hf, load_model
from llmlab.numpy_transformer.llama import Llama, LlamaConfig
from llmlab.numpy_transformer.llama_reference import (
    GRAD_TOLERANCE,
    LOGIT_TOLERANCE,
    SHAPES,
    VOCAB,
    gradient_error,
    kv_cache_error,
    loaded_pair,
    logit_error,
    padded_batch,
    roundtrip_error,
    tiny_hf_model,
)

FAMILIES = ["llama", "qwen2", "qwen3"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("hf")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"H{s[2]}-KV{s[3]}")
@pytest.mark.parametrize("family", FAMILIES)
def test_logits_and_kv_cache_equal_transformers(folder, family, shape):
    ids, mask = padded_batch(np.random.default_rng(1))
    for dtype in ("float32", "float64"):
        hf, ours = loaded_pair(family, shape, dtype, folder)
        assert ours.dtype == np.dtype(dtype) and ours.config.n_kv_head == shape[3]
        tol = LOGIT_TOLERANCE[dtype]
        assert logit_error(hf, ours, ids, None) <= tol
        assert logit_error(hf, ours, ids, mask) <= tol              # left- and right-padded rows
        assert kv_cache_error(ours, ids, None) <= tol
        assert kv_cache_error(ours, ids, mask) <= tol


def test_a_different_model_is_not_equal(folder):
    """The parity measure must be able to fail: another seed's weights are far off."""
    hf, _ = loaded_pair("qwen3", SHAPES[1], "float64", folder, seed=0)
    _, other = loaded_pair("qwen3", SHAPES[1], "float64", folder, seed=1)
    ids, _ = padded_batch(np.random.default_rng(1))
    assert logit_error(hf, other, ids, None) > 1e-3


@pytest.mark.parametrize("family", FAMILIES)
def test_gradients_equal_autograd_and_saved_directories_load_in_transformers(folder, family):
    hf, ours = loaded_pair(family, SHAPES[2], "float64", folder)
    assert gradient_error(hf, ours, *padded_batch(np.random.default_rng(2))) <= GRAD_TOLERANCE
    assert roundtrip_error(ours, folder) <= LOGIT_TOLERANCE["float64"]
    again = Llama.from_pretrained(folder / f"numpy-saved-{family}", dtype="float64")
    ids = np.arange(12).reshape(2, 6)
    np.testing.assert_array_equal(again(ids), ours(ids))


def test_greedy_decoding_equals_transformers_generate(folder):
    from llmlab.generation import SamplingParams
    from llmlab.numpy_transformer.sampling import generate

    hf, ours = loaded_pair("qwen2", SHAPES[1], "float64", folder)
    prompt = [5, 17, 3, 42]
    expected = hf.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=12, min_new_tokens=12,
                           pad_token_id=0)[0, len(prompt):].tolist()
    assert generate(ours, prompt, SamplingParams(temperature=0, max_new_tokens=12)).tokens[0] == expected


def test_bfloat16_checkpoints_load_exactly(tmp_path):
    """Qwen3 and SmolLM2 ship bfloat16 weights, which NumPy has no type for: they are widened exactly."""
    hf = tiny_hf_model("llama", SHAPES[0]).to(torch.bfloat16)
    hf.save_pretrained(tmp_path)
    ours = Llama.from_pretrained(tmp_path)
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(value, hf.state_dict()[name].float().numpy(), err_msg=name)


def test_config_mapping_and_its_errors():
    base = json.loads(tiny_hf_model("qwen2", SHAPES[1]).config.to_json_string())
    cfg = llama_config_from_hf(base)
    got = (cfg.qkv_bias, cfg.o_bias, cfg.qk_norm, cfg.n_kv_head, cfg.rope_theta)
    assert got == (True, False, False, 3, 1e6)
    with pytest.raises(LabError, match="sliding-window"):
        llama_config_from_hf({**base, "use_sliding_window": True})
    with pytest.raises(LabError, match="'mistral' model"):
        llama_config_from_hf({**base, "model_type": "mistral"})
    with pytest.raises(LabError, match="QK-norm is Qwen3's"):
        Llama(LlamaConfig(n_embd=16, n_head=2, n_inner=8, vocab_size=9, qk_norm=True)).save_pretrained("x")


def test_weights_that_do_not_fit_the_config_are_a_lab_error(folder):
    hf, _ = loaded_pair("llama", SHAPES[0], "float32", folder)
    state = {k: v.numpy() for k, v in hf.state_dict().items()}
    ours = Llama(LlamaConfig(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_inner=96, qk_norm=True))
    with pytest.raises(LabError, match="missing .*q_norm"):
        ours.load_state_dict(state)


def test_cli_sample_and_check_on_a_qwen3_directory(tmp_path, capsys):
    from llmlab.generation import SamplingParams
    from llmlab.numpy_transformer.sampling import sample_text
    from llmlab.tokenizer import CharTokenizer

    tok = CharTokenizer.train("abcdefgh ")
    model = Llama(LlamaConfig(vocab_size=tok.vocab_size, n_positions=32, n_embd=16, n_layer=1, n_head=4,
                              n_kv_head=2, n_inner=24, qk_norm=True, family="qwen3", initializer_range=0.5))
    model.save_pretrained(tmp_path / "m")
    tok.save(tmp_path / "m")
    assert type(load_model(tmp_path / "m")) is Llama
    assert main(["transformer", "sample", "--model", str(tmp_path / "m"), "--prompt", "abc",
                 "--temperature", "0", "--max-new-tokens", "8", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["samples"]
    assert got == sample_text(model, tok, "abc", SamplingParams(temperature=0, max_new_tokens=8))
    assert main(["transformer", "check", "--arch", "qwen4"]) == 2
    assert "unknown --arch 'qwen4'" in capsys.readouterr().err

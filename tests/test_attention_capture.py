"""Attention capture against the maths: HF captures equal softmax(q kᵀ/√d + mask) rebuilt from the weights
(GPT-2 and Llama with grouped K/V heads), the NumPy GPT's capture equals HF's on the same weights, and every
capture is a causal distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmlab.attention import HFAttentionModel, NumpyAttentionModel
from llmlab.attention.reference import recompute_attention

VOCAB = 61


def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    # a large init spreads the logits, so the patterns are far from uniform and a wrong mask would show
    cfg = GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=VOCAB, n_positions=64, initializer_range=0.3,
                     bos_token_id=None, eos_token_id=None)
    return GPT2LMHeadModel(cfg).eval()


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(1)
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=VOCAB, initializer_range=0.3,
                      max_position_embeddings=64)
    return LlamaForCausalLM(cfg).eval()


IDS = np.random.default_rng(0).integers(0, VOCAB, (2, 14))


def assert_causal_distribution(probs: np.ndarray) -> None:
    t = probs.shape[-1]
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    assert probs[..., np.triu(np.ones((t, t), dtype=bool), k=1)].max() == 0.0


@pytest.mark.parametrize("build", [tiny_gpt2, tiny_llama], ids=["gpt2", "llama-gqa"])
def test_capture_equals_manual_recomputation(build):
    model = build()
    cap = HFAttentionModel(model).capture_ids(IDS)
    assert cap.probs.shape == (2, 2, 4, 14, 14)                  # (L, B, H, T, T)
    reference = recompute_attention(model, IDS)
    np.testing.assert_allclose(cap.probs, reference, atol=2e-6)
    assert_causal_distribution(cap.probs)
    # not a trivial pattern: a uniform causal attention would give 1/(i+1) everywhere
    uniform = np.tril(np.ones((14, 14))) / np.arange(1, 15)[:, None]
    assert np.abs(cap.probs - uniform).max() > 0.3
    assert model.config._attn_implementation == "sdpa"           # switched to eager only for the capture


def test_llama_attention_depends_on_rope():
    """On six equal tokens, layer 0 without RoPE would attend uniformly (every key is the same vector):
    Llama's captured row is not uniform, so the parity above really checks the rotation."""
    model = tiny_llama()
    flat = HFAttentionModel(model).capture_ids(np.full((1, 6), 7)).probs
    assert np.abs(flat[0, 0, 0, -1] - 1 / 6).max() > 1e-3
    np.testing.assert_allclose(flat, recompute_attention(model, np.full((1, 6), 7)), atol=2e-6)


def test_numpy_capture_equals_hf_capture(tmp_path):
    from llmlab.numpy_transformer import GPT

    model = tiny_gpt2()
    model.save_pretrained(tmp_path)
    hf = HFAttentionModel(model).capture_ids(IDS)
    ours = NumpyAttentionModel(GPT.from_pretrained(tmp_path, dtype="float64")).capture_ids(IDS)
    np.testing.assert_allclose(ours.probs, hf.probs, atol=2e-6)
    assert_causal_distribution(ours.probs)


def test_token_strings_and_text_capture(tmp_path):
    from llmlab.tokenizer.char import CharTokenizer

    tok = CharTokenizer(list("abcdefghijklmnopqrstuvwxyz \n"), unk=True).to_hf()
    model = HFAttentionModel(tiny_gpt2(), tok)
    cap = model.capture_text("ab c\nd")
    assert cap.tokens[0] == ["a", "b", " ", "c", "\\n", "d"]
    assert cap.probs.shape[-1] == 6

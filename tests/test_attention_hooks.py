"""The forward-hook capture equals transformers' own output_attentions capture and P rebuilt from q and k, and
leaves the model as it found it (attention implementation, hooks)."""

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from llmlab.attention.capture import HFAttentionModel
from llmlab.attention.hooks import attention_modules, capture_attention
from llmlab.attention.reference import recompute_attention
from llmlab.errors import LabError


def _models():
    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=4, n_embd=32, n_positions=64, vocab_size=50,
                                      bos_token_id=None, eos_token_id=None)).eval()
    llama = LlamaForCausalLM(LlamaConfig(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         hidden_size=32, intermediate_size=64, vocab_size=50,
                                         max_position_embeddings=64, bos_token_id=None, eos_token_id=None,
                                         pad_token_id=None)).eval()
    return [gpt2, llama]


@pytest.mark.parametrize("which", [0, 1], ids=["gpt2", "llama"])
@pytest.mark.parametrize("start", ["sdpa", "eager"])
def test_hook_capture_equals_output_attentions_and_the_hand_recomputation(which, start):
    model = _models()[which]
    model.set_attn_implementation(start)
    ids = np.random.default_rng(1).integers(0, 50, (2, 9))
    hooks = [len(m._forward_hooks) for m in model.modules()]
    probs = capture_attention(model, ids)
    assert probs.shape == (2, 2, 4, 9, 9) and probs.dtype == np.float32
    assert model.config._attn_implementation == start
    assert [len(m._forward_hooks) for m in model.modules()] == hooks
    assert np.abs(probs - recompute_attention(model, ids)).max() < 1e-5
    # transformers' output_attentions installs hooks of its own for good, so it is asked last
    assert np.array_equal(probs, HFAttentionModel(model).capture_ids(ids).probs)


def test_hooks_are_removed_when_the_forward_fails():
    model = _models()[0]
    hooks = [len(m._forward_hooks) for m in model.modules()]
    with pytest.raises(IndexError):
        capture_attention(model, np.array([[0, 999]]))          # an id past the vocabulary
    assert [len(m._forward_hooks) for m in model.modules()] == hooks
    assert model.config._attn_implementation == "sdpa"


def test_a_model_without_attention_modules_is_refused():
    with pytest.raises(LabError, match="no module named"):
        attention_modules(torch.nn.Linear(2, 2))

"""The NumPy GPT against transformers' GPT2LMHeadModel and PyTorch: logits, gradients, KV cache,
decoding, weights in and out, and AdamW."""

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from llmlab.errors import LabError
from llmlab.numpy_transformer import GPT, GPTConfig, KVCache
from llmlab.numpy_transformer.optim import AdamW, clip_grad_norm
from llmlab.numpy_transformer.reference import (
    GRAD_TOLERANCE,
    LOGIT_TOLERANCE,
    SHAPES,
    VOCAB,
    gradient_error,
    kv_cache_error,
    loaded_pair,
    logit_error,
    padded_batch,
    tiny_hf_model,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("hf")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"L{s[0]}-C{s[1]}-H{s[2]}")
def test_logits_equal_transformers(folder, shape, dtype):
    hf, ours = loaded_pair(shape, dtype, folder)
    ids, mask = padded_batch(np.random.default_rng(1))
    assert ours.dtype == np.dtype(dtype)
    assert logit_error(hf, ours, ids, None) <= LOGIT_TOLERANCE[dtype]
    assert logit_error(hf, ours, ids, mask) <= LOGIT_TOLERANCE[dtype]          # padded rows, real positions
    assert kv_cache_error(ours, ids, None) <= LOGIT_TOLERANCE[dtype]
    assert kv_cache_error(ours, ids, mask) <= LOGIT_TOLERANCE[dtype]


def test_a_different_model_is_not_equal(folder):
    """The parity measure must be able to fail: another seed's weights are far off."""
    hf, _ = loaded_pair(SHAPES[0], "float64", folder, seed=0)
    _, other = loaded_pair(SHAPES[0], "float64", folder, seed=1)
    ids, _ = padded_batch(np.random.default_rng(1))
    assert logit_error(hf, other, ids, None) > 1e-3


@pytest.mark.parametrize("padded", [False, True])
def test_gradients_equal_pytorch_autograd(folder, padded):
    hf, ours = loaded_pair(SHAPES[1], "float64", folder)
    ids, mask = padded_batch(np.random.default_rng(2))
    assert gradient_error(hf, ours, ids, mask if padded else np.ones_like(mask)) <= GRAD_TOLERANCE


def test_greedy_decoding_equals_transformers_generate(folder):
    from llmlab.generation import SamplingParams
    from llmlab.numpy_transformer.sampling import generate

    hf, ours = loaded_pair(SHAPES[0], "float64", folder)
    prompt = [5, 17, 3, 42]
    expected = hf.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=12, min_new_tokens=12,
                           pad_token_id=0)[0, len(prompt):].tolist()
    assert generate(ours, prompt, SamplingParams(temperature=0, max_new_tokens=12)).tokens[0] == expected


def test_seeded_sampling_is_reproducible_and_top_k_1_is_greedy(folder):
    from llmlab.generation import SamplingParams
    from llmlab.numpy_transformer.sampling import generate

    _, ours = loaded_pair(SHAPES[0], "float32", folder)
    params = SamplingParams(temperature=1.0, top_k=10, max_new_tokens=15, seed=7)
    a, b = generate(ours, [1, 2], params).tokens, generate(ours, [1, 2], params).tokens
    assert a == b
    greedy = generate(ours, [1, 2], SamplingParams(temperature=0, max_new_tokens=15)).tokens
    assert generate(ours, [1, 2], SamplingParams(top_k=1, max_new_tokens=15, seed=3)).tokens == greedy


def test_decoding_past_the_context_keeps_going(folder):
    from llmlab.generation import SamplingParams
    from llmlab.numpy_transformer.sampling import generate

    _, ours = loaded_pair(SHAPES[0], "float32", folder)                  # 24 positions
    window = ours.config.n_positions
    out = generate(ours, list(range(20)), SamplingParams(temperature=0, max_new_tokens=30)).tokens[0]
    assert len(out) == 30
    # The reference recomputes every step from scratch, no cache, on what the stepper promises to see:
    # the tokens since its window began; a full window restarts from its last half. Logits are
    # compared (not only the argmax, which a weak random model may keep from the last token alone).
    ids, start = list(range(20)), max(0, 20 - window)
    stepper = ours.make_stepper(None)
    got = stepper.prefill(np.array([ids]))
    for step in range(30):
        want = ours(np.array([ids[start:]]))[0, -1]
        np.testing.assert_allclose(got[0], want, atol=1e-4, rtol=1e-4, err_msg=f"step {step}")
        ids.append((5 * step + 1) % VOCAB)
        if len(ids) - 1 - start >= window:
            start = len(ids) - window // 2
        got = stepper.step(np.array([ids[-1]]))


def test_save_pretrained_loads_in_transformers(tmp_path):
    cfg = GPTConfig(vocab_size=VOCAB, n_positions=16, n_embd=24, n_layer=2, n_head=3, initializer_range=0.2)
    for positional in ("learned", "sinusoidal"):
        cfg.positional = positional
        ours = GPT(cfg, dtype="float64", seed=3)
        ours.save_pretrained(tmp_path / positional)
        hf = GPT2LMHeadModel.from_pretrained(tmp_path / positional, dtype=torch.float64).eval()
        ids = np.random.default_rng(0).integers(0, VOCAB, (2, 10))
        assert logit_error(hf, ours, ids, None) <= LOGIT_TOLERANCE["float64"]
        again = GPT.from_pretrained(tmp_path / positional, dtype="float64")
        assert again.config.positional == positional
        np.testing.assert_array_equal(again(ids), ours(ids))


def test_untied_head_and_layer_scaled_attention(tmp_path):
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=VOCAB, n_positions=16,
                     tie_word_embeddings=False,
                     scale_attn_by_inverse_layer_idx=True, bos_token_id=None, eos_token_id=None)
    hf = GPT2LMHeadModel(cfg).double().eval()
    assert hf.lm_head.weight.data_ptr() != hf.transformer.wte.weight.data_ptr()
    hf.save_pretrained(tmp_path)
    ours = GPT.from_pretrained(tmp_path, dtype="float64")
    assert ours.lm_head is not None
    ids, mask = padded_batch(np.random.default_rng(0), t=9)
    assert logit_error(hf, ours, ids, mask) <= LOGIT_TOLERANCE["float64"]
    assert gradient_error(hf, ours, ids, mask) <= GRAD_TOLERANCE


def test_old_checkpoint_names_and_mask_buffers_load():
    """The original GPT-2 files have no "transformer." prefix and store each layer's causal mask."""
    hf = tiny_hf_model(*SHAPES[0], dtype="float64")
    state = {k.removeprefix("transformer."): v.numpy() for k, v in hf.state_dict().items()}
    state["h.0.attn.bias"] = np.tril(np.ones((24, 24)))[None, None]
    ours = GPT(GPTConfig(vocab_size=VOCAB, n_positions=24, n_embd=32, n_layer=2, n_head=4), dtype="float64")
    ours.load_state_dict(state)
    ids, _ = padded_batch(np.random.default_rng(0))
    assert logit_error(hf, ours, ids, None) <= LOGIT_TOLERANCE["float64"]


def test_weights_that_do_not_fit_the_config_are_a_lab_error():
    hf = tiny_hf_model(*SHAPES[0])
    ours = GPT(GPTConfig(vocab_size=VOCAB, n_positions=24, n_embd=32, n_layer=3, n_head=4))
    with pytest.raises(LabError, match="missing"):
        ours.load_state_dict({k: v.numpy() for k, v in hf.state_dict().items()})
    with pytest.raises(LabError, match="no model directory .*no such directory"):
        GPT.from_pretrained("./no/such/dir")


def test_kv_cache_overflow_is_a_lab_error():
    model = GPT(GPTConfig(vocab_size=11, n_positions=8, n_embd=8, n_layer=1, n_head=2))
    cache = KVCache.for_model(model, max_len=6)
    model(np.zeros((1, 5), dtype=int), cache=cache)
    with pytest.raises(LabError, match="KV cache holds 6"):
        model(np.zeros((1, 2), dtype=int), cache=cache)


def test_adamw_and_clipping_equal_pytorch():
    rng = np.random.default_rng(0)
    shapes = [(4, 3), (3,), (5, 2)]
    params = [rng.standard_normal(s) for s in shapes]
    grads = [np.zeros(s) for s in shapes]
    torch_params = [torch.tensor(p, requires_grad=True) for p in params]
    ours = AdamW([(str(i), p, g) for i, (p, g) in enumerate(zip(params, grads, strict=True))], lr=0.1,
                 betas=(0.9, 0.95), weight_decay=0.1)
    ref = torch.optim.AdamW([{"params": [torch_params[0], torch_params[2]], "weight_decay": 0.1},
                             {"params": [torch_params[1]], "weight_decay": 0.0}], lr=0.1, betas=(0.9, 0.95))
    for step in range(5):
        for g, tp in zip(grads, torch_params, strict=True):
            g[...] = rng.standard_normal(g.shape) * 3
            tp.grad = torch.tensor(g)
        norm = clip_grad_norm(grads, 1.0)
        ref_norm = torch.nn.utils.clip_grad_norm_(torch_params, 1.0)
        assert norm == pytest.approx(float(ref_norm), rel=1e-12)
        ours.step(lr=0.1 / (step + 1))
        for group in ref.param_groups:
            group["lr"] = 0.1 / (step + 1)
        ref.step()
    for p, tp in zip(params, torch_params, strict=True):
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-14)

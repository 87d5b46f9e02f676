"""The chunked linear + cross-entropy (`loss_chunk_size`) against the plain path: loss and gradients equal
(float64 to 1e-12, float32 to ~1e-6), ignored targets, the model's training forward for both families,
untouched logits / generate / checkpoints, the preset switches, and one torch.compile graph (slow)."""

import pytest
import torch
import torch.nn.functional as F

from llmlab.errors import LabError
from llmlab.pretrain.chunked_loss import IGNORE_INDEX, linear_cross_entropy
from llmlab.pretrain.model import build_model, causal_lm_loss_in_forward, configure_compiler
from llmlab.pretrain.presets import resolve


def _reference(h, w, t):
    logits = h.reshape(-1, h.shape[-1]) @ w.t()                        # what lm_head + HF's loss compute
    return F.cross_entropy(logits.to(torch.promote_types(h.dtype, torch.float32)), t.reshape(-1))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
@pytest.mark.parametrize("chunk", [7, 32, 1000])               # uneven last chunk, exact split, one chunk
def test_loss_and_gradients_equal_plain_cross_entropy(dtype, tol, chunk):
    g = torch.Generator().manual_seed(0)
    h = torch.randn(4, 16, 24, generator=g, dtype=dtype, requires_grad=True)
    w = (0.3 * torch.randn(97, 24, generator=g, dtype=dtype)).requires_grad_()
    t = torch.randint(0, 97, (4, 16), generator=g)
    t[1, :5] = IGNORE_INDEX                                          # ignored targets: out of the mean
    expected = _reference(h, w, t)
    ref_grads = torch.autograd.grad(2.5 * expected, (h, w))          # a non-unit upstream gradient
    loss = linear_cross_entropy(h, w, t, chunk_size=chunk)
    grads = torch.autograd.grad(2.5 * loss, (h, w))
    torch.testing.assert_close(loss, expected, rtol=tol, atol=tol)
    for got, want in zip(grads, ref_grads, strict=True):
        assert got.dtype == want.dtype
        torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    # evaluation: the loss alone, no gradients
    with torch.no_grad():
        torch.testing.assert_close(linear_cross_entropy(h, w, t, chunk_size=chunk), expected.detach(),
                                   rtol=tol, atol=tol)


def test_bf16_autocast_matches_the_autocast_reference():
    """Under bf16 autocast the matmuls run in bf16 and the softmax in float32, as lm_head + HF's loss do."""
    g = torch.Generator().manual_seed(1)
    h = torch.randn(64, 32, generator=g, requires_grad=True)
    w = (0.2 * torch.randn(128, 32, generator=g)).requires_grad_()
    t = torch.randint(0, 128, (64,), generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = F.cross_entropy((h @ w.t()).float(), t)
        loss = linear_cross_entropy(h, w, t, chunk_size=16)
    ref_grads = torch.autograd.grad(expected, (h, w))
    grads = torch.autograd.grad(loss, (h, w))
    assert loss.dtype == torch.float32 and grads[1].dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=1e-3, atol=1e-3)   # same bf16 logits, float32 sums
    for got, want in zip(grads, ref_grads, strict=True):              # bf16 products: ~3 significant digits
        torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("preset", ["gpt2-tiny", "llama-tiny"])
def test_model_training_forward_equals_the_plain_model(preset):
    """Same weights, loss_chunk_size=48 vs 0: same loss, same gradient of every parameter (tied ones too),
    while logits and greedy generate (no labels) are the model's own."""
    plain = build_model(resolve(preset)[0], vocab_size=300, eot_id=0, seed=0)
    chunked = build_model(resolve(preset, ["loss_chunk_size=48"])[0], vocab_size=300, eot_id=0, seed=0)
    rows = torch.randint(0, 300, (3, 41), generator=torch.Generator().manual_seed(2))
    x, y = rows[:, :-1], rows[:, 1:]
    losses = [causal_lm_loss_in_forward(m, x, y) for m in (plain, chunked)]
    for loss in losses:
        loss.backward()
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-6, atol=1e-6)
    for (name, p), q in zip(plain.named_parameters(), chunked.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-6, msg=name)
    with torch.no_grad():
        torch.testing.assert_close(chunked(input_ids=x).logits, plain(input_ids=x).logits)
        assert chunked(input_ids=x, labels=rows[:, :-1]).logits is not None    # HF's own labels path
    assert torch.equal(chunked.generate(x[:1, :6], max_new_tokens=5, do_sample=False),
                       plain.generate(x[:1, :6], max_new_tokens=5, do_sample=False))


def test_checkpoint_of_a_chunked_model_is_a_plain_model(tmp_path):
    from transformers import AutoModelForCausalLM, GPT2LMHeadModel

    model = build_model(resolve("gpt2-tiny", ["loss_chunk_size=64"])[0], vocab_size=300, eot_id=0, seed=0)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(loaded) is GPT2LMHeadModel and loaded.config.architectures == ["GPT2LMHeadModel"]
    x = torch.randint(0, 300, (1, 10))
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=x).logits, model(input_ids=x).logits)


def test_preset_switches():
    spec, _ = resolve("gpt2-124m")
    assert spec.loss_chunk_size == 16384                      # the default where it measured faster (H100)
    assert resolve("gpt2-tiny")[0].loss_chunk_size == 0
    assert resolve("gpt2-124m", ["loss_chunk_size=0"])[0].loss_chunk_size == 0
    # it lives in the forward
    assert resolve("gpt2-124m", ["loss_in_forward=false"])[0].loss_chunk_size == 0
    with pytest.raises(LabError, match="loss_chunk_size"):
        resolve("gpt2-tiny", ["loss_chunk_size=-1"])
    with pytest.raises(LabError, match="loss_in_forward=true"):
        resolve("gpt2-tiny", ["loss_chunk_size=64", "loss_in_forward=false"])
    import torch._inductor.config as inductor

    before = inductor.coordinate_descent_tuning
    try:
        configure_compiler(resolve("gpt2-tiny", ["coordinate_descent=true"])[0])
        assert inductor.coordinate_descent_tuning is True
    finally:
        inductor.coordinate_descent_tuning = before


@pytest.mark.slow
def test_compiles_as_one_graph():
    """fullgraph=True: the custom autograd function traces into the model's compiled graph (no break)."""
    torch._dynamo.reset()
    model = build_model(resolve("gpt2-tiny", ["loss_chunk_size=64", "n_layer=1"])[0], 128, 0, seed=0)
    rows = torch.randint(0, 128, (2, 49), generator=torch.Generator().manual_seed(3))
    expected = causal_lm_loss_in_forward(model, rows[:, :-1], rows[:, 1:])
    loss = causal_lm_loss_in_forward(torch.compile(model, fullgraph=True), rows[:, :-1], rows[:, 1:])
    loss.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
    assert model.lm_head.weight.grad is not None

"""Own int8 weight-only quantisation: exact parity of the int8 weights with torch's per-channel quantiser, the
per-layer error bound, whole-model logits on tiny random GPT-2 and Llama, and torch's dynamic int8 as
reference."""

import copy
import warnings

import pytest
import torch
from torch import nn

from llmlab.chat.quantize import Int8Linear, int8_layers, quantize_model, quantize_weight, weight_bytes
from llmlab.errors import LabError


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from transformers import AutoModelForCausalLM

    from llmlab.serve.random_model import make_model_dir

    out = {}
    for family in ("gpt2", "llama"):
        directory = make_model_dir(tmp_path_factory.mktemp(family), family=family, preset="tiny",
                                   tokenizer="bpe")
        out[family] = AutoModelForCausalLM.from_pretrained(directory).eval()
    return out


def _ids(seed=0, batch=2, length=32, vocab=250):
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_int8_weights_equal_torch_per_channel_quantiser():
    weight = torch.randn(300, 128, generator=torch.Generator().manual_seed(1)) * 0.05
    q, scale = quantize_weight(weight)
    zero = torch.zeros(300, dtype=torch.long)
    with warnings.catch_warnings():
        # torch marks its quantised tensors as deprecated; the math is the reference
        warnings.simplefilter("ignore")
        reference = torch.quantize_per_channel(weight, scale.double(), zero, 0, torch.qint8).int_repr()
    assert torch.equal(q, reference)
    assert q.abs().max() == 127 and torch.allclose(scale, weight.abs().amax(1) / 127)


def test_zero_row_gets_zero_weights():
    weight = torch.randn(4, 16)
    weight[2] = 0
    q, scale = quantize_weight(weight)
    assert (q[2] == 0).all() and torch.isfinite(scale).all()


@pytest.mark.parametrize("kernel", ["dequant", "int8pack"])
@pytest.mark.parametrize("kind", ["linear", "conv1d"])
def test_layer_output_within_the_rounding_bound(kernel, kind):
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    if kind == "linear":
        layer = nn.Linear(64, 48)
        weight = layer.weight.detach()
    else:
        layer = Conv1D(48, 64)                      # nf=48 outputs, nx=64 inputs; weight (64, 48)
        nn.init.normal_(layer.weight, std=0.1)
        nn.init.normal_(layer.bias, std=0.1)
        weight = layer.weight.detach().t()
    q_layer = Int8Linear.from_float(layer, kernel)
    assert q_layer.kernel == kernel
    x = torch.randn(3, 5, 64)
    with torch.no_grad():
        exact, got = layer(x), q_layer(x)
    assert got.shape == exact.shape == (3, 5, 48)
    # |y_i - ŷ_i| <= (s_i / 2) Σ_j |x_j|; the bf16 kernel adds the rounding of x and of y (~2^-8 relative)
    bound = 0.5 * q_layer.scale * x.abs().sum(-1, keepdim=True)
    if kernel == "int8pack":
        bound = bound + 2 ** -7 * (x.abs() @ weight.abs().t() + exact.abs())
    assert ((got - exact).abs() <= bound + 1e-5).all()
    assert ((weight - q_layer.dequantized_weight()).abs() <= q_layer.scale[:, None] / 2 + 1e-7).all()


def test_odd_width_falls_back_to_exact_kernel():
    torch.manual_seed(0)
    exact = nn.Linear(20, 8)
    layer = Int8Linear.from_float(exact, "int8pack")      # the int8pack kernel needs in % 8 == 0
    assert layer.kernel == "dequant"
    x = torch.randn(2, 20)
    with torch.no_grad():
        got = layer(x)
        # the fallback is exactly a float matmul with the dequantised weight, within the int8 error bound
        torch.testing.assert_close(got, torch.nn.functional.linear(x, layer.dequantized_weight(), exact.bias))
        assert ((got - exact(x)).abs() <= 0.5 * layer.scale * x.abs().sum(-1, keepdim=True) + 1e-5).all()


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_whole_model_logits_close_and_greedy_agrees(models, family):
    model = models[family]
    quant = copy.deepcopy(model)
    report = quantize_model(quant)
    n_linear = sum(isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D" for m in model.modules())
    assert len(report.layers) == len(int8_layers(quant)) == n_linear - 1     # all but the LM head
    assert "lm_head" in report.kept_float
    ids = _ids()
    with torch.no_grad():
        ref, got = model(ids).logits, quant(ids).logits
    assert (got - ref).norm() / ref.norm() < 0.06
    assert (got.argmax(-1) == ref.argmax(-1)).float().mean() > 0.9
    # greedy continuations: the first tokens agree before any near-tie can send them apart
    prompt = ids[:1, :8]
    a = model.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)
    b = quant.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)
    assert torch.equal(a[0, :12], b[0, :12])


def test_weight_bytes_accounting(models):
    model = models["llama"]
    quant = copy.deepcopy(model)
    report = quantize_model(quant)
    saved = sum(out * inp * 4 - (out * inp + 4 * out) for out, inp in (r.shape for r in report.layers))
    assert report.bytes_before == weight_bytes(model)
    assert report.bytes_after == report.bytes_before - saved
    full = copy.deepcopy(model)
    everything = quantize_model(full, lm_head=True, embeddings=True)
    assert everything.kept_float == [] and everything.compression > 3.5      # -> 4x as the scales vanish


def test_lm_head_and_tied_gpt2(models):
    quant = copy.deepcopy(models["gpt2"])
    quantize_model(quant, lm_head=True)
    assert isinstance(quant.lm_head, Int8Linear)
    assert not quant.config.tie_word_embeddings
    ids = _ids(seed=3)
    with torch.no_grad():
        ref, got = models["gpt2"](ids).logits, quant(ids).logits
    assert (got - ref).norm() / ref.norm() < 0.06


def test_skip_pattern_and_bad_kernel(models):
    quant = copy.deepcopy(models["llama"])
    report = quantize_model(quant, skip=r"self_attn")
    assert all("self_attn" not in r.name for r in report.layers)
    assert any("self_attn" in n for n in report.kept_float)
    with pytest.raises(LabError, match="kernel"):
        quantize_model(copy.deepcopy(models["llama"]), kernel="fp4")


def test_closer_to_float_than_torch_dynamic_int8(models):
    """torch.ao's dynamic int8 (per-channel weights, and activations rounded to uint8 on the fly) on the same
    layers: weight-only int8 keeps activations float, so its logits must be closer to the float model's."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    model = models["llama"]
    ours = copy.deepcopy(model)
    quantize_model(ours, lm_head=True, kernel="dequant")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dynamic = quantize_dynamic(copy.deepcopy(model), {nn.Linear: per_channel_dynamic_qconfig},
                                   dtype=torch.qint8)
    assert not any(isinstance(m, nn.Linear) for m in dynamic.modules())
    ids = _ids(seed=5)
    with torch.no_grad():
        ref = model(ids).logits
        err_ours = ((ours(ids).logits - ref).norm() / ref.norm()).item()
        err_dyn = ((dynamic(ids).logits - ref).norm() / ref.norm()).item()
    assert err_ours < err_dyn
    assert err_dyn < 0.3            # the reference itself is a working int8 model, not noise

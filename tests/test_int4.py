"""Group-wise int4 and GPTQ: values against a reference written here (element by element), llama.cpp's own
Q4_0/Q4_1 quantiser at group 32, exact packed size, the layer, and GPTQ's output error against round to
nearest on every layer of a tiny GPT-2 (measured on the layer's own inputs, not taken from the code under
test)."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from llmlab.chat.awq import awq_quantize_model
from llmlab.chat.gptq import collect_hessians, gptq_quantize, gptq_quantize_model, output_error
from llmlab.chat.int4 import (
    Int4Linear,
    dequantize_int4,
    int4_targets,
    linear_weight,
    pack_codes,
    quantize_int4,
    quantize_model_int4,
    unpack_codes,
)
from llmlab.chat.quantize import weight_bytes
from llmlab.errors import LabError


def reference_int4(w: np.ndarray, group: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """(codes, dequantised) one group and one element at a time, float32 arithmetic as llama.cpp's C code."""
    f32 = np.float32
    codes, values = np.zeros(w.shape, np.uint8), np.zeros(w.shape, f32)
    for r in range(w.shape[0]):
        for start in range(0, w.shape[1], group):
            block = w[r, start:start + group]
            if symmetric:
                m = block[np.argmax(np.abs(block))]
                d = f32(m) / f32(-8)
                low = None
            else:
                low, d = block.min(), (block.max() - block.min()) / f32(15)
            inv = f32(0) if d == 0 else f32(1) / d
            for j, x in enumerate(block):
                shifted = f32(x) * inv + f32(8.5) if symmetric else (f32(x) - low) * inv + f32(0.5)
                q = min(15, max(0, int(np.trunc(f32(shifted)))))
                d16 = f32(np.float16(d))
                codes[r, start + j] = q
                values[r, start + j] = f32(q - 8) * d16 if symmetric else f32(q) * d16 + f32(np.float16(low))
    return codes, values


def _weight(out=6, inp=128, seed=0):
    w = torch.randn(out, inp, generator=torch.Generator().manual_seed(seed)) * 0.05
    w[0, 5] = 0.9                        # one outlier: its group's scale grows, the other groups keep theirs
    w[1, :32] = 0                        # an all-zero group
    w[2, :2] = torch.tensor([1.0, 0.1875])   # d = -1/8 and w/d = -1.5 exactly: a tie llama.cpp rounds up
    return w


@pytest.mark.parametrize("group", [32, 64, 128])
@pytest.mark.parametrize("symmetric", [True, False])
def test_round_trip_equals_reference(group, symmetric):
    w = _weight()
    q = quantize_int4(w, group, symmetric)
    codes, values = reference_int4(w.numpy(), group, symmetric)
    assert torch.equal(unpack_codes(q.packed), torch.from_numpy(codes))
    assert torch.equal(dequantize_int4(q), torch.from_numpy(values))
    # the byte layout: code 2j in the low nibble of byte j, code 2j+1 in the high one
    assert torch.equal(q.packed, torch.from_numpy(codes[:, 0::2] | (codes[:, 1::2] << 4)))
    if symmetric or group == 32:       # zero is on the symmetric grid; a min-based group holds it if all zero
        assert (dequantize_int4(q)[1, :32] == 0).all()
    # every weight within one step d of its value (half a step, but the clamped top code of Q4_0's grid)
    d = q.scale.float().abs().repeat_interleave(group, dim=1)
    assert ((w - dequantize_int4(q)).abs() <= d + 1e-3 * d.max()).all()


def test_pack_unpack_inverse():
    codes = torch.randint(0, 16, (3, 10), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(unpack_codes(pack_codes(codes)), codes)


@pytest.mark.parametrize("symmetric", [True, False])
def test_group_32_is_llama_cpp_q4(symmetric):
    gguf = pytest.importorskip("gguf")
    w = _weight(8, 256, seed=1)
    kind = gguf.GGMLQuantizationType.Q4_0 if symmetric else gguf.GGMLQuantizationType.Q4_1
    theirs = gguf.quants.dequantize(gguf.quants.quantize(w.numpy(), kind), kind)
    assert np.array_equal(dequantize_int4(quantize_int4(w, 32, symmetric)).numpy(), theirs)


@pytest.mark.parametrize("group", [32, 128])
@pytest.mark.parametrize("symmetric", [True, False])
def test_packed_size_is_half_a_byte_per_weight_plus_scales(group, symmetric):
    out, inp = 48, 256
    layer = Int4Linear(quantize_int4(torch.randn(out, inp), group, symmetric), bias=None)
    per_group = 2 if symmetric else 4                  # fp16 d, and fp16 min when asymmetric
    assert weight_bytes(layer) == out * inp // 2 + out * (inp // group) * per_group
    assert layer.packed.dtype == torch.uint8 and layer.packed.shape == (out, inp // 2)


def test_layer_matches_dequantised_matmul_and_conv1d():
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    conv = Conv1D(48, 64)                              # weight (in, out) = (64, 48)
    nn.init.normal_(conv.weight, std=0.1)
    model = nn.Sequential(nn.Linear(64, 64), conv)
    x = torch.randn(2, 5, 64)
    with torch.no_grad():
        exact = model(x)
        quant = copy.deepcopy(model)
        report = quantize_model_int4(quant, group=32)
        got = quant(x)
        by_hand = x
        for layer in model:
            w = linear_weight(layer)
            _, values = reference_int4(w.numpy(), 32, True)
            by_hand = by_hand @ torch.from_numpy(values).t() + layer.bias
    assert [type(m) for m in quant] == [Int4Linear, Int4Linear] and len(report.layers) == 2
    torch.testing.assert_close(got, by_hand, rtol=1e-5, atol=1e-5)
    assert 0 < (got - exact).norm() / exact.norm() < 0.2


def test_rows_that_do_not_split_stay_float_and_bad_group():
    # 40 is not a multiple of 32; a row of 8 < 32 is one group
    model = nn.Sequential(nn.Linear(40, 8), nn.Linear(8, 8))
    report = quantize_model_int4(model, group=32)
    assert report.kept_float == ["0"] and isinstance(model[1], Int4Linear) and model[1].group == 8
    with pytest.raises(LabError, match="group size"):
        quantize_int4(torch.randn(4, 64), group=48)


@pytest.fixture(scope="module")
def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=96, n_positions=64, n_embd=64, n_layer=2, n_head=4,
                                       bos_token_id=0, eos_token_id=0))
    return model.eval()


def _calibration(n=4, length=48, seed=0):
    return [torch.randint(0, 96, (2, length), generator=torch.Generator().manual_seed(seed + i))
            for i in range(n)]


def _layer_inputs(model, names, batches):
    """Every named layer's inputs (tokens, in), caught with hooks here, independently of gptq.py."""
    seen = {name: [] for name in names}
    handles = [model.get_submodule(n).register_forward_hook(
        lambda m, a, o, n=n: seen[n].append(a[0].reshape(-1, a[0].shape[-1]))) for n in names]
    with torch.no_grad():
        for ids in batches:
            model(ids)
    for h in handles:
        h.remove()
    return {n: torch.cat(xs) for n, xs in seen.items()}


@pytest.mark.parametrize("symmetric", [True, False])
def test_gptq_beats_round_to_nearest_on_every_layer(tiny_gpt2, symmetric):
    calibration = _calibration()
    names = list(int4_targets(tiny_gpt2))
    inputs = _layer_inputs(tiny_gpt2, names, calibration)
    rtn, gptq = copy.deepcopy(tiny_gpt2), copy.deepcopy(tiny_gpt2)
    quantize_model_int4(rtn, group=32, symmetric=symmetric)
    _, errors = gptq_quantize_model(gptq, calibration, group=32, symmetric=symmetric)
    assert sorted(errors) == sorted(names) and len(names) == 8
    for name in names:
        x, w = inputs[name], linear_weight(tiny_gpt2.get_submodule(name))
        diffs = {kind: w - m.get_submodule(name).dequantized_weight()
                 for kind, m in (("rtn", rtn), ("gptq", gptq))}
        direct = {kind: float(((x @ d.t()) ** 2).sum() / len(x)) for kind, d in diffs.items()}
        assert direct["gptq"] < direct["rtn"], name
        for kind in direct:                            # the H shortcut equals the direct sum of squares
            assert errors[name][kind] == pytest.approx(direct[kind], rel=1e-3)


def test_gptq_with_uncorrelated_inputs_is_round_to_nearest():
    """With H diagonal no column can absorb another's error, so GPTQ (in column order) is plain rounding."""
    w = _weight(8, 64, seed=3)
    got = gptq_quantize(w, torch.diag(torch.rand(64, generator=torch.Generator().manual_seed(0)) + 0.5),
                        group=32, act_order=False)
    rtn = quantize_int4(w, 32)
    assert torch.equal(got.packed, rtn.packed) and torch.equal(got.scale, rtn.scale)


def test_gptq_damping_and_dead_inputs():
    x = torch.randn(200, 64, generator=torch.Generator().manual_seed(0))
    x[:, 7] = 0                                        # an input that never fires: H is singular without care
    h = 2 * x.t().double() @ x.double() / len(x)
    w = _weight(8, 64, seed=4)
    q = gptq_quantize(w, h, group=32, damp=0.01)
    assert torch.isfinite(dequantize_int4(q)).all()
    assert output_error(w, dequantize_int4(q), h) < output_error(w, dequantize_int4(quantize_int4(w, 32)), h)
    with pytest.raises(LabError, match="calibration"):
        collect_hessians(nn.Linear(4, 4), {"": nn.Linear(4, 4)}, [])


def test_awq_never_worse_than_round_to_nearest_and_better_on_most_layers(tiny_gpt2):
    calibration = _calibration()
    names = list(int4_targets(tiny_gpt2))
    inputs = _layer_inputs(tiny_gpt2, names, calibration)
    rtn, awq = copy.deepcopy(tiny_gpt2), copy.deepcopy(tiny_gpt2)
    quantize_model_int4(rtn, group=32)
    _, errors = awq_quantize_model(awq, calibration, group=32)
    better = 0
    for name in names:
        x, w = inputs[name], linear_weight(tiny_gpt2.get_submodule(name))
        direct = {kind: float(((x @ (w - m.get_submodule(name).dequantized_weight()).t()) ** 2).sum())
                  for kind, m in (("rtn", rtn), ("awq", awq))}
        assert direct["awq"] <= direct["rtn"] * (1 + 1e-6), name      # α = 0 is on the grid: plain rounding
        better += direct["awq"] < direct["rtn"] * 0.999
    assert better >= len(names) // 2, errors
    # the stored input scales are part of the layer: 2 bytes per input on top of codes and group scales
    layer = awq.get_submodule(names[0])
    assert layer.input_scale.dtype == torch.float16 and layer.input_scale.shape == (layer.in_features,)
    codes = layer.out_features * layer.in_features // 2
    scales = layer.scale.numel() * 2 + layer.in_features * 2
    assert weight_bytes(layer) - layer.bias.numel() * 4 == codes + scales
    x = torch.randn(3, layer.in_features)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), x @ layer.dequantized_weight().t() + layer.bias)

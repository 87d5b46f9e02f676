"""The Llama/Qwen layers of the NumPy Transformer: each backward against central finite differences and
against PyTorch autograd (float64), RoPE's frequencies against transformers', configs, and torch-free use."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llmlab.errors import LabError
from llmlab.numpy_transformer.gqa_attention import GroupedQueryAttention
from llmlab.numpy_transformer.gradcheck import TOLERANCE, check_function
from llmlab.numpy_transformer.llama import LlamaConfig
from llmlab.numpy_transformer.llama_gradcheck import llama_gradient_checks
from llmlab.numpy_transformer.masks import attention_bias
from llmlab.numpy_transformer.rmsnorm import RMSNorm
from llmlab.numpy_transformer.rope import apply_rope, inverse_frequencies, rope_backward, rope_tables
from llmlab.numpy_transformer.swiglu import SwiGLU

AUTOGRAD_TOLERANCE = 1e-12      # relative, float64


@pytest.fixture(scope="module")
def gradient_rows():
    return llama_gradient_checks(seed=0)


@pytest.mark.parametrize("layer", ["RoPE", ": RMSNorm", "SwiGLU", "2 q per kv", "multi-query",
                                   "with QK-norm (Qwen3)", "Llama block", "whole Llama", "whole Qwen3"])
def test_backward_equals_finite_differences(gradient_rows, layer):
    (row,) = [r for r in gradient_rows if layer in r["check"]]
    assert row["value"] <= TOLERANCE, row


def test_a_wrong_rope_backward_is_caught():
    """The check must be able to fail: RoPE's backward rotating forwards (sin not negated)."""
    rng = np.random.default_rng(0)
    cos, sin = rope_tables(np.arange(5)[None], inverse_frequencies(4, 100.0), np.float64)
    errors = check_function(lambda z: apply_rope(z, cos, sin), lambda g: apply_rope(g, cos, sin),
                            rng.standard_normal((2, 5, 4)), None, rng)
    assert errors["input"] > 1e-2


def _relative(ours: np.ndarray, ref: torch.Tensor) -> float:
    ref = ref.detach().numpy()
    return float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))


def _autograd(fn, *arrays):
    """Outputs and gradients of Σ fn(...) ⊙ G in torch, for a fixed random G: (y, G, [grads])."""
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*tensors)
    g = torch.tensor(np.random.default_rng(5).standard_normal(tuple(y.shape)))
    (y * g).sum().backward()
    return y, g.numpy(), [t.grad for t in tensors]


def test_rope_and_rmsnorm_and_swiglu_equal_autograd():
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 8))                                      # (B, nh, T, d)
    cos, sin = rope_tables(np.arange(2, 8)[None], inverse_frequencies(8, 1e4), np.float64)
    cos, sin = cos[:, None], sin[:, None]
    ref, g, (dx,) = _autograd(lambda t: apply_rotary_pos_emb(t, t, torch.tensor(cos[:, 0]),
                                                             torch.tensor(sin[:, 0]))[0], x)
    assert _relative(apply_rope(x, cos, sin), ref) <= AUTOGRAD_TOLERANCE
    assert _relative(rope_backward(g, cos, sin), dx) <= AUTOGRAD_TOLERANCE

    h = rng.standard_normal((2, 5, 12))
    norm = RMSNorm(12, 1e-6, np.float64)
    norm.params["weight"][:] = rng.standard_normal(12)
    w = norm.params["weight"].copy()
    ref, g, (dh, dw) = _autograd(lambda t, wt: wt * t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + 1e-6),
                                 h, w)
    assert _relative(norm.forward(h), ref) <= AUTOGRAD_TOLERANCE
    assert _relative(norm.backward(g), dh) <= AUTOGRAD_TOLERANCE
    assert _relative(norm.grads["weight"], dw) <= AUTOGRAD_TOLERANCE

    mlp = SwiGLU(12, 20, rng, np.float64, std=0.3, proj_std=0.3)
    wg, wu = mlp.gate_up.params["weight"][:, :20].copy(), mlp.gate_up.params["weight"][:, 20:].copy()
    ref, g, (dh, dwg, dwu, dwd) = _autograd(lambda t, a, b, c: (F.silu(t @ a) * (t @ b)) @ c, h, wg, wu,
                                            mlp.down_proj.params["weight"].copy())
    assert _relative(mlp.forward(h), ref) <= AUTOGRAD_TOLERANCE
    assert _relative(mlp.backward(g), dh) <= AUTOGRAD_TOLERANCE
    assert _relative(mlp.gate_up.grads["weight"], torch.cat([dwg, dwu], dim=1)) <= AUTOGRAD_TOLERANCE
    assert _relative(mlp.down_proj.grads["weight"], dwd) <= AUTOGRAD_TOLERANCE


@pytest.mark.parametrize("n_kv", [4, 2, 1])
def test_grouped_query_attention_equals_autograd(n_kv):
    """Against torch's own grouped-query SDPA (enable_gqa), with QK-norm, biases and a left-padded row."""
    rng = np.random.default_rng(2)
    b, t, c, nh, d = 2, 6, 16, 4, 6
    attn = GroupedQueryAttention(c, nh, n_kv, d, rng, np.float64, qkv_bias=True, qk_norm=True, std=0.3)
    for norm in (attn.q_norm, attn.k_norm):
        norm.params["weight"][:] = 1 + 0.3 * rng.standard_normal(d)
    x = rng.standard_normal((b, t, c))
    pad = np.ones((b, t), dtype=int)
    pad[1, :2] = 0
    bias = attention_bias(t, t, pad, np.float64)
    cos, sin = rope_tables(np.arange(t)[None], inverse_frequencies(d, 1e4), np.float64)
    w, wb = attn.qkv.params["weight"].copy(), attn.qkv.params["bias"].copy()
    wo = attn.o_proj.params["weight"].copy()
    gq, gk = attn.q_norm.params["weight"].copy(), attn.k_norm.params["weight"].copy()

    def reference(xt, wt, bt, wot, gqt, gkt):
        qkv = xt @ wt + bt
        q, k, v = qkv.split([nh * d, n_kv * d, n_kv * d], dim=-1)
        def heads(z):  # noqa: E306
            return z.reshape(b, t, -1, d).transpose(1, 2)
        def rms(z, gain):  # noqa: E306
            return gain * z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + 1e-6)
        def rope(z):  # noqa: E306
            half = torch.cat([-z[..., d // 2:], z[..., :d // 2]], dim=-1)
            return z * torch.tensor(cos[:, None]) + half * torch.tensor(sin[:, None])
        q, k, v = rope(rms(heads(q), gqt)), rope(rms(heads(k), gkt)), heads(v)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(bias), enable_gqa=True)
        return y.transpose(1, 2).reshape(b, t, nh * d) @ wot

    ref, g, grads = _autograd(reference, x, w, wb, wo, gq, gk)
    real = pad.astype(bool)
    out = attn.forward(x, bias, cos[:, None], sin[:, None])
    assert np.abs(out - ref.detach().numpy())[real].max() <= 1e-12
    dx = attn.backward(g)
    ours = [dx, attn.qkv.grads["weight"], attn.qkv.grads["bias"], attn.o_proj.grads["weight"],
            attn.q_norm.grads["weight"], attn.k_norm.grads["weight"]]
    for name, got, want in zip(["x", "W_qkv", "b_qkv", "W_o", "q_norm", "k_norm"], ours, grads, strict=True):
        assert _relative(got, want) <= 1e-10, name


@pytest.mark.parametrize("scaling", [None, "llama3"])
def test_rope_frequencies_equal_transformers(scaling):
    """transformers computes them in float32; ours are float64, so equal to float32 rounding."""
    from llmlab.numpy_transformer.llama_reference import LLAMA3_ROPE, tiny_hf_model

    params = {"rope_theta": 5e5, **(LLAMA3_ROPE if scaling else {"rope_type": "default"})}
    hf = tiny_hf_model("llama", (1, 64, 4, 4), rope_parameters=params)
    theirs = hf.model.rotary_emb.inv_freq.numpy()
    ours = inverse_frequencies(16, 5e5, LLAMA3_ROPE if scaling else None)
    np.testing.assert_allclose(ours, theirs, rtol=3e-7)
    if scaling:                                    # the scaling changed something: not the plain frequencies
        assert np.abs(inverse_frequencies(16, 5e5) / ours - 1).max() > 1.0


def test_bad_configs_are_lab_errors():
    with pytest.raises(LabError, match="not a multiple of n_kv_head"):
        LlamaConfig(n_embd=32, n_head=4, n_kv_head=3)
    with pytest.raises(LabError, match="odd"):
        LlamaConfig(n_embd=30, n_head=2)
    with pytest.raises(LabError, match="rope_type 'yarn' is not implemented"):
        inverse_frequencies(8, 1e4, {"rope_type": "yarn", "factor": 4.0})


TORCH_FREE = r'''
import json, sys
sys.modules["torch"] = None
import numpy as np
from llmlab.generation import SamplingParams
from llmlab.numpy_transformer.llama import Llama, LlamaConfig
from llmlab.numpy_transformer.families import load_model
from llmlab.numpy_transformer.optim import AdamW
from llmlab.numpy_transformer.sampling import generate

model = Llama(LlamaConfig(vocab_size=17, n_positions=32, n_embd=16, n_layer=2, n_head=4, n_kv_head=2,
                          n_inner=24, qk_norm=True, family="qwen3", tie_word_embeddings=True), seed=0)
ids = np.arange(40).reshape(2, 20) % 17
opt = AdamW(model.named_parameters(), lr=1e-2)
losses = []
for _ in range(15):
    losses.append(float(model.forward(ids[:, :-1], ids[:, 1:])))
    model.backward()
    opt.step()
model.save_pretrained(sys.argv[1])
again = load_model(sys.argv[1])
tokens = generate(again, [1, 2, 3], SamplingParams(temperature=0, max_new_tokens=8)).tokens[0]
window = [1, 2, 3]
for _ in range(8):
    window.append(int(again(np.asarray([window]))[0, -1].argmax()))
print(json.dumps({"losses": losses, "cached": tokens, "full": window[3:], "kind": type(again).__name__,
                  "torch": sys.modules["torch"] is not None}))
'''


def test_llama_trains_saves_loads_and_decodes_with_torch_blocked(tmp_path):
    proc = subprocess.run([sys.executable, "-c", TORCH_FREE, str(tmp_path / "m")], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["torch"] is False and out["kind"] == "Llama"
    assert out["losses"][-1] < out["losses"][0] - 1.0
    assert out["cached"] == out["full"]

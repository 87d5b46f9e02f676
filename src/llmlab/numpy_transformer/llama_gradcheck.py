"""The Llama/Qwen layers' backward against central finite differences, in float64 (NumPy only): RoPE,
RMSNorm, SwiGLU, grouped-query attention (with q/k/v biases, multi-query, QK-norm), the block, and the
whole model. The method and the tolerance are gradcheck.py's (relative error <= 1e-6).

    rows = llama_gradient_checks(seed=0)        # [{"check", "value", "tolerance", "passed"}, ...]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from llmlab.numpy_transformer.gqa_attention import GroupedQueryAttention
from llmlab.numpy_transformer.gradcheck import TOLERANCE, check_function, whole_model_errors
from llmlab.numpy_transformer.llama import Llama, LlamaConfig
from llmlab.numpy_transformer.llama_block import LlamaBlock
from llmlab.numpy_transformer.masks import attention_bias
from llmlab.numpy_transformer.rmsnorm import RMSNorm
from llmlab.numpy_transformer.rope import apply_rope, inverse_frequencies, rope_backward, rope_tables
from llmlab.numpy_transformer.swiglu import SwiGLU


def _randomise(module, rng: np.random.Generator, std: float = 0.3) -> None:
    """Norm gains of 1 and zero biases would hide a missing term: give every parameter random values."""
    for _, p, _ in module.named_parameters():
        p[...] = rng.standard_normal(p.shape) * std + (1.0 if p.ndim == 1 and std < 1 else 0.0)


def llama_layer_cases(rng: np.random.Generator) -> dict[str, Callable[[], dict[str, float]]]:
    f64 = np.float64
    b, t, c, d = 2, 5, 16, 4
    x = rng.standard_normal((b, t, c))
    pad = np.ones((b, t), dtype=int)
    pad[1, :2] = 0                                                   # a left-padded row
    bias = attention_bias(t, t, pad, f64)
    cos, sin = rope_tables(np.arange(3, 3 + t)[None], inverse_frequencies(d, 100.0), f64)
    cos, sin = cos[:, None], sin[:, None]                            # (1, 1, T, d)
    heads = rng.standard_normal((b, 3, t, d))

    def attention(n_head, n_kv, **flags):
        m = GroupedQueryAttention(c, n_head, n_kv, d, rng, f64, **flags, std=0.3, proj_std=0.3)
        _randomise(m, rng)
        return lambda: check_function(lambda z: m.forward(z, bias, cos, sin), m.backward, x, m, rng)

    def layer(m, inp):
        _randomise(m, rng)
        return lambda: check_function(m.forward, m.backward, inp, m, rng)

    cfg = LlamaConfig(vocab_size=11, n_positions=8, n_embd=c, n_layer=1, n_head=4, n_kv_head=2, n_inner=24,
                      qkv_bias=True, initializer_range=0.3)
    block = LlamaBlock(cfg, rng, f64)
    _randomise(block, rng)
    return {
        "RoPE": lambda: check_function(lambda z: apply_rope(z, cos, sin),
                                       lambda g: rope_backward(g, cos, sin), heads, None, rng),
        "RMSNorm": layer(RMSNorm(c, dtype=f64), x),
        "SwiGLU MLP": layer(SwiGLU(c, 24, rng, f64, std=0.3, proj_std=0.3), x),
        "grouped-query attention (2 q per kv, q/k/v biases)": attention(4, 2, qkv_bias=True),
        "multi-query attention (4 q per kv, all biases)": attention(4, 1, qkv_bias=True, o_bias=True),
        "grouped-query attention with QK-norm (Qwen3)": attention(4, 2, qk_norm=True),
        "pre-RMSNorm Llama block": lambda: check_function(lambda z: block.forward(z, bias, cos, sin),
                                                          block.backward, x, block, rng),
    }


def llama_model_gradient_check(rng: np.random.Generator, max_probes: int = 8, **flags) -> dict[str, float]:
    """The whole model's loss against finite differences, a few entries of every parameter."""
    cfg = LlamaConfig(vocab_size=13, n_positions=8, n_embd=16, n_layer=2, n_head=4, n_kv_head=2, n_inner=20,
                      initializer_range=0.3, **flags)
    model = Llama(cfg, dtype="float64", seed=int(rng.integers(1 << 31)))
    _randomise(model, rng)
    return whole_model_errors(model, rng, max_probes)


def _row(check: str, errors: dict[str, float]) -> dict:
    worst = max(errors.values())
    return {"check": f"gradient: {check}", "value": worst, "tolerance": TOLERANCE,
            "passed": worst <= TOLERANCE}


def llama_gradient_checks(seed: int = 0) -> list[dict]:
    """One row per layer (the worst relative error over its input and parameters), then two whole models."""
    rng = np.random.default_rng(seed)
    rows = [_row(name, run()) for name, run in llama_layer_cases(rng).items()]
    rows.append(_row("whole Llama, untied head (finite differences)", llama_model_gradient_check(rng)))
    rows.append(_row("whole Qwen3-style model, tied head, QK-norm (finite differences)",
                     llama_model_gradient_check(rng, tie_word_embeddings=True, qk_norm=True, family="qwen3")))
    return rows

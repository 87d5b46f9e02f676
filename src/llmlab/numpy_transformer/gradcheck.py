"""Each layer's backward against central finite differences, in float64 (NumPy only).

For a layer y = f(x; θ) and a fixed random G, the scalar L = Σ y ⊙ G has ∂L/∂x = backward(G), and
    ∂L/∂u ≈ (L(u + ε) - L(u - ε)) / 2ε        for every probed entry u of x and of each θ.
The error reported is ‖analytic - numeric‖₂ / max(‖analytic‖₂, ‖numeric‖₂) over the probed entries,
per tensor; a check passes at <= 1e-6.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from llmlab.numpy_transformer.activations import GELU, ReLU, softmax_, softmax_backward_
from llmlab.numpy_transformer.attention import CausalSelfAttention
from llmlab.numpy_transformer.block import MLP, Block, BlockConfig
from llmlab.numpy_transformer.embedding import Embedding
from llmlab.numpy_transformer.layernorm import LayerNorm
from llmlab.numpy_transformer.linear import Linear
from llmlab.numpy_transformer.loss import CrossEntropy
from llmlab.numpy_transformer.masks import attention_bias
from llmlab.numpy_transformer.model import GPT, GPTConfig
from llmlab.numpy_transformer.module import Module

TOLERANCE = 1e-6


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    scale = max(np.linalg.norm(analytic), np.linalg.norm(numeric))
    return float(np.linalg.norm(analytic - numeric) / scale) if scale > 0 else 0.0


def _probe(size: int, max_probes: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_probes is None or size <= max_probes:
        return np.arange(size)
    return rng.choice(size, max_probes, replace=False)


def numeric_grad(loss: Callable[[], float], array: np.ndarray, indices: np.ndarray,
                 eps: float = 1e-6) -> np.ndarray:
    """Central differences of loss() with respect to array.flat[indices] (array is perturbed in place)."""
    flat = array.reshape(-1)
    out = np.empty(len(indices))
    for n, i in enumerate(indices):
        old = flat[i]
        flat[i] = old + eps
        up = loss()
        flat[i] = old - eps
        down = loss()
        flat[i] = old
        out[n] = (up - down) / (2 * eps)
    return out


def check_function(forward: Callable[[np.ndarray], np.ndarray], backward: Callable[[np.ndarray],
                                                                                   np.ndarray | None],
                   x: np.ndarray | None, module: Module | None, rng: np.random.Generator,
                   max_probes: int | None = None) -> dict[str, float]:
    """Relative error of the input gradient ("input") and of every parameter's, for one layer."""
    y = forward(x.copy() if x is not None else None)
    g = rng.standard_normal(y.shape)
    dx = backward(g.copy())
    analytic = {"input": dx} if x is not None and dx is not None else {}
    params = dict(module.params) if module is not None else {}
    analytic.update({name: module.grads[name].copy() for name in params})

    def loss() -> float:
        return float(np.sum(forward(x.copy() if x is not None else None) * g))

    errors = {}
    for name, grad in analytic.items():
        target = x if name == "input" else params[name]
        idx = _probe(target.size, max_probes, rng)
        errors[name] = relative_error(grad.reshape(-1)[idx], numeric_grad(loss, target, idx))
    return errors


def _layer_cases(rng: np.random.Generator) -> dict[str, Callable[[], dict[str, float]]]:
    f64 = np.float64
    b, t, c, nh, v = 2, 5, 12, 3, 11
    x = rng.standard_normal((b, t, c))
    ids = rng.integers(0, v, (b, t))
    pad = np.ones((b, t), dtype=int)
    pad[1, :2] = 0                                          # a left-padded row
    bias = attention_bias(t, t, pad, f64)

    def layer(m, inp):
        return lambda: check_function(m.forward, m.backward, inp, m, rng)

    emb = Embedding(v, c, rng, f64, std=1.0)
    attn = CausalSelfAttention(c, nh, rng, f64, std=0.3, proj_std=0.3)
    block = Block(BlockConfig(c, nh, 4 * c, std=0.3, proj_std=0.3), rng, f64)
    ln = LayerNorm(c, dtype=f64)
    ln.params["weight"][:] = rng.standard_normal(c)
    ln.params["bias"][:] = rng.standard_normal(c)
    ce = CrossEntropy()
    targets = rng.integers(0, v, b * t)
    targets[[1, 4]] = ce.ignore_index
    logits = rng.standard_normal((b * t, v))
    saved = {}

    def softmax_forward(z):
        saved["p"] = softmax_(z)
        return saved["p"].copy()

    return {
        "Linear": layer(Linear(c, 2 * c, rng, f64, std=0.5), x),
        "Embedding (token and learned position)": lambda: check_function(lambda _: emb.forward(ids),
                                                                         emb.backward,
                                                                         None, emb, rng),
        "LayerNorm": layer(ln, x),
        "GELU (tanh)": layer(GELU(), 3 * x),
        "ReLU": layer(ReLU(), x + 0.05),
        "softmax": lambda: check_function(softmax_forward, lambda dp: softmax_backward_(dp, saved["p"]), x,
                                          None, rng),
        "masked multi-head attention": lambda: check_function(lambda z: attn.forward(z, bias), attn.backward,
                                                              x, attn,
                                                              rng),
        "MLP": layer(MLP(c, 4 * c, rng, f64, std=0.3, proj_std=0.3), x),
        "pre-LN block": lambda: check_function(lambda z: block.forward(z, bias), block.backward, x, block,
                                               rng),
        "cross-entropy (ignore index)": lambda: check_function(
            lambda z: np.array(ce.forward(z, targets)), lambda d: ce.backward(float(d)), logits, None, rng),
    }


def model_gradient_check(rng: np.random.Generator, max_probes: int = 12) -> dict[str, float]:
    """The whole GPT's loss against finite differences, a few entries of every parameter."""
    cfg = GPTConfig(vocab_size=13, n_positions=8, n_embd=12, n_layer=2, n_head=3, initializer_range=0.3)
    model = GPT(cfg, dtype="float64", seed=int(rng.integers(1 << 31)))
    return whole_model_errors(model, rng, max_probes)


def whole_model_errors(model, rng: np.random.Generator, max_probes: int) -> dict[str, float]:
    """Per parameter, the relative error of the backward pass against finite differences of the next-token
    loss on a random (2, 6) batch, at `max_probes` entries of each parameter (any model with forward(ids,
    targets), backward() and named_parameters(): the GPT and the Llama alike)."""
    ids = rng.integers(0, model.config.vocab_size, (2, 6))
    targets = np.roll(ids, -1, axis=1)
    targets[:, -1] = -100
    model.forward(ids, targets)
    model.backward()
    errors = {}
    for name, p, grad in model.named_parameters():
        idx = _probe(p.size, max_probes, rng)
        numeric = numeric_grad(lambda: model.forward(ids, targets), p, idx)
        errors[name] = relative_error(grad.reshape(-1)[idx].copy(), numeric)
    return errors


def layer_gradient_checks(seed: int = 0) -> list[dict]:
    """One row per layer: the worst relative error over its input and parameters, and whether it passed."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, run in _layer_cases(rng).items():
        errors = run()
        worst = max(errors.values())
        rows.append({"check": f"gradient: {name}", "value": worst, "tolerance": TOLERANCE,
                     "passed": worst <= TOLERANCE})
    errors = model_gradient_check(rng)
    worst = max(errors.values())
    rows.append({"check": "gradient: whole GPT (finite differences)", "value": worst, "tolerance": TOLERANCE,
                 "passed": worst <= TOLERANCE})
    return rows

"""Graders of project 1: each NumPy piece against PyTorch (forward values, autograd gradients, AdamW).

Every case is float64 with a fixed seed, so the tolerances can be tight (a missing 1/√d or the erf
GELU in place of the tanh one is far outside them) and a verdict never changes between runs.
"""

from __future__ import annotations

import numpy as np

from llmlab.learn.grading import Mismatch, check_close

TOL = 1e-8


def _torch():
    import torch

    return torch


def _t(a, grad: bool = False):
    return _torch().tensor(np.asarray(a), dtype=_torch().float64, requires_grad=grad)


def grade_softmax(ns) -> None:
    torch = _torch()
    rng = np.random.default_rng(0)
    for shape, offset in (((2, 3, 5), 0.0), ((4, 7), 1000.0)):
        z = rng.standard_normal(shape) * 3 + offset
        what = f"z of shape {shape}" + (" with scores near 1000" if offset else "")
        zt = _t(z, grad=True)
        expected = torch.softmax(zt, dim=-1)
        buffer = z.copy()
        got = ns.softmax_(buffer)
        check_close("softmax_(z) returned", got, expected, TOL, what)
        check_close("softmax_(z): z itself after the call (it must be overwritten in place)", buffer,
                    expected,
                    TOL, what)
        g = rng.standard_normal(shape)
        (expected * _t(g)).sum().backward()
        p = expected.detach().numpy().copy()
        dp = g.copy()
        got = ns.softmax_backward_(dp, p)
        check_close("softmax_backward_(dp, p) returned", got, zt.grad, TOL, what + ", dp random")
        check_close("softmax_backward_: dp itself after the call (it must be overwritten in place)", dp,
                    zt.grad,
                    TOL, what)


def _check_grads_in_place(layer, before: dict, what: str) -> None:
    for name, array in before.items():
        if layer.grads.get(name) is not array:
            raise Mismatch(f"{what}: self.grads[{name!r}] was replaced by a new array — write into the one "
                           f"that is there (self.grads[{name!r}][...] = ...): the optimizer holds that array")


def grade_layernorm(ns) -> None:
    torch = _torch()
    rng = np.random.default_rng(1)
    for shape in ((2, 3, 8), (5, 4)):
        c = shape[-1]
        ln = ns.LayerNorm(c, eps=1e-5, dtype=np.float64)
        w, b = 1 + 0.5 * rng.standard_normal(c), 0.3 * rng.standard_normal(c)
        ln.params["weight"][...] = w
        ln.params["bias"][...] = b
        x = rng.standard_normal(shape) * 2 + 0.5
        xt, wt, bt = _t(x, True), _t(w, True), _t(b, True)
        expected = torch.nn.functional.layer_norm(xt, (c,), wt, bt, eps=1e-5)
        what = f"x {shape}, random weight and bias"
        check_close("LayerNorm.forward", ln.forward(x.copy()), expected, TOL, what)
        g = rng.standard_normal(shape)
        (expected * _t(g)).sum().backward()
        grads = dict(ln.grads)
        dx = ln.backward(g.copy())
        _check_grads_in_place(ln, grads, "LayerNorm.backward")
        check_close("LayerNorm.backward: dx", dx, xt.grad, TOL, what)
        check_close("LayerNorm.backward: grads['weight']", ln.grads["weight"], wt.grad, TOL, what)
        check_close("LayerNorm.backward: grads['bias']", ln.grads["bias"], bt.grad, TOL, what)


def grade_gelu(ns) -> None:
    torch = _torch()
    rng = np.random.default_rng(2)
    for shape in ((3, 7), (2, 4, 5)):
        x = rng.standard_normal(shape) * 2.5
        xt = _t(x, True)
        expected = torch.nn.functional.gelu(xt, approximate="tanh")
        gelu = ns.GELU()
        what = f"x {shape}"
        check_close("GELU.forward", gelu.forward(x.copy()), expected, TOL, what)
        g = rng.standard_normal(shape)
        (expected * _t(g)).sum().backward()
        check_close("GELU.backward", gelu.backward(g.copy()), xt.grad, TOL, what)


def grade_attention(ns) -> None:
    torch = _torch()
    from llmlab.numpy_transformer.kv_cache import KVCache

    for t_q, t_k in ((4, 4), (1, 5), (3, 7)):
        expected = torch.ones(t_k, t_k, dtype=torch.bool).tril()[-t_q:]
        got = ns.causal_mask(t_q, t_k)
        if np.asarray(got).shape != (t_q, t_k) or not np.array_equal(np.asarray(got, dtype=bool),
                                                                     expected.numpy()):
            raise Mismatch(f"causal_mask({t_q}, {t_k}): expected (True = "
                           f"visible)\n{expected.numpy().astype(int)}"
                           f"\ngot\n{np.asarray(got).astype(int)}")

    b, t, c, nh = 2, 5, 12, 3
    attn = ns.CausalSelfAttention(c, nh, np.random.default_rng(3), dtype=np.float64, std=0.3, proj_std=0.3)
    rng = np.random.default_rng(4)
    for lin in (attn.c_attn, attn.c_proj):
        lin.params["bias"][...] = 0.1 * rng.standard_normal(lin.params["bias"].shape)
    x = rng.standard_normal((b, t, c))
    visible = ns.causal_mask(t, t)
    bias = np.where(np.asarray(visible, dtype=bool), 0.0, np.finfo(np.float64).min)[None, None]
    wa, ba = _t(attn.c_attn.params["weight"], True), _t(attn.c_attn.params["bias"], True)
    wo, bo = _t(attn.c_proj.params["weight"], True), _t(attn.c_proj.params["bias"], True)
    xt = _t(x, True)
    q, k, v = (xt @ wa + ba).split(c, dim=-1)
    q, k, v = (a.reshape(b, t, nh, c // nh).transpose(1, 2) for a in (q, k, v))      # (B, nh, T, hs)
    y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    expected = y.transpose(1, 2).reshape(b, t, c) @ wo + bo
    what = f"x ({b}, {t}, {c}), {nh} heads, causal mask"
    check_close("CausalSelfAttention.forward", attn.forward(x.copy(), bias), expected, TOL, what)
    g = rng.standard_normal((b, t, c))
    (expected * _t(g)).sum().backward()
    dx = attn.backward(g.copy())
    check_close("CausalSelfAttention.backward: dx", dx, xt.grad, TOL, what)
    for name, lin, wt, bt in (("c_attn", attn.c_attn, wa, ba), ("c_proj", attn.c_proj, wo, bo)):
        check_close(f"CausalSelfAttention.backward: {name} weight gradient", lin.grads["weight"], wt.grad,
                    TOL, what)
        check_close(f"CausalSelfAttention.backward: {name} bias gradient", lin.grads["bias"], bt.grad, TOL,
                    what)

    # with a cache: 3 positions first, then 2 more, must give the last rows of the full pass
    cache = KVCache(1, b, nh, t, c // nh, np.float64)
    first = attn.forward(x[:, :3].copy(), _bias(ns, 3, 3), cache, 0)
    cache.advance(3)
    second = attn.forward(x[:, 3:].copy(), _bias(ns, 2, 5), cache, 0)
    check_close("CausalSelfAttention.forward with a KV cache (3 positions, then 2 more)",
                np.concatenate([first, second], axis=1), expected, TOL,
                "did you call `k, v = cache.update(layer, k, v)` right after splitting the heads?")


def _bias(ns, t_q: int, t_k: int) -> np.ndarray:
    visible = np.asarray(ns.causal_mask(t_q, t_k), dtype=bool)
    return np.where(visible, 0.0, np.finfo(np.float64).min)[None, None]


def grade_cross_entropy(ns) -> None:
    torch = _torch()
    rng = np.random.default_rng(5)
    cases = (("targets all valid", 6, 7, 0.0, ()), ("two targets are -100 (ignored)", 6, 7, 0.0, (1, 4)),
             ("logits near 1000", 4, 5, 1000.0, (2,)))
    for what, n, v, offset, ignored in cases:
        z = rng.standard_normal((n, v)) * 2 + offset
        y = rng.integers(0, v, n)
        y[list(ignored)] = -100
        zt = _t(z, True)
        expected = torch.nn.functional.cross_entropy(zt, torch.tensor(y), ignore_index=-100)
        ce = ns.CrossEntropy(ignore_index=-100)
        what = f"logits ({n}, {v}), {what}"
        loss = ce.forward(z.copy(), y.copy())
        check_close("CrossEntropy.forward (the loss)", np.float64(loss), expected, TOL, what)
        (expected * 0.5).backward()
        check_close("CrossEntropy.backward(0.5)", ce.backward(0.5), zt.grad, TOL, what)


def grade_adamw(ns) -> None:
    torch = _torch()
    rng = np.random.default_rng(6)
    matrix, vector = rng.standard_normal((3, 4)), rng.standard_normal(4)
    params = [matrix.copy(), vector.copy()]
    grads = [np.zeros_like(p) for p in params]
    opt = ns.AdamW([("w", params[0], grads[0]), ("b", params[1], grads[1])], lr=0.01, betas=(0.9, 0.95),
                   eps=1e-8, weight_decay=0.1)
    tw, tb = _t(matrix, True), _t(vector, True)
    ref = torch.optim.AdamW([{"params": [tw], "weight_decay": 0.1}, {"params": [tb], "weight_decay": 0.0}],
                            lr=0.01, betas=(0.9, 0.95), eps=1e-8)
    for step, lr in enumerate((0.01, 0.02, 0.005, None, 0.03), start=1):
        gw, gb = rng.standard_normal((3, 4)), rng.standard_normal(4)
        grads[0][...], grads[1][...] = gw, gb
        tw.grad, tb.grad = _t(gw), _t(gb)
        for group in ref.param_groups:
            group["lr"] = 0.01 if lr is None else lr
        opt.step() if lr is None else opt.step(lr)
        ref.step()
        what = (f"step {step}, lr {'None (use self.lr = 0.01)' if lr is None else lr}, weight_decay 0.1, "
                f"betas (0.9, 0.95)")
        check_close("AdamW.step: the (3, 4) matrix (decayed)", params[0], tw, 1e-10, what)
        check_close("AdamW.step: the (4,) vector (not decayed)", params[1], tb, 1e-10, what)


def grade_kv_cache(ns) -> None:
    from llmlab.numpy_transformer.model import GPT, GPTConfig

    model = GPT(GPTConfig(vocab_size=11, n_positions=16, n_embd=12, n_layer=2, n_head=3,
                          initializer_range=0.3), dtype="float64", seed=7)
    ids = np.random.default_rng(8).integers(0, 11, (2, 9))
    full = model(ids)                                                  # (B, T, V) without a cache
    cache = ns.KVCache(2, 2, 3, 16, 4, np.float64)
    got = [model(ids[:, :5], cache=cache)]
    for t in range(5, 9):
        if cache.length != t:
            raise Mismatch(f"after {t} positions the cache says length {cache.length} — update() must not "
                           "change self.length (the model calls advance)")
        got.append(model(ids[:, t:t + 1], cache=cache))
    got = np.concatenate(got, axis=1)
    for t in range(9):
        check_close(f"logits at position {t} (prefill 5 tokens, then 1 at a time)", got[:, t], full[:, t],
                    TOL,
                    "a 2-layer, 3-head model on 2 sequences of 9 tokens, compared with one pass without a "
                    "cache")

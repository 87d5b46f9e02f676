"""Graders of project 6: the hook capture against P rebuilt by hand from q and k (`recompute_attention`) on
tiny random GPT-2 and Llama models; the metrics on attention maps built by hand with known answers, then on
random causal maps against `llmlab.attention.metrics`.

Every map and model is seeded, so a verdict never changes between runs.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

from llmlab.learn.grading import Mismatch, check_close, check_equal


@contextlib.contextmanager
def _quiet():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)              # tiny models: one thread is faster and immune to a busy machine
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield torch
    finally:
        torch.set_num_threads(before)


# ---- capture -------------------------------------------------------------------------------------------
def _tiny_models():
    """A 2-layer GPT-2 and a 2-layer Llama with grouped K/V heads, random, query/key weights scaled up so
    heads are sharp (a near-flat map would let the scores pass for probabilities more easily). Built afresh
    for every grading (0.02 s): a hook an earlier attempt left behind must not break this one."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=4, n_embd=32, n_positions=64, vocab_size=50,
                                      bos_token_id=None, eos_token_id=None)).eval()
    llama = LlamaForCausalLM(LlamaConfig(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         hidden_size=32, intermediate_size=64, vocab_size=50,
                                         max_position_embeddings=64, bos_token_id=None, eos_token_id=None,
                                         pad_token_id=None)).eval()
    with torch.no_grad():
        for block in gpt2.transformer.h:
            block.attn.c_attn.weight[:, :64].mul_(8.0)          # the q and k columns of the fused q|k|v
        for layer in llama.model.layers:
            layer.self_attn.q_proj.weight.mul_(6.0)
            layer.self_attn.k_proj.weight.mul_(6.0)
    return {"GPT-2": gpt2, "Llama": llama}


def _hook_counts(model) -> list[int]:
    return [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()]


def grade_capture(ns) -> None:
    from llmlab.attention.reference import recompute_attention

    with _quiet():
        rng = np.random.default_rng(7)
        models = _tiny_models()
        for name, model in models.items():
            for start in ("sdpa", "eager"):
                model.set_attn_implementation(start)
                ids = rng.integers(0, 50, (2, 11))
                what = (f"tiny random {name} (2 layers, 4 heads), ids (2, 11), model in {start!r} attention; "
                        "expected: P rebuilt from q and k")
                hooks = _hook_counts(model)
                got = ns.capture_attention(model, ids)
                if got is None:
                    raise Mismatch(f"capture_attention ({what}): got None — return the stacked probabilities")
                arr = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=np.float64)
                if arr.ndim == 5 and arr.shape[:2] == (2, 2) and (arr < 0).any():
                    raise Mismatch(f"capture_attention ({what}): negative entries (min {arr.min():.3g}) — "
                                   f"these "
                                   "are scores or log-probabilities; P is after the softmax (each row sums "
                                   "to 1)")
                check_close("capture_attention", arr, recompute_attention(model, ids), 1e-5, what)
                check_equal("model.config._attn_implementation after capture_attention",
                            model.config._attn_implementation, start,
                            f"{name}: put the attention implementation back the way you found it")
                if _hook_counts(model) != hooks:
                    raise Mismatch(f"capture_attention ({name}): hooks are still registered on the model "
                                   f"after "
                                   "the call — keep each handle and handle.remove() it (in a finally:)")
        model = models["GPT-2"]
        model.set_attn_implementation("sdpa")
        one = ns.capture_attention(model, np.array([[5, 6, 7]]))
        check_close("capture_attention on one sequence of 3 tokens, query 0 of every head",
                    np.asarray(one)[:, 0, :, 0], np.broadcast_to([1.0, 0.0, 0.0], (2, 4, 3)), 1e-6,
                    "the first token can only read itself")


# ---- per-head metrics ----------------------------------------------------------------------------------
def _as_capture(head: np.ndarray) -> np.ndarray:
    """One head's (T, T) map -> (L=1, B=1, H=1, T, T)."""
    return head[None, None, None]


def _hand_maps(t: int) -> dict[str, tuple[np.ndarray, dict[str, float]]]:
    """Maps whose metrics are known in closed form: {name: (map (T, T), {metric: value})}."""
    q = np.arange(1, t)
    previous = np.zeros((t, t))
    previous[0, 0] = 1.0
    previous[q, q - 1] = 1.0
    flat = np.tril(np.ones((t, t))) / np.arange(1, t + 1)[:, None]
    return {
        "a pure previous-token head (A[i, i-1] = 1)": (previous, {
            "entropy": 0.0, "entropy_norm": 0.0, "distance": 1.0, "sink": 1 / (t - 1),
            "previous_token": 1.0, "self": 0.0}),
        "a pure self head (A = identity)": (np.eye(t), {
            "entropy": 0.0, "entropy_norm": 0.0, "distance": 0.0, "sink": 0.0, "previous_token": 0.0,
            "self": 1.0}),
        "a flat head (A[i, j] = 1/(i+1) for j <= i)": (flat, {
            "entropy": float(np.log(q + 1).mean()), "entropy_norm": 1.0, "distance": float((q / 2).mean()),
            "sink": float((1 / (q + 1)).mean()), "previous_token": float((1 / (q + 1)).mean()),
            "self": float((1 / (q + 1)).mean())}),
    }


def _random_causal(rng, shape: tuple[int, ...], sharpness: float = 1.0) -> np.ndarray:
    """Random attention maps (..., T, T): softmax of random scores under a causal mask (zeros above the
    diagonal)."""
    t = shape[-1]
    scores = rng.standard_normal(shape) * 3 * sharpness
    scores = np.where(np.triu(np.ones((t, t), dtype=bool), k=1), -np.inf, scores)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _check_metrics(got, expected: dict[str, np.ndarray], what: str, tol: float) -> None:
    if not isinstance(got, dict):
        raise Mismatch(f"head_metrics ({what}): expected a dict {{metric: (L, H) array}}, got "
                       f"{type(got).__name__}")
    missing = [k for k in expected if k not in got]
    if missing:
        raise Mismatch(f"head_metrics ({what}): no {', '.join(missing)} in the result (keys: {sorted(got)})")
    for key, value in expected.items():
        check_close(f"head_metrics(probs)[{key!r}]", got[key], value, tol, what)


def grade_head_metrics(ns) -> None:
    from llmlab.attention.metrics import head_metrics

    t = 7
    for name, (head, known) in _hand_maps(t).items():
        expected = {k: np.array([[v]]) for k, v in known.items()}
        _check_metrics(ns.head_metrics(_as_capture(head)), expected,
                       f"{name}, T = {t}: known answers, queries 1..{t - 1}", 1e-9)
    rng = np.random.default_rng(11)
    for shape, sharp in (((2, 3, 4, 9, 9), 1.0), ((1, 2, 2, 2, 2), 1.0), ((3, 1, 5, 16, 16), 3.0)):
        probs = _random_causal(rng, shape, sharp)
        _check_metrics(ns.head_metrics(probs.copy()), head_metrics(probs),
                       f"random causal maps {shape}, against llmlab.attention.metrics.head_metrics", 1e-9)
    try:
        ns.head_metrics(np.ones((1, 1, 1, 1, 1)))
    except ValueError:
        pass
    else:
        raise Mismatch("head_metrics on a single token (T = 1) must raise ValueError: no query has a choice")


# ---- induction and duplicate scores -------------------------------------------------------------------
def _copy_head(t: int, period: int, prefix: int, back: int) -> np.ndarray:
    """A head that reads `back` tokens back in the second copy and the previous token elsewhere."""
    a = np.zeros((t, t))
    a[0, 0] = 1.0
    for i in range(1, t):
        a[i, i - back if i >= prefix + period else i - 1] = 1.0
    return a


def grade_induction(ns) -> None:
    from llmlab.attention.metrics import repetition_scores

    for period, prefix in ((3, 0), (5, 1), (4, 2)):
        t = prefix + 2 * period
        for label, back, known in (("induction", period - 1, (1.0, 0.0)), ("duplicate", period, (0.0, 1.0))):
            head = _copy_head(t, period, prefix, back)
            got = ns.repetition_scores(_as_capture(head), period, prefix)
            what = (f"a pure {label} head on prefix ({prefix}) + r + r, period {period}, T = {t}: "
                    f"induction {known[0]}, duplicate {known[1]}")
            if not isinstance(got, dict) or {"induction", "duplicate"} - set(got):
                raise Mismatch(f"repetition_scores ({what}): expected a dict with 'induction' and "
                               f"'duplicate', "
                               f"got {got if not isinstance(got, dict) else sorted(got)}")
            check_close("repetition_scores(...)['induction']", got["induction"], [[known[0]]], 1e-12, what)
            check_close("repetition_scores(...)['duplicate']", got["duplicate"], [[known[1]]], 1e-12, what)
    rng = np.random.default_rng(12)
    for shape, period, prefix in (((2, 3, 4, 12, 12), 6, 0), ((1, 2, 3, 11, 11), 5, 1), ((2, 1, 2, 9, 9), 3,
                                                                                         3)):
        probs = _random_causal(rng, shape)
        expected = repetition_scores(probs, period, prefix)
        got = ns.repetition_scores(probs.copy(), period, prefix)
        what = (f"random causal maps {shape}, period {period}, prefix {prefix}, against "
                f"llmlab.attention.metrics")
        for key in ("induction", "duplicate"):
            check_close(f"repetition_scores(...)[{key!r}]", got[key], expected[key], 1e-12, what)

"""Graders of project 3: the cells against torch.nn.RNNCell / LSTMCell, the processors against transformers'
warpers, beam search against transformers' generate, the training step against torch's clipping and
schedulers.

Tiny models run on one thread (faster, and a busy machine does not slow a check down by tens of times);
every case is seeded, so a verdict never changes between runs.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import replace
from functools import lru_cache

import numpy as np

from llmlab.learn.grading import Mismatch, check_close, check_equal


@contextlib.contextmanager
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield torch
    finally:
        torch.set_num_threads(before)


# ---- cells ---------------------------------------------------------------------------------------------
def _cell_cases(torch, seed: int):
    g = torch.Generator().manual_seed(seed)
    for b, e, h, bias in ((3, 5, 7, True), (1, 4, 4, True), (2, 6, 3, False)):
        x = torch.randn(b, e, generator=g, dtype=torch.float64) * 1.5
        yield b, e, h, bias, x, torch.randn(b, h, generator=g, dtype=torch.float64), \
            torch.randn(b, h, generator=g, dtype=torch.float64)


def grade_rnn_cell(ns) -> None:
    with _one_thread() as torch:
        torch.manual_seed(0)
        for b, e, h, bias, x, h0, _ in _cell_cases(torch, 1):
            ref = torch.nn.RNNCell(e, h, bias=bias).double()
            with torch.no_grad():
                ref.weight_hh.mul_(2.0)        # a recurrent weight that matters next to the input's
            b_ih, b_hh = (ref.bias_ih, ref.bias_hh) if bias else (None, None)
            got = ns.rnn_cell(x, h0, ref.weight_ih, ref.weight_hh, b_ih, b_hh)
            check_close("rnn_cell", got, ref(x, h0), 1e-10,
                        f"x ({b}, {e}), h ({b}, {h}), {'with' if bias else 'without'} biases, vs "
                        f"torch.nn.RNNCell")


def grade_lstm_cell(ns) -> None:
    with _one_thread() as torch:
        torch.manual_seed(0)
        for b, e, h, bias, x, h0, c0 in _cell_cases(torch, 2):
            ref = torch.nn.LSTMCell(e, h, bias=bias).double()
            with torch.no_grad():   # distinct gates, so a gate read from the wrong rows cannot pass
                for w in (ref.weight_ih, ref.weight_hh):
                    w.mul_(2.0)
                if bias:
                    ref.bias_ih.add_(torch.arange(4, dtype=torch.float64).repeat_interleave(h) - 1.5)
            b_ih, b_hh = (ref.bias_ih, ref.bias_hh) if bias else (None, None)
            got = ns.lstm_cell(x, h0, c0 * 2, ref.weight_ih, ref.weight_hh, b_ih, b_hh)
            if not isinstance(got, tuple | list) or len(got) != 2:
                raise Mismatch(f"lstm_cell must return the pair (h', c'), got {type(got).__name__}")
            want_h, want_c = ref(x, (h0, c0 * 2))
            what = (f"x ({b}, {e}), h and c ({b}, {h}), {'with' if bias else 'without'} biases, vs "
                    f"torch.nn.LSTMCell")
            check_close("lstm_cell: c' (the cell)", got[1], want_c, 1e-10,
                        what + " (gate rows in order i, f, g, o)")
            check_close("lstm_cell: h' (the output)", got[0], want_h, 1e-10, what)


# ---- logits processors ---------------------------------------------------------------------------------
def _logits(torch, ties: bool = False):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(6, 97, generator=g) * 3
    return z.round() if ties else z           # rounded: many equal logits, ties at the k-th value


def _check_logits(what: str, got, expected, inputs: str) -> None:
    import torch

    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"{what} ({inputs}): expected a tensor of shape {tuple(expected.shape)}, got "
                       f"{type(got).__name__}")
    if got.shape != expected.shape:
        raise Mismatch(f"{what} ({inputs}): shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    kept_got, kept_exp = ~torch.isneginf(got), ~torch.isneginf(expected)
    for row in range(expected.shape[0]):
        if not torch.equal(kept_got[row], kept_exp[row]):
            extra = kept_got[row] & ~kept_exp[row]
            lost = kept_exp[row] & ~kept_got[row]
            z = expected[row]
            raise Mismatch(f"{what} ({inputs}), row {row}: keeps {int(kept_got[row].sum())} tokens, "
                           f"transformers "
                           f"keeps {int(kept_exp[row].sum())}"
                           + (f"; you dropped tokens {lost.nonzero().flatten().tolist()[:8]} "
                              f"(logits {[round(float(v), 4) for v in z[lost][:8]]})" if lost.any() else "")
                           + (f"; you kept tokens {extra.nonzero().flatten().tolist()[:8]} that it drops"
                              if extra.any() else ""))
    check_close(what + ": the kept logits", torch.where(kept_exp, got, 0.0), torch.where(kept_exp, expected,
                                                                                         0.0),
                1e-6, inputs)


def _row_by_row(torch, logits, warper_of, settings) -> object:
    """transformers' warper applied to each row with that row's setting (None: the row unchanged)."""
    rows = []
    for row, value in zip(logits, settings, strict=True):
        warper = warper_of(value)
        rows.append(row[None].clone() if warper is None else warper(None, row[None].clone()))
    return torch.cat(rows)


def _same_input(what: str, before, after) -> None:
    import torch

    if not torch.equal(before, after):
        raise Mismatch(f"{what} changed the logits it was given: return new logits (z / t, masked_fill, ...) "
                       "instead of writing into them — the caller still uses its tensor")


def grade_temperature(ns) -> None:
    from transformers.generation.logits_process import TemperatureLogitsWarper

    with _one_thread() as torch:
        z = _logits(torch)
        for t in (0.3, 0.7, 1.0, 1.9):
            given = z.clone()
            got = ns.apply_temperature(given, t)
            _same_input(f"apply_temperature(logits, {t})", z, given)
            _check_logits(f"apply_temperature(logits, {t})", got, TemperatureLogitsWarper(t)(None, z.clone()),
                          "logits (6, 97), vs TemperatureLogitsWarper")
        per_row = [0.5, 1.0, 2.0, 0.0, 0.25, 1.5]
        expected = _row_by_row(torch, z, lambda t: TemperatureLogitsWarper(t) if t > 0 else None, per_row)
        _check_logits("apply_temperature(logits, torch.tensor(per_row))", ns.apply_temperature(z.clone(),
                      torch.tensor(per_row)), expected,
                      f"one temperature per row {per_row} (0: row unchanged)")
        _check_logits("apply_temperature(logits, 0)", ns.apply_temperature(z.clone(), 0), z,
                      "temperature 0 means greedy: the logits come back unchanged")


def grade_top_k(ns) -> None:
    from transformers.generation.logits_process import TopKLogitsWarper

    with _one_thread() as torch:
        for ties in (False, True):
            z = _logits(torch, ties)
            kind = "logits (6, 97)" + (" rounded to integers: ties at the k-th value" if ties else "")
            for k in (1, 5, 20, 50, 97, 200):
                given = z.clone()
                got = ns.top_k_filter(given, k)
                _same_input(f"top_k_filter(logits, {k})", z, given)
                _check_logits(f"top_k_filter(logits, {k})", got, TopKLogitsWarper(k)(None, z.clone()),
                              kind + ", vs TopKLogitsWarper")
            _check_logits("top_k_filter(logits, 0)", ns.top_k_filter(z.clone(), 0), z,
                          "k = 0 means off: unchanged")
            per_row = [1, 3, 0, 97, 7, 30]
            expected = _row_by_row(torch, z, lambda k: TopKLogitsWarper(k) if k > 0 else None, per_row)
            _check_logits("top_k_filter(logits, torch.tensor(per_row))", ns.top_k_filter(z.clone(),
                          torch.tensor(per_row)), expected,
                          f"{kind}, one k per row {per_row} (0: row unchanged)")


def grade_top_p(ns) -> None:
    from transformers.generation.logits_process import TopPLogitsWarper

    with _one_thread() as torch:
        hand = torch.tensor([[0.05, 0.5, 0.15, 0.3]]).log()
        for p, kept in ((0.7, "tokens 1 and 3 (0.5 + 0.3 crosses 0.7)"), (0.45,
                                                                          "token 1 only (0.5 alone covers "
                                                                          "0.45)"),
                        (0.01, "token 1 only"), (0.0,
                                                 "token 1 only: the most likely token is always kept "
                                                 "(min_tokens_to_keep 1)"),
                        (0.95, "all but token 0")):
            _check_logits(f"top_p_filter(logits, {p})", ns.top_p_filter(hand.clone(), p),
                          TopPLogitsWarper(p)(None, hand.clone()),
                          f"probabilities [0.05, 0.5, 0.15, 0.3]: {kept}")
        z = _logits(torch)
        for p in (0.0, 0.05, 0.3, 0.5, 0.9, 0.999, 1.0):
            given = z.clone()
            got = ns.top_p_filter(given, p)
            _same_input(f"top_p_filter(logits, {p})", z, given)
            _check_logits(f"top_p_filter(logits, {p})", got, TopPLogitsWarper(p)(None, z.clone()),
                          "logits (6, 97), vs TopPLogitsWarper")
        per_row = [0.9, 1.0, 0.2, 0.6, 0.01, 0.75]
        expected = _row_by_row(torch, z, lambda p: TopPLogitsWarper(p) if p < 1 else None, per_row)
        _check_logits("top_p_filter(logits, torch.tensor(per_row))", ns.top_p_filter(z.clone(),
                                                                                     torch.tensor(per_row)),
                      expected, f"one p per row {per_row}")


# ---- beam search ---------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _tiny_gpt2():
    """The model of tests/test_generation_decode.py: random, sharp enough that beams differ from greedy."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=64, vocab_size=48, bos_token_id=None,
                     eos_token_id=None)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(6.0)
    return model


def _generate(torch, model, prompt: list[int], **kw) -> tuple[list[int], float]:
    ids = torch.tensor([prompt])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), pad_token_id=0, do_sample=False,
                         output_scores=True, return_dict_in_generate=True, **kw)
    return out.sequences[0, len(prompt):].tolist(), float(out.sequences_scores[0])


# prompt, num_beams, length_penalty, early_stopping, eos = the n-th token of an EOS-free search
BEAM_CASES = (
    ([3, 14, 15, 9, 2], 2, 1.0, False, None), ([7], 4, 1.0, False, None), ([40, 41, 40, 41], 3, 0.5, False,
                                                                           None),
    ([3, 14, 15, 9, 2], 3, 2.0, False, 3), ([7], 3, 0.5, False, 1), ([40, 41, 40, 41], 3, -0.5, False, 3),
    ([7], 3, 1.0, True, 1), ([3, 14, 15, 9, 2], 4, 1.0, False, 1),
)


def grade_beam(ns) -> None:
    from llmlab.generation.beam import beam_search as reference  # only to choose EOS ids that end beams early
    from llmlab.tokenizer import CharTokenizer

    with _one_thread() as torch:
        model = _tiny_gpt2()
        for prompt, n, lp, early, eos_at in BEAM_CASES:
            eos = None if eos_at is None else reference(model, prompt, num_beams=3,
                                                        max_new_tokens=15).tokens[eos_at]
            kw = dict(num_beams=n, max_new_tokens=15 if eos is not None else 12, length_penalty=lp,
                      early_stopping=early, eos_token_id=eos)
            tokens, score = _generate(torch, model, prompt, **kw)
            what = (f"prompt {prompt}, num_beams={n}, length_penalty={lp}, early_stopping={early}, "
                    f"eos_token_id={eos}, max_new_tokens={kw['max_new_tokens']}; tiny random GPT-2 vs "
                    f"generate()")
            got = ns.beam_search(model, list(prompt), **kw)
            check_equal("beam_search(...).tokens", list(getattr(got, "tokens", got)), tokens, what)
            check_close("beam_search(...).score (sum log-prob / new length ** length_penalty)",
                        np.float64(got.score), np.float64(score), 1e-4, what)
        tok = CharTokenizer.train("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUV.")
        got = ns.beam_search(model, [3, 4], num_beams=2, max_new_tokens=5, tokenizer=tok)
        check_equal("beam_search(..., tokenizer=tok).text", got.text, tok.decode(got.tokens),
                    "with a tokenizer the best hypothesis comes back as text too")


# ---- one training step ---------------------------------------------------------------------------------
def _reference_lrs(torch, cfg, steps: int) -> list[float]:
    """torch's own schedulers: LinearLR for the warmup, then CosineAnnealingLR / LinearLR / constant."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=cfg.lr)
    sched = torch.optim.lr_scheduler
    w, decay = cfg.warmup_steps, cfg.decay_steps
    after = {"cosine": lambda: sched.CosineAnnealingLR(opt, T_max=decay - w, eta_min=cfg.min_lr),
             "linear": lambda: sched.LinearLR(opt, 1.0, cfg.min_lr / cfg.lr, total_iters=decay - w),
             "constant": lambda: sched.ConstantLR(opt, 1.0, total_iters=1)}[cfg.schedule]
    parts = [sched.LinearLR(opt, 1 / (w + 1), 1.0, total_iters=w)] if w else []
    chain = sched.SequentialLR(opt, parts + [after()], milestones=[w]) if w else after()
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        chain.step()
    return lrs


def _grade_lr_at(ns, torch) -> None:
    from llmlab.training import TrainConfig

    base = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=4, max_steps=10)
    configs = [base, replace(base, warmup_steps=0), replace(base, warmup_steps=3, lr_decay_steps=25,
                                                            max_steps=40),
               replace(base, schedule="linear"), replace(base, schedule="constant", warmup_steps=5)]
    for cfg in configs:
        what = (f"lr {cfg.lr}, min_lr {cfg.min_lr}, warmup {cfg.warmup_steps}, decay over {cfg.decay_steps} "
                f"steps, "
                f"{cfg.schedule}; vs torch's LinearLR warmup then "
                + {"cosine": "CosineAnnealingLR", "linear": "LinearLR",
                   "constant": "a constant"}[cfg.schedule])
        expected = _reference_lrs(torch, cfg, cfg.decay_steps + 1)
        got = [ns.lr_at(s, cfg) for s in range(cfg.decay_steps + 1)]
        check_close("[lr_at(step, cfg) for step in 0..decay]", np.array(got, dtype=np.float64), expected,
                    1e-12, what)
        if cfg.schedule != "constant":
            got = [ns.lr_at(s, cfg) for s in (cfg.decay_steps, cfg.decay_steps + 1, cfg.decay_steps + 50)]
            check_close("lr_at after the decay (decay, decay + 1, decay + 50)", got, [cfg.min_lr] * 3, 1e-12,
                        what + ": flat at min_lr")
    timed = replace(base, decay_by="time", max_time=60.0)
    got = [ns.lr_at(20, timed, elapsed=e) for e in (0.0, 15.0, 30.0, 90.0)]
    check_close("lr_at(20, cfg, elapsed) with decay_by='time', max_time 60", got,
                [1e-3, 1e-4 + 9e-4 * (1 + math.cos(math.pi / 4)) / 2, 5.5e-4, 1e-4], 1e-12,
                "elapsed 0, 15, 30, 90 s: r = min(1, elapsed / max_time)")


def _params_with_grads(torch, seed: int, scale: float):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in ((4, 3), (3,), (2,
                                                                                                            2,
                                                                                                            2))]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64) * scale
    params.append(torch.zeros(2, dtype=torch.float64, requires_grad=True))      # one without a gradient
    return params


def _grade_clip(ns, torch) -> None:
    for scale, max_norm in ((1.0, 0.5), (0.4, 1.0), (0.02, 1.0), (3.0, math.inf)):
        mine, theirs = _params_with_grads(torch, 4, scale), _params_with_grads(torch, 4, scale)
        expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
        what = f"4 tensors (one without a gradient), gradient norm {float(expected):.3g}, max_norm {max_norm}"
        norm = ns.clip_grad_norm_(iter(mine), max_norm)
        check_close("clip_grad_norm_(iter(params), max_norm) returned", torch.as_tensor(norm,
                                                                                        dtype=torch.float64),
                    expected, 1e-10, what + ", vs torch.nn.utils.clip_grad_norm_")
        for i, (a, b) in enumerate(zip(mine[:3], theirs[:3], strict=True)):
            check_close(f"clip_grad_norm_: params[{i}].grad after clipping", a.grad, b.grad, 1e-10,
                        what + " (the parameters came as a generator: read them once)")


def _grade_steps(ns, torch) -> None:
    from llmlab.charlm.models import CharRNN
    from llmlab.training import TrainConfig

    for clip in (0.05, 0.0):
        cfg = TrainConfig(lr=3e-2, min_lr=3e-3, warmup_steps=2, max_steps=5, grad_clip=clip, weight_decay=0.1)
        torch.manual_seed(4)
        mine, ref = CharRNN("lstm", 13, 6, 10, 1).double(), CharRNN("lstm", 13, 6, 10, 1).double()
        ref.load_state_dict(mine.state_dict())
        opt = torch.optim.AdamW(mine.parameters(), lr=cfg.lr, weight_decay=0.1)
        ref_opt = torch.optim.AdamW(ref.parameters(), lr=cfg.lr, weight_decay=0.1)
        lrs = _reference_lrs(torch, cfg, cfg.max_steps)
        g = torch.Generator().manual_seed(5)
        for step in range(cfg.max_steps):
            what = (f"step {step} of a 1-layer LSTM char model, AdamW, warmup 2 + cosine over 5 steps, "
                    f"grad_clip {clip}; reference: torch's clip_grad_norm_ and schedulers")
            x, y = torch.randint(0, 13, (3, 7), generator=g), torch.randint(0, 13, (3, 7), generator=g)
            for group in ref_opt.param_groups:
                group["lr"] = lrs[step]
            ref_loss = torch.nn.functional.cross_entropy(ref(x)[0].reshape(-1, 13).float(), y.reshape(-1))
            ref_loss.backward()
            ref_norm = torch.nn.utils.clip_grad_norm_(ref.parameters(), clip if clip > 0 else math.inf)
            ref_opt.step()
            ref_opt.zero_grad()
            out = ns.train_step(mine, opt, x, y, step, cfg)
            if not isinstance(out, tuple | list) or len(out) != 3:
                raise Mismatch(f"train_step must return (loss, grad_norm, lr), got {out!r}")
            check_close("train_step: (loss, grad norm before clipping, lr)", np.array(out, dtype=np.float64),
                        [ref_loss.item(), float(ref_norm), lrs[step]], 1e-9, what)
            for (name, a), b in zip(mine.named_parameters(), ref.parameters(), strict=True):
                check_close(f"train_step: parameter {name} after the step", a, b, 1e-9, what)
            if any(p.grad is not None and bool(p.grad.any()) for p in mine.parameters()):
                raise Mismatch(f"train_step ({what}): gradients are still there after the step — clear them "
                               "(optimizer.zero_grad()), or the next backward adds to them")


def grade_train_step(ns) -> None:
    with _one_thread() as torch:
        _grade_lr_at(ns, torch)
        _grade_clip(ns, torch)
        _grade_steps(ns, torch)

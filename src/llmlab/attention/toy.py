"""A toy model to look at offline: a 2-layer GPT-2 (tiny MLP) trained by `llmlab.training` on repeated random strings.

    summary = train_toy(ToyPreset(max_steps=2000), out="runs/attention/toy")   # model: runs/attention/toy/checkpoint

Text like "qwkzrbt" + "qwkzrbt" can only be predicted in its second half by looking back: find the earlier
copy of the current letter and copy what followed it. That is the induction mechanism (a previous-token head
in layer 0 feeding an induction head in layer 1); a model of this size forms it after a plateau of a few
thousand steps, so short runs show the earlier heads (previous-token, sink) and long ones the induction head.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmlab.config import apply_overrides


@dataclass
class ToyPreset:
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 32
    n_inner: int = 32              # a small MLP: the work has to be done by attention
    alphabet: str = "abcdefghijklmnopqrstuvwxyz"
    min_period: int = 4            # each training string r (length in [min_period, max_period]) appears twice
    max_period: int = 12
    block_size: int = 32
    batch_size: int = 32
    max_steps: int = 3000
    max_time: float | None = None
    lr: float = 3e-3
    seed: int = 0
    threads: int = 1               # a model this small runs fastest on one thread (more threads wait on each other)


def repeated_strings(n_tokens: int, n_symbols: int, min_period: int, max_period: int, seed: int) -> np.ndarray:
    """Token ids r1 r1 r2 r2 ... (each r_k random, of random length), at least n_tokens long."""
    rng = np.random.default_rng(seed)
    parts, total = [], 0
    while total < n_tokens:
        r = rng.integers(0, n_symbols, int(rng.integers(min_period, max_period + 1)))
        parts += [r, r]
        total += 2 * len(r)
    return np.concatenate(parts).astype(np.uint16)


def train_toy(preset: ToyPreset | None = None, out: str | Path | None = None,
              overrides: list[str] | None = None) -> dict:
    """Train the toy model; returns the Trainer's summary plus `model_dir` (an HF model directory)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from llmlab.runs import RunFolder
    from llmlab.tokenizer.char import CharTokenizer
    from llmlab.training import TokenWindows, TrainConfig, Trainer

    cfg = apply_overrides(preset or ToyPreset(), overrides)
    run = RunFolder.create("attention", name="toy", out=out)
    tok = CharTokenizer(list(cfg.alphabet), unk=True)
    n = len(cfg.alphabet)
    train = TokenWindows(repeated_strings(200_000, n, cfg.min_period, cfg.max_period, cfg.seed),
                         cfg.block_size, cfg.batch_size, seed=cfg.seed)
    val = TokenWindows(repeated_strings(20_000, n, cfg.min_period, cfg.max_period, cfg.seed + 1),
                       cfg.block_size, cfg.batch_size, seed=cfg.seed + 1)
    model = GPT2LMHeadModel(GPT2Config(
        n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd, n_inner=cfg.n_inner, vocab_size=tok.vocab_size,
        n_positions=max(64, 2 * cfg.block_size), resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=None, eos_token_id=None, pad_token_id=None))
    train_cfg = TrainConfig(max_steps=cfg.max_steps, max_time=cfg.max_time, batch_size=cfg.batch_size, lr=cfg.lr,
                            min_lr=cfg.lr / 10, warmup_steps=min(50, cfg.max_steps // 10), weight_decay=0.0,
                            eval_interval=max(cfg.max_steps // 4, 1), eval_iters=4, log_interval=25,
                            checkpoint_interval=0, save_best=False, tensorboard=False, seed=cfg.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        summary = Trainer(model, train_cfg, run, train, val, tokenizer=tok, run_config=cfg,
                          description="toy").fit()
    finally:
        torch.set_num_threads(threads)
    # the loss of a model that has learned nothing but the letter frequencies: ln(number of letters)
    return {**summary, "model_dir": str(run.path / "checkpoint"), "uniform_loss": float(np.log(n))}

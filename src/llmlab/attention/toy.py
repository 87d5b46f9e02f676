"""A toy model to look at offline: a 2-layer GPT-2 (tiny MLP) trained by `llmlab.training` on repeated random
strings.

    summary = train_toy(ToyPreset(max_steps=2000), out="runs/attention/toy")   # model:
    runs/attention/toy/checkpoint

Each training window is one string r (random letters, length p drawn per window) repeated to fill the window:
"qwkzrbt" + "qwkzrbt" + ... From the second copy on, every letter is predictable only by looking back: find
the earlier copy of the current letter and copy what followed it. That is the induction mechanism (a
previous-token head in layer 0 feeding an induction head in layer 1). Windows start where r starts and p
varies, so neither position nor a fixed look-back distance can stand in for it.
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
    # each window repeats one string r, len(r) drawn from [min_period, max_period]
    min_period: int = 4
    max_period: int = 12
    # start the learned position table from sines and cosines (training.toy_gpt)
    sinusoidal_positions: bool = True
    # True: r without repeated letters (opens shortcuts: letters not yet seen come next)
    distinct: bool = False
    block_size: int = 24
    batch_size: int = 32
    n_windows: int = 20_000        # training windows (fresh random strings; validation has its own 1,000)
    max_steps: int = 3000
    max_time: float | None = None
    lr: float = 1e-2
    warmup_steps: int = 50
    seed: int = 0
    # a model this small runs fastest on one thread (more threads wait on each other)
    threads: int = 1


def repeated_windows(n_windows: int, length: int, n_symbols: int, min_period: int, max_period: int,
                     seed: int, distinct: bool = False) -> np.ndarray:
    """(n_windows, length) token ids: row k is a random string r_k (len in [min_period, max_period]; distinct
    symbols if asked) repeated and cut to `length`."""
    rng = np.random.default_rng(seed)
    rows = np.empty((n_windows, length), dtype=np.uint16)
    periods = rng.integers(min_period, max_period + 1, n_windows)
    for k, p in enumerate(periods):
        r = rng.permutation(n_symbols)[:p] if distinct else rng.integers(0, n_symbols, p)
        rows[k] = np.resize(r, length)
    return rows


def copy_losses(model, n_symbols: int, period: int, batch: int = 64, seed: int = 0) -> dict[str, float]:
    """Mean next-token loss on r + r (r: `period` random symbols) for the targets in the first copy
    (unpredictable: ln n_symbols at best) and in the second copy after its first letter (predictable by
    induction)."""
    import torch

    from llmlab.attention.metrics import repeated_random_ids

    ids = torch.from_numpy(repeated_random_ids(n_symbols, period, batch, seed))   # (B, 2p)
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()                                # (B, 2p, V)
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    # target t + 1 is predicted at position t: first copy targets 1..p-1, second copy targets p+1..2p-1
    return {"first_copy_loss": float(nll[:, :period - 1].mean()), "second_copy_loss": float(nll[:,
                                                                                                period:].mean())}


def copy_period(cfg: ToyPreset) -> int:
    """The period at which the per-copy losses are measured: the middle of the training periods."""
    return (cfg.min_period + cfg.max_period) // 2


def train_toy(preset: ToyPreset | None = None, out: str | Path | None = None,
              overrides: list[str] | None = None, overwrite: bool = False) -> dict:
    """Train the toy model; returns the Trainer's summary, the per-copy losses and `model_dir` (an HF model
    directory). A folder that already holds a run is refused unless `overwrite`."""
    import torch

    from llmlab.errors import LabError
    from llmlab.runs import RunFolder
    from llmlab.tokenizer.char import CharTokenizer
    from llmlab.training import TokenWindows
    from llmlab.training.toy_gpt import train_toy_gpt

    cfg = apply_overrides(preset or ToyPreset(), overrides)
    n = len(cfg.alphabet)
    longest = min(n, cfg.block_size // 2) if cfg.distinct else cfg.block_size // 2
    if not 2 <= cfg.min_period <= cfg.max_period <= longest:
        raise LabError(f"periods [{cfg.min_period}, {cfg.max_period}] must satisfy 2 <= min <= max <= "
                       f"{longest} "
                       f"(block_size / "
                       f"2{', and the alphabet size for distinct letters' if cfg.distinct else ''})",
                       hint="--set max_period=... (each window holds at least two copies of r)")
    run = RunFolder.start("attention", name="toy", out=out, overwrite=overwrite)
    tok = CharTokenizer(list(cfg.alphabet), unk=True)

    def windows(count: int, seed: int) -> TokenWindows:
        # one shard per window: TokenWindows never lets a window straddle two shards, so each batch row is one
        # whole string-repeated window, starting where r starts
        rows = repeated_windows(count, cfg.block_size + 1, n, cfg.min_period, cfg.max_period, seed,
                                cfg.distinct)
        return TokenWindows(list(rows), cfg.block_size, cfg.batch_size, seed=seed)

    train, val = windows(cfg.n_windows, cfg.seed), windows(1_000, cfg.seed + 10_000)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        model, summary = train_toy_gpt(cfg, train, val, tok, run, n_positions=max(64, 2 * cfg.block_size),
                                       run_config=cfg, description="toy")
        copies = copy_losses(model, n, copy_period(cfg), seed=cfg.seed + 20_000)
    finally:
        torch.set_num_threads(threads)
    # the loss of a model that has learned nothing but the letter frequencies: ln(number of letters)
    return {**summary, **copies, "model_dir": str(run.path / "checkpoint"), "uniform_loss": float(np.log(n)),
            "copy_period": copy_period(cfg)}

"""A toy model to look at offline: a 2-layer GPT-2 (tiny MLP) trained by `llmlab.training` on repeated random strings.

    summary = train_toy(ToyPreset(max_steps=2000), out="runs/attention/toy")   # model: runs/attention/toy/checkpoint

Each training window is one string r (random letters, length p drawn per window) repeated to fill the window:
"qwkzrbt" + "qwkzrbt" + ... From the second copy on, every letter is predictable only by looking back: find the
earlier copy of the current letter and copy what followed it. That is the induction mechanism (a previous-token
head in layer 0 feeding an induction head in layer 1). Windows start where r starts and p varies, so neither
position nor a fixed look-back distance can stand in for it.
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
    min_period: int = 4            # each window repeats one string r, len(r) drawn from [min_period, max_period]
    max_period: int = 12
    sinusoidal_positions: bool = True  # start the learned position table from sines and cosines (see below)
    distinct: bool = False         # True: r without repeated letters (opens shortcuts: letters not yet seen come next)
    block_size: int = 24
    batch_size: int = 32
    n_windows: int = 20_000        # training windows (fresh random strings; validation has its own 1,000)
    max_steps: int = 3000
    max_time: float | None = None
    lr: float = 1e-2
    warmup_steps: int = 50
    seed: int = 0
    threads: int = 1               # a model this small runs fastest on one thread (more threads wait on each other)


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


def sinusoidal_positions(n_positions: int, dim: int, scale: float):
    """(n_positions, dim) table pe[t, 2k] = sin(t w_k), pe[t, 2k+1] = cos(t w_k), w_k = 10000^(-2k/dim), times
    scale·√2 (each entry then has the token embeddings' spread). Moving one position is then a fixed rotation,
    so a previous-token head is a linear map of q and k from the start."""
    import torch

    t = torch.arange(n_positions, dtype=torch.float32)[:, None]
    w = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    pe = torch.zeros(n_positions, dim)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(t * w), torch.cos(t * w)
    return pe * scale * 2 ** 0.5


def copy_losses(model, n_symbols: int, period: int, batch: int = 64, seed: int = 0) -> dict[str, float]:
    """Mean next-token loss on r + r (r: `period` random symbols) for the targets in the first copy (unpredictable:
    ln n_symbols at best) and in the second copy after its first letter (predictable by induction)."""
    import torch

    from llmlab.attention.metrics import repeated_random_ids

    ids = torch.from_numpy(repeated_random_ids(n_symbols, period, batch, seed))   # (B, 2p)
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()                                # (B, 2p, V)
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    # target t + 1 is predicted at position t: first copy targets 1..p-1, second copy targets p+1..2p-1
    return {"first_copy_loss": float(nll[:, :period - 1].mean()), "second_copy_loss": float(nll[:, period:].mean())}


def copy_period(cfg: ToyPreset) -> int:
    """The period at which the per-copy losses are measured: the middle of the training periods."""
    return (cfg.min_period + cfg.max_period) // 2


def train_toy(preset: ToyPreset | None = None, out: str | Path | None = None,
              overrides: list[str] | None = None) -> dict:
    """Train the toy model; returns the Trainer's summary, the per-copy losses and `model_dir` (an HF model directory)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from llmlab.errors import LabError
    from llmlab.runs import RunFolder
    from llmlab.tokenizer.char import CharTokenizer
    from llmlab.training import TokenWindows, TrainConfig, Trainer

    cfg = apply_overrides(preset or ToyPreset(), overrides)
    n = len(cfg.alphabet)
    longest = min(n, cfg.block_size // 2) if cfg.distinct else cfg.block_size // 2
    if not 2 <= cfg.min_period <= cfg.max_period <= longest:
        raise LabError(f"periods [{cfg.min_period}, {cfg.max_period}] must satisfy 2 <= min <= max <= {longest} "
                       f"(block_size / 2{', and the alphabet size for distinct letters' if cfg.distinct else ''})",
                       hint="--set max_period=... (each window holds at least two copies of r)")
    run = RunFolder.create("attention", name="toy", out=out)
    tok = CharTokenizer(list(cfg.alphabet), unk=True)

    def windows(count: int, seed: int) -> TokenWindows:
        # one shard per window: TokenWindows never lets a window straddle two shards, so each batch row is one
        # whole string-repeated window, starting where r starts
        rows = repeated_windows(count, cfg.block_size + 1, n, cfg.min_period, cfg.max_period, seed, cfg.distinct)
        return TokenWindows(list(rows), cfg.block_size, cfg.batch_size, seed=seed)

    train, val = windows(cfg.n_windows, cfg.seed), windows(1_000, cfg.seed + 10_000)
    model = GPT2LMHeadModel(GPT2Config(
        n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd, n_inner=cfg.n_inner, vocab_size=tok.vocab_size,
        n_positions=max(64, 2 * cfg.block_size), resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=None, eos_token_id=None, pad_token_id=None))
    train_cfg = TrainConfig(max_steps=cfg.max_steps, max_time=cfg.max_time, batch_size=cfg.batch_size, lr=cfg.lr,
                            min_lr=cfg.lr / 10, warmup_steps=min(cfg.warmup_steps, cfg.max_steps // 10),
                            weight_decay=0.0, eval_interval=max(cfg.max_steps // 4, 1), eval_iters=4,
                            log_interval=25, checkpoint_interval=0, save_best=False, tensorboard=False,
                            seed=cfg.seed)
    if cfg.sinusoidal_positions:
        with torch.no_grad():
            wpe = model.transformer.wpe.weight                                      # (n_positions, n_embd)
            wpe.copy_(sinusoidal_positions(wpe.shape[0], wpe.shape[1], scale=float(model.transformer.wte.weight.std())))
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        summary = Trainer(model, train_cfg, run, train, val, tokenizer=tok, run_config=cfg,
                          description="toy").fit()
        model.eval()
        copies = copy_losses(model, n, copy_period(cfg), seed=cfg.seed + 20_000)
    finally:
        torch.set_num_threads(threads)
    # the loss of a model that has learned nothing but the letter frequencies: ln(number of letters)
    return {**summary, **copies, "model_dir": str(run.path / "checkpoint"), "uniform_loss": float(np.log(n)),
            "copy_period": copy_period(cfg)}

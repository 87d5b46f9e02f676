"""Char-LM presets: named, measured recipes (`--preset`), each a CharLMConfig with `--set key=value`
overrides.

    cfg = resolve("lstm", preset="cpu", overrides=["hidden=384", "lr=2e-3"])
Keys of the model (block_size, n_layer, ...) and of the training loop (lr, max_steps, ...: any TrainConfig
field) share one namespace. `nanogpt-baby` and `shakespeare-char` are nanoGPT's recipes, kept so the
benchmarks can run them side by side with llmlab's own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from llmlab.config import apply_overrides, route_overrides
from llmlab.errors import LabError
from llmlab.training import TrainConfig


@dataclass
class CharLMConfig:
    model: str = "transformer"     # rnn | lstm | gru | transformer
    corpus: str = "tinyshakespeare"
    preset: str = "cpu"
    block_size: int = 128          # characters of context per training window
    n_layer: int = 4
    n_head: int = 4                # transformer only
    n_embd: int = 128              # transformer width / RNN input embedding
    hidden: int = 512              # RNN hidden state
    dropout: float = 0.0
    train: TrainConfig = field(default_factory=TrainConfig)


def _train(**kw) -> TrainConfig:
    return TrainConfig(**kw)


def _tiny(model: str) -> CharLMConfig:
    """Seconds on a laptop CPU: tests and the quick roadmap step."""
    return CharLMConfig(model=model, preset="tiny", block_size=32, n_layer=2, n_head=2, n_embd=64, hidden=128,
                        train=_train(max_steps=200, batch_size=16, lr=3e-3, min_lr=3e-4, warmup_steps=20,
                                     eval_interval=50, eval_iters=5, log_interval=10, save_best=False,
                                     threads=1))


def _nanogpt_baby(model: str) -> CharLMConfig:
    """nanoGPT's CPU "baby GPT" (README): 4 layers, 4 heads, width 128, context 64, batch 12, 2000 iters."""
    return CharLMConfig(model=model, preset="nanogpt-baby", block_size=64, n_layer=4, n_head=4, n_embd=128,
                        hidden=256, dropout=0.0,
                        train=_train(max_steps=2000, batch_size=12, lr=1e-3, min_lr=1e-4, warmup_steps=100,
                                     lr_decay_steps=2000, weight_decay=0.1, beta2=0.99, grad_clip=1.0,
                                     eval_interval=250, eval_iters=20, log_interval=10))


def _cpu(model: str) -> CharLMConfig:
    """llmlab's CPU recipe. Transformer: the baby's model and batch at 4x its learning rate (measured: at
    1000 steps, val 1.92 against 2.10 for lr 1e-3; 3e-3 gave 1.94, 6e-3 1.91). RNNs: 2 cells of 384,
    batch 32 (their time steps are sequential, so larger batches are nearly free)."""
    if model == "transformer":
        return CharLMConfig(model=model, preset="cpu", block_size=64, n_layer=4, n_head=4, n_embd=128,
                            dropout=0.0,
                            train=_train(max_steps=2000, batch_size=12, lr=4e-3, min_lr=1e-4, warmup_steps=50,
                                         weight_decay=0.1, beta2=0.99, grad_clip=1.0, eval_interval=250,
                                         eval_iters=20, log_interval=10))
    return CharLMConfig(model=model, preset="cpu", block_size=64, n_layer=2, n_embd=128, hidden=384,
                        dropout=0.0,
                        train=_train(max_steps=2000, batch_size=32, lr=2e-3, min_lr=1e-4, warmup_steps=50,
                                     weight_decay=0.1, beta2=0.99, grad_clip=1.0, eval_interval=250,
                                     eval_iters=20, log_interval=10))


def _shakespeare_char(model: str) -> CharLMConfig:
    """nanoGPT's GPU recipe (config/train_shakespeare_char.py): 6x6x384, context 256, batch 64, 5000 iters."""
    return CharLMConfig(model=model, preset="shakespeare-char", block_size=256, n_layer=6, n_head=6,
                        n_embd=384,
                        hidden=1024, dropout=0.2,
                        train=_train(max_steps=5000, batch_size=64, lr=1e-3, min_lr=1e-4, warmup_steps=100,
                                     weight_decay=0.1, beta2=0.99, grad_clip=1.0, eval_interval=250,
                                     eval_iters=200, log_interval=10))


def _gpu(model: str) -> CharLMConfig:
    """llmlab's one-GPU recipe: nanoGPT's model, bf16, a short eval, cosine over a 60-second budget."""
    cfg = _shakespeare_char(model)
    return dataclasses.replace(cfg, preset="gpu", train=dataclasses.replace(
        cfg.train, max_steps=100000, max_time=60.0, decay_by="time", eval_iters=20, eval_interval=250,
        checkpoint_interval=0, save_best=False))     # one checkpoint at the end: the budget is for training


PRESETS = {"tiny": _tiny, "cpu": _cpu, "nanogpt-baby": _nanogpt_baby, "shakespeare-char": _shakespeare_char,
           "gpu": _gpu}


def resolve(model: str, preset: str = "cpu", overrides: list[str] | None = None, corpus: str | None = None,
            max_time: float | None = None, max_steps: int | None = None) -> CharLMConfig:
    """Preset for `model`, then --set overrides (model keys or TrainConfig keys), then the explicit flags."""
    if preset not in PRESETS:
        raise LabError(f"unknown preset {preset!r}", hint="choose one of " + ", ".join(PRESETS))
    cfg = PRESETS[preset](model)
    own = {f.name for f in dataclasses.fields(CharLMConfig)} - {"train"}
    routed = route_overrides(overrides, {"model": own,
                                         "training": {f.name for f in dataclasses.fields(TrainConfig)}},
                             "a char LM")
    mine, theirs = routed["model"], routed["training"]
    cfg = apply_overrides(cfg, mine)
    train = apply_overrides(cfg.train, theirs)
    if max_steps is not None:
        train = dataclasses.replace(train, max_steps=max_steps)
    if max_time is not None:
        train = dataclasses.replace(train, max_time=max_time)
    cfg = dataclasses.replace(cfg, train=train.validate(), model=model)
    if corpus is not None:
        cfg = dataclasses.replace(cfg, corpus=corpus)
    return cfg

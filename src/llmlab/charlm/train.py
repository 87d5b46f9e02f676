"""Train one char LM: corpus -> CharTokenizer -> token windows -> model -> `llmlab.training.Trainer`.

    summary = train_charlm(resolve("lstm", "cpu", corpus="python-docs"), out="runs/charlm/lstm")
The tokenizer is built from the training split (unseen validation characters map to <unk>), and on
--resume it is read back from the checkpoint so ids never shift.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from llmlab.charlm.models import build_model
from llmlab.charlm.presets import CharLMConfig
from llmlab.runs import RunFolder


def corpus_ids(cfg: CharLMConfig, tokenizer=None):
    """(train ids, val ids, tokenizer) for the config's corpus, split by llmlab.data's one rule."""
    from llmlab.data import load_corpus
    from llmlab.tokenizer import CharTokenizer

    train, val = load_corpus(cfg.corpus).split()
    tok = tokenizer or CharTokenizer.train(train.text)
    dtype = np.uint16 if tok.vocab_size <= 2**16 else np.uint32
    return np.array(tok.encode(train.text), dtype=dtype), np.array(tok.encode(val.text), dtype=dtype), tok


def train_charlm(cfg: CharLMConfig, out: str | Path | None = None, resume: bool = False,
                 data: tuple[np.ndarray, np.ndarray, Any] | None = None, overwrite: bool = False,
                 resume_command: str | None = None) -> dict[str, Any]:
    """A folder that already holds a run is refused unless `resume` (continue it) or `overwrite` (replace
    it)."""
    import torch

    from llmlab.training import TokenWindows, Trainer
    from llmlab.training.checkpoint import require_checkpoint

    run = RunFolder.start("charlm", name=cfg.model, out=out, resume=resume, overwrite=overwrite)
    tokenizer = None
    found = require_checkpoint(run.path) if resume else None
    if found is not None:
        from llmlab.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(found)
    train_ids, val_ids, tok = data if data is not None else corpus_ids(cfg, tokenizer)
    t = cfg.train
    torch.manual_seed(t.seed)
    model = build_model(cfg, tok.vocab_size)
    train = TokenWindows(train_ids, cfg.block_size, t.batch_size, seed=t.seed, chars_per_token=1.0)
    val = TokenWindows(val_ids, cfg.block_size, t.batch_size, seed=t.seed + 1, chars_per_token=1.0)
    trainer = Trainer(model, t, run, train, val, tokenizer=tok, run_config=cfg,
                      description=f"charlm {cfg.model}", resume_command=resume_command)
    summary = trainer.fit(resume=resume)
    summary = {"model": cfg.model, "corpus": cfg.corpus, "preset": cfg.preset, **summary,
               "best_val_bpc": summary["best_val_loss"] / math.log(2) if summary["best_val_loss"] else None,
               "vocab_size": tok.vocab_size, "run": str(run.path)}
    if trainer.accelerator.is_main_process:
        run.save_summary(summary)
    return summary

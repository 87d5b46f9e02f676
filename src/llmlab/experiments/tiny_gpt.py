"""A tiny GPT-2 trained by `llmlab.training` on masked rows: the model behind both offline reproductions.

    model, summary = train_tiny_gpt(shape, train, val, tokenizer, run, run_config=cfg)
`shape` is any preset with n_layer, n_head, n_embd, max_steps, max_time, batch_size, lr, warmup_steps, seed,
threads; the result is an ordinary Hugging Face model directory (run/checkpoint) with a character tokenizer.
"""

from __future__ import annotations

from typing import Any

from llmlab.experiments.sequences import MaskedRows


def build_model(shape: Any, vocab_size: int, n_positions: int):
    """GPT-2 with dropout off and the position table started from sines and cosines: a head that looks a
    fixed distance back (the operands of a step, the demonstration before a query) is then a linear map of
    q and k from step 0, instead of something the learned positions must first discover."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from llmlab.attention.toy import sinusoidal_positions

    model = GPT2LMHeadModel(GPT2Config(
        n_layer=shape.n_layer, n_head=shape.n_head, n_embd=shape.n_embd, n_inner=4 * shape.n_embd,
        vocab_size=vocab_size, n_positions=n_positions, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=None, eos_token_id=None, pad_token_id=None))
    if getattr(shape, "sinusoidal_positions", False):
        with torch.no_grad():
            wpe = model.transformer.wpe.weight                                  # (n_positions, n_embd)
            wpe.copy_(sinusoidal_positions(wpe.shape[0], wpe.shape[1], float(model.transformer.wte.weight.std())))
    return model


def train_tiny_gpt(shape: Any, train: MaskedRows, val: MaskedRows, tokenizer: Any, run: Any,
                   run_config: Any = None, description: str = "train") -> tuple[Any, dict]:
    """Train a fresh tiny GPT-2 on `train` (evaluating on `val`); returns (model in eval mode, Trainer summary)."""
    import torch

    from llmlab.training import TrainConfig, Trainer

    # the initial weights come from torch's global generator, which each process seeds at random: seed it here
    # (the Trainer seeds only after the model exists), so the same seed gives the same run
    torch.manual_seed(shape.seed)

    # a tokenizer is saved with the model; an int is just the vocabulary size (ids with no text form)
    vocab_size = tokenizer if isinstance(tokenizer, int) else tokenizer.vocab_size
    tokenizer = None if isinstance(tokenizer, int) else tokenizer
    model = build_model(shape, vocab_size, n_positions=max(train.block_size, val.block_size) + 1)
    cfg = TrainConfig(max_steps=shape.max_steps, max_time=shape.max_time, batch_size=shape.batch_size,
                      lr=shape.lr, min_lr=shape.lr / 10, warmup_steps=min(shape.warmup_steps, shape.max_steps // 10),
                      weight_decay=0.0, eval_interval=max(shape.max_steps // 4, 1), eval_iters=4,
                      log_interval=25, checkpoint_interval=0, sample_prompts=[], save_best=False, tensorboard=False,
                      seed=shape.seed, threads=shape.threads, device=shape.device)
    summary = Trainer(model, cfg, run, train, val, tokenizer=tokenizer, run_config=run_config,
                      description=description).fit()
    model.eval()
    return model, summary

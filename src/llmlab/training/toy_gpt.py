"""A tiny GPT-2 for the lab's toy experiments (attention heads, the agent, chain-of-thought, in-context
learning): dropout off, the position table started from sines and cosines, trained by the one Trainer.

    model, summary = train_toy_gpt(shape, train, val, tokenizer, run, n_positions=64)
`shape` is any preset with n_layer, n_head, n_embd, max_steps, max_time, batch_size, lr, warmup_steps, seed,
threads (and optionally n_inner, sinusoidal_positions, device); the result is also an ordinary Hugging Face
model directory (run/checkpoint).
"""

from __future__ import annotations

from typing import Any


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


def build_toy_gpt(shape: Any, vocab_size: int, n_positions: int, sinusoidal: bool | None = None):
    """GPT-2 with dropout off; with sinusoidal positions a head that looks a fixed distance back (the previous
    token, the operands of a step, the demonstration before a query) is a linear map of q and k from step 0,
    instead of something the learned positions must first discover."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(
        n_layer=shape.n_layer, n_head=shape.n_head, n_embd=shape.n_embd, n_inner=getattr(shape, "n_inner",
                                                                                         None),
        vocab_size=vocab_size, n_positions=n_positions, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=None, eos_token_id=None, pad_token_id=None))
    if getattr(shape, "sinusoidal_positions", False) if sinusoidal is None else sinusoidal:
        with torch.no_grad():
            wpe = model.transformer.wpe.weight                                  # (n_positions, n_embd)
            wpe.copy_(sinusoidal_positions(wpe.shape[0], wpe.shape[1],
                                           float(model.transformer.wte.weight.std())))
    return model


def train_toy_gpt(shape: Any, train: Any, val: Any, tokenizer: Any, run: Any, n_positions: int | None = None,
                  run_config: Any = None, description: str = "train", warmup_divisor: int = 10,
                  sinusoidal: bool | None = None) -> tuple[Any, dict]:
    """Train a fresh toy GPT-2 on the batch source `train` (evaluating on `val`); returns (model in eval mode,
    the Trainer's summary). Warmup is at most max_steps // warmup_divisor steps."""
    import torch

    from llmlab.training import TrainConfig, Trainer

    # the initial weights come from torch's global generator, which each process seeds at random: seed it here
    # (the Trainer seeds only after the model exists), so the same seed gives the same run
    torch.manual_seed(shape.seed)
    # a tokenizer is saved with the model; an int is just the vocabulary size (ids with no text form)
    vocab_size = tokenizer if isinstance(tokenizer, int) else tokenizer.vocab_size
    tokenizer = None if isinstance(tokenizer, int) else tokenizer
    n_positions = n_positions or max(train.block_size, val.block_size) + 1
    model = build_toy_gpt(shape, vocab_size, n_positions, sinusoidal)
    cfg = TrainConfig(max_steps=shape.max_steps, max_time=shape.max_time, batch_size=shape.batch_size,
                      lr=shape.lr, min_lr=shape.lr / 10,
                      warmup_steps=min(shape.warmup_steps, shape.max_steps // warmup_divisor),
                      weight_decay=0.0, eval_interval=max(shape.max_steps // 4, 1), eval_iters=4,
                      log_interval=25, checkpoint_interval=0, sample_prompts=[], save_best=False,
                      report_to="none", seed=shape.seed, threads=shape.threads,
                      device=getattr(shape, "device", "auto"))
    summary = Trainer(model, cfg, run, train, val, tokenizer=tokenizer, run_config=run_config,
                      description=description).fit()
    model.eval()
    return model, summary

"""The setting in which an induction head reliably forms on a CPU in under a minute: a 2-layer attention-only
transformer with rotary positions (a Llama-style HF model with no MLP) trained on random letters in which one
random segment appears twice.

    rows = segment_windows(1000, 33, 26, 4, 12, seed=0)     # (1000, 33): random letters, one segment repeated
    model = build_induction_model(InductionPreset(), vocab_size=26)

A window is random letters a ... r ... r ...: a segment r (4-12 letters) copied later at once, at a random
offset. The second copy is predictable only by induction (find the earlier occurrence of the current letter,
predict the letter that followed it); nothing else in the window is predictable beyond the letter frequencies.
Random offsets and lengths rule out position or a fixed look-back distance as a stand-in. Attention-only
(Elhage et al. 2021) leaves the two-head circuit as the only way to copy: a previous-token head in layer 0
writes "the letter before me" into each position, and a layer-1 head finds the position whose previous
letter is the current letter (K-composition) and copies the letter there. Rotary positions make "one token
back" the same rotation everywhere, so the previous-token head forms fast. Measured (3 seeds, lr 1e-3,
batch 32): the second copy's loss sits on a plateau near 2.9 nats until about step 550, and a layer-1 head
passes an induction score of 0.5 at steps 650-700 (docs/results.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class InductionPreset:
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    n_inner: int = 0  # MLP width; 0 = attention-only (the setting of Elhage et al. 2021)
    alphabet: str = "abcdefghijklmnopqrstuvwxyz"
    min_period: int = 4  # the repeated segment's length is drawn from [min_period, max_period]
    max_period: int = 12
    block_size: int = 32
    batch_size: int = 32
    n_windows: int = 50_000  # training windows (fresh random letters; validation has its own)
    max_steps: int = 1500
    max_time: float | None = None
    lr: float = 1e-3
    warmup_steps: int = 20
    measure_every: int = 50  # steps between measurements (and saved snapshots)
    seed: int = 0
    threads: int = 1  # a model this small runs fastest on one thread


def segment_windows(
    n_windows: int, length: int, n_symbols: int, min_period: int, max_period: int, seed: int
) -> np.ndarray:
    """(n_windows, length) token ids: random symbols, with row[a + p : a + 2p] = row[a : a + p] for a segment
    length p in [min_period, max_period] and an offset a, both drawn per row."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_symbols, (n_windows, length)).astype(np.uint16)
    periods = rng.integers(min_period, max_period + 1, n_windows)
    offsets = (rng.random(n_windows) * (length - 2 * periods + 1)).astype(np.int64)  # a in [0, length - 2p]
    for row, p, a in zip(rows, periods, offsets, strict=True):
        row[a + p : a + 2 * p] = row[a : a + p]
    return rows


def build_induction_model(cfg: InductionPreset, vocab_size: int):
    """A Llama-style HF causal LM (RoPE, RMSNorm, untied unembedding) with an MLP of width n_inner (0: none),
    in eager attention so its attention probabilities can be captured."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.n_embd,
        intermediate_size=cfg.n_inner,
        num_hidden_layers=cfg.n_layer,
        num_attention_heads=cfg.n_head,
        num_key_value_heads=cfg.n_head,
        max_position_embeddings=max(64, 2 * cfg.block_size),
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        attn_implementation="eager",
    )
    with warnings.catch_warnings():  # a width-0 MLP has zero-element weights: nothing to initialise
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return LlamaForCausalLM(config)

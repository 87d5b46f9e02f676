"""What a fine-tune is judged by: loss and perplexity on the same validation blocks, and a greedy sample.

    loss = block_loss(model, data.blocks("val"))           # mean next-token cross-entropy, nats/token
    text = sample(model, tokenizer, "The ", tokens=40)      # greedy, through llmlab.generation

Every method is measured by these two functions before and after training, so the figures compare.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def block_loss(model: torch.nn.Module, blocks: np.ndarray, batch_size: int = 8) -> float:
    """Mean next-token cross-entropy over every predicted token of `blocks` (n, T)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        ids = torch.as_tensor(blocks[start:start + batch_size], device=device)      # (B, T)
        logits = model(input_ids=ids, use_cache=False).logits[:, :-1]               # (B, T-1, V)
        targets = ids[:, 1:]
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                                 reduction="sum").item()
        count += targets.numel()
    model.train(was_training)
    return total / max(count, 1)


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))


def sample(model: torch.nn.Module, tokenizer: Any, prompt: str, tokens: int = 40) -> str:
    """Greedy continuation of `prompt` (the shared decoder; greedy so before and after compare)."""
    from llmlab.generation import SamplingParams
    from llmlab.generation.decode import generate_text

    was_training = model.training
    model.eval()
    text = generate_text(model, tokenizer, prompt, SamplingParams(temperature=0.0, max_new_tokens=tokens))
    model.train(was_training)
    return text

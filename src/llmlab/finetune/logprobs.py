"""Per-token log-probabilities of the tokens a row was trained to write: the one quantity DPO and GRPO share.

    logps = token_logprobs(model, ids, labels)   # (N, T): log p(labels[t] | ids[:t+1]), 0 where label is -100
    seq = logps.sum(-1)                              # log p(completion | prompt) of each row

`labels` are the training targets already shifted (labels[t] is the token after ids[t], -100 where no loss is
taken), the same (x, y) pair the training loop feeds every loss. Rows are right-padded: a causal model never
attends from a real token to a later pad, so no attention mask is needed for the real positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llmlab.training.batches import IGNORE_INDEX


def model_logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """(N, T, V) logits of an HF causal LM (no KV cache: a training forward never reads one)."""
    return model(input_ids=ids, use_cache=False).logits


def gather_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N, T) log-softmax of `logits` at each label, 0 where the label is IGNORE_INDEX.

    log p(y) = logit[y] - logsumexp(logits): the same number as log_softmax(...).gather(y), without the
    (N, T, V) log-softmax tensor."""
    keep = labels != IGNORE_INDEX
    safe = labels.masked_fill(~keep, 0)                                       # any valid index; zeroed below
    picked = logits.gather(-1, safe.unsqueeze(-1)).squeeze(-1)                # (N, T)
    return (picked - torch.logsumexp(logits, dim=-1)) * keep


def token_logprobs(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = model_logits(model, ids)
    if logits.dtype in (torch.float16, torch.bfloat16):        # softmax of half-precision logits loses digits
        logits = logits.float()
    return gather_logprobs(logits, labels)


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """(N, T) entropy of the next-token distribution, H = -sum_v p_v log p_v (what GRPO watches collapse)."""
    logp = F.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)

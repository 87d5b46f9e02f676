"""How much a quantised model's next-token distributions differ from the full-precision model's, on held-out
token rows: perplexity, KL divergence (mean and 99th percentile over positions) and top-1 agreement.

    ref = reference_logits(fp32_model, rows)
    summary = compare_to_reference(quant_model, rows, ref)   # {"perplexity": ..., "kl_mean": ..., ...}

KL(P || Q) = Σ_v P(v) (log P(v) - log Q(v)) with P the fp32 model's next-token distribution at a position and
Q the quantised model's, in nats. Perplexity only sees the probability of the token that came next; KL sees
the whole distribution, so it tells formats apart even where their perplexities tie (a format can raise some
wrong tokens and lower others and keep the same perplexity). The mean says how far a typical position moves,
the p99 how bad the worst positions get: the ones where a chat answer would change. Computed twice, by the
formula above (rewritten on the logits) and by torch's `F.kl_div` on log-probabilities, and the two must
agree (`kl_check`, the largest difference at any position).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def kl_divergence(ref_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(ref) || softmax(logits)) per position, (..., V) -> (...), in float64, from the logits:

        log P = a - logsumexp(a),  log Q = b - logsumexp(b)
        KL = Σ_v P(v) (a_v - b_v) - logsumexp(a) + logsumexp(b)          (Σ_v P(v) = 1)
    """
    a, b = ref_logits.double(), logits.double()
    p = torch.softmax(a, dim=-1)
    return (p * (a - b)).sum(-1) - torch.logsumexp(a, dim=-1) + torch.logsumexp(b, dim=-1)


def kl_divergence_torch(ref_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The same KL by torch's own F.kl_div (input = log Q, target = log P), as the second computation."""
    log_p = torch.log_softmax(ref_logits.double(), dim=-1)
    log_q = torch.log_softmax(logits.double(), dim=-1)
    return F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(-1)


@torch.no_grad()
def reference_logits(model, rows: list[torch.Tensor]) -> list[torch.Tensor]:
    """The full-precision model's logits (1, T, V) for each token row (1, T), kept to compare every format."""
    return [model(row).logits.float() for row in rows]


@torch.no_grad()
def compare_to_reference(model, rows: list[torch.Tensor], reference: list[torch.Tensor]) -> dict[str, float]:
    """Perplexity of `model` on the rows (each token predicted from the ones before it, within its row), and
    its KL and top-1 agreement against the reference logits at every position."""
    nll, count, kls, kl_gap, same = 0.0, 0, [], 0.0, 0
    for row, ref in zip(rows, reference, strict=True):
        logits = model(row).logits.float()                                     # (1, T, V)
        nll += float(F.cross_entropy(logits[0, :-1], row[0, 1:], reduction="sum"))
        count += row.shape[1] - 1
        kl = kl_divergence(ref[0], logits[0])                                  # (T,)
        kl_gap = max(kl_gap, float((kl - kl_divergence_torch(ref[0], logits[0])).abs().max()))
        kls.append(kl)
        same += int((logits[0].argmax(-1) == ref[0].argmax(-1)).sum())
    kl = torch.cat(kls)
    return {"perplexity": math.exp(nll / count), "kl_mean": float(kl.mean()),
            "kl_p99": float(torch.quantile(kl, 0.99)), "kl_check": kl_gap,
            "top1_agreement": same / len(kl)}

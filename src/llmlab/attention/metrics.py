"""Per-head attention metrics, the induction test on repeated random tokens, and a label for each head.

Every metric is a (L, H) array: the mean over the batch and over query positions i >= 1 (query 0 can only
attend to itself, so it says nothing about a head). With A = probs[l, b, h] (T, T):
    entropy         -Σ_j A_ij ln A_ij (nats);  entropy_norm divides by ln(i + 1), the uniform maximum: 1 =
    flat distance        Σ_j A_ij (i - j): how many tokens back the head looks, on average
    sink            A_i0: weight on the first token (the "attention sink" many heads park on)
    previous_token  A_i,i-1;   self  A_ii
On a sequence r r (r random tokens, period p, after an optional prefix), for queries i in the second copy:
    induction       A_i,i-p+1: the token that followed the current token last time (Olsson et al. 2022)
    duplicate       A_i,i-p:   the earlier copy of the current token itself
"""

from __future__ import annotations

import numpy as np

METRICS = ("entropy", "entropy_norm", "distance", "sink", "previous_token", "self")
SCORES_IN_UNIT = ("entropy_norm", "sink", "previous_token", "self", "induction", "duplicate")


def head_metrics(probs: np.ndarray) -> dict[str, np.ndarray]:
    """probs (L, B, H, T, T) -> {metric: (L, H)}; needs T >= 2."""
    probs = np.asarray(probs, dtype=np.float64)
    t = probs.shape[-1]
    if t < 2:
        raise ValueError("attention metrics need at least two tokens")
    q = np.arange(1, t)                                       # the queries that have a choice
    a = probs[..., 1:, :]                                     # (L, B, H, T-1, T)
    plogp = np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0)), 0.0)
    entropy = -plogp.sum(-1)                                  # (L, B, H, T-1)
    offsets = q[:, None] - np.arange(t)[None, :]              # (T-1, T): i - j
    distance = (a * np.clip(offsets, 0, None)).sum(-1)
    rows = np.arange(t - 1)
    per_query = {
        "entropy": entropy,
        "entropy_norm": entropy / np.log(q + 1.0),
        "distance": distance,
        "sink": a[..., 0],
        "previous_token": a[..., rows, q - 1],
        "self": a[..., rows, q],
    }
    return {name: per_query[name].mean(axis=(1, 3)) for name in METRICS}


def repeated_random_ids(vocab_size: int, period: int, batch: int = 4, seed: int = 0,
                        prefix: list[int] | None = None, exclude: set[int] | None = None) -> np.ndarray:
    """(B, len(prefix) + 2·period) ids: prefix + r + r, r drawn uniformly from the vocabulary without
    `exclude`."""
    allowed = np.setdiff1d(np.arange(vocab_size), np.array(sorted(exclude or []), dtype=np.int64))
    r = np.random.default_rng(seed).choice(allowed, size=(batch, period))
    head = np.tile(np.asarray(prefix or [], dtype=np.int64), (batch, 1))
    return np.concatenate([head, r, r], axis=1).astype(np.int64)


def repetition_scores(probs: np.ndarray, period: int, prefix: int = 0) -> dict[str, np.ndarray]:
    """Induction and duplicate-token scores (L, H) from a capture of prefix + r + r (period = len(r))."""
    probs = np.asarray(probs, dtype=np.float64)
    queries = np.arange(prefix + period, prefix + 2 * period)
    return {"induction": probs[..., queries, queries - period + 1].mean(axis=(1, 3)),
            "duplicate": probs[..., queries, queries - period].mean(axis=(1, 3))}


# A head gets the first label whose score clears its threshold, in this order.
RULES = (("induction", "induction", 0.3), ("previous_token", "previous-token", 0.5),
         ("duplicate", "duplicate-token", 0.3), ("sink", "sink", 0.5), ("self", "self", 0.5),
         ("entropy_norm", "broad", 0.85))


def classify_heads(metrics: dict[str, np.ndarray]) -> np.ndarray:
    """(L, H) array of labels: induction, previous-token, duplicate-token, sink, self, broad or mixed."""
    shape = next(iter(metrics.values())).shape
    labels = np.full(shape, "mixed", dtype=object)
    for l_, h in np.ndindex(*shape):
        for key, label, threshold in RULES:
            if key in metrics and metrics[key][l_, h] >= threshold:
                labels[l_, h] = label
                break
    return labels


def layer_profile(metrics: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Each metric averaged over the heads of each layer: {metric: [layer 0, layer 1, ...]}."""
    return {name: [float(v) for v in values.mean(axis=1)] for name, values in metrics.items()}


def metric_deltas(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """b - a for each metric both hold: how the heads changed from input A to input B."""
    return {k: b[k] - a[k] for k in a if k in b}


def top_changes(deltas: dict[str, np.ndarray], k: int = 5) -> list[dict]:
    """The k largest |delta| over every (metric, layer, head), largest first; only the scores in [0, 1]
    compete (entropy in nats and distance in tokens have other units)."""
    rows = [{"metric": name, "layer": int(l_), "head": int(h), "delta": float(values[l_, h])}
            for name, values in deltas.items() if name in SCORES_IN_UNIT for l_,
            h in np.ndindex(*values.shape)]
    return sorted(rows, key=lambda r: -abs(r["delta"]))[:k]


def metrics_table(metrics: dict[str, np.ndarray], labels: np.ndarray | None = None) -> list[dict]:
    """One row per head: {"layer", "head", <metric>: value, "kind": label}."""
    rows = []
    shape = next(iter(metrics.values())).shape
    for l_, h in np.ndindex(*shape):
        row = {"layer": int(l_), "head": int(h)}
        row.update({name: round(float(values[l_, h]), 4) for name, values in metrics.items()})
        if labels is not None:
            row["kind"] = str(labels[l_, h])
        rows.append(row)
    return rows

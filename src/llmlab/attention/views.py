"""PNG pictures of a capture: the head view (a layer x head grid of T x T maps), the model view of one token,
metric heatmaps (layer x head), metric deltas between two inputs, and the per-layer profile.

    head_view(cap, "head_view.png"); model_view(cap, "model_view.png", token=-1)
    metric_heatmaps(metrics, "metrics.png"); layer_profile_plot(metrics, "layers.png")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from llmlab.attention.capture import AttentionCapture
from llmlab.attention.metrics import layer_profile
from llmlab.plots import plot_curves, plot_heatmaps

MAX_HEAD_VIEW_PANELS = 144   # gpt2's 12 x 12; bigger models show their first layers/heads only


def head_view(cap: AttentionCapture, path: str | Path, b: int = 0, layers: list[int] | None = None) -> Path:
    """One T x T heatmap (rows: queries, columns: keys) per (layer, head), rows = layers."""
    layers = layers if layers is not None else list(range(cap.n_layers))
    heads = cap.n_heads
    layers = layers[:max(1, MAX_HEAD_VIEW_PANELS // heads)]
    panels = [(f"L{l_} H{h}", cap.probs[l_, b, h]) for l_ in layers for h in range(heads)]
    tokens = cap.tokens[b] if cap.tokens else None
    return plot_heatmaps(panels, path, ncols=heads,
                         title=f"attention of {cap.model} (rows: queries, columns: keys)",
                         xlabels=tokens, ylabels=tokens, vmin=0.0, vmax=1.0, cmap="Blues",
                         cell_inches=1.6 if heads > 6 else 2.2)


def model_view(cap: AttentionCapture, path: str | Path, token: int = -1, b: int = 0) -> Path:
    """Where one query token looks, in every head: rows (layer, head), columns the keys it can see."""
    t = cap.seq_len
    i = token % t
    rows = cap.probs[:, b, :, i, :i + 1].reshape(cap.n_layers * cap.n_heads, i + 1)   # (L*H, i+1)
    labels = [f"L{l_} H{h}" for l_ in range(cap.n_layers) for h in range(cap.n_heads)]
    keys = cap.tokens[b][:i + 1] if cap.tokens else None
    word = cap.tokens[b][i] if cap.tokens else str(i)
    return plot_heatmaps([(f"query {i}: {word!r}", rows)], path, xlabels=keys,
                         ylabels=labels if len(labels) <= 40 else None, vmin=0.0, vmax=1.0, cmap="Blues",
                         cell_inches=max(3.0, 0.22 * (i + 1)), xlabel="key token", ylabel="layer, head")


def metric_heatmaps(metrics: dict[str, np.ndarray], path: str | Path,
                    title: str = "per-head metrics") -> Path:
    """One layer x head heatmap per metric, each with its own scale and the values written in."""
    panels = [(name, values) for name, values in metrics.items()]
    n_layers, n_heads = next(iter(metrics.values())).shape
    return plot_heatmaps(panels, path, ncols=min(4, len(panels)), title=title,
                         xlabels=[str(h) for h in range(n_heads)],
                         ylabels=[str(l_) for l_ in range(n_layers)],
                         colorbar="each", annotate=n_layers * n_heads <= 64, xlabel="head", ylabel="layer",
                         cell_inches=max(2.4, 0.3 * n_heads))


def delta_heatmaps(deltas: dict[str, np.ndarray], path: str | Path, title: str) -> Path:
    """Metric(B) - metric(A) per head, each metric on its own scale centred on 0 (red: higher on B)."""
    panels = [(name, values) for name, values in deltas.items() if name != "entropy"]
    n_layers, n_heads = panels[0][1].shape
    labels = {"xlabels": [str(h) for h in range(n_heads)], "ylabels": [str(l_) for l_ in range(n_layers)]}
    return plot_heatmaps(panels, path, ncols=min(4, len(panels)), title=title, diverging=True,
                         colorbar="each",
                         annotate=n_layers * n_heads <= 64, xlabel="head", ylabel="layer",
                         cell_inches=max(2.4, 0.3 * n_heads), **labels)


def layer_profile_plot(profiles: dict[str, dict[str, np.ndarray]], path: str | Path,
                       keys: tuple[str, ...] = ("entropy_norm", "previous_token", "sink", "self")) -> Path:
    """Per-layer means of a few metrics, one line per (input, metric): how behaviour changes with depth."""
    series = {}
    for label, metrics in profiles.items():
        prof = layer_profile(metrics)
        for key in keys:
            if key in prof:
                name = f"{key} ({label})" if len(profiles) > 1 else key
                series[name] = (list(range(len(prof[key]))), prof[key])
    return plot_curves(series, path, title="mean over heads, by layer", xlabel="layer", ylabel="score")

"""Pictures shared by the projects: curves from metrics rows, saved as PNG (matplotlib, no screen)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def plot_curves(series: dict[str, tuple[Sequence[float], Sequence[float]]], path: str | Path,
                title: str = "", xlabel: str = "step", ylabel: str = "loss", logy: bool = False) -> Path:
    """One line per label: {"train": (steps, losses), "val": (steps, val_losses)}."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, (xs, ys) in series.items():
        if len(xs):
            ax.plot(xs, ys, label=label, marker="o" if len(xs) < 12 else None, markersize=3)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if series:
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def loss_curve_from_metrics(rows: list[dict[str, Any]], path: str | Path, title: str = "loss") -> Path:
    """The standard loss picture of a run: train `loss` and eval `val_loss` against `step`."""
    train = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None and "step" in r]
    val = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None and "step" in r]
    series = {}
    if train:
        series["train"] = tuple(zip(*train, strict=True))
    if val:
        series["val"] = tuple(zip(*val, strict=True))
    return plot_curves(series, path, title=title)


def plot_histogram(values: Sequence[float], path: str | Path, title: str = "", xlabel: str = "",
                   ylabel: str = "count", bins: int | Sequence[float] = 30,
                   weights: Sequence[float] | None = None) -> Path:
    """A histogram of `values` (optionally weighted, e.g. by how often each value is used)."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.hist(values, bins=bins, weights=weights, color="#4c72b0", edgecolor="white")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_graph(nodes: dict[Any, tuple[float, float, str, float]], edges: Sequence[tuple[Any, Any]],
               path: str | Path, title: str = "", value_label: str = "", xlabel: str = "",
               log_values: bool = True) -> Path:
    """A drawn graph: nodes {key: (x, y, label, value)} coloured by value, edges as lines src -> dst.

    The caller lays the graph out (a merge tree puts each token one column right of its deepest part).
    """
    from matplotlib.colors import LogNorm, Normalize

    xs = [n[0] for n in nodes.values()]
    ys = [n[1] for n in nodes.values()]
    width = max(7.0, 1.6 * (max(xs) - min(xs) + 1)) if xs else 7.0
    height = max(4.0, 0.28 * (max(ys) - min(ys) + 1)) if ys else 4.0
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    for src, dst in edges:
        (x0, y0, *_), (x1, y1, *_) = nodes[src], nodes[dst]
        ax.plot([x0, x1], [y0, y1], color="#999999", lw=0.7, zorder=1)
    values = [n[3] for n in nodes.values() if n[3] > 0]
    norm = (LogNorm if log_values else Normalize)(vmin=min(values), vmax=max(values)) if values else None
    cmap = plt.get_cmap("viridis")
    for x, y, label, value in nodes.values():
        color = cmap(norm(value)) if norm is not None and value > 0 else (0.85, 0.85, 0.85, 1.0)
        light = sum(color[:3]) / 3 > 0.55
        ax.text(x, y, label, ha="center", va="center", fontsize=8, family="monospace", zorder=2,
                color="black" if light else "white",
                bbox={"boxstyle": "round,pad=0.25", "fc": color, "ec": "#444444", "lw": 0.5})
    if norm is not None:
        bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.03, pad=0.01)
        bar.set_label(value_label)
    ax.set(title=title, xlabel=xlabel)
    ax.set_yticks([])
    if xs:
        ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
        ax.set_ylim(max(ys) + 1, min(ys) - 1)   # first rows on top
        ax.set_xticks(sorted(set(int(x) for x in xs)))
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path

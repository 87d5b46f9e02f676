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

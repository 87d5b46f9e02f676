"""Pictures shared by the projects: curves from metrics rows, saved as PNG (matplotlib, no screen)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig: Any, path: str | Path, **savefig_kwargs: Any) -> Path:
    """Write `fig` to `path` and free it. The folder is made here: a run folder appears on its first write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **savefig_kwargs)
    plt.close(fig)
    return path


def plot_curves(series: dict[str, tuple[Sequence[float], Sequence[float]]], path: str | Path,
                title: str = "", xlabel: str = "step", ylabel: str = "loss", logy: bool = False,
                xticks: Sequence[float] | None = None,
                bands: dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                dashed: Sequence[str] = ()) -> Path:
    """One line per label: {"train": (steps, losses), "val": (steps, val_losses)}; `xticks` for categories.

    `bands` {label: (lows, highs)} shades an interval around that label's line (e.g. a 95% confidence
    interval); labels in `dashed` are drawn dashed (a reference, not a measurement)."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, (xs, ys) in series.items():
        if len(xs):
            line, = ax.plot(xs, ys, label=label, marker="o" if len(xs) < 12 else None, markersize=3,
                            linestyle="--" if label in dashed else "-")
            if bands and label in bands:
                ax.fill_between(xs, *bands[label], color=line.get_color(), alpha=0.18, linewidth=0)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
    if xticks is not None:
        ax.set_xticks(list(xticks))
    ax.grid(alpha=0.3)
    if series:
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


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
    return save_figure(fig, path)


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
    return save_figure(fig, path)


def plot_heatmaps(panels: Sequence[tuple[str, Any]], path: str | Path, ncols: int | None = None,
                  title: str = "", xlabels: Sequence[str] | None = None, ylabels: Sequence[str] | None = None,
                  cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None,
                  diverging: bool = False, colorbar: str = "shared", annotate: bool = False,
                  cell_inches: float = 2.0, xlabel: str = "", ylabel: str = "") -> Path:
    """A grid of 2-D heatmaps: panels [(title, (rows, cols) array)], laid out `ncols` per row.

    Tick labels (shared by every panel) are drawn on the left column and bottom row only.
    `colorbar`: "shared" (one scale for all; `diverging` centres it on 0), "each" (a scale per panel,
    for panels with different units) or "none". `annotate` writes each cell's value in it.
    """
    import numpy as np

    n = len(panels)
    ncols = max(1, min(ncols or n, n))
    nrows = (n + ncols - 1) // ncols
    arrays = [np.asarray(v, dtype=float) for _, v in panels]
    if colorbar == "shared" and arrays:
        finite = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays] or [np.zeros(1)])
        lo = float(finite.min()) if vmin is None and finite.size else vmin
        hi = float(finite.max()) if vmax is None and finite.size else vmax
        if diverging:
            bound = max(abs(lo or 0.0), abs(hi or 0.0), 1e-12)
            lo, hi, cmap = -bound, bound, "RdBu_r" if cmap == "viridis" else cmap
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell_inches * ncols + 1.2, cell_inches * nrows + 0.8),
                             dpi=110, squeeze=False)
    image = None
    for index, ax in enumerate(axes.ravel()):
        if index >= n:
            ax.axis("off")
            continue
        label, values = panels[index][0], arrays[index]
        lo_i, hi_i = (lo, hi) if colorbar == "shared" else (vmin, vmax)
        if diverging and colorbar != "shared":     # each panel its own scale, centred on 0
            bound = float(np.nanmax(np.abs(values))) if values.size else 0.0
            lo_i, hi_i = -max(bound, 1e-12), max(bound, 1e-12)
        panel_cmap = "RdBu_r" if diverging and cmap == "viridis" else cmap
        image = ax.imshow(values, cmap=panel_cmap, vmin=lo_i, vmax=hi_i, aspect="auto",
                          interpolation="nearest")
        ax.set_title(label, fontsize=8)
        row, col = divmod(index, ncols)
        small = max(values.shape) <= 40
        if ylabels is not None and col == 0 and small:
            ax.set_yticks(range(len(ylabels)), ylabels, fontsize=6)
        else:
            ax.set_yticks([])
        if xlabels is not None and (row == nrows - 1 or index + ncols >= n) and small:
            ax.set_xticks(range(len(xlabels)), xlabels, fontsize=6, rotation=90)
        else:
            ax.set_xticks([])
        if annotate and values.size <= 400:
            for (r, c), v in np.ndenumerate(values):
                if np.isfinite(v):
                    dark = abs(image.norm(v) - 0.5) > 0.3 if diverging else image.norm(v) < 0.5
                    ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if dark else "black")
        if colorbar == "each":
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
    if colorbar == "shared" and image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01)
    if xlabel:
        fig.supxlabel(xlabel, fontsize=9)
    if ylabel:
        fig.supylabel(ylabel, fontsize=9)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, bbox_inches="tight")

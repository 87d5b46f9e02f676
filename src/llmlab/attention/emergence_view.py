"""The pictures of `llmlab attention emergence`: the phase change on one time axis, for one seed and for
several.

    emergence_figure(rows, (steps, losses), summary, "emergence.png")    # three panels sharing the step axis
    seeds_figure([rows_seed0, rows_seed1, ...], summaries, "emergence_seeds.png")
"""

from __future__ import annotations

from pathlib import Path

from llmlab.plots import plt, save_figure


def emergence_figure(
    rows: list[dict], train_loss: tuple[list, list], summary: dict, path: str | Path
) -> Path:
    """Top: training loss and the per-copy losses on r + r; middle: the ICL score; bottom: the induction score
    of every head after layer 0, the previous-token score of the head it composes with, and their
    K-composition.
    A dashed line marks the step where the induction head passed 0.5."""
    steps = [r["step"] for r in rows]
    ind, prev = summary["induction_head"], summary["previous_token_head"]
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 8), dpi=110, sharex=True)
    top, mid, low = axes
    top.plot(*train_loss, color="0.6", lw=1, label="training loss (mean of 10 steps)")
    top.plot(steps, [r["first_copy_loss"] for r in rows], label="first copy of r + r (unpredictable)")
    top.plot(steps, [r["second_copy_loss"] for r in rows], label="second copy (predictable by induction)")
    top.axhline(summary["uniform_loss"], color="k", lw=0.6, ls=":", label="ln(letters): uniform guess")
    top.set_ylabel("loss (nats)")
    mid.plot(steps, [r["icl_score"] for r in rows], color="tab:purple")
    mid.axhline(0, color="k", lw=0.5)
    mid.set_ylabel("ICL score\n(late - early loss)")
    n_layers = len(rows[0]["induction"])
    for layer in range(1, n_layers):
        for head in range(len(rows[0]["induction"][layer])):
            chosen = (layer, head) == (ind["layer"], ind["head"])
            low.plot(
                steps,
                [r["induction"][layer][head] for r in rows],
                lw=2 if chosen else 0.8,
                color="tab:red" if chosen else "0.7",
                label=f"induction score L{layer}H{head}" if chosen else None,
            )
    low.plot(
        steps,
        [r["previous_token"][0][prev["head"]] for r in rows],
        color="tab:blue",
        lw=1.5,
        label=f"previous-token score L0H{prev['head']}",
    )
    if ind["layer"] == 1:
        low.plot(
            steps,
            [r["k_composition"][ind["head"]][prev["head"]] for r in rows],
            color="tab:green",
            lw=1.5,
            ls="--",
            label=f"K-composition L1H{ind['head']} <- L0H{prev['head']}",
        )
    low.set_ylabel("score")
    low.set_xlabel("training step")
    low.set_ylim(-0.02, 1.02)
    for ax in axes:
        if summary.get("formed_at_step") is not None:
            ax.axvline(summary["formed_at_step"], color="k", lw=0.8, ls="--")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.suptitle(f"an induction head forms (seed {summary['seed']}): other layer-1 heads in grey")
    fig.tight_layout()
    return save_figure(fig, path)


def seeds_figure(histories: list[list[dict]], summaries: list[dict], path: str | Path) -> Path:
    """Each seed's induction score (its chosen head), ICL score and second-copy loss against the step."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), dpi=110, sharex=True)
    for rows, s in zip(histories, summaries, strict=True):
        steps = [r["step"] for r in rows]
        ind = s["induction_head"]
        label = f"seed {s['seed']} (L{ind['layer']}H{ind['head']})"
        axes[0].plot(steps, [r["induction"][ind["layer"]][ind["head"]] for r in rows], label=label)
        axes[1].plot(steps, [r["icl_score"] for r in rows], label=label)
        axes[2].plot(steps, [r["second_copy_loss"] for r in rows], label=label)
    for ax, title in zip(
        axes, ("induction score", "ICL score (late - early loss)", "second-copy loss (nats)"), strict=True
    ):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training step")
        ax.legend(fontsize=7)
    axes[0].axhline(0.5, color="k", lw=0.5, ls=":")
    fig.tight_layout()
    return save_figure(fig, path)

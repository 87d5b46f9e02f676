"""Four architectures, one corpus, the same wall-clock budget: whose validation loss falls fastest?

    summary = compare_architectures("python-docs", ["rnn", "lstm", "gru", "transformer"], "cpu", 60.0)
Each model trains in <out>/<model>/ (its own loss.png); <out>/architectures.png draws all val curves
against seconds, the fair axis when the models cost different amounts per step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from llmlab.runs import RunFolder


def compare_architectures(corpus: str, models: list[str], preset: str, max_time: float,
                          overrides: list[str] | None = None, out: str | Path | None = None,
                          max_steps: int | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Train each model for `max_time` seconds (the LR decays over the time), or, with `max_steps`, for
    that many steps with `max_time` as a cap — the same models on a busy machine as on a quiet one.
    Each model's run is refused if it exists already, unless `overwrite`."""
    from llmlab.charlm.presets import resolve
    from llmlab.charlm.train import corpus_ids, train_charlm
    from llmlab.plots import plot_curves

    run = RunFolder.create("charlm", name="compare", out=out)
    data = None
    results, series = {}, {}
    for model in models:
        cfg = resolve(model, preset, overrides, corpus=corpus, max_time=max_time)
        budget = ({"max_steps": max_steps, "decay_by": "steps"} if max_steps
                  else {"max_steps": max(cfg.train.max_steps, 10**6), "decay_by": "time"})
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **budget))
        data = data or corpus_ids(cfg)          # one tokenizer and one split for all four
        summary = train_charlm(cfg, out=run.path / model, data=data, overwrite=overwrite)
        results[model] = {k: summary[k] for k in ("best_val_loss", "final_val_loss", "steps", "train_seconds",
                                                  "params", "tokens_per_s")}
        rows = RunFolder(run.path / model).metrics()
        val = [(r["elapsed_s"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
        if val:
            series[model] = tuple(zip(*val, strict=True))
    plot_curves(
        series,
        run.file("architectures.png"),
        title=f"val loss on {corpus}, "
        + (f"{max_steps} steps each" if max_steps else f"{max_time:.0f} s each"),
        xlabel="seconds of training",
        ylabel="val loss (nats/char)",
    )
    best = min(results, key=lambda m: results[m]["best_val_loss"] or float("inf"))
    summary = {"corpus": corpus, "preset": preset, "seconds_per_model": max_time, "models": results,
               "best_model": best, "picture": "architectures.png", "run": str(run.path)}
    run.save_summary(summary)
    return summary

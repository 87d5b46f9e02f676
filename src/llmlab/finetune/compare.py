"""The three methods side by side: same base model, same blocks, same steps; one picture of their losses.

    summary = compare_methods("tiny", "python-docs", "runs/finetune/compare", preset="tiny")

Writes <out>/<method>/ (each a full run folder), <out>/methods.png (validation loss against step, the
base model at step 0), <out>/train_loss.png and <out>/summary.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmlab.finetune.presets import METHODS, resolve
from llmlab.finetune.run import finetune
from llmlab.runs import RunFolder

KEYS = ("val_loss_before", "val_loss_after", "val_ppl_before", "val_ppl_after", "trainable_params",
        "trainable_share", "train_seconds", "tokens_per_s", "sample_after")


def compare_methods(model: str, corpus: str, out: str | Path | None, preset: str = "tiny",
                    overrides: list[str] | None = None, methods: tuple[str, ...] = METHODS,
                    max_steps: int | None = None, base_seconds: float = 120.0,
                    overwrite: bool = False) -> dict[str, Any]:
    from llmlab.plots import plot_curves

    run = RunFolder.create("finetune", name="compare", out=out)
    results: dict[str, dict[str, Any]] = {}
    for method in methods:
        cfg = resolve(preset, overrides, method=method, max_steps=max_steps)
        results[method] = finetune(cfg, model, corpus, run.path / method, base_dir=run.path / "base",
                                   base_seconds=base_seconds, overwrite=overwrite)
    val, train = {}, {}
    for method in methods:
        rows = RunFolder(run.path / method).metrics()
        val[method] = tuple(zip(*[(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None],
                                strict=True))
        train[method] = tuple(zip(*[(r["step"], r["loss"]) for r in rows if r.get("loss") is not None],
                                  strict=True))
    plot_curves(val, run.file("methods.png"), title=f"validation loss on {corpus} (step 0 = base model)")
    plot_curves(train, run.file("train_loss.png"), title=f"train loss on {corpus}")
    first = next(iter(results.values()))
    summary = {"model": first["model"], "corpus": corpus, "preset": preset, "steps": first["steps"],
               "block_size": first["block_size"], "prompt": first["prompt"],
               "sample_before": first["sample_before"],
               "methods": {m: {k: r[k] for k in KEYS} for m, r in results.items()},
               "pictures": ["methods.png", "train_loss.png"] + [f"{m}/loss.png" for m in methods]}
    run.save_summary(summary)
    return summary

"""The experiments' pictures, drawn with `llmlab.plots`: accuracy curves with shaded 95% Wilson intervals.

    cot_training_picture(table, path)     # offline CoT: accuracy vs operations, answer-only vs scratchpad
    icl_training_picture(table, cfg, path) # offline ICL: accuracy vs shots, model vs ideal learner vs chance
    cot_harness_picture(table, path)      # any model: accuracy per prompt style vs worked examples
    icl_harness_picture(table, path)      # any model: accuracy vs shots, one line per task
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmlab.experiments.report import curves
from llmlab.plots import plot_curves


def _plot(lines: dict[str, tuple[list, list, list, list]], path: Path, extra: dict | None = None,
          dashed: tuple[str, ...] = (), **labels: Any) -> Path:
    series = {name: (xs, ys) for name, (xs, ys, _, _) in lines.items()}
    bands = {name: (lo, hi) for name, (_, _, lo, hi) in lines.items()}
    series.update(extra or {})
    xs = sorted({x for xs, _ in series.values() for x in xs})
    return plot_curves(series, path, bands=bands, dashed=dashed, xticks=xs if len(xs) <= 16 else None,
                       **labels)


def cot_training_picture(table: list[dict], path: Path, chance: float | None = None) -> Path:
    lines = curves(table, line="mode", x="ops")
    extra = {}
    if chance is not None:
        ops = sorted({r["ops"] for r in table})
        extra["chance (1/modulus)"] = (ops, [chance] * len(ops))
    return _plot(lines, path, extra, dashed=("chance (1/modulus)",),
                 title="held-out accuracy: answer only vs scratchpad",
                 xlabel="operations in the problem", ylabel="exact-match accuracy")


def icl_training_picture(table: list[dict], ideal: list[float], chance: float, path: Path) -> Path:
    lines = curves([{**r, "who": "tiny transformer"} for r in table], line="who", x="shots")
    shots = [r["shots"] for r in sorted(table, key=lambda r: r["shots"])]
    extra = {"ideal in-context learner": (shots, ideal), "chance": (shots, [chance] * len(shots))}
    return _plot(lines, path, extra, dashed=("ideal in-context learner", "chance"),
                 title="unseen tasks: accuracy of the next answer vs demonstrations in context",
                 xlabel="demonstrations before the query (shots)", ylabel="accuracy")


def cot_harness_picture(table: list[dict], path: Path, model: str) -> Path:
    lines = curves(table, line="style", x="shots")
    return _plot(lines, path, title=f"{model}: direct vs chain of thought",
                 xlabel="worked examples in the prompt (shots)", ylabel="accuracy")


def icl_harness_picture(table: list[dict], path: Path, model: str) -> Path:
    lines = curves(table, line="task", x="shots")
    return _plot(lines, path, title=f"{model}: zero-shot vs few-shot", xlabel="demonstrations (shots)",
                 ylabel="accuracy")

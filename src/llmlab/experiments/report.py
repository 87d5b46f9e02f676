"""Per-item rows -> accuracy tables with Wilson intervals, JSONL files, and rich tables for the terminal.

    table = accuracy_table(rows, by=("condition", "shots"))   # rows: dicts with a boolean "correct"
    write_jsonl(rows, run.file("items.jsonl")); print_table(table, "arithmetic")
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from llmlab.experiments.stats import wilson_interval


def accuracy_table(rows: Iterable[dict[str, Any]], by: Sequence[str]) -> list[dict[str, Any]]:
    """One row per distinct value of the `by` keys (in order of first appearance): n, correct, accuracy, 95%
    CI."""
    groups: dict[tuple, list[bool]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in by), []).append(bool(row["correct"]))
    table = []
    for key, marks in groups.items():
        lo, hi = wilson_interval(sum(marks), len(marks))
        table.append({**dict(zip(by, key, strict=True)), "n": len(marks), "correct": sum(marks),
                      "accuracy": sum(marks) / len(marks), "ci_low": lo, "ci_high": hi})
    return table


def write_jsonl(rows: Iterable[dict[str, Any]], path: str | Path) -> Path:
    from llmlab.runs import jsonable

    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(jsonable(row), ensure_ascii=False) + "\n")
    return path


def lookup(table: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    """The table row whose keys equal `match`, or None."""
    return next((r for r in table if all(r.get(k) == v for k, v in match.items())), None)


def print_table(table: list[dict[str, Any]], title: str) -> None:
    from rich.table import Table

    from llmlab.console import console

    if not table:
        return
    keys = [k for k in table[0] if k not in ("ci_low", "ci_high")]
    view = Table(title=title)
    for key in keys:
        view.add_column(key, justify="left" if isinstance(table[0][key], str) else "right")
    view.add_column("95% CI", justify="right")
    for row in table:
        cells = [f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in keys]
        view.add_row(*cells, f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]")
    console.print(view)


def curves(table: list[dict[str, Any]], line: str, x: str) -> dict[str, tuple[list, list, list, list]]:
    """{line value: (xs, accuracies, ci lows, ci highs)} for `plots.plot_curves(..., bands=...)`."""
    out: dict[str, tuple[list, list, list, list]] = {}
    for row in sorted(table, key=lambda r: r[x]):
        xs, ys, lo, hi = out.setdefault(str(row[line]), ([], [], [], []))
        xs.append(row[x])
        ys.append(row["accuracy"])
        lo.append(row["ci_low"])
        hi.append(row["ci_high"])
    return out

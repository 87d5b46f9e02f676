"""What the dashboard shows, read from a runs/ folder: each run's curves, config, summary, pictures, samples.

    runs = find_runs(Path("runs"))                 # [RunEntry("charlm/lstm", ...), ...], newest first
    rows = curve_rows(runs[:2], "loss")            # [{"run": "charlm/lstm", "step": 10, "value": 2.3}, ...]

A run is any folder holding metrics.jsonl or summary.json (`llmlab.runs` writes both), at any depth, so the
roadmap's nested steps (runs/roadmap/charlm/gru) are runs too. Plain files only, no Streamlit here: the
app (app.py) draws what this module reads, and the tests read it without a browser.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_FILES = ("metrics.jsonl", "summary.json")
# folders that hold a run's weights or a tracker's own files, never another run: not walked (they can be big)
SKIP_DIRS = {"checkpoint", "checkpoint.old", "best", "tensorboard", "wandb", "trainer", "hf_trainer",
             "adapter", "__pycache__", ".git"}
PICTURES = (".png", ".jpg", ".jpeg", ".svg", ".gif")
TRACKER = Path("roadmap") / "PROGRESS.md"


@dataclass
class RunEntry:
    name: str                       # the folder relative to the runs root: "charlm/lstm"
    path: Path
    modified: float                 # newest mtime of its run files: a live run moves to the top
    project: str = field(init=False)

    def __post_init__(self) -> None:
        self.project = self.name.split("/", 1)[0]

    def metrics(self) -> list[dict[str, Any]]:
        return read_rows(self.path / "metrics.jsonl")

    def samples(self) -> list[dict[str, Any]]:
        return read_rows(self.path / "samples.jsonl")

    def config(self) -> dict[str, Any] | None:
        return _read_json(self.path / "config.json")

    def summary(self) -> dict[str, Any] | None:
        return _read_json(self.path / "summary.json")

    def pictures(self) -> list[Path]:
        return sorted(p for p in self.path.iterdir() if p.suffix.lower() in PICTURES and p.is_file())

    def pages(self) -> list[Path]:
        """Self-contained HTML pictures (attention views, reports)."""
        return sorted(p for p in self.path.glob("*.html") if p.is_file())


def find_runs(root: Path) -> list[RunEntry]:
    """Every run under `root`, the most recently written first."""
    found = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        marks = [f for f in RUN_FILES if f in files]
        if marks and Path(here) != root:
            folder = Path(here)
            modified = max((folder / f).stat().st_mtime for f in marks)
            found.append(RunEntry(folder.relative_to(root).as_posix(), folder, modified))
    return sorted(found, key=lambda r: (-r.modified, r.name))


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file. RunFolder.metrics() is strict; here a run may be training while it is read,
    so a last line still being written (no newline yet, or cut JSON) is left for the next refresh."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    rows = []
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines) - 1:      # a broken line in the middle is a broken file: say so
                raise
    return rows


def metric_names(runs: list[RunEntry]) -> list[str]:
    """Every numeric key of the runs' metrics (step aside), loss and val_loss first."""
    names: dict[str, None] = {}
    for run in runs:
        for row in run.metrics():
            names.update((k, None) for k, v in row.items() if k != "step" and _is_number(v))
    first = [n for n in ("loss", "val_loss") if n in names]
    return first + sorted(n for n in names if n not in first)


def curve_rows(runs: list[RunEntry], metric: str) -> list[dict[str, Any]]:
    """One curve per run in long form (run, step, value): the rows that carry `metric`, in step order."""
    rows = []
    for run in runs:
        points = sorted((row["step"], row[metric]) for row in run.metrics()
                        if _is_number(row.get(metric)) and "step" in row)
        rows += [{"run": run.name, "step": step, "value": value} for step, value in points]
    return rows


def tracker_text(root: Path) -> str | None:
    """The roadmap's tracker table (runs/roadmap/PROGRESS.md, written by `llmlab roadmap`), if any."""
    path = root / TRACKER
    return path.read_text(encoding="utf-8") if path.exists() else None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    except json.JSONDecodeError:
        return None          # being rewritten (the writers rename into place, but a copy may be mid-way)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)

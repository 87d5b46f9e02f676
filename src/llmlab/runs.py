"""Run folders: `runs/<project>/<name>/` with config.json, metrics.jsonl, summary.json and pictures.

    run = RunFolder.create("charlm", name="lstm", out=None)
    run.save_config(cfg); run.log({"step": 10, "loss": 2.3}); run.save_summary({"best_val_loss": 1.9})

Every command that measures something writes its headline figures to summary.json, which
`llmlab roadmap` reads to fill the tracker.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlab.config import config_dict

RUNS_ROOT_ENV = "LLMLAB_RUNS"


def runs_root() -> Path:
    return Path(os.environ.get(RUNS_ROOT_ENV, "runs"))


def jsonable(value: Any) -> Any:
    """Floats that JSON cannot hold (nan, inf) become null so every file stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return jsonable(value.item())
    return value


@dataclass
class RunFolder:
    path: Path

    @classmethod
    def create(cls, project: str, name: str | None = None, out: str | Path | None = None) -> RunFolder:
        """`out` wins when given; else runs/<project>/<name or a timestamp>."""
        path = Path(out) if out else runs_root() / project / (name or time.strftime("%Y%m%d-%H%M%S"))
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def save_config(self, cfg: Any) -> Path:
        return self._write_json("config.json", config_dict(cfg))

    def log(self, row: dict[str, Any]) -> None:
        """Append one row to metrics.jsonl (train rows carry `step` and `loss`, eval rows `val_loss`)."""
        with open(self.file("metrics.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(jsonable(row)) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        path = self.file("metrics.jsonl")
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def save_summary(self, summary: dict[str, Any]) -> Path:
        return self._write_json("summary.json", summary)

    def summary(self) -> dict[str, Any] | None:
        return read_summary(self.path)

    def _write_json(self, name: str, data: dict[str, Any]) -> Path:
        # Write then rename, so a crash never leaves half a JSON file behind.
        target = self.file(name)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(jsonable(data), indent=2) + "\n", encoding="utf-8")
        tmp.replace(target)
        return target


def read_summary(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / "summary.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))

"""Run folders: `runs/<project>/<name>/` with config.json, metrics.jsonl, summary.json and pictures.

    run = RunFolder.create("charlm", name="lstm", out=None)
    run.save_config(cfg); run.log({"step": 10, "loss": 2.3}); run.save_summary({"best_val_loss": 1.9})

Every command that measures something writes its headline figures to summary.json, which
`llmlab roadmap` reads to fill the tracker. A folder is made only when something is written into it, so a
command that fails on its input leaves none behind. Names given on the command line (`--name`, `--session`,
`--memory`) pass `check_name`, and a trainer claims its folder with `RunFolder.start`, which refuses to
replace an earlier run unless told to (`--resume` continues it, `--overwrite` replaces it).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmlab.config import config_dict
from llmlab.errors import LabError

RUNS_ROOT_ENV = "LLMLAB_RUNS"
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAME_HINT = "use letters, digits, '.', '_' or '-' (at most 100), starting with a letter or digit"
# what only a run leaves behind: --overwrite empties a folder holding one of these, and refuses any other
RUN_MARKERS = ("metrics.jsonl", "summary.json", "checkpoint", "checkpoint.old")


def runs_root() -> Path:
    return Path(os.environ.get(RUNS_ROOT_ENV, "runs"))


def check_name(name: str, what: str = "run name") -> str:
    """`name` if it is one plain folder name, else a LabError. Names become folders under runs/, so a '/',
    '..', an absolute path or a control character would write outside it; fullmatch, because re.match's `$`
    also accepts a trailing newline ("ada\\n")."""
    if not isinstance(name, str) or not NAME_RULE.fullmatch(name):
        raise LabError(f"{name!r} is not a usable {what}",
                       hint=NAME_HINT + "; to write anywhere else give --out DIR")
    return name


def slug(text: str, default: str = "run") -> str:
    """A usable name made from any text (a corpus path, a model id): 'my corpus.txt' -> 'my-corpus.txt'."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).lstrip("._-")[:100].rstrip("-")
    return name or default


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` through a uniquely named temporary file and a rename, so a reader or a crash
    sees the old file or the new one, never half of one (and two writers never share a temporary file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resume_command() -> str | None:
    """The command line that continues the running command's run: its own options as given, `--overwrite`
    dropped, `--resume` added (None outside a command). Built from the parsed options, so it is right however
    the command was launched."""
    import importlib

    ctx = None
    for module in ("typer._click.globals", "click"):     # recent typer runs its own copy of click and context
        with contextlib.suppress(ImportError):
            ctx = ctx or importlib.import_module(module).get_current_context(silent=True)
    if ctx is None:
        return None
    parts = ctx.command_path.split()
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if param.name in ("resume", "overwrite") or value is None or value == param.default or value == ():
            continue
        if param.param_type_name == "argument":
            parts.append(str(value))
            continue
        flag = max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            if value:
                parts.append(flag)
            elif param.secondary_opts:
                parts.append(max(param.secondary_opts, key=len))
        else:
            parts += [
                item
                for v in (value if getattr(param, "multiple", False) else [value])
                for item in (flag, str(v))
            ]
    return shlex.join(parts + ["--resume"])


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
    # set by claim(overwrite=True): the earlier run is deleted at this run's first write, so a command that
    # fails before it has anything to write leaves the earlier run whole
    replacing: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def create(cls, project: str, name: str | None = None, out: str | Path | None = None) -> RunFolder:
        """`out` wins when given; else runs/<project>/<name or a timestamp>. The folder appears on the first
        write."""
        if out:
            return cls(Path(out))
        return cls(runs_root() / project / (check_name(name) if name else time.strftime("%Y%m%d-%H%M%S")))

    @classmethod
    def start(cls, project: str, name: str | None = None, out: str | Path | None = None, *,
              resume: bool = False,
              overwrite: bool = False) -> RunFolder:
        """The folder of a training run: `create`, then `claim` it (refuse an earlier run unless
        resume/overwrite)."""
        run = cls.create(project, name, out)
        run.claim(resume=resume, overwrite=overwrite)
        return run

    def claim(self, resume: bool = False, overwrite: bool = False, clear: bool = True) -> None:
        """The one rule for starting a run in a folder. An empty or new folder is fine; one that already holds
        a run needs `resume` (continue it) or `overwrite` (replace it: the earlier run is deleted at the first
        write, unless `clear` is False for a caller that replaces its outputs itself); `resume` needs a run to
        continue."""
        if resume and overwrite:
            raise LabError("--resume and --overwrite contradict each other",
                           hint="--resume continues the run in the folder, --overwrite replaces it: give one")
        earlier = sorted(p.name for p in self.path.iterdir()) if self.path.is_dir() else []
        if resume:
            if not earlier:
                raise LabError(f"nothing to resume: {self.path} holds no run",
                               hint="drop --resume to start a new run, or point --out / --name at the run to "
                                    "continue")
            return
        if not earlier:
            return
        shown = ", ".join(earlier[:4]) + (", ..." if len(earlier) > 4 else "")
        if not overwrite:
            raise LabError(f"{self.path} already holds a run ({shown})",
                           hint="continue it with --resume, replace it with --overwrite, or choose another "
                                "--out / --name")
        if not any((self.path / marker).exists() for marker in RUN_MARKERS):
            raise LabError(f"{self.path} holds files that are not an llmlab run ({shown}); --overwrite "
                           f"deletes only runs",
                           hint="choose a new or empty folder with --out")
        self.replacing = clear

    def file(self, name: str) -> Path:
        """Where to write `name` in this run (the folder is created here, on the first write)."""
        if self.replacing:
            self.replacing = False
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path / name

    def save_config(self, cfg: Any) -> Path:
        return self._write_json("config.json", config_dict(cfg))

    def log(self, row: dict[str, Any]) -> None:
        """Append one row to metrics.jsonl (train rows carry `step` and `loss`, eval rows `val_loss`)."""
        with open(self.file("metrics.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(jsonable(row)) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        path = self.path / "metrics.jsonl"
        if self.replacing or not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def save_summary(self, summary: dict[str, Any]) -> Path:
        return self._write_json("summary.json", summary)

    def summary(self) -> dict[str, Any] | None:
        return None if self.replacing else read_summary(self.path)

    def _write_json(self, name: str, data: dict[str, Any]) -> Path:
        # Write then rename, so a crash never leaves half a JSON file behind.
        target = self.file(name)
        write_text_atomic(target, json.dumps(jsonable(data), indent=2) + "\n")
        return target


def read_summary(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / "summary.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))

"""Run the roadmap's steps, one after another, each isolated from the others' failures.

A step is `run(ctx) -> summary`; the summary's `checks` ({name: bool}) decide the status:
passed (☑) only when the step ran and every one of at least one check held. Every outcome is recorded in
`<out>/<key>/summary.json` with its status, date and mode, so a partial run (`--only`) shows the other
projects' last recorded results, marked as earlier ones, instead of forgetting them.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmlab.projects import PROJECTS, Project
from llmlab.runs import RunFolder, read_summary

PASSED, FAILED, NOT_BUILT, NOT_RUN, NO_SUMMARY = "passed", "failed", "not built yet", "not run", "no summary"
# what the runner adds to a step's summary; the rest is the step's own
RECORD_KEYS = ("status", "seconds", "finished", "mode", "error")


@dataclass
class StepContext:
    """What a step gets: where to write, how long to take, and a seed.

    `smoke` shrinks a quick run to seconds (a few training steps, a few evaluation items) so a test can run
    every stage of the step and check what it wrote; the checks that need a trained model need not hold then.
    """
    project: Project
    out: Path
    quick: bool = True
    seed: int = 0
    smoke: bool = False

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.out)


@dataclass
class StepResult:
    project: Project
    status: str
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    finished: str = ""      # "YYYY-MM-DD HH:MM" when the step ended
    mode: str = ""          # "quick" or "full"
    earlier: bool = False   # True: recorded by an earlier invocation, not run in this one

    @property
    def checked(self) -> bool:
        return self.status == PASSED


def load_step(project: Project) -> Callable[[StepContext], dict] | None:
    """The step function, or None when the project's module does not exist yet."""
    module_name, _, func = project.step.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the step's own module (or its package) missing means "not built"; a missing
        # dependency inside a built project is a failure and must be reported as one.
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return None
        raise
    return getattr(module, func)


def judge(summary: dict[str, Any] | None) -> str:
    if not summary:
        return NO_SUMMARY
    checks = summary.get("checks") or {}
    if not checks:
        return NO_SUMMARY
    return PASSED if all(bool(v) for v in checks.values()) else FAILED


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M")


def run_step(project: Project, out_root: Path, quick: bool, seed: int = 0,
             log: Callable[[str], None] = print, smoke: bool = False) -> StepResult:
    out = out_root / project.key
    mode = "smoke" if smoke else "quick" if quick else "full"
    start = time.perf_counter()
    try:
        step = load_step(project)
        if step is None:
            return StepResult(project, NOT_BUILT)
        out.mkdir(parents=True, exist_ok=True)
        summary = step(StepContext(project, out, quick=quick, seed=seed, smoke=smoke))
    except Exception as exc:  # a failing step must not stop the others
        seconds = time.perf_counter() - start
        message = f"{type(exc).__name__}: {exc}"
        log(f"[{project.key}] failed after {seconds:.1f}s: {message}")
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        result = StepResult(project, FAILED, seconds, {}, message, _now(), mode)
        _record(result, out)
        return result
    seconds = time.perf_counter() - start
    status = judge(summary)
    failed = [k for k, v in (summary or {}).get("checks", {}).items() if not v]
    result = StepResult(project, status, seconds, summary or {},
                        "checks failed: " + ", ".join(failed) if failed else "", _now(), mode)
    _record(result, out)
    return result


def _record(result: StepResult, out: Path) -> None:
    """The step's summary plus how it went; a failure replaces an older pass, which must not be carried."""
    RunFolder(out).save_summary({**result.summary, "status": result.status, "seconds": round(result.seconds,
                                                                                             2),
                                 "finished": result.finished, "mode": result.mode, "error": result.error})


def earlier_result(project: Project, out_root: Path) -> StepResult:
    """The last recorded outcome of a project not run now, or NOT_RUN when there is none."""
    folder = out_root / project.key
    try:
        record = read_summary(folder)
    except ValueError:                         # not JSON: not a record this runner wrote
        record = None
    if not isinstance(record, dict) or record.get("status") not in (PASSED, FAILED, NO_SUMMARY):
        return StepResult(project, NOT_RUN)    # nothing, or a summary the runner did not write
    # records from before dates were kept are dated by their file
    finished = record.get("finished") or time.strftime(
        "%Y-%m-%d %H:%M", time.localtime((folder / "summary.json").stat().st_mtime)
    )
    summary = {k: v for k, v in record.items() if k not in RECORD_KEYS}
    return StepResult(project, record["status"], float(record.get("seconds") or 0.0), summary,
                      record.get("error") or "", finished, record.get("mode") or "", earlier=True)


def run_roadmap(out_root: Path, quick: bool = True, only: list[str] | None = None, seed: int = 0,
                projects: list[Project] | None = None, log: Callable[[str],
                                                                     None] = print) -> list[StepResult]:
    projects = PROJECTS if projects is None else projects
    results = []
    for project in projects:
        if only and project.key not in only:
            results.append(earlier_result(project, out_root))
            continue
        log(f"[{project.key}] {project.title} …")
        result = run_step(project, out_root, quick, seed, log)
        log(f"[{project.key}] {result.status} ({result.seconds:.1f}s)"
            + (f" — {result.summary.get('headline')}" if result.summary.get("headline") else ""))
        results.append(result)
    return results

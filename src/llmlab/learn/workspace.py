"""The learner's workspace: the exercise files of each project and their progress tracker.

    ./llmlab-workspace/
        PROGRESS.md            | Project | Status | Notes |   (the roadmap's own format; ☑ = every exercise
        passes) progress.json          what `check` and `run --mine` measured, and the learner's notes
        transformer/           softmax.py, layernorm.py, ... and README.md
Nothing here is ever overwritten without --force, and --force keeps the old file as <name>.bak.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from llmlab.errors import LabError
from llmlab.learn.catalog import LearnProject, projects

DEFAULT_DIR = "llmlab-workspace"
WORKSPACE_ENV = "LLMLAB_WORKSPACE"


def default_root() -> Path:
    return Path(os.environ.get(WORKSPACE_ENV, DEFAULT_DIR))


def project_dir(root: Path, proj: LearnProject) -> Path:
    return Path(root) / proj.key


def readme_text(proj: LearnProject) -> str:
    lines = [f"# {proj.title}: exercises", "",
             f"Do them in this order. Each file has the real signatures and a docstring with the math, the "
             f"shapes and a worked example; replace each `raise NotImplementedError` with your code, then "
             f"run "
             f"`llmlab learn check {proj.key}` (or `llmlab learn check {proj.key} EXERCISE`).", "",
             "| # | exercise | file | teaches | difficulty |", "|---|---|---|---|---|"]
    for i, ex in enumerate(proj.exercises, start=1):
        lines.append(f"| {i} | {ex.name} | `{ex.stub}` | {ex.teaches} | {'★' * ex.difficulty} |")
    lines += ["", f"Stuck? `llmlab learn hint {proj.key} EXERCISE --level 1` (up to 3), or "
              f"`llmlab learn solution {proj.key} EXERCISE` for llmlab's own code.",
              f"When pieces pass, `llmlab learn run {proj.key} --mine` runs the real pipeline with them.",
              f"How llmlab builds this project: {proj.doc} (in the llmlab repository).", ""]
    return "\n".join(lines)


def start(root: Path, proj: LearnProject, force: bool = False) -> list[Path]:
    """Write the project's stubs and README; refuse to overwrite (or, with force, keep a .bak)."""
    folder = project_dir(root, proj)
    files = {ex.stub: proj.stub_text(ex) for ex in proj.exercises}
    files["README.md"] = readme_text(proj)
    existing = [folder / name for name in files if (folder / name).exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise LabError(f"{names} already exist{'s' if len(existing) == 1 else ''} — your work is not "
                       f"overwritten",
                       hint="pass --force to write fresh stubs (each old file is kept as <name>.bak), "
                            "or --dir to start somewhere else")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = folder / name
        if path.exists():
            if path.read_text(encoding="utf-8") == text:
                continue                      # unchanged stub: nothing to keep
            shutil.copy2(path, path.with_name(path.name + ".bak"))
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# ---- the tracker ------------------------------------------------------------------------------------
def load_progress(root: Path) -> dict:
    path = Path(root) / "progress.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LabError(f"{path} is not valid JSON ({exc})",
                       hint="fix or delete it; PROGRESS.md is rebuilt from it on the next check") from None


def save_progress(root: Path, progress: dict) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "progress.json").write_text(json.dumps(progress, indent=2, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    return write_tracker(root, progress)


def record_check(root: Path, proj: LearnProject, verdicts) -> Path:
    progress = load_progress(root)
    entry = progress.setdefault(proj.key, {})
    results = entry.setdefault("exercises", {})
    for v in verdicts:
        results[v.exercise] = {"passed": v.passed, "message": v.message.splitlines()[0] if v.message else "",
                               "seconds": round(v.seconds, 2), "checked": time.strftime("%Y-%m-%d %H:%M")}
    return save_progress(root, progress)


def record_run(root: Path, proj: LearnProject, measured: str) -> Path:
    progress = load_progress(root)
    progress.setdefault(proj.key, {})["run"] = {"measured": measured, "when": time.strftime("%Y-%m-%d %H:%M")}
    return save_progress(root, progress)


def add_note(root: Path, proj: LearnProject, text: str) -> Path:
    if not text.strip():
        raise LabError("the note is empty",
                       hint='write it in quotes: llmlab learn note transformer "my words"')
    progress = load_progress(root)
    progress.setdefault(proj.key, {}).setdefault("notes", []).append(text.strip())
    return save_progress(root, progress)


def passed_count(progress: dict, proj: LearnProject) -> int:
    results = progress.get(proj.key, {}).get("exercises", {})
    return sum(bool(results.get(ex.name, {}).get("passed")) for ex in proj.exercises)


def tracker_rows(progress: dict) -> list[tuple[str, str, str]]:
    """(Project, ☑/☐, Notes) for each of the roadmap's twelve rows, in its order: a row's learn project with
    notes = the learner's own + what was measured, or "no exercises yet" for a project that has none."""
    # the rows are the roadmap's, written once; llmlab.projects is data only (it imports nothing)
    from llmlab.projects import PROJECTS as ROADMAP

    keys = {row.key for row in ROADMAP}
    rows = []
    for row in ROADMAP:
        mine = [_row(progress, proj) for proj in projects() if proj.roadmap_key == row.key]
        rows += mine or [(row.title, "☐", "no exercises yet")]
    return rows + [_row(progress, proj) for proj in projects() if proj.roadmap_key not in keys]


def _row(progress: dict, proj: LearnProject) -> tuple[str, str, str]:
    entry = progress.get(proj.key, {})
    done = passed_count(progress, proj)
    total = len(proj.exercises)
    notes = list(entry.get("notes", []))
    if entry.get("exercises"):
        notes.append(f"{done}/{total} exercises pass")
    if entry.get("run"):
        notes.append(entry["run"]["measured"])
    return proj.title, "☑" if done == total else "☐", "; ".join(notes) or "not started"


def tracker_table(progress: dict) -> str:
    lines = ["| Project | Status | Notes |", "|--------|--------|-------|"]
    for title, mark, notes in tracker_rows(progress):
        lines.append(f"| {title} | {mark} | {notes.replace('|', chr(92) + '|').replace(chr(10), ' ')} |")
    return "\n".join(lines)


def write_tracker(root: Path, progress: dict) -> Path:
    path = Path(root) / "PROGRESS.md"
    text = ("# My llmlab progress\n\nKept by `llmlab learn` (check, run --mine, note); ☑ when every exercise "
            "of the project passes.\n\n" + tracker_table(progress) + "\n")
    path.write_text(text, encoding="utf-8")
    return path

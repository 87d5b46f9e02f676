"""`llmlab learn check`: import each of the learner's files and grade it; the verdicts go into the tracker.

    verdicts, modules = check_project(Path("llmlab-workspace"), project("transformer"))
`modules[name]` is the learner's imported module for every exercise that passed, which is what
`run --mine` swaps into the real pipeline.
"""

from __future__ import annotations

from pathlib import Path

from llmlab.errors import LabError
from llmlab.learn.catalog import Exercise, LearnProject
from llmlab.learn.grading import Verdict, run_grader
from llmlab.learn.learner_code import LearnerCodeError, load_module
from llmlab.learn.workspace import project_dir


def check_exercise(root: Path, proj: LearnProject, ex: Exercise) -> tuple[Verdict, object | None]:
    folder = project_dir(root, proj)
    path = folder / ex.stub
    if not path.exists():
        return Verdict(ex.name, False, f"{path} does not exist — run `llmlab learn start {proj.key}`"), None
    try:
        module = load_module(path)
    except LearnerCodeError as exc:
        return Verdict(ex.name, False, exc.message), None
    verdict = run_grader(ex, module, folder)
    return verdict, module if verdict.passed else None


def check_project(root: Path, proj: LearnProject, only: str | None = None) -> tuple[list[Verdict], dict]:
    if not project_dir(root, proj).exists():
        raise LabError(f"no exercises of {proj.key!r} in {root}",
                       hint=f"run `llmlab learn start {proj.key}` first (or pass --dir to where you started)")
    exercises = [proj.exercise(only)] if only else list(proj.exercises)
    verdicts, modules = [], {}
    for ex in exercises:
        verdict, module = check_exercise(root, proj, ex)
        verdicts.append(verdict)
        if module is not None:
            modules[ex.name] = module
    return verdicts, modules

"""Shared by the learn tests: write an exercise file (stub, llmlab's own code, or a planted bug) and grade it."""

from __future__ import annotations

from pathlib import Path

from llmlab.learn.catalog import project
from llmlab.learn.check import check_exercise
from llmlab.learn.workspace import project_dir


def grade_text(root: Path, project_key: str, exercise: str, text: str):
    """Write `text` as the exercise's file in a workspace under root and grade it: the Verdict."""
    proj = project(project_key)
    ex = proj.exercise(exercise)
    folder = project_dir(root, proj)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ex.stub).write_text(text, encoding="utf-8")
    verdict, _ = check_exercise(root, proj, ex)
    return verdict


def planted(project_key: str, exercise: str, old: str, new: str, every: bool = False) -> str:
    """llmlab's own solution with one bug planted (old must occur, so a changed source fails loudly);
    `every` replaces every occurrence instead of the first."""
    proj = project(project_key)
    text = proj.solved_text(proj.exercise(exercise))
    assert old in text, f"the planted bug's anchor {old!r} is not in the solution of {exercise}"
    return text.replace(old, new) if every else text.replace(old, new, 1)

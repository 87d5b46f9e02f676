"""Shared by the learn tests: write an exercise file (stub, llmlab's own code, or a planted bug) and grade
it."""

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


def contract_tests(project_key: str, bugs: dict[str, list[tuple]]):
    """The four tests every project's exercises owe, written once: each exercise has two planted bugs or
    more; llmlab's own code passes its grader; the untouched stub fails saying so; every planted bug fails.
    A bug is (what it imitates, old, new[, every]). A test file binds them to module-level test names."""
    import pytest

    proj = project(project_key)
    names = [ex.name for ex in proj.exercises]
    cases = [(n, b) for n, bs in bugs.items() for b in bs]

    def test_every_exercise_has_at_least_two_planted_bugs():
        assert sorted(bugs) == sorted(names)
        assert all(len(b) >= 2 for b in bugs.values())

    @pytest.mark.parametrize("name", names)
    def test_llmlabs_own_code_passes(tmp_path, name):
        verdict = grade_text(tmp_path, project_key, name, proj.solved_text(proj.exercise(name)))
        assert verdict.passed, verdict.message

    @pytest.mark.parametrize("name", names)
    def test_the_untouched_stub_fails_clearly(tmp_path, name):
        ex = proj.exercise(name)
        verdict = grade_text(tmp_path, project_key, name, proj.stub_text(ex))
        assert not verdict.passed
        assert verdict.message.startswith("not written yet:") and f"({ex.stub}:" in verdict.message

    @pytest.mark.parametrize(("name", "bug"), cases, ids=[f"{n}: {b[0]}" for n, b in cases])
    def test_a_planted_bug_fails(tmp_path, name, bug):
        _, old, new, *every = bug
        verdict = grade_text(tmp_path, project_key, name, planted(project_key, name, old, new, *every))
        assert not verdict.passed, f"the grader of {name} passed a bug: {bug[0]}"
        assert verdict.message

    return (test_every_exercise_has_at_least_two_planted_bugs, test_llmlabs_own_code_passes,
            test_the_untouched_stub_fails_clearly, test_a_planted_bug_fails)

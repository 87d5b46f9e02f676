"""`llmlab learn`: start never overwrites, check reports the learner's own file:line, hints, solutions,
and the learner's tracker in the roadmap's format."""

import inspect

import pytest

from llmlab.cli import main
from llmlab.learn.catalog import project
from llmlab.numpy_transformer.activations import softmax_


@pytest.fixture()
def ws(tmp_path):
    assert main(["learn", "start", "transformer", "--dir", str(tmp_path)]) == 0
    return tmp_path


def test_list_shows_every_project_and_exercise(capsys):
    assert main(["learn", "list"]) == 0
    out = capsys.readouterr().out
    for ex in project("transformer").exercises:
        assert ex.name in out and ex.teaches in out


def test_start_writes_stubs_and_a_readme_and_never_overwrites(ws, capsys):
    folder = ws / "transformer"
    assert (folder / "README.md").exists()
    assert "raise NotImplementedError" in (folder / "softmax.py").read_text()
    (folder / "softmax.py").write_text("# my work\n")
    assert main(["learn", "start", "transformer", "--dir", str(ws)]) == 2
    err = capsys.readouterr().err
    assert "softmax.py" in err and "--force" in err
    assert (folder / "softmax.py").read_text() == "# my work\n"
    assert main(["learn", "start", "transformer", "--dir", str(ws), "--force"]) == 0
    assert (folder / "softmax.py.bak").read_text() == "# my work\n"
    assert "raise NotImplementedError" in (folder / "softmax.py").read_text()


def test_check_shows_the_learners_syntax_error_as_file_line(ws, capsys):
    (ws / "transformer" / "gelu.py").write_text("import numpy as np\n\nclass GELU:\n    def forward(self, "
                                                "x)\n        return x\n")
    assert main(["learn", "check", "transformer", "gelu", "--dir", str(ws)]) == 1
    out = capsys.readouterr().out
    assert "✗ gelu" in out and "gelu.py:4: SyntaxError" in out
    assert "Traceback" not in out


def test_check_shows_the_learners_exception_at_their_line_not_llmlabs(ws, capsys):
    text = project("transformer").stub_text(project("transformer").exercise("softmax"))
    text = text.replace('raise NotImplementedError("softmax_")', "return z / undefined_name", 1)
    (ws / "transformer" / "softmax.py").write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "undefined_name" in t)
    assert main(["learn", "check", "transformer", "softmax", "--dir", str(ws)]) == 1
    out = capsys.readouterr().out
    assert f"softmax.py:{line} in softmax_: NameError" in out
    assert "site-packages" not in out and "grading.py" not in out


def test_a_failing_then_passing_check_updates_the_tracker(ws, capsys):
    proj = project("transformer")
    assert main(["learn", "check", "transformer", "--dir", str(ws)]) == 1
    assert "0/7 exercises pass" in (ws / "PROGRESS.md").read_text()
    for ex in proj.exercises:
        (ws / "transformer" / ex.stub).write_text(proj.solved_text(ex))
    capsys.readouterr()
    assert main(["learn", "check", "transformer", "--dir", str(ws)]) == 0
    assert capsys.readouterr().out.count("✓") == 7
    assert main(["learn", "note", "transformer", "LayerNorm backward took an hour", "--dir", str(ws)]) == 0
    table = (ws / "PROGRESS.md").read_text()
    assert "| Project | Status | Notes |" in table
    assert "| Transformer from scratch | ☑ | LayerNorm backward took an hour; 7/7 exercises pass |" in table
    capsys.readouterr()
    assert main(["learn", "status", "--dir", str(ws)]) == 0
    assert "| Transformer from scratch | ☑ |" in capsys.readouterr().out


def test_hints_go_from_a_nudge_to_nearly_the_answer(capsys):
    ex = project("transformer").exercise("adamw")
    for level in (1, 2, 3):
        assert main(["learn", "hint", "transformer", "adamw", "--level", str(level)]) == 0
        assert ex.hints[level - 1] in capsys.readouterr().out
    assert main(["learn", "hint", "transformer", "adamw", "--level", "4"]) == 2


def test_solution_is_read_from_the_package(capsys):
    assert main(["learn", "solution", "transformer", "softmax"]) == 0
    assert inspect.getsource(softmax_) in capsys.readouterr().out


def test_unknown_project_or_exercise_is_a_lab_error(capsys):
    assert main(["learn", "hint", "nonsense", "x"]) == 2
    assert "no learn project 'nonsense'" in capsys.readouterr().err
    assert main(["learn", "hint", "transformer", "nonsense"]) == 2
    assert "softmax" in capsys.readouterr().err


def test_roadmap_shows_the_learners_tracker_from_the_default_workspace(tmp_path, monkeypatch, capsys):
    from llmlab.roadmap import runner

    monkeypatch.setattr(runner, "run_step", lambda p, *a, **k: runner.StepResult(p, runner.NOT_BUILT))
    monkeypatch.setenv("LLMLAB_WORKSPACE", str(tmp_path / "ws"))
    assert main(["roadmap", "--only", "tokenizer", "--out", str(tmp_path / "out")]) == 0
    assert "Your tracker" not in (tmp_path / "out" / "PROGRESS.md").read_text()   # no workspace: no table
    assert main(["learn", "note", "bpe", "merges finally make sense"]) == 0
    assert main(["roadmap", "--only", "tokenizer", "--out", str(tmp_path / "out")]) == 0
    table = (tmp_path / "out" / "PROGRESS.md").read_text()
    assert "## Your tracker (llmlab learn" in table and ("| BPE Tokenizer | ☐ | merges finally make sense "
                                                         "|") in table
    assert "merges finally make sense" in (tmp_path / "out" / "report.html").read_text()

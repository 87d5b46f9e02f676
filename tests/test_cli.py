import json
import subprocess
import sys

from llmlab.cli import main
from llmlab.roadmap import runner
from llmlab.roadmap.projects import PROJECTS


def test_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("data", "roadmap"):
        assert command in out


def test_data_info_json_offline(capsys):
    assert main(["data", "info", "python-docs", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["documents"] == 79 or info["documents"] > 50
    assert info["split"]["val_documents"] >= 1


def test_errors_are_one_line_with_a_hint_and_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "llmlab.cli", "data", "info", "/no/such/corpus"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: no corpus named") and "hint:" in proc.stderr


def test_debug_shows_the_traceback():
    proc = subprocess.run([sys.executable, "-m", "llmlab.cli", "--debug", "data", "info", "/no/such/corpus"],
                          capture_output=True, text=True)
    assert "Traceback" in proc.stderr


def test_roadmap_lists_all_twelve_projects(tmp_path, capsys, monkeypatch):
    # the steps themselves are tested in each project's tests; here only the table and the report
    monkeypatch.setattr(runner, "run_step", lambda project, *a, **k: runner.StepResult(project, runner.NOT_BUILT))
    code = main(["roadmap", "--out", str(tmp_path), "--json"])
    assert code == 0
    assert len(json.loads(capsys.readouterr().out)["projects"]) == 12
    table = (tmp_path / "PROGRESS.md").read_text()
    for project in PROJECTS:
        assert f"| {project.title} |" in table
    assert (tmp_path / "report.html").exists()


def test_roadmap_rejects_unknown_projects(capsys):
    assert main(["roadmap", "--only", "nonsense"]) == 2
    assert "unknown project" in capsys.readouterr().err


def test_roadmap_exits_non_zero_when_a_step_fails(tmp_path, monkeypatch, capsys):
    def failing(project, *a, **k):
        return runner.StepResult(project, runner.FAILED, error="boom")

    monkeypatch.setattr(runner, "run_step", failing)
    assert main(["roadmap", "--only", "tokenizer", "--out", str(tmp_path)]) == 1
    assert "FAILED: boom" in (tmp_path / "PROGRESS.md").read_text()

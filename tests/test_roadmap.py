import sys
import types

from llmlab.plots import plot_curves
from llmlab.roadmap.projects import Project
from llmlab.roadmap.runner import FAILED, NO_SUMMARY, NOT_BUILT, PASSED, run_roadmap
from llmlab.roadmap.tracker import write_progress, write_report


def _fake(monkeypatch, name, fn):
    module = types.ModuleType(name)
    module.run = fn
    monkeypatch.setitem(sys.modules, name, module)
    return Project(name.split("_")[-1], name.split("_")[-1].title(), name, f"{name}:run", "docs/x.md")


def test_failing_step_does_not_stop_the_others(tmp_path, monkeypatch):
    def boom(ctx):
        raise RuntimeError("exploded")

    def good(ctx):
        picture = plot_curves({"train": ([0, 1], [2.0, 1.0])}, ctx.out / "loss.png")
        return {"checks": {"loss falls": True}, "headline": "loss 1.0", "pictures": [picture.name]}

    projects = [
        _fake(monkeypatch, "fake_step_boom", boom),
        _fake(monkeypatch, "fake_step_good", good),
        _fake(monkeypatch, "fake_step_silent", lambda ctx: None),
        _fake(monkeypatch, "fake_step_unchecked", lambda ctx: {"checks": {}, "headline": "?"}),
        _fake(monkeypatch, "fake_step_falsecheck", lambda ctx: {"checks": {"a": True, "b": False}}),
        Project("missing", "Missing", "llmlab.no_such_project", "llmlab.no_such_project.roadmap_step:run", ""),
    ]
    results = run_roadmap(tmp_path, projects=projects, log=lambda m: None)
    assert [r.status for r in results] == [FAILED, PASSED, NO_SUMMARY, NO_SUMMARY, FAILED, NOT_BUILT]
    assert "exploded" in results[0].error
    assert (tmp_path / "boom" / "error.txt").exists()

    progress = write_progress(results, tmp_path / "PROGRESS.md", "quick").read_text()
    rows = {line.split("|")[1].strip(): line for line in progress.splitlines() if line.startswith("| ")}
    assert "☑" in rows["Good"] and "loss 1.0" in rows["Good"]
    for title in ("Boom", "Silent", "Unchecked", "Falsecheck", "Missing"):
        assert "☑" not in rows[title], title
    assert "FAILED" in rows["Boom"] and "not built yet" in rows["Missing"]

    report = write_report(results, tmp_path / "report.html", tmp_path, "quick").read_text()
    assert "data:image/png;base64," in report and "exploded" in report


def test_broken_dependency_inside_a_built_project_is_a_failure_not_missing(tmp_path, monkeypatch):
    def needs_missing_lib(ctx):
        import llmlab_definitely_missing_dependency  # noqa: F401

    project = _fake(monkeypatch, "fake_step_dep", needs_missing_lib)
    (result,) = run_roadmap(tmp_path, projects=[project], log=lambda m: None)
    assert result.status == FAILED

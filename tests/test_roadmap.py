import json
import sys
import types

from llmlab.plots import plot_curves
from llmlab.projects import Project
from llmlab.roadmap.report import write_report
from llmlab.roadmap.runner import FAILED, NO_SUMMARY, NOT_BUILT, NOT_RUN, PASSED, run_roadmap
from llmlab.roadmap.tracker import write_progress


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
        Project("missing", "Missing", "llmlab.no_such_project", "llmlab.no_such_project.roadmap_step:run",
                ""),
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


def _rows(progress_text):
    return {line.split("|")[1].strip(): line for line in progress_text.splitlines() if line.startswith("| ")}


def test_a_partial_run_keeps_every_other_projects_last_result(tmp_path, monkeypatch, capsys):
    """`llmlab roadmap --only serve` after a full run: the other projects keep their ☑, dated as earlier."""
    from llmlab.cli import main
    from llmlab.projects import PROJECTS
    from llmlab.roadmap import runner

    runs = {}

    def fake_load_step(project):
        def step(ctx):
            runs[project.key] = runs.get(project.key, 0) + 1
            return {"checks": {"ran": True}, "headline": f"{project.key} figure {runs[project.key]}",
                    "model": {"name": f"{project.key}-net", "params": 165_248}}
        return step

    monkeypatch.setattr(runner, "load_step", fake_load_step)
    assert main(["roadmap", "--out", str(tmp_path), "--json"]) == 0
    first = {p.key: (tmp_path / p.key / "summary.json").read_text() for p in PROJECTS}
    capsys.readouterr()

    assert main(["roadmap", "--only", "serve", "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert runs["serve"] == 2 and all(runs[p.key] == 1 for p in PROJECTS if p.key != "serve")
    rows = _rows((tmp_path / "PROGRESS.md").read_text())
    for p in PROJECTS:
        row, recorded = rows[p.title], json.loads(first[p.key])
        assert "☑" in row and "not run" not in row, row
        assert f"{p.key}-net, 165k params" in row                # the model actually used, by name and size
        if p.key == "serve":
            assert "serve figure 2" in row and "earlier" not in row
            assert summary["projects"]["serve"]["this_run"]
        else:
            assert f"{p.key} figure 1" in row and f"earlier quick run, {recorded['finished']}" in row
            assert not summary["projects"][p.key]["this_run"]
            assert (tmp_path / p.key / "summary.json").read_text() == first[p.key]   # left as it was
    assert f"{len(PROJECTS)} of {len(PROJECTS)} projects passed" in (tmp_path / "PROGRESS.md").read_text()
    report = (tmp_path / "report.html").read_text()
    assert "tokenizer figure 1" in report and "earlier quick run" in report


def test_a_failure_replaces_an_earlier_pass_and_unrecorded_folders_stay_not_run(tmp_path, monkeypatch):
    outcome = {"good": True}

    def flaky(ctx):
        if not outcome["good"]:
            raise RuntimeError("broke since")
        return {"checks": {"ok": True}, "headline": "fine"}

    a = _fake(monkeypatch, "fake_step_alpha", flaky)
    b = _fake(monkeypatch, "fake_step_beta", lambda ctx: {"checks": {"ok": True}, "headline": "beta"})
    c = _fake(monkeypatch, "fake_step_gamma", lambda ctx: {"checks": {"ok": True}})
    (tmp_path / "gamma").mkdir()
    # a module's own, not a record
    (tmp_path / "gamma" / "summary.json").write_text('{"best_val_loss": 1.0}')
    run_roadmap(tmp_path, projects=[a, b], log=lambda m: None)
    outcome["good"] = False
    assert run_roadmap(tmp_path, projects=[a, b], only=["alpha"], log=lambda m: None)[0].status == FAILED

    alpha, beta, gamma = run_roadmap(tmp_path, projects=[a, b, c], only=["beta"], log=lambda m: None)
    assert (alpha.status, alpha.earlier) == (FAILED, True) and "broke since" in alpha.error
    assert (beta.status, beta.earlier) == (PASSED, False)
    assert gamma.status == NOT_RUN
    rows = _rows(write_progress([alpha, beta, gamma], tmp_path / "PROGRESS.md", "quick").read_text())
    assert "☐" in rows["Alpha"] and "FAILED" in rows["Alpha"] and "earlier" in rows["Alpha"]
    assert "☐" in rows["Gamma"] and "not run" in rows["Gamma"]

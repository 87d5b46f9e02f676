"""`llmlab roadmap`: the main job — every project end to end, then the tracker and the report."""

from __future__ import annotations

from pathlib import Path

import typer

from llmlab.console import console, err_console, print_summary
from llmlab.errors import LabError


def roadmap(quick: bool = typer.Option(True, "--quick/--full",
                                       help="quick: minutes on a laptop; full: the real runs"),
            only: str = typer.Option("", "--only",
                                     help="comma-separated project keys, e.g. transformer,tokenizer"),
            out: Path = typer.Option(None, "--out", help="where PROGRESS.md, report.html and step folders go "
                                                         "[default: runs/roadmap, under $LLMLAB_RUNS when "
                                                         "set]"),
            seed: int = typer.Option(0, "--seed"),
            as_json: bool = typer.Option(False, "--json", help="print the results as JSON")) -> None:
    """Run every project's roadmap step and write PROGRESS.md and report.html."""
    from llmlab.projects import PROJECTS
    from llmlab.roadmap.report import write_report
    from llmlab.roadmap.runner import FAILED, run_roadmap
    from llmlab.roadmap.tracker import note_for, write_progress
    from llmlab.runs import runs_root

    out = out or runs_root() / "roadmap"
    keys = [k.strip() for k in only.split(",") if k.strip()]
    unknown = sorted(set(keys) - {p.key for p in PROJECTS})
    if unknown:
        raise LabError(f"unknown project(s) in --only: {', '.join(unknown)}",
                       hint="choose from " + ", ".join(p.key for p in PROJECTS))
    mode = "quick" if quick else "full"
    results = run_roadmap(out, quick=quick, only=keys, seed=seed, log=lambda m: err_console.print(m,
                                                                                                  markup=False))
    extra = _learner_tracker()
    progress = write_progress(results, out / "PROGRESS.md", mode, extra=extra)
    report = write_report(results, out / "report.html", out, mode, extra=extra)
    summary = {"mode": mode, "progress": str(progress), "report": str(report),
               "projects": {r.project.key: {"status": r.status, "seconds": round(r.seconds, 1),
                                            "note": note_for(r),
                                            "finished": r.finished, "this_run": not r.earlier}
                            for r in results}}
    if as_json:
        print_summary(summary, as_json=True)
    else:
        print(progress.read_text(encoding="utf-8"))
        console.print(f"report: {report}")
    if any(r.status == FAILED and not r.earlier for r in results):   # an earlier failure is not this run's
        raise typer.Exit(1)


def _learner_tracker() -> list:
    """The learner's own tracker (`llmlab learn`, default workspace) beside the lab's, when there is one."""
    from llmlab.learn.workspace import default_root, load_progress, tracker_table
    from llmlab.roadmap.tracker import ExtraTable

    root = default_root()
    progress = load_progress(root) if (root / "progress.json").exists() else {}
    return [ExtraTable(f"Your tracker (llmlab learn, {root})", tracker_table(progress))] if progress else []


def register(root: typer.Typer) -> None:
    """`llmlab roadmap`: one command, not a group."""
    root.command("roadmap")(roadmap)

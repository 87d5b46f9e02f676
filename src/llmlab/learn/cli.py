"""`llmlab learn ...`: build each piece yourself, have it graded against the reference libraries, run
the real pipeline on your code, and keep your own progress tracker.

    llmlab learn list
    llmlab learn start transformer                 # ./llmlab-workspace/transformer/*.py
    llmlab learn check transformer [softmax]       # ✓ / ✗ per exercise, the first failing case in words
    llmlab learn hint transformer softmax --level 2
    llmlab learn solution transformer softmax
    llmlab learn run transformer --mine            # the real training with your passing pieces
    llmlab learn status;  llmlab learn note transformer "LayerNorm backward took me an hour"
"""

from __future__ import annotations

from pathlib import Path

import typer

from llmlab.errors import LabError

app = typer.Typer(help="Learn by building: exercises graded against the reference libraries, run on the real "
                       "pipeline, with your own progress tracker.", no_args_is_help=True)

DIR_HELP = "the workspace [default: ./llmlab-workspace, or $LLMLAB_WORKSPACE]"
RUNNERS = {"transformer": "llmlab.learn.mine_transformer:run_mine",
           "tokenizer": "llmlab.learn.mine_tokenizer:run_mine",
           "charlm": "llmlab.learn.mine_charlm:run_mine",
           "finetune": "llmlab.learn.mine_finetune:run_mine",
           "chat": "llmlab.learn.mine_chat:run_mine",
           "attention": "llmlab.learn.mine_attention:run_mine",
           "rag": "llmlab.learn.mine_rag:run_mine",
           "serve": "llmlab.learn.mine_serve:run_mine",
           "agents": "llmlab.learn.mine_agents:run_mine",
           "cot": "llmlab.learn.mine_cot:run_mine",
           "icl": "llmlab.learn.mine_icl:run_mine"}


def _root(directory: Path | None) -> Path:
    from llmlab.learn.workspace import default_root

    return Path(directory) if directory else default_root()


@app.command("list")
def list_(directory: Path = typer.Option(None, "--dir", help=DIR_HELP)) -> None:
    """The projects and their exercises: what each teaches, its difficulty, and your status."""
    from llmlab.learn.catalog import projects
    from llmlab.learn.workspace import load_progress

    progress = load_progress(_root(directory))
    for proj in projects():
        results = progress.get(proj.key, {}).get("exercises", {})
        print(f"{proj.key} — {proj.title} ({len(proj.exercises)} exercises; llmlab learn start {proj.key})")
        for ex in proj.exercises:
            state = results.get(ex.name)
            mark = "✓" if state and state["passed"] else ("✗" if state else "·")
            print(f"  {mark} {ex.name:<14} {'★' * ex.difficulty:<3} {ex.title}: {ex.teaches}")
        print()


@app.command()
def start(project: str = typer.Argument(..., help="transformer, tokenizer (bpe), ..."),
          directory: Path = typer.Option(None, "--dir", help=DIR_HELP),
          force: bool = typer.Option(False, "--force",
                                     help="write fresh stubs; each changed file is kept as .bak")) -> None:
    """Write the project's exercise files (stubs raising NotImplementedError) and a README."""
    from llmlab.learn.catalog import project as find
    from llmlab.learn.workspace import project_dir
    from llmlab.learn.workspace import start as write

    proj = find(project)
    root = _root(directory)
    written = write(root, proj, force)
    folder = project_dir(root, proj)
    print(f"{len(written)} file(s) written in {folder}: " + ", ".join(p.name for p in written))
    print(f"next: open {folder / proj.exercises[0].stub}, replace each `raise NotImplementedError`, then "
          f"run\n"
          f"  llmlab learn check {proj.key}" + (f" --dir {root}" if directory else ""))


@app.command()
def check(project: str = typer.Argument(...), exercise: str = typer.Argument(None,
                                                                             help="one exercise (default: "
                                                                                  "all)"),
          directory: Path = typer.Option(None, "--dir", help=DIR_HELP)) -> None:
    """Grade your code with the checks llmlab's own implementation passes; exits 1 if any exercise fails."""
    from llmlab.learn.catalog import project as find
    from llmlab.learn.check import check_project
    from llmlab.learn.workspace import load_progress, passed_count, record_check

    proj = find(project)
    root = _root(directory)
    verdicts, _ = check_project(root, proj, exercise)
    for v in verdicts:
        lines = v.message.splitlines() or [""]
        print(f"{'✓' if v.passed else '✗'} {v.exercise:<14} {v.seconds:5.1f} s  {lines[0]}".rstrip())
        for line in lines[1:]:
            print(" " * 25 + line)
    record_check(root, proj, verdicts)
    done = passed_count(load_progress(root), proj)
    print(f"{proj.key}: {done}/{len(proj.exercises)} exercises pass (tracker: {root / 'PROGRESS.md'})")
    if not all(v.passed for v in verdicts):
        raise typer.Exit(1)


@app.command()
def hint(project: str = typer.Argument(...), exercise: str = typer.Argument(...),
         level: int = typer.Option(1, "--level", help="1 a nudge, 2 the idea, 3 nearly the answer")) -> None:
    """A hint, from a nudge (level 1) to nearly the answer (level 3)."""
    from llmlab.learn.catalog import project as find

    ex = find(project).exercise(exercise)
    if level not in (1, 2, 3):
        raise LabError(f"--level {level} is not a hint level", hint="use --level 1, 2 or 3")
    print(f"{ex.name}, hint {level}/3: {ex.hints[level - 1]}")
    if level < 3:
        print(f"(more: llmlab learn hint {project} {exercise} --level {level + 1})")


@app.command()
def solution(project: str = typer.Argument(...), exercise: str = typer.Argument(...)) -> None:
    """llmlab's own implementation of the piece, read from the package (the code llmlab's tests check)."""
    import inspect

    from llmlab.learn.catalog import project as find

    ex = find(project).exercise(exercise)
    for ref, obj in zip(ex.solutions, ex.solution_objects(), strict=True):
        print(f"# {ref.replace(':', '.')}  ({inspect.getsourcefile(obj)})")
        print(inspect.getsource(obj))


@app.command()
def run(project: str = typer.Argument(...), mine: bool = typer.Option(False, "--mine",
                                                                      help="use your passing pieces"),
        steps: int = typer.Option(60, "--steps", help="training steps (where the project trains)"),
        seed: int = typer.Option(0, "--seed"),
        directory: Path = typer.Option(None, "--dir", help=DIR_HELP)) -> None:
    """Run the project's real pipeline with your passing pieces in place of llmlab's, beside the reference."""
    from llmlab.learn.catalog import project as find
    from llmlab.learn.catalog import resolve
    from llmlab.learn.check import check_project
    from llmlab.learn.workspace import project_dir, record_check, record_run

    proj = find(project)
    if not mine:
        raise LabError("`learn run` runs your own code: pass --mine",
                       hint=f"llmlab learn run {proj.key} --mine (the reference alone is `llmlab "
                            f"{proj.roadmap_key} ...`)")
    if proj.key not in RUNNERS:
        raise LabError(f"`learn run` is not available for {proj.key!r} yet",
                       hint="available: " + ", ".join(RUNNERS))
    root = _root(directory)
    verdicts, modules = check_project(root, proj)
    record_check(root, proj, verdicts)
    for v in verdicts:
        print(
            f"  {'yours   ' if v.passed else 'llmlab’s'}  {v.exercise}"
            + ("" if v.passed else f"  ({v.message.splitlines()[0]})")
        )
    measured = resolve(RUNNERS[proj.key])(project_dir(root, proj), modules, steps=steps, seed=seed, log=print)
    record_run(root, proj, measured)


@app.command()
def status(directory: Path = typer.Option(None, "--dir", help=DIR_HELP)) -> None:
    """Your tracker: | Project | Status | Notes |, ☑ when every exercise of a project passes."""
    from llmlab.learn.workspace import load_progress, tracker_table, write_tracker

    root = _root(directory)
    progress = load_progress(root)
    print(tracker_table(progress))
    if progress:
        print(f"\n(kept in {write_tracker(root, progress)})")


@app.command()
def note(project: str = typer.Argument(...), text: str = typer.Argument(..., help="your note, in quotes"),
         directory: Path = typer.Option(None, "--dir", help=DIR_HELP)) -> None:
    """Add a note to a project's row of your tracker."""
    from llmlab.learn.catalog import project as find
    from llmlab.learn.workspace import add_note

    path = add_note(_root(directory), find(project), text)
    print(f"noted in {path}")


def register(root: typer.Typer) -> None:
    """Plug `llmlab learn ...` into the root command."""
    root.add_typer(app, name="learn")

"""The whole roadmap as exercises: `llmlab learn status` shows the roadmap's twelve rows in its order, and a
learner who copies llmlab's own solutions into a fresh workspace (`learn start`, each solution file written,
`learn check`) gets ☑ on every project the registry lists — whatever projects it lists, so a project added
later is covered."""

from llmlab.cli import main
from llmlab.learn.catalog import projects
from llmlab.projects import PROJECTS as ROADMAP


def _rows(out: str) -> list[tuple[str, str, str]]:
    lines = [line for line in out.splitlines() if line.startswith("| ")][1:]      # without the header
    return [tuple(cell.strip() for cell in line.strip().strip("|").split(" | ")) for line in lines]


def _status(root, capsys) -> list[tuple[str, str, str]]:
    capsys.readouterr()
    assert main(["learn", "status", "--dir", str(root)]) == 0
    return _rows(capsys.readouterr().out)


def test_status_shows_the_twelve_roadmap_rows_in_order(tmp_path, capsys):
    rows = _status(tmp_path, capsys)
    assert len(ROADMAP) == 12 and [title for title, _, _ in rows] == [p.title for p in ROADMAP]
    with_exercises = {p.roadmap_key for p in projects()}
    for row, (title, mark, notes) in zip(ROADMAP, rows, strict=True):
        assert mark == "☐"
        assert notes == ("not started" if row.key in with_exercises else "no exercises yet"), title


def test_a_project_without_exercises_says_so_and_never_ticks(tmp_path, capsys, monkeypatch):
    from llmlab.learn import projects as registry

    monkeypatch.setattr(registry, "PROJECTS", [p for p in registry.PROJECTS if p.key != "cot"])
    rows = dict((title, (mark, notes)) for title, mark, notes in _status(tmp_path, capsys))
    assert rows["Chain-of-Thought Prompting"] == ("☐", "no exercises yet") and len(rows) == 12


def test_llmlabs_own_solutions_give_a_tick_on_every_project(tmp_path, capsys):
    """Runs every grader of every project once: about 30 s on the 2-core test machine for all twelve."""
    registered = projects()
    for proj in registered:
        assert main(["learn", "start", proj.key, "--dir", str(tmp_path)]) == 0
        for ex in proj.exercises:
            (tmp_path / proj.key / ex.stub).write_text(proj.solved_text(ex), encoding="utf-8")
        capsys.readouterr()
        code = main(["learn", "check", proj.key, "--dir", str(tmp_path)])
        assert code == 0, f"{proj.key}: llmlab's own code fails its check:\n{capsys.readouterr().out}"
    rows = {title: (mark, notes) for title, mark, notes in _status(tmp_path, capsys)}
    for proj in registered:
        mark, notes = rows[proj.title]
        assert mark == "☑" and f"{len(proj.exercises)}/{len(proj.exercises)} exercises pass" in notes, (
            proj.key
        )
    keys = {p.roadmap_key for p in registered}
    assert all(rows[p.title] == ("☐", "no exercises yet") for p in ROADMAP if p.key not in keys)


def test_every_roadmap_project_has_exercises():
    """The acceptance of the roadmap as exercises: no row of the twelve is left without a learn project."""
    missing = [p.key for p in ROADMAP if p.key not in {proj.roadmap_key for proj in projects()}]
    assert missing == [], f"roadmap projects without exercises: {missing}"

"""llmlab.atomic: whole folders replaced in one step, so a failure or SIGKILL leaves the old version whole."""

import pytest

from killed import run_killed
from llmlab import atomic


def old_folder(path):
    path.mkdir(parents=True)
    (path / "result.txt").write_text("old result")
    (path / "part_1.bin").write_text("old part")
    (path / "notes.txt").write_text("the user's own notes")
    (path / "mine").mkdir()
    (path / "mine" / "a.txt").write_text("kept too")
    return path


def leftovers(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


def test_rebuild_replaces_owned_entries_and_carries_the_rest(tmp_path):
    out = old_folder(tmp_path / "out")
    with atomic.rebuild_dir(out, owned=["result.txt", "part_*.bin"]) as build:
        assert build.parent == out.parent and build != out
        (build / "result.txt").write_text("new result")
    assert (out / "result.txt").read_text() == "new result"
    assert not (out / "part_1.bin").exists()                   # owned and not rebuilt: gone, not stale
    assert (out / "notes.txt").read_text() == "the user's own notes"
    assert (out / "mine" / "a.txt").read_text() == "kept too"
    assert leftovers(out) == []


def test_a_failed_rebuild_leaves_the_old_folder_untouched(tmp_path):
    out = old_folder(tmp_path / "out")
    with pytest.raises(RuntimeError), atomic.rebuild_dir(out, owned=["result.txt", "part_*.bin"]) as build:
        (build / "result.txt").write_text("half")
        raise RuntimeError("disk full")
    assert (out / "result.txt").read_text() == "old result" and (out / "part_1.bin").exists()
    assert leftovers(out) == []


def test_a_first_build_creates_the_folder(tmp_path):
    with atomic.rebuild_dir(tmp_path / "a" / "new") as build:
        (build / "x").write_text("1")
    assert (tmp_path / "a" / "new" / "x").read_text() == "1" and leftovers(tmp_path / "a" / "new") == []


def test_sigkill_during_a_rebuild_leaves_the_old_folder_and_the_next_rebuild_tidies(tmp_path):
    out = old_folder(tmp_path / "out")
    run_killed(f"""
        from pathlib import Path
        from llmlab import atomic
        with atomic.rebuild_dir(Path({str(out)!r}), owned=["result.txt"]) as build:
            (build / "result.txt").write_text("half")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert (out / "result.txt").read_text() == "old result"
    assert len(leftovers(out)) == 1                            # the dead build's folder ...
    with atomic.rebuild_dir(out, owned=["result.txt"]) as build:
        (build / "result.txt").write_text("new")
    # ... is cleared by the next one
    assert leftovers(out) == [] and (out / "result.txt").read_text() == "new"


def test_without_an_exchange_call_a_kill_between_the_renames_is_recovered(tmp_path):
    out = old_folder(tmp_path / "out")
    run_killed(f"""
        from pathlib import Path
        from llmlab import atomic
        atomic._exchange = lambda a, b: False            # as on a system without renameat2 / renamex_np
        # after the old folder moved aside, before the new moved in
        kill_on_call("pathlib", "Path.rename", after=1)
        with atomic.rebuild_dir(Path({str(out)!r}), owned=["result.txt"]) as build:
            (build / "result.txt").write_text("new")
    """)
    assert not out.exists()                                    # the window the exchange call closes
    atomic.recover(out)
    assert (out / "result.txt").read_text() == "old result" and (out / "notes.txt").exists()
    assert leftovers(out) == []


def test_the_fallback_swap_gives_the_same_result(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    out = old_folder(tmp_path / "out")
    with atomic.rebuild_dir(out, owned=["result.txt", "part_*.bin"]) as build:
        (build / "result.txt").write_text("new result")
    assert (out / "result.txt").read_text() == "new result" and (out / "notes.txt").exists()
    assert not (out / "part_1.bin").exists() and leftovers(out) == []

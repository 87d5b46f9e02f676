import json
from dataclasses import dataclass

import pytest

from llmlab.config import apply_overrides
from llmlab.errors import LabError
from llmlab.runs import RunFolder


def test_run_folder_writes_config_metrics_and_summary(runs_dir):
    run = RunFolder.create("charlm", name="lstm")
    assert run.path == runs_dir / "charlm" / "lstm"
    run.save_config({"lr": 1e-3})
    run.log({"step": 1, "loss": 2.5})
    run.log({"step": 1, "val_loss": float("nan")})
    run.save_summary({"best_val_loss": 1.9})
    assert json.loads((run.path / "config.json").read_text()) == {"lr": 1e-3}
    assert run.metrics() == [{"step": 1, "loss": 2.5}, {"step": 1, "val_loss": None}]
    assert run.summary() == {"best_val_loss": 1.9}
    assert not list(run.path.glob("*.tmp"))


def test_out_overrides_the_default_folder(tmp_path, runs_dir):
    run = RunFolder.create("charlm", out=tmp_path / "mine")
    assert run.path == tmp_path / "mine"
    assert not run.path.exists()          # a command that fails before writing leaves no folder behind
    run.log({"step": 1, "loss": 1.0})
    assert run.path.is_dir()


@pytest.mark.parametrize("name", ["../../x", "/abs/path", "ada\n", "a/b", "..", ".hidden", "x" * 101,
                                  "tab\tname"])
def test_names_cannot_escape_the_runs_folder(runs_dir, name):
    from llmlab.runs import check_name

    with pytest.raises(LabError) as err:
        RunFolder.create("rag", name=name)
    assert "--out" in err.value.hint
    with pytest.raises(LabError):
        check_name(name, "session name")
    assert not any(runs_dir.parent.rglob("x")) and not runs_dir.exists()


def test_plain_names_pass_and_slug_makes_one_from_any_text(runs_dir):
    from llmlab.runs import check_name, slug

    assert RunFolder.create("rag", name="python-docs_2.v1").path == runs_dir / "rag" / "python-docs_2.v1"
    for text in ("my corpus.txt-500", "../../etc/passwd", ".hidden\n", "hf:org/name"):
        assert check_name(slug(text)) == slug(text)
    assert slug("my corpus.txt-500") == "my-corpus.txt-500" and slug("///") == "run"
    with pytest.raises(LabError):
        check_name("")


def test_a_second_run_never_replaces_the_first(tmp_path):
    folder = tmp_path / "run"
    first = RunFolder.start("charlm", out=folder)
    first.log({"step": 1, "loss": 2.0})
    with pytest.raises(LabError) as err:
        RunFolder.start("charlm", out=folder)
    assert (
        "already holds a run" in err.value.message
        and "--resume" in err.value.hint
        and "--overwrite" in err.value.hint
    )
    assert first.metrics() == [{"step": 1, "loss": 2.0}]                      # untouched
    assert RunFolder.start("charlm", out=folder, resume=True).metrics() == first.metrics()
    replaced = RunFolder.start("charlm", out=folder, overwrite=True)
    # kept until the new run writes, so a failure loses nothing
    assert first.metrics() and replaced.metrics() == []
    replaced.log({"step": 1, "loss": 1.5})
    # replaced, as asked, never mixed
    assert first.metrics() == replaced.metrics() == [{"step": 1, "loss": 1.5}]
    with pytest.raises(LabError, match="contradict"):
        RunFolder.start("charlm", out=folder, resume=True, overwrite=True)


def test_resume_needs_a_run_and_overwrite_deletes_only_runs(tmp_path):
    with pytest.raises(LabError, match="nothing to resume") as err:
        RunFolder.start("charlm", out=tmp_path / "none", resume=True)
    assert "drop --resume" in err.value.hint and not (tmp_path / "none").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own work")
    with pytest.raises(LabError, match="not an llmlab run"):
        RunFolder.start("charlm", out=mine, overwrite=True)
    assert (mine / "notes.txt").read_text() == "my own work"
    RunFolder.start("charlm", out=tmp_path / "empty")                        # a new folder is always fine


def test_write_text_atomic_leaves_no_temporary_files(tmp_path):
    from llmlab.runs import write_text_atomic

    target = tmp_path / "metrics.jsonl"
    target.write_text("old\n")
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]


@dataclass
class Preset:
    lr: float = 1e-3
    n_layer: int = 4
    compile: bool = False
    name: str = "x"
    dropout: float | None = None


def test_overrides_are_typed():
    cfg = apply_overrides(Preset(), ["lr=3e-4", "n_layer=2", "compile=true", "name=y", "dropout=none"])
    assert cfg == Preset(lr=3e-4, n_layer=2, compile=True, name="y", dropout=None)


def test_unknown_or_bad_override_is_a_clear_error():
    with pytest.raises(LabError, match="unknown setting 'layers'"):
        apply_overrides(Preset(), ["layers=2"])
    with pytest.raises(LabError, match="not a valid int"):
        apply_overrides(Preset(), ["n_layer=two"])


def test_overrides_are_routed_to_the_group_that_owns_the_key():
    from llmlab.config import route_overrides

    routed = route_overrides(["lr=1", "n_layer=2", "seed=3"], {"model": {"n_layer"}, "training": {"lr",
                                                                                                  "seed"}},
                                                                                                  "x")
    assert routed == {"model": ["n_layer=2"], "training": ["lr=1", "seed=3"]}
    with pytest.raises(LabError) as err:
        route_overrides(["depth=3"], {"model": {"n_layer"}, "training": {"lr"}}, "a char LM")
    assert "depth" in err.value.message and "n_layer" in err.value.hint and "lr" in err.value.hint

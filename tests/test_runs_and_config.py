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
    assert run.path == tmp_path / "mine" and run.path.is_dir()


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

    routed = route_overrides(["lr=1", "n_layer=2", "seed=3"], {"model": {"n_layer"}, "training": {"lr", "seed"}}, "x")
    assert routed == {"model": ["n_layer=2"], "training": ["lr=1", "seed=3"]}
    with pytest.raises(LabError) as err:
        route_overrides(["depth=3"], {"model": {"n_layer"}, "training": {"lr"}}, "a char LM")
    assert "depth" in err.value.message and "n_layer" in err.value.hint and "lr" in err.value.hint

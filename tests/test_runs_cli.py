"""Run folders from the command line: names stay under runs/, a second run never replaces the first, Ctrl-C
saves and says how to resume, and a failed command leaves no folder behind. Offline; the trainers refuse
before training."""

import json
import shlex

import pytest

from llmlab.cli import main

TEXT = "to be or not to be, that is the question. " * 60
TINY = ["--preset", "tiny", "--set", "report_to=none", "--set", "eval_iters=1", "--set", "log_interval=1"]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def ctrl_c_reaches_python():
    """A shell's background job starts with SIGINT ignored (and the trainer leaves it so): give it Python's
    handler."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("argv", [
    ["rag", "index", "--name", "../../x"],
    ["transformer", "train", "--name", "/abs/path"],
    ["attention", "show", "--model", "gpt2", "--name", "ada\n"],
    ["attention", "compare", "--model", "gpt2", "--text", "a", "--text", "b", "--name", "../x"],
    ["cot", "run", "--model", "hf:gpt2", "--name", "a/b"],
    ["icl", "run", "--model", "hf:gpt2", "--name", ".."],
    ["chat", "repl", "--model", "hf:gpt2", "--session", "../x"],
    ["chat", "ui", "--model", "hf:gpt2", "--session", "ada\n"],
    ["agents", "run", "hi", "--model", "hf:gpt2", "--memory", "/abs/path"],
    ["agents", "memory", "../x"],
], ids=lambda argv: " ".join(argv[:2]))
def test_every_command_that_takes_a_name_refuses_one_that_escapes(offline, capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is not a usable" in err and "letters, digits" in err
    assert sorted(p.name for p in offline.iterdir()) == []          # nothing written anywhere


def _fake_run(folder):
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    return (folder / "metrics.jsonl").read_text()


def _corpus(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text(TEXT, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("trainer", ["charlm train", "charlm compare-models", "transformer train",
                                     "pretrain train",
                                     "finetune train", "finetune compare", "attention train-toy",
                                     "agents train-toy",
                                     "cot train", "icl train"])
def test_no_trainer_replaces_an_earlier_run_unless_told(offline, capsys, trainer):
    out = offline / "run"
    corpus = _corpus(offline)
    argv = {"charlm train": ["--corpus", corpus, "--out", str(out)],
            "charlm compare-models": ["--corpus", corpus, "--models", "gru", "--out", str(offline)],
            "transformer train": ["--corpus", corpus, "--out", str(out)],
            "pretrain train": ["--data", str(offline / "no-shards"), "--out", str(out)],
            "finetune train": ["--model", "tiny", "--out", str(out)],
            "finetune compare": ["--model", "tiny", "--methods", "lora", "--out", str(offline)]}.get(
        trainer, ["--out", str(out)])
    folder = (
        offline / "gru"
        if trainer == "charlm compare-models"
        else offline / "lora"
        if "compare" in trainer
        else out
    )
    before = _fake_run(folder)
    assert main(trainer.split() + argv) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--overwrite" in err
    assert (folder / "metrics.jsonl").read_text() == before


def test_charlm_overwrite_replaces_and_ctrl_c_saves_and_prints_the_resume_command(offline, capsys,
                                                                                  monkeypatch,
                                                                                   ctrl_c_reaches_python):
    from llmlab.training.trainer import Trainer

    corpus, out = _corpus(offline), offline / "gru"
    train = ["charlm", "train", "--model", "gru", "--corpus", corpus, "--out", str(out), *TINY]
    assert main(train + ["--max-steps", "3"]) == 0
    assert main(train + ["--max-steps", "4", "--overwrite", "--json"]) == 0          # replaced, not mixed
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert sorted(r["step"] for r in rows if "loss" in r) == [1, 2, 3, 4]
    capsys.readouterr()

    step = Trainer._train_step
    calls = {"n": 0}

    def press_ctrl_c_at_the_second_step(self):
        import signal

        calls["n"] += 1
        if calls["n"] == 2:
            signal.raise_signal(signal.SIGINT)
        return step(self)

    monkeypatch.setattr(Trainer, "_train_step", press_ctrl_c_at_the_second_step)
    assert main(train + ["--max-steps", "6", "--overwrite"]) == 130
    err = capsys.readouterr().err
    assert f"checkpoint saved in {out / 'checkpoint'}" in err
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 2
    command = err.split("resume with: ", 1)[1].splitlines()[0]
    args = shlex.split(command)
    assert args[:3] == ["llmlab", "charlm", "train"] and args[-1] == "--resume" and "--overwrite" not in args
    monkeypatch.setattr(Trainer, "_train_step", step)
    # the printed command works
    assert main(args[1:] + ["--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["resumed_from"] == 2 and summary["steps"] == 6


def test_resume_with_nothing_to_resume_is_a_usage_error(offline, capsys):
    argv = ["charlm", "train", "--corpus", _corpus(offline), "--out", str(offline / "new"), "--resume", *TINY]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "drop --resume" in err
    assert not (offline / "new").exists()


@pytest.mark.parametrize("argv", [
    ["rag", "index", "--corpus", "nonesuch"],
    ["charlm", "train", "--corpus", "nonesuch"],
    ["transformer", "train", "--corpus", "nonesuch"],
    ["attention", "show", "--model", "runs/nope"],
], ids=lambda argv: " ".join(argv[:2]))
def test_failed_commands_leave_no_run_folder(offline, capsys, argv):
    # runs/ exists (as in a project), but nothing is made inside it
    (offline / "runs").mkdir()
    assert main(argv) == 2
    capsys.readouterr()
    assert list((offline / "runs").rglob("*")) == []


def test_a_missing_model_path_says_no_such_directory(offline, capsys):
    (offline / "runs").mkdir()
    assert main(["attention", "show", "--model", "runs/nope"]) == 2
    err = capsys.readouterr().err
    assert "no model directory 'runs/nope': no such directory" in err and "Hub" not in err.split("hint")[0]
    assert main(["transformer", "sample", "--model", "./nope"]) == 2
    assert "no model directory './nope': no such directory" in capsys.readouterr().err
    assert main(["transformer", "sample", "--model", "nope"]) == 2          # a bare name may be a Hub name
    err = capsys.readouterr().err
    assert "no directory 'nope' here" in err and "PosixPath" not in err


def test_the_roadmaps_way_of_training_runs_any_number_of_times(offline):
    """The charlm roadmap step trains into its own step folder (which also holds the tracker's summary.json)
    with overwrite=True; a second and third pass replace the runs instead of being refused or mixing them."""
    from llmlab.charlm.compare import compare_architectures
    from llmlab.errors import LabError

    step = offline / "roadmap" / "charlm"
    for _ in range(3):
        summary = compare_architectures(_corpus(offline), ["gru"], "tiny", 30.0,
                                        ["report_to=none", "eval_iters=1", "log_interval=1"], out=step,
                                        max_steps=2, overwrite=True)
        # as the runner does
        (step / "summary.json").write_text(json.dumps({**summary, "status": "passed"}))
        rows = [json.loads(line) for line in (step / "gru" / "metrics.jsonl").read_text().splitlines()]
        assert sorted(r["step"] for r in rows if "loss" in r) == [1, 2]
    with pytest.raises(LabError, match="already holds a run"):
        compare_architectures(_corpus(offline), ["gru"], "tiny", 30.0, out=step, max_steps=2)

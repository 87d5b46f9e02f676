import json
import os
import re
import subprocess
import sys

import pytest

from llmlab.cli import main
from llmlab.console import QUIET_ENV, VERBOSE_ENV
from llmlab.projects import PROJECTS
from llmlab.roadmap import runner


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
    monkeypatch.setattr(runner, "run_step", lambda project, *a, **k: runner.StepResult(project,
                                                                                       runner.NOT_BUILT))
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


# each a newcomer's slip: the command's usage line, then the problem with click's suggestion
USAGE_ERRORS = {
    "unknown option": (["tokenizer", "train", "--vocab", "100"], "Usage: llmlab tokenizer train [OPTIONS]",
                       "No such option: --vocab (Possible options: --vocab-size)"),
    "misspelt command": (["tokenizer", "trian"], "Usage: llmlab tokenizer [OPTIONS] COMMAND",
                         "No such command 'trian'. Did you mean 'train'?"),
    "missing option": (["serve"], "Usage: llmlab serve [OPTIONS]", "Missing option '--model'."),
    "not a number": (["tokenizer", "train", "--vocab-size", "abc"], "Usage: llmlab tokenizer train",
                     "Invalid value for '--vocab-size'"),
    "missing argument": (["agents", "memory"], "Usage: llmlab agents memory", "Missing argument 'name'."),
}


@pytest.mark.parametrize("argv, usage, problem", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_show_the_usage_and_the_problem_and_exit_2(argv, usage, problem, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(usage) and problem in err
    assert "bug in llmlab" not in err and "Traceback" not in err


def test_a_misspelt_command_exits_2_from_the_console_script():
    proc = subprocess.run([sys.executable, "-m", "llmlab.cli", "tokenizer", "trian"], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert "Did you mean 'train'?" in proc.stderr and "Usage: llmlab tokenizer" in proc.stderr


def test_help_shows_a_value_placeholder_only_for_options_that_take_a_value(capsys):
    assert main(["--help"]) == 0
    root = capsys.readouterr().out
    assert "--debug" in root and "--verbose" in root and "<bool>" not in root
    assert main(["tokenizer", "train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "<bool>" not in out and re.search(r"--no-special\s+no special tokens", out)
    assert re.search(r"--vocab-size\s.*<int>", out)
    # repeatable: one value per use
    assert re.search(r"--special\s.*<str>\.\.\.", out) and "list[" not in out


def test_library_chatter_is_off_unless_verbose(tmp_path, monkeypatch, capsys):
    for name in (VERBOSE_ENV, *QUIET_ENV):
        monkeypatch.setenv(name, "")            # recorded, so the test leaves the environment as it found it
        monkeypatch.delenv(name)
    (tmp_path / "a.txt").write_text("some text", encoding="utf-8")
    assert main(["data", "info", str(tmp_path / "a.txt"), "--json"]) == 0
    assert all(os.environ.get(name) == value for name, value in QUIET_ENV.items())
    assert main(["--verbose", "data", "info", str(tmp_path / "a.txt"), "--json"]) == 0
    assert os.environ[VERBOSE_ENV] == "1" and not any(name in os.environ for name in QUIET_ENV)


NOISY_COMMAND = """
import sys
from llmlab.cli import app, main

@app.command("noisy")
def noisy(folder: str):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=1, n_head=1, n_embd=8, vocab_size=10, n_positions=8)
    GPT2LMHeadModel(config).save_pretrained(folder)
    model = GPT2LMHeadModel.from_pretrained(folder)
    ids = torch.zeros(1, 4, dtype=torch.long)
    model(ids, labels=ids)                          # transformers warns: `loss_type=None` ...

sys.exit(main(sys.argv[1:]))
"""


def test_transformers_warnings_and_bars_show_only_with_verbose(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in (VERBOSE_ENV, *QUIET_ENV)}

    def stderr(*flags):
        proc = subprocess.run([sys.executable, "-c", NOISY_COMMAND, *flags, "noisy", str(tmp_path / "m")],
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        return proc.stderr

    assert stderr() == ""
    noisy = stderr("--verbose")
    assert "loss_type=None" in noisy and "Loading weights" in noisy


def test_the_libraries_own_future_warnings_show_only_with_verbose(monkeypatch):
    import warnings

    from llmlab.console import quiet_libraries

    for name in QUIET_ENV:      # monkeypatch puts the session's values back afterwards
        monkeypatch.delenv(name, raising=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        quiet_libraries(True)
        warnings.warn_explicit("old API", FutureWarning, "m.py", 1, module="transformers.modeling_utils")
        warnings.warn_explicit("yours", FutureWarning, "m.py", 2, module="mycode")      # not a library's
        quiet_libraries(False)
        warnings.warn_explicit("old API", FutureWarning, "m.py", 3, module="transformers.modeling_utils")
    assert [str(w.message) for w in seen] == ["yours", "old API"]


def test_verbose_after_quiet_enables_the_hubs_bars_without_a_warning(monkeypatch):
    # the hub copies HF_HUB_DISABLE_PROGRESS_BARS into a constant at import; after quiet (ours set) then
    # verbose (ours removed), enabling must neither warn that the variable "has priority" nor keep bars off
    import importlib
    import warnings

    from llmlab.console import quiet_libraries

    hub_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")      # the module, not its tqdm class
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setattr(hub_tqdm, "HF_HUB_DISABLE_PROGRESS_BARS", True)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_libraries(False)
    assert not [w for w in seen if "progress bars" in str(w.message)]
    assert hub_tqdm.are_progress_bars_disabled() is False
    quiet_libraries(True)
    assert hub_tqdm.are_progress_bars_disabled() is True

"""One CLI vocabulary: every command spells a flag the same way (the names of `SamplingParams`), the old
spellings still work for a release with a deprecation note but never show in --help, and every package plugs
its commands in the one way, `register(root)`."""

import importlib
import json
import re

import pytest
import typer

from llmlab.cli import app, main
from llmlab.projects import PROJECTS

# (command, old spelling, new spelling)
RENAMED = [
    ("charlm train", "--model", "--arch"),
    ("charlm sample", "--model-dir", "--model"),
    ("charlm sample", "--tokens", "--max-new-tokens"),
    ("charlm sample", "--num", "--num-samples"),
    ("charlm compare-decoding", "--model-dir", "--model"),
    ("charlm compare-decoding", "--tokens", "--max-new-tokens"),
    ("charlm compare-models", "--models", "--archs"),
    ("chat repl", "--max-tokens", "--max-new-tokens"),
    ("cot run", "--samples", "--num-samples"),
    ("icl run", "--samples", "--num-samples"),
    ("cot show", "--index", "--item"),
    ("icl show", "--index", "--item"),
]
OLD = {old for _, old, _ in RENAMED} - {"--model", "--index"}   # these two are canonical elsewhere
SAMPLING = {"--temperature", "--top-k", "--top-p", "--repetition-penalty", "--stop", "--num-samples"}
GENERATING = {"charlm sample", "charlm compare-decoding", "transformer sample", "chat repl", "rag ask",
              "rag summarize", "agents run", "cot run", "icl run"}


def _commands(command=None, path=()):
    """{"charlm sample": click command, ...} for every leaf command under the root."""
    command = command or typer.main.get_command(app)
    if not hasattr(command, "commands"):
        return {" ".join(path): command}
    found = {}
    for name, sub in command.commands.items():
        found.update(_commands(sub, (*path, name)))
    return found


def _flags(command) -> set[str]:
    return {o for p in command.params for o in getattr(p, "opts", []) if o.startswith("--")}


COMMANDS = _commands()


def test_every_command_that_generates_takes_max_new_tokens():
    assert GENERATING <= set(COMMANDS)
    # a command with a sampling flag generates text: a new one must join GENERATING, and so take the length
    generating = {name for name, command in COMMANDS.items() if _flags(command) & SAMPLING}
    assert generating <= GENERATING, generating - GENERATING
    for name in sorted(GENERATING):
        assert "--max-new-tokens" in _flags(COMMANDS[name]), name


def test_renamed_flags_have_their_new_spelling():
    for name, _, new in RENAMED:
        assert new in _flags(COMMANDS[name]), (name, new)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_shows_no_old_spelling(name, capsys):
    assert main([*name.split(), "--help"]) == 0
    shown = capsys.readouterr().out
    hidden = OLD | {old for command, old, _ in RENAMED if command == name}
    for old in sorted(hidden):
        assert not re.search(rf"(?<![\w-]){re.escape(old)}(?![\w-])", shown), f"{name} --help shows {old}"


def test_every_package_plugs_in_with_register():
    modules = {p.cli_module for p in PROJECTS} | {"llmlab.data.cli", "llmlab.learn.cli", "llmlab.roadmap.cli",
                                                  "llmlab.dashboard.cli"}
    for module in sorted(modules):
        assert callable(getattr(importlib.import_module(module), "register", None)), module
    groups = {name.split()[0] for name in COMMANDS}
    assert {p.key for p in PROJECTS} | {"data", "learn", "roadmap", "bench", "dashboard"} == groups


# --- old spellings reach the same parameter as the new ones, with a note on stderr -------------------------

class Captured(Exception):
    pass


def _capture(monkeypatch, module: str, attr: str):
    """Replace `module.attr` with a recorder that stops the command there (exit 0): what did the CLI pass?"""
    calls = []

    def record(*args, **kwargs):
        calls.append((args, kwargs))
        raise typer.Exit(0)

    monkeypatch.setattr(importlib.import_module(module), attr, record)
    return calls


def _same_call(monkeypatch, capsys, target, old_argv, new_argv, note):
    results = []
    for argv in (old_argv, new_argv):
        calls = _capture(monkeypatch, *target)
        assert main(argv) == 0
        results.append((calls, capsys.readouterr().err))
    (old_calls, old_err), (new_calls, new_err) = results
    assert old_calls and old_calls == new_calls
    assert note in old_err and "deprecated" not in new_err
    return new_calls[0]


def test_cot_and_icl_samples_still_work(monkeypatch, capsys):
    for group, target in (("cot", "cot_experiment"), ("icl", "icl_experiment")):
        args, _ = _same_call(monkeypatch, capsys, ("llmlab.experiments.harness_runs", target),
                             [group, "run", "--model", "hf:x", "--samples", "3"],
                             [group, "run", "--model", "hf:x", "--num-samples", "3"],
                             "--samples is deprecated; use --num-samples")
        assert args[1].samples == 3


def test_chat_repl_max_tokens_still_works(monkeypatch, capsys, runs_dir):
    class Fake:
        context_window = 4096

    monkeypatch.setattr("llmlab.chat.cli._llm", lambda *a, **k: Fake())
    monkeypatch.setattr("llmlab.chat.bot.ChatBot", lambda *a, **k: None)
    monkeypatch.setattr("llmlab.chat.memory.ChatStore.open", lambda *a, **k: None)
    args, _ = _same_call(monkeypatch, capsys, ("llmlab.chat.repl", "run_repl"),
                         ["chat", "repl", "--model", "hf:x", "--max-tokens", "5"],
                         ["chat", "repl", "--model", "hf:x", "--max-new-tokens", "5"],
                         "--max-tokens is deprecated; use --max-new-tokens")
    assert args[1].max_new_tokens == 5


def test_compare_models_takes_archs_and_still_models(monkeypatch, capsys):
    args, _ = _same_call(monkeypatch, capsys, ("llmlab.charlm.compare", "compare_architectures"),
                         ["charlm", "compare-models", "--models", "gru,rnn"],
                         ["charlm", "compare-models", "--archs", "gru,rnn"],
                         "--models is deprecated; use --archs")
    assert args[1] == ["gru", "rnn"]


def test_charlm_train_model_names_an_architecture_only_with_a_note(monkeypatch, capsys):
    _, kwargs = _same_call(monkeypatch, capsys, ("llmlab.charlm.train", "train_charlm"),
                           ["charlm", "train", "--model", "gru", "--corpus", "python-docs"],
                           ["charlm", "train", "--arch", "gru", "--corpus", "python-docs"],
                           "--model is deprecated; use --arch")
    # a model folder given to the old --model is refused at once, naming both commands
    assert main(["charlm", "train", "--model", "runs/charlm/gpt"]) == 2
    err = capsys.readouterr().err
    assert "unknown architecture 'runs/charlm/gpt'" in err
    assert "--arch" in err and "charlm sample --model" in err


def test_show_item_and_still_index(capsys):
    for group in ("cot", "icl"):
        assert main([group, "show", "--item", "1"]) == 0
        new = capsys.readouterr()
        assert main([group, "show", "--index", "1"]) == 0
        old = capsys.readouterr()
        assert main([group, "show", "--item", "0"]) == 0
        other = capsys.readouterr().out
        assert old.out == new.out != other and "--index is deprecated; use --item" in old.err


def test_charlm_train_arch_gru_then_sample_with_either_spelling(tmp_path, monkeypatch, capsys):
    """The real commands end to end: train a GRU with --arch, then sample and compare decoders under the new
    names and the old ones: same text, and the notes only for the old."""
    monkeypatch.setenv("LLMLAB_RUNS", str(tmp_path / "runs"))
    corpus = tmp_path / "poem.txt"
    corpus.write_text("to be or not to be, that is the question. " * 60, encoding="utf-8")
    out = tmp_path / "gru"
    assert main(["charlm", "train", "--arch", "gru", "--corpus", str(corpus), "--preset", "tiny",
                 "--max-steps", "3", "--set", "report_to=none", "--set", "eval_iters=1", "--out", str(out),
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["steps"] == 3 and "deprecated" not in captured.err
    assert json.loads((out / "checkpoint" / "llmlab_model.json").read_text())["model"] == "gru"

    new = ["charlm", "sample", "--model", str(out), "--max-new-tokens", "12", "--num-samples", "2",
           "--prompt", "to"]
    old = ["charlm", "sample", "--model-dir", str(out), "--tokens", "12", "--num", "2", "--prompt", "to"]
    assert main(new) == 0
    by_new = capsys.readouterr()
    assert main(old) == 0
    by_old = capsys.readouterr()
    assert by_new.out == by_old.out and by_new.out.count("top-p #") == 2 and "deprecated" not in by_new.err
    for note in ("--model-dir is deprecated; use --model", "--tokens is deprecated; use --max-new-tokens",
                 "--num is deprecated; use --num-samples"):
        assert note in by_old.err

    assert main(["charlm", "compare-decoding", "--model", str(out), "--max-new-tokens", "9", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows["tokens"] == 9 and all(len(r["text"]) <= 9 for r in rows["strategies"])

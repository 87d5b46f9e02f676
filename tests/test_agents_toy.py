"""The offline reproduction's pieces: traces in the agent's own format with the right loss mask, held-out
questions kept out of training, the parser reading every trace, a tiny training run end to end, and the
CLI."""

import json
import random

import pytest

from llmlab.agents.parser import FinalAnswer, ToolCall, parse_step
from llmlab.agents.prompt import render_prompt
from llmlab.agents.toy import (
    TOOLS,
    ToyPreset,
    TraceBatches,
    decoy_trace,
    direct_trace,
    held_out_questions,
    make_question,
    memory_trace,
    random_trace,
    tool_trace,
    toy_tokenizer,
)
from llmlab.training.batches import IGNORE_INDEX as IGNORE


def test_traces_continue_the_agents_own_prompt():
    trace = tool_trace("4821+377", "5198")
    prompt = render_prompt("4821+377", [], TOOLS, "bare")
    assert trace.text == prompt + "Action: calculator[4821+377]\nObservation: 5198\nFinal Answer: 5198\n\n"
    assert trace.start == len(prompt)
    assert direct_trace("2+2", "4").text == "Question: 2+2\nFinal Answer: 4\n\n"
    assert memory_trace("2+2", "4").text == ("Tools: calculator\nQuestion: 2+2\nMemory: 2+2 -> 4\nFinal "
                                             "Answer: 4\n\n")
    decoy = decoy_trace("2+2", "4", "2+5", "7")
    assert "Memory: 2+5 -> 7\nAction: calculator[2+2]" in decoy.text


def test_loss_mask_covers_what_the_model_writes_and_not_the_observation():
    tok = toy_tokenizer()
    batches = TraceBatches(tok, ToyPreset(), set())
    trace = tool_trace("12+30", "42")
    x, y = batches.encode(trace, 96)
    learned = "".join(tok.decode([t]) if t != IGNORE else "_" for t in y)
    # y[t] is the character after x[t]: the prompt and the observation's value are masked
    expected = "_" * (trace.start - 1) + "Action: calculator[12+30]\nObservation: __\nFinal Answer: 42\n\n"
    assert learned == expected + "_" * (96 - len(expected))
    assert tok.decode(x[:len(trace.text) - 1]) == trace.text[:-1]


def test_held_out_questions_never_reach_training():
    cfg = ToyPreset(max_digits=2, eval_questions=30)
    held = held_out_questions(cfg)
    assert [len(v) for v in held.values()] == [30, 30]
    held_set = {q for qs in held.values() for q, _ in qs}
    rng = random.Random(1)
    seen = {random_trace(rng, cfg, held_set).text.split("Question: ")[1].split("\n")[0] for _ in range(3000)}
    assert not seen & held_set
    for q, a in held[2]:
        assert str(eval(q)) == a                      # the test's own arithmetic on its own digits


def test_the_parser_reads_every_trace_kind():
    rng = random.Random(0)
    for _ in range(200):
        q, a = make_question(rng, rng.randint(1, 6), "+-*")
        tool = tool_trace(q, a).text.split("\n")
        action = parse_step(tool[2])
        assert isinstance(action, ToolCall) and (action.tool, action.input) == ("calculator", q)
        for trace in (tool_trace(q, a), direct_trace(q, a), memory_trace(q, a)):
            final = parse_step(trace.text[trace.text.rindex("Final Answer"):])
            assert isinstance(final, FinalAnswer) and final.answer == a


def test_preset_is_checked():
    from llmlab.errors import LabError

    with pytest.raises(LabError, match="shares"):
        ToyPreset(shares="1,2").validate()
    with pytest.raises(LabError, match="digits"):
        ToyPreset(min_digits=3, max_digits=2).validate()


@pytest.mark.slow
def test_tiny_reproduction_runs_end_to_end(tmp_path):
    """A few steps only: the mechanics (training, checkpoint through llmlab.llm, evaluation, memory demo,
    files)."""
    from llmlab.agents.reproduction import reproduce

    s = reproduce(out=tmp_path, overrides=["max_steps=6", "max_digits=1", "n_embd=16", "batch_size=4",
                                           "eval_questions=2", "memory_questions=2", "n_layer=1"])
    assert s["steps"] == 6 and (tmp_path / "accuracy.png").exists() and (tmp_path / "loss.png").exists()
    assert s["parser"]["parsed"] == s["parser"]["traces"] == 6
    assert [r["questions"] for r in s["by_digits"]] == [2]
    assert s["memory"]["questions"] == 2
    rows = [json.loads(line) for line in (tmp_path / "transcript.jsonl").read_text().splitlines()]
    assert sum(r["event"] == "start" for r in rows) == 2
    assert (
        json.loads((tmp_path / "summary.json").read_text())["with_tool_accuracy"] == s["with_tool_accuracy"]
    )


def test_cli_run_with_a_scripted_model(tmp_path, runs_dir, monkeypatch):
    """`llmlab agents run` end to end (tools, memory, transcript, --json) with the model replaced by a
    script."""
    from tests.test_agents_loop import ScriptedLLM
    from typer.testing import CliRunner

    import llmlab.llm
    from llmlab.cli import app

    monkeypatch.setattr(llmlab.llm, "load_llm",
                        lambda spec: ScriptedLLM(["Action: calculator[6*7]", "Final Answer: 42"]))
    result = CliRunner().invoke(app, ["agents", "run", "What is 6*7?", "--model", "scripted:x", "--memory",
                                      "t",
                                      "--tools", "calculator,memory,clock", "--remember", "--out",
                                      str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["answer"] == "42" and summary["tool_calls"] == 1
    assert (tmp_path / "run" / "transcript.jsonl").exists()
    shown = CliRunner().invoke(app, ["agents", "memory", "t", "--json"])
    assert [f["text"] for f in json.loads(shown.output)] == ["What is 6*7? -> 42"]


@pytest.mark.parametrize("args, message", [
    (["", "--model", "scripted:x"], "the question is empty"),
    (["1+1", "--model", "scripted:x", "--style", "fancy"], "unknown prompt style 'fancy'"),
    (["1+1", "--model", "scripted:x", "--mode", "stream"], "unknown agent mode 'stream'"),
    (["1+1", "--model", "scripted:x", "--max-steps", "0"], "max_steps must be >= 1"),
])
def test_cli_run_checks_its_arguments_before_loading_a_model(args, message, runs_dir, monkeypatch, capsys):
    import llmlab.llm
    from llmlab.cli import main

    monkeypatch.setattr(llmlab.llm, "load_llm",
                        lambda spec: pytest.fail("no model may load for bad arguments"))
    assert main(["agents", "run", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (runs_dir / "agents").exists()


def test_reproduction_gives_back_the_thread_count_when_evaluation_fails(tmp_path, monkeypatch):
    """The toy decodes on one thread; a failure must not leave the rest of the process (a roadmap) on one
    thread."""
    import torch

    import llmlab.agents.reproduction as reproduction

    monkeypatch.setattr(reproduction, "train_toy", lambda cfg, out, overwrite=False: {
        "run_dir": str(tmp_path), "held_out": {"1": []}, "model_dir": str(tmp_path / "nowhere")})
    before = torch.get_num_threads()
    with pytest.raises(Exception, match="nowhere"):            # the checkpoint is missing: loading it fails
        reproduction.reproduce(out=tmp_path, overrides=[f"threads={before + 1}"])
    assert torch.get_num_threads() == before

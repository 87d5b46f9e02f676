"""The toy reproduction end to end: train the tiny model, then ask it held-out questions with and without the
tool, and show a fact stored in one run being recalled in the next.

    summary = reproduce(ToyPreset(max_steps=600), out="runs/agents/toy")    # summary.json, accuracy.png,
    loss.png

The model is loaded back from its checkpoint through `llmlab.llm` (hf backend) like any other model, and the
agent runs through the same `Agent` loop a user gets from `llmlab agents run`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from llmlab.agents.agent import Agent, AgentConfig
from llmlab.agents.memory import LongTermMemory
from llmlab.agents.parser import FinalAnswer, ToolCall, parse_step
from llmlab.agents.toy import END, TOOLS, ToyPreset, direct_trace, memory_trace, tool_trace, train_toy
from llmlab.config import apply_overrides


def toy_agent_config(**changes: Any) -> AgentConfig:
    """The bare format the toy was trained on; a blank line ends its answer."""
    base = dict(style="bare", max_steps=3, max_new_tokens=64, stop=("\nObservation:", END), recall_k=0)
    return AgentConfig(**{**base, **changes})


def parser_round_trip(held_out: dict[int, list[tuple[str, str]]]) -> dict[str, Any]:
    """Every model-written part of every trace kind parses to what the trace means (the parser accepts the
    format)."""
    total = ok = 0
    for questions in held_out.values():
        for question, answer in questions:
            for trace in (tool_trace(question, answer), direct_trace(question, answer), memory_trace(question,
                                                                                                     answer)):
                written = trace.text[trace.start:]
                parts = written.split("\nObservation: ")
                steps = [parse_step(p.split("\n", 1)[1] if i else p) for i, p in enumerate(parts)]
                total += 1
                ok += (all(isinstance(s, ToolCall) and s.tool == "calculator" and s.input == question
                           for s in steps[:-1]) and isinstance(steps[-1], FinalAnswer)
                       and steps[-1].answer == answer)
    return {"traces": total, "parsed": ok}


def evaluate(llm, held_out: dict[int, list[tuple[str, str]]], run_dir: Path) -> dict[str, Any]:
    """Accuracy per digit count: the agent loop with the calculator vs the same model answering directly."""
    agent = Agent(llm, TOOLS, config=toy_agent_config(), transcript=run_dir / "transcript.jsonl")
    rows, parse_errors, tool_calls = [], 0, 0
    for digits, questions in held_out.items():
        with_tool = direct = 0
        for question, answer in questions:
            result = agent.run(question)
            with_tool += result.answer == answer
            parse_errors += sum(s.kind == "error" for s in result.steps)
            tool_calls += result.tool_calls
            direct += agent.answer_directly(question) == answer
        n = len(questions)
        rows.append({"digits": digits, "questions": n, "with_tool": with_tool / n, "direct": direct / n})
    n_all = sum(r["questions"] for r in rows)
    return {"by_digits": rows, "parse_errors": parse_errors, "tool_calls": tool_calls,
            "with_tool_accuracy": sum(r["with_tool"] * r["questions"] for r in rows) / n_all,
            "direct_accuracy": sum(r["direct"] * r["questions"] for r in rows) / n_all}


def memory_demo(llm, questions: list[tuple[str, str]], folder: Path) -> dict[str, Any]:
    """Ask each question in one run (the answer is stored), then again in a new agent with the memory
    reloaded.

    The first run only writes (recall off): the toy trusts any `Memory:` line, and a fact about another
    question (9-6 when asked 6+9) would stand in for the calculator."""
    first = Agent(llm, TOOLS, memory=LongTermMemory(folder), transcript=folder / "run1.jsonl",
                  config=toy_agent_config(recall_k=0, remember_answers=True))
    answers1 = [first.run(q) for q, _ in questions]
    second = Agent(llm, TOOLS, memory=LongTermMemory(folder), transcript=folder / "run2.jsonl",
                   # a new agent: only the file connects the two
                   config=toy_agent_config(recall_k=1))
    answers2 = [second.run(q) for q, _ in questions]
    n = len(questions)
    return {
        "questions": n, "facts_stored": len(LongTermMemory(folder).facts()),
        "first_run_correct": sum(r.answer == a for r, (_, a) in zip(answers1, questions, strict=True)),
        "first_run_tool_calls": sum(r.tool_calls for r in answers1),
        "second_run_correct": sum(r.answer == a for r, (_, a) in zip(answers2, questions, strict=True)),
        "second_run_recalled": sum(bool(r.recalled) for r in answers2),
        "second_run_tool_calls": sum(r.tool_calls for r in answers2),
        "example": {"question": questions[0][0], "recalled": answers2[0].recalled,
                    "answer": answers2[0].answer,
                    "tool_calls": answers2[0].tool_calls} if n else None,
    }


def reproduce(preset: ToyPreset | None = None, out: str | Path | None = None,
              overrides: list[str] | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Train, evaluate, run the memory demo, draw; the summary (also written to summary.json)."""
    import torch

    from llmlab.llm import load_llm
    from llmlab.plots import plot_curves
    from llmlab.runs import RunFolder

    cfg = apply_overrides(preset or ToyPreset(), overrides).validate()
    trained = train_toy(cfg, out=out, overwrite=overwrite)
    run = RunFolder(Path(trained["run_dir"]))
    held = {int(d): qs for d, qs in trained["held_out"].items()}
    t0 = time.perf_counter()
    # the memory demo takes the last questions of each digit count in turn (1, 2, 3, 1, 2, 3, ...)
    rounds = [list(reversed(qs)) for qs in held.values()]
    memory_questions = [r[i] for i in range(max(map(len, rounds))) for r in rounds if i < len(r)][
        : cfg.memory_questions
    ]
    memory_folder = run.path / "memory"
    for stale in (memory_folder / "memory.jsonl", memory_folder / "run1.jsonl", memory_folder / "run2.jsonl"):
        stale.unlink(missing_ok=True)              # the demo starts from an empty memory every time
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)          # decoding a model this small is fastest on one thread
    # restored even on failure: a roadmap runs other steps after this
    try:
        with load_llm("hf:" + trained["model_dir"]) as llm:
            scores = evaluate(llm, held, run.path)
            memory = memory_demo(llm, memory_questions, memory_folder)
    finally:
        torch.set_num_threads(threads)
    eval_seconds = time.perf_counter() - t0
    digits = [r["digits"] for r in scores["by_digits"]]
    plot_curves({"agent with calculator": (digits, [r["with_tool"] for r in scores["by_digits"]]),
                 "same model, direct answer": (digits, [r["direct"] for r in scores["by_digits"]])},
                run.file("accuracy.png"),
                title=f"tiny GPT-2 ({trained['params']:,} params, {trained['steps']} steps): "
                                                "held-out accuracy", xlabel="digits per operand",
                                                ylabel="accuracy", xticks=digits)
    summary = {
        "steps": trained["steps"], "params": trained["params"], "train_seconds": trained["train_seconds"],
        "final_val_loss": trained["final_val_loss"], "eval_seconds": round(eval_seconds, 2),
        "with_tool_accuracy": scores["with_tool_accuracy"], "direct_accuracy": scores["direct_accuracy"],
        "by_digits": scores["by_digits"], "agent_parse_errors": scores["parse_errors"],
        "tool_calls": scores["tool_calls"], "parser": parser_round_trip(held), "memory": memory,
        "model_dir": trained["model_dir"], "pictures": ["accuracy.png", "loss.png"],
    }
    run.save_summary(summary)
    return summary

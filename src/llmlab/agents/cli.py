"""`llmlab agents ...`: run a tool-using agent on any model, and the offline reproduction on a tiny model.

    llmlab agents run "What is 4821 * 377?" --model openai:http://127.0.0.1:8000/v1 --tools calculator,clock
    llmlab agents run "4821+377" --model hf:runs/agents/toy/checkpoint --style bare      # the toy model
    llmlab agents run "What is my name?" --model hf:DIR --tools memory --memory ada        # facts across runs
    llmlab agents train-toy --out runs/agents/toy                    # train, compare with/without the tool
    llmlab agents memory ada                                          # what the memory named ada holds
"""

from __future__ import annotations

from pathlib import Path

import typer

from llmlab.llm.registry import SPEC_HELP

app = typer.Typer(help="LLM agents: a ReAct loop with tools and memory over any llmlab.llm backend.",
                  no_args_is_help=True)


@app.command()
def run(question: str = typer.Argument(..., help="what to ask"),
        model: str = typer.Option(..., "--model", help=SPEC_HELP),
        tools: str = typer.Option("calculator", "--tools",
                                  help="comma-separated: calculator, clock, search, memory"),
        memory: str = typer.Option(None, "--memory", help="a long-term memory name: runs/agents/<name>/"),
        index: str = typer.Option("python-docs", "--index",
                                  help="the docs index the search tool reads (llmlab rag)"),
        mode: str = typer.Option("complete", "--mode", help="complete (one text prompt) or chat (messages)"),
        style: str = typer.Option("react", "--style", help="react (instructions) or bare (the toy's format)"),
        max_steps: int = typer.Option(None, "--max-steps",
                                      help="model calls before giving up (default 6; bare 3)"),
        max_new_tokens: int = typer.Option(None, "--max-new-tokens", help="per step (default 256; bare 64)"),
        temperature: float = typer.Option(0.0, "--temperature"),
        remember: bool = typer.Option(False, "--remember", help="store 'question -> answer' in the memory"),
        out: Path = typer.Option(None, "--out",
                                 help="run folder for transcript.jsonl (default runs/agents/run-<time>)"),
        quiet: bool = typer.Option(False, "--quiet", help="no step-by-step trace"),
        as_json: bool = typer.Option(False, "--json")) -> None:
    """Answer a question with a ReAct agent; the transcript goes to the run folder."""
    from llmlab.agents.agent import Agent, AgentConfig, check_question, print_trace
    from llmlab.agents.memory import LongTermMemory
    from llmlab.agents.reproduction import toy_agent_config
    from llmlab.agents.tools import build_tools
    from llmlab.console import print_summary
    from llmlab.llm import load_llm
    from llmlab.runs import RunFolder

    # everything the user typed is checked before a model loads or a run folder is made
    check_question(question)
    long_term = LongTermMemory.open(memory) if memory else None
    registry = build_tools(tools.split(","), memory=long_term, docs_index=index)
    base = toy_agent_config(recall_k=3) if style == "bare" else AgentConfig()
    chosen = {"max_steps": max_steps, "max_new_tokens": max_new_tokens}
    config = AgentConfig(**{**base.__dict__, "mode": mode, "style": style, "temperature": temperature,
                            "remember_answers": remember,
                            **{k: v for k, v in chosen.items() if v is not None}}).validate()
    folder = RunFolder.create("agents", name=None, out=out)
    folder.save_config({"question": question, "model": model, "tools": registry.names, "memory": memory,
                        **config.__dict__})
    with load_llm(model) as llm:
        agent = Agent(llm, registry, long_term, config, transcript=folder.file("transcript.jsonl"),
                      trace=None if (quiet or as_json) else print_trace)
        result = agent.run(question)
    summary = result.to_dict()
    folder.save_summary(summary)
    if as_json or quiet:
        print_summary(summary, as_json, title="agent")


@app.command("train-toy")
def train_toy(out: Path = typer.Option(None, "--out", help="run folder (default runs/agents/toy)"),
              overrides: list[str] = typer.Option(None, "--set",
                                                  help="preset override key=value (repeatable)"),
              overwrite: bool = typer.Option(False, "--overwrite",
                                             help="replace the run already in the run folder"),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """Train the tiny agent model on synthetic traces; held-out accuracy with and without the calculator,
    and the memory demo. Writes summary.json, accuracy.png and loss.png."""
    from llmlab.agents.reproduction import reproduce
    from llmlab.console import print_summary

    summary = reproduce(out=out, overrides=overrides, overwrite=overwrite)
    shown = {k: v for k, v in summary.items() if k not in ("by_digits", "memory")}
    shown["accuracy by digits (tool / direct)"] = ", ".join(
        f"{r['digits']}: {r['with_tool']:.2f} / {r['direct']:.2f}" for r in summary["by_digits"])
    shown["memory: second run correct / tool calls"] = (f"{summary['memory']['second_run_correct']}/"
                                                         f"{summary['memory']['questions']}, "
                                                         f"{summary['memory']['second_run_tool_calls']}")
    print_summary(summary if as_json else shown, as_json, title="agent toy")


@app.command("memory")
def show_memory(name: str = typer.Argument(..., help="the memory's name (runs/agents/<name>/)"),
                query: str = typer.Option(None, "--query", help="show only what a search for this recalls"),
                forget: str = typer.Option(None, "--forget", help="remove the facts with this key or text"),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """List (or search, or prune) the facts a long-term memory holds."""
    import json
    from dataclasses import asdict

    from rich.table import Table

    from llmlab.agents.memory import LongTermMemory
    from llmlab.console import console

    memory = LongTermMemory.open(name)
    if forget:
        console.print(f"removed {memory.forget(forget)} fact(s)")
    facts = memory.search(query, k=10) if query else memory.facts()
    if as_json:
        print(json.dumps([asdict(f) for f in facts], indent=1))
        return
    table = Table(title=f"memory {name} ({memory.path})")
    for column in ("key", "fact", "source"):
        table.add_column(column)
    for f in facts:
        table.add_row(f.key or "", f.text, f.source)
    console.print(table)


def register(root: typer.Typer) -> None:
    """Plug `llmlab agents ...` into the root command."""
    root.add_typer(app, name="agents")

"""`llmlab cot ...` and `llmlab icl ...`: prompt experiments against any model, and the offline reproductions.

    llmlab cot run --model hf:Qwen/Qwen2.5-0.5B-Instruct --chat --n 50      # direct vs chain of thought
    llmlab cot train                                                        # answer-only vs scratchpad, tiny
    GPT llmlab cot show --style cot --shots 2                                   # print a prompt
    llmlab icl run --model openai:http://127.0.0.1:8000/v1 --shots 0,1,2,4,8
    llmlab icl train --set max_steps=2000                                   # k-shot accuracy on unseen tasks
"""

from __future__ import annotations

from pathlib import Path

import typer

from llmlab.flags import option
from llmlab.llm.registry import SPEC_HELP

cot_app = typer.Typer(help="Chain-of-thought: direct vs step-by-step prompting on any model; scratchpad "
                           "training offline.",
                      no_args_is_help=True)
icl_app = typer.Typer(help="In-context learning: zero-shot vs few-shot on any model; k-shot learning of "
                           "unseen tasks offline.",
                      no_args_is_help=True)

OPT_HELP = "a backend option key=value, repeatable (e.g. device=cuda, model=NAME for an openai: server)"


def register(root: typer.Typer) -> None:
    """Both command groups live in this package (the roadmap's "cot" and "icl" projects)."""
    root.add_typer(cot_app, name="cot")
    root.add_typer(icl_app, name="icl")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _ints(text: str, what: str) -> list[int]:
    from llmlab.errors import LabError

    try:
        values = [int(p) for p in _split(text)]
    except ValueError:
        raise LabError(f"{what} {text!r} is not a comma-separated list of whole numbers",
                       hint="e.g. 0,1,2,4,8") from None
    if not values or min(values) < 0:
        raise LabError(f"{what} {text!r} needs at least one number, none negative", hint="e.g. 0,1,2,4,8")
    return values


def _options(opt: list[str] | None) -> dict:
    from llmlab.llm.registry import parse_options

    return parse_options(opt)


# ----------------------------------------------------------------------------------------------- cot


@cot_app.command("run")
def cot_run(model: str = typer.Option(..., "--model", help=SPEC_HELP),
            tasks: str = typer.Option("arithmetic", "--tasks",
                                      help="task set (arithmetic: multi-step word problems)"),
            n: int = typer.Option(50, "--n", help="problems per condition"),
            conditions: str = typer.Option("direct-0,cot-0,direct-4,cot-4", "--conditions",
                                           help="STYLE-SHOTS list: direct or cot, with that many worked "
                                                "examples"),
            min_steps: int = typer.Option(2, "--min-steps"), max_steps: int = typer.Option(4, "--max-steps"),
            num_samples: int = option(1, "--num-samples", old=["--samples"],
                                      help="> 1: self-consistency (majority of n sampled answers)"),
            temperature: float = typer.Option(None, "--temperature",
                                              help="default: 0 (greedy), 0.7 with --num-samples"),
            max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
            chat: bool = typer.Option(False, "--chat", help="send chat messages (instruction-tuned models)"),
            two_stage: bool = typer.Option(True, "--two-stage/--one-stage",
                                           help="zero-shot CoT: ask 'Therefore, the answer is' when no "
                                                "answer was stated"),
            seed: int = typer.Option(0, "--seed"),
            opt: list[str] = typer.Option(None, "--opt", help=OPT_HELP),
            out: Path = typer.Option(None, "--out", help="run folder (default runs/cot/<name>)"),
            name: str = typer.Option(None, "--name"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Direct vs chain-of-thought prompting (zero- and few-shot) on word problems with known answers."""
    from llmlab.console import print_summary
    from llmlab.errors import LabError
    from llmlab.experiments.harness import CotRun
    from llmlab.experiments.harness_runs import cot_experiment
    from llmlab.experiments.report import print_table
    from llmlab.runs import check_name

    if name:
        check_name(name)              # before the model loads
    if _split(tasks) != ["arithmetic"]:
        raise LabError(f"unknown chain-of-thought task set {tasks!r}", hint="use --tasks arithmetic")
    cfg = CotRun(samples=num_samples, temperature=temperature, max_new_tokens=max_new_tokens, chat=chat,
                 seed=seed, n=n, conditions=_split(conditions), min_steps=min_steps, max_steps=max_steps,
                 two_stage=two_stage)
    summary = cot_experiment(model, cfg, out, name, _options(opt))
    if not as_json:
        print_table(summary["table"], f"{summary['model']}: word problems")
    print_summary({k: v for k, v in summary.items() if k not in ("table", "by_steps")}, as_json,
                  title="cot run")


@cot_app.command("train")
def cot_train(overrides: list[str] = typer.Option(None, "--set",
                                                  help="preset override key=value (see docs/cot.md)"),
              out: Path = typer.Option(None, "--out", help="run folder (default runs/cot/train)"),
              overwrite: bool = typer.Option(False, "--overwrite",
                                             help="replace the runs already in the run folder"),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """Offline: one tiny GPT-2 trained to answer directly, one to write a scratchpad; held-out accuracy by
    length."""
    from llmlab.console import print_summary
    from llmlab.experiments.cot_train import compare_cot, cot_summary
    from llmlab.experiments.report import print_table

    result = compare_cot(out=out, overrides=overrides, overwrite=overwrite)
    summary = cot_summary(result)
    if not as_json:
        print_table(result["table"], "held-out accuracy by number of operations")
    print_summary({**{k: v for k, v in summary.items() if k != "by_ops"}, "run": str(result["run"].path)},
                  as_json, title="cot train")


@cot_app.command("show")
def cot_show(style: str = typer.Option("cot", "--style", help="direct or cot"),
             shots: int = typer.Option(2, "--shots"),
             index: int = option(0, "--item", old=["--index"], help="which problem (0, 1, ...)"),
             chat: bool = typer.Option(False, "--chat", help="show the chat messages instead"),
             seed: int = typer.Option(0, "--seed")) -> None:
    """Print the prompt one condition sends for one problem (and the answer it should reach)."""
    from llmlab.experiments.prompts import cot_prompt
    from llmlab.experiments.word_problems import word_problems

    item = word_problems(index + 1, seed)[index]
    prompt = cot_prompt(item, style, word_problems(max(shots, 1), seed + 1000)[:shots])
    _show(prompt, chat, f"expected answer: {item.answer}")


def _show(prompt, chat: bool, footer: str) -> None:
    from llmlab.console import console

    if chat:
        for m in prompt.messages:
            console.print(f"[bold]{m['role']}:[/bold] {m['content']}", markup=True, highlight=False)
    else:
        console.print(prompt.text, markup=False, highlight=False)
    console.print(f"\n[dim]{footer}[/dim]")


# ----------------------------------------------------------------------------------------------- icl


@icl_app.command("run")
def icl_run(model: str = typer.Option(..., "--model", help=SPEC_HELP),
            tasks: str = typer.Option("sentiment,capital,reverse", "--tasks"),
            shots: str = typer.Option("0,1,2,4,8", "--shots", help="numbers of demonstrations to compare"),
            n: int = typer.Option(40, "--n", help="queries per task (each task ships 40)"),
            instruction: bool = typer.Option(True, "--instruction/--no-instruction",
                                             help="state the task first (without it, 0 shots is a bare "
                                                  "query)"),
            num_samples: int = option(1, "--num-samples", old=["--samples"],
                                      help="> 1: majority of n sampled answers"),
            temperature: float = typer.Option(None, "--temperature"),
            max_new_tokens: int = typer.Option(12, "--max-new-tokens"),
            chat: bool = typer.Option(False, "--chat", help="send chat messages (instruction-tuned models)"),
            seed: int = typer.Option(0, "--seed", help="which demonstrations are drawn"),
            opt: list[str] = typer.Option(None, "--opt", help=OPT_HELP),
            out: Path = typer.Option(None, "--out", help="run folder (default runs/icl/<name>)"),
            name: str = typer.Option(None, "--name"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Zero-shot vs k-shot prompting on small shipped tasks (sentiment, capital cities, word reversal)."""
    from llmlab.console import print_summary
    from llmlab.experiments.harness import IclRun
    from llmlab.experiments.harness_runs import icl_experiment
    from llmlab.experiments.report import print_table
    from llmlab.runs import check_name

    if name:
        check_name(name)              # before the model loads
    cfg = IclRun(samples=num_samples, temperature=temperature, max_new_tokens=max_new_tokens, chat=chat,
                 seed=seed, tasks=_split(tasks), shots=_ints(shots, "--shots"), n=n, instruction=instruction)
    summary = icl_experiment(model, cfg, out, name, _options(opt))
    if not as_json:
        print_table(summary["table"], f"{summary['model']}: accuracy by shots")
    print_summary({k: v for k, v in summary.items() if k != "table"}, as_json, title="icl run")


@icl_app.command("train")
def icl_train(overrides: list[str] = typer.Option(None, "--set",
                                                  help="preset override key=value (see docs/icl.md)"),
              out: Path = typer.Option(None, "--out", help="run folder (default runs/icl/train)"),
              overwrite: bool = typer.Option(False, "--overwrite",
                                             help="replace the run already in the run folder"),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """Offline: a tiny GPT-2 trained on random (x -> y) tasks; k-shot accuracy on tasks it never saw."""
    from llmlab.console import print_summary
    from llmlab.experiments.icl_train import icl_summary, train_icl
    from llmlab.experiments.report import print_table

    result = train_icl(out=out, overrides=overrides, overwrite=overwrite)
    summary = icl_summary(result)
    if not as_json:
        print_table(result["by_shots"], "unseen tasks: accuracy by shots")
    print_summary({**{k: v for k, v in summary.items() if k not in ("by_shots", "few_shot", "ideal")},
                   "run": str(result["run"].path)}, as_json, title="icl train")


@icl_app.command("show")
def icl_show(task: str = typer.Option("sentiment", "--task"), shots: int = typer.Option(2, "--shots"),
             index: int = option(0, "--item", old=["--index"], help="which query of the task (0, 1, ...)"),
             instruction: bool = typer.Option(True, "--instruction/--no-instruction"),
             chat: bool = typer.Option(False, "--chat"), seed: int = typer.Option(0, "--seed")) -> None:
    """Print the k-shot prompt for one query of a task."""
    from llmlab.experiments.icl_tasks import icl_task
    from llmlab.experiments.prompts import icl_prompt, pick_demos

    t = icl_task(task)
    item = t.items[index % len(t.items)]
    _show(icl_prompt(t, item, pick_demos(t.items, item, shots, seed), instruction), chat,
          f"expected answer: {item.answer}")

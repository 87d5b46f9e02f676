"""A harness run as a run folder: load the model, ask every prompt (with a progress bar), keep every answer,
write the accuracy tables, the picture and summary.json. `llmlab cot run` and `llmlab icl run` call these.

    summary = cot_experiment("hf:Qwen/Qwen2.5-0.5B-Instruct", CotRun(n=50, chat=True))
    summary = icl_experiment("openai:http://127.0.0.1:8000/v1", IclRun(shots=[0, 1, 2, 4, 8]))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmlab.experiments.harness import CotRun, IclRun, run_cot, run_icl, total_prompts
from llmlab.experiments.pictures import cot_harness_picture, icl_harness_picture
from llmlab.experiments.report import accuracy_table, lookup, write_jsonl
from llmlab.llm import LLM, load_llm
from llmlab.runs import RunFolder


def _short(table: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: r[k] for k in (*keys, "n", "correct", "accuracy", "ci_low", "ci_high")} for r in table]


def _run(project: str, model: str | LLM, cfg: CotRun | IclRun, out: str | Path | None, name: str | None,
         options: dict | None) -> tuple[RunFolder, str, list[dict[str, Any]]]:
    """Ask every prompt; returns the run folder, the model's name and the rows. A model loaded here is closed
    here."""
    from llmlab.progress import progress_bar

    cfg.check()
    # before the run folder: a bad model spec leaves no empty folder
    llm = load_llm(model, **(options or {}))
    run = RunFolder.create(project, name=name, out=out)
    run.save_config({"model": llm.name, "backend_options": options or {}, **_as_dict(cfg)})
    runner = run_cot if isinstance(cfg, CotRun) else run_icl
    try:
        with progress_bar(total_prompts(cfg), f"{project} {llm.name}", unit="prompt") as bar:
            rows = runner(llm, cfg, progress=lambda: bar.advance(1))
    finally:
        if llm is not model:           # the caller's own LLM object stays open for the caller
            llm.close()
    write_jsonl(rows, run.file("items.jsonl"))
    return run, llm.name, rows


def _as_dict(cfg: Any) -> dict[str, Any]:
    from llmlab.config import config_dict

    return config_dict(cfg)


def cot_experiment(model: str | LLM, cfg: CotRun, out: str | Path | None = None, name: str | None = None,
                   options: dict | None = None) -> dict[str, Any]:
    run, model_name, rows = _run("cot", model, cfg, out, name, options)
    table = accuracy_table(rows, by=("condition", "style", "shots"))
    by_steps = accuracy_table(rows, by=("condition", "steps"))
    picture = cot_harness_picture(table, run.file("accuracy_by_condition.png"), model_name)
    parts = [f"{r['condition']} {r['accuracy']:.0%} [{r['ci_low']:.0%}, {r['ci_high']:.0%}]" for r in table]
    errors = sum(1 for r in rows if r.get("error"))
    summary = {
        "headline": f"{model_name} on {cfg.n} word problems ({cfg.min_steps}-{cfg.max_steps} steps): "
                    f"" + ", ".join(parts),
        "model": model_name, "accuracy": {r["condition"]: r["accuracy"] for r in table},
        "table": _short(table, "condition", "style", "shots"), "by_steps": _short(by_steps, "condition",
                                                                                  "steps"),
        "prompts_too_long": errors, "samples": cfg.samples, "pictures": [picture.name],
        "items": "items.jsonl",
    }
    run.save_summary(summary)
    return {**summary, "run": str(run.path)}


def icl_experiment(model: str | LLM, cfg: IclRun, out: str | Path | None = None, name: str | None = None,
                   options: dict | None = None) -> dict[str, Any]:
    run, model_name, rows = _run("icl", model, cfg, out, name, options)
    table = accuracy_table(rows, by=("task", "shots"))
    picture = icl_harness_picture(table, run.file("accuracy_by_shots.png"), model_name)
    parts = []
    for task in cfg.tasks:
        ends = [lookup(table, task=task, shots=k) for k in (min(cfg.shots), max(cfg.shots))]
        parts.append(f"{task} {ends[0]['shots']}-shot {ends[0]['accuracy']:.0%} -> "
                     f"{ends[1]['shots']}-shot {ends[1]['accuracy']:.0%}")
    summary = {
        "headline": f"{model_name}: " + "; ".join(parts),
        "model": model_name, "table": _short(table, "task", "shots"),
        "accuracy": {f"{r['task']}@{r['shots']}": r["accuracy"] for r in table},
        "prompts_too_long": sum(1 for r in rows if r.get("error")), "samples": cfg.samples,
        "pictures": [picture.name], "items": "items.jsonl",
    }
    run.save_summary(summary)
    return {**summary, "run": str(run.path)}

"""Roadmap step "Chain-of-Thought Prompting": the offline scratchpad reproduction, then the harness once on a
random model.

quick (about 30 s of the demo): two tiny GPT-2s (same shape, same problems, 1000 steps each), one answering
2-4 operation chains mod 10 directly and one writing a scratchpad, scored on held-out problems; then the
word-problem harness (direct / CoT, 0 and 2 shots) through `llmlab.llm` on a random-weight model: a check of
the mechanics only (prompts built, outputs collected, answers extracted), its accuracy means nothing. full:
3000 steps, 2-5 operations.
"""

from __future__ import annotations

FULL = ["max_steps=3000", "batch_size=64", "max_ops=5", "n_eval=200"]


def run(ctx) -> dict:
    from llmlab.experiments.cot_train import compare_cot, cot_summary
    from llmlab.experiments.harness import CotRun
    from llmlab.experiments.harness_runs import cot_experiment
    from llmlab.serve.random_model import make_model_dir

    result = compare_cot(out=ctx.out / "train", overrides=([] if ctx.quick else FULL) + [f"seed={ctx.seed}"],
                         overwrite=True)           # the roadmap replaces its own run every time
    summary = cot_summary(result)
    acc = {r["mode"]: r for r in result["overall"]}
    answer, pad = acc["answer"], acc["scratchpad"]
    conditions = result["conditions"]

    model_dir = make_model_dir(ctx.out / "random-model", family="gpt2", preset="tiny", tokenizer="bpe",
                               n_positions=1024)
    cfg = CotRun(n=3, conditions=["direct-0", "cot-0", "direct-2", "cot-2"], max_new_tokens=12)
    harness = cot_experiment(f"engine:{model_dir}", cfg, out=ctx.out / "harness-mechanics")
    items = [
        line for line in (ctx.out / "harness-mechanics" / "items.jsonl").read_text().splitlines() if line
    ]
    checks = {
        "scratchpad_beats_answer_only": pad["ci_low"] > answer["ci_high"],
        "same_model_and_steps": (
            conditions["answer"]["params"] == conditions["scratchpad"]["params"]
            and conditions["answer"]["steps"] == conditions["scratchpad"]["steps"]
        ),
        "harness_asked_every_prompt": len(items) == len(cfg.conditions) * cfg.n
        and harness["prompts_too_long"] == 0,
        "pictures_written": all((ctx.out / "train" / p).exists() for p in summary["pictures"])
        and (ctx.out / "harness-mechanics" / harness["pictures"][0]).exists(),
    }
    return {
        "checks": checks,
        "headline": summary["headline"] + "; harness mechanics checked on a random-weight model (its "
                                          "accuracy is meaningless)",
        "pictures": [f"train/{p}" for p in summary["pictures"]],
        "model": {"name": "tiny GPT-2 trained here twice (answer-only, scratchpad)",
                  "params": conditions["answer"]["params"]},
        "accuracy": summary["accuracy"], "ci95": summary["ci95"], "by_ops": summary["by_ops"],
        "conditions": conditions, "harness_mechanics": {"model": harness["model"], "prompts": len(items),
                                                        "run": "harness-mechanics"},
    }

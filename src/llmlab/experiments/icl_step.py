"""Roadmap step "In-Context Learning": the offline k-shot reproduction, then the harness once on a random
model.

quick (about 20 s of the demo): a tiny GPT-2 trained 600 steps on sequences of 16 (x -> y) demonstrations,
each sequence from its own random task (8 inputs, 4 labels), scored on tasks it never saw at every shot count
0..15 against chance and an ideal in-context learner; then the k-shot harness (sentiment, 0/1/2 shots) through
`llmlab.llm` on a random-weight model: a check of the mechanics only. full: 3000 steps.
"""

from __future__ import annotations

FULL = ["max_steps=3000", "batch_size=64", "n_eval=2000"]


def run(ctx) -> dict:
    from llmlab.experiments.harness import IclRun
    from llmlab.experiments.harness_runs import icl_experiment
    from llmlab.experiments.icl_train import icl_summary, train_icl
    from llmlab.experiments.report import lookup
    from llmlab.serve.random_model import make_model_dir

    result = train_icl(out=ctx.out / "train", overrides=([] if ctx.quick else FULL) + [f"seed={ctx.seed}"],
                       overwrite=True)             # the roadmap replaces its own run every time
    summary = icl_summary(result)
    table, chance = result["by_shots"], summary["chance"]
    zero, last = table[0], table[-1]
    unseen = lookup(result["by_seen"], seen=False)

    model_dir = make_model_dir(ctx.out / "random-model", family="gpt2", preset="tiny", tokenizer="bpe",
                               n_positions=1024)
    cfg = IclRun(tasks=["sentiment"], shots=[0, 1, 2], n=3)
    harness = icl_experiment(f"engine:{model_dir}", cfg, out=ctx.out / "harness-mechanics")
    items = [
        line for line in (ctx.out / "harness-mechanics" / "items.jsonl").read_text().splitlines() if line
    ]
    checks = {
        # zero-shot on an unseen task is chance: the interval must hold 1 / n_labels
        "zero_shot_is_chance": zero["ci_low"] <= chance <= zero["ci_high"],
        "few_shot_beats_zero_shot": last["ci_low"] > zero["ci_high"],
        # a query absent from the demonstrations cannot be answered from context: still chance
        "unseen_queries_at_chance": unseen["ci_low"] <= chance + 0.05 and unseen["ci_high"] >= chance - 0.05,
        "harness_asked_every_prompt": len(items) == len(cfg.shots) * cfg.n
        and harness["prompts_too_long"] == 0,
        "pictures_written": all((ctx.out / "train" / p).exists() for p in summary["pictures"]),
    }
    return {
        "checks": checks,
        "headline": summary["headline"] + "; harness mechanics checked on a random-weight model (its "
                                          "accuracy is meaningless)",
        "pictures": [f"train/{p}" for p in summary["pictures"]],
        "model": {"name": "tiny GPT-2 trained here", "params": summary["training"]["params"]},
        "zero_shot": summary["zero_shot"], "few_shot": summary["few_shot"], "ideal": summary["ideal"],
        "seen_accuracy": summary["seen_accuracy"], "unseen_accuracy": summary["unseen_accuracy"],
        "training": summary["training"], "harness_mechanics": {"model": harness["model"],
                                                               "prompts": len(items),
                                                               "run": "harness-mechanics"},
    }

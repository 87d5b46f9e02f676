"""The offline demonstration: SFT -> DPO and SFT -> GRPO on the chain task, several seeds, Wilson intervals.

    summary = posttrain_demo("runs/finetune/posttrain", seeds=[0, 1, 2])
    llmlab finetune demo --seeds 0,1,2

Per seed: a tiny GPT trained from scratch by chat SFT, to convergence, on the answers of a flawed
demonstrator (toy_task: most of its multiplications are written as additions), so what it gets wrong is
the demonstrator's habit; then two copies of it: one trained by DPO on pairs of the right answer and its
own wrong answer, one by GRPO with the exact-answer reward, both judged by the true answers. All three
answer the same held-out problems greedily; accuracy is pooled over seeds with a Wilson 95% interval
(`--set slip=0`: an honest demonstrator, imitation alone). Each stage's run folder keeps its curves
(implicit rewards for DPO, reward and KL for GRPO) and an HF model directory.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlab.errors import LabError

STAGES = ("sft", "dpo", "grpo")


@dataclass
class ToyShape:
    """The tiny GPT-2 the demo trains from scratch (llmlab.training.toy_gpt)."""
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    n_inner: int | None = None


def split_overrides(overrides: list[str] | None) -> dict[str, list[str]]:
    """`key=value` applies to every stage; `dpo.key=value` to that stage only."""
    out: dict[str, list[str]] = {s: [] for s in STAGES}
    for item in overrides or []:
        head, _, rest = item.partition(".")
        if head in STAGES and "=" in rest and "=" not in head:
            out[head].append(rest)
        else:
            for stage in STAGES:
                out[stage].append(item)
    return out


def one_seed(seed: int, preset: str, overrides: dict[str, list[str]], folder: Path,
             dpo_pairs: int, stages: tuple[str, ...]) -> dict[str, Any]:
    from llmlab.experiments.stats import wilson_interval
    from llmlab.finetune.posttrain_presets import resolve_posttrain
    from llmlab.finetune.posttrain_run import run_stage
    from llmlab.finetune.toy_task import ChainTask, exact_answer_reward
    from llmlab.runs import RunFolder
    from llmlab.training.toy_gpt import build_toy_gpt

    first = resolve_posttrain(preset, overrides["sft"], stage="sft", seed=seed)
    task = ChainTask.for_config(first)
    tok = task.tokenizer()
    import torch

    torch.manual_seed(seed)
    sft = build_toy_gpt(ToyShape(), len(tok), n_positions=64, sinusoidal=True)
    result: dict[str, Any] = {"seed": seed, "stages": {}}

    def record(stage: str, model: Any, summary: dict[str, Any]) -> None:
        right, total = task.accuracy(model, tok)
        low, high = wilson_interval(right, total)
        result["stages"][stage] = {"right": right, "total": total, "accuracy": right / total,
                                   "ci95": [low, high], **summary}

    cfg = resolve_posttrain(preset, overrides["sft"], stage="sft", seed=seed)
    sft, summary = run_stage("sft", sft, tok, task.conversations(), cfg,
                             RunFolder.create("finetune", out=folder / "sft"), description=f"seed {seed} sft")
    record("sft", sft, summary)
    if "dpo" in stages:
        pairs = task.preference_pairs(sft, tok, dpo_pairs)
        result["dpo_pairs_from_own_mistakes"] = sum(p["rejected"] != p["chosen"] for p in pairs)
        cfg = resolve_posttrain(preset, overrides["dpo"], stage="dpo", seed=seed)
        model, summary = run_stage("dpo", copy.deepcopy(sft), tok, pairs, cfg,
                                   RunFolder.create("finetune", out=folder / "dpo"),
                                   description=f"seed {seed} dpo")
        record("dpo", model, summary)
    if "grpo" in stages:
        cfg = resolve_posttrain(preset, overrides["grpo"], stage="grpo", seed=seed)
        model, summary = run_stage("grpo", copy.deepcopy(sft), tok, task.prompts(), cfg,
                                   RunFolder.create("finetune", out=folder / "grpo"),
                                   reward_fn=exact_answer_reward,
                                   description=f"seed {seed} grpo")
        record("grpo", model, summary)
    return result


def posttrain_demo(out: str | Path | None = None, seeds: list[int] | None = None, preset: str = "toy",
                   overrides: list[str] | None = None, overwrite: bool = False, dpo_pairs: int = 1000,
                   stages: tuple[str, ...] = STAGES) -> dict[str, Any]:
    """Every seed's SFT -> DPO / GRPO run, the pooled accuracy with Wilson intervals, the pictures; the
    summary (also summary.json). A folder that already holds a run is refused unless `overwrite`."""
    from llmlab.experiments.stats import wilson_interval
    from llmlab.runs import RunFolder

    seeds = [0, 1, 2] if seeds is None else list(seeds)
    if not seeds or "sft" not in stages or set(stages) - set(STAGES):
        raise LabError(f"stages {stages} and seeds {seeds}: need at least one seed and sft among "
                       + ", ".join(STAGES), hint="--seeds 0,1,2")
    run = RunFolder.start("finetune", name="posttrain", out=out, overwrite=overwrite)
    split = split_overrides(overrides)
    run.save_config({"preset": preset, "seeds": seeds, "overrides": split, "dpo_pairs": dpo_pairs,
                     "stages": list(stages)})
    results = [one_seed(s, preset, split, run.file(f"seed{s}"), dpo_pairs, stages) for s in seeds]
    pooled = {}
    for stage in stages:
        right = sum(r["stages"][stage]["right"] for r in results)
        total = sum(r["stages"][stage]["total"] for r in results)
        pooled[stage] = {"right": right, "total": total, "accuracy": right / total,
                         "ci95": list(wilson_interval(right, total)),
                         "per_seed": [r["stages"][stage]["accuracy"] for r in results]}
    picture = accuracy_picture(pooled, results, stages, run.file("accuracy.png"))
    parts = [f"{s} {p['accuracy']:.1%} [{p['ci95'][0]:.1%}, {p['ci95'][1]:.1%}]" for s, p in pooled.items()]
    summary = {
        "headline": f"held-out exact match over {len(seeds)} seeds ({pooled['sft']['total']} answers per "
                    "stage): " + " · ".join(parts),
        "pooled": pooled, "seeds": results, "pictures": [picture.name],
        "checks": {f"sft_below_{s}": pooled["sft"]["accuracy"] < pooled[s]["accuracy"] for s in stages
                   if s != "sft"},
    }
    run.save_summary(summary)
    return summary


def accuracy_picture(pooled: dict[str, Any], results: list[dict[str, Any]], stages: tuple[str, ...],
                     path: Path) -> Path:
    """Accuracy per stage: one line per seed, the pooled accuracy with its Wilson band."""
    from llmlab.plots import plot_curves

    xs = list(range(len(stages)))
    series = {f"seed {r['seed']}": (xs, [r["stages"][s]["accuracy"] for s in stages]) for r in results}
    series["pooled"] = (xs, [pooled[s]["accuracy"] for s in stages])
    bands = {"pooled": ([pooled[s]["ci95"][0] for s in stages], [pooled[s]["ci95"][1] for s in stages])}
    return plot_curves(series, path, title="held-out exact match: " + " / ".join(stages),
                       xlabel="stage: " + ", ".join(f"{i} {s}" for i, s in enumerate(stages)),
                       ylabel="accuracy",
                       xticks=xs, bands=bands, dashed=[k for k in series if k != "pooled"])

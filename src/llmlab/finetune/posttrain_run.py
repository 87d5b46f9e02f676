"""One post-training stage on llmlab's training loop: chat SFT, DPO or GRPO, full or with llmlab's LoRA.

    model = run_stage("dpo", model, tok, data, cfg, run)           # data: conversations | pairs | prompts
    # run/: config.json, metrics.jsonl (loss, lr, grad norm), objective.jsonl (the stage's own metrics),
    #       objective.png, model/ (an HF model directory with the tokenizer and its chat template)

The model is trained in place and returned as a plain HF model (a LoRA is merged and removed at the end).
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from llmlab.config import config_dict
from llmlab.finetune.posttrain_presets import PostTrainConfig, train_config
from llmlab.runs import RunFolder

# the curves each stage draws: (metrics, title, y label)
PICTURES = {
    "sft": [(("loss",), "chat SFT: loss on the assistant tokens", "loss")],
    "dpo": [(("reward_margin", "rewards_chosen", "rewards_rejected"), "DPO: implicit rewards",
             "beta * log ratio"),
            (("reward_accuracy",), "DPO: pairs ranked right", "share")],
    "grpo": [(("reward", "reward_std"), "GRPO: reward (mean, std within groups)", "reward"),
             (("kl", "clip_fraction"), "GRPO: KL to the reference, clipped share", "")],
}


def run_stage(stage: str, model: Any, tokenizer: Any, data: Any, cfg: PostTrainConfig, run: RunFolder,
              reward_fn: Any = None, reference: Any = None, description: str | None = None
              ) -> tuple[Any, dict]:
    """Train `model` for one stage; (the plain trained model, a summary with the stage's last metrics)."""
    import torch

    from llmlab.finetune.chat_sft import chat_rows, require_chat_template
    from llmlab.finetune.lora import add_lora, strip_lora, trainable_parameters
    from llmlab.training import Trainer

    require_chat_template(tokenizer, {"sft": "chat SFT", "dpo": "DPO", "grpo": "GRPO"}[stage])
    torch.manual_seed(cfg.seed)
    loss_fn, rows = None, None
    if stage == "sft":
        source = chat_rows(tokenizer, data, cfg.batch_size, seed=cfg.seed, max_length=cfg.max_length)
    elif stage == "dpo":
        from llmlab.finetune.dpo import DPOObjective, PreferencePairs

        source = PreferencePairs(tokenizer, data, cfg.batch_size, seed=cfg.seed, max_length=cfg.max_length)
        source.compute_reference(model)       # before any LoRA: the reference is the model as it starts
        loss_fn = DPOObjective(source, cfg.beta)
    else:
        from llmlab.finetune.grpo import GroupRollouts, GRPOObjective

        source = GroupRollouts(model, reference, tokenizer, data, reward_fn, cfg)
        loss_fn = GRPOObjective(source, cfg)
    if cfg.method == "lora-scratch":
        add_lora(model, cfg.target_modules, cfg.r, cfg.alpha, cfg.lora_dropout)
    params = trainable_parameters(model)
    train = train_config(cfg)
    trainer = Trainer(model, train, run, source, loss_fn=loss_fn, description=description or stage,
                      run_config={"posttrain": config_dict(cfg), "train": config_dict(train)})
    summary = trainer.fit()
    if cfg.method == "lora-scratch":
        model = strip_lora(model)
    shutil.rmtree(run.file("checkpoint"), ignore_errors=True)    # the outputs: model/ (plain, merged)
    model.eval()
    model.save_pretrained(run.file("model"))
    tokenizer.save_pretrained(run.file("model"))
    rows = getattr(loss_fn, "rows", None) or []
    pictures = write_objective(stage, rows, run) if rows else []
    last = {k: round(v, 4) for k, v in _window_mean(rows).items()}
    return model, {"stage": stage, "steps": summary["steps"], "train_seconds": summary["train_seconds"],
                   **params, "last": last, "pictures": pictures, "model_dir": str(run.path / "model")}


def _window_mean(rows: list[dict[str, float]], n: int = 10) -> dict[str, float]:
    """The mean of each metric over the last n steps (one step is noisy)."""
    tail = rows[-n:]
    return {k: sum(r[k] for r in tail) / len(tail) for k in tail[0]} if tail else {}


def write_objective(stage: str, rows: list[dict[str, float]], run: RunFolder) -> list[str]:
    """objective.jsonl (one row per step) and the stage's pictures."""
    from llmlab.plots import plot_curves

    with open(run.file("objective.jsonl"), "w", encoding="utf-8") as f:
        for step, row in enumerate(rows, 1):
            f.write(json.dumps({"step": step, **row}) + "\n")
    names = []
    for i, (keys, title, ylabel) in enumerate(PICTURES[stage]):
        steps = list(range(1, len(rows) + 1))
        series = {k: (steps, [r[k] for r in rows]) for k in keys if k in rows[0]}
        name = f"{stage}_{i}.png"
        plot_curves(series, run.file(name), title=title, ylabel=ylabel)
        names.append(name)
    return names


REWARDS = ("exact", "last-number")


def posttrain(stage: str, model_spec: str, data_spec: str = "toy", out: str | None = None,
              preset: str = "toy", overrides: list[str] | None = None, chat_template: str | None = None,
              reward: str = "exact",
              overwrite: bool = False, **given: Any) -> dict[str, Any]:
    """`llmlab finetune sft|dpo|grpo`: load, train one stage, save model/ and summary.json; the summary.
    On the toy task the held-out accuracy before and after is measured too."""
    from llmlab.errors import LabError
    from llmlab.experiments.stats import wilson_interval
    from llmlab.finetune.posttrain_data import last_number_reward, load_rows, posttrain_model
    from llmlab.finetune.posttrain_presets import resolve_posttrain
    from llmlab.finetune.toy_task import ChainTask, exact_answer_reward

    if reward not in REWARDS:
        raise LabError(f"unknown reward {reward!r}", hint="--reward " + " or ".join(REWARDS))
    if model_spec == "tiny" and stage != "sft":
        raise LabError(f"{stage} starts from a model that already answers (an SFT model), not a fresh one",
                       hint="run `llmlab finetune sft --model tiny` first, then "
                            "--model runs/finetune/sft/model")
    cfg = resolve_posttrain(preset, overrides, stage=stage, **given)
    run = RunFolder.start("finetune", name=stage, out=out, overwrite=overwrite)
    task = None
    if data_spec == "toy":
        task = ChainTask.for_config(cfg)
    model, tok = posttrain_model(model_spec, task, chat_template)
    rows = load_rows(data_spec, stage, task, model, tok)

    def accuracy() -> dict[str, Any]:
        right, total = task.accuracy(model, tok)
        return {"accuracy": right / total, "ci95": list(wilson_interval(right, total)), "n": total}

    before = accuracy() if task is not None and model_spec != "tiny" else None
    reward_fn = {"exact": exact_answer_reward, "last-number": last_number_reward}[reward]
    model, summary = run_stage(stage, model, tok, rows, cfg, run, reward_fn=reward_fn)
    summary.update({"model": model_spec, "data": data_spec, "examples": len(rows)})
    if task is not None:
        summary["held_out_before"], summary["held_out_after"] = before, accuracy()
    run.save_summary(summary)
    return summary

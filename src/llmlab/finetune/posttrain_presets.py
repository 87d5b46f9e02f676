"""Post-training presets (chat SFT, DPO, GRPO): one dataclass, `--set key=value` overrides, named recipes.

    cfg = resolve_posttrain("toy", ["beta=0.2"], stage="dpo")

`toy` is the offline demonstration (a tiny GPT trained here on the chain task, seconds per stage on a CPU);
`cpu` is GPT-2 small on a laptop; `gpu` is a 0.1-1B chat model on one CUDA card.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from llmlab.config import apply_overrides
from llmlab.errors import LabError

STAGES = ("sft", "dpo", "grpo")
METHODS = ("full", "lora-scratch")
LOSS_TYPES = ("grpo", "bnpo")


@dataclass
class PostTrainConfig:
    stage: str = "sft"
    method: str = "full"                 # full | lora-scratch (llmlab's LoRA, lora.py, merged at the end)
    r: int = 8
    alpha: float = 16.0
    lora_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["c_attn", "c_proj", "c_fc"])
    # --- the loop (llmlab.training): AdamW, warmup then constant, clipping at 1.0
    max_steps: int = 100
    batch_size: int = 16                 # conversations (sft), pairs (dpo), prompts (grpo: x group_size rows)
    lr: float = 1e-4
    warmup_steps: int = 5
    schedule: str = "constant"           # after warmup: constant, or cosine down to lr / 10
    max_length: int = 512                # tokens per row (cut beyond; a row left with no target is dropped)
    log_interval: int = 10
    seed: int = 0
    threads: int = 0                     # CPU threads (0: torch's default; 1 suits the toy)
    # --- DPO
    beta: float = 0.1                    # how far from the reference the implicit reward lets the policy move
    # --- GRPO
    group_size: int = 8                  # completions sampled per prompt
    max_new_tokens: int = 64
    temperature: float = 1.0             # sampling temperature; log-probs use logits / temperature as well
    top_k: int = 0
    top_p: float = 1.0
    epsilon: float = 0.2                 # the PPO clip range [1 - eps, 1 + eps] of the ratio
    kl_beta: float = 0.04                # weight of the KL penalty to the reference
    kl_correction: bool = True           # weigh the KL by pi / pi_old (TRL's use_bias_correction_kl)
    iterations: int = 1                  # optimizer steps per batch of samples (mu; 1: the ratio is always 1)
    loss_type: str = "grpo"              # grpo: token mean per completion, then mean | bnpo: all tokens' mean
    # --- the toy task (--data toy)
    problems: int = 4000                 # training problems (DPO pairs: the first 1000 of them)
    eval_problems: int = 300             # held-out problems (300: a Wilson interval of about +-5.5 points)
    # SFT's demonstrator writes a slip_op step with the wrong operator (toy_task.SLIPS: 3*4=7) this often;
    # evaluation, DPO's chosen answers and GRPO's reward use the true answer. 0: an honest demonstrator
    slip: float = 0.75
    slip_op: str = "*"


@dataclass
class Preset:
    name: str
    description: str
    stages: dict[str, PostTrainConfig]


def _toy(stage: str, **kw) -> PostTrainConfig:
    return PostTrainConfig(**{"stage": stage, "threads": 1, "max_length": 48, "log_interval": 10,
                              "warmup_steps": 5, **kw})


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("toy", "a tiny GPT trained here on the chain task: the offline demonstration", {
        # SFT to convergence (every problem without a slip_op step right): what is left is the habit
        "sft": _toy("sft", max_steps=1500, batch_size=32, lr=3e-3, warmup_steps=20, schedule="cosine"),
        "dpo": _toy("dpo", max_steps=60, batch_size=32, lr=1e-4, beta=0.1),
        "grpo": _toy("grpo", max_steps=100, batch_size=16, group_size=8, lr=1e-4, max_new_tokens=24,
                     kl_beta=0.04, iterations=2),
    }),
    Preset("cpu", "GPT-2 small on a laptop CPU", {
        "sft": PostTrainConfig(stage="sft", max_steps=100, batch_size=4, lr=5e-5, max_length=256),
        "dpo": PostTrainConfig(stage="dpo", max_steps=100, batch_size=4, lr=5e-6, max_length=256),
        "grpo": PostTrainConfig(stage="grpo", max_steps=50, batch_size=2, group_size=4, lr=1e-6,
                                max_new_tokens=64, max_length=256),
    }),
    Preset("gpu", "a small chat model on one CUDA card", {
        "sft": PostTrainConfig(stage="sft", max_steps=1000, batch_size=16, lr=2e-5, max_length=1024),
        "dpo": PostTrainConfig(stage="dpo", max_steps=500, batch_size=16, lr=5e-7, max_length=1024),
        "grpo": PostTrainConfig(stage="grpo", max_steps=200, batch_size=8, group_size=8, lr=1e-6,
                                max_new_tokens=256, max_length=1024),
    }),
]}


def resolve_posttrain(preset: str, overrides: list[str] | None = None, stage: str = "sft",
                      **given: object) -> PostTrainConfig:
    """The preset's config for `stage`, then `key=value` overrides, then the explicit options not None."""
    if preset not in PRESETS:
        raise LabError(f"unknown preset {preset!r}", hint="choose one of " + ", ".join(PRESETS))
    if stage not in STAGES:
        raise LabError(f"unknown stage {stage!r}", hint="one of " + ", ".join(STAGES))
    cfg = apply_overrides(dataclasses.replace(PRESETS[preset].stages[stage]), overrides)
    cfg = dataclasses.replace(cfg, **{k: v for k, v in given.items() if v is not None})
    if cfg.method not in METHODS:
        raise LabError(f"unknown method {cfg.method!r}", hint="use --method " + " or ".join(METHODS))
    if cfg.loss_type not in LOSS_TYPES:
        raise LabError(f"unknown loss_type {cfg.loss_type!r}", hint="--set loss_type=grpo or bnpo")
    if cfg.max_steps < 1 or cfg.batch_size < 1 or cfg.group_size < 2 or cfg.iterations < 1 or cfg.beta <= 0:
        raise LabError("max_steps, batch_size and iterations must be >= 1, group_size >= 2 (advantages "
                       "compare completions of one prompt), beta > 0",
                       hint="--set group_size=8 --set beta=0.1")
    return cfg


def train_config(cfg: PostTrainConfig):
    """The shared loop's config for one stage: warmup, then a constant rate or a cosine to lr / 10."""
    from llmlab.training import TrainConfig

    return TrainConfig(max_steps=cfg.max_steps, batch_size=cfg.batch_size, lr=cfg.lr,
                       min_lr=cfg.lr / 10 if cfg.schedule == "cosine" else cfg.lr,
                       warmup_steps=min(cfg.warmup_steps, cfg.max_steps // 4), schedule=cfg.schedule,
                       weight_decay=0.0, beta2=0.999, grad_clip=1.0, eval_interval=0,
                       log_interval=cfg.log_interval,
                       sample_interval=0, sample_prompts=[], checkpoint_interval=0, save_best=False,
                       seed=cfg.seed, threads=cfg.threads, report_to="none")

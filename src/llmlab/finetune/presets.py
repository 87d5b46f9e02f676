"""Fine-tuning presets: one dataclass for data, method, LoRA shape and training, with `--set key=value`.

    cfg = resolve("cpu", ["r=16", "max_steps=300"], method="lora")

`tiny` fits the tests and the roadmap's quick step (a small GPT-2 trained here); `cpu` is GPT-2 small
on a laptop; `gpu` is GPT-2 small on one CUDA card (bf16 autocast, bigger batches, longer context).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from llmlab.config import apply_overrides
from llmlab.errors import LabError

METHODS = ("lora", "full", "lora-scratch")


@dataclass
class FinetuneConfig:
    # lora (HF Trainer + PEFT) | full (HF Trainer) | lora-scratch (llmlab)
    method: str = "lora"
    # --- LoRA: y = W x + (alpha / r) B A dropout(x) on every target layer
    r: int = 8
    alpha: float = 16.0
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["c_attn", "c_proj"])
    # --- data: the corpus in fixed-length blocks of the base model's tokens
    block_size: int = 256                 # capped at the model's context
    val_blocks: int = 64                  # the same validation blocks before and after, for every method
    max_documents: int | None = None
    # --- training (AdamW, warmup + cosine)
    max_steps: int = 200
    batch_size: int = 8
    grad_accum: int = 1
    lr_lora: float = 2e-4                 # LoRA (both kinds) takes a larger step than a full fine-tune
    lr_full: float = 5e-5
    warmup_steps: int = 10
    weight_decay: float = 0.0
    eval_interval: int = 50
    log_interval: int = 10
    mixed_precision: str = "auto"         # auto: bf16 on a CUDA card that has it, else float32
    seed: int = 0
    threads: int | None = None            # CPU threads for torch (None: its default); 1 suits tiny models
    # --- the before/after sample (greedy, so the two compare)
    sample_prompt: str = "The "
    sample_tokens: int = 40

    @property
    def lr(self) -> float:
        return self.lr_full if self.method == "full" else self.lr_lora


@dataclass
class Preset:
    name: str
    description: str
    config: FinetuneConfig


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("tiny", "a small GPT-2 trained here: tests and the quick step",
           FinetuneConfig(block_size=64, val_blocks=32, max_steps=40, batch_size=8, lr_lora=1e-2,
                          lr_full=1e-3,
                          warmup_steps=5, eval_interval=10, log_interval=5, r=8, alpha=16.0, lora_dropout=0.0,
                          target_modules=["c_attn", "c_proj", "c_fc"], sample_tokens=24, threads=1)),
    Preset("cpu", "GPT-2 small on a laptop CPU (minutes)",
           FinetuneConfig(block_size=128, val_blocks=32, max_steps=100, batch_size=4, eval_interval=25,
                          lr_lora=5e-4, lr_full=5e-5)),
    Preset("gpu", "GPT-2 small on one CUDA card: bf16, batch 16 x 1024 tokens",
           FinetuneConfig(block_size=1024, val_blocks=64, max_steps=1000, batch_size=16, eval_interval=100,
                          warmup_steps=50, lr_lora=5e-4, lr_full=5e-5, r=16, alpha=32.0,
                          target_modules=["c_attn", "c_proj", "c_fc"])),
]}


def resolve(preset: str, overrides: list[str] | None = None, **given: object) -> FinetuneConfig:
    """The preset's config, then `key=value` overrides, then the explicit CLI options that are not None."""
    if preset not in PRESETS:
        raise LabError(f"unknown preset {preset!r}", hint="choose one of " + ", ".join(PRESETS))
    cfg = apply_overrides(dataclasses.replace(PRESETS[preset].config), overrides)
    cfg = dataclasses.replace(cfg, **{k: v for k, v in given.items() if v is not None})
    if cfg.method not in METHODS:
        raise LabError(f"unknown method {cfg.method!r}", hint="use --method " + ", ".join(METHODS))
    if cfg.block_size < 8 or cfg.batch_size < 1 or cfg.max_steps < 1:
        raise LabError("block_size must be >= 8, batch_size and max_steps >= 1",
                       hint="--set block_size=128 --set batch_size=8")
    return cfg

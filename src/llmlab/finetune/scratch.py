"""`lora-scratch`: llmlab's own LoRA (lora.py) trained by llmlab's own loop (llmlab.training).

    model = train_scratch(model, data, cfg, run)    # returns the merged, plain model; run/adapter is PEFT's
    format

The adapter is written in PEFT's layout (adapter_config.json + adapter_model.safetensors with PEFT's
key names), so `PeftModel.from_pretrained(base, run/adapter)` loads what this code trained.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from llmlab.config import config_dict
from llmlab.finetune.data import DomainData
from llmlab.finetune.lora import add_lora, lora_layers, strip_lora, trainable_parameters
from llmlab.finetune.presets import FinetuneConfig
from llmlab.runs import RunFolder


class BlockEval:
    """Fixed validation blocks as the Trainer's eval source: batch i is blocks[i*B:(i+1)*B], x/y shifted."""

    def __init__(self, blocks: np.ndarray, batch_size: int):
        self.blocks, self.batch_size = blocks, batch_size
        self.n_batches = math.ceil(len(blocks) / batch_size)

    def eval_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(self.blocks[index * self.batch_size:(index + 1) * self.batch_size])   # (B, T)
        return rows[:, :-1], rows[:, 1:]


def train_config(cfg: FinetuneConfig, n_eval_batches: int) -> Any:
    """The shared loop's config for this fine-tune: HF Trainer's defaults where they differ (cosine to 0,
    beta2 0.999, clipping at 1.0), so the three methods train alike."""
    from llmlab.training import TrainConfig

    return TrainConfig(max_steps=cfg.max_steps, batch_size=cfg.batch_size, grad_accum=cfg.grad_accum,
                       lr=cfg.lr,
                       min_lr=0.0, warmup_steps=cfg.warmup_steps, weight_decay=cfg.weight_decay, beta1=0.9,
                       beta2=0.999, grad_clip=1.0, eval_interval=cfg.eval_interval, eval_iters=n_eval_batches,
                       log_interval=cfg.log_interval, sample_interval=0, checkpoint_interval=0,
                       save_best=False,
                       mixed_precision=cfg.mixed_precision, seed=cfg.seed, report_to="none")


def save_adapter(model: torch.nn.Module, directory: str | Path, cfg: FinetuneConfig,
                 base_name: str = "") -> Path:
    """Write the LoRA factors in PEFT's layout, so PEFT's `PeftModel.from_pretrained` reads them."""
    from safetensors.torch import save_file

    from llmlab.finetune.parity import peft_lora_config

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = peft_lora_config(model, cfg.target_modules, cfg.r, cfg.alpha, cfg.lora_dropout)
    config.base_model_name_or_path = base_name or None
    config.save_pretrained(str(directory))
    tensors = {}
    for name, layer in lora_layers(model).items():
        tensors[f"base_model.model.{name}.lora_A.weight"] = layer.lora_A.detach().contiguous().cpu()
        tensors[f"base_model.model.{name}.lora_B.weight"] = layer.lora_B.detach().contiguous().cpu()
    save_file(tensors, str(directory / "adapter_model.safetensors"), metadata={"format": "pt"})
    return directory


def train_scratch(model: Any, data: DomainData, cfg: FinetuneConfig, run: RunFolder,
                  base_name: str = "") -> tuple[Any, dict[str, Any]]:
    """Wrap, train, save the adapter; returns (the merged plain model, its trainable-parameter counts)."""
    from llmlab.training import Trainer

    torch.manual_seed(cfg.seed)            # A's Kaiming draw
    add_lora(model, cfg.target_modules, cfg.r, cfg.alpha, cfg.lora_dropout)
    params = trainable_parameters(model)
    val = BlockEval(data.blocks("val"), cfg.batch_size)
    train = train_config(cfg, val.n_batches)
    trainer = Trainer(model, train, run, data.windows("train", cfg.batch_size, cfg.seed), val,
                      run_config={"finetune": config_dict(cfg), "train": config_dict(train)},
                      description="lora-scratch")
    trainer.fit()
    save_adapter(model, run.file("adapter"), cfg, base_name)
    # the loop's resume point holds the wrapped weights; the outputs are model/ (merged) and adapter/
    shutil.rmtree(run.file("checkpoint"), ignore_errors=True)
    return strip_lora(model), params       # merged and unwrapped: a plain HF model again

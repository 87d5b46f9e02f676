"""`lora` and `full`: fine-tuning through Hugging Face's `Trainer`, LoRA through PEFT.

    model, adapter = train_hf(model, data, cfg, run)     # cfg.method: "lora" or "full"

`lora` wraps the model with `get_peft_model(model, LoraConfig(...))` (only A and B train), and after
training `merge_and_unload()` folds B A into the weights: the result is a plain GPT-2 again. Losses go
to the run folder's metrics.jsonl through a callback, in the rows llmlab's own loop writes.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from llmlab.finetune.data import DomainData
from llmlab.finetune.evaluate import perplexity
from llmlab.finetune.lora import trainable_parameters
from llmlab.finetune.presets import FinetuneConfig
from llmlab.progress import progress_bar
from llmlab.runs import RunFolder


def _metrics_callback(run: RunFolder, bar: Any, tokens_per_step: int) -> Any:
    from transformers import TrainerCallback

    class ToMetrics(TrainerCallback):
        """HF Trainer logs -> metrics.jsonl rows: {step, loss, lr, grad_norm} and {step, val_loss, val_ppl};
        each step moves llmlab's progress bar (tokens/s, ETA)."""

        def on_step_end(self, args, state, control, **kwargs):
            bar.advance(1, amount=tokens_per_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs:
                run.log({"step": state.global_step, "loss": logs["loss"], "lr": logs.get("learning_rate"),
                         "grad_norm": logs.get("grad_norm")})
                bar.set_status(f"loss {logs['loss']:.3f}")
            if "eval_loss" in logs:
                run.log({"step": state.global_step, "val_loss": logs["eval_loss"],
                         "val_ppl": perplexity(logs["eval_loss"])})

    return ToMetrics()


def training_arguments(cfg: FinetuneConfig, output_dir: str) -> Any:
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    bf16 = cfg.mixed_precision == "bf16" or (
        cfg.mixed_precision == "auto" and cuda and torch.cuda.is_bf16_supported()
    )
    return TrainingArguments(
        output_dir=output_dir, max_steps=cfg.max_steps, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr, lr_scheduler_type="cosine", warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay, max_grad_norm=1.0, logging_steps=cfg.log_interval,
        eval_strategy="steps", eval_steps=cfg.eval_interval, eval_on_start=False, save_strategy="no",
        report_to="none", seed=cfg.seed, data_seed=cfg.seed, bf16=bf16, use_cpu=not cuda,
        dataloader_num_workers=0, disable_tqdm=True)


def train_hf(model: Any, data: DomainData, cfg: FinetuneConfig, run: RunFolder) -> tuple[Any, dict[str, Any]]:
    """Train with HF Trainer; returns (the trained plain model, LoRA merged; its trainable-parameter counts).
    A LoRA adapter is also saved on its own in run/adapter."""
    from transformers import PrinterCallback, Trainer, default_data_collator

    peft_model = None
    if cfg.method == "lora":
        from peft import get_peft_model

        from llmlab.finetune.parity import peft_lora_config

        peft_model = model = get_peft_model(model, peft_lora_config(model, cfg.target_modules, cfg.r,
                                                                    cfg.alpha,
                                                                    cfg.lora_dropout))
    params = trainable_parameters(model)
    tokens_per_step = cfg.batch_size * cfg.grad_accum * data.block_size
    with progress_bar(cfg.max_steps, cfg.method, unit="tok") as bar:
        trainer = Trainer(model=model, args=training_arguments(cfg, str(run.file("hf_trainer"))),
                          train_dataset=data.dataset("train"), eval_dataset=data.dataset("val"),
                          data_collator=default_data_collator,
                          callbacks=[_metrics_callback(run, bar, tokens_per_step)])
        trainer.remove_callback(PrinterCallback)     # the rows go to metrics.jsonl and the bar instead
        trainer.train()
        evaluated = [r["step"] for r in run.metrics() if r.get("val_loss") is not None]
        if not evaluated or evaluated[-1] != trainer.state.global_step:
            trainer.evaluate()       # the last point of the curve, at max_steps
    with contextlib.suppress(OSError):   # HF's output_dir stays empty (save_strategy="no"): drop it
        run.file("hf_trainer").rmdir()
    if peft_model is None:
        return model, params
    peft_model.save_pretrained(str(run.file("adapter")))   # adapter_config.json + adapter_model.safetensors
    return peft_model.merge_and_unload(), params   # W + (alpha/r) B A in every target layer: a plain GPT-2

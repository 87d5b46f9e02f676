"""One fine-tune, end to end: base model -> domain blocks -> before -> train (one method) -> after -> save.

    summary = finetune(resolve("tiny", method="lora-scratch"), model="tiny", corpus="python-docs",
                       out="runs/finetune/lora-scratch")

The run folder holds config.json, metrics.jsonl (step 0 = the base model), loss.png, summary.json,
model/ (a plain HF model directory: AutoModelForCausalLM + AutoTokenizer load it) and, for LoRA,
adapter/ (PEFT's layout, both for PEFT's LoRA and for llmlab's).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from llmlab.atomic import rebuild_dir
from llmlab.config import config_dict
from llmlab.finetune.base import load_base
from llmlab.finetune.data import domain_data
from llmlab.finetune.evaluate import block_loss, perplexity, sample
from llmlab.finetune.presets import FinetuneConfig
from llmlab.generation.context_limit import context_length
from llmlab.runs import RunFolder
from llmlab.training.checkpoint import save_model_dir

# what a fine-tune writes into its run folder (a new run replaces these; any other file there is kept)
RUN_OUTPUTS = ("config.json", "metrics.jsonl", "summary.json", "loss.png", "samples.jsonl", "model",
               "adapter",
               "checkpoint", "checkpoint.old", "best", "hf_trainer", "tensorboard")


def finetune(cfg: FinetuneConfig, model: str | Path = "gpt2", corpus: str = "python-docs",
             out: str | Path | None = None, base_dir: str | Path | None = None,
             base_seconds: float = 120.0, overwrite: bool = False) -> dict[str, Any]:
    """A folder that already holds a run is refused unless `overwrite`."""
    with cpu_threads(cfg.threads):
        return _finetune(cfg, model, corpus, out, base_dir, base_seconds, overwrite)


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Run with `threads` torch CPU threads, then restore. On a tiny model one thread is as fast as two,
    and when other processes hold the cores two threads wait on each other: the quick step took 64 s
    with two threads and 14 s with one, at the same load."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _finetune(cfg: FinetuneConfig, model: str | Path, corpus: str, out: str | Path | None,
              base_dir: str | Path | None, base_seconds: float, overwrite: bool = False) -> dict[str, Any]:
    claimed = RunFolder.create("finetune", name=cfg.method, out=out)
    claimed.claim(overwrite=overwrite, clear=False)     # the swap below replaces the earlier run's outputs
    final = claimed.path
    # the run is built in a sibling folder and swapped in whole at the end, so a failure or a kill at any
    # moment leaves the previous run's model, metrics and summary as they were
    with rebuild_dir(final, owned=RUN_OUTPUTS) as building:
        return _build(cfg, model, corpus, RunFolder(building), final, base_dir, base_seconds)


def _build(cfg: FinetuneConfig, model: str | Path, corpus: str, run: RunFolder, final: Path,
           base_dir: str | Path | None, base_seconds: float) -> dict[str, Any]:
    from llmlab.plots import loss_curve_from_metrics

    base, tok, source = load_base(model, base_dir or final.parent / "base", base_seconds)
    base.float()                             # train in float32; autocast (GPU) handles bf16
    context = context_length(base.config)
    data = domain_data(corpus, tok, cfg.block_size, cfg.val_blocks, cfg.max_documents, context)
    run_config = {"model": source, "corpus": corpus, "finetune": config_dict(cfg), "data": data.info()}
    run.save_config(run_config)
    val = data.blocks("val")

    torch.manual_seed(cfg.seed)
    loss_before = block_loss(base, val, cfg.batch_size)
    sample_before = sample(base, tok, cfg.sample_prompt, cfg.sample_tokens)
    run.log({"step": 0, "val_loss": loss_before, "val_ppl": perplexity(loss_before)})

    start = time.perf_counter()
    if cfg.method == "lora-scratch":
        from llmlab.finetune.scratch import train_scratch

        tuned, params = train_scratch(base, data, cfg, run, base_name=source)
    else:
        from llmlab.finetune.hf_methods import train_hf

        tuned, params = train_hf(base, data, cfg, run)
    seconds = time.perf_counter() - start
    if cfg.method == "lora-scratch":     # llmlab's loop wrote its own config.json; keep the whole picture
        from llmlab.finetune.scratch import BlockEval, train_config

        run_config["train"] = config_dict(train_config(cfg, BlockEval(val, cfg.batch_size).n_batches))
    run.save_config(run_config)

    loss_after = block_loss(tuned, val, cfg.batch_size)
    sample_after = sample(tuned, tok, cfg.sample_prompt, cfg.sample_tokens)
    save_model_dir(tuned, run.file("model"), tokenizer=tok)
    loss_curve_from_metrics(run.metrics(), run.file("loss.png"), title=f"{cfg.method} on {corpus}: loss")

    summary = {
        "method": cfg.method, "model": source, "corpus": corpus, **data.info(),
        "val_loss_before": round(loss_before, 4), "val_loss_after": round(loss_after, 4),
        "val_ppl_before": round(perplexity(loss_before), 3), "val_ppl_after": round(perplexity(loss_after),
                                                                                    3),
        **params, "steps": cfg.max_steps, "batch_size": cfg.batch_size, "lr": cfg.lr,
        "train_seconds": round(seconds, 2),
        "tokens_per_s": round(cfg.max_steps * cfg.batch_size * cfg.grad_accum * data.block_size / seconds, 1),
        "prompt": cfg.sample_prompt, "sample_before": sample_before, "sample_after": sample_after,
        "model_dir": str(final / "model"),
        "adapter_dir": str(final / "adapter") if cfg.method != "full" else None,
        "pictures": ["loss.png"],
    }
    run.save_summary(summary)
    return summary

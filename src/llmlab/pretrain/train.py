"""One pretraining run: token shards -> model from a preset -> the shared Trainer -> curves and a summary.

    summary = pretrain("gpt2-tiny", data="data/stdlib", out="runs/pretrain/tiny", overrides=["max_steps=200"])

Run it as one process, or under `torchrun --nproc_per_node N` / `accelerate launch --config_file
configs/accelerate/<ddp|fsdp|deepspeed>.yaml` for several: the Trainer picks the setup up from accelerate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from llmlab.config import config_dict
from llmlab.data.prepare import open_tokenizer
from llmlab.data.shards import TokenShards
from llmlab.errors import LabError
from llmlab.pretrain.presets import ModelSpec, resolve
from llmlab.runs import RunFolder
from llmlab.training import TokenWindows, TrainConfig


def shard_windows(data: str | Path, split: str, block_size: int, batch_size: int, seed: int) -> TokenWindows:
    """The Trainer's resumable random-window sampler over every shard of one split (memmaps, no copy)."""
    stream = TokenShards(data, split)
    stream.check_block(block_size)
    report = _report(data)
    n_bytes = report.get("split", {}).get(f"{split}_bytes")
    per_token = n_bytes / stream.n_tokens if n_bytes else None
    return TokenWindows(stream.arrays, block_size, batch_size, seed=seed, bytes_per_token=per_token)


def _report(data: str | Path) -> dict[str, Any]:
    path = Path(data) / "summary.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def pretrain(preset: str, data: str | Path, out: str | Path | None = None, overrides: list[str] | None = None,
             resume: bool = False, overwrite: bool = False, resume_command: str | None = None) -> dict[str,
                                                                                                       Any]:
    """Train, evaluate, sample and checkpoint; returns the summary (also written on the main process).
    A folder that already holds a run is refused unless `resume` (continue it) or `overwrite` (replace it)."""
    from llmlab.pretrain.model import build_model, causal_lm_loss_in_forward, configure_compiler
    from llmlab.training import Trainer

    run = RunFolder.start("pretrain", name=preset, out=out, resume=resume, overwrite=overwrite)
    spec, train = resolve(preset, overrides)
    train_data = shard_windows(data, "train", spec.block_size, train.batch_size, train.seed)
    val_data = shard_windows(data, "val", spec.block_size, train.batch_size, train.seed)
    tokenizer = open_tokenizer(Path(data) / "tokenizer")
    vocab = TokenShards(data, "train").vocab_size
    if tokenizer.vocab_size > vocab:
        raise LabError(f"the shards in {data} were made with a vocabulary of {vocab}, the tokenizer beside "
                       f"them "
                       f"has {tokenizer.vocab_size}",
                       hint="prepare the shards again with `llmlab data prepare`")
    eot = TokenShards(data, "train").eot_id
    configure_compiler(spec)
    model = build_model(spec, vocab, eot, seed=train.seed)
    run_config = {"preset": preset, "data": str(data), "model": config_dict(spec),
                  "train": config_dict(train)}
    trainer = Trainer(model, train, run, train_data, val_data, tokenizer,
                      loss_fn=causal_lm_loss_in_forward if spec.loss_in_forward else None,
                      sample_fn=sampler(tokenizer, train), run_config=run_config,
                      description=f"pretrain {preset}",
                      resume_command=resume_command)
    summary = trainer.fit(resume=resume)
    summary.update(preset=preset, data=str(data), block_size=spec.block_size, batch_size=train.batch_size,
                   grad_accum=train.grad_accum, tokens_per_step=trainer.tokens_per_step,
                   distributed=trainer.accelerator.distributed_type.value)
    if summary.get("final_val_loss") is not None:
        summary["final_val_ppl"] = round(math.exp(min(summary["final_val_loss"], 50.0)), 3)
    if summary.get("best_val_loss") is not None:
        summary["best_val_ppl"] = round(math.exp(min(summary["best_val_loss"], 50.0)), 3)
    if trainer.accelerator.is_main_process:
        summary["pictures"] = draw_curves(run)
        summary["samples"] = last_samples(run)
        run.save_summary(summary)
    return summary


class _SampleText:
    """The tokenizer as samples see it: ids of the vocabulary's padding rows (never targets, but an
    untrained model can pick one) decode to nothing instead of failing."""

    def __init__(self, tokenizer: Any):
        self.tokenizer, self.vocab_size = tokenizer, tokenizer.vocab_size

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode([i for i in ids if i < self.vocab_size])


def sampler(tokenizer: Any, train: TrainConfig):
    """Samples from the fixed prompts, with the training config's temperature, top-k and seed."""
    from llmlab.generation import SamplingParams
    from llmlab.generation.decode import generate_text

    params = SamplingParams(temperature=train.sample_temperature, top_k=train.sample_top_k,
                            max_new_tokens=train.sample_tokens, seed=train.seed)
    text = _SampleText(tokenizer)
    return lambda model: {p: generate_text(model, text, p, params) for p in train.sample_prompts}


def draw_curves(run: RunFolder) -> list[str]:
    """loss.png (the Trainer's), val_ppl.png and lr_gradnorm.png from metrics.jsonl."""
    from llmlab.plots import plot_curves

    rows = run.metrics()
    pictures = ["loss.png"] if run.file("loss.png").exists() else []
    val = [(r["step"], r["val_ppl"]) for r in rows if r.get("val_ppl") is not None]
    if val:
        plot_curves({"val perplexity": tuple(zip(*val, strict=True))}, run.file("val_ppl.png"),
                    title=f"{run.path.name}: validation perplexity", ylabel="perplexity", logy=True)
        pictures.append("val_ppl.png")
    lr = [(r["step"], r["lr"]) for r in rows if r.get("lr") is not None]
    gn = [(r["step"], r["grad_norm"]) for r in rows if r.get("grad_norm") is not None]
    if lr:
        plot_curves({"learning rate x 1000": (tuple(s for s, _ in lr), tuple(v * 1000 for _, v in lr)),
                     "gradient norm": tuple(zip(*gn, strict=True))}, run.file("lr_gradnorm.png"),
                    title=f"{run.path.name}: schedule and gradient norm", ylabel="value")
        pictures.append("lr_gradnorm.png")
    return pictures


def last_samples(run: RunFolder) -> dict[str, str]:
    path = run.file("samples.jsonl")
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    last = max((r["step"] for r in rows), default=None)
    return {r["prompt"]: r["text"] for r in rows if r["step"] == last}


__all__ = ["ModelSpec", "TrainConfig", "draw_curves", "pretrain", "shard_windows"]

"""Training throughput of a preset on synthetic tokens: tokens/s and MFU of the real training loop.

    llmlab pretrain bench --preset gpt2-124m --batch-size 32 --json

It runs `llmlab.training.Trainer` itself (forward, backward, clipping, fused AdamW, logging) on random
token ids, so the figure is what a real run gets minus data loading. The first `warmup` steps (which
include torch.compile's compilation) are left out; the figure is the median over the logged windows after.
MFU = (6N + 12 L d T) * tokens/s / peak, with the card's dense bf16 peak named in the output.
"""

from __future__ import annotations

import statistics
import tempfile
from typing import Any

import torch

from llmlab.pretrain.presets import resolve

# Measured on one H100 SXM (bf16, T=1024, 16 x 1024 tokens per step), quoted by the project's issue:
# nanoGPT's bench.py with torch.compile, and Hugging Face's GPT2LMHeadModel compiled.
H100_REFERENCES = {"nanogpt_tokens_per_s": 424_000, "hf_compiled_tokens_per_s": 346_000}


class SyntheticTokens:
    """A BatchSource of uniform random ids: no disk, no tokenizer, the same shapes as real batches."""

    def __init__(self, vocab_size: int, block_size: int, batch_size: int, seed: int = 0):
        self.vocab_size, self.block_size, self.batch_size = vocab_size, block_size, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.cursor = 0

    @property
    def tokens_per_batch(self) -> int:
        return self.batch_size * self.block_size

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.randint(0, self.vocab_size, (self.batch_size, self.block_size + 1),
                             generator=self.generator)
        self.cursor += 1
        return rows[:, :-1], rows[:, 1:]

    def state_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cursor = state["cursor"]


def bench(preset: str = "gpt2-124m", overrides: list[str] | None = None, steps: int = 40, warmup: int = 10,
          window: int = 5, vocab_size: int = 50257) -> dict[str, Any]:
    """Run `steps` optimizer steps; tokens/s is the median of the `window`-step windows after `warmup`."""
    from llmlab.pretrain.model import build_model, causal_lm_loss_in_forward, configure_compiler
    from llmlab.runs import RunFolder
    from llmlab.training import Trainer

    base = ["eval_interval=0", "sample_interval=0", "checkpoint_interval=0", "save_best=false",
            "report_to=none", f"log_interval={window}", f"max_steps={steps}", "grad_accum=1",
            "warmup_steps=5"]
    spec, train = resolve(preset, base + list(overrides or []))
    configure_compiler(spec)
    model = build_model(spec, vocab_size, eot_id=vocab_size - 1, seed=train.seed)
    data = SyntheticTokens(vocab_size, spec.block_size, train.batch_size, train.seed)
    with tempfile.TemporaryDirectory(prefix="llmlab-bench-") as tmp:
        run = RunFolder.create("pretrain", out=tmp)
        trainer = Trainer(model, train, run, data, None, None,
                          loss_fn=causal_lm_loss_in_forward if spec.loss_in_forward else None,
                          description=f"bench {preset}")
        summary = trainer.fit()
        rows = [r for r in run.metrics() if r.get("tokens_per_s") and r["step"] > warmup]
    if not rows:
        from llmlab.errors import LabError

        raise LabError(f"no timed window after {warmup} warm-up steps",
                       hint="raise --steps above --warmup + 5")
    rate = statistics.median(r["tokens_per_s"] for r in rows)
    tokens_per_step = trainer.tokens_per_step
    result: dict[str, Any] = {
        "preset": preset, "device": trainer.device_name, "processes": summary["processes"],
        "batch_size": train.batch_size, "block_size": spec.block_size, "vocab_size": model.config.vocab_size,
        "params": summary["params"], "compile": train.compile, "mixed_precision": summary["mixed_precision"],
        "attention": spec.attention, "loss_in_forward": spec.loss_in_forward,
        "loss_chunk_size": spec.loss_chunk_size, "coordinate_descent": spec.coordinate_descent,
        "tokens_per_s": round(rate, 1), "ms_per_step": round(1000 * tokens_per_step / rate, 2),
        "flops_per_token": trainer.flops_per_token, "timed_windows": len(rows), "warmup_steps": warmup,
        "torch": torch.__version__,
    }
    if trainer.peak_flops:
        result["peak_flops"] = trainer.peak_flops
        result["peak"] = f"dense bf16 tensor-core peak of {trainer.device_name} x {summary['processes']}"
        result["mfu"] = round(trainer.flops_per_token * rate / trainer.peak_flops, 4)
    if (
        "H100" in trainer.device_name
        and spec.n_layer == 12
        and spec.n_embd == 768
        and spec.block_size == 1024
    ):
        for key, ref in H100_REFERENCES.items():
            result["x_" + key.removesuffix("_tokens_per_s")] = round(rate / ref, 3)
    return result

"""The roadmap step of project 1: gradient checks, parity with transformers, a short training run
on python-docs characters, its loss curve and a sample.

Quick (`llmlab roadmap --quick`): about a minute on two cores — 30 s of training the `tiny` preset.
Full: the `small` preset, 1000 steps.
"""

from __future__ import annotations

from llmlab.numpy_transformer.gradcheck import layer_gradient_checks
from llmlab.numpy_transformer.reference import reference_checks
from llmlab.numpy_transformer.train import preset, train
from llmlab.runs import RunFolder

QUICK_TRAIN_SECONDS = 30.0


def run(ctx) -> dict:
    grads = layer_gradient_checks(ctx.seed)
    parity = reference_checks(ctx.seed)
    cfg = preset("tiny" if ctx.quick else "small")
    cfg.seed = ctx.seed
    if ctx.quick:
        cfg.max_steps, cfg.max_time = 2000, QUICK_TRAIN_SECONDS
    # overwrite: the roadmap replaces its own run every time
    result = train(cfg, RunFolder.start("transformer", out=ctx.out / "train", overwrite=True),
                   log=lambda m: None)
    worst_grad = max(r["value"] for r in grads)
    checks = {
        "every layer's backward equals finite differences (<= 1e-6)": all(r["passed"] for r in grads),
        **{r["check"]: r["passed"] for r in parity},
        "training loss falls": result["final_train_loss"] < result["first_train_loss"],
        "val loss below the unigram baseline": result["val_loss"] < result["unigram_val_loss"],
    }
    headline = (f"val {result['val_loss']:.2f} nats/char vs unigram {result['unigram_val_loss']:.2f} after "
                f"{result['steps']} steps ({result['seconds']:.0f}s); grads match to {worst_grad:.0e}")
    return {
        "checks": checks, "headline": headline, "pictures": ["train/loss.png"],
        "model": {"name": f"NumPy GPT, {'tiny' if ctx.quick else 'small'} preset",
                  "params": result["parameters"]},
        "val_loss": result["val_loss"], "unigram_val_loss": result["unigram_val_loss"],
        "steps": result["steps"],
        "train_seconds": result["seconds"], "tokens_per_s": result["tokens_per_s"],
        "worst_gradient_error": worst_grad,
        "worst_logit_error_float32": max(r["value"] for r in parity if "float32" in r["check"]),
        "sample": result["sample"][:300],
    }

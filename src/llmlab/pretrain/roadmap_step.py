"""Roadmap step for project 8: the data pipeline and a GPT trained on python-stdlib shards, end to end.

quick (about 45 s of the demo's 10 minutes, 90 s at most): BPE (1024) on 200 stdlib files, clean +
de-duplicate + shard them, train `gpt2-tiny` for 300 steps (capped at 75 s on a busy machine);
full: all of python-stdlib, BPE 8192, a 4-layer model for 10 minutes.
"""

from __future__ import annotations

import math

import numpy as np


def unigram_val_loss(data) -> float:
    """Cross-entropy (nats/token) of the val shards under the train shards' token frequencies (add-one):
    what a model that ignores context scores. Beating it means the model uses what came before."""
    from llmlab.data.baseline import unigram_loss
    from llmlab.data.shards import TokenShards

    train, val = TokenShards(data, "train"), TokenShards(data, "val")
    return unigram_loss(np.concatenate([np.asarray(a) for a in train.arrays]),
                        np.concatenate([np.asarray(a) for a in val.arrays]), train.vocab_size)


def run(ctx) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmlab.data.demo_shards import stdlib_shards
    from llmlab.pretrain.train import pretrain
    from llmlab.runs import RunFolder

    if ctx.smoke:   # tests: every stage on a sliver of the data
        docs, vocab, shape = 20, 320, ["max_steps=10", "max_time=75", "eval_interval=5", "eval_iters=2"]
    elif ctx.quick:   # a step budget, so a busy machine trains the same model (more slowly), up to a time cap
        docs, vocab, shape = 200, 1024, ["max_steps=300", "max_time=75"]
    else:
        docs, vocab, shape = None, 8192, ["n_layer=4", "n_embd=128", "block_size=256", "max_time=600",
                                          "decay_by=time", "max_steps=1000000"]
    data = ctx.out / "data"
    report = stdlib_shards(data, max_documents=docs or 100_000, vocab_size=vocab)
    summary = pretrain("gpt2-tiny", data, ctx.out / "run", [
        "eval_interval=50", "sample_interval=0", f"seed={ctx.seed}", "report_to=none"] + shape,
        overwrite=True)                         # the roadmap replaces its own run every time
    evals = [r["val_loss"] for r in RunFolder(ctx.out / "run").metrics() if r.get("val_loss") is not None]
    baseline = unigram_val_loss(data)

    checkpoint = ctx.out / "run" / "checkpoint"
    tok = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    ids = tok("def ", return_tensors="pt").input_ids
    with torch.no_grad():
        generated = model.generate(ids, max_new_tokens=24, do_sample=False)
    removed = {k: v["documents"] for k, v in report["removed"].items()}

    checks = {
        "pipeline_removed_short_and_generated_files": removed.get("clean/too_short", 0) > 0
        or removed.get("clean/generated", 0) > 0,
        "val_loss_fell": len(evals) >= 2 and evals[-1] < evals[0],
        "beats_the_unigram_baseline": summary["final_val_loss"] < baseline,
        "checkpoint_loads_with_automodel_and_generates": generated.shape[1] == ids.shape[1] + 24,
    }
    return {
        "checks": checks,
        "headline": (f"gpt2-tiny on {report['tokens']['train']:,} stdlib tokens, {summary['steps']} steps: "
                     f"val ppl {summary['final_val_ppl']:.1f} (unigram {math.exp(baseline):.0f}); "
                     f"pipeline kept {report['kept']['documents']}/{report['input']['documents']} files"),
        "pictures": [f"run/{p}" for p in summary.get("pictures", [])],
        "model": {"name": f"gpt2-tiny ({model.config.n_layer} layers, {model.config.n_embd} wide), not "
                          f"gpt2-124m",
                  "params": summary["params"]},
        "final_val_loss": summary["final_val_loss"],
        "final_val_ppl": summary["final_val_ppl"],
        "unigram_val_loss": round(baseline, 4),
        "steps": summary["steps"],
        "tokens_per_s": summary["tokens_per_s"],
        "removed": removed,
        "tokens": report["tokens"],
        "sample": tok.decode(generated[0]),
    }

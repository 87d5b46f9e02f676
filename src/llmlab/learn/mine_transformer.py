"""`llmlab learn run transformer --mine`: the NumPy GPT trained on characters with the learner's pieces.

Each piece that passes its check is patched into llmlab's own modules for the length of the run (the
names the model, the block and the training loop build from); the rest stay llmlab's. The reference
run trains with the same seed and settings, so when the learner's code is llmlab's, the two loss
curves are identical to the last digit.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path
from unittest import mock

# exercise -> [(module whose name is patched, name in that module, name in the learner's file)]
PATCHES = {
    "softmax": [("llmlab.numpy_transformer.attention", "softmax_", "softmax_"),
                ("llmlab.numpy_transformer.attention", "softmax_backward_", "softmax_backward_")],
    "layernorm": [("llmlab.numpy_transformer.block", "LayerNorm", "LayerNorm"),
                  ("llmlab.numpy_transformer.model", "LayerNorm", "LayerNorm")],
    "gelu": [("llmlab.numpy_transformer.activations", "ACTIVATIONS", "GELU")],
    "attention": [("llmlab.numpy_transformer.block", "CausalSelfAttention", "CausalSelfAttention"),
                  ("llmlab.numpy_transformer.masks", "causal_mask", "causal_mask")],
    "cross_entropy": [("llmlab.numpy_transformer.model", "CrossEntropy", "CrossEntropy")],
    "adamw": [("llmlab.numpy_transformer.train", "AdamW", "AdamW")],
    "kv_cache": [("llmlab.numpy_transformer.sampling", "KVCache", "KVCache")],
}


@contextlib.contextmanager
def learner_pieces(modules: dict):
    """Patch every passing piece in; `modules` maps exercise name -> the learner's module."""
    import importlib

    with contextlib.ExitStack() as stack:
        for exercise, module in modules.items():
            for target, name, theirs in PATCHES[exercise]:
                owner = importlib.import_module(target)
                value = getattr(module, theirs)
                # the activation table: GPT-2's tanh GELU under each of its names
                if name == "ACTIVATIONS":
                    value = {**owner.ACTIVATIONS, **{k: value for k in ("gelu_new", "gelu_pytorch_tanh",
                                                                        "gelu_fast")}}
                stack.enter_context(mock.patch.object(owner, name, value))
        yield


def new_run_dir(folder: Path) -> Path:
    """<folder>/runs/<timestamp>[-n]: every run gets its own folder, so no earlier run is overwritten."""
    base = Path(folder) / "runs" / time.strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    path.mkdir(parents=True)
    return path


def run_transformer(folder, modules: dict, steps: int = 60, seed: int = 0, log=print) -> dict:
    """Train the reference and the learner's model with the same seed; losses side by side + a picture."""
    from llmlab.numpy_transformer.train import PRESETS, CharData, train
    from llmlab.plots import plot_curves
    from llmlab.runs import RunFolder

    cfg = replace(PRESETS["tiny"], n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=8,
                  max_steps=steps,
                  eval_interval=0, eval_iters=2, log_interval=max(1, steps // 20), sample_tokens=80,
                  seed=seed,
                  warmup=0.1)
    data = CharData.load(cfg.corpus, cfg.block_size)
    quiet = lambda message: None  # noqa: E731 - the two runs' own logs would interleave with ours
    out = new_run_dir(folder)
    ref_run, mine_run = RunFolder(out / "reference"), RunFolder(out / "mine")
    log(f"reference run: {steps} steps, seed {seed}")
    ref = train(replace(cfg), ref_run, quiet, data)
    log(
        "your run: "
        + (", ".join(sorted(modules)) if modules else "no pieces of yours pass yet")
        + " swapped in"
    )
    with learner_pieces(modules):
        mine = train(replace(cfg), mine_run, quiet, data)
    ref_losses = [r["loss"] for r in ref_run.metrics() if r.get("loss") is not None]
    mine_losses = [r["loss"] for r in mine_run.metrics() if r.get("loss") is not None]
    ref_steps = [r["step"] for r in ref_run.metrics() if r.get("loss") is not None]
    picture = out / "loss_mine_vs_reference.png"
    plot_curves({"reference (llmlab)": (ref_steps, ref_losses), "mine": (ref_steps[:len(mine_losses)],
                                                                         mine_losses)},
                picture, title="NumPy GPT on characters: your pieces vs llmlab's",
                ylabel="train loss (nats/char)")
    return {"steps": ref_steps, "reference": ref_losses, "mine": mine_losses,
            "identical": ref_losses == mine_losses,
            "max_difference": max((abs(a - b) for a, b in zip(ref_losses, mine_losses, strict=False)),
                                  default=0.0),
            "reference_val_loss": ref["val_loss"], "mine_val_loss": mine["val_loss"],
            "mine_sample": mine["sample"], "picture": str(picture), "folder": str(out)}


def run_mine(folder: Path, modules: dict, steps: int = 60, seed: int = 0, log=print) -> str:
    """Print the two loss curves side by side; return the tracker's one-line note."""
    result = run_transformer(folder, modules, steps=steps, seed=seed, log=log)
    log(f"{'step':>6} {'reference':>10} {'mine':>10}")
    for step, a, b in zip(result["steps"], result["reference"], result["mine"], strict=False):
        log(f"{step:>6} {a:>10.4f} {b:>10.4f}")
    same = "identical" if result["identical"] else f"max difference {result['max_difference']:.3g}"
    log(f"val loss: reference {result['reference_val_loss']:.4f}, mine {result['mine_val_loss']:.4f} "
        f"({same})")
    log(f"your model writes: {result['mine_sample'][:80]!r}")
    log(f"loss curves: {result['picture']}")
    pieces = ", ".join(sorted(modules)) or "none"
    return (f"run --mine ({steps} steps; mine: {pieces}): final loss {result['mine'][-1]:.4f} vs reference "
            f"{result['reference'][-1]:.4f} ({same})")

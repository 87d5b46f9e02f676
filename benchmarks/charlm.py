"""Char-level Transformer on tinyshakespeare: llmlab's recipe against nanoGPT's, side by side in one run.

    python benchmarks/charlm.py            # CPU: nanoGPT's "baby" recipe (2000 iters), then llmlab's `cpu`
                                           #      preset with a budget of the baby's measured wall time or
                                           #      65 s (nanoGPT's own time for it on an idle 2-core machine),
                                           #      whichever is less
    python benchmarks/charlm.py --quick    # the same at 300 iterations
    python benchmarks/charlm.py --gpu      # one GPU: nanoGPT's shakespeare_char recipe and llmlab's `gpu`
                                           #      presets, each with a 60-second budget
Both recipes train through the same loop (llmlab.training) and the same data split (nanoGPT's 90/10), so
the comparison is the recipe: batch, learning rate, schedule, evaluation cost. Best val loss is in nats
per character, on the same validation windows for every run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _run(name: str, cfg, out: Path, data) -> dict:
    from llmlab.charlm.train import train_charlm

    start = time.perf_counter()
    summary = train_charlm(cfg, out=out / name, data=data, overwrite=True)   # a rerun measures again, afresh
    summary["wall_seconds"] = round(time.perf_counter() - start, 2)
    print(f"  {name}: best val {summary['best_val_loss']:.4f} after {summary['steps']} steps, "
          f"{summary['train_seconds']:.1f} s of training", flush=True)
    return summary


def cpu(quick: bool, out: Path, overrides: list[str], budget: float) -> list[tuple[str, dict]]:
    from llmlab.charlm.presets import resolve
    from llmlab.charlm.train import corpus_ids

    steps = 300 if quick else 2000
    baby = resolve("transformer", "nanogpt-baby", [f"max_steps={steps}", f"lr_decay_steps={steps}",
                                                   "report_to=none", "device=cpu"])
    data = corpus_ids(baby)
    reference = _run("nanogpt-baby", baby, out, data)
    # strictly less wall time than the reference took here, and no more than nanoGPT's own figure
    budget = min(0.97 * reference["train_seconds"], budget * steps / 2000)
    ours = resolve("transformer", "cpu", ["report_to=none", "device=cpu", "decay_by=time",
                                          "max_steps=1000000", *overrides], max_time=budget)
    return [("nanoGPT baby recipe", reference), ("llmlab cpu preset", _run("llmlab-cpu", ours, out, data))]


def gpu(out: Path, seconds: float, overrides: list[str], variants: list[str], device: str,
        ref_overrides: list[str], reference: bool = True) -> list[tuple[str, dict]]:
    from llmlab.charlm.presets import resolve
    from llmlab.charlm.train import corpus_ids

    base = ["report_to=none", f"device={device}"]
    # nanoGPT saves a checkpoint only when val improves (always_save_checkpoint=False): so does this run
    ref_cfg = resolve("transformer", "shakespeare-char", base + ["checkpoint_interval=0", *ref_overrides],
                     max_time=seconds)
    data = corpus_ids(ref_cfg)
    rows = [("nanoGPT shakespeare_char recipe, cut at the budget", _run("nanogpt-shakespeare-char", ref_cfg,
                                                                        out, data))
            ] if reference else []
    for i, variant in enumerate(variants):
        extra = [v for v in variant.split(";") if v]
        cfg = resolve("transformer", "gpu", base + overrides + extra, max_time=seconds)
        rows.append((f"llmlab gpu preset {' '.join(extra)}".strip(), _run(f"llmlab-gpu-{i}", cfg, out, data)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 iterations instead of 2000 (CPU)")
    parser.add_argument("--gpu", action="store_true", help="the one-GPU comparison with a time budget")
    parser.add_argument("--seconds", type=float, default=60.0, help="GPU budget per run")
    parser.add_argument("--cpu-budget", type=float, default=65.0,
                        help="CPU: most seconds for llmlab's run (nanoGPT's baby: 2000 iters in ~65 s on 2 "
                             "cores)")
    parser.add_argument("--device", default="cuda", help="GPU mode's device (cpu for a dry run)")
    parser.add_argument("--variant", action="append", default=[],
                        help="GPU: extra --set overrides for one more llmlab run, ';'-separated")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override for llmlab's runs")
    parser.add_argument("--no-reference", action="store_true",
                        help="GPU: skip nanoGPT's recipe (its figure on an H100 is in docs/results.md)")
    parser.add_argument("--ref-set", dest="ref_overrides", action="append", default=[],
                        help="override for the reference run too (dry runs: eval_iters=2)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/charlm"))
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    import os

    os.environ.setdefault("LLMLAB_NO_PROGRESS", "1")
    if args.gpu:
        rows = gpu(args.out, args.seconds, args.overrides, args.variant or [""], args.device,
                   args.ref_overrides, not args.no_reference)
    else:
        rows = cpu(args.quick, args.out, args.overrides, args.cpu_budget)
    ref = rows[0][1]
    print(f"\n{'recipe':<58} {'steps':>6} {'seconds':>8} {'best val':>9} {'vs ref':>8}")
    for name, s in rows:
        print(f"{name:<58} {s['steps']:>6} {s['train_seconds']:>8.1f} {s['best_val_loss']:>9.4f} "
              f"{s['best_val_loss'] - ref['best_val_loss']:>+8.4f}")
    print(f"device: {ref['device']}, {ref['mixed_precision']}; val loss in nats/char on tinyshakespeare's "
          f"last 10%")
    if args.json:
        keep = ("steps", "train_seconds", "best_val_loss", "final_val_loss", "tokens_per_s", "mfu", "device",
                "mixed_precision", "params", "wall_seconds")
        args.json.write_text(json.dumps([{"recipe": n, **{k: s.get(k) for k in keep}} for n, s in rows],
                                        indent=1))


if __name__ == "__main__":
    main()

"""GPU throughput of GPT-2 124M training (T=1024, bf16) in llmlab's training loop, variant by variant.

    python benchmarks/pretrain_gpu.py                 # every variant, a table, bench.json under $OUT or runs/
    python benchmarks/pretrain_gpu.py --profile       # also the top CUDA kernels of the fastest variant
    python benchmarks/pretrain_gpu.py --only 3,4,5    # B=64 against the chunked loss (+ coordinate descent)

Each variant is one `llmlab pretrain bench` process (so compilation caches do not leak between them).
References on one H100 SXM, quoted in the project's issue: nanoGPT's bench.py 424k tokens/s, Hugging
Face's compiled GPT2LMHeadModel 346k; the goal is >= 590k. Without a CUDA GPU it says so and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# transformers' lm_head + cross-entropy (the preset's default before the chunked loss)
PLAIN = ["loss_chunk_size=0"]
VARIANTS = [  # name, batch size, --set overrides
    ("hf-style: hf sdpa, loss outside, B=16", 16, ["attention=hf-sdpa", "loss_in_forward=false"]),
    ("llmlab: mask-free sdpa, loss inside, B=16", 16, PLAIN),
    ("llmlab, B=32", 32, PLAIN),
    ("llmlab, B=64", 64, PLAIN),
    ("B=64, chunked linear+CE (16k tokens)", 64, ["loss_chunk_size=16384"]),
    ("B=64, chunked linear+CE + coord. descent", 64, ["loss_chunk_size=16384", "coordinate_descent=true"]),
    ("B=64, coordinate-descent tuning", 64, [*PLAIN, "coordinate_descent=true"]),
]


def run_variant(name: str, batch: int, sets: list[str], steps: int, warmup: int) -> dict:
    cmd = [sys.executable, "-m", "llmlab.cli", "pretrain", "bench", "--preset", "gpt2-124m", "--batch-size",
           str(batch), "--steps", str(steps), "--warmup", str(warmup), "--json"]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "LLMLAB_NO_PROGRESS": "1"})
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"variant": name, "error": " | ".join(tail)[-300:]}
    start = proc.stdout.index("{")
    return {"variant": name, **json.loads(proc.stdout[start:])}


def profile(batch: int, steps: int = 6) -> str:
    """Top CUDA kernels of a compiled 124M training step (forward, backward, fused AdamW) at this batch."""
    import torch

    from llmlab.pretrain.model import build_model, causal_lm_loss_in_forward
    from llmlab.pretrain.presets import resolve

    spec, _ = resolve("gpt2-124m")
    model = build_model(spec, 50257, 50256, seed=0).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    compiled = torch.compile(model)
    x = torch.randint(0, 50257, (batch, 1025), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = causal_lm_loss_in_forward(compiled, x[:, :-1], x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=70)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated variant numbers (0-based)")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU here: the GPU throughput benchmark is skipped (see docs/pretrain.md for the "
              "command)")
        return 0
    out = Path(os.environ.get("OUT", "runs/pretrain/bench-gpu"))
    out.mkdir(parents=True, exist_ok=True)
    chosen = [VARIANTS[int(i)] for i in args.only.split(",")] if args.only else VARIANTS
    results = []
    for name, batch, sets in chosen:
        results.append(run_variant(name, batch, sets, args.steps, args.warmup))
        print(json.dumps(results[-1]), flush=True)
        (out / "bench.json").write_text(json.dumps(results, indent=1))
    if args.profile:
        ok = [r for r in results if "tokens_per_s" in r and "hf-style" not in r["variant"]]
        best = max(ok, key=lambda r: r["tokens_per_s"]) if ok else {"batch_size": 16}
        table = profile(best["batch_size"])
        (out / "profile.txt").write_text(table)
        print(table)
    device = next((r["device"] for r in results if "device" in r), "?")
    print(f"\nGPT-2 124M training, T=1024, bf16, {device}, torch {torch.__version__}")
    print(f"{'variant':46s} {'tokens/s':>10s} {'ms/step':>8s} {'MFU':>6s} {'x nanoGPT':>9s} {'x HF':>6s}")
    for r in results:
        if "error" in r:
            print(f"{r['variant']:46s} failed: {r['error'][:120]}")
            continue
        print(f"{r['variant']:46s} {r['tokens_per_s']:>10,.0f} {r['ms_per_step']:>8.1f} "
              f"{r.get('mfu', 0):>6.1%} "
              f"{r.get('x_nanogpt', float('nan')):>9.2f} {r.get('x_hf_compiled', float('nan')):>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

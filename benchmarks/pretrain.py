"""Project 8 on the CPU, side by side in one run: the training step and the near-duplicate pass.

    python benchmarks/pretrain.py            # ~2 min on 2 cores
    python benchmarks/pretrain.py --quick    # one repeat, fewer files
    python benchmarks/pretrain.py --json

1. Training throughput of `gpt2-tiny` in llmlab's loop: transformers' own SDPA with the loss outside the
   model (the reference) against llmlab's mask-free SDPA with the loss in the forward; interleaved
   repeats, median tokens/s. On a CPU without torch.compile the two should be about equal: the gains are
   a GPU's (benchmarks/pretrain_gpu.py). A third variant adds the chunked linear + cross-entropy
   (`loss_chunk_size=256`, 4 chunks per batch), the gpt2-124m preset's default: it must not be slower here.
2. MinHash signatures of python-stdlib files: llmlab's vectorised shingle hashing against datasketch's
   default (SHA-1 per shingle through `update_batch`), one process each, the same signatures' job.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("LLMLAB_NO_PROGRESS", "1")

WORDS = re.compile(r"\w+")


def training_step(repeats: int) -> dict:
    from llmlab.pretrain.bench import bench

    variants = {"transformers sdpa, loss outside (reference)": ["attention=hf-sdpa", "loss_in_forward=false"],
                "llmlab: mask-free sdpa, loss in forward": [],
                "llmlab + chunked linear+CE (256 tokens)": ["loss_chunk_size=256"]}
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):                       # interleaved, so machine noise hits both alike
        for name, sets in variants.items():
            r = bench("gpt2-tiny", ["batch_size=8", *sets], steps=14, warmup=4, window=5, vocab_size=2048)
            rates[name].append(r["tokens_per_s"])
    med = {name: statistics.median(v) for name, v in rates.items()}
    ref, ours, chunked = med.values()
    return {"tokens_per_s": med, "ratio_llmlab_vs_reference": round(ours / ref, 3),
            "ratio_chunked_vs_llmlab": round(chunked / ours, 3), "repeats": repeats}


def minhash_speed(n_docs: int, repeats: int) -> dict:
    from datasketch import MinHash

    from llmlab.data import load_corpus
    from llmlab.data.dedup import minhash_signature

    docs = [d.text for d in load_corpus("python-stdlib", max_documents=n_docs).documents]
    mb = sum(len(t.encode()) for t in docs) / 1e6

    def reference():
        for text in docs:
            words = WORDS.findall(text.lower())
            shingles = {" ".join(words[i:i + 5]).encode() for i in range(max(1, len(words) - 4))}
            MinHash(num_perm=128, scheme="affine32").update_batch(list(shingles))

    def ours():
        for text in docs:
            minhash_signature(text, 128, 5)

    times: dict[str, list[float]] = {"datasketch sha1 shingles (reference)": [],
                                     "llmlab vectorised shingles": []}
    for _ in range(repeats):
        for name, fn in zip(times, (reference, ours), strict=True):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {name: statistics.median(v) for name, v in times.items()}
    ref, mine = med.values()
    return {"documents": len(docs), "MB": round(mb, 2), "MB_per_s": {k: round(mb / v, 2) for k,
                                                                     v in med.items()},
            "speedup_vs_reference": round(ref / mine, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "training_step": training_step(repeats),
              "minhash": minhash_speed(150 if args.quick else 400, repeats)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    t, m = result["training_step"], result["minhash"]
    print(f"\n{'gpt2-tiny training step, CPU':50s} {'tokens/s':>10s}")
    for name, rate in t["tokens_per_s"].items():
        print(f"{name:50s} {rate:>10,.0f}")
    print(f"{'ratio llmlab / reference':50s} {t['ratio_llmlab_vs_reference']:>10.2f}")
    print(f"{'ratio chunked / llmlab':50s} {t['ratio_chunked_vs_llmlab']:>10.2f}")
    print(f"\n{'MinHash signatures, ' + str(m['documents']) + ' stdlib files, ' + str(m['MB']) + ' MB':50s} "
          f"{'MB/s':>10s}")
    for name, rate in m["MB_per_s"].items():
        print(f"{name:50s} {rate:>10.2f}")
    print(f"{'speed-up llmlab / reference':50s} {m['speedup_vs_reference']:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

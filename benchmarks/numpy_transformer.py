"""The NumPy GPT and Llama against PyTorch CPU eager (transformers' GPT2LMHeadModel, LlamaForCausalLM),
same weights, same shapes.

    python benchmarks/numpy_transformer.py            # GPT-2 124M at T=256, a small char-model shape, and a
                                                      # TinyLlama-like small Llama (~3 min)
    python benchmarks/numpy_transformer.py --quick    # the small shape only
    python benchmarks/numpy_transformer.py --shapes tinyllama-small
    python benchmarks/numpy_transformer.py --repeats 9 --threads 1
Forward is inference (torch under no_grad); forward+backward is the next-token loss and every parameter
gradient (torch zeroes grads with set_to_none, its default). The two libraries run alternately, each
timing paired with the other's, and the table shows medians and the median of the paired ratios — the
machine is shared, so only ratios measured side by side mean anything.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SHAPES = {  # name: (n_layer, n_embd, n_head, vocab, batch, T)
    "gpt2-124m": (12, 768, 12, 50257, 1, 256),
    "small": (4, 128, 4, 65, 16, 128),
    # TinyLlama 1.1B's proportions at a quarter of its width and depth: heads of 64, 8 query heads per
    # kv head, SwiGLU 2.75 C wide, its 32000-token vocabulary
    "tinyllama-small": (4, 512, 8, 32000, 2, 256),
    # the "small" character-model shape as a Llama (2 query heads per kv head): the body, not the head, costs
    "llama-small": (4, 128, 4, 65, 16, 128),
}
LLAMA = {"tinyllama-small": {"n_kv": 1, "n_inner": 1408}, "llama-small": {"n_kv": 2, "n_inner": 344}}


def build(name: str, folder: Path):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    from llmlab.numpy_transformer import GPT
    from llmlab.numpy_transformer.llama import Llama

    hf_logging.disable_progress_bar()
    n_layer, n_embd, n_head, vocab, _, t = SHAPES[name]
    torch.manual_seed(0)
    if name in LLAMA:
        cfg = LlamaConfig(num_hidden_layers=n_layer, hidden_size=n_embd, num_attention_heads=n_head,
                          num_key_value_heads=LLAMA[name]["n_kv"], intermediate_size=LLAMA[name]["n_inner"],
                          vocab_size=vocab, max_position_embeddings=2048, tie_word_embeddings=False)
        hf = LlamaForCausalLM(cfg).eval()
        hf.save_pretrained(folder)
        return hf, Llama.from_pretrained(folder)
    cfg = GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=n_head, vocab_size=vocab,
                     n_positions=max(t, 1024), bos_token_id=None, eos_token_id=None)
    hf = GPT2LMHeadModel(cfg).eval()
    hf.save_pretrained(folder)
    return hf, GPT.from_pretrained(folder)


def time_pair(fns: dict, repeats: int) -> dict[str, list[float]]:
    """Alternate the functions `repeats` times after one warm-up call each; seconds per call."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats):
        order = list(fns) if r % 2 == 0 else list(reversed(fns))     # neither side always goes first
        for name in order:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def bench_shape(name: str, repeats: int, threads: int | None) -> list[dict]:
    import tempfile

    import numpy as np
    import torch

    from llmlab.numpy_transformer.blas import auto_threads, blas_threads

    shape = SHAPES[name]
    n_threads = threads or auto_threads(shape[1]) or torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        hf, ours = build(name, Path(tmp))
    _, _, _, vocab, batch, t = shape
    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab, (batch, t))
    targets = np.concatenate([ids[:, 1:], np.full((batch, 1), -100)], axis=1)
    tids = torch.tensor(ids)

    def np_forward():
        ours(ids)

    def np_train():
        ours.forward(ids, targets)
        ours.backward()

    def torch_forward():
        with torch.no_grad():
            hf(tids)

    def torch_train():
        hf.zero_grad(set_to_none=True)
        hf(tids, labels=tids).loss.backward()

    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    rows = []
    try:
        with blas_threads(n_threads):
            for what, pair in (("forward", {"numpy": np_forward, "torch": torch_forward}),
                               ("forward+backward", {"numpy": np_train, "torch": torch_train})):
                times = time_pair(pair, repeats)
                ratios = [a / b for a, b in zip(times["numpy"], times["torch"], strict=True)]
                rows.append({"shape": name, "batch": batch, "T": t, "threads": n_threads, "pass": what,
                             "numpy_ms": 1e3 * statistics.median(times["numpy"]),
                             "torch_ms": 1e3 * statistics.median(times["torch"]),
                             "ratio": statistics.median(ratios), "repeats": repeats})
                print(_line(rows[-1]), flush=True)
    finally:
        torch.set_num_threads(previous)
    return rows


def _line(r: dict) -> str:
    return (f"| {r['shape']} | {r['batch']}x{r['T']} | {r['threads']} | {r['pass']} | {r['numpy_ms']:.1f} | "
            f"{r['torch_ms']:.1f} | {r['ratio']:.2f}x |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small shape only")
    parser.add_argument("--shapes", default="", help="comma-separated: " + ", ".join(SHAPES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for both libraries (0: one for small widths, all cores for GPT-2)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    names = [s for s in args.shapes.split(",") if s] or (["small"] if args.quick else list(SHAPES))
    import platform

    import numpy as np
    import torch

    print(f"numpy {np.__version__} vs torch {torch.__version__} (CPU eager, transformers' own models); "
          f"{platform.processor() or platform.machine()}; median of {args.repeats} alternating repeats")
    print("| shape | B x T | threads | pass | numpy ms | torch ms | numpy / torch |")
    print("|---|---|---|---|---|---|---|")
    rows = [row for name in names for row in bench_shape(name, args.repeats, args.threads or None)]
    worst = max(r["ratio"] for r in rows)
    print(f"worst ratio {worst:.2f}x (goal <= 1.5x): {'met' if worst <= 1.5 else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""llmlab's int8 (weight-only, per-channel) vs fp32 and vs torch's dynamic int8, on one random Llama, on the
CPU.

    python benchmarks/chat.py                # a 4-layer, width-1024 Llama (TinyLlama's 32k vocabulary), 1-2
    min python benchmarks/chat.py --quick        # width 512, fewer repeats
    python benchmarks/chat.py --tinyllama    # TinyLlama-1.1B's shape (random weights; ~10 GB of RAM, minutes)

Per variant: bytes of weights, relative logit error and argmax agreement against fp32 on one batch, prefill
time (one forward of --prompt tokens) and decode time (one new token after the prompt, KV cache on). Variants
run interleaved (fp32, ours, ours-dequant, torch, fp32, ...) and each time is the median over --repeats, so a
busy machine slows all alike; the table gives ratios to fp32 and to torch's dynamic int8 (`quantize_dynamic`,
per-channel weights, activations rounded to uint8 on the fly) — the reference for "int8 on a CPU in torch".
A second table times single layers of TinyLlama's shapes.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings

import torch
import torch.nn.functional as F


def _median_time(fn, repeats: int) -> float:
    fn()                                             # warm-up (allocations, kernel selection)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _variants(base):
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    from llmlab.chat.quantize import quantize_model

    ours = copy.deepcopy(base)
    quantize_model(ours, kernel="int8pack")
    dequant = copy.deepcopy(base)
    quantize_model(dequant, kernel="dequant")
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated; still the reference
        warnings.simplefilter("ignore")
        # the same layers as ours: every Linear but the LM head
        spec = {name: per_channel_dynamic_qconfig for name, m in base.named_modules()
                if isinstance(m, torch.nn.Linear) and name != "lm_head"}
        dynamic = quantize_dynamic(copy.deepcopy(base), spec, dtype=torch.qint8)
    return {"fp32": base, "llmlab int8 (int8pack)": ours, "llmlab int8 (dequant)": dequant,
            "torch dynamic int8": dynamic}


def _weight_bytes(model) -> int:
    from llmlab.chat.quantize import weight_bytes

    packed = 0
    for m in model.modules():                     # torch's dynamic layers keep their weights in a packed blob
        if hasattr(m, "_packed_params") and hasattr(m, "weight"):
            w = m.weight()
            packed += w.numel() * w.element_size() + w.q_per_channel_scales().numel() * 8
            if m.bias() is not None:
                packed += m.bias().numel() * 4
    return weight_bytes(model) + packed


@torch.no_grad()
def model_table(args) -> list[dict]:
    from transformers import LlamaConfig, LlamaForCausalLM

    width, layers = (2048, 22) if args.tinyllama else (512, 4) if args.quick else (1024, 4)
    cfg = LlamaConfig(vocab_size=32000, hidden_size=width, intermediate_size=int(width * 2.75),
                      num_hidden_layers=layers, num_attention_heads=width // 64,
                      num_key_value_heads=width // 256,
                      max_position_embeddings=2048, tie_word_embeddings=False)
    torch.manual_seed(0)
    base = LlamaForCausalLM(cfg).eval()
    variants = _variants(base)
    ids = torch.randint(0, cfg.vocab_size, (1, args.prompt))
    ref = base(ids).logits
    rows = {name: {"variant": name, "weight_MiB": _weight_bytes(m) / 2**20} for name, m in variants.items()}
    for name, m in variants.items():
        logits = m(ids).logits
        rows[name]["rel_logit_err"] = float((logits - ref).norm() / ref.norm())
        rows[name]["argmax_agree"] = float((logits.argmax(-1) == ref.argmax(-1)).float().mean())
    prefill = {name: [] for name in variants}
    decode = {name: [] for name in variants}
    for _ in range(args.rounds):                   # interleaved rounds
        for name, m in variants.items():
            prefill[name].append(_median_time(lambda m=m: m(ids, use_cache=False), args.repeats))
            cache = m(ids, use_cache=True)["cache"]
            nxt = ids[:, -1:]

            def one_token(m=m, cache=cache, nxt=nxt):
                m(nxt, cache=cache, use_cache=True)
                cache.crop(-1)                     # back to the prompt, so every timed step is the same step
            decode[name].append(_median_time(one_token, args.repeats))
    for name in variants:
        rows[name]["prefill_ms"] = 1e3 * statistics.median(prefill[name])
        rows[name]["decode_ms"] = 1e3 * statistics.median(decode[name])
    return list(rows.values())


@torch.no_grad()
def layer_table(args) -> list[dict]:
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    from llmlab.chat.quantize import Int8Linear

    out = []
    shapes = [(2048, 2048), (5632, 2048)] if not args.quick else [(2048, 2048)]
    for o, i in shapes:
        layer = torch.nn.Linear(i, o, bias=False)
        ours, exact = Int8Linear.from_float(layer, "int8pack"), Int8Linear.from_float(layer, "dequant")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dyn = quantize_dynamic(torch.nn.Sequential(layer), {torch.nn.Linear: per_channel_dynamic_qconfig},
                                   dtype=torch.qint8)
        for rows in (1, 64):
            x = torch.randn(rows, i)
            w = layer.weight
            fns = {"fp32": lambda x=x, w=w: F.linear(x, w), "llmlab int8 (int8pack)": lambda x=x,
                   f=ours: f(x),
                   "llmlab int8 (dequant)": lambda x=x, f=exact: f(x), "torch dynamic int8": lambda x=x,
                   f=dyn: f(x)}
            times = {k: [] for k in fns}
            for _ in range(args.rounds):
                for k, fn in fns.items():
                    times[k].append(_median_time(fn, args.repeats * 2))
            out.append({"shape": f"{o}x{i}", "rows": rows,
                        **{k: 1e3 * statistics.median(v) for k, v in times.items()}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tinyllama", action="store_true", help="TinyLlama-1.1B's shape, random weights")
    parser.add_argument("--prompt", type=int, default=64, help="prompt tokens")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the variants")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on shared cores)")
    args = parser.parse_args()
    args.repeats = args.repeats or (5 if args.quick or args.tinyllama else 9)
    torch.set_num_threads(args.threads)
    print(f"CPU, {args.threads} thread(s), torch {torch.__version__}; times are medians of interleaved runs")

    rows = model_table(args)
    fp32 = next(r for r in rows if r["variant"] == "fp32")
    dyn = next(r for r in rows if r["variant"] == "torch dynamic int8")
    print(f"\nwhole model (random Llama, prompt {args.prompt} tokens)")
    print(f"{'variant':24} {'weights MiB':>11} {'x fp32':>7} {'rel err':>8} {'argmax':>7} {'prefill ms':>11} "
          f"{'vs fp32':>8} {'vs torch':>9} {'decode ms':>10} {'vs fp32':>8} {'vs torch':>9}")
    for r in rows:
        print(f"{r['variant']:24} {r['weight_MiB']:11.1f} {fp32['weight_MiB'] / r['weight_MiB']:7.2f} "
              f"{r['rel_logit_err']:8.4f} {r['argmax_agree']:7.3f} {r['prefill_ms']:11.2f} "
              f"{r['prefill_ms'] / fp32['prefill_ms']:8.2f} {r['prefill_ms'] / dyn['prefill_ms']:9.2f} "
              f"{r['decode_ms']:10.2f} {r['decode_ms'] / fp32['decode_ms']:8.2f} "
              f"{r['decode_ms'] / dyn['decode_ms']:9.2f}")
    print("\nsingle layers (ms per call; ratio to fp32 in brackets)")
    for r in layer_table(args):
        cells = "  ".join(f"{k} {r[k]:.3f} ({r[k] / r['fp32']:.2f})" for k in
                          ("fp32", "llmlab int8 (int8pack)", "llmlab int8 (dequant)", "torch dynamic int8"))
        print(f"{r['shape']:>10} x {r['rows']:>2} rows: {cells}")


if __name__ == "__main__":
    main()

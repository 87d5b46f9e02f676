"""llmlab's serving engine against Hugging Face generate: throughput and prefix-cache TTFT, in one run.

    python benchmarks/serve.py                      # CPU: a small random GPT-2, 16 requests, a few minutes at
    most python benchmarks/serve.py --preset gpt2-124m --device cuda --dtype bfloat16 \
        --num-prompts 64 --input-len 128 --output-len 128 --prefix-len 992 --hf-single 8   # one H100

Same model (random weights, GPT-2 shape), same prompts (random token ids), greedy, every request exactly
`--output-len` tokens (EOS ignored). Methods: HF `generate` one request at a time, HF static batching
(all requests in one padded batch), transformers' own continuous batching (`generate_batch`, when the
installed version has it), and llmlab's engine with everything submitted at once. Throughput is output
tokens / wall time, each method's median over `--repeats` interleaved runs; ratios are against HF static
batching. The prefix test: TTFT of a request whose `--prefix-len`-token prefix is cached vs one whose is not.

    python benchmarks/serve.py --speculative --threads 1    # only the speculative rows (CPU, minutes)

The speculative rows: engine tokens/s without speculation, with prompt lookup and with a draft model, at
batch 1 and batch 16, greedy (outputs checked equal to the plain engine's) and sampled at T=1. The pair
is built so that the draft is worth something with random weights: the target has 8 layers, the draft
is its first layer plus its embeddings and head, and the target's other 7 layers are scaled down (their
output projections x0.1), so the draft agrees with it often. The acceptance rate is printed beside each
row: the gain at a given acceptance is what the row measures, not how good a real draft would be.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from llmlab.generation import SamplingParams  # noqa: E402
from llmlab.serve.config import EngineConfig  # noqa: E402
from llmlab.serve.engine import Engine  # noqa: E402
from llmlab.serve.random_model import make_model_dir  # noqa: E402

CB_MODEL: list = []     # the model transformers' continuous batching runs on


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def hf_generate(model, batch: list[list[int]], out_len: int) -> int:
    ids = torch.tensor(batch, device=model.device)             # equal lengths: no padding needed
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=out_len,
                         min_new_tokens=out_len,
                         do_sample=False, eos_token_id=None, pad_token_id=0)
    return (out.shape[1] - ids.shape[1]) * out.shape[0]


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise TimeoutError in the main thread after `seconds` (for a method that might hang)."""
    def expire(signum, frame):
        raise TimeoutError(f"gave up after {seconds} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_method(name: str, args, prompts, hf, engine) -> tuple[float, int]:
    """-> (seconds, output tokens) for one timed run of one method."""
    sync(args.device)
    start = time.perf_counter()
    if name == "hf one at a time":
        tokens = sum(hf_generate(hf, [p], args.output_len) for p in prompts[:args.hf_single])
    elif name == "hf static batch":
        tokens = hf_generate(hf, prompts, args.output_len)
    elif name == "hf continuous batching":
        from transformers import GenerationConfig
        gc = GenerationConfig(max_new_tokens=args.output_len, min_new_tokens=args.output_len, do_sample=False,
                              eos_token_id=None, pad_token_id=0)
        outs = CB_MODEL[0].generate_batch(prompts, generation_config=gc, progress_bar=False)
        tokens = sum(len(o.generated_tokens) for o in outs.values())
    else:
        engine.allocator.reset_prefix_cache()                   # repeats reuse the prompts: no free hits
        done = engine.generate(prompts, SamplingParams(temperature=0.0, max_new_tokens=args.output_len),
                               ignore_eos=True)
        tokens = sum(len(c.token_ids) for c in done)
    sync(args.device)
    return time.perf_counter() - start, tokens


def prefix_ttft(engine: Engine, args, gen: torch.Generator) -> dict:
    """Median TTFT of a request alone, its long prefix cold (never seen) vs warm (cached by a previous
    one)."""
    vocab = min(engine.model.spec.vocab_size, args.token_range)
    rand = lambda n: torch.randint(0, vocab, (n,), generator=gen).tolist()   # noqa: E731
    params = SamplingParams(temperature=0.0, max_new_tokens=args.prefix_out)
    cold, warm, first_steps = [], [], {"cold": [], "cached": []}
    engine.step_log = []

    def ttft(p: list[int], label: str) -> float:
        at = len(engine.step_log)
        out = engine.generate([p], params, ignore_eos=True)[0]
        first_steps[label].append(engine.step_log[at])        # the step that prefilled it
        return out.ttft

    for _ in range(2):                                        # warm-up: kernels, CUDA graphs
        shared = rand(args.prefix_len)
        ttft(shared + rand(args.suffix_len), "cold")
        ttft(shared + rand(args.suffix_len), "cached")
    first_steps = {"cold": [], "cached": []}
    for _ in range(args.prefix_trials):
        shared = rand(args.prefix_len)
        # a new prefix: the whole prompt is prefilled
        cold.append(ttft(shared + rand(args.suffix_len), "cold"))
        # same prefix: only the suffix is computed
        warm.append(ttft(shared + rand(args.suffix_len), "cached"))
    c, w = statistics.median(cold), statistics.median(warm)
    phases = {label: {k: statistics.median(s[k] for s in steps) * 1e3 for k in ("schedule", "execute",
                                                                                "sample",
                                                                                "process")}
              for label, steps in first_steps.items()}
    engine.step_log = None
    return {"prefix_len": args.prefix_len, "suffix_len": args.suffix_len, "ttft_cold_ms": c * 1e3,
            "ttft_warm_ms": w * 1e3, "ttft_cut": c / w, "first_step_ms_median": phases}


def speculative_pair(root: Path, text: str) -> tuple[Path, Path]:
    """(target, draft) directories: see the module's docstring."""
    import shutil

    from transformers import GPT2LMHeadModel

    target = make_model_dir(root / "target", preset="small", n_layer=8, tokenizer="bpe", text=text,
                            bpe_vocab=8000, init_std=0.02)
    model = GPT2LMHeadModel.from_pretrained(str(target))
    with torch.no_grad():
        for block in model.transformer.h[1:]:
            block.attn.c_proj.weight.mul_(0.1)
            block.mlp.c_proj.weight.mul_(0.1)
    model.save_pretrained(str(target))
    model.transformer.h = model.transformer.h[:1]
    model.config.n_layer = 1
    draft = root / "draft"
    model.save_pretrained(str(draft))
    for f in target.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "vocab", "merges")):
            shutil.copy(f, draft / f.name)
    return target, draft


def speculative_rows(args, text: str) -> dict:
    """tokens/s and acceptance without speculation, with prompt lookup, with the draft; batch 1 and 16."""
    tmp = tempfile.TemporaryDirectory()
    target, draft = speculative_pair(Path(tmp.name), text)
    gen = torch.Generator().manual_seed(0)
    rows = {}
    for batch, temperature in ((1, 0.0), (16, 0.0), (1, 1.0), (16, 1.0)):
        prompts = [torch.randint(0, 4000, (args.input_len,), generator=gen).tolist() for _ in range(batch)]
        params = SamplingParams(temperature=temperature, max_new_tokens=args.output_len, seed=0)
        base = None
        for label, spec in (("no speculation", ""), ("prompt lookup", "ngram"),
                            ("draft model", f"draft:{draft}")):
            label = f"{label}, {'greedy' if temperature == 0 else 'T=1'}"
            engine = Engine(EngineConfig(model=str(target), device=args.device, dtype=args.dtype,
                                         max_num_seqs=16, speculative=spec, num_speculative_tokens=4))
            engine.generate(prompts[:1], SamplingParams(temperature=0.0, max_new_tokens=4), ignore_eos=True)
            secs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                out = engine.generate(prompts, params, ignore_eos=True)
                secs.append(time.perf_counter() - t0)
            ids = [c.token_ids for c in out]
            base = base or ids
            s = engine.stats()
            sec = statistics.median(secs)
            rows[f"{label} @ batch {batch}"] = {
                "tokens_per_s": batch * args.output_len / sec, "seconds": sec,
                # sampled rows draw different random numbers with and without speculation
                "equal_to_plain": ids == base if temperature == 0 else None,
                "acceptance_rate": s.get("spec_acceptance_rate"),
                "mean_accepted_length": s.get("spec_mean_accepted_length")}
    tmp.cleanup()
    for key, r in rows.items():
        mode, batch = key.split(", ")[1].split(" @ ")
        r["speedup"] = r["tokens_per_s"] / rows[f"no speculation, {mode} @ {batch}"]["tokens_per_s"]
    print(f"\nspeculative decoding, {args.device} ({torch.get_num_threads()} threads) · target 8 x 256, "
          f"draft 1 x 256 · {args.input_len} in / {args.output_len} out · k = 4 · median of {args.repeats}")
    print(f"{'row':<36}{'tok/s':>9}{'speedup':>9}{'accepted':>10}{'tokens/pass':>13}{'equal':>7}")
    for key, r in rows.items():
        acc = "-" if r["acceptance_rate"] is None else f"{r['acceptance_rate']:.2f}"
        per = "-" if r["mean_accepted_length"] is None else f"{r['mean_accepted_length']:.2f}"
        equal = "-" if r["equal_to_plain"] is None else str(r["equal_to_plain"])
        print(f"{key:<36}{r['tokens_per_s']:>9.0f}{r['speedup']:>8.2f}x{acc:>10}{per:>13}{equal:>7}")
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", help="tiny | small | gpt2-124m (random weights)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--num-prompts", type=int, default=16)
    ap.add_argument("--input-len", type=int, default=32)
    ap.add_argument("--output-len", type=int, default=32)
    ap.add_argument("--hf-single", type=int, default=4, help="requests measured one at a time (it is slow)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prefix-len", type=int, default=480)
    ap.add_argument("--suffix-len", type=int, default=16)
    ap.add_argument("--prefix-out", type=int, default=4)
    ap.add_argument("--prefix-trials", type=int, default=5)
    ap.add_argument("--token-range", type=int, default=4000, help="prompt ids are drawn below this")
    ap.add_argument("--skip", default="",
                    help="comma-separated methods to leave out (e.g. 'hf continuous batching')")
    ap.add_argument("--model-dir", default="", help="reuse this model directory instead of building one")
    ap.add_argument("--json-out", default="", help="also write the results here")
    ap.add_argument("--engine-set", action="append", default=[], metavar="KEY=VALUE",
                    help="an EngineConfig override for llmlab's engine (repeatable), e.g. "
                         "triton_max_chunk=16")
    ap.add_argument("--method-timeout", type=int, default=240, help="seconds before a method is given up")
    ap.add_argument("--quick", action="store_true", help="fewer prompts and repeats")
    ap.add_argument("--speculative", action="store_true", help="only the speculative-decoding rows")
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU threads for torch (0: its default); 1 steadies "
                    "timings on a machine shared with other work")
    args = ap.parse_args(argv)
    if args.quick:
        args.num_prompts, args.repeats, args.prefix_trials, args.hf_single = 8, 1, 3, 2
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)

    from transformers import AutoModelForCausalLM

    from llmlab.data import load_corpus

    if args.speculative:
        rows = speculative_rows(args, load_corpus("python-docs").text[:200_000])
        if args.json_out:
            Path(args.json_out).write_text(json.dumps({"speculative": rows, "command": " ".join(sys.argv)},
                                                      indent=2) + "\n", encoding="utf-8")
        return {"speculative": rows}

    tmp = tempfile.TemporaryDirectory()
    model_dir = args.model_dir or make_model_dir(Path(tmp.name) / "model", preset=args.preset,
                                                 tokenizer="bpe",
                                                 text=load_corpus("python-docs").text[:200_000],
                                                 bpe_vocab=8000,
                                                 init_std=0.02)
    from llmlab.config import apply_overrides

    engine = Engine(apply_overrides(EngineConfig(model=str(model_dir), device=args.device, dtype=args.dtype,
                                                 max_num_seqs=max(args.num_prompts, 8)), args.engine_set))
    hf = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype, attn_implementation="sdpa")
    hf = hf.to(args.device).eval()
    # continuous batching may switch a model's attention implementation: it gets its own copy
    CB_MODEL[:] = [AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype).to(args.device).eval()]
    gen = torch.Generator().manual_seed(0)
    vocab = min(engine.model.spec.vocab_size, args.token_range)
    prompts = [
        torch.randint(0, vocab, (args.input_len,), generator=gen).tolist() for _ in range(args.num_prompts)
    ]

    methods = ["hf one at a time", "hf static batch", "llmlab engine"]
    if hasattr(hf, "generate_batch"):
        methods.insert(2, "hf continuous batching")
    methods = [m for m in methods if m not in {s.strip() for s in args.skip.split(",")}]
    # warm-up: every method once on a short run (allocator, kernels, CUDA graphs of the engine)
    short = argparse.Namespace(**{**vars(args), "output_len": 4, "hf_single": 1})
    broken = {}
    for m in methods:
        try:
            with time_limit(args.method_timeout):
                run_method(m, short, prompts, hf, engine)
        except Exception as exc:           # transformers' continuous batching is young: report, don't die
            broken[m] = f"{type(exc).__name__}: {exc}"[:300]
    methods = [m for m in methods if m not in broken]
    times: dict[str, list[float]] = {m: [] for m in methods}
    tokens: dict[str, int] = {}
    timing0, steps0 = dict(engine.timing), engine.steps
    for _ in range(args.repeats):
        for m in list(methods):            # interleaved, so drifting load hits every method alike
            try:
                with time_limit(args.method_timeout):
                    seconds, n = run_method(m, args, prompts, hf, engine)
                if n == 0:
                    raise RuntimeError("it generated no tokens")
            except Exception as exc:
                broken[m] = f"{type(exc).__name__}: {exc}"[:300]
                methods.remove(m)
                continue
            times[m].append(seconds)
            tokens[m] = n
    steps = max(engine.steps - steps0, 1)
    per_step = {k: (engine.timing[k] - timing0[k]) / steps * 1e3 for k in engine.timing}
    # one more engine run, logging each step, for the anatomy of a decode step (all requests decoding)
    engine.step_log = []
    run_method("llmlab engine", args, prompts, hf, engine)
    decode_steps = [s for s in engine.step_log if s["tokens"] == s["requests"] == args.num_prompts]
    anatomy = {k: statistics.median(s[k] for s in decode_steps) * 1e3
               for k in ("schedule", "execute", "sample", "process")} if decode_steps else {}
    engine.step_log = None
    # greedy outputs should agree with HF's; in bf16 rounding differences can flip near-ties
    check = engine.generate(prompts[:4], SamplingParams(temperature=0.0, max_new_tokens=16), ignore_eos=True)
    agree = []
    for p, c in zip(prompts[:4], check, strict=True):
        ref = hf.generate(torch.tensor([p], device=args.device), max_new_tokens=16, do_sample=False,
                          eos_token_id=None, pad_token_id=0)[0, len(p):].tolist()
        agree.append(sum(a == b for a, b in zip(ref, c.token_ids, strict=True)) / 16)

    rows = {}
    for m in methods:
        sec = statistics.median(times[m])
        rows[m] = {"seconds": sec, "output_tokens": tokens[m], "tokens_per_s": tokens[m] / sec}
    base = rows.get("hf static batch", {}).get("tokens_per_s")
    for r in rows.values():
        r["vs_hf_static"] = r["tokens_per_s"] / base if base else None
    prefix = prefix_ttft(engine, args, gen)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    result = {"device": device_name, "threads": torch.get_num_threads(), "preset": args.preset,
              "dtype": args.dtype, "num_prompts": args.num_prompts,
              "input_len": args.input_len, "output_len": args.output_len, "repeats": args.repeats,
              "methods": rows, "unavailable": broken, "greedy_agreement_with_hf": agree, "prefix": prefix,
              "engine": {k: v for k, v in engine.stats().items()
                         if k in ("graph_steps", "eager_steps", "preemptions", "attention")},
              "engine_set": args.engine_set,
              "engine_ms_per_step": per_step, "engine_steps_per_run": steps / max(args.repeats, 1),
              "decode_step_ms_median": anatomy,
              "graph_capture_s": engine.runner.capture_seconds, "command": " ".join(sys.argv)}

    print(f"\n{device_name} ({torch.get_num_threads()} threads) · {args.preset} ({args.dtype}) · "
          f"{args.num_prompts} requests · "
          f"{args.input_len} in / {args.output_len} out · median of {args.repeats}")
    print(f"{'method':<24}{'requests':>9}{'tokens':>8}{'seconds':>9}{'tok/s':>10}{'vs HF static':>14}")
    for m, r in rows.items():
        n_req = args.hf_single if m == "hf one at a time" else args.num_prompts
        ratio = f"{r['vs_hf_static']:.2f}x" if r["vs_hf_static"] else "-"
        print(f"{m:<24}{n_req:>9}{r['output_tokens']:>8}{r['seconds']:>9.3f}{r['tokens_per_s']:>10.0f}{ratio:>14}")
    for m, why in broken.items():
        print(f"{m:<24} unavailable: {why}")
    print(f"greedy tokens equal to HF's (first 16 of 4 prompts): {[round(a, 2) for a in agree]}")
    print(f"engine: attention {result['engine']['attention']}; ms per step: "
          + ", ".join(f"{k} {v:.3f}" for k, v in per_step.items()))
    print(f"a decode step of {args.num_prompts} requests (median ms): "
          + ", ".join(f"{k} {v:.3f}" for k, v in anatomy.items()))
    print(f"prefix cache: {prefix['prefix_len']}-token shared prefix + {prefix['suffix_len']}-token suffix: "
          f"TTFT cold {prefix['ttft_cold_ms']:.1f} ms, cached {prefix['ttft_warm_ms']:.1f} ms "
          f"-> {prefix['ttft_cut']:.1f}x faster")
    for label, ph in prefix["first_step_ms_median"].items():
        print(f"  its first step, {label} (median ms): " + ", ".join(f"{k} {v:.3f}" for k, v in ph.items()))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.cleanup()
    return result


if __name__ == "__main__":
    main()

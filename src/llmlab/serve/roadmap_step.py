"""Roadmap step for project 9: serve a small model in-process on a free port, load it, check it, stop it.

Quick (about 15-30 s on a laptop CPU): a tiny random GPT-2 directory (char tokenizer), the API on
127.0.0.1:<free port>, one completion checked against the in-process engine and against transformers'
generate, a short concurrent streaming benchmark, a prefix-cache check, and a clean shutdown with every
KV block back in the pool. Full: a larger model and more requests.
"""

from __future__ import annotations

from typing import Any

from llmlab.roadmap.runner import StepContext


def run(ctx: StepContext) -> dict[str, Any]:
    import asyncio

    import httpx
    import torch
    from transformers import AutoModelForCausalLM

    from llmlab.data import load_corpus
    from llmlab.generation import SamplingParams
    from llmlab.serve.bench import latency_cdf
    from llmlab.serve.config import EngineConfig
    from llmlab.serve.engine import Engine
    from llmlab.serve.load_generator import LoadConfig, run_load
    from llmlab.serve.random_model import make_model_dir
    from llmlab.serve.server import BackgroundServer
    from llmlab.training import count_params

    quick = ctx.quick
    text = load_corpus("python-docs").text[:50_000]
    shape = dict(n_layer=2, n_embd=64, n_head=4) if quick else dict(n_layer=4, n_embd=256, n_head=8)
    model_dir = make_model_dir(ctx.out / "model", family="gpt2", text=text, seed=ctx.seed, n_positions=512,
                               **shape)
    cfg = EngineConfig(model=str(model_dir), device="cpu", max_num_seqs=64, max_batched_tokens=512)
    ctx.run.save_config(cfg)
    engine = Engine(cfg)
    prompt = "The Python language reference describes"
    greedy = SamplingParams(temperature=0.0, max_new_tokens=24)
    [local] = engine.generate([prompt], greedy, ignore_eos=True)
    hf = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    with torch.no_grad():
        ref = hf.generate(torch.tensor([local.prompt_ids]), max_new_tokens=24, do_sample=False,
                          eos_token_id=None,
                          pad_token_id=0)[0, len(local.prompt_ids):].tolist()
    engine.allocator.reset_prefix_cache()

    load = LoadConfig(num_prompts=32 if quick else 200, input_len=32, output_len=16 if quick else 64,
                      prefix_len=64, max_concurrency=16 if quick else 64, request_rate=float("inf"),
                      seed=ctx.seed)
    with BackgroundServer(engine, model_name="tiny") as server:
        http = httpx.Client(base_url=server.url, timeout=60)
        body = {"model": "tiny", "prompt": prompt, "max_tokens": 24, "temperature": 0, "ignore_eos": True}
        served = http.post("/v1/completions", json=body).json()
        # same prompt: its full blocks are cached
        again = http.post("/v1/completions", json=body).json()
        load.url = server.url
        summary, results = asyncio.run(run_load(load))
        health = http.get("/health").json()
        http.close()
    latency_cdf(results, ctx.out / "latency_cdf.png")
    cached = again["usage"]["prompt_tokens_details"]["cached_tokens"]
    checks = {
        "greedy output equals transformers' generate": local.token_ids == ref,
        "the HTTP API returns the engine's text": served["choices"][0]["text"] == local.text,
        "a repeated prompt is served from the prefix cache": cached > 0
        and again["choices"][0]["text"] == local.text,
        f"all {load.num_prompts} concurrent streamed requests completed": summary["completed"]
        == load.num_prompts,
        "the shared prefix hit the cache": summary["prefix_hit_rate"] > 0.3,
        "every KV block returned after the run": health["kv_blocks_in_use"] == 0
        and engine.allocator.num_in_use == 0,
    }
    figures = {k: summary[k] for k in ("request_throughput", "output_token_throughput", "ttft_median_ms",
                                       "ttft_p99_ms", "tpot_median_ms", "itl_median_ms", "e2e_median_ms",
                                       "prefix_hit_rate")}
    return {"checks": checks, "pictures": ["latency_cdf.png"],
            "model": {"name": f"random-weight GPT-2 ({shape['n_layer']} layers, {shape['n_embd']} wide)",
                      "params": count_params(hf)},
            "headline": (f"{summary['completed']} streamed requests at "
                         f"{summary['output_token_throughput']:.0f} tok/s "
                         f"(CPU), TTFT p50 {summary['ttft_median_ms']:.0f} ms, prefix hits "
                         f"{summary['prefix_hit_rate']:.0%}"),
            "cached_tokens_on_repeat": cached, **figures}

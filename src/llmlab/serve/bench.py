"""One `llmlab bench serve` run: optionally start a server, drive the load, write the run folder and the
picture.

    summary = run_benchmark(LoadConfig(num_prompts=50), model_dir=Path("runs/pretrain/tiny"))

The run folder (runs/serve/bench-<time>/ or --out) holds config.json, summary.json, requests.jsonl (one
line per request) and latency_cdf.png (the distribution of TTFT and E2E: how many requests waited how long).
When the server speculates, its acceptance figures (from /metrics) join the summary.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

from llmlab.plots import plot_curves
from llmlab.progress import progress_bar
from llmlab.runs import RunFolder
from llmlab.serve.load_generator import LoadConfig, run_load


def latency_cdf(results, path: Path) -> Path:
    """Fraction of requests served within x ms, for TTFT and E2E."""
    series = {}
    for label, values in (("TTFT", [r.ttft for r in results if r.ok]),
                          ("E2E", [r.e2e for r in results if r.ok])):
        ordered = sorted(v * 1e3 for v in values)
        if ordered:
            series[label] = (ordered, [(i + 1) / len(ordered) for i in range(len(ordered))])
    return plot_curves(series, path, title="latency distribution", xlabel="ms", ylabel="fraction of requests")


SPEC_METRICS = ("spec_draft_tokens", "spec_accepted_tokens", "spec_acceptance_rate",
                "spec_mean_accepted_length")


def speculation(url: str) -> dict[str, float]:
    """The server's speculative-decoding figures from /metrics; {} when it does not speculate."""
    import httpx

    from llmlab.serve.metrics import parse_metrics

    try:
        found = parse_metrics(httpx.get(url.rstrip("/") + "/metrics", timeout=10).text)
    except httpx.HTTPError:
        return {}
    figures = {name: found[f"llmlab_{name}"] for name in SPEC_METRICS if f"llmlab_{name}" in found}
    return figures if figures.get("spec_draft_tokens") else {}


def run_benchmark(cfg: LoadConfig, model_dir: Path | None = None, device: str = "auto",
                  out: Path | None = None, run_name: str | None = None,
                  speculative: str = "") -> dict[str, Any]:
    server = None
    if model_dir is not None:
        from llmlab.serve.config import EngineConfig
        from llmlab.serve.engine import Engine
        from llmlab.serve.server import BackgroundServer

        engine = Engine(EngineConfig(model=str(model_dir), device=device, speculative=speculative,
                                     max_num_seqs=max(cfg.max_concurrency or cfg.num_prompts, 8)))
        server = BackgroundServer(engine, max_queue=max(cfg.num_prompts, 256)).start()
        cfg = dataclasses.replace(cfg, url=server.url)
    run = RunFolder.create("serve", name=run_name or time.strftime("bench-%Y%m%d-%H%M%S"), out=out)
    run.save_config({k: v for k, v in dataclasses.asdict(cfg).items() if k != "api_key"})
    try:
        with progress_bar(total=cfg.num_prompts, description="bench serve", unit="req") as bar:
            summary, results = asyncio.run(run_load(cfg, progress=lambda: bar.advance(1)))
        summary.update(speculation(cfg.url))
    finally:
        if server is not None:
            server.stop()
    for r in results:
        run.log({"ok": r.ok, "prompt_tokens": r.prompt_tokens, "output_tokens": r.output_tokens,
                 "cached_tokens": r.cached_tokens, "ttft_s": r.ttft, "e2e_s": r.e2e, "error": r.error})
    (run.path / "metrics.jsonl").rename(run.path / "requests.jsonl")
    latency_cdf(results, run.file("latency_cdf.png"))
    summary = {**summary, "run": str(run.path), "pictures": ["latency_cdf.png"]}
    run.save_summary(summary)
    return summary

"""`llmlab bench serve`: a load generator for any OpenAI-compatible server, in the manner of `vllm bench
serve`.

    summary = asyncio.run(run_load(LoadConfig(url="http://127.0.0.1:8000", num_prompts=200, request_rate=20)))

Requests arrive as a Poisson process (or at a fixed rate, or all at once), at most `max_concurrency` in
flight; each streams its completion. Per request: TTFT (send -> first token), ITL (gaps between streamed
chunks), TPOT ((E2E - TTFT) / (output tokens - 1)), E2E. Reported as mean, median and p99, with request and
token throughput and the prefix-cache hit rate (cached prompt tokens / prompt tokens, from `usage`).
Lengths left unset are 128 in and 128 out, shrunk to fit the served model's context (from /v1/models);
lengths a user sets are kept, so that a wrong one fails loudly.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmlab.errors import LabError


@dataclass
class LoadConfig:
    url: str = "http://127.0.0.1:8000"
    model: str = ""                    # the served name; empty -> the first of /v1/models
    num_prompts: int = 100
    input_len: int | None = None       # random prompts: token ids (None: DEFAULT_LEN, fitted to the context)
    output_len: int | None = None
    prefix_len: int = 0                # a random prefix shared by every prompt (prefix-cache test)
    prompts_file: str = ""             # one prompt per line (.txt) or {"prompt": ...} per line (.jsonl)
    request_rate: float = float("inf") # requests per second; inf sends everything at once
    arrival: str = "poisson"           # poisson | fixed
    max_concurrency: int = 0           # 0 -> no cap
    api_key: str = ""
    seed: int = 0
    timeout: float = 600.0


DEFAULT_LEN = 128


def fit_lengths(cfg: LoadConfig, max_model_len: int | None) -> LoadConfig:
    """Unset lengths: DEFAULT_LEN each, or what the context leaves beside --prefix-len, halved.

    fit_lengths(LoadConfig(prefix_len=16), max_model_len=128)  ->  input_len 56, output_len 56
    fit_lengths(LoadConfig(input_len=100), max_model_len=128)  ->  input_len 100, output_len 28
    """
    room = (max_model_len or 2 * DEFAULT_LEN + cfg.prefix_len) - cfg.prefix_len
    input_len = cfg.input_len if cfg.input_len is not None else max(min(DEFAULT_LEN, room // 2), 1)
    output_len = cfg.output_len if cfg.output_len is not None else max(min(DEFAULT_LEN, room - input_len), 1)
    return replace(cfg, input_len=input_len, output_len=output_len)


@dataclass
class RequestResult:
    ok: bool
    prompt_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    ttft: float = 0.0
    e2e: float = 0.0
    itl: list[float] = field(default_factory=list)
    error: str = ""


def _prompts(cfg: LoadConfig, vocab: int) -> list[Any]:
    rng = random.Random(cfg.seed)
    if cfg.prompts_file:
        path = Path(cfg.prompts_file)
        if not path.exists():
            raise LabError(f"no prompts file at {path}",
                           hint="give --prompts a .txt (one per line) or .jsonl file")
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        items = [json.loads(line)["prompt"] if path.suffix == ".jsonl" else line for line in lines]
        if not items:
            raise LabError(f"{path} holds no prompts", hint="one prompt per line")
        return [items[i % len(items)] for i in range(cfg.num_prompts)]
    prefix = [rng.randrange(vocab) for _ in range(cfg.prefix_len)]
    return [prefix + [rng.randrange(vocab) for _ in range(cfg.input_len)] for _ in range(cfg.num_prompts)]


def _arrival_gaps(cfg: LoadConfig) -> list[float]:
    if cfg.request_rate == float("inf") or cfg.request_rate <= 0:
        return [0.0] * cfg.num_prompts
    rng = random.Random(cfg.seed + 1)
    if cfg.arrival == "fixed":
        return [1.0 / cfg.request_rate] * cfg.num_prompts
    return [rng.expovariate(cfg.request_rate) for _ in range(cfg.num_prompts)]


async def _one(http, cfg: LoadConfig, model: str, prompt: Any) -> RequestResult:
    body = {"model": model, "prompt": prompt, "max_tokens": cfg.output_len, "temperature": 0.0,
            "stream": True,
            "ignore_eos": not cfg.prompts_file, "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    result, last = RequestResult(ok=False), None
    try:
        async with http.stream("POST", "/v1/completions", json=body) as r:
            if r.status_code != 200:
                result.error = f"HTTP {r.status_code}: {(await r.aread()).decode()[:200]}"
                return result
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                now = time.perf_counter()
                if chunk.get("usage"):
                    u = chunk["usage"]
                    result.prompt_tokens, result.output_tokens = u["prompt_tokens"], u["completion_tokens"]
                    result.cached_tokens = (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
                if not chunk.get("choices"):
                    continue
                if last is None:
                    result.ttft = now - start
                else:
                    result.itl.append(now - last)
                last = now
        result.e2e = time.perf_counter() - start
        result.ok = last is not None
        if not result.ok:
            result.error = "the stream ended without a token"
    except Exception as exc:       # a broken connection is a failed request, not a crashed benchmark
        result.error = f"{type(exc).__name__}: {exc}"[:200]
    return result


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "median": 0.0, "p99": 0.0}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"mean": statistics.fmean(ordered) * 1e3, "median": statistics.median(ordered) * 1e3,
            "p99": p99 * 1e3}


async def run_load(cfg: LoadConfig, progress=None) -> tuple[dict[str, Any], list[RequestResult]]:
    import httpx

    headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
    limits = httpx.Limits(max_connections=max(cfg.max_concurrency or cfg.num_prompts, 1) + 4,
                          max_keepalive_connections=max(cfg.max_concurrency or cfg.num_prompts, 1) + 4)
    async with httpx.AsyncClient(base_url=cfg.url.rstrip("/"), headers=headers, timeout=cfg.timeout,
                                 limits=limits) as http:
        try:
            models = (await http.get("/v1/models")).json()["data"]
        except Exception as exc:
            raise LabError(f"no OpenAI-compatible server answers at {cfg.url} ({type(exc).__name__})",
                           hint="start one with `llmlab serve --model DIR`, or pass --model to start one "
                                "here") from None
        model = cfg.model or models[0]["id"]
        vocab = int(models[0].get("vocab_size") or 100)
        cfg = fit_lengths(cfg, models[0].get("max_model_len"))
        prompts = _prompts(cfg, vocab)
        gate = asyncio.Semaphore(cfg.max_concurrency) if cfg.max_concurrency > 0 else None

        async def limited(prompt):
            if gate is None:
                out = await _one(http, cfg, model, prompt)
            else:
                async with gate:
                    out = await _one(http, cfg, model, prompt)
            if progress:
                progress()
            return out

        start = time.perf_counter()
        tasks = []
        for gap, prompt in zip(_arrival_gaps(cfg), prompts, strict=True):
            if gap:
                await asyncio.sleep(gap)
            tasks.append(asyncio.create_task(limited(prompt)))
        results = await asyncio.gather(*tasks)
        duration = time.perf_counter() - start
    good = [r for r in results if r.ok]
    prompt_tokens = sum(r.prompt_tokens for r in good)
    output_tokens = sum(r.output_tokens for r in good)
    tpot = [(r.e2e - r.ttft) / (r.output_tokens - 1) for r in good if r.output_tokens > 1]
    summary = {
        "url": cfg.url, "model": model, "input_len": None if cfg.prompts_file else cfg.input_len,
        "output_len": cfg.output_len,
        "requests": len(results), "completed": len(good),
        "failed": len(results) - len(good), "first_error": next((r.error for r in results if not r.ok), ""),
        "duration_s": duration, "request_throughput": len(good) / duration,
        "output_token_throughput": output_tokens / duration,
        "total_token_throughput": (prompt_tokens + output_tokens) / duration,
        "prompt_tokens": prompt_tokens, "output_tokens": output_tokens,
        "prefix_hit_rate": sum(r.cached_tokens for r in good) / prompt_tokens if prompt_tokens else 0.0,
    }
    for name, values in (("ttft", [r.ttft for r in good]), ("tpot", tpot), ("itl",
                                                                            [x for r in good for x in r.itl]),
                         ("e2e", [r.e2e for r in good])):
        for stat, value in _stats(values).items():
            summary[f"{name}_{stat}_ms"] = value
    return summary, results

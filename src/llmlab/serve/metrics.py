"""Prometheus metrics of a running server: latencies as histograms, engine state read at scrape time.

    metrics = EngineMetrics(); engine = Engine(cfg, metrics=metrics); metrics.bind(engine)
    metrics.render()   # the text format that GET /metrics returns

Each server gets its own registry, so several servers (tests, the roadmap step) can share a process.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401  (re-exported for the API)
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                   7.5, 10.0, 20.0, 40.0, 80.0)


class EngineMetrics:
    def __init__(self, prefix: str = "llmlab"):
        r = self.registry = CollectorRegistry()
        self.ttft = Histogram(f"{prefix}_time_to_first_token_seconds", "Time from arrival to the first token",
                              buckets=LATENCY_BUCKETS, registry=r)
        self.itl = Histogram(f"{prefix}_inter_token_latency_seconds",
                             "Time between two tokens of one request",
                             buckets=LATENCY_BUCKETS, registry=r)
        self.e2e = Histogram(f"{prefix}_e2e_request_latency_seconds", "Time from arrival to the last token",
                             buckets=LATENCY_BUCKETS, registry=r)
        self.finished = Counter(f"{prefix}_requests_finished", "Finished requests by reason", ["reason"],
                                registry=r)
        self.prompt_tokens = Counter(f"{prefix}_prompt_tokens", "Prompt tokens of finished requests",
                                     registry=r)
        self.generation_tokens = Counter(f"{prefix}_generation_tokens", "Generated tokens", registry=r)
        self.rejected = Counter(f"{prefix}_requests_rejected", "Requests refused because the queue was full",
                                registry=r)
        self._gauges = {name: Gauge(f"{prefix}_{name}", text, registry=r) for name, text in (
            ("num_requests_waiting", "Requests in the waiting queue"),
            ("num_requests_running", "Requests in the running batch"),
            ("kv_blocks_in_use", "KV-cache blocks held by requests"),
            ("kv_blocks_total", "KV-cache blocks in all"),
            ("kv_blocks_cached", "Blocks held only by the prefix cache (evictable)"),
            ("prefix_cache_hit_rate", "Prompt tokens served from the prefix cache / prompt tokens looked up"),
            ("prefix_cache_hit_tokens", "Prompt tokens served from the prefix cache"),
            ("prefix_cache_query_tokens", "Prompt tokens looked up in the prefix cache"),
            ("spec_draft_tokens", "Speculative tokens proposed"),
            ("spec_accepted_tokens", "Speculative tokens the target accepted"),
            ("spec_acceptance_rate", "Accepted / proposed speculative tokens"),
            ("spec_mean_accepted_length", "Tokens appended per verifying forward pass (1: no speculation)"),
        )}

    def bind(self, engine: Any, queued: Any = None) -> None:
        """Read the engine's state whenever Prometheus scrapes (plain int reads, safe from another thread).
        `queued` counts requests accepted by the API but not yet handed to the engine's thread."""
        g, s, a, t = self._gauges, engine.scheduler, engine.allocator, engine.tables
        g["num_requests_waiting"].set_function(lambda: len(s.waiting) + (queued() if queued else 0))
        g["num_requests_running"].set_function(lambda: len(s.running))
        g["kv_blocks_in_use"].set_function(lambda: a.num_in_use)
        g["kv_blocks_total"].set_function(lambda: a.usable)
        g["kv_blocks_cached"].set_function(lambda: len(a.evictable))
        g["prefix_cache_hit_rate"].set_function(lambda: t.hit_rate)
        g["prefix_cache_hit_tokens"].set_function(lambda: t.hit_tokens)
        g["prefix_cache_query_tokens"].set_function(lambda: t.query_tokens)
        spec = getattr(engine, "speculator", None)
        for name in ("spec_draft_tokens", "spec_accepted_tokens", "spec_acceptance_rate",
                     "spec_mean_accepted_length"):
            g[name].set_function((lambda n=name: spec.stats()[n]) if spec else (lambda: 0.0))

    # called by the engine, on its own thread
    def on_first_token(self, seconds: float) -> None:
        self.ttft.observe(seconds)
        self.generation_tokens.inc()

    def on_token(self, seconds: float) -> None:
        self.itl.observe(seconds)
        self.generation_tokens.inc()

    def on_finish(self, req: Any) -> None:
        self.finished.labels(req.finish_reason or "unknown").inc()
        self.prompt_tokens.inc(req.num_prompt)
        if req.last_token_time is not None:
            self.e2e.observe(req.last_token_time - req.arrival_time)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def parse_metrics(text: str) -> dict[str, float]:
    """Sample name (with labels) -> value, from the Prometheus text format (for the load generator and
    tests)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out

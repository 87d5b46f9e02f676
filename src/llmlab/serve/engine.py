"""The serving engine, usable in-process without HTTP: add requests, call `step()`, read their outputs.

    engine = Engine(EngineConfig(model="runs/pretrain/tiny"))
    [done] = engine.generate(["Once upon a time"], SamplingParams(temperature=0, max_new_tokens=32))
    rid = engine.add_request("Hello", SamplingParams(max_new_tokens=8)); outs = engine.step()

One step = schedule (which requests, how many tokens each), run the model once over all of them,
sample one token for every request whose prompt is fully in the cache, detokenise, check stops.
Not thread-safe: `AsyncEngine` drives it from one thread for the API.

A request whose sampling or post-processing raises finishes alone with reason "error" (its exception kept
in `errors` for the caller); a forward pass that raises fails the requests of that step. Either way the
others keep their state and the next step runs; `failed_steps` counts steps in a row that produced nothing.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from llmlab.device import resolve_device
from llmlab.errors import LabError
from llmlab.generation import SamplingParams, find_stop, holdback, make_generator, sample_next
from llmlab.serve.block_allocator import BlockAllocator
from llmlab.serve.block_tables import BlockTables
from llmlab.serve.config import EngineConfig, resolve_dtype
from llmlab.serve.model import load_model
from llmlab.serve.model_runner import ModelRunner
from llmlab.serve.paged_attention import PagedKVCache
from llmlab.serve.request import Completion, Request, RequestOutput
from llmlab.serve.scheduler import Scheduler
from llmlab.tokenizer.detokenizer import byte_table, make_detokenizer

GIB = 1 << 30
log = logging.getLogger("llmlab.serve")


class ContextLengthError(LabError):
    """The prompt plus the tokens asked for do not fit the model's context."""


def load_tokenizer(model_dir: str | Path):
    """The directory's Hugging Face tokenizer, or None when it has none (the engine then takes token ids)."""
    path = Path(model_dir)
    if not any((path / f).exists() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.json")):
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


class Engine:
    def __init__(self, config: EngineConfig, tokenizer: Any = "auto", metrics: Any = None):
        cfg = config.validate()
        if not cfg.model:
            raise LabError("no model directory given", hint="pass --model DIR (a Hugging Face model folder)")
        device = resolve_device(cfg.device)
        from transformers import AutoConfig

        hf_cfg = AutoConfig.from_pretrained(cfg.model) if (Path(cfg.model) / "config.json").exists() else None
        ckpt = getattr(hf_cfg, "dtype", None) or getattr(hf_cfg, "torch_dtype", None)
        ckpt = getattr(torch, ckpt) if isinstance(ckpt, str) else ckpt
        self.dtype = resolve_dtype(cfg.dtype, device, ckpt)
        self.model, self.hf_config = load_model(cfg.model, device, self.dtype)
        spec = self.model.spec
        self.device = self.model.device
        max_len = min(cfg.max_model_len or spec.max_positions, spec.max_positions)
        num_blocks = cfg.num_blocks or self._auto_blocks(cfg, spec, max_len, device)
        self.config = cfg.resolved(device=str(device), dtype=str(self.dtype).removeprefix("torch."),
                                   max_model_len=max_len, num_blocks=num_blocks)
        self.max_model_len, self.block_size = max_len, cfg.block_size
        self.kv = PagedKVCache(spec.n_layer, num_blocks, cfg.block_size, spec.n_kv_head, spec.head_dim,
                               self.dtype, self.device)
        self.allocator = BlockAllocator(num_blocks, cfg.enable_prefix_caching)
        self.tables = BlockTables(self.allocator, cfg.block_size)
        self.scheduler = Scheduler(self.tables, cfg.max_num_seqs, cfg.max_batched_tokens)
        self.runner = ModelRunner(self.model, self.kv, -(-max_len // cfg.block_size), cfg.cuda_graphs,
                                  cfg.graph_max_rows, rows_only=cfg.rows_only,
                                  triton_attention=cfg.triton_attention, triton_max_chunk=cfg.triton_max_chunk)
        self.tokenizer = load_tokenizer(cfg.model) if tokenizer == "auto" else tokenizer
        self.byte_table = byte_table(self.tokenizer) if self.tokenizer is not None else None
        eos = getattr(self.tokenizer, "eos_token_id", None)
        eos = eos if eos is not None else getattr(hf_cfg, "eos_token_id", None)
        self.eos_ids = frozenset(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self.requests: dict[str, Request] = {}
        self.errors: dict[str, BaseException] = {}    # failed request id -> why; the caller pops them
        self.failed_steps = 0                          # steps in a row in which every request failed
        self.metrics = metrics
        self._ids = itertools.count()
        self.steps = 0
        self.generated_tokens = 0
        # where a step's time goes (the sample phase waits for the GPU, so it holds the GPU's time too)
        self.timing = {"schedule": 0.0, "execute": 0.0, "sample": 0.0, "process": 0.0}
        self.step_log: list[dict] | None = None     # set to [] to record every step's phases (benchmarks)

    def _auto_blocks(self, cfg: EngineConfig, spec, max_len: int, device: str) -> int:
        per_block = spec.kv_bytes_per_token(self.dtype) * cfg.block_size
        if cfg.kv_cache_gb:
            budget = cfg.kv_cache_gb * GIB
        elif device.startswith("cuda"):
            budget = min(torch.cuda.mem_get_info()[0] * 0.5, 20 * GIB)
        else:
            budget = 1 * GIB
        wanted = cfg.max_num_seqs * -(-max_len // cfg.block_size) + 1    # every sequence at full length
        return int(max(2, min(budget // per_block, wanted)))

    # ---- requests in ----------------------------------------------------------------------------

    def encode(self, prompt: str | Sequence[int]) -> list[int]:
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise LabError("this model directory has no tokenizer, so prompts must be token ids",
                               hint="save a tokenizer next to the weights (tokenizer.save_pretrained(dir))")
            return list(self.tokenizer.encode(prompt))
        return [int(t) for t in prompt]

    def check_length(self, num_prompt: int, max_new_tokens: int) -> None:
        total = num_prompt + max_new_tokens
        if total > self.max_model_len:
            raise ContextLengthError(
                f"this model's context is {self.max_model_len} tokens, but {total} were asked for "
                f"({num_prompt} in the prompt, {max_new_tokens} to generate)",
                hint="shorten the prompt or lower max_tokens")
        if self.tables.blocks_needed(total) > self.allocator.usable:
            raise LabError(f"the KV cache holds {self.allocator.usable * self.block_size} tokens; this request "
                           f"needs {total}", hint="raise kv_cache_gb / num_blocks or lower max_tokens")

    def add_request(self, prompt: str | Sequence[int], params: SamplingParams | None = None,
                    request_id: str | None = None, ignore_eos: bool = False) -> str:
        params = params or SamplingParams()
        ids = self.encode(prompt)
        self.validate(ids, params)
        rid = request_id or f"req-{next(self._ids)}"
        if rid in self.requests:
            raise LabError(f"request id {rid!r} is already running", hint="use a unique id per request")
        req = Request(rid, ids, params,
                      stop_ids=frozenset(params.stop_token_ids) | (frozenset() if ignore_eos else self.eos_ids),
                      generator=make_generator(params.seed, self.device),
                      detokenizer=None if self.tokenizer is None else make_detokenizer(self.tokenizer, ids, self.byte_table))
        self.requests[rid] = req
        self.scheduler.add(req)
        return rid

    def validate(self, ids: list[int], params: SamplingParams) -> None:
        """Everything that can be wrong with a request, checked before it is queued (reads no mutable state)."""
        if not ids:
            raise LabError("the prompt is empty", hint="send at least one token")
        if min(ids) < 0 or max(ids) >= self.model.spec.vocab_size:
            raise LabError(f"token ids must lie in [0, {self.model.spec.vocab_size}), got {min(ids)}..{max(ids)}",
                           hint="encode the prompt with this model's tokenizer")
        if params.max_new_tokens < 1:
            raise LabError("max_new_tokens must be at least 1", hint="ask for at least one token")
        if params.stop and self.tokenizer is None:
            raise LabError("stop strings need a tokenizer", hint="use stop_token_ids instead")
        self.check_length(len(ids), params.max_new_tokens)

    def abort(self, request_id: str) -> RequestOutput | None:
        req = self.requests.pop(request_id, None)
        if req is None:
            return None
        return self._end(req, "abort")

    def _end(self, req: Request, reason: str) -> RequestOutput:
        if not req.finished:
            self.scheduler.finish(req)
        self.requests.pop(req.request_id, None)
        req.finish_reason = reason
        if self.metrics:
            self.metrics.on_finish(req)
        return self._output(req)

    def _fail(self, req: Request, exc: BaseException) -> RequestOutput:
        """End one request whose step raised; its blocks go back and the rest of the batch is untouched."""
        log.error("request %s failed: %s: %s", req.request_id, type(exc).__name__, exc, exc_info=exc)
        self.errors[req.request_id] = exc
        return self._end(req, "error")

    def has_unfinished(self) -> bool:
        return self.scheduler.has_work()

    # ---- one step -------------------------------------------------------------------------------

    def step(self) -> list[RequestOutput]:
        t0 = time.perf_counter()
        scheduled = self.scheduler.schedule()
        if not scheduled:
            return []
        t1 = time.perf_counter()
        try:
            logits, sampled = self.runner.execute(scheduled)
        except Exception as exc:           # which request broke the forward pass is unknown: fail the step's
            self.failed_steps += 1
            return [self._fail(req, exc) for req, _ in scheduled]
        bs = self.block_size
        for req, n in scheduled:
            req.num_computed += n
            if req.num_computed // bs > req.num_committed:     # a block just filled: name it in the cache
                self.tables.commit(req)
        self.steps += 1
        t2 = time.perf_counter()
        timing = self.timing
        timing["schedule"] += t1 - t0
        timing["execute"] += t2 - t1
        if not sampled:
            self.failed_steps = 0
            return []
        next_ids = self._sample(logits, sampled)
        now = time.perf_counter()
        outputs = []
        failed = 0
        for req, tok in zip(sampled, next_ids, strict=True):
            try:
                if isinstance(tok, Exception):
                    raise tok
                self._append(req, tok, now)
                outputs.append(self._output(req))    # every token is an event; its text may be empty
            except Exception as exc:
                outputs.append(self._fail(req, exc))
                failed += 1
        self.failed_steps = self.failed_steps + 1 if failed == len(scheduled) else 0
        self.generated_tokens += len(sampled) - failed
        t3 = time.perf_counter()
        timing["sample"] += now - t2
        timing["process"] += t3 - now
        if self.step_log is not None:
            self.step_log.append({"requests": len(scheduled), "tokens": sum(n for _, n in scheduled),
                                  "schedule": t1 - t0, "execute": t2 - t1, "sample": now - t2, "process": t3 - now})
        return outputs

    def _sample(self, logits: torch.Tensor, reqs: list[Request]) -> list[int | Exception]:
        """One batched draw; if it raises, one draw per request, so that only the request at fault fails."""
        params = [r.params for r in reqs]
        first = params[0]
        same = all(p is first or p == first for p in params)
        previous = [r.token_ids for r in reqs] if any(p.repetition_penalty != 1.0 for p in params) else None
        gens = [r.generator for r in reqs]
        gens = None if all(g is None for g in gens) else gens
        try:
            return sample_next(logits, first if same else params, previous=previous, generators=gens).tolist()
        except Exception as exc:
            if len(reqs) == 1:
                return [exc]
        drawn: list[int | Exception] = []
        for i, r in enumerate(reqs):
            try:
                drawn.append(int(sample_next(logits[i], r.params, previous=r.token_ids, generators=r.generator)))
            except Exception as exc:
                drawn.append(exc)
        return drawn

    def _append(self, req: Request, tok: int, now: float) -> None:
        req.token_ids.append(tok)
        if req.first_token_time is None:
            req.first_token_time = now
            if self.metrics:
                self.metrics.on_first_token(now - req.arrival_time)
        elif self.metrics:
            self.metrics.on_token(now - req.last_token_time)
        req.last_token_time = now
        params = req.params
        if tok in req.stop_ids:
            req.finish_reason = "stop"
        elif req.detokenizer is not None:
            before = len(req.text)
            req.text += req.detokenizer.step(tok)
            if params.stop and self._cut_stop(req, before):
                req.finish_reason = "stop"
        if req.finish_reason is None and (len(req.token_ids) - req.num_prompt >= params.max_new_tokens
                                          or req.num_tokens >= self.max_model_len):
            req.finish_reason = "length"
        if req.finish_reason is not None:
            if req.finish_reason == "length" and req.detokenizer is not None:
                before = len(req.text)
                req.text += req.detokenizer.flush()
                if params.stop and self._cut_stop(req, before):
                    req.finish_reason = "stop"
            self.scheduler.finish(req)
            self.requests.pop(req.request_id, None)
            if self.metrics:
                self.metrics.on_finish(req)

    @staticmethod
    def _cut_stop(req: Request, searched_before: int) -> bool:
        at = find_stop(req.text, req.params.stop, searched_before)
        if at < 0:
            return False
        req.text = req.text[:at]
        return True

    def _output(self, req: Request) -> RequestOutput:
        """The new text and tokens since the last output; a live stream holds back a possible stop prefix."""
        end = len(req.text) if req.finished else max(req.sent, len(req.text) - holdback(req.params.stop))
        text, req.sent = req.text[req.sent:end], end
        n_out = req.num_tokens - req.num_prompt
        new_ids, req.tokens_sent = req.token_ids[req.num_prompt + req.tokens_sent:], n_out
        return RequestOutput(req.request_id, text, new_ids, req.finished, req.finish_reason, req.num_prompt,
                             n_out, max(req.num_cached_tokens, 0),
                             None if req.first_token_time is None else req.first_token_time - req.arrival_time)

    # ---- convenience ----------------------------------------------------------------------------

    def generate(self, prompts: Sequence[str | Sequence[int]], params: SamplingParams | Sequence[SamplingParams] = None,
                 ignore_eos: bool = False) -> list[Completion]:
        """Run every prompt to completion, all in one continuous batch; results in prompt order."""
        params = params or SamplingParams()
        per = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
        ids = [self.add_request(p, q, ignore_eos=ignore_eos) for p, q in zip(prompts, per, strict=True)]
        reqs = {rid: self.requests[rid] for rid in ids}
        while any(not r.finished for r in reqs.values()):
            self.step()
            failed = next((rid for rid in reqs if rid in self.errors), None) if self.errors else None
            if failed is not None:              # in-process, a failed request is the caller's exception
                for rid in reqs:
                    self.abort(rid)
                raise self.errors.pop(failed)
        return [Completion(rid, r.prompt_ids, r.output_ids, r.text, r.finish_reason, max(r.num_cached_tokens, 0),
                           None if r.first_token_time is None else r.first_token_time - r.arrival_time)
                for rid, r in reqs.items()]

    def stats(self) -> dict[str, Any]:
        a = self.allocator
        return {"waiting": len(self.scheduler.waiting), "running": len(self.scheduler.running),
                "kv_blocks_total": a.usable, "kv_blocks_in_use": a.num_in_use, "kv_blocks_cached": len(a.evictable),
                "prefix_hit_rate": self.tables.hit_rate, "prefix_hit_tokens": self.tables.hit_tokens,
                "prefix_query_tokens": self.tables.query_tokens, "preemptions": self.scheduler.preemptions,
                "evictions": a.evictions, "steps": self.steps, "generated_tokens": self.generated_tokens,
                "graph_steps": self.runner.graph_steps, "eager_steps": self.runner.eager_steps,
                "attention": self.runner.kernel_note}

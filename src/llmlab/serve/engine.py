"""The serving engine, usable in-process without HTTP: add requests, call `step()`, read their outputs.

    engine = Engine(EngineConfig(model="runs/pretrain/tiny"))
    [done] = engine.generate(["Once upon a time"], SamplingParams(temperature=0, max_new_tokens=32))
    rid = engine.add_request("Hello", SamplingParams(max_new_tokens=8)); outs = engine.step()

One step = schedule (which requests, how many tokens each), run the model once over all of them,
sample one token for every request whose prompt is fully in the cache, detokenise, check stops.
A request with a grammar (`grammar=`, structured.py) samples only tokens its grammar allows. With
`speculative` set, each decoding request first gets up to k drafted tokens (proposers.py), all verified
in the same forward pass (speculative.py): one step can then append up to k + 1 tokens to a request.
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
from llmlab.errors import ContextWindowError, LabError
from llmlab.generation import (
    Completion,
    SamplingParams,
    StopChecker,
    eos_token_ids,
    make_generator,
    sample_next,
)
from llmlab.hub import load_hf_tokenizer
from llmlab.serve.block_allocator import BlockAllocator
from llmlab.serve.block_tables import BlockTables
from llmlab.serve.config import EngineConfig, resolve_dtype
from llmlab.serve.model import load_model
from llmlab.serve.model_runner import ModelRunner
from llmlab.serve.paged_attention import PagedKVCache
from llmlab.serve.proposers import make_proposer
from llmlab.serve.request import Request, RequestOutput
from llmlab.serve.scheduler import Scheduler
from llmlab.serve.speculative import Speculator
from llmlab.serve.step_clock import StepClock
from llmlab.tokenizer.detokenizer import byte_table, make_detokenizer

GIB = 1 << 30
log = logging.getLogger("llmlab.serve")


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
                                  triton_attention=cfg.triton_attention,
                                  triton_max_chunk=cfg.triton_max_chunk)
        # no tokenizer in the folder: the engine takes token ids
        self.tokenizer = load_hf_tokenizer(cfg.model, required=False) if tokenizer == "auto" else tokenizer
        self.byte_table = byte_table(self.tokenizer) if self.tokenizer is not None else None
        self.eos_ids = eos_token_ids(self.tokenizer, hf_cfg)      # the same EOS set as the hf: backend
        proposer = make_proposer(cfg.speculative, self.device, spec.vocab_size)
        self.speculator = None if proposer is None else Speculator(proposer, cfg.num_speculative_tokens,
                                                                   self.tables)
        self.requests: dict[str, Request] = {}
        self.errors: dict[str, BaseException] = {}    # failed request id -> why; the caller pops them
        self.failed_steps = 0                          # steps in a row in which every request failed
        self.metrics = metrics
        self._grammars = None
        self._ids = itertools.count()
        self.steps = 0
        self.generated_tokens = 0
        self.clock = StepClock()
        self.timing = self.clock.totals              # where the steps' time went, per phase

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
            raise ContextWindowError(
                f"this model's context is {self.max_model_len} tokens, but {total} were asked for "
                f"({num_prompt} in the prompt, {max_new_tokens} to generate)",
                hint="shorten the prompt or lower max_tokens")
        if self.tables.blocks_needed(total) > self.allocator.usable:
            raise LabError(f"the KV cache holds {self.allocator.usable * self.block_size} tokens; this "
                           f"request needs {total}",
                           hint="raise kv_cache_gb / num_blocks or lower max_tokens")

    @property
    def grammars(self):
        """The grammar compiler (structured.py), made on first use: it reads the whole vocabulary."""
        if self._grammars is None:
            from llmlab.serve.structured import GrammarCompiler

            if self.tokenizer is None:
                raise LabError("structured output needs the model's tokenizer",
                               hint="save one with the model")
            self._grammars = GrammarCompiler(self.tokenizer, self.model.spec.vocab_size)
        return self._grammars

    def add_request(self, prompt: str | Sequence[int], params: SamplingParams | None = None,
                    request_id: str | None = None, ignore_eos: bool = False, grammar: str | None = None,
                    speculate: bool = True) -> str:
        """Queue one request; `grammar` (from `self.grammars`) constrains every token it samples;
        `speculate=False` keeps it out of speculative decoding."""
        params = params or SamplingParams()
        ids = self.encode(prompt)
        self.validate(ids, params)
        rid = request_id or f"req-{next(self._ids)}"
        if rid in self.requests:
            raise LabError(f"request id {rid!r} is already running", hint="use a unique id per request")
        detok = None if self.tokenizer is None else make_detokenizer(self.tokenizer, ids, self.byte_table)
        stopper = StopChecker(params, frozenset() if ignore_eos else self.eos_ids,
                              piece=detok and detok.step, flush=detok and detok.flush,
                              limit=self.max_model_len - len(ids))
        req = Request(rid, ids, params, stopper=stopper, generator=make_generator(params.seed, self.device),
                      constraint=None if grammar is None else self.grammars.constraint(grammar),
                      speculate=speculate)
        self.requests[rid] = req
        self.scheduler.add(req)
        return rid

    def validate(self, ids: list[int], params: SamplingParams) -> None:
        """Everything that can be wrong with a request, checked before it is queued (reads no mutable
        state)."""
        if not ids:
            raise LabError("the prompt is empty", hint="send at least one token")
        if min(ids) < 0 or max(ids) >= self.model.spec.vocab_size:
            raise LabError(f"token ids must lie in [0, {self.model.spec.vocab_size}), "
                           f"got {min(ids)}..{max(ids)}",
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

    @property
    def step_log(self) -> list[dict] | None:
        """Every step's phases when set to [] (benchmarks); None records nothing."""
        return self.clock.log

    @step_log.setter
    def step_log(self, log: list[dict] | None) -> None:
        self.clock.log = log

    def step(self) -> list[RequestOutput]:
        """(Draft ->) schedule -> run the model -> sample -> append; `self.clock` times each phase."""
        lap = self.clock.start()
        if self.speculator:
            lap("propose", self.speculator.propose(self.scheduler.running))
        scheduled = lap("schedule", self.scheduler.schedule())
        if self.speculator:
            self.speculator.fit(scheduled)
        if not scheduled:
            return []
        try:
            logits, sampled = lap("execute", self._run(scheduled))
        except Exception as exc:           # which request broke the forward pass is unknown: fail the step's
            self.failed_steps += 1
            return [self._fail(req, exc) for req, _ in scheduled]
        if not sampled:                    # every request was mid-prompt (a chunk of a long prefill)
            self.failed_steps = 0
            return []
        next_ids = lap("sample", self._sample(logits, sampled))
        outputs = lap("process", self._postprocess(sampled, next_ids, len(scheduled)))
        self.clock.log_step(scheduled)
        return outputs

    def _run(self, scheduled: list[tuple[Request, int]]) -> tuple[torch.Tensor | None, list[Request]]:
        """One forward pass over the step's new tokens; then they count as computed (cached)."""
        logits, sampled = self.runner.execute(scheduled)
        bs = self.block_size
        for req, n in scheduled:
            req.num_computed += n
            # a block just filled: name it in the cache (after verification, if it may hold drafts)
            if req.num_computed // bs > req.num_committed and not req.drafts:
                self.tables.commit(req)
        self.steps += 1
        return logits, sampled

    def _postprocess(self, sampled: list[Request], next_ids: list[int | Exception],
                     num_scheduled: int) -> list[RequestOutput]:
        """Append each new token (stops checked) and make its output; a request that raises fails alone."""
        now = time.perf_counter()
        outputs = []
        failed = appended = 0
        for req, tok in zip(sampled, next_ids, strict=True):
            try:
                if isinstance(tok, Exception):
                    raise tok
                tokens = tok if isinstance(tok, list) else [tok]
                drafted = self.speculator.unwind(req) if req.drafts else 0
                for t in tokens:
                    self._append(req, t, now)
                    appended += 1
                    if req.finished:
                        break
                if drafted:
                    self.speculator.settle(req, drafted, len(tokens))
                outputs.append(self._output(req))    # every step is an event; its text may be empty
            except Exception as exc:
                outputs.append(self._fail(req, exc))
                failed += 1
        self.failed_steps = self.failed_steps + 1 if failed == num_scheduled else 0
        self.generated_tokens += appended
        return outputs

    def _sample(self, logits: torch.Tensor, reqs: list[Request]) -> list[int | list[int] | Exception]:
        """One token per request, or, for a request with drafts, the tokens its verification keeps."""
        if not (self.speculator and self.speculator.drafting):
            return self._draw(logits, reqs)
        sizes = [1 + len(r.drafts) for r in reqs]
        starts = [sum(sizes[:i]) for i in range(len(reqs))]
        plain = [i for i, r in enumerate(reqs) if not r.drafts]
        out: list[int | list[int] | Exception] = [0] * len(reqs)
        if plain:
            drawn = self._draw(logits[[starts[i] for i in plain]], [reqs[i] for i in plain])
            for i, tok in zip(plain, drawn, strict=True):
                out[i] = tok
        for i, r in enumerate(reqs):
            if r.drafts:
                try:
                    out[i] = self.speculator.verify(logits[starts[i]:starts[i] + sizes[i]], r)
                except Exception as exc:
                    out[i] = exc
        return out

    def _draw(self, logits: torch.Tensor, reqs: list[Request]) -> list[int | Exception]:
        """One batched draw; if it raises, one draw per request, so that only the request at fault fails."""
        if any(r.constraint is not None for r in reqs):
            logits = self._mask(logits, reqs)
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
                drawn.append(int(sample_next(logits[i], r.params, previous=r.token_ids,
                                             generators=r.generator)))
            except Exception as exc:
                drawn.append(exc)
        return drawn

    def _mask(self, logits: torch.Tensor, reqs: list[Request]) -> torch.Tensor:
        """Each constrained request's row keeps only the tokens its grammar allows next."""
        from llmlab.serve.structured import apply_masks, new_mask

        mask = new_mask(len(reqs), logits.shape[-1])
        for i, r in enumerate(reqs):
            if r.constraint is not None:
                r.constraint.fill(mask, i)
        return apply_masks(logits, mask)

    def _append(self, req: Request, tok: int, now: float) -> None:
        if req.constraint is not None:
            req.constraint.advance(tok)
        req.token_ids.append(tok)
        if req.first_token_time is None:
            req.first_token_time = now
            if self.metrics:
                self.metrics.on_first_token(now - req.arrival_time)
        elif self.metrics:
            self.metrics.on_token(now - req.last_token_time)
        req.last_token_time = now
        reason = req.stopper.add(tok)        # stop token, stop string, budget: llmlab.generation.stopping
        if reason is None and req.constraint is not None and req.constraint.done:
            req.stopper.finish()                     # the grammar is complete (a JSON value's last brace):
            reason = req.stopper.finish_reason = "stop"     # flush the detokeniser, end as a stop
        if reason is not None:
            req.finish_reason = reason
            self.scheduler.finish(req)
            self.requests.pop(req.request_id, None)
            if self.metrics:
                self.metrics.on_finish(req)

    def _output(self, req: Request) -> RequestOutput:
        """The new text and tokens since the last output; a live stream holds back a possible stop prefix."""
        text = req.stopper.new_text(final=req.finished)
        n_out = req.num_tokens - req.num_prompt
        new_ids, req.tokens_sent = req.token_ids[req.num_prompt + req.tokens_sent:], n_out
        return RequestOutput(req.request_id, text, new_ids, req.finished, req.finish_reason, req.num_prompt,
                             n_out, max(req.num_cached_tokens, 0),
                             None if req.first_token_time is None
                             else req.first_token_time - req.arrival_time)

    # ---- convenience ----------------------------------------------------------------------------

    def generate(self, prompts: Sequence[str | Sequence[int]],
                 params: SamplingParams | Sequence[SamplingParams] = None,
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
        return [Completion(r.text, r.finish_reason, r.num_prompt, len(r.output_ids), r.prompt_ids,
                           r.output_ids, rid,
                           max(r.num_cached_tokens, 0),
                           None if r.first_token_time is None else r.first_token_time - r.arrival_time)
                for rid, r in reqs.items()]

    def stats(self) -> dict[str, Any]:
        a = self.allocator
        return {"waiting": len(self.scheduler.waiting), "running": len(self.scheduler.running),
                "kv_blocks_total": a.usable, "kv_blocks_in_use": a.num_in_use,
                "kv_blocks_cached": len(a.evictable),
                "prefix_hit_rate": self.tables.hit_rate, "prefix_hit_tokens": self.tables.hit_tokens,
                "prefix_query_tokens": self.tables.query_tokens, "preemptions": self.scheduler.preemptions,
                "evictions": a.evictions, "steps": self.steps, "generated_tokens": self.generated_tokens,
                "graph_steps": self.runner.graph_steps, "eager_steps": self.runner.eager_steps,
                "attention": self.runner.kernel_note, **(self.speculator.stats() if self.speculator else {})}

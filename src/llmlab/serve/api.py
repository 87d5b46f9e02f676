"""The OpenAI-compatible HTTP API over the engine (FastAPI): completions, chat, models, health, metrics.

    app = create_app(engine, model_name="tiny", api_key=None, max_queue=256)
    # POST /v1/completions, /v1/chat/completions (stream=true -> server-sent events ending "data: [DONE]")
    # GET /v1/models, /health, /metrics

Every error is OpenAI's shape, {"error": {"message", "type", "param", "code"}}: 400 for bad values and
malformed JSON, 422 for wrong shapes, 401 for a wrong key, 404 for an unknown model, 429 when the waiting
queue is full, 503 when the engine is down. A client that hangs up mid-request has its request aborted.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse

from llmlab.errors import LabError
from llmlab.serve.async_engine import AsyncEngine, EngineDeadError
from llmlab.serve.engine import ContextLengthError, Engine
from llmlab.serve.metrics import CONTENT_TYPE, EngineMetrics
from llmlab.serve.protocol import APIError, ChatRequest, CompletionRequest, chat_prompt

DEFAULT_MAX_TOKENS = 16      # OpenAI's default for /v1/completions


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def _merge(streams: list[AsyncIterator]) -> AsyncIterator[tuple[int, Any]]:
    """(choice index, output) from several request streams as they arrive; closing it aborts the rest."""
    if len(streams) == 1:
        async with aclosing(streams[0]) as only:
            async for out in only:
                yield 0, out
        return
    queue: asyncio.Queue = asyncio.Queue()

    async def pump(i: int, stream: AsyncIterator) -> None:
        try:
            async with aclosing(stream) as s:
                async for out in s:
                    queue.put_nowait((i, out))
        except Exception as exc:
            queue.put_nowait((i, exc))
        finally:
            queue.put_nowait((i, None))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        remaining = len(tasks)
        while remaining:
            i, item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield i, item
    finally:
        for t in tasks:
            t.cancel()


class _Totals:
    """Usage across choices: each prompt counted once, its cached tokens as its best choice saw them."""

    def __init__(self, prompt_of: list[int], prompt_lens: list[int]):
        self.prompt_of, self.prompt_lens = prompt_of, prompt_lens
        self.completion = [0] * len(prompt_of)
        self.cached = [0] * len(prompt_lens)

    def add(self, i: int, out) -> None:
        self.completion[i] = out.completion_tokens
        p = self.prompt_of[i]
        self.cached[p] = max(self.cached[p], out.cached_tokens)

    def usage(self) -> dict[str, Any]:
        prompt, completion = sum(self.prompt_lens), sum(self.completion)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": sum(self.cached)}}


def create_app(engine: Engine, model_name: str | None = None, api_key: str | None = None,
               max_queue: int = 256) -> FastAPI:
    name = model_name or engine.config.model.rstrip("/").split("/")[-1] or "model"
    metrics = engine.metrics if isinstance(engine.metrics, EngineMetrics) else EngineMetrics()
    engine.metrics = metrics
    aengine = AsyncEngine(engine)
    metrics.bind(engine, queued=aengine._incoming.qsize)
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        aengine.start(asyncio.get_running_loop())
        yield
        aengine.stop()           # uvicorn has already let in-flight requests finish (graceful shutdown)

    app = FastAPI(title="llmlab serve", version="1", lifespan=lifespan)
    app.state.engine, app.state.model_name = aengine, name

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        bad_json = [e for e in errors if e.get("type") == "json_invalid"]
        if bad_json:
            detail = bad_json[0].get("ctx", {}).get("error", "") or bad_json[0].get("msg", "")
            return JSONResponse(APIError(400, f"the request body is not valid JSON: {detail}").body(), 400)
        parts = []
        for e in errors[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
        param = ".".join(str(x) for x in errors[0].get("loc", ()) if x != "body") if errors else None
        return JSONResponse(APIError(422, "; ".join(parts), param or None).body(), 422)

    async def auth(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            raise APIError(401, "invalid or missing API key: send 'Authorization: Bearer <key>'",
                           code="invalid_api_key", kind="authentication_error")

    def admit(model: str | None, prompts: list[list[int]], params: list, ignore_eos: bool, prefix: str):
        if model not in (None, name):
            raise APIError(404, f"the model {model!r} does not exist; this server serves {name!r}", "model",
                           "model_not_found", "not_found_error")
        if not aengine.alive:
            raise APIError(503, "the engine is not running" + (f": {aengine.error}" if aengine.error else ""),
                           kind="server_error", code="engine_dead")
        for ids in prompts:
            try:
                engine.validate(ids, params[0])
            except ContextLengthError as exc:
                raise APIError(400, str(exc), "messages" if prefix == "chatcmpl" else "prompt",
                               "context_length_exceeded") from None
            except LabError as exc:
                raise APIError(400, str(exc)) from None
        waiting = aengine.queue_length()
        if waiting + len(prompts) * len(params) > max_queue:
            metrics.rejected.inc()
            raise APIError(429, f"the server is busy: {waiting} requests are waiting (max queue {max_queue}); "
                           "retry shortly", kind="rate_limit_error", code="queue_full")
        rid = f"{prefix}-{uuid.uuid4().hex}"
        streams, prompt_of = [], []
        for i, ids in enumerate(prompts):
            for j, p in enumerate(params):
                streams.append(aengine.generate(ids, p, f"{rid}-{i}-{j}", ignore_eos))
                prompt_of.append(i)
        return rid, streams, _Totals(prompt_of, [len(ids) for ids in prompts])

    async def collect(request: Request, streams, totals: _Totals) -> list[dict[str, Any]] | None:
        """Run every choice to its end; None if the client went away first (its requests are aborted)."""
        choices = [{"text": [], "finish_reason": None} for _ in streams]

        async def run():
            async with aclosing(_merge(streams)) as merged:
                async for i, out in merged:
                    choices[i]["text"].append(out.text)
                    totals.add(i, out)
                    if out.finished:
                        choices[i]["finish_reason"] = out.finish_reason

        task = asyncio.create_task(run())
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if done:
                task.result()
                return choices
            if await request.is_disconnected():
                task.cancel()
                return None

    def stream(kind: str, rid: str, streams, totals: _Totals, include_usage: bool):
        obj = "text_completion" if kind == "cmpl" else "chat.completion.chunk"

        def chunk(i: int, text: str | None, finish: str | None, first: bool = False) -> str:
            if kind == "cmpl":
                choice = {"index": i, "text": text, "logprobs": None, "finish_reason": finish}
            else:
                delta = {"role": "assistant", "content": ""} if first else ({"content": text} if text else {})
                choice = {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse({"id": rid, "object": obj, "created": int(time.time()), "model": name, "choices": [choice]})

        async def events():
            try:
                if kind == "chat":
                    for i in range(len(streams)):
                        yield chunk(i, None, None, first=True)
                started = [False] * len(streams)
                async with aclosing(_merge(streams)) as merged:
                    async for i, out in merged:
                        totals.add(i, out)
                        # tokens whose text is still incomplete send nothing, except the first: a client
                        # measures time to first token by it
                        if out.text or out.finished or not started[i]:
                            started[i] = True
                            yield chunk(i, out.text, out.finish_reason if out.finished else None)
                if include_usage:
                    yield _sse({"id": rid, "object": obj, "created": int(time.time()), "model": name,
                                "choices": [], "usage": totals.usage()})
            except EngineDeadError as exc:
                yield _sse(APIError(503, str(exc), kind="server_error", code="engine_dead").body())
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def answer(request: Request, body, prompts: list[list[int]], kind: str, id_prefix: str, obj: str,
                     choice: Callable[[str], dict[str, Any]]):
        """Admit the prompts with one SamplingParams per choice, then stream them or answer in one body."""
        # at least one call to to_params, so that an invalid n (0) is reported like every other setting
        params = [body.to_params(DEFAULT_MAX_TOKENS, seed_offset=j) for j in range(max(body.n, 1))][:body.n]
        rid, streams, totals = admit(body.model, prompts, params, body.ignore_eos, id_prefix)
        if body.stream:
            return stream(kind, rid, streams, totals, bool(body.stream_options and body.stream_options.include_usage))
        choices = await collect(request, streams, totals)
        if choices is None:
            return Response(status_code=499)
        return {"id": rid, "object": obj, "created": int(time.time()), "model": name,
                "choices": [{"index": i, **choice("".join(c["text"])), "logprobs": None,
                             "finish_reason": c["finish_reason"]} for i, c in enumerate(choices)],
                "usage": totals.usage()}

    @app.post("/v1/completions", dependencies=[Depends(auth)])
    async def completions(body: CompletionRequest, request: Request):
        try:
            prompts = [engine.encode(p) for p in body.prompts()]
        except LabError as exc:
            raise APIError(400, str(exc), "prompt") from None
        return await answer(request, body, prompts, "cmpl", "cmpl", "text_completion", lambda text: {"text": text})

    @app.post("/v1/chat/completions", dependencies=[Depends(auth)])
    async def chat_completions(body: ChatRequest, request: Request):
        body.check()
        if engine.tokenizer is None:
            raise APIError(400, "this model has no tokenizer, so it cannot take chat messages; "
                           "use /v1/completions with token ids", "messages")
        try:
            prompt = chat_prompt(engine.tokenizer, body.messages)
        except LabError as exc:          # the model's chat template refused these messages (e.g. a system role)
            raise APIError(400, str(exc), "messages") from None
        max_tokens = engine.max_model_len - len(prompt) if body.max_tokens is None else body.max_tokens
        body.max_tokens = max(max_tokens, 1)
        return await answer(request, body, [prompt], "chat", "chatcmpl", "chat.completion",
                            lambda text: {"message": {"role": "assistant", "content": text}})

    @app.get("/v1/models", dependencies=[Depends(auth)])
    async def models():
        return {"object": "list", "data": [{"id": name, "object": "model", "created": created,
                                            "owned_by": "llmlab", "max_model_len": engine.max_model_len,
                                            "vocab_size": engine.model.spec.vocab_size}]}

    @app.get("/health")
    async def health():
        if not aengine.alive:
            return JSONResponse({"status": "unavailable", "error": aengine.error}, status_code=503)
        return {"status": "ok", "model": name, **engine.stats()}

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return app

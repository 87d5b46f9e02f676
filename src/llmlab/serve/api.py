"""The OpenAI-compatible HTTP API over the engine (FastAPI): completions, chat, models, health, metrics.

    app = create_app(engine, model_name="tiny", api_key=None, max_queue=256)
    # POST /v1/completions, /v1/chat/completions (stream=true -> server-sent events ending "data: [DONE]")
    # GET /v1/models, /health, /metrics

Every error is OpenAI's shape, {"error": {"message", "type", "param", "code"}}, in a stream too (an error
event, then `data: [DONE]`): 400 for bad values, malformed JSON and any LabError, 422 for wrong shapes, 401
for a wrong key and 413 for a body over the cap (both before the body is read: http_guard.py), 404 for an
unknown model, 429 when the waiting queue is full, 500 when one request failed inside the engine, 503 when
the engine is down. Tracebacks go to the log, never to a client. Tokenising and chat templates run on a
worker thread, so a long prompt never stalls the event loop (health checks, streams). A client that hangs
up mid-request has its request aborted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from llmlab.errors import ContextWindowError, LabError
from llmlab.serve.async_engine import ENGINE_STOPPED, AsyncEngine, EngineDeadError, RequestFailedError
from llmlab.serve.engine import Engine
from llmlab.serve.http_guard import RequestGuard
from llmlab.serve.metrics import CONTENT_TYPE, EngineMetrics
from llmlab.serve.protocol import (
    APIError,
    ChatRequest,
    CompletionRequest,
    chat_prompt,
    grammar_for,
    max_prompt_chars,
)
from llmlab.serve.tools import ToolStream, parse_tool_calls

DEFAULT_MAX_TOKENS = 16      # OpenAI's default for /v1/completions
DEFAULT_MAX_BODY_BYTES = 4 << 20
log = logging.getLogger("llmlab.serve")


def _error(exc: APIError) -> Response:
    return Response(exc.json(), status_code=exc.status, media_type="application/json")


def _as_api_error(exc: Exception) -> APIError:
    """What a client is told about an exception that ended its request (in a body or as a stream's last
    event)."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, EngineDeadError):
        return APIError(503, f"{ENGINE_STOPPED}; the server must be restarted", kind="server_error",
                        code="engine_dead")
    if isinstance(exc, LabError):
        return APIError(400, str(exc))
    if isinstance(exc, RequestFailedError):
        return APIError(500, str(exc), kind="server_error", code="request_failed")
    log.error("unexpected error in a request: %s", exc, exc_info=exc)
    return APIError(500, f"internal error ({type(exc).__name__}); the server's log has the details",
                    kind="server_error")


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


@dataclass
class _Served:
    """What every handler reads, kept on `app.state.served`: the engine, its thread, the server's limits."""

    engine: Engine
    aengine: AsyncEngine
    name: str
    metrics: EngineMetrics
    max_queue: int
    max_chars: int | None         # a prompt longer than this cannot fit the context, however it tokenises
    created: int
    # one thread: a fast tokenizer used from several threads at once can fail ("Already borrowed")
    tokenize_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="llmlab-tokenize"))

    async def off_loop(self, fn: Callable, *args):
        return await asyncio.get_running_loop().run_in_executor(self.tokenize_pool, fn, *args)

    def encode_all(self, items: list[str | list[int]]) -> list[list[int]]:
        return [self.engine.encode(p) for p in items]


def create_app(engine: Engine, model_name: str | None = None, api_key: str | None = None,
               max_queue: int = 256, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    metrics = engine.metrics if isinstance(engine.metrics, EngineMetrics) else EngineMetrics()
    engine.metrics = metrics
    aengine = AsyncEngine(engine)
    metrics.bind(engine, queued=aengine.num_handed_over)
    tok = engine.tokenizer
    served = _Served(engine, aengine, model_name or engine.config.model.rstrip("/").split("/")[-1] or "model",
                     metrics, max_queue, None if tok is None else max_prompt_chars(tok, engine.max_model_len),
                     int(time.time()))
    app = FastAPI(title="llmlab serve", version="1", lifespan=_lifespan)
    app.state.served = served
    app.state.engine, app.state.model_name = aengine, served.name
    app.add_middleware(RequestGuard, api_key=api_key, max_body_bytes=max_body_bytes)
    for kind in (Exception, APIError, LabError, EngineDeadError, RequestFailedError):
        app.add_exception_handler(kind, _any_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI):
    served: _Served = app.state.served
    served.aengine.start(asyncio.get_running_loop())
    yield
    served.aengine.stop()           # uvicorn has already let in-flight requests finish (graceful shutdown)
    served.tokenize_pool.shutdown(wait=False, cancel_futures=True)


def _served(request: Request) -> _Served:
    return request.app.state.served


# ---- errors: every one in OpenAI's shape ---------------------------------------------------------

async def _any_error(request: Request, exc: Exception):
    return _error(_as_api_error(exc))


async def _http_error(request: Request, exc: HTTPException):      # FastAPI's own 400/404/405
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    return _error(APIError(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}", kind=kind))


async def _invalid(request: Request, exc: RequestValidationError):
    errors = exc.errors()
    bad_json = [e for e in errors if e.get("type") == "json_invalid"]
    if bad_json:
        detail = bad_json[0].get("ctx", {}).get("error", "") or bad_json[0].get("msg", "")
        return _error(APIError(400, f"the request body is not valid JSON: {detail}"))
    parts = []
    for e in errors[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
    param = ".".join(str(x) for x in errors[0].get("loc", ()) if x != "body") if errors else None
    return _error(APIError(422, "; ".join(parts), param or None))


# ---- one request: admit, then collect or stream ----------------------------------------------------

def _admit(s: _Served, model: str | None, prompts: list[list[int]], params: list, ignore_eos: bool,
           prefix: str, grammar: str | None = None):
    """Check the request against the model and the queue, then queue one engine request per prompt x choice.
    """
    if model not in (None, s.name):
        raise APIError(404, f"the model {model!r} does not exist; this server serves {s.name!r}", "model",
                       "model_not_found", "not_found_error")
    if not s.aengine.alive:
        raise EngineDeadError(ENGINE_STOPPED)
    for ids in prompts:
        try:
            s.engine.validate(ids, params[0])
        except ContextWindowError as exc:
            raise APIError(400, str(exc), "messages" if prefix == "chatcmpl" else "prompt",
                           "context_length_exceeded") from None
        except LabError as exc:
            raise APIError(400, str(exc)) from None
    waiting = s.aengine.queue_length()
    if waiting + len(prompts) * len(params) > s.max_queue:
        s.metrics.rejected.inc()
        raise APIError(429, f"the server is busy: {waiting} requests are waiting (max queue {s.max_queue}); "
                       "retry shortly", kind="rate_limit_error", code="queue_full")
    rid = f"{prefix}-{uuid.uuid4().hex}"
    streams, prompt_of = [], []
    for i, ids in enumerate(prompts):
        for j, p in enumerate(params):
            streams.append(s.aengine.generate(ids, p, f"{rid}-{i}-{j}", ignore_eos, grammar))
            prompt_of.append(i)
    return rid, streams, _Totals(prompt_of, [len(ids) for ids in prompts])


async def _collect(request: Request, streams, totals: _Totals) -> list[dict[str, Any]] | None:
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


def _stream(name: str, kind: str, rid: str, streams, totals: _Totals,
            include_usage: bool, tools: list[str] | None = None) -> StreamingResponse:
    """The choices as server-sent events, as they come; an error after the first event is the last event.
    With tools, text that may be a tool call is held back (tools.ToolStream) and sent as tool_calls deltas."""
    obj = "text_completion" if kind == "cmpl" else "chat.completion.chunk"
    held = [ToolStream(tools) for _ in streams] if tools else None

    def chunk(i: int, text: str | None, finish: str | None, first: bool = False, calls=None) -> str:
        if kind == "cmpl":
            choice = {"index": i, "text": text, "logprobs": None, "finish_reason": finish}
        else:
            delta = {"role": "assistant", "content": ""} if first else ({"content": text} if text else {})
            if calls:
                delta["tool_calls"] = [{"index": k, **c} for k, c in enumerate(calls)]
            choice = {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse({"id": rid, "object": obj, "created": int(time.time()), "model": name,
                     "choices": [choice]})

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
                    text, calls, finish = out.text, None, out.finish_reason if out.finished else None
                    if held is not None:
                        text = held[i].feed(text)
                        if out.finished:
                            rest, calls = held[i].finish()
                            text += rest or ""
                            finish = "tool_calls" if calls else finish
                    if text or out.finished or not started[i]:
                        started[i] = True
                        yield chunk(i, text, finish, calls=calls)
            if include_usage:
                yield _sse({"id": rid, "object": obj, "created": int(time.time()), "model": name,
                            "choices": [], "usage": totals.usage()})
        except Exception as exc:          # the stream has begun: the error is its last event, not a 500
            yield f"data: {_as_api_error(exc).json().decode()}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _answer(request: Request, body, prompts: list[list[int]], kind: str, id_prefix: str, obj: str,
                  choice: Callable[[str, str | None], dict[str, Any]], tools: list[str] | None = None):
    """Admit the prompts with one SamplingParams per choice, then stream them or answer in one body.
    `choice(text, finish_reason)` is one choice's body (with its finish_reason)."""
    s = _served(request)
    # at least one call to to_params, so that an invalid n (0) is reported like every other setting
    params = [body.to_params(DEFAULT_MAX_TOKENS, seed_offset=j, vocab_size=s.engine.model.spec.vocab_size)
              for j in range(max(body.n, 1))][:body.n]
    grammar = await s.off_loop(grammar_for, s.engine, body)     # compiling a new schema can take a moment
    rid, streams, totals = _admit(s, body.model, prompts, params, body.ignore_eos, id_prefix, grammar)
    if body.stream:
        return _stream(s.name, kind, rid, streams, totals,
                       bool(body.stream_options and body.stream_options.include_usage), tools)
    choices = await _collect(request, streams, totals)
    if choices is None:
        return Response(status_code=499)
    return {"id": rid, "object": obj, "created": int(time.time()), "model": s.name,
            "choices": [{"index": i, **choice("".join(c["text"]), c["finish_reason"]), "logprobs": None}
                        for i, c in enumerate(choices)],
            "usage": totals.usage()}


def _message(text: str, finish: str | None, tools: list[str]) -> dict[str, Any]:
    """A chat choice: the assistant's message, its calls of the offered `tools` parsed out."""
    if not tools:
        return {"message": {"role": "assistant", "content": text}, "finish_reason": finish}
    content, calls = parse_tool_calls(text, tools)
    if not calls:
        return {"message": {"role": "assistant", "content": text}, "finish_reason": finish}
    return {"message": {"role": "assistant", "content": content, "tool_calls": calls},
            "finish_reason": "tool_calls"}


# ---- the routes ---------------------------------------------------------------------------------

router = APIRouter()


@router.post("/v1/completions")
async def completions(body: CompletionRequest, request: Request):
    s = _served(request)
    items = body.prompts(s.max_chars)
    try:
        texts = any(isinstance(p, str) for p in items)
        prompts = await s.off_loop(s.encode_all, items) if texts else s.encode_all(items)
    except LabError as exc:
        raise APIError(400, str(exc), "prompt") from None
    return await _answer(request, body, prompts, "cmpl", "cmpl", "text_completion",
                         lambda text, finish: {"text": text, "finish_reason": finish})


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatRequest, request: Request):
    s = _served(request)
    body.check(s.max_chars)
    tools = body.active_tools()
    names = [t["function"]["name"] for t in tools]
    if s.engine.tokenizer is None:
        raise APIError(400, "this model has no tokenizer, so it cannot take chat messages; "
                       "use /v1/completions with token ids", "messages")
    try:
        prompt = await s.off_loop(chat_prompt, s.engine.tokenizer, body.messages, tools)
    except LabError as exc:          # the model's chat template refused these messages (e.g. a system role)
        raise APIError(400, str(exc), "messages") from None
    max_tokens = s.engine.max_model_len - len(prompt) if body.max_tokens is None else body.max_tokens
    body.max_tokens = max(max_tokens, 1)
    return await _answer(request, body, [prompt], "chat", "chatcmpl", "chat.completion",
                         lambda text, finish: _message(text, finish, names), names)


@router.get("/v1/models")
async def models(request: Request):
    s = _served(request)
    return {"object": "list", "data": [{"id": s.name, "object": "model", "created": s.created,
                                        "owned_by": "llmlab", "max_model_len": s.engine.max_model_len,
                                        "vocab_size": s.engine.model.spec.vocab_size}]}


@router.get("/health")
async def health(request: Request):
    s = _served(request)
    if not s.aengine.alive:
        return JSONResponse({"status": "unavailable", "error": ENGINE_STOPPED}, status_code=503)
    return {"status": "ok", "model": s.name, **s.engine.stats()}


@router.get("/metrics")
async def prometheus(request: Request):
    return Response(_served(request).metrics.render(), media_type=CONTENT_TYPE)

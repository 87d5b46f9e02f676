"""The engine on its own thread, fed by asyncio: what the HTTP server talks to.

    aengine = AsyncEngine(engine); aengine.start(asyncio.get_running_loop())
    async for out in aengine.generate(prompt_ids, params, "req-1"): ...   # RequestOutput deltas
    aengine.stop()

The engine is single-threaded: requests and aborts cross to its thread through queues; its outputs come
back in one `call_soon_threadsafe` per step, each to its request's asyncio.Queue. Leaving the `async for`
early (a client that hung up) aborts the request and frees its blocks.

A request that fails inside a step gets `RequestFailedError` and the loop goes on. The loop itself stops
only on an exception outside a step's requests (the scheduler, the block tables) or after
`MAX_FAILED_STEPS` steps in a row in which every request failed (a broken device): then every request
gets `EngineDeadError`, the traceback goes to the log, and `on_death` runs (`llmlab serve` exits
non-zero, so that a supervisor restarts it).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from llmlab.generation import SamplingParams
from llmlab.serve.engine import Engine
from llmlab.serve.request import RequestOutput

MAX_FAILED_STEPS = 3
ENGINE_STOPPED = "engine stopped"       # all a client is told; the traceback goes to the server's log
log = logging.getLogger("llmlab.serve")


class EngineDeadError(RuntimeError):
    """The engine's thread crashed: every request fails until the server is restarted."""


class RequestFailedError(RuntimeError):
    """One request failed inside the engine (the others go on); the server's log has the traceback."""


class AsyncEngine:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._incoming: queue.SimpleQueue = queue.SimpleQueue()
        self._aborts: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = threading.Event()
        self._streams: dict[str, asyncio.Queue] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.error: str | None = None
        self.on_death: Callable[[], None] | None = None    # called on the engine's thread if the loop dies

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="llmlab-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.error is None

    def num_handed_over(self) -> int:
        """Requests handed to the engine's thread that it has not picked up yet (safe from any thread)."""
        return self._incoming.qsize()

    def queue_length(self) -> int:
        """Requests not yet in the running batch: handed over but not picked up, plus the scheduler's."""
        return self.num_handed_over() + len(self.engine.scheduler.waiting)

    # ---- the asyncio side -----------------------------------------------------------------------

    def generate(self, prompt_ids: list[int], params: SamplingParams, request_id: str,
                 ignore_eos: bool = False, grammar: str | None = None) -> AsyncIterator[RequestOutput]:
        """Queue the request now (so the queue length counts it at once); iterate the result for its
        outputs."""
        if not self.alive:
            raise EngineDeadError(ENGINE_STOPPED)
        stream: asyncio.Queue = asyncio.Queue()
        self._streams[request_id] = stream
        self._incoming.put((request_id, prompt_ids, params, ignore_eos, grammar))
        self._wake.set()
        return self._outputs(request_id, stream)

    async def _outputs(self, request_id: str, stream: asyncio.Queue) -> AsyncIterator[RequestOutput]:
        finished = False
        try:
            while True:
                out = await stream.get()
                if isinstance(out, BaseException):
                    raise out
                finished = out.finished
                yield out
                if finished:
                    return
        finally:
            self._streams.pop(request_id, None)
            if not finished:                   # cancelled or the consumer left: stop generating for it
                self.abort(request_id)

    def abort(self, request_id: str) -> None:
        self._aborts.put(request_id)
        self._wake.set()

    def _deliver(self, items: list[tuple[str, Any]]) -> None:
        for rid, item in items:
            stream = self._streams.get(rid)
            if stream is not None:
                stream.put_nowait(item)

    def _post(self, items: list[tuple[str, Any]]) -> None:
        if items and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._deliver, items)

    # ---- the engine's thread --------------------------------------------------------------------

    def _drain(self) -> None:
        errors = []
        while True:
            try:
                rid, ids, params, ignore_eos, grammar = self._incoming.get_nowait()
            except queue.Empty:
                break
            try:
                self.engine.add_request(ids, params, request_id=rid, ignore_eos=ignore_eos, grammar=grammar)
            except Exception as exc:       # validated before, so rare (e.g. a duplicate id)
                errors.append((rid, exc))
        while True:
            try:
                self.engine.abort(self._aborts.get_nowait())
            except queue.Empty:
                break
        self._post(errors)

    def _failures(self, outputs: list[RequestOutput]) -> list[tuple[str, Any]]:
        """Each output to its stream, a failed request's as the error its client is told."""
        errors = self.engine.errors
        items: list[tuple[str, Any]] = []
        for o in outputs:
            exc = errors.pop(o.request_id, None)
            items.append((o.request_id, o if exc is None else RequestFailedError(
                f"this request failed in the engine ({type(exc).__name__}); the server's log has the "
                "details")))
        return items

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._drain()
                if not self.engine.has_unfinished():
                    self._wake.wait(0.05)
                    self._wake.clear()
                    continue
                outputs = self.engine.step()
                if self.engine.errors:
                    self._post(self._failures(outputs))
                    if self.engine.failed_steps >= MAX_FAILED_STEPS:
                        raise RuntimeError(f"{self.engine.failed_steps} steps in a row failed every request")
                else:
                    self._post([(o.request_id, o) for o in outputs])
        except Exception:
            log.exception("the engine stopped; every request gets 503 until the server is restarted")
            self.error = ENGINE_STOPPED
            self._post([(rid, EngineDeadError(ENGINE_STOPPED)) for rid in list(self._streams)])
            if self.on_death is not None:
                self.on_death()
        finally:
            try:
                for rid in list(self.engine.requests):      # shutting down: give every block back
                    self.engine.abort(rid)
            except Exception:                               # a dead engine may not even manage that
                log.exception("could not free the engine's requests while stopping")
            self._post([(rid, RequestOutput(rid, "", [], True, "abort")) for rid in list(self._streams)])

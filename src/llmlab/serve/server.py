"""Running the API under uvicorn: in the foreground (`llmlab serve`) or on a thread (tests, demo, benchmark).

    with BackgroundServer(engine, model_name="tiny") as server:   # a free port on 127.0.0.1
        httpx.get(server.url + "/health")

Shutdown is graceful: on SIGTERM/Ctrl-C (or `stop()`) uvicorn stops accepting connections, lets the
requests in flight finish for up to `grace` seconds, then the engine's thread stops and frees its blocks.
If the engine's thread dies, `run_server` shuts uvicorn down the same way and raises `EngineDeadError`,
so that the process exits non-zero instead of answering 503 forever.
"""

from __future__ import annotations

import signal
import socket
import threading
import time

from llmlab.errors import LabError
from llmlab.serve.engine import Engine


def _uvicorn_config(app, grace: float, log_level: str):
    import uvicorn

    return uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=grace, access_log=False,
                          lifespan="on", timeout_keep_alive=30)


def run_server(engine: Engine, host: str = "127.0.0.1", port: int = 8000, model_name: str | None = None,
               api_key: str | None = None, max_queue: int = 256, grace: float = 30.0,
               log_level: str = "info", **app_options) -> None:
    """Serve until interrupted (uvicorn handles SIGINT/SIGTERM in the main thread) or the engine dies."""
    import uvicorn

    from llmlab.serve.api import create_app
    from llmlab.serve.async_engine import ENGINE_STOPPED, EngineDeadError

    app = create_app(engine, model_name=model_name, api_key=api_key, max_queue=max_queue, **app_options)
    config = _uvicorn_config(app, grace, log_level)
    config.host, config.port = host, port
    server = uvicorn.Server(config)
    app.state.engine.on_death = lambda: setattr(server, "should_exit", True)
    # uvicorn re-raises the SIGTERM it caught once it has drained; with a no-op handler in place that re-raise
    # returns, so a graceful stop (docker stop) exits 0 instead of "killed by SIGTERM" (143)
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: None) if on_main else None
    try:
        server.run()
    except OSError as exc:
        raise LabError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                       hint="pick another --port, or stop whatever holds this one") from None
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)
    if app.state.engine.error:
        raise EngineDeadError(ENGINE_STOPPED)


class BackgroundServer:
    """The API on a uvicorn server in a thread, listening on a socket bound before it starts (no port
    race)."""

    def __init__(self, engine: Engine, host: str = "127.0.0.1", port: int = 0, model_name: str | None = None,
                 api_key: str | None = None, max_queue: int = 256, grace: float = 5.0, **app_options):
        import uvicorn

        from llmlab.serve.api import create_app

        self.app = create_app(engine, model_name=model_name, api_key=api_key, max_queue=max_queue,
                              **app_options)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = host, self.sock.getsockname()[1]
        self.server = uvicorn.Server(_uvicorn_config(self.app, grace, "warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="llmlab-uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def engine(self):
        return self.app.state.engine

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""The gate in front of the API: the API key and the body size, checked before a byte of the body is parsed.

    app = RequestGuard(fastapi_app, api_key="s3cret", max_body_bytes=4 << 20)

A plain ASGI middleware, because FastAPI reads and parses a request's JSON before its dependencies run: an
auth dependency would answer a malformed body from a stranger with 400 instead of 401, and nothing would stop
a 50 MB body from being read and parsed in full. Here the key comes first (401), then the declared
`Content-Length` (413 without reading), then the body is read with a running count (413 the moment it passes
the cap, for chunked uploads that declare no length) and handed on whole. `/health` and `/metrics` stay open
for probes; everything else, `/docs` and `/openapi.json` included, needs the key when one is set.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from llmlab.serve.protocol import APIError

OPEN_PATHS = frozenset({"/health", "/metrics"})

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def bearer_matches(header: bytes, key: bytes) -> bool:
    """`Authorization: Bearer <key>`, the scheme in any case (RFC 7235), compared in constant time."""
    scheme, _, token = header.strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), key)


class RequestGuard:
    def __init__(self, app: Callable, api_key: str | None, max_body_bytes: int):
        self.app, self.max_body_bytes = app, max_body_bytes
        self.key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])          # lower-case names, as ASGI servers give them
        if (self.key is not None and scope["path"] not in OPEN_PATHS
                and not bearer_matches(headers.get(b"authorization", b""), self.key)):
            return await _answer(send, 401, "invalid or missing API key: send 'Authorization: Bearer <key>'",
                                 code="invalid_api_key", kind="authentication_error",
                                 extra=[(b"www-authenticate", b"Bearer")])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _answer(send, 400, "the Content-Length header is not a number")
            if int(declared) > self.max_body_bytes:
                return await self._too_large(send)
        chunks, size = [], 0
        while True:                               # read the body here, counting, before anything parses it
            message = await receive()
            if message["type"] != "http.request":
                return                            # the client left before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return await self._too_large(send)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            # later calls wait for the disconnect, as the server's would
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        mb = self.max_body_bytes / (1 << 20)
        await _answer(send, 413, f"the request body is larger than this server's limit of {mb:g} MB; send a "
                      "shorter prompt (the server's --max-body-mb sets the limit)", code="request_too_large")


async def _answer(send: Send, status: int, message: str, code: str | None = None,
                  kind: str = "invalid_request_error", extra: list[tuple[bytes, bytes]] = ()) -> None:
    body = APIError(status, message, code=code, kind=kind).json()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length",
                                                                     str(len(body)).encode()),
                            (b"connection", b"close"), *extra]})
    await send({"type": "http.response.body", "body": body})

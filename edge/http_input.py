"""HTTP input for protocols carried over HTTP (OsmAnd): every request is one fix.

A GET passes its URI to the decoder, a POST its body (or, when the body is empty, its URI).  The answer
is 200 once the fix is in the outbox, 400 with ``{"error": REASON}`` for a request that cannot be decoded
(kept as a dead letter), so the phone app knows to keep or drop its copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Generator
from typing import Any

import uvicorn

from cedetect import protocols
from cedetect.models import utc_now
from cedetect.protocols.base import DecodeError
from edge.pipeline import Pipeline

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

Scope = dict[str, Any]


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the agent's event loop: the agent, not uvicorn, handles SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HttpInput:
    def __init__(self, protocol: str, pipeline: Pipeline, *, host: str, port: int) -> None:
        self.spec = protocols.get(protocol)
        self.pipeline = pipeline
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            event = await receive()
            body += event.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await self._reply(send, 413, {"error": "frame_too_long"})
                return
            if not event.get("more_body"):
                break
        uri = scope.get("raw_path", b"") + (b"?" + scope["query_string"] if scope.get("query_string") else b"")
        frame = bytes(body) if scope["method"] == "POST" and body else bytes(uri)
        client = scope.get("client")
        remote = f"{client[0]}:{client[1]}" if client else None
        status, answer = self.handle(frame, remote)
        await self._reply(send, status, answer)

    def handle(self, frame: bytes, remote: str | None) -> tuple[int, dict[str, str]]:
        received = utc_now()
        self.pipeline.count("http_requests")
        try:
            messages = self.spec.decoder_factory().decode(frame, received)
        except DecodeError as exc:
            self.pipeline.dead_letter(
                exc.reason,
                exc.raw or frame,
                protocol=self.spec.name,
                detail=exc.detail,
                remote=remote,
                received_utc=received,
            )
            return 400, {"error": exc.reason, "detail": exc.detail}
        for message in messages:
            self.pipeline.message(message)
        return 200, {"status": "ok"}

    @staticmethod
    async def _reply(send: Any, status: int, body: dict[str, str]) -> None:
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def start(self) -> int:
        config = uvicorn.Config(
            self, host=self.host, port=self.port, log_level="warning", access_log=False, lifespan="on"
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(), name=f"http-{self.spec.name}")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it (port in use, ...)
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        log.info("%s: listening on %s:%d (http)", self.spec.name, self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.gather(self._task, return_exceptions=True)

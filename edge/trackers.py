"""TCP servers for tracker protocols: frame the stream, decode, acknowledge, hand results to the pipeline.

One connection is one device session: the decoder keeps the device id from the login frame.  Bytes
that cannot be framed or decoded go to the pipeline as dead letters with their named reason, and the
connection goes on with the next frame.  One misbehaving device never holds up another: every
connection is its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from cedetect import protocols
from cedetect.models import DeviceState, utc_now
from cedetect.protocols.base import DecodeError, FramingError, StreamFramer
from edge.pipeline import Pipeline

log = logging.getLogger(__name__)


def remote_name(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return "unknown"


class TrackerServer:
    def __init__(
        self,
        protocol: str,
        pipeline: Pipeline,
        *,
        host: str,
        port: int,
        idle_timeout_s: float = 600.0,
    ) -> None:
        self.spec = protocols.get(protocol)
        if self.spec.framer_factory is None:
            raise ValueError(f"{self.spec.name} is not carried over TCP")
        self._framer_factory = self.spec.framer_factory
        self.pipeline = pipeline
        self.host = host
        self.port = port
        self.idle_timeout_s = idle_timeout_s
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        if self.spec.prepare is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.spec.prepare)
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("%s: listening on %s:%d (tcp)", self.spec.name, self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        remote = remote_name(writer.get_extra_info("peername"))
        framer: StreamFramer = self._framer_factory()
        decoder = self.spec.decoder_factory()
        device_id: str | None = None
        name = self.spec.name
        self.connections += 1
        self.pipeline.count("connections")
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout_s):
                        data = await reader.read(65536)
                except TimeoutError:
                    self.pipeline.count("idle_timeout")
                    break
                if not data:
                    for left in framer.flush():
                        self.pipeline.dead_letter(
                            left.reason, left.raw, protocol=name, detail=left.detail, device_id=device_id, remote=remote
                        )
                    break
                received = utc_now()
                for item in framer.feed(data):
                    if isinstance(item, FramingError):
                        self.pipeline.dead_letter(
                            item.reason,
                            item.raw,
                            protocol=name,
                            detail=item.detail,
                            device_id=device_id,
                            remote=remote,
                            received_utc=received,
                        )
                        continue
                    try:
                        messages = decoder.decode(item, received)
                    except DecodeError as exc:
                        self.pipeline.dead_letter(
                            exc.reason,
                            exc.raw or item,
                            protocol=name,
                            detail=exc.detail,
                            device_id=device_id,
                            remote=remote,
                            received_utc=received,
                        )
                        continue
                    for message in messages:
                        if message.response:
                            writer.write(message.response)
                        if message.device_id and message.device_id != device_id:
                            device_id = message.device_id
                            self.pipeline.status(device_id, DeviceState.ONLINE, name, f"{message.kind} from {remote}")
                        self.pipeline.message(message)
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            self.pipeline.count("connection_error")
            log.info("%s %s: connection error %s", name, remote, exc)
        except asyncio.CancelledError:
            pass
        except Exception:  # one device's failure must never take the agent down
            self.pipeline.count("handler_error")
            log.exception("%s %s: unexpected error; closing this connection only", name, remote)
        finally:
            self._tasks.discard(task)
            self.connections -= 1
            if device_id is not None:
                self.pipeline.status(device_id, DeviceState.OFFLINE, name, f"disconnected from {remote}")
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

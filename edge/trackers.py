"""TCP servers for tracker protocols: frame the stream, decode, acknowledge, hand fixes to the outbox.

One connection is one device session: the decoder keeps the device id from the login frame.  Bytes
that cannot be framed or decoded are never dropped silently: each is counted under its named reason
and sent on as a :class:`~cedetect.models.DeadLetter` with the raw bytes, and the connection goes on
with the next frame.  One misbehaving device never holds up another: every connection is its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel

from cedetect import protocols
from cedetect.models import DeadLetter, DeviceState, DeviceStatus, Position, PositionFlag, utc_now
from cedetect.protocols.base import DecodeError, FramingError
from cedetect.topics import TopicKind

log = logging.getLogger(__name__)

#: publish(kind, device_id, payload) -> None: puts one message in the outbox.
Publish = Callable[[TopicKind, str, BaseModel], None]


class SessionFilter:
    """Per-device ordering flags, kept across reconnections (a fuller FilterHandler comes with issue 4)."""

    def __init__(self) -> None:
        self._last_time: dict[str, datetime] = {}

    def flags(self, position: Position) -> tuple[PositionFlag, ...]:
        last = self._last_time.get(position.device_id)
        if last is not None and position.time_utc < last:
            return (PositionFlag.OUT_OF_ORDER,)
        self._last_time[position.device_id] = position.time_utc
        return ()


class TrackerServer:
    def __init__(
        self,
        protocol: str,
        publish: Publish,
        *,
        site: str,
        agent_id: str,
        host: str,
        port: int,
        idle_timeout_s: float = 600.0,
    ) -> None:
        self.spec = protocols.get(protocol)
        if self.spec.framer_factory is None:
            raise ValueError(f"{self.spec.name} is not carried over TCP")
        self._framer_factory = self.spec.framer_factory
        self.publish = publish
        self.site = site
        self.agent_id = agent_id
        self.host = host
        self.port = port
        self.idle_timeout_s = idle_timeout_s
        self.counters: Counter[str] = Counter()
        self.filter = SessionFilter()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
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
        peer = writer.get_extra_info("peername")
        remote = f"{peer[0]}:{peer[1]}" if peer else "unknown"
        framer = self._framer_factory()
        decoder = self.spec.decoder_factory()
        device_id: str | None = None
        self.counters["connections"] += 1
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout_s):
                        data = await reader.read(65536)
                except TimeoutError:
                    self._count("idle_timeout")
                    break
                if not data:
                    break
                received = utc_now()
                for item in framer.feed(data):
                    if isinstance(item, FramingError):
                        self._dead_letter(item.reason, item.raw, "", device_id, remote, received)
                        continue
                    try:
                        messages = decoder.decode(item, received)
                    except DecodeError as exc:
                        self._dead_letter(exc.reason, exc.raw or item, exc.detail, device_id, remote, received)
                        continue
                    for message in messages:
                        if message.response:
                            writer.write(message.response)
                        if message.device_id and message.device_id != device_id:
                            device_id = message.device_id
                            self._status(device_id, DeviceState.ONLINE, f"{message.kind} from {remote}")
                        if message.position is not None:
                            self._position(message.position)
                        else:
                            self._count(f"message_{message.kind}")
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            self._count("connection_error")
            log.info("%s %s: connection error %s", self.spec.name, remote, exc)
        except asyncio.CancelledError:
            pass
        except Exception:  # one device's failure must never take the agent down
            self._count("handler_error")
            log.exception("%s %s: unexpected error; closing this connection only", self.spec.name, remote)
        finally:
            self._tasks.discard(task)
            if device_id is not None:
                self._status(device_id, DeviceState.OFFLINE, f"disconnected from {remote}")
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _count(self, reason: str) -> None:
        self.counters[reason] += 1

    def _position(self, position: Position) -> None:
        extra = self.filter.flags(position)
        if extra:
            position = position.model_copy(update={"flags": tuple(sorted({*position.flags, *extra}))})
        self._count("positions")
        for flag in position.flags:
            self._count(f"flag_{flag.value}")
        self.publish(TopicKind.POSITION, position.device_id, position)

    def _status(self, device_id: str, state: DeviceState, detail: str) -> None:
        status = DeviceStatus(
            device_id=device_id,
            kind="tracker",
            state=state,
            time_utc=utc_now(),
            site=self.site,
            protocol=self.spec.name,
            detail=detail,
        )
        self.publish(TopicKind.STATUS, device_id, status)

    def _dead_letter(
        self, reason: str, raw: bytes, detail: str, device_id: str | None, remote: str, received: datetime
    ) -> None:
        self._count(f"rejected_{reason}")
        log.info("%s %s: rejected %d byte(s): %s %s", self.spec.name, remote, len(raw), reason, detail)
        letter = DeadLetter(
            source=self.agent_id,
            site=self.site,
            received_utc=received,
            reason=reason,
            detail=detail,
            protocol=self.spec.name,
            device_id=device_id,
            remote=remote,
            raw_hex=raw.hex(),
        )
        self.publish(TopicKind.DEADLETTER, device_id or self.agent_id, letter)

"""A tiny GT06 server for tests: the real framer and decoder, acks as the decoder says, records all."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cedetect.models import Position
from cedetect.protocols.base import DecodeError, FramingError
from cedetect.protocols.framing import Gt06Framer
from cedetect.protocols.gt06 import Gt06Decoder


@dataclass
class Event:
    kind: str  # login, location, heartbeat, decode_error, framing_error, connect, disconnect
    connection: int
    device_id: str | None = None
    position: Position | None = None
    reason: str | None = None
    raw: bytes = b""
    at: float = field(default_factory=time.monotonic)
    attributes: dict[str, Any] = field(default_factory=dict)


class RecordingGt06Server:
    """Listens on loopback.  Knobs: ignore the login of the first ``ignore_logins`` connections,
    never ack heartbeats, drop each connection after ``close_after_locations`` location frames
    (only the first ``close_times`` connections)."""

    def __init__(
        self,
        *,
        ignore_logins: int = 0,
        ack_heartbeats: bool = True,
        ack_locations: bool = False,
        close_after_locations: int | None = None,
        close_times: int = 1,
    ) -> None:
        self.ignore_logins = ignore_logins
        self.ack_heartbeats = ack_heartbeats
        self.ack_locations = ack_locations
        self.close_after_locations = close_after_locations
        self.close_times = close_times
        self.events: list[Event] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections = 0
        self._closed_by_us = 0
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def positions(self) -> list[Position]:
        return [e.position for e in self.of("location") if e.position is not None]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        number = self._connections
        self._writers.add(writer)
        self.events.append(Event("connect", number))
        framer = Gt06Framer()
        decoder = Gt06Decoder(future_tolerance_s=10 * 365 * 86400.0)
        locations = 0
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                for item in framer.feed(data):
                    if isinstance(item, FramingError):
                        self.events.append(Event("framing_error", number, reason=item.reason, raw=item.raw))
                        continue
                    try:
                        messages = decoder.decode(item, datetime.now(UTC))
                    except DecodeError as exc:
                        self.events.append(Event("decode_error", number, reason=exc.reason, raw=exc.raw))
                        continue
                    for message in messages:
                        self.events.append(
                            Event(
                                message.kind,
                                number,
                                device_id=message.device_id,
                                position=message.position,
                                raw=message.raw,
                                attributes=dict(message.attributes),
                            )
                        )
                        ack = message.response
                        if message.kind == "login" and number <= self.ignore_logins:
                            ack = None
                        if message.kind in ("heartbeat", "status") and not self.ack_heartbeats:
                            ack = None
                        if message.kind == "location" and not self.ack_locations:
                            ack = None
                        if ack:
                            writer.write(ack)
                        if message.kind == "location":
                            locations += 1
                    await writer.drain()
                    if (
                        self.close_after_locations is not None
                        and locations >= self.close_after_locations
                        and self._closed_by_us < self.close_times
                    ):
                        self._closed_by_us += 1
                        writer.transport.abort()
                        return
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            self.events.append(Event("disconnect", number))
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()


async def wait_until(probe: Callable[[], object], timeout_s: float = 20.0, interval_s: float = 0.01) -> None:
    """Poll ``probe`` until truthy, or fail after ``timeout_s`` (asyncio: never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(interval_s)

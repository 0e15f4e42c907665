"""One session of a simulated device over one transport: TCP, UDP, HTTP or MQTT.

A :class:`Link` sends one frame at a time and says what became of it (:class:`Outcome`):

* ``ANSWERED``   - the server answered: any bytes back on TCP after the frame, a datagram back on UDP
  (protocols differ, so the bytes are not interpreted), HTTP 2xx, the broker's PUBACK;
* ``WRITTEN``    - sent, no answer awaited;
* ``UNANSWERED`` - an answer was awaited and none came in time (UDP: after the retries);
* ``REJECTED``   - the server refused the frame for good (HTTP 4xx, with the server's ``error``).

A lost session raises ``ConnectionError`` (or ``OSError``/``TimeoutError``); the device then reconnects.
Every wait also ends when the device's ``stop`` event is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

import paho.mqtt.client as mqtt

from cedetect.config import MqttSettings
from cedetect.mqtt import make_client
from cedetect.protocols.base import Transport
from firmware_sim.wire import http_target, is_json_body

log = logging.getLogger(__name__)

#: The longest HTTP response head or body the client reads.
MAX_HTTP_RESPONSE = 64 * 1024


class Verdict(Enum):
    ANSWERED = "answered"
    WRITTEN = "written"
    UNANSWERED = "unanswered"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str = ""  # the server's error, for REJECTED


async def wait_any(events: list[asyncio.Event], timeout_s: float) -> None:
    """Return when one of ``events`` is set or after ``timeout_s``."""
    if any(e.is_set() for e in events):
        return
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=max(timeout_s, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class Link(ABC):
    transport: ClassVar[Transport]
    #: Frames arrive in the order sent on one session, so an answer vouches for every frame before it.
    ordered: ClassVar[bool] = False
    #: Raw junk bytes can travel on this transport (the garbage fault).
    carries_junk: ClassVar[bool] = False

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.closed_event = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self.closed_event.is_set()

    @abstractmethod
    async def open(self, timeout_s: float) -> None:
        """Start the session; raises OSError/TimeoutError/ConnectionError when the server cannot be reached."""

    @abstractmethod
    async def send(self, frame: bytes, *, await_answer: bool, timeout_s: float) -> Outcome:
        """Send one frame; with ``await_answer`` wait up to ``timeout_s`` for the server's answer."""

    async def send_junk(self, junk: bytes) -> None:
        """Put ``junk`` on the wire (only where :attr:`carries_junk`)."""
        raise NotImplementedError(f"{self.transport} carries no junk bytes")

    @abstractmethod
    async def close(self) -> None:
        """End the session (what was written is still delivered)."""


class _CountedAnswers:
    """Counts what arrives from the server; waits for something new after a mark."""

    def __init__(self) -> None:
        self.received = 0
        self.bytes_received = 0
        self._arrived = asyncio.Event()

    def add(self, data: bytes) -> None:
        self.received += 1
        self.bytes_received += len(data)
        self._arrived.set()

    async def wait_after(self, mark: int, timeout_s: float, link: Link) -> bool:
        """True once more than ``mark`` answers have arrived; False on timeout or stop.  Raises
        ``ConnectionResetError`` when the session closes first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.received <= mark:
            if link.closed:
                raise ConnectionResetError("the server closed the session before answering")
            remaining = deadline - loop.time()
            if remaining <= 0 or link.stop.is_set():
                return False
            self._arrived.clear()
            await wait_any([self._arrived, link.closed_event, link.stop], remaining)
        return True


class TcpLink(Link):
    """A TCP connection; a task reads whatever the server writes back.

    :meth:`close` half-closes and reads until the server closes too (up to ``linger_s``): a socket closed
    while answers are still arriving is reset by the kernel, and a reset makes the server lose what it
    has not read yet.
    """

    transport = "tcp"
    ordered = True
    carries_junk = True

    def __init__(self, host: str, port: int, stop: asyncio.Event, *, linger_s: float = 2.0) -> None:
        super().__init__(stop)
        self.host = host
        self.port = port
        self.linger_s = linger_s
        self.answers = _CountedAnswers()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._task = asyncio.create_task(self._read(reader), name=f"tcp-answers-{self.host}:{self.port}")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(65536):
                self.answers.add(data)
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed_event.set()

    async def _write(self, data: bytes) -> None:
        if self._writer is None or self.closed:
            raise ConnectionResetError("the connection is closed")
        self._writer.write(data)
        await self._writer.drain()

    async def send(self, frame: bytes, *, await_answer: bool, timeout_s: float) -> Outcome:
        mark = self.answers.received
        await self._write(frame)
        if not await_answer:
            return Outcome(Verdict.WRITTEN)
        answered = await self.answers.wait_after(mark, timeout_s, self)
        return Outcome(Verdict.ANSWERED if answered else Verdict.UNANSWERED)

    async def send_junk(self, junk: bytes) -> None:
        await self._write(junk)

    async def close(self) -> None:
        writer = self._writer
        if writer is not None and not self.closed and writer.can_write_eof():
            try:
                writer.write_eof()
            except (ConnectionError, OSError, RuntimeError):
                pass
            else:  # the reader sets closed_event when the server has closed its side
                await wait_any([self.closed_event], self.linger_s)
        self.closed_event.set()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, link: UdpLink) -> None:
        self.link = link

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.link.answers.add(data)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        self.link.errors += 1
        log.debug("udp %s:%d: %s", self.link.host, self.link.port, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.closed_event.set()


class UdpLink(Link):
    """A UDP socket of its own (one source port: the server keeps one session per address).  A frame
    that awaits an answer is sent again, up to ``retries`` times, while none comes."""

    transport = "udp"
    carries_junk = True

    def __init__(self, host: str, port: int, stop: asyncio.Event, *, retries: int = 3) -> None:
        super().__init__(stop)
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.host = host
        self.port = port
        self.retries = retries
        self.answers = _CountedAnswers()
        self.errors = 0
        self.retransmissions = 0
        self._transport: asyncio.DatagramTransport | None = None

    async def open(self, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout_s):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), remote_addr=(self.host, self.port)
            )
        self._transport = transport

    def _sendto(self, data: bytes) -> None:
        if self._transport is None or self.closed:
            raise ConnectionResetError("the socket is closed")
        self._transport.sendto(data)

    async def send(self, frame: bytes, *, await_answer: bool, timeout_s: float) -> Outcome:
        for attempt in range(self.retries + 1 if await_answer else 1):
            if attempt:
                self.retransmissions += 1
            mark = self.answers.received
            self._sendto(frame)
            if not await_answer:
                return Outcome(Verdict.WRITTEN)
            if await self.answers.wait_after(mark, timeout_s, self):
                return Outcome(Verdict.ANSWERED)
            if self.stop.is_set():
                break
        return Outcome(Verdict.UNANSWERED)

    async def send_junk(self, junk: bytes) -> None:
        self._sendto(junk)

    async def close(self) -> None:
        self.closed_event.set()
        if self._transport is not None:
            self._transport.close()


class HttpLink(Link):
    """HTTP/1.1 with keep-alive: a frame that is a JSON body is POSTed to ``/``, any other is a GET of
    the frame's URI (or ``/?`` + the query string).  A connection the server closed while idle is
    replaced before the next request."""

    transport = "http"

    def __init__(self, host: str, port: int, stop: asyncio.Event) -> None:
        super().__init__(stop)
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    @property
    def server_closed(self) -> bool:
        """The server has closed the connection (and nothing of it is left to read)."""
        return self._reader is not None and self._reader.at_eof()

    def request(self, frame: bytes) -> bytes:
        host = f"Host: {self.host}:{self.port}\r\nUser-Agent: cedetect-sim\r\n".encode()
        if is_json_body(frame):
            head = b"POST / HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
            return head + f"Content-Length: {len(frame)}\r\n\r\n".encode() + frame
        return b"GET " + http_target(frame) + b" HTTP/1.1\r\n" + host + b"\r\n"

    async def send(self, frame: bytes, *, await_answer: bool, timeout_s: float) -> Outcome:
        if self._reader is None or self._writer is None or self.closed:
            raise ConnectionResetError("the connection is closed")
        if self.server_closed:  # the server closed the idle keep-alive connection: open another
            self._writer.close()
            await self.open(timeout_s)
            assert self._reader is not None
            assert self._writer is not None
        try:
            self._writer.write(self.request(frame))
            await self._writer.drain()
            async with asyncio.timeout(timeout_s):
                status, headers, body = await self._response(self._reader)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self.closed_event.set()
            raise ConnectionResetError(f"no complete HTTP response: {exc}") from exc
        except (ConnectionError, OSError, TimeoutError):
            self.closed_event.set()
            raise
        if headers.get("connection", "").lower() == "close":
            self.closed_event.set()
        if 200 <= status < 300:
            return Outcome(Verdict.ANSWERED)
        if 400 <= status < 500:
            return Outcome(Verdict.REJECTED, _error_of(body) or f"http_{status}")
        raise ConnectionError(f"HTTP {status} from {self.host}:{self.port}")

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        status_line = await reader.readuntil(b"\r\n")
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError(f"bad status line {status_line!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        head_size = len(status_line)
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            head_size += len(line)
            if head_size > MAX_HTTP_RESPONSE:
                raise ValueError("response head too long")
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            length = int(headers["content-length"])
            if not 0 <= length <= MAX_HTTP_RESPONSE:
                raise ValueError(f"content-length {length}")
            body = await reader.readexactly(length)
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += await reader.readexactly(size)
                await reader.readexactly(2)
                if len(body) > MAX_HTTP_RESPONSE:
                    raise ValueError("response body too long")
            await reader.readuntil(b"\r\n")
        else:
            body = await reader.read(MAX_HTTP_RESPONSE)
            headers["connection"] = "close"
        return status, headers, body

    async def close(self) -> None:
        self.closed_event.set()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()


def _error_of(body: bytes) -> str:
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    error = answer.get("error") if isinstance(answer, dict) else None
    return str(error) if error else ""


class MqttLink(Link):
    """An MQTT client publishing each frame with QoS 1 on ``topic``; the PUBACK is the answer."""

    transport = "mqtt"
    ordered = True

    def __init__(self, settings: MqttSettings, topic: str, client_id: str, stop: asyncio.Event) -> None:
        super().__init__(stop)
        self.settings = settings
        self.topic = topic
        self.client_id = client_id
        self._connected = asyncio.Event()
        self._refused: str | None = None
        self._acks: dict[int, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None

    def _call(self, callback: object, *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(callback, *args)  # type: ignore[arg-type]

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        if getattr(rc, "is_failure", False):
            self._call(self._set_refused, str(rc))
        else:
            self._call(self._connected.set)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        self._call(self.closed_event.set)

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, rc: object, props: object) -> None:
        self._call(self._acked, mid)

    def _set_refused(self, reason: str) -> None:
        self._refused = reason
        self.closed_event.set()

    def _acked(self, mid: int) -> None:
        acked = self._acks.pop(mid, None)
        if acked is not None:
            acked.set()

    async def open(self, timeout_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        client = make_client(self.settings, self.client_id, clean_session=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s)
        client.loop_start()
        await wait_any([self._connected, self.closed_event, self.stop], timeout_s)
        if not self._connected.is_set():
            await self.close()
            if self._refused is not None:
                raise ConnectionRefusedError(f"broker refused the connection: {self._refused}")
            raise TimeoutError(f"no connection to {self.settings.host}:{self.settings.port}")

    async def send(self, frame: bytes, *, await_answer: bool, timeout_s: float) -> Outcome:
        if self._client is None or self.closed:
            raise ConnectionResetError("not connected to the broker")
        acked = asyncio.Event()
        info = self._client.publish(self.topic, frame, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"publish failed: {mqtt.error_string(info.rc)}")
        self._acks[info.mid] = acked  # the PUBACK callback runs on this loop, after this line
        await wait_any([acked, self.closed_event, self.stop], timeout_s)
        self._acks.pop(info.mid, None)
        if acked.is_set():
            return Outcome(Verdict.ANSWERED)
        if self.closed:
            raise ConnectionResetError("disconnected from the broker before the PUBACK")
        raise TimeoutError("no PUBACK from the broker")

    async def close(self) -> None:
        self.closed_event.set()
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)
        self._loop = None

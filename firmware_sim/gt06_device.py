"""An asyncio GT06 tracker: logs in, reports fixes, sends heartbeats, survives disconnects.

Protocol, as a GT06 (Concox) device speaks it:

1. connect over TCP and send a login frame (0x01, IMEI in BCD);
2. wait for the server's login ack (``78 78 05 01 <serial> <crc> 0D 0A``: type 0x01, the login's
   serial).  No ack within ``login_timeout_s``: close, back off (exponential from
   ``backoff_initial_s`` to ``backoff_max_s``, with seeded jitter) and try again;
3. send a GPS+LBS location frame (0x22) for each fix when its simulated time falls due under
   ``pace`` (:class:`firmware_sim.pacing.Pace`; speed-up 0: as fast as the connection takes them),
   and a heartbeat (0x13) after every ``heartbeat_every`` location frames.  Servers need not ack
   location frames (some do, and those acks are counted); a heartbeat ack (type 0x13, same serial)
   is expected.

Acks are framed with :class:`cedetect.protocols.framing.Gt06Framer` and checked with
:func:`cedetect.protocols.gt06.parse_frame` (CRC, stop bytes, length); a bad or unexpected frame
from the server is counted in ``bad_frames`` and otherwise ignored.

Delivery is at least once.  TCP can lose what was written just before a connection dropped, so a
location frame only counts as delivered once the server has acked a heartbeat sent after it (TCP
keeps order).  After a reconnect the device first resends the unconfirmed fixes, then the fixes that
fell due while it was offline (kept in order, as a tracker's memory buffer does), then carries on.
The server may therefore see a fix twice; the edge flags such repeats as duplicates.

Fault injection (:class:`Faults`), by 0-based fix index over the whole run, on a fix's first
transmission only: drop the connection after every N new location frames (after a heartbeat that
confirms them, or ``ack_timeout_s``), then reconnect and log in again; send a fix's frame twice;
corrupt a frame's CRC (the server's decoder refuses it as ``bad_checksum``; the device does not
know and does not resend it); or send garbage bytes before a frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from cedetect.protocols.base import DecodeError
from cedetect.protocols.framing import Gt06Framer
from cedetect.protocols.gt06 import (
    MSG_GPS_LBS_2,
    MSG_LOGIN,
    MSG_STATUS,
    encode_heartbeat,
    encode_location,
    encode_login,
    parse_frame,
)
from firmware_sim.pacing import Pace
from firmware_sim.truck import Fix

log = logging.getLogger(__name__)

#: Bytes the garbage fault never sends, so that it cannot fake a frame start (78 78 / 79 79).
_START_BYTES = frozenset({0x78, 0x79})
#: Fixes kept while offline; the oldest are dropped beyond this, as a tracker's full memory would.
DEFAULT_BUFFER_FIXES = 100_000


def luhn_check_digit(body: str) -> int:
    """The Luhn digit that completes ``body`` (as IMEIs use)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_check_digit(number[:-1]) == int(number[-1])


def imei_for(seed: int, index: int) -> str:
    """A deterministic, Luhn-valid 15-digit IMEI for truck ``index`` of the fleet seeded ``seed``.

    Layout: ``35`` + 4 seed digits + ``00`` + 6 truck digits + Luhn digit.  The leading ``35`` is
    a common TAC prefix; the rest is made up.
    """
    if not 0 <= index < 1_000_000:
        raise ValueError("index must be in [0, 1000000)")
    body = f"35{seed % 10_000:04d}00{index:06d}"
    return body + str(luhn_check_digit(body))


class FaultSchedule:
    """Which fix indices a fault hits: listed indices, and/or every ``every``-th fix (index ``every-1``, ...)."""

    def __init__(self, at: Iterable[int] = (), every: int | None = None) -> None:
        if every is not None and every < 1:
            raise ValueError("every must be >= 1")
        self.at = frozenset(at)
        self.every = every

    def hits(self, index: int) -> bool:
        return index in self.at or (self.every is not None and (index + 1) % self.every == 0)

    def __bool__(self) -> bool:
        return bool(self.at) or self.every is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FaultSchedule) and (self.at, self.every) == (other.at, other.every)

    def __hash__(self) -> int:
        return hash((self.at, self.every))

    def __repr__(self) -> str:
        return f"FaultSchedule(at={sorted(self.at)}, every={self.every})"


@dataclass(frozen=True)
class Faults:
    disconnect_after_frames: int | None = None
    duplicate: FaultSchedule = field(default_factory=FaultSchedule)
    bad_crc: FaultSchedule = field(default_factory=FaultSchedule)
    garbage: FaultSchedule = field(default_factory=FaultSchedule)
    garbage_bytes: int = 16

    @classmethod
    def parse(cls, text: str) -> Faults:
        """``"disconnect_after=20,duplicate=5,bad_crc=7,bad_crc=9,garbage_every=50,garbage_bytes=8"``.

        Keys: ``disconnect_after`` (frames per connection), ``duplicate``/``bad_crc``/``garbage``
        (a fix index, repeatable) and their ``_every`` forms (every N-th fix), ``garbage_bytes``.
        """
        at: dict[str, set[int]] = {"duplicate": set(), "bad_crc": set(), "garbage": set()}
        every: dict[str, int | None] = dict.fromkeys(at)
        disconnect: int | None = None
        garbage_bytes = 16
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep:
                raise ValueError(f"fault {item!r} is not key=value")
            try:
                number = int(value)
            except ValueError:
                raise ValueError(f"fault {key!r} needs an integer, got {value!r}") from None
            if number < (1 if key in ("disconnect_after", "garbage_bytes") or key.endswith("_every") else 0):
                raise ValueError(f"fault {key}={number} is out of range")
            if key == "disconnect_after":
                disconnect = number
            elif key == "garbage_bytes":
                garbage_bytes = number
            elif key in at:
                at[key].add(number)
            elif key.endswith("_every") and key.removesuffix("_every") in at:
                every[key.removesuffix("_every")] = number
            else:
                raise ValueError(f"unknown fault {key!r}")
        return cls(
            disconnect_after_frames=disconnect,
            duplicate=FaultSchedule(at["duplicate"], every["duplicate"]),
            bad_crc=FaultSchedule(at["bad_crc"], every["bad_crc"]),
            garbage=FaultSchedule(at["garbage"], every["garbage"]),
            garbage_bytes=garbage_bytes,
        )


@dataclass
class DeviceStats:
    fixes_due: int = 0  # fixes taken from the truck model
    fixes_sent: int = 0  # location frames written, resends and duplicates included
    fixes_confirmed: int = 0  # covered by an acked heartbeat
    fixes_dropped: int = 0  # lost to a full offline buffer
    resent: int = 0
    heartbeats_sent: int = 0
    heartbeat_acks: int = 0
    location_acks: int = 0
    login_attempts: int = 0
    logins: int = 0
    connections: int = 0
    disconnects: int = 0
    bad_frames: int = 0
    faults_injected: int = 0


class _LoginFailedError(Exception):
    pass


class _Connection:
    """One TCP connection and the task that reads the server's acks."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, device: Gt06Device) -> None:
        self.reader = reader
        self.writer = writer
        self.device = device
        self.closed = asyncio.Event()
        self.login_acked = asyncio.Event()
        self.login_serial = -1
        self.framer = Gt06Framer()
        self.task = asyncio.create_task(self._read_loop(), name=f"gt06-acks-{device.imei}")

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.reader.read(4096)
                if not data:
                    break
                for item in self.framer.feed(data):
                    if isinstance(item, bytes):
                        self.device._on_frame(self, item)
                    else:
                        self.device.stats.bad_frames += 1
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()

    async def write(self, data: bytes) -> None:
        if self.closed.is_set():
            raise ConnectionResetError("connection closed by the server")
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.closed.set()
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Gt06Device:
    """Sends ``fixes`` to a GT06 server as device ``imei``; :meth:`run` returns when done or stopped."""

    def __init__(
        self,
        imei: str,
        fixes: Iterable[Fix],
        *,
        host: str = "127.0.0.1",
        port: int = 5023,
        pace: Pace | None = None,
        max_fixes: int | None = None,
        heartbeat_every: int = 10,
        faults: Faults | None = None,
        login_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        ack_timeout_s: float = 5.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        buffer_fixes: int = DEFAULT_BUFFER_FIXES,
        battery_level: int = 100,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (imei.isdigit() and len(imei) == 15):
            raise ValueError(f"IMEI must be 15 digits, got {imei!r}")
        if heartbeat_every < 1 or buffer_fixes < 1:
            raise ValueError("heartbeat_every and buffer_fixes must be >= 1")
        self.imei = imei
        self.host = host
        self.port = port
        self.pace = pace or Pace(1.0)
        self.max_fixes = max_fixes
        self.heartbeat_every = heartbeat_every
        self.faults = faults or Faults()
        self.login_timeout_s = login_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.buffer_fixes = buffer_fixes
        self.battery_level = battery_level
        self.stats = DeviceStats()
        self._clock = clock
        self._rng = random.Random(f"cedetect-gt06-device:{imei}:{seed}")
        self._fixes: Iterator[Fix] = iter(fixes)
        self._serial = 0
        self._pending: deque[tuple[int, Fix]] = deque()  # (fix index, fix): due, not yet written
        self._unconfirmed: deque[tuple[int, int, Fix]] = deque()  # (write seq, fix index, fix)
        self._write_seq = 0
        self._heartbeat_marks: dict[int, int] = {}  # heartbeat serial -> write seq it covers
        self._heartbeat_acked = asyncio.Event()
        self._frames_on_connection = 0
        self._new_frames_on_connection = 0
        self._max_index_sent = -1
        self._last_fix: Fix | None = None
        self._source_done = False
        self._stop = asyncio.Event()

    # -- public ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to return soon (safe from signal handlers via ``loop.call_soon_threadsafe``)."""
        self._stop.set()

    @property
    def unconfirmed(self) -> int:
        return len(self._unconfirmed)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> DeviceStats:
        """Drive the device until the fixes (or ``max_fixes``) are sent and confirmed, or :meth:`stop`."""
        conn: _Connection | None = None
        backoff_s = self.backoff_initial_s
        start_clock = self._clock()
        first_sim_s: float | None = None
        next_fix = self._take_fix()
        flush_attempts = 0
        try:
            while not self._stop.is_set():
                # Fixes that have fallen due join the queue (one at a time when not pacing).
                while next_fix is not None:
                    index, fix = next_fix
                    if first_sim_s is None:
                        first_sim_s = fix.sim_time_s
                    if self.pace.paced and self._due(start_clock, first_sim_s, fix) > self._clock():
                        break
                    self._enqueue(index, fix)
                    next_fix = self._take_fix()
                    if not self.pace.paced and self._pending:
                        break
                if conn is not None and conn.closed.is_set():
                    await self._drop(conn)
                    conn = None
                if conn is None:
                    if next_fix is None and not self._pending and not self._unconfirmed:
                        break
                    try:
                        conn = await self._connect_and_login()
                        backoff_s = self.backoff_initial_s
                    except (OSError, TimeoutError, _LoginFailedError) as exc:
                        log.debug("%s: connect/login failed (%s); retrying in %.2fs", self.imei, exc, backoff_s)
                        await self._wait(backoff_s * (0.5 + self._rng.random()))
                        backoff_s = min(backoff_s * 2.0, self.backoff_max_s)
                    continue
                try:
                    if self._pending:
                        await self._send_next(conn)
                        continue
                    if next_fix is not None:
                        assert first_sim_s is not None
                        due = self._due(start_clock, first_sim_s, next_fix[1])
                        await self._wait(max(0.0, due - self._clock()), conn)
                        continue
                    # Everything written: confirm the tail with a heartbeat, then finish.
                    if not self._unconfirmed or flush_attempts >= 3:
                        break
                    flush_attempts += 1
                    await self._send_heartbeat(conn)
                    await self._wait_heartbeat_ack(conn)
                except (ConnectionError, OSError):
                    await self._drop(conn)
                    conn = None
        finally:
            if conn is not None:
                await conn.close()
        return self.stats

    # -- internals ------------------------------------------------------------------------------

    def _due(self, start_clock: float, first_sim_s: float, fix: Fix) -> float:
        return start_clock + self.pace.real_offset_s(fix.sim_time_s) - self.pace.real_offset_s(first_sim_s)

    def _take_fix(self) -> tuple[int, Fix] | None:
        if self._source_done or (self.max_fixes is not None and self.stats.fixes_due >= self.max_fixes):
            return None
        fix = next(self._fixes, None)
        if fix is None:
            self._source_done = True
            return None
        index = self.stats.fixes_due
        self.stats.fixes_due += 1
        return index, fix

    def _enqueue(self, index: int, fix: Fix) -> None:
        self._pending.append((index, fix))
        while len(self._pending) > self.buffer_fixes:
            self._pending.popleft()
            self.stats.fixes_dropped += 1

    def _next_serial(self) -> int:
        self._serial = self._serial % 0xFFFF + 1
        return self._serial

    async def _wait(self, seconds: float, conn: _Connection | None = None) -> None:
        """Sleep up to ``seconds``; wake early on stop or (when given) on the connection closing."""
        waiters = [asyncio.ensure_future(self._stop.wait())]
        if conn is not None:
            waiters.append(asyncio.ensure_future(conn.closed.wait()))
        try:
            await asyncio.wait(waiters, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _connect_and_login(self) -> _Connection:
        self.stats.login_attempts += 1
        async with asyncio.timeout(self.connect_timeout_s):
            reader, writer = await asyncio.open_connection(self.host, self.port)
        conn = _Connection(reader, writer, self)
        self.stats.connections += 1
        try:
            conn.login_serial = self._next_serial()
            await conn.write(encode_login(self.imei, conn.login_serial))
            waiter = asyncio.ensure_future(conn.login_acked.wait())
            closed = asyncio.ensure_future(conn.closed.wait())
            stop = asyncio.ensure_future(self._stop.wait())
            try:
                await asyncio.wait(
                    [waiter, closed, stop], timeout=self.login_timeout_s, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for task in (waiter, closed, stop):
                    task.cancel()
            if not conn.login_acked.is_set():
                raise _LoginFailedError("no login ack" if not conn.closed.is_set() else "closed before login ack")
        except BaseException:
            await conn.close()
            raise
        self.stats.logins += 1
        self._frames_on_connection = 0
        self._new_frames_on_connection = 0
        self._heartbeat_marks.clear()
        log.debug("%s: logged in to %s:%d", self.imei, self.host, self.port)
        return conn

    async def _drop(self, conn: _Connection) -> None:
        """Forget a dead connection; what it did not confirm goes back to the front of the queue."""
        await conn.close()
        self.stats.disconnects += 1
        if self._unconfirmed:
            self.stats.resent += len(self._unconfirmed)
            self._pending.extendleft((index, fix) for _, index, fix in reversed(self._unconfirmed))
            self._unconfirmed.clear()
        self._heartbeat_marks.clear()

    def _on_frame(self, conn: _Connection, raw: bytes) -> None:
        try:
            frame = parse_frame(raw)
        except DecodeError:
            self.stats.bad_frames += 1
            return
        if frame.type == MSG_LOGIN and frame.serial == conn.login_serial:
            conn.login_acked.set()
        elif frame.type == MSG_STATUS and frame.serial in self._heartbeat_marks:
            covered = self._heartbeat_marks.pop(frame.serial)
            self.stats.heartbeat_acks += 1
            while self._unconfirmed and self._unconfirmed[0][0] <= covered:
                self._unconfirmed.popleft()
                self.stats.fixes_confirmed += 1
            self._heartbeat_acked.set()
        elif frame.type == MSG_GPS_LBS_2:
            self.stats.location_acks += 1
        else:
            self.stats.bad_frames += 1

    async def _send_next(self, conn: _Connection) -> None:
        index, fix = self._pending[0]
        frame = encode_location(
            time_utc=fix.time_utc,
            latitude=fix.latitude,
            longitude=fix.longitude,
            speed_kmh=min(fix.speed_kmh, 255.0),
            heading_deg=fix.heading_deg,
            satellites=fix.satellites,
            valid=fix.valid,
            ignition=fix.ignition,
            serial=self._next_serial(),
        )
        # Faults hit a fix's first transmission only; a resend after a reconnect goes out clean.
        first_send = index > self._max_index_sent
        if self.faults.garbage.hits(index) and first_send:
            junk = bytes(
                self._rng.choice([b for b in range(256) if b not in _START_BYTES])
                for _ in range(self.faults.garbage_bytes)
            )
            await conn.write(junk)
            self.stats.faults_injected += 1
        if self.faults.bad_crc.hits(index) and first_send:
            frame = frame[:-4] + bytes([frame[-4] ^ 0xFF, frame[-3] ^ 0xFF]) + frame[-2:]
            self.stats.faults_injected += 1
        copies = 2 if self.faults.duplicate.hits(index) and first_send else 1
        if copies == 2:
            self.stats.faults_injected += 1
        await conn.write(frame * copies)
        self._pending.popleft()
        self._write_seq += 1
        self._unconfirmed.append((self._write_seq, index, fix))
        self.stats.fixes_sent += 1
        self._last_fix = fix
        self._frames_on_connection += 1
        if first_send:
            self._max_index_sent = index
            self._new_frames_on_connection += 1
        if self._frames_on_connection % self.heartbeat_every == 0:
            await self._send_heartbeat(conn)
        # Only first transmissions count towards the disconnect fault, so each connection makes progress.
        limit = self.faults.disconnect_after_frames
        if limit is not None and self._new_frames_on_connection >= limit:
            self.stats.faults_injected += 1
            log.debug("%s: fault: dropping the connection after %d new frames", self.imei, limit)
            # Confirm what was written first, so that the drop costs a reconnect, not a resend storm.
            await self._send_heartbeat(conn)
            await self._wait_heartbeat_ack(conn)
            raise ConnectionAbortedError("fault injection: disconnect")

    async def _send_heartbeat(self, conn: _Connection) -> None:
        serial = self._next_serial()
        self._heartbeat_marks[serial] = self._write_seq
        ignition = self._last_fix.ignition if self._last_fix is not None else False
        rssi = self._rng.randint(2, 4)  # GT06 GSM signal grade 0-4
        await conn.write(
            encode_heartbeat(ignition=ignition, battery_level=self.battery_level, rssi=rssi, serial=serial)
        )
        self.stats.heartbeats_sent += 1

    async def _wait_heartbeat_ack(self, conn: _Connection) -> None:
        deadline = self._clock() + self.ack_timeout_s
        while self._unconfirmed and not conn.closed.is_set() and not self._stop.is_set():
            remaining = deadline - self._clock()
            if remaining <= 0:
                return
            self._heartbeat_acked.clear()
            waiters = [
                asyncio.ensure_future(self._heartbeat_acked.wait()),
                asyncio.ensure_future(conn.closed.wait()),
                asyncio.ensure_future(self._stop.wait()),
            ]
            try:
                await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

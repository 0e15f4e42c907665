"""An asyncio tracker of any registered protocol: a :class:`~cedetect.protocols.base.DeviceEncoder`, a
transport and a source of fixes.

Session (see :mod:`firmware_sim.links` for the transports):

1. open the session (TCP connect, a UDP socket, an HTTP keep-alive connection, an MQTT connection) and
   send the encoder's login frame when it has one; where the encoder awaits an answer to it, wait up to
   ``login_timeout_s``.  No session or no answer: back off (exponential from ``backoff_initial_s`` to
   ``backoff_max_s``, with seeded jitter) and try again;
2. send a location frame for each fix when its simulated time falls due under ``pace``
   (:class:`firmware_sim.pacing.Pace`; speed-up 0: as fast as the session takes them), and a heartbeat
   after every ``heartbeat_every`` location frames on the session (when the encoder has one);
3. wait for the server's answer after the frames of the kinds the encoder awaits.  Any bytes count as
   the answer: protocols differ, so they are not interpreted (and not told apart: where a server also
   answers frames the device does not wait for, as the edge acks GT06 location frames, such an answer
   arriving late can stand in for the awaited one).  HTTP answers every request (2xx: taken;
   4xx: rejected for good, counted with the server's ``error``; anything else: retried), and the broker
   every QoS 1 publication (PUBACK).  A kind the encoder awaits but the protocol's own decoder never
   answers (see :func:`firmware_sim.wire.check_wire`) is not waited for, with a warning.

Delivery is at least once.  A location frame counts as delivered (``fixes_confirmed``) once it is
answered, or, on TCP, once a later frame is answered (TCP keeps order), or, where nothing on the session
is ever answered, once written.  A location frame awaiting an answer that does not come ends the session
(UDP: after ``udp_retries`` retransmissions).  After a reconnect the device first resends the unconfirmed
fixes, then the fixes that fell due while it was offline (kept in order, up to ``buffer_fixes``, as a
tracker's memory buffer does), then carries on.  The server may therefore see a fix twice; the edge
flags such repeats as duplicates and ingest stores a fix once.  A TCP session ends with a half-close,
reading until the server closes too, so that the server reads all that was written (a socket closed
while answers still arrive is reset, and a reset loses what the server has not read yet).

Faults are injected on demand (:class:`firmware_sim.faults.Faults`); the damaged bytes are built with
:class:`firmware_sim.wire.Tamper`, so that the protocol's own decoder is sure to refuse them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from cedetect import protocols
from cedetect.config import MqttSettings
from cedetect.protocols.base import DeviceEncoder, FixToSend, ProtocolSpec, Transport
from cedetect.topics import TopicKind, topic
from firmware_sim.faults import Faults
from firmware_sim.links import HttpLink, Link, MqttLink, Outcome, TcpLink, UdpLink, Verdict, wait_any
from firmware_sim.pacing import Pace
from firmware_sim.truck import Fix
from firmware_sim.wire import Tamper, WireCheck, check_wire

log = logging.getLogger(__name__)

TRANSPORTS: tuple[Transport, ...] = ("tcp", "udp", "http", "mqtt")
#: Fixes kept while offline; the oldest are dropped beyond this, as a tracker's full memory would.
DEFAULT_BUFFER_FIXES = 100_000
#: The edge agent's default site, for the MQTT topic.
DEFAULT_SITE = "border-post-1"
#: Heartbeats sent at the end to confirm the last frames, before giving up on their confirmation.
FLUSH_ATTEMPTS = 3


@dataclass
class DeviceStats:
    fixes_due: int = 0  # fixes taken from the source
    fixes_sent: int = 0  # location frames sent, resends and duplicates included
    fixes_confirmed: int = 0  # known to be delivered (see the module docstring)
    fixes_rejected: int = 0  # refused for good by the server (HTTP 4xx)
    fixes_dropped: int = 0  # lost to a full offline buffer
    resent: int = 0
    heartbeats_sent: int = 0
    heartbeat_acks: int = 0
    location_acks: int = 0
    unanswered: int = 0  # awaited answers that did not come in time
    login_attempts: int = 0
    logins: int = 0
    connections: int = 0
    disconnects: int = 0
    faults_injected: int = 0
    faults_skipped: int = 0  # faults with no meaning on this transport or protocol
    rejections: Counter[str] = field(default_factory=Counter)  # the server's reasons, damaged frames included


class _LoginFailedError(Exception):
    pass


class _OfflineFaultError(Exception):
    pass


def to_send(fix: Fix) -> FixToSend:
    """What the tracker reports for a fix of the truck model."""
    return FixToSend(
        time_utc=fix.time_utc,
        latitude=fix.latitude,
        longitude=fix.longitude,
        speed_kmh=fix.speed_kmh,
        heading_deg=fix.heading_deg,
        satellites=fix.satellites,
        valid=fix.valid,
        ignition=fix.ignition,
        odometer_km=fix.odometer_m / 1000.0,
    )


def registered_spec(encoder: DeviceEncoder) -> ProtocolSpec | None:
    """The registered spec of the encoder's protocol, if there is one."""
    try:
        return protocols.get(encoder.protocol)
    except KeyError:
        return None


class Device:
    """Sends ``fixes`` through ``encoder`` over ``transport``; :meth:`run` returns when done or stopped.

    ``host``/``port``: the edge agent (default port: the protocol's).  ``mqtt``/``site``: the broker and the
    site of the ``cedetect/v1/{site}/{device_id}/fix`` topic, for the MQTT transport.  ``spec`` defaults
    to the registered spec of ``encoder.protocol``.
    """

    def __init__(
        self,
        encoder: DeviceEncoder,
        fixes: Iterable[Fix],
        *,
        transport: Transport = "tcp",
        host: str = "127.0.0.1",
        port: int | None = None,
        mqtt: MqttSettings | None = None,
        site: str = DEFAULT_SITE,
        pace: Pace | None = None,
        max_fixes: int | None = None,
        heartbeat_every: int = 10,
        faults: Faults | None = None,
        login_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        ack_timeout_s: float = 5.0,
        udp_retries: int = 3,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        buffer_fixes: int = DEFAULT_BUFFER_FIXES,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        spec: ProtocolSpec | None = None,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r}; known: {', '.join(TRANSPORTS)}")
        if heartbeat_every < 1 or buffer_fixes < 1 or udp_retries < 0:
            raise ValueError("heartbeat_every and buffer_fixes must be >= 1, udp_retries >= 0")
        self.encoder = encoder
        self.transport: Transport = transport
        self.spec = spec if spec is not None else registered_spec(encoder)
        if port is None and transport != "mqtt":
            if self.spec is None:
                raise ValueError("give the port: the encoder's protocol is not registered")
            port = self.spec.default_port
        self.host = host
        self.port = port or 0
        if mqtt is None and transport == "mqtt":
            mqtt = MqttSettings()  # from the environment (CEDETECT_MQTT_*)
        self.mqtt = mqtt
        self.site = site
        self.pace = pace or Pace(1.0)
        self.max_fixes = max_fixes
        self.heartbeat_every = heartbeat_every
        self.faults = faults or Faults()
        self.login_timeout_s = login_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s
        self.udp_retries = udp_retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.buffer_fixes = buffer_fixes
        self.stats = DeviceStats()
        self.tamper = Tamper(self.spec, transport, encoder.device_id)
        self.wire: WireCheck | None = None
        if self.spec is not None:
            self.wire = check_wire(self.spec, transport, encoder.device_id, encoder_factory=type(encoder))
            for problem in self.wire.problems:
                log.warning("%s: %s over %s: %s", self.device_id, self.spec.name, transport, problem)
            for kind in ("login", "location", "heartbeat"):
                if encoder.awaits_response(kind) and self.wire.answered.get(kind) is False:
                    log.warning(
                        "%s: the server never answers %s frames over %s: not waiting",
                        encoder.device_id,
                        kind,
                        transport,
                    )
        self._heartbeats = self._has(kind="heartbeat")
        #: A written location frame waits for a later answer to count as delivered (see the module docstring).
        self._confirm_later = transport == "tcp" and self._heartbeats and self._awaits("heartbeat")
        self._clock = clock
        self._rng = random.Random(f"cedetect-device:{encoder.protocol}:{encoder.device_id}:{seed}")
        self._client_tag = uuid.uuid4().hex[:8]
        self._fixes: Iterator[Fix] = iter(fixes)
        self._pending: deque[tuple[int, Fix]] = deque()  # (fix index, fix): due, not yet sent
        self._unconfirmed: deque[tuple[int, int, Fix]] = deque()  # (write seq, fix index, fix)
        self._write_seq = 0
        self._frames_on_link = 0
        self._new_frames_on_link = 0
        self._max_index_sent = -1
        self._held: tuple[int, Fix] | None = None  # out-of-order fault: a fix kept back for one fix
        self._deferred: int | None = None  # its index, until it is sent
        self._offline_fired = -1
        self._offline_for = 0  # offline fault: fixes to buffer before reconnecting
        self._source_done = False
        self._stop = asyncio.Event()

    # -- public ---------------------------------------------------------------------------------

    @property
    def device_id(self) -> str:
        return self.encoder.device_id

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
        link: Link | None = None
        backoff_s = self.backoff_initial_s
        start_clock = self._clock()
        first_sim_s: float | None = None
        next_fix = self._take_fix()
        flush_attempts = 0
        try:
            while not self._stop.is_set():
                # Fixes that have fallen due join the queue (one at a time when not pacing, unless offline).
                while next_fix is not None:
                    index, fix = next_fix
                    if first_sim_s is None:
                        first_sim_s = fix.sim_time_s
                    if self.pace.paced and self._due(start_clock, first_sim_s, fix) > self._clock():
                        break
                    self._enqueue(index, fix)
                    next_fix = self._take_fix()
                    if not self.pace.paced and self._pending and len(self._pending) >= self._offline_for:
                        break
                if link is not None and link.closed:
                    await self._drop(link)
                    link = None
                if link is None:
                    if next_fix is None and not self._pending and not self._unconfirmed and self._held is None:
                        break
                    if self._offline_for:
                        if next_fix is not None and len(self._pending) < self._offline_for:
                            assert first_sim_s is not None
                            await self._wait(self._due(start_clock, first_sim_s, next_fix[1]) - self._clock())
                            continue
                        log.debug("%s: back online with %d buffered fixes", self.device_id, len(self._pending))
                        self._offline_for = 0
                    try:
                        link = await self._open()
                        backoff_s = self.backoff_initial_s
                    except (OSError, _LoginFailedError) as exc:
                        log.debug("%s: connect/login failed (%s); retrying in %.2fs", self.device_id, exc, backoff_s)
                        await self._wait(backoff_s * (0.5 + self._rng.random()))
                        backoff_s = min(backoff_s * 2.0, self.backoff_max_s)
                    continue
                try:
                    if self._pending:
                        await self._send_next(link)
                        continue
                    if next_fix is not None:
                        assert first_sim_s is not None
                        await self._wait(self._due(start_clock, first_sim_s, next_fix[1]) - self._clock(), link)
                        continue
                    if self._held is not None:
                        self._release_held()
                        continue
                    # Everything sent: confirm the tail with a heartbeat, then finish.
                    if not self._unconfirmed or flush_attempts >= FLUSH_ATTEMPTS:
                        break
                    flush_attempts += 1
                    await self._heartbeat(link)
                except _OfflineFaultError:
                    await self._drop(link)
                    link = None
                except OSError as exc:  # ConnectionError, TimeoutError
                    log.debug("%s: session lost (%s)", self.device_id, exc)
                    await self._drop(link)
                    link = None
        finally:
            if link is not None:
                await link.close()
        return self.stats

    # -- internals ------------------------------------------------------------------------------

    def _has(self, *, kind: str) -> bool:
        """Whether the encoder builds frames of ``kind`` that the server takes."""
        if self.wire is not None:
            return self.wire.accepts(kind)
        return kind != "heartbeat" or type(self.encoder).heartbeat is not DeviceEncoder.heartbeat

    def _awaits(self, kind: str) -> bool:
        if not self.encoder.awaits_response(kind):
            return False
        return self.wire is None or self.wire.answered.get(kind, True)

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

    async def _wait(self, seconds: float, link: Link | None = None) -> None:
        """Sleep up to ``seconds``; wake early on stop or (when given) on the session closing."""
        await wait_any([self._stop] if link is None else [self._stop, link.closed_event], seconds)

    def _new_link(self) -> Link:
        if self.transport == "tcp":
            return TcpLink(self.host, self.port, self._stop)
        if self.transport == "udp":
            return UdpLink(self.host, self.port, self._stop, retries=self.udp_retries)
        if self.transport == "http":
            return HttpLink(self.host, self.port, self._stop)
        assert self.mqtt is not None
        fix_topic = topic(self.site, self.device_id, TopicKind.FIX)
        return MqttLink(self.mqtt, fix_topic, f"cedetect-sim-{self.device_id}-{self._client_tag}", self._stop)

    async def _open(self) -> Link:
        self.stats.login_attempts += 1
        link = self._new_link()
        await link.open(self.connect_timeout_s)
        self.stats.connections += 1
        try:
            login = self.encoder.login()
            if login is not None:
                outcome = await link.send(login, await_answer=self._awaits("login"), timeout_s=self.login_timeout_s)
                if outcome.verdict is Verdict.UNANSWERED:
                    raise _LoginFailedError("no answer to the login" if not link.closed else "closed before answering")
                if outcome.verdict is Verdict.REJECTED:
                    self.stats.rejections[outcome.reason] += 1
                    raise _LoginFailedError(f"login rejected: {outcome.reason}")
        except BaseException:
            await link.close()
            raise
        self.stats.logins += 1
        self._frames_on_link = 0
        self._new_frames_on_link = 0
        log.debug("%s: session open to %s:%d (%s)", self.device_id, self.host, self.port, self.transport)
        return link

    async def _drop(self, link: Link) -> None:
        """Forget a dead session; what it did not confirm goes back to the front of the queue."""
        await link.close()
        self.stats.disconnects += 1
        if self._unconfirmed:
            self.stats.resent += len(self._unconfirmed)
            self._pending.extendleft((index, fix) for _, index, fix in reversed(self._unconfirmed))
            self._unconfirmed.clear()

    def _confirm_through(self, seq: int) -> None:
        while self._unconfirmed and self._unconfirmed[0][0] <= seq:
            self._unconfirmed.popleft()
            self.stats.fixes_confirmed += 1

    def _release_held(self) -> None:
        if self._held is not None:
            self._pending.appendleft(self._held)
            self._held = None

    async def _send_next(self, link: Link) -> None:
        index, fix = self._pending[0]
        # Faults hit a fix's first transmission only; a resend after a reconnect goes out clean.
        first = index > self._max_index_sent or index == self._deferred
        if first and index != self._deferred and self._held is None and self.faults.out_of_order.hits(index):
            self._held = self._pending.popleft()
            self._deferred = index
            self.stats.faults_injected += 1
            return
        if first and index != self._offline_fired and self.faults.offline.hits(index):
            self._offline_fired = index
            self.stats.faults_injected += 1
            log.debug("%s: fault: offline for %d fixes", self.device_id, self.faults.offline_fixes)
            await self._confirm_tail(link)
            self._offline_for = self.faults.offline_fixes
            raise _OfflineFaultError
        frame = self.encoder.location(to_send(fix))
        if first and self.faults.garbage.hits(index):
            await self._inject_garbage(link, frame)
        if first and self.faults.corrupt.hits(index):
            await self._inject_corrupt(link, frame)
        copies = 2 if first and self.faults.duplicate.hits(index) else 1
        if copies > 1:
            self.stats.faults_injected += 1
        outcome = Outcome(Verdict.WRITTEN)
        for _ in range(copies):
            outcome = await link.send(frame, await_answer=self._awaits("location"), timeout_s=self.ack_timeout_s)
            self.stats.fixes_sent += 1
        self._pending.popleft()
        self._write_seq += 1
        self._unconfirmed.append((self._write_seq, index, fix))
        self._settle(outcome)
        if first:
            self._max_index_sent = max(self._max_index_sent, index)
            self._new_frames_on_link += 1
            if index == self._deferred:
                self._deferred = None
            elif self._held is not None:
                self._release_held()  # the out-of-order fix goes right after the one that overtook it
        self._frames_on_link += 1
        if self._frames_on_link % self.heartbeat_every == 0:
            await self._heartbeat(link)
        # Only first transmissions count towards the disconnect fault, so each session makes progress.
        limit = self.faults.disconnect_after_frames
        if limit is not None and self._new_frames_on_link >= limit:
            self.stats.faults_injected += 1
            log.debug("%s: fault: ending the session after %d new frames", self.device_id, limit)
            # Confirm what was sent first, so that the drop costs a reconnect, not a resend storm.
            await self._confirm_tail(link)
            raise ConnectionAbortedError("fault injection: disconnect")

    def _settle(self, outcome: Outcome) -> None:
        """Book the outcome of the location frame just added to the unconfirmed queue."""
        seq = self._write_seq
        if outcome.verdict is Verdict.REJECTED:
            self._unconfirmed.pop()
            self.stats.fixes_rejected += 1
            self.stats.rejections[outcome.reason] += 1
            self._confirm_through(seq)
        elif outcome.verdict is Verdict.ANSWERED:
            self.stats.location_acks += 1
            self._confirm_through(seq)
        elif outcome.verdict is Verdict.UNANSWERED:
            self.stats.unanswered += 1
            raise TimeoutError("no answer to a location frame")
        elif not self._confirm_later:
            self._confirm_through(seq)

    async def _heartbeat(self, link: Link) -> None:
        """Send a heartbeat; an answer confirms every frame sent before it."""
        if not self._heartbeats:
            return
        frame = self.encoder.heartbeat()
        if frame is None:
            self._heartbeats = self._confirm_later = False
            self._confirm_through(self._write_seq)
            return
        seq = self._write_seq
        outcome = await link.send(frame, await_answer=self._awaits("heartbeat"), timeout_s=self.ack_timeout_s)
        self.stats.heartbeats_sent += 1
        if outcome.verdict is Verdict.ANSWERED:
            self.stats.heartbeat_acks += 1
            self._confirm_through(seq)
        elif outcome.verdict is Verdict.UNANSWERED:
            self.stats.unanswered += 1
        elif outcome.verdict is Verdict.REJECTED:
            self.stats.rejections[outcome.reason] += 1

    async def _confirm_tail(self, link: Link) -> None:
        if self._unconfirmed and self._confirm_later:
            await self._heartbeat(link)

    async def _inject_garbage(self, link: Link, frame: bytes) -> None:
        junk = self.tamper.garbage(self.faults.garbage_bytes, self._rng, frame) if link.carries_junk else None
        if junk is None:
            self.stats.faults_skipped += 1
            return
        await link.send_junk(junk)
        self.stats.faults_injected += 1

    async def _inject_corrupt(self, link: Link, frame: bytes) -> None:
        damaged = self.tamper.corrupt(frame)
        if damaged is None:
            self.stats.faults_skipped += 1
            return
        outcome = await link.send(damaged, await_answer=False, timeout_s=self.ack_timeout_s)
        self.stats.faults_injected += 1
        if outcome.verdict is Verdict.REJECTED:
            self.stats.rejections[outcome.reason] += 1

"""What a protocol's own framer and decoder make of the bytes a simulated device sends.

The simulator works for every registered protocol without knowing any of them: what it needs to know
about a protocol, it asks the protocol's :class:`~cedetect.protocols.base.ProtocolSpec`.

* :class:`ServerView` feeds bytes through the framer and decoder the edge agent uses for a transport
  (TCP: framer + one decoder per connection; UDP: the datagram decoder; HTTP: a decoder per request;
  MQTT: a decoder preset with the topic's device id).
* :func:`check_wire` builds a login, a location and a heartbeat with a throw-away encoder and tells which
  of them the server decodes, which it answers, and whether the location comes back with the device id
  and coordinates that were sent.  The simulator awaits answers only where the server gives them, and
  the CLI refuses a protocol/transport pair whose location frames the server cannot decode.
* :func:`device_id_for` derives the device id from a truck's IMEI: the IMEI itself, or, when the
  protocol's encoder refuses it (a JT/T 808 terminal has a 12-digit phone number), the longest run of
  its trailing digits that the encoder takes and the decoder gives back.
* :class:`Tamper` builds the damaged bytes of the fault injection, checked against the same framer and
  decoder: a corrupt frame is one the decoder refuses (``bad_checksum`` where the protocol has a
  checksum, else a broken value it cannot parse) and after which the next intact frame still decodes;
  garbage is skipped by the framer without harming the frame that follows it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from cedetect.models import utc_now
from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    DecodeReason,
    DeviceEncoder,
    FixToSend,
    FramingError,
    ProtocolDecoder,
    ProtocolSpec,
    StreamFramer,
    Transport,
)

#: Decoded coordinates within this many degrees of the sent ones count as the same fix.
COORDINATE_TOLERANCE_DEG = 1e-4
#: Trailing-digit lengths tried after the full IMEI, longest first (7 keeps the truck digits and the Luhn digit).
_SHORTER_IDS = range(14, 6, -1)

EncoderFactory = Callable[[str], DeviceEncoder]


def encoder_factory_for(spec: ProtocolSpec, transport: Transport) -> EncoderFactory:
    """The encoder factory for ``transport``: a spec may give UDP datagrams an encoder of their own
    (``datagram_encoder_factory``, the counterpart of ``datagram_decoder_factory``)."""
    if transport == "udp":
        datagram_factory: EncoderFactory | None = spec.datagram_encoder_factory
        if datagram_factory is not None:
            return datagram_factory
    if spec.encoder_factory is None:
        raise ValueError(f"{spec.name} has no device encoder")
    return spec.encoder_factory


def is_json_body(frame: bytes) -> bool:
    """An HTTP frame that is a JSON body (POSTed) rather than a URI or query string (GET)."""
    return frame.lstrip()[:1] in (b"{", b"[")


def http_target(frame: bytes) -> bytes:
    """The request target of a GET frame: the frame when it is a path, else ``/?`` + the query string."""
    return frame if frame.startswith(b"/") else b"/?" + frame.lstrip(b"?")


@dataclass(frozen=True)
class Judgement:
    """What the server made of one frame (or of bytes it skipped)."""

    outcome: Literal["frame", "framing_error", "decode_error"]
    raw: bytes
    reason: str = ""
    messages: tuple[DecodedMessage, ...] = ()


class ServerView:
    """The server side of one session of ``transport``, as the edge agent builds it from ``spec``.

    ``device_id`` presets the decoders' identity (what the MQTT topic gives, or a login seen earlier).
    """

    def __init__(self, spec: ProtocolSpec, transport: Transport, device_id: str | None = None) -> None:
        self.spec = spec
        self.transport = transport
        self.device_id = device_id
        self._framer: StreamFramer | None = None
        self._decoder: ProtocolDecoder | None = None
        if transport == "tcp":
            if spec.framer_factory is None:
                raise ValueError(f"{spec.name} is not carried over TCP")
            self._framer = spec.framer_factory()
            self._decoder = spec.decoder_factory(device_id=device_id)
        elif transport == "udp":
            self._decoder = (spec.datagram_decoder_factory or spec.decoder_factory)(device_id=device_id)

    @property
    def buffered(self) -> int:
        """Bytes a TCP framer holds back waiting for the rest of a frame."""
        return self._framer.buffered if self._framer is not None else 0

    def judge(self, data: bytes) -> list[Judgement]:
        """Feed ``data`` (a chunk of the stream, a datagram, a request's frame, a message's payload)."""
        if self._framer is not None:
            return [self._judge_item(item) for item in self._framer.feed(data)]
        if self.transport == "http":
            return [self._decode(self.spec.decoder_factory(), data if is_json_body(data) else http_target(data))]
        if self.transport == "mqtt":
            return [self._decode(self.spec.decoder_factory(device_id=self.device_id), data)]
        assert self._decoder is not None
        return [self._decode(self._decoder, data)]

    def _judge_item(self, item: bytes | FramingError) -> Judgement:
        if isinstance(item, FramingError):
            return Judgement("framing_error", item.raw, item.reason)
        assert self._decoder is not None
        return self._decode(self._decoder, item)

    @staticmethod
    def _decode(decoder: ProtocolDecoder, frame: bytes) -> Judgement:
        try:
            messages = decoder.decode(frame, utc_now())
        except DecodeError as exc:
            return Judgement("decode_error", frame, exc.reason)
        return Judgement("frame", frame, messages=tuple(messages))


def sample_fix() -> FixToSend:
    """A plausible recent fix (whole seconds) for checking what an encoder builds."""
    return FixToSend(
        time_utc=(utc_now() - timedelta(minutes=1)).replace(microsecond=0),
        latitude=41.6771234,
        longitude=26.5557891,
        speed_kmh=42.0,
        heading_deg=181.0,
        satellites=9,
        altitude_m=45.0,
        odometer_km=1234.5,
    )


@dataclass
class WireCheck:
    """How the server of ``transport`` takes the frames an encoder for ``device_id`` builds.

    ``sent`` lists the kinds the encoder has (``login``, ``location``, ``heartbeat``); ``refused`` maps a
    kind to the reason the server refused it; ``answered`` says for each accepted kind whether the
    server writes an answer back (HTTP and MQTT always answer: a status, a PUBACK).
    """

    spec: ProtocolSpec
    transport: Transport
    device_id: str
    encoder_error: str | None = None
    sent: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    answered: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The encoder takes the id and the server decodes its location frames back to the fix sent."""
        return self.encoder_error is None and not self.problems

    def accepts(self, kind: str) -> bool:
        return kind in self.sent and kind not in self.refused

    def summary(self) -> str:
        where = f"{self.spec.name} over {self.transport} as {self.device_id!r}"
        if self.encoder_error is not None:
            return f"{where}: the encoder refuses the device id ({self.encoder_error})"
        return f"{where}: " + ("; ".join(self.problems) if self.problems else "ok")


def check_wire(
    spec: ProtocolSpec,
    transport: Transport,
    device_id: str,
    encoder_factory: EncoderFactory | None = None,
) -> WireCheck:
    """Build a login, a location and a heartbeat for ``device_id`` and judge them as the server would."""
    check = WireCheck(spec, transport, device_id)
    if transport not in spec.transports:
        check.problems.append(f"{spec.name} is not carried over {transport} ({'/'.join(spec.transports)})")
        return check
    fix = sample_fix()
    try:
        encoder = (encoder_factory or encoder_factory_for(spec, transport))(device_id)
        frames = [("login", encoder.login()), ("location", encoder.location(fix)), ("heartbeat", encoder.heartbeat())]
    except ValueError as exc:
        check.encoder_error = str(exc)
        return check
    view = ServerView(spec, transport, device_id if transport == "mqtt" else None)
    for kind, frame in frames:
        if frame is None:
            continue
        check.sent.append(kind)
        judgements = view.judge(frame)
        refusals = [j for j in judgements if j.outcome != "frame"]
        if refusals or view.buffered:
            check.refused[kind] = refusals[0].reason if refusals else "incomplete_frame"
            check.problems.append(f"the server refuses the {kind} frame: {check.refused[kind]}")
            continue
        messages = [m for j in judgements for m in j.messages]
        check.answered[kind] = transport in ("http", "mqtt") or any(m.response for m in messages)
        if kind == "location":
            check.problems.extend(_location_problems(messages, device_id, fix))
    return check


def _location_problems(messages: list[DecodedMessage], device_id: str, fix: FixToSend) -> list[str]:
    positions = [m.position for m in messages if m.position is not None]
    if not positions:
        return ["the location frame decodes without a position"]
    p = positions[0]
    problems = []
    if p.device_id != device_id:
        problems.append(f"the location decodes as device {p.device_id!r}")
    if not (
        math.isclose(p.latitude, fix.latitude, abs_tol=COORDINATE_TOLERANCE_DEG)
        and math.isclose(p.longitude, fix.longitude, abs_tol=COORDINATE_TOLERANCE_DEG)
    ):
        problems.append(f"the location decodes at {p.latitude},{p.longitude}, not {fix.latitude},{fix.longitude}")
    return problems


def id_candidates(imei: str) -> Iterator[str]:
    """The IMEI, then its trailing digits, longest first."""
    yield imei
    for length in _SHORTER_IDS:
        if length < len(imei):
            yield imei[-length:]


def device_id_for(spec: ProtocolSpec, transport: Transport, imei: str) -> str:
    """The id a device of ``spec`` reports for the truck with ``imei``: the first candidate of
    :func:`id_candidates` that the encoder takes and that decodes back to itself (else the first one
    the encoder takes).  ``ValueError`` when the encoder takes none."""
    taken: str | None = None
    for candidate in id_candidates(imei):
        check = check_wire(spec, transport, candidate)
        if check.encoder_error is not None:
            continue
        if check.ok:
            return candidate
        taken = taken or candidate
    if taken is None:
        raise ValueError(f"the {spec.name} encoder takes none of the ids derived from IMEI {imei}")
    return taken


class Tamper:
    """Damaged bytes for the fault injection, checked against the protocol's own framer and decoder.

    Without a spec (an encoder of no registered protocol) it damages blindly: the middle byte of a
    frame, random junk.
    """

    #: Random junk tried before giving up on garbage that the framer would mistake for a frame.
    GARBAGE_ATTEMPTS = 50

    def __init__(self, spec: ProtocolSpec | None, transport: Transport, device_id: str) -> None:
        self.spec = spec
        self.transport = transport
        self.device_id = device_id

    def _view(self) -> ServerView:
        assert self.spec is not None
        # The device has logged in on the session the damaged bytes travel on: preset its identity.
        return ServerView(self.spec, self.transport, self.device_id)

    # -- corrupt frames ----------------------------------------------------------------------------

    def corrupt(self, frame: bytes) -> bytes | None:
        """``frame`` with one byte damaged so that the server refuses it and still decodes the intact
        ``frame`` sent right after it; a ``bad_checksum`` refusal is preferred.  None when no single
        damaged byte does that."""
        if not frame:
            return None
        if self.spec is None:
            middle = len(frame) // 2
            return frame[:middle] + bytes([frame[middle] ^ 0xFF]) + frame[middle + 1 :]
        for want in (DecodeReason.BAD_CHECKSUM.value, None):
            for candidate in self._damaged(frame, keep_format=want is not None):
                if self._refused_then_intact(candidate, frame, want):
                    return candidate
        return None

    def _damaged(self, frame: bytes, *, keep_format: bool) -> Iterator[bytes]:
        """Frames with one byte changed, from the middle outwards.  Text frames get a digit changed into
        another digit (``keep_format``: only a checksum can tell) or into a letter (a broken value);
        binary frames one byte inverted."""
        text = (self.spec is not None and self.spec.payload == "text") or frame.isascii()
        middle = len(frame) // 2
        order = sorted(range(len(frame)), key=lambda i: (abs(i - middle), i))
        for i in order:
            byte = frame[i]
            if text:
                if not 0x30 <= byte <= 0x39:
                    continue
                replacement = 0x30 + (byte - 0x30 + 1) % 10 if keep_format else ord("x")
            else:
                replacement = byte ^ 0xFF
            yield frame[:i] + bytes([replacement]) + frame[i + 1 :]

    def _refused_then_intact(self, damaged: bytes, frame: bytes, want: str | None) -> bool:
        """The server refuses ``damaged`` (with reason ``want``, if given) and decodes ``frame`` after it.

        On TCP the damaged frame travels in front of the intact one, in the same read or in the one
        before: a framer may hold a damaged frame until it sees what follows, so both are judged together.
        """
        if self.transport != "tcp":
            judgements = self._view().judge(damaged)
            return (
                len(judgements) == 1
                and judgements[0].outcome != "frame"
                and (want is None or judgements[0].reason == want)
            )
        for chunks in ((damaged + frame,), (damaged, frame)):
            view = self._view()
            judgements = [j for chunk in chunks for j in view.judge(chunk)]
            if view.buffered or not judgements:
                return False
            *refused, last = judgements
            if last.outcome != "frame" or last.raw != frame or not refused:
                return False
            if any(j.outcome == "frame" for j in refused):
                return False
            if want is not None and not any(j.reason == want for j in refused):
                return False
        return True

    # -- garbage -----------------------------------------------------------------------------------

    def garbage(self, size: int, rng: random.Random, before: bytes) -> bytes | None:
        """``size`` random bytes that the server skips (TCP: before ``before``, which must still decode;
        UDP: a datagram it refuses).  None on transports without a byte stream or datagrams."""
        if self.transport not in ("tcp", "udp"):
            return None
        for _ in range(self.GARBAGE_ATTEMPTS):
            junk = bytes(rng.randrange(256) for _ in range(size))
            if self.spec is None or self._skipped(junk, before):
                return junk
        return None

    def _skipped(self, junk: bytes, before: bytes) -> bool:
        if self.transport == "udp":
            return all(j.outcome != "frame" for j in self._view().judge(junk))
        for chunks in ((junk + before,), (junk, before)):
            view = self._view()
            judgements = [j for chunk in chunks for j in view.judge(chunk)]
            frames = [j for j in judgements if j.outcome != "framing_error"]
            if view.buffered or len(frames) != 1 or frames[0].outcome != "frame" or frames[0].raw != before:
                return False
            if judgements[-1] is not frames[0]:
                return False
        return True

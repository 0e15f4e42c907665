"""What every tracker protocol plugs into: decoders, stream framers, decoded messages, named errors.

A protocol contributes two things per TCP (or UDP) connection:

* a :class:`StreamFramer` that cuts the byte stream into frames.  A framer never raises: bytes it
  cannot place in a frame come back as :class:`FramingError` values (with the bytes, so they can be
  kept as evidence), and its buffer stays bounded by its ``max_frame_size``;
* a :class:`ProtocolDecoder` that turns one frame into :class:`DecodedMessage` values.  A decoder
  holds the per-connection state (the device id learnt at login, a time-zone offset, ...) and raises
  only :class:`DecodeError`, whose ``reason`` is a short snake_case name (see :class:`DecodeReason`).

Decoded fixes are :class:`cedetect.models.Position` values.  :func:`make_position` builds them,
turning a validation failure of the wire model into ``DecodeError("invalid_coordinates")`` or
``DecodeError("invalid_time")``, and attaches the flags of :func:`check_position_invariants`.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import ClassVar, Literal, Protocol

from pydantic import ValidationError

from cedetect.models import ID_PATTERN, AttributeValue, Position, PositionFlag

#: A fix more than this many seconds ahead of the receive time is flagged ``future_time``.
DEFAULT_FUTURE_TOLERANCE_S = 300.0

_ID_RE = re.compile(ID_PATTERN)
_object_setattr = object.__setattr__


class DecodeReason(StrEnum):
    """The named reasons a frame is refused.  ``DecodeError.reason`` holds one of these values."""

    TRUNCATED = "truncated"  # fewer bytes than the frame or a field inside it needs
    BAD_START_BYTES = "bad_start_bytes"
    BAD_STOP_BYTES = "bad_stop_bytes"
    BAD_LENGTH = "bad_length"  # the length field disagrees with the frame size
    BAD_CHECKSUM = "bad_checksum"
    FRAME_TOO_LONG = "frame_too_long"
    UNKNOWN_MESSAGE_TYPE = "unknown_message_type"
    NO_DEVICE_ID = "no_device_id"  # a data frame before any login on the connection
    INVALID_DEVICE_ID = "invalid_device_id"
    INVALID_COORDINATES = "invalid_coordinates"  # latitude/longitude/speed/heading out of range
    INVALID_TIME = "invalid_time"
    MALFORMED = "malformed"  # content that cannot be parsed although the frame is intact


class DecodeError(Exception):
    """A frame that could not be decoded.  ``raw`` keeps the refused bytes as evidence."""

    def __init__(self, reason: str, detail: str = "", *, raw: bytes = b"") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = str(reason)
        self.detail = detail
        self.raw = bytes(raw)

    def with_raw(self, raw: bytes) -> DecodeError:
        """Attach the frame bytes if the raiser did not know them; returns ``self``."""
        if not self.raw:
            self.raw = bytes(raw)
        return self


@dataclass(frozen=True)
class FramingError:
    """Bytes a framer skipped while looking for the next frame (``reason``: ``garbage``, ...)."""

    reason: str
    raw: bytes
    detail: str = ""


@dataclass(frozen=True, init=False)
class DecodedMessage:
    """One message out of a frame.

    ``kind`` is one of ``login``, ``location``, ``heartbeat``, ``status``, ``alarm``, ``lbs``,
    ``command_reply``, ``info``, ``address_request``, ``time_request``, ``photo``, ``obd``.
    ``position`` is set only when the frame carries a fix of its own (a message that traccar fills
    from the last known location has none).  ``response`` is the acknowledgement to write back to
    the device, if the protocol expects one.  ``attributes`` use the snake_case names documented by
    each protocol module; for a message with a position they equal ``position.attributes``.
    """

    kind: str
    device_id: str | None
    position: Position | None
    response: bytes | None
    raw: bytes
    attributes: dict[str, AttributeValue] = field(default_factory=dict)

    # Hand-written: the generated frozen ``__init__`` sets each field through ``object.__setattr__``,
    # which costs a decoder of short location frames about a tenth of its time.  Same signature and
    # result (a fresh empty dict when ``attributes`` is not given).
    def __init__(
        self,
        kind: str,
        device_id: str | None,
        position: Position | None,
        response: bytes | None,
        raw: bytes,
        attributes: dict[str, AttributeValue] | None = None,
    ) -> None:
        fields = self.__dict__  # writing the instance dict bypasses the frozen __setattr__
        fields["kind"] = kind
        fields["device_id"] = device_id
        fields["position"] = position
        fields["response"] = response
        fields["raw"] = raw
        fields["attributes"] = {} if attributes is None else attributes


def validate_device_id(device_id: str) -> str:
    """Return ``device_id`` if it can travel as an MQTT topic level, else raise ``ValueError``."""
    if not _ID_RE.fullmatch(device_id):
        raise ValueError(f"device id {device_id!r} does not match {ID_PATTERN}")
    return device_id


class ProtocolDecoder(ABC):
    """Decodes the frames of one connection.  Stateful: it remembers the device id after login.

    ``device_id`` presets the connection's identity (as if a login had been seen): useful for
    protocols whose data frames carry no identifier, for replaying captured frames and for tests.
    ``model`` selects device-specific layouts where a protocol has them.
    """

    protocol: ClassVar[str]

    def __init__(self, *, device_id: str | None = None, model: str | None = None) -> None:
        self._device_id = validate_device_id(device_id) if device_id is not None else None
        self.model = model.strip().upper() if model else None

    @property
    def device_id(self) -> str | None:
        return self._device_id

    @abstractmethod
    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        """Decode one frame received at ``received_utc`` (UTC-aware).  Raises only DecodeError."""

    def _require_device_id(self) -> str:
        if self._device_id is None:
            raise DecodeError(DecodeReason.NO_DEVICE_ID, "data frame before a login on this connection")
        return self._device_id

    def _set_device_id(self, device_id: str) -> str:
        try:
            self._device_id = validate_device_id(device_id)
        except ValueError as exc:
            raise DecodeError(DecodeReason.INVALID_DEVICE_ID, str(exc)) from exc
        return self._device_id


class StreamFramer(ABC):
    """Cuts a byte stream into frames.  Never raises; the buffer never exceeds ``max_frame_size``
    plus the size of the chunk being fed."""

    def __init__(self, *, max_frame_size: int) -> None:
        if max_frame_size < 1:
            raise ValueError("max_frame_size must be positive")
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()

    @abstractmethod
    def feed(self, data: bytes) -> list[bytes | FramingError]:
        """Add received bytes; return the complete frames and the skipped garbage, in stream order."""

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buffer)

    def flush(self) -> list[FramingError]:
        """Give up on a partial frame (connection closed): report the held bytes as ``truncated``."""
        if not self._buffer:
            return []
        held = bytes(self._buffer)
        self._buffer.clear()
        return [FramingError("truncated", held, "connection ended inside a frame")]


class StepFramer(StreamFramer):
    """A framer that works on the head of its buffer one step at a time: each :meth:`_step` cuts off
    a frame or a run of skipped bytes, or says that it needs more bytes."""

    def feed(self, data: bytes) -> list[bytes | FramingError]:
        out: list[bytes | FramingError] = []
        self._buffer += data
        while self._step(out):
            pass
        return out

    @abstractmethod
    def _step(self, out: list[bytes | FramingError]) -> bool:
        """Handle the head of the buffer, appending to ``out``; True while there may be more to do."""

    def _emit_frame(self, out: list[bytes | FramingError], count: int) -> None:
        """Hand on the first ``count`` bytes as a frame."""
        out.append(bytes(self._buffer[:count]))
        del self._buffer[:count]

    def _emit_skip(self, out: list[bytes | FramingError], count: int, reason: str, detail: str = "") -> None:
        """Report the first ``count`` bytes, if any, as skipped for ``reason``."""
        if count > 0:
            out.append(FramingError(reason, bytes(self._buffer[:count]), detail))
            del self._buffer[:count]


def _invariant_flags(
    *,
    time_utc: datetime,
    received_utc: datetime,
    latitude: float,
    longitude: float,
    valid: bool,
    future_tolerance_s: float,
) -> tuple[PositionFlag, ...]:
    flags: list[PositionFlag] = []
    if not valid:
        flags.append(PositionFlag.INVALID_FIX)
    if latitude == 0.0 and longitude == 0.0:
        flags.append(PositionFlag.ZERO_COORDINATES)
    if time_utc > received_utc + timedelta(seconds=future_tolerance_s):
        flags.append(PositionFlag.FUTURE_TIME)
    return tuple(flags)


def check_position_invariants(
    position: Position,
    received_utc: datetime,
    future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
) -> tuple[PositionFlag, ...]:
    """Flags a decoded fix deserves beyond what the Position model already enforces.

    The model guarantees ranges (latitude, longitude, speed >= 0, heading in [0, 360)) and
    UTC-aware times.  Here: ``invalid_fix`` (the device says the fix is not valid),
    ``zero_coordinates`` (0,0) and ``future_time`` (fix later than receive time + tolerance).
    """
    return _invariant_flags(
        time_utc=position.time_utc,
        received_utc=received_utc,
        latitude=position.latitude,
        longitude=position.longitude,
        valid=position.valid,
        future_tolerance_s=future_tolerance_s,
    )


#: The fields :func:`make_position` sets explicitly (what validation records in ``model_fields_set``).
_MADE_FIELDS: frozenset[str] = frozenset(
    {
        "device_id", "protocol", "time_utc", "received_utc", "latitude", "longitude", "speed_kmh", "heading_deg",
        "altitude_m", "satellites", "hdop", "valid", "attributes", "flags",
    }
)  # fmt: skip
#: Types whose values the ``AttributeValue`` union keeps as they are.
_PLAIN_ATTRIBUTE_TYPES: frozenset[type] = frozenset({str, int, float, bool, type(None)})
#: ``timedelta`` of each future tolerance in use (a handful of distinct values at most).
_TOLERANCES: dict[float, timedelta] = {}
#: Device ids already seen to match ``ID_PATTERN`` (bounded; cleared when full).
_VALID_DEVICE_IDS: set[str] = set()
_VALID_DEVICE_IDS_MAX = 100_000
_INF = math.inf
#: Sorted flag tuples (what the model's validator makes of them) by (invalid fix, zero, future).
_FLAG_TUPLES: dict[tuple[bool, bool, bool], tuple[PositionFlag, ...]] = {
    (invalid, zero, future): tuple(
        sorted(
            flag
            for flag, on in (
                (PositionFlag.INVALID_FIX, invalid),
                (PositionFlag.ZERO_COORDINATES, zero),
                (PositionFlag.FUTURE_TIME, future),
            )
            if on
        )
    )
    for invalid in (False, True)
    for zero in (False, True)
    for future in (False, True)
}


def try_fast_position(
    device_id: str,
    protocol: str,
    time_utc: datetime,
    received_utc: datetime,
    latitude: float,
    longitude: float,
    speed_kmh: float,
    heading_deg: float,
    valid: bool,
    altitude_m: float | None,
    satellites: int | None,
    hdop: float | None,
    attributes: dict[str, AttributeValue] | None,
    future_tolerance_s: float,
) -> Position | None:
    """The Position validation would build, when validation would change nothing; else None.

    Each test mirrors a constraint of :class:`Position` (NaN fails every comparison, so the range
    tests also refuse it).  Exact types only: a subclass, an ``int`` where a float belongs or a time
    in another zone is left to validation, which converts or refuses it.
    """
    if not (
        type(latitude) is float
        and -90.0 <= latitude <= 90.0
        and type(longitude) is float
        and -180.0 <= longitude <= 180.0
        and type(speed_kmh) is float
        and 0.0 <= speed_kmh <= 2000.0
        and type(heading_deg) is float
        and 0.0 <= heading_deg < 360.0
        and type(valid) is bool
        and type(time_utc) is datetime
        and time_utc.tzinfo is UTC
        and type(received_utc) is datetime
        and received_utc.tzinfo is UTC
        and (altitude_m is None or (type(altitude_m) is float and -_INF < altitude_m < _INF))
        and (satellites is None or (type(satellites) is int and 0 <= satellites <= 255))
        and (hdop is None or (type(hdop) is float and 0.0 <= hdop < _INF))
        and type(protocol) is str
        and 1 <= len(protocol) <= 32
        and type(device_id) is str
    ):
        return None
    if device_id not in _VALID_DEVICE_IDS:
        if not _ID_RE.fullmatch(device_id):
            return None
        if len(_VALID_DEVICE_IDS) >= _VALID_DEVICE_IDS_MAX:
            _VALID_DEVICE_IDS.clear()
        _VALID_DEVICE_IDS.add(device_id)
    attrs: dict[str, AttributeValue] = {} if attributes is None else dict(attributes)
    plain = _PLAIN_ATTRIBUTE_TYPES
    for key, value in attrs.items():
        if type(key) is not str or type(value) not in plain:
            return None
    try:
        future = time_utc > received_utc + future_tolerance(future_tolerance_s)
    except (OverflowError, TypeError, ValueError):
        return None
    flags = (
        ()
        if valid and not future and (latitude or longitude)
        else _FLAG_TUPLES[(not valid, latitude == 0.0 and longitude == 0.0, future)]
    )
    return assemble_position(
        device_id,
        protocol,
        time_utc,
        received_utc,
        latitude,
        longitude,
        speed_kmh,
        heading_deg,
        valid,
        altitude_m,
        satellites,
        hdop,
        attrs,
        flags,
    )


def future_tolerance(seconds: float) -> timedelta:
    """``timedelta(seconds=seconds)``, kept for the few tolerances in use."""
    tolerance = _TOLERANCES.get(seconds)
    if tolerance is None:
        tolerance = timedelta(seconds=seconds)
        if len(_TOLERANCES) < 64:
            _TOLERANCES[seconds] = tolerance
    return tolerance


def position_flags(valid: bool, latitude: float, longitude: float, future: bool) -> tuple[PositionFlag, ...]:
    """The sorted flags :func:`make_position` attaches (``future``: the fix is beyond the tolerance)."""
    if valid and not future and (latitude or longitude):
        return ()
    return _FLAG_TUPLES[(not valid, latitude == 0.0 and longitude == 0.0, future)]


def assemble_position(
    device_id: str,
    protocol: str,
    time_utc: datetime,
    received_utc: datetime,
    latitude: float,
    longitude: float,
    speed_kmh: float,
    heading_deg: float,
    valid: bool,
    altitude_m: float | None,
    satellites: int | None,
    hdop: float | None,
    attributes: dict[str, AttributeValue],
    flags: tuple[PositionFlag, ...],
) -> Position:
    """The Position that validating these values would build, without running the validator.

    Only for values already known to pass it unchanged (see :func:`try_fast_position`, which checks;
    a protocol's fast path may check what its layout does not already guarantee): exact types, every
    range of :class:`Position`, times in ``UTC``, sorted ``flags``.  ``attributes`` is taken, not copied.
    """
    position = _new_position(Position)
    _object_setattr(
        position,
        "__dict__",
        {
            "schema_version": 1,
            "device_id": device_id,
            "protocol": protocol,
            "time_utc": time_utc,
            "received_utc": received_utc,
            "latitude": latitude,
            "longitude": longitude,
            "speed_kmh": speed_kmh,
            "heading_deg": heading_deg,
            "altitude_m": altitude_m,
            "satellites": satellites,
            "hdop": hdop,
            "valid": valid,
            "attributes": attributes,
            "flags": flags,
        },
    )
    _object_setattr(position, "__pydantic_fields_set__", set(_MADE_FIELDS))
    _object_setattr(position, "__pydantic_extra__", None)
    _object_setattr(position, "__pydantic_private__", None)
    return position


_new_position = object.__new__


def make_position(
    *,
    device_id: str,
    protocol: str,
    time_utc: datetime,
    received_utc: datetime,
    latitude: float,
    longitude: float,
    speed_kmh: float = 0.0,
    heading_deg: float = 0.0,
    valid: bool = True,
    altitude_m: float | None = None,
    satellites: int | None = None,
    hdop: float | None = None,
    attributes: dict[str, AttributeValue] | None = None,
    future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
) -> Position:
    """Build a validated Position with its invariant flags; raise DecodeError on out-of-range data.

    Values on which the wire model's validation is the identity (exact ``float``/``int``/``bool``/``str``
    types inside the model's ranges, times in ``UTC``, a device id that matches ``ID_PATTERN``, plain
    attribute values) take a fast route that builds the same Position without running the validator;
    anything else goes through full validation, which names what is wrong.
    """
    position = try_fast_position(
        device_id,
        protocol,
        time_utc,
        received_utc,
        latitude,
        longitude,
        speed_kmh,
        heading_deg,
        valid,
        altitude_m,
        satellites,
        hdop,
        attributes,
        future_tolerance_s,
    )
    if position is not None:
        return position
    return validated_position(
        device_id=device_id,
        protocol=protocol,
        time_utc=time_utc,
        received_utc=received_utc,
        latitude=latitude,
        longitude=longitude,
        speed_kmh=speed_kmh,
        heading_deg=heading_deg,
        valid=valid,
        altitude_m=altitude_m,
        satellites=satellites,
        hdop=hdop,
        attributes=attributes,
        future_tolerance_s=future_tolerance_s,
    )


def validated_position(
    *,
    device_id: str,
    protocol: str,
    time_utc: datetime,
    received_utc: datetime,
    latitude: float,
    longitude: float,
    speed_kmh: float = 0.0,
    heading_deg: float = 0.0,
    valid: bool = True,
    altitude_m: float | None = None,
    satellites: int | None = None,
    hdop: float | None = None,
    attributes: dict[str, AttributeValue] | None = None,
    future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
) -> Position:
    """:func:`make_position` through the wire model's full validation, whatever the values (the reference
    its fast route must equal)."""
    if time_utc.tzinfo is None or received_utc.tzinfo is None:
        raise DecodeError(DecodeReason.INVALID_TIME, "naive datetime")
    for name, value in (("latitude", latitude), ("longitude", longitude), ("speed", speed_kmh)):
        if not math.isfinite(value):
            raise DecodeError(DecodeReason.INVALID_COORDINATES, f"{name} is not finite")
    flags = _invariant_flags(
        time_utc=time_utc,
        received_utc=received_utc,
        latitude=latitude,
        longitude=longitude,
        valid=valid,
        future_tolerance_s=future_tolerance_s,
    )
    try:
        return Position(
            device_id=device_id,
            protocol=protocol,
            time_utc=time_utc,
            received_utc=received_utc,
            latitude=latitude,
            longitude=longitude,
            speed_kmh=speed_kmh,
            heading_deg=heading_deg,
            altitude_m=altitude_m,
            satellites=satellites,
            hdop=hdop,
            valid=valid,
            attributes=dict(attributes or {}),
            flags=flags,
        )
    except ValidationError as exc:
        fields = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        reason = (
            DecodeReason.INVALID_TIME if fields & {"time_utc", "received_utc"} else DecodeReason.INVALID_COORDINATES
        )
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise DecodeError(reason, detail) from exc


# --- what a simulated device sends ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FixToSend:
    """One fix a simulated device reports (the input of :class:`DeviceEncoder`)."""

    time_utc: datetime
    latitude: float
    longitude: float
    speed_kmh: float = 0.0
    heading_deg: float = 0.0
    satellites: int = 8
    valid: bool = True
    ignition: bool = True
    altitude_m: float = 0.0
    odometer_km: float | None = None
    alarm: str | None = None  # a value of :class:`cedetect.protocols.attributes.Alarm`


class DeviceEncoder(ABC):
    """Builds the frames a real device of one protocol sends, in its real format with correct checksums.

    One encoder per simulated device; it keeps the device's serial/sequence counters.  The simulator
    sends :meth:`login` first (when not None) and waits for an acknowledgement if
    :meth:`awaits_response` says the device does; round-trip tests decode what it builds.
    """

    protocol: ClassVar[str]

    def __init__(self, device_id: str) -> None:
        self.device_id = validate_device_id(device_id)

    def login(self) -> bytes | None:
        """The handshake or login frame, or None when the protocol has none."""
        return None

    @abstractmethod
    def location(self, fix: FixToSend) -> bytes:
        """One location frame (or datagram) reporting ``fix``."""

    def heartbeat(self) -> bytes | None:
        """A keep-alive frame, or None when the protocol has none."""
        return None

    def awaits_response(self, kind: str) -> bool:
        """Whether a device waits for the server's answer after a frame of ``kind`` (login/location/heartbeat)."""
        return kind == "login"


class DecoderFactory(Protocol):
    """Makes the decoder for one connection; ``device_id`` presets the identity, ``model`` quirks."""

    def __call__(self, *, device_id: str | None = None, model: str | None = None) -> ProtocolDecoder: ...


Transport = Literal["tcp", "udp", "http", "mqtt"]


@dataclass(frozen=True)
class ProtocolSpec:
    """Everything the edge agent, the CLI and the simulator need to know about one protocol.

    Each protocol module defines one as ``SPEC``; :mod:`cedetect.protocols` finds them.
    """

    name: str
    default_port: int
    transports: tuple[Transport, ...]
    decoder_factory: DecoderFactory
    #: Cuts a TCP stream into frames (None for protocols that are not carried over TCP).
    framer_factory: Callable[[], StreamFramer] | None = None
    #: Decoder for one UDP datagram, where UDP packets differ from TCP frames (else ``decoder_factory``).
    datagram_decoder_factory: DecoderFactory | None = None
    encoder_factory: Callable[[str], DeviceEncoder] | None = None
    #: Encoder for UDP datagrams, where they differ from TCP frames (else ``encoder_factory``).
    datagram_encoder_factory: Callable[[str], DeviceEncoder] | None = None
    #: ``binary`` frames are given as hex on the command line; ``text`` frames as text.
    payload: Literal["binary", "text"] = "binary"
    #: Other names the protocol is known by (``huabao`` for ``jt808``); ``get`` accepts them too.
    aliases: tuple[str, ...] = ()
    #: Work a long-running server does once at start-up, off its event loop (loading compiled kernels),
    #: so that the first busy second does not pay for it.
    prepare: Callable[[], object] | None = None

    @property
    def transport(self) -> Transport:
        """The main transport (the first of :attr:`transports`)."""
        return self.transports[0]

"""Watch (the "3G" protocol of children's and elderly GPS watches): decoder, framer, simulated device.

Modelled on traccar's ``WatchProtocolDecoder`` and ``WatchFrameDecoder``.

Frame
-----
``[MM*<id>*LLLL*<content>]`` or, with a sequence index, ``[MM*<id>*<index>*LLLL*<content>]``, where
``MM`` is a two-character maker code (``3G``, ``SG``, ``ZJ``, ``CS`` ...), ``<id>`` the device id and
``LLLL`` four hex digits giving the length of the content as sent.  Inside the content ``}`` escapes
``}``/``[``/``]``/``,``/``*`` as ``} 01``..``} 05``, so binary content (AMR voice, JPEG) carries no raw
bracket.  The content is a command name, then ``,`` and its fields.

The length field is trusted for framing only where it has to be: many devices get it wrong on text
commands (traccar ignores it; a third of its test frames disagree), so :class:`WatchFramer` ends a
text frame at its first ``]``, and uses the length for binary content (the media commands ``TK``,
``JXTK``, ``img``, or any content with non-printable bytes) where a device that does not escape may
send a raw ``]``.  The decoder reads the content between the header and the final ``]``; several
frames handed over as one (traccar's vector watch-008) are split by their length fields.

Decoding
--------
:class:`WatchDecoder` is one per connection; the id in each frame names the device.  Times are UTC.

==========================  ==============================================================  =====================
command                     decoded as                                                      answer
==========================  ==============================================================  =====================
``INIT``                    ``login``                                                       ``INIT,1``
``LK`` (link)               ``heartbeat`` (``steps``, ``battery_level`` when sent)          ``LK``
``UD`` ``UD2`` ``UD3``      ``location``: date ``ddMMyy``, time ``HHmmss``, ``A``/``V``,     none
``UD_LTE`` ``UD_WCDMA``     latitude/longitude with hemisphere, speed km/h, course,
``WT`` ...                  altitude, satellites, ``rssi``, ``battery_level``, ``steps``,
                            status word (alarms, ``motion``), cells and WiFi
``AL`` ``AL_LTE`` ...       ``alarm``: as ``UD``, ``general`` when no status bit names one    ``AL``
``WAD`` / ``WG``            ``alarm`` / ``address_request`` with the ``UD`` fields: the       none
                            device asks for an address (no geocoder here, so no answer)
``TKQ`` ``TKQ2``            ``info`` (voice-message query)                                  the same command
``PULSE`` ``HEART``         ``info``: ``heart_rate_bpm``, ``blood_pressure_high/low``,       none
``BLOOD`` ``BPHRT``         ``temp1_c`` (body temperature), ``blood_oxygen_pct``
``TEMP`` ``btemp2``
``oxygen``
``TK``                      ``audio``: one AMR voice message, ``audio_bytes``; a 1-byte      none
                            ``TK`` is the device's answer to one sent to it
                            (``command_reply``, ``result``)
``JXTK``                    ``audio``: one chunk of a voice message (``audio_part`` of       ``JXTKR,1``
                            ``audio_parts``, ``audio_bytes``; ``audio_total_bytes`` on the
                            last chunk)
``img``                     ``photo`` (``photo_bytes``)                                     none
==========================  ==============================================================  =====================

Media are **not stored**: voice messages and photos are reported with their sizes only (traccar
writes them to its media store).  Other commands raise ``unknown_message_type``.  Answers are
``[MM*<id>*[<index>*]LLLL*<content>]`` with the maker code, id and index of the frame, as traccar
writes them.

Status word bits (hex): 0 ``low_battery``, 1 ``geofence_exit``, 2 ``geofence_enter``, 4 motion,
14 ``power_cut``, 16 ``sos``, 17 ``low_battery``, 18 ``geofence_exit``, 19 ``geofence_enter``,
20 ``removing``, 21/22 ``fall_down``.  traccar reports only the first alarm bit in that order; this
decoder reports every one set (an SOS is not hidden by a low battery).

The cell/WiFi tail (``count, timing advance, mcc, mnc, (lac, cid, rssi)*, wifi count, (name, mac,
rssi)*``) is summarised as ``mcc``/``mnc``/``lac``/``cell_id`` (first cell), ``cell_count`` and
``wifi_count``; a tail whose fourth field holds hex letters (hex cell ids, or access points
without cells) is skipped as traccar skips it, and a tail that does not parse is ignored from there
(traccar would drop the fix).  A position sentence that does not match the layout raises
``malformed`` (coordinates may be a bare ``0``), an impossible date ``invalid_time``.

Attributes
----------
Beyond COMMON (``alarm``, ``battery_level``, ``rssi``, ``motion``, ``mcc`` ...):
``message_type`` (str, the command), ``steps`` (int), ``heart_rate_bpm`` (int),
``blood_pressure_high`` / ``blood_pressure_low`` (int, mmHg), ``blood_oxygen_pct`` (int), ``temp1_c``
(body temperature), ``raw_status`` (int, the status word), ``cell_count`` / ``wifi_count`` (int),
``audio_bytes`` / ``audio_part`` / ``audio_parts`` / ``audio_total_bytes`` (int), ``photo_bytes``
(int), ``satellites`` (int, on messages without a fix).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from cedetect.models import AttributeValue
from cedetect.protocols.attributes import Alarm
from cedetect.protocols.base import (
    DEFAULT_FUTURE_TOLERANCE_S,
    DecodedMessage,
    DecodeError,
    DecodeReason,
    DeviceEncoder,
    FixToSend,
    FramingError,
    ProtocolDecoder,
    ProtocolSpec,
    StepFramer,
    make_position,
)

PROTOCOL: Final = "watch"

FRAME_START: Final = ord("[")
FRAME_END: Final = ord("]")
ESCAPE: Final = ord("}")
_ESCAPES: Final[dict[int, int]] = {0x01: ord("}"), 0x02: ord("["), 0x03: ord("]"), 0x04: ord(","), 0x05: ord("*")}
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")

#: Commands whose content is binary: framed by their length field.
MEDIA_COMMANDS: Final = frozenset({"TK", "JXTK", "img"})
#: How far the framer looks for the end of the command name.
_COMMAND_SCAN: Final = 32
#: Longest header ``[MM*<id>*<index>*LLLL*`` accepted.
MAX_HEADER: Final = 100
#: The longest frame accepted by default (a photo in one frame).
DEFAULT_MAX_FRAME_SIZE: Final = 65536

_HEALTH: Final = frozenset({"PULSE", "HEART", "BLOOD", "BPHRT", "TEMP", "BTEMP2", "OXYGEN"})

_POSITION = re.compile(
    r"(\d{2})(\d{2})(\d{2}),"  # date ddMMyy
    r"(\d{2})(\d{2})(\d{2}),"  # time HHmmss
    r"([AV]),"  # validity
    r" *(-?\d+(?:\.\d+)?),([NS])?,"  # latitude (some devices send a bare 0)
    r" *(-?\d+(?:\.\d+)?),([EW])?,"  # longitude
    r"(\d+\.?\d*),"  # speed, km/h
    r"(\d+\.?\d*),"  # course
    r"(-?\d+\.?\d*),"  # altitude
    r"(\d+),"  # satellites
    r"(\d+),"  # rssi
    r"(\d+),"  # battery
    r"(\d+),"  # steps
    r"\d+,"  # tumbles
    r"([0-9a-fA-F]+),"  # status
    r"(.*)",  # cells and WiFi
    re.DOTALL,
)

#: Status bits and their alarms, in traccar's order of precedence.
_STATUS_ALARMS: Final[tuple[tuple[int, Alarm], ...]] = (
    (0, Alarm.LOW_BATTERY),
    (1, Alarm.GEOFENCE_EXIT),
    (2, Alarm.GEOFENCE_ENTER),
    (14, Alarm.POWER_CUT),
    (16, Alarm.SOS),
    (17, Alarm.LOW_BATTERY),
    (18, Alarm.GEOFENCE_EXIT),
    (19, Alarm.GEOFENCE_ENTER),
    (20, Alarm.REMOVING),
    (21, Alarm.FALL_DOWN),
    (22, Alarm.FALL_DOWN),
)
#: Status bit a simulated device sets for an alarm.
ALARM_BITS: Final[dict[str, int]] = {
    "low_battery": 0, "geofence_exit": 1, "geofence_enter": 2, "power_cut": 14, "sos": 16, "removing": 20,
    "fall_down": 21,
}  # fmt: skip


# -- header and escaping ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchHeader:
    """``[MM*<id>*[<index>*]LLLL*``: where the content starts and how long the device says it is."""

    manufacturer: str
    device_id: str
    index: str | None
    length: int
    content_start: int


class _IncompleteError(Exception):
    """More bytes are needed to read the header."""


def _is_hex(data: bytes | bytearray) -> bool:
    return len(data) > 0 and all(b in _HEX for b in data)


def _field_char(b: int) -> bool:
    return 0x20 < b < 0x7F and b not in (FRAME_START, FRAME_END, ord("*"), ord(","))


def parse_header(buf: bytes | bytearray) -> WatchHeader:
    """Read the header at the start of ``buf``.

    Raises :class:`DecodeError` (``malformed``) if it cannot be one; ``_IncompleteError`` if ``buf`` ends
    before the header can be judged (the framer waits then).  The index is told from the length as
    traccar does: a field followed by four hex digits and ``*`` is the index.
    """
    size = len(buf)
    if size < 4:
        raise _IncompleteError
    if buf[0] != FRAME_START or buf[3] != ord("*") or not (_field_char(buf[1]) and _field_char(buf[2])):
        raise DecodeError(DecodeReason.MALFORMED, "header is not [MM*")
    manufacturer = bytes(buf[1:3]).decode("ascii")
    id_end = _field_end(buf, 4)
    device_id = bytes(buf[4:id_end]).decode("ascii")
    if not device_id:
        raise DecodeError(DecodeReason.MALFORMED, "empty device id")
    first = id_end + 1
    first_end = _field_end(buf, first)
    after = first_end + 1
    if _index_follows(buf, after):
        length_field = buf[after : after + 4]
        index: str | None = bytes(buf[first:first_end]).decode("ascii")
        content_start = after + 5
    else:
        length_field = buf[first:first_end]
        index = None
        content_start = after
    if len(length_field) != 4 or not _is_hex(length_field):
        raise DecodeError(DecodeReason.MALFORMED, f"length field {bytes(length_field)!r} is not 4 hex digits")
    if index is not None and not index:
        raise DecodeError(DecodeReason.MALFORMED, "empty index")
    return WatchHeader(manufacturer, device_id, index, int(length_field, 16), content_start)


def _field_end(buf: bytes | bytearray, start: int) -> int:
    """Offset of the ``*`` ending the header field that starts at ``start``."""
    limit = min(len(buf), MAX_HEADER)
    for i in range(start, limit):
        b = buf[i]
        if b == ord("*"):
            return i
        if not _field_char(b):
            raise DecodeError(DecodeReason.MALFORMED, f"byte {b:02x} in a header field")
    if len(buf) >= MAX_HEADER:
        raise DecodeError(DecodeReason.MALFORMED, "header too long")
    raise _IncompleteError


def _index_follows(buf: bytes | bytearray, at: int) -> bool:
    """Whether ``buf[at:]`` starts with four hex digits and ``*`` (then the field before was an index)."""
    for i in range(4):
        if at + i >= len(buf):
            raise _IncompleteError
        if buf[at + i] not in _HEX:
            return False
    if at + 4 >= len(buf):
        raise _IncompleteError
    return buf[at + 4] == ord("*")


def unescape(data: bytes) -> bytes:
    """Undo the ``}`` escapes; a ``}`` not followed by 01-05 is kept as it is."""
    if ESCAPE not in data:
        return data
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b == ESCAPE and i + 1 < len(data) and data[i + 1] in _ESCAPES:
            out.append(_ESCAPES[data[i + 1]])
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


def escape(data: bytes) -> bytes:
    """Escape ``}`` ``[`` ``]`` ``,`` ``*`` for binary content."""
    reverse = {v: k for k, v in _ESCAPES.items()}
    out = bytearray()
    for b in data:
        if b in reverse:
            out += bytes([ESCAPE, reverse[b]])
        else:
            out.append(b)
    return bytes(out)


def build_frame(manufacturer: str, device_id: str, content: bytes | str, *, index: str | None = None) -> bytes:
    """``[MM*<id>*[<index>*]LLLL*<content>]`` with the length of ``content`` as given (escape binary first)."""
    if len(manufacturer) != 2:
        raise ValueError("the maker code is two characters")
    data = content.encode("latin-1") if isinstance(content, str) else content
    if len(data) > 0xFFFF:
        raise ValueError("content longer than the 4-hex-digit length field")
    prefix = f"[{manufacturer}*{device_id}*" + (f"{index}*" if index is not None else "") + f"{len(data):04x}*"
    return prefix.encode("ascii") + data + b"]"


# -- decoding --------------------------------------------------------------------------------------


def _contains_hex_letter(text: str) -> bool:
    return any(c in "abcdefABCDEF" for c in text)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


@dataclass
class _Out:
    kind: str
    attrs: dict[str, AttributeValue] = field(default_factory=dict)
    position: tuple[datetime, float, float, bool, float, float, float, int | None] | None = None
    response: str | None = None


class WatchDecoder(ProtocolDecoder):
    """Decoder for one Watch-protocol connection (see the module docstring)."""

    protocol = PROTOCOL

    def __init__(
        self,
        *,
        device_id: str | None = None,
        model: str | None = None,
        future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
    ) -> None:
        super().__init__(device_id=device_id, model=model)
        self.future_tolerance_s = future_tolerance_s
        self._audio_bytes = 0

    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        raw = bytes(frame)
        try:
            if received_utc.tzinfo is None:
                raise DecodeError(DecodeReason.INVALID_TIME, "received_utc must be UTC-aware")
            received = received_utc.astimezone(UTC)
            return [self._decode_one(part, received) for part in _split(raw)]
        except DecodeError as exc:
            raise exc.with_raw(raw) from None
        except (ValueError, OverflowError) as exc:  # defensive: content the layouts did not foresee
            raise DecodeError(DecodeReason.MALFORMED, f"{type(exc).__name__}: {exc}", raw=raw) from exc

    def _decode_one(self, raw: bytes, received: datetime) -> DecodedMessage:
        header = _complete_header(raw)
        device_id = self._set_device_id(header.device_id)
        content = unescape(raw[header.content_start : -1])
        comma = content.find(b",")
        command = (content if comma < 0 else content[:comma]).decode("latin-1")
        data = b"" if comma < 0 else content[comma + 1 :]
        out = self._dispatch(command, data)
        attrs: dict[str, AttributeValue] = {"message_type": command, **out.attrs}
        position = None
        if out.position is not None:
            time_utc, latitude, longitude, valid, speed, course, altitude, satellites = out.position
            position = make_position(
                device_id=device_id,
                protocol=PROTOCOL,
                time_utc=time_utc,
                received_utc=received,
                latitude=latitude,
                longitude=longitude,
                speed_kmh=speed,
                heading_deg=course,
                valid=valid,
                altitude_m=altitude,
                satellites=satellites,
                attributes=attrs,
                future_tolerance_s=self.future_tolerance_s,
            )
        response = None
        if out.response is not None:
            response = build_frame(header.manufacturer, header.device_id, out.response, index=header.index)
        return DecodedMessage(out.kind, device_id, position, response, raw, attrs)

    def _dispatch(self, command: str, data: bytes) -> _Out:
        if command == "INIT":
            return _Out("login", response="INIT,1")
        if command == "LK":
            return self._link(data)
        if command.startswith(("UD", "AL", "WT", "WAD", "WG")):
            out = self._position(data.decode("latin-1"))
            if command.startswith(("AL", "WAD")):
                out.kind = "alarm"
                out.attrs.setdefault("alarm", Alarm.GENERAL.value)
                if command.startswith("AL"):
                    out.response = "AL"
            elif command.startswith("WG"):
                out.kind = "address_request"
            return out
        if command in ("TKQ", "TKQ2"):
            return _Out("info", response=command)
        if command.upper() in _HEALTH:
            return self._health(command.upper(), data.decode("latin-1"))
        if command == "img":
            return self._image(data)
        if command == "JXTK":
            return self._voice_chunk(data)
        if command == "TK":
            if len(data) == 1:
                return _Out("command_reply", {"result": data.decode("latin-1")})
            return _Out("audio", {"audio_bytes": len(data)})
        raise DecodeError(DecodeReason.UNKNOWN_MESSAGE_TYPE, f"command {command!r}")

    def _link(self, data: bytes) -> _Out:
        out = _Out("heartbeat", response="LK")
        values = data.decode("latin-1").split(",") if data else []
        if len(values) >= 3:
            steps, battery = _int(values[0]), _int(values[2])
            if steps is not None and battery is not None:
                out.attrs["steps"] = steps
                out.attrs["battery_level"] = battery
        return out

    def _health(self, command: str, text: str) -> _Out:
        out = _Out("info")
        if not text:
            return out
        values = text.split(",")
        if command == "TEMP":
            temperature = float(values[0])
            if math.isfinite(temperature):
                out.attrs["temp1_c"] = temperature
        elif command == "BTEMP2":
            if int(values[0]) > 0 and len(values) > 1:
                out.attrs["temp1_c"] = float(values[1])
        elif command == "OXYGEN":
            if len(values) > 1:
                out.attrs["blood_oxygen_pct"] = int(values[1])
        else:
            index = 0
            if command in ("BPHRT", "BLOOD"):
                high, low = _int(values[0]), _int(values[1]) if len(values) > 1 else None
                if high is not None:
                    out.attrs["blood_pressure_high"] = high
                if low is not None:
                    out.attrs["blood_pressure_low"] = low
                index = 2
            if index < len(values):
                rate = _int(values[index])
                if rate is not None:
                    out.attrs["heart_rate_bpm"] = rate
        return out

    def _image(self, data: bytes) -> _Out:
        comma = data.find(b",")
        start = comma + 1 + 12 + 1 if comma >= 0 else len(data)  # field, ",", yyMMddHHmmss time, ","
        return _Out("photo", {"photo_bytes": max(len(data) - start, 0)})

    def _voice_chunk(self, data: bytes) -> _Out:
        fields = data.split(b",", 4)
        if len(fields) < 5:
            raise DecodeError(DecodeReason.MALFORMED, "JXTK needs 4 fields before the audio")
        part, parts = int(fields[2]), int(fields[3])
        chunk = len(fields[4])
        self._audio_bytes += chunk
        out = _Out("audio", {"audio_part": part, "audio_parts": parts, "audio_bytes": chunk}, response="JXTKR,1")
        if part >= parts:
            out.attrs["audio_total_bytes"] = self._audio_bytes
            self._audio_bytes = 0
        return out

    def _position(self, text: str) -> _Out:
        match = _POSITION.fullmatch(text)
        if match is None:
            raise DecodeError(DecodeReason.MALFORMED, "position fields do not match the UD layout")
        groups = match.groups()
        day, month, year, hour, minute, second = (int(g) for g in groups[:6])
        try:
            time_utc = datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as exc:
            raise DecodeError(DecodeReason.INVALID_TIME, f"{groups[:6]}: {exc}") from exc
        valid = groups[6] == "A"
        latitude = float(groups[7])
        if groups[8] == "S":
            latitude = -abs(latitude)
        longitude = float(groups[9])
        if groups[10] == "W":
            longitude = -abs(longitude)
        speed = float(groups[11])
        course = math.fmod(float(groups[12]), 360.0)
        altitude = float(groups[13])
        out = _Out("location")
        out.attrs["rssi"] = int(groups[15])
        out.attrs["battery_level"] = int(groups[16])
        out.attrs["steps"] = int(groups[17])
        status = int(groups[18], 16)
        out.attrs["raw_status"] = status
        alarms: list[str] = []
        for bit, alarm in _STATUS_ALARMS:
            if status >> bit & 1 and alarm.value not in alarms:
                alarms.append(alarm.value)
        if alarms:
            out.attrs["alarm"] = ",".join(alarms)
        if status >> 4 & 1:
            out.attrs["motion"] = True
        _network(groups[19], out.attrs)
        satellites: int | None = int(groups[14])
        if satellites is not None and satellites > 255:  # not a count the Position model takes
            out.attrs["satellites"] = satellites
            satellites = None
        out.position = (time_utc, latitude, longitude, valid, speed, course, altitude, satellites)
        return out


def _network(text: str, attrs: dict[str, AttributeValue]) -> None:
    """Cells and WiFi access points of a position sentence, summarised (see the module docstring)."""
    values = text.split(",")
    if len(values) >= 4 and _contains_hex_letter(values[3]):
        return  # another layout (traccar skips it too)
    cells: list[tuple[int, int, int, int]] = []
    wifi = 0
    try:
        cell_count = int(values[0])
        index = 1
        if cell_count > 0:
            index += 1  # timing advance
            mcc = int(values[index]) if values[index] else 0
            mnc = int(values[index + 1]) if values[index + 1] else 0
            index += 2
            for _ in range(cell_count):
                lac_text, cid_text = values[index], values[index + 1]
                lac = int(lac_text, 16 if _contains_hex_letter(lac_text) else 10)
                cid = int(cid_text, 16 if _contains_hex_letter(cid_text) else 10)
                index += 3  # lac, cid, rssi
                cells.append((mcc, mnc, lac, cid))
        if index < len(values) and values[index]:
            count = int(values[index])
            index += 1
            for _ in range(count):
                mac, rssi = values[index + 1], values[index + 2]
                index += 3  # name, mac, rssi
                if mac and mac != "0" and rssi:
                    wifi += 1
    except (ValueError, IndexError):
        pass  # a tail that does not parse: what was read is kept
    if cells:
        mcc, mnc, lac, cid = cells[0]
        attrs.update({"mcc": mcc, "mnc": mnc, "lac": lac, "cell_id": cid, "cell_count": len(cells)})
    if wifi:
        attrs["wifi_count"] = wifi


def _complete_header(raw: bytes) -> WatchHeader:
    if len(raw) < 2:
        raise DecodeError(DecodeReason.TRUNCATED, f"{len(raw)} bytes")
    if raw[0] != FRAME_START:
        raise DecodeError(DecodeReason.BAD_START_BYTES, f"starts with {raw[:1].hex()}")
    if raw[-1] != FRAME_END:
        raise DecodeError(DecodeReason.BAD_STOP_BYTES, f"ends with {raw[-1:].hex()}")
    try:
        header = parse_header(raw)
    except _IncompleteError:
        raise DecodeError(DecodeReason.TRUNCATED, "frame ends inside its header") from None
    if header.content_start > len(raw) - 1:
        raise DecodeError(DecodeReason.TRUNCATED, "frame ends inside its header")
    return header


def _split(raw: bytes) -> list[bytes]:
    """One frame, or several handed over as one: cut where a length field ends on ``][``."""
    parts = []
    rest = raw
    while True:
        header = _complete_header(rest)
        end = header.content_start + header.length
        if end + 1 < len(rest) and rest[end] == FRAME_END and rest[end + 1] == FRAME_START:
            parts.append(rest[: end + 1])
            rest = rest[end + 1 :]
            continue
        parts.append(rest)
        return parts


# -- stream framer -------------------------------------------------------------------------------


class WatchFramer(StepFramer):
    """Cuts ``[...]`` frames out of a TCP stream (see the module docstring for text vs binary content).

    Bytes before a ``[`` are reported as ``garbage``; so is a ``[`` whose header cannot be one, or a
    text frame interrupted by a new ``[``.  A frame (by its length field) longer than
    ``max_frame_size`` is reported as ``frame_too_long`` up to the next ``[``.
    """

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size=max(max_frame_size, MAX_HEADER + 2))

    def _skip_to_next_start(self, out: list[bytes | FramingError], reason: str, detail: str) -> None:
        following = self._buffer.find(FRAME_START, 1)
        self._emit_skip(out, following if following > 0 else len(self._buffer), reason, detail)

    def _step(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        if not buf:
            return False
        start = buf.find(FRAME_START)
        if start < 0:
            self._emit_skip(out, len(buf), "garbage", "no '['")
            return False
        if start > 0:
            self._emit_skip(out, start, "garbage", "bytes before '['")
        try:
            header = parse_header(buf)
        except _IncompleteError:
            return False
        except DecodeError as exc:
            self._skip_to_next_start(out, "garbage", f"'[' without a header: {exc.detail}")
            return True
        h = header.content_start
        total = h + header.length + 1
        binary = self._is_binary(h)
        if binary is None:
            return False
        if binary:
            if total > self.max_frame_size:
                self._skip_to_next_start(out, "frame_too_long", f"length field gives {total} bytes")
                return True
            if len(buf) < total:
                return False
            if buf[total - 1] == FRAME_END:
                return self._take(out, total)
            closing = buf.find(FRAME_END, h)  # the length is wrong: the first ']' ends the frame
            if closing >= 0:
                return self._take(out, closing + 1)
            if len(buf) >= self.max_frame_size:
                self._skip_to_next_start(out, "frame_too_long", "no ']' within the size limit")
                return True
            return False
        for i in range(h, min(len(buf), self.max_frame_size)):
            b = buf[i]
            if b == FRAME_END:
                return self._take(out, i + 1)
            if b == FRAME_START:
                self._emit_skip(out, i, "garbage", "text frame cut by a new '['")
                return True
        if len(buf) >= self.max_frame_size:
            self._skip_to_next_start(out, "frame_too_long", "no ']' within the size limit")
            return True
        return False

    def _is_binary(self, h: int) -> bool | None:
        """Whether the content at ``h`` is binary (media command or non-printable bytes); None: wait."""
        buf = self._buffer
        limit = min(len(buf), h + _COMMAND_SCAN)
        for i in range(h, limit):
            b = buf[i]
            if b in (ord(","), FRAME_END):
                if bytes(buf[h:i]).decode("latin-1") in MEDIA_COMMANDS:
                    return True
                break
            if not 0x20 <= b < 0x7F:
                return True
        else:
            if limit - h < _COMMAND_SCAN:
                return None  # the command name is not complete yet
        end = buf.find(FRAME_END, h)
        return not _printable_text(buf[h : end if end >= 0 else len(buf)])

    def _take(self, out: list[bytes | FramingError], count: int) -> bool:
        self._emit_frame(out, count)
        return True


def _printable_text(data: bytes | bytearray) -> bool:
    return all(0x20 <= b < 0x7F for b in data)


# -- simulated device ----------------------------------------------------------------------------


class WatchEncoder(DeviceEncoder):
    """A simulated watch: ``LK`` link first (answered with ``LK``), ``UD`` positions, ``AL`` alarms.

    ``LK`` doubles as the keep-alive.  The fix travels as text: time to the second, lat/lon to
    1e-6 degree, speed to 0.01 km/h, course and altitude to 0.1.
    """

    protocol = PROTOCOL

    def __init__(self, device_id: str, *, manufacturer: str = "3G", battery_level: int = 90, rssi: int = 80) -> None:
        super().__init__(device_id)
        if len(manufacturer) != 2:
            raise ValueError("the maker code is two characters")
        self.manufacturer = manufacturer
        self.battery_level = battery_level
        self.rssi = rssi
        self.steps = 0

    def _frame(self, content: str) -> bytes:
        return build_frame(self.manufacturer, self.device_id, content)

    def login(self) -> bytes:
        return self._frame(f"LK,{self.steps},0,{self.battery_level}")

    def heartbeat(self) -> bytes:
        return self.login()

    def location(self, fix: FixToSend) -> bytes:
        if fix.time_utc.tzinfo is None:
            raise ValueError("time_utc must be UTC-aware")
        status = 0x10 if fix.speed_kmh > 0 else 0
        command = "UD"
        if fix.alarm is not None:
            if fix.alarm not in ALARM_BITS:
                raise ValueError(f"unknown alarm {fix.alarm!r}; known: {', '.join(sorted(ALARM_BITS))}")
            status |= 1 << ALARM_BITS[fix.alarm]
            command = "AL"
        t = fix.time_utc.astimezone(UTC)
        fields = [
            command,
            t.strftime("%d%m%y"),
            t.strftime("%H%M%S"),
            "A" if fix.valid else "V",
            f"{abs(fix.latitude):.6f}",
            "N" if fix.latitude >= 0 else "S",
            f"{abs(fix.longitude):.6f}",
            "E" if fix.longitude >= 0 else "W",
            f"{fix.speed_kmh:.2f}",
            f"{fix.heading_deg % 360:.1f}",
            f"{fix.altitude_m:.1f}",
            str(fix.satellites),
            str(self.rssi),
            str(self.battery_level),
            str(self.steps),
            "0",
            f"{status:08X}",
            "0",
            "0",
        ]
        return self._frame(",".join(fields))

    def awaits_response(self, kind: str) -> bool:
        return kind in ("login", "heartbeat")


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=5093,
    transports=("tcp",),
    decoder_factory=WatchDecoder,
    framer_factory=WatchFramer,
    encoder_factory=WatchEncoder,
    payload="text",
)

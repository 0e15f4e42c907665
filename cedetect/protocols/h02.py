"""H02 (Sinotrack, "HQ" protocol of many Chinese vehicle trackers): decoder, stream framer, device encoder.

Modelled on traccar's ``H02ProtocolDecoder``/``H02FrameDecoder`` (message layouts, status word, the
replies it sends); the parsing here is our own, with named refusals where traccar returns nothing.

Frames
------
*Text* frames are ASCII, ``*<maker>,<id>,<command>,...#`` where the maker is two letters (``HQ``,
``hq``, ``TH``), possibly followed by ``\\r\\n``.  Commands:

``V1`` (and other ``V...`` types: ``V2``, ``V5``, ``V6``, ``V8``, ``V19``, ``VI1``, ...)
    ``hhmmss,<A|V|B|coding>,lat,N,lon,E,speed(knots),course[,battery],ddmmyy[,sim,ip,iccid],<status>[,...]``.
    Latitude/longitude come as ``DDMM.MMMM`` (the degrees may be missing), ``-DD-MM.MMMM`` or
    ``DDMMmmmm``.  After the status word either six fields ``odometer,temp,fuel,altitude,lac,cid``
    or free fields, kept as ``data1``, ``data2``, ... (traccar's ``io1`` ...).  A frame without a
    date takes the receive time (traccar does the same) and says so with ``time_assumed``.
``V4``
    a command reply: ``V4,<reply fields>,<the V1 layout>``; the reply goes into ``result``.
``V0`` / ``HTBT``
    heartbeat (``HTBT,<battery %>``); echoed back up to the command.
``NBR``
    neighbouring cells (``mcc,mnc,delay,count,lac,cid,rssi,...,ddmmyy,status``).
``LINK``
    link status (``rssi,satellites,battery %,steps,turnovers,ddmmyy,status``).
``V3``
    cell report (``mccmnc,count,cells...,battery(hex ADC),reboot,X,ddmmyy,status``).
``VP1``
    ``V,mcc,mnc,<lac,cid,rssi>Y...`` (cells) or ``A,lat,N,lon,E,speed,course,ddmmyy`` (a fix, no time of day).
``SMS``
    a text message from the device, kept in ``result``.

*Binary* frames start with ``$`` (0x24), then the id (5 bytes BCD, or 8 bytes BCD holding a
15-digit IMEI in 42-byte frames), ``hh mm ss`` and ``dd mm yy`` (BCD), latitude (4 bytes BCD
``DDMMmmmm``), a battery byte, longitude (5 bytes BCD ``DDDMMmmmm`` + a flag nibble: bit 1 valid,
bit 2 north, bit 3 east), speed (3 BCD digits, knots) + course (3 BCD digits), the status word
(uint32) and a model-specific tail.  Devices send 32- or 45-byte frames (42 with the long id; the
vectors also hold 46- and 48-byte ones): the frame has no length field.

All times are UTC (GPS time); speeds are converted from knots to km/h.

Status word
-----------
32 bits of negative logic, read as traccar does: bit 0 clear -> ``vibration``; else bit 1 or bit 18
clear -> ``sos``; else bit 2 clear -> ``overspeed``; else bit 19 clear -> ``power_cut`` (one alarm
per frame, in that priority); bit 10 set -> ``ignition``.  The word itself is ``raw_status``.  Other
bits (door, antenna, geofence in some vendors' sheets) differ between firmwares and are not
interpreted, as in traccar.

Acknowledgements (``DecodedMessage.response``), as traccar sends them
----------------------------------------------------------------------
* ``V1``: ``*HQ,<id>,V4,V1,<yyyyMMddHHmmss>#`` (receive time, UTC), when the frame names its id;
* ``NBR``: ``*HQ,<id>,V4,NBR,<yyyyMMddHHmmss>#``;
* ``V0``/``HTBT``: the frame up to its command, then ``#`` (``*HQ,<id>,HTBT#``).
Binary frames and the other commands get none.

Framing (:class:`H02Framer`)
----------------------------
A text frame runs from ``*`` + two letters + ``,`` to the first ``#`` (CR/LF between frames are
dropped silently).  A binary frame has no length field and no terminator: it ends where the next
frame begins.  The framer therefore cuts a binary frame at the first offset >= 32 where a plausible
frame starts (``*XX,`` or ``$`` + a BCD id and a valid time and date), waiting for those bytes;
with ``binary_length=`` (traccar's ``h02.messageLength``) it cuts at that fixed length instead and
needs no look-ahead.  Without a following frame within 128 bytes it falls back to 32 bytes, as
traccar does.  (traccar also cuts 32-byte frames starting with ``X`` and then drops them; here
such bytes are reported as garbage.)  A binary frame is therefore handed on only once the next frame begins to arrive
(when the length is not configured); a text frame at once.

Refusals
--------
``bad_start_bytes`` (neither ``*`` nor ``$``), ``bad_stop_bytes`` (a text frame without ``#``),
``truncated`` (a binary frame shorter than its layout), ``malformed`` (fields that do not parse),
``unknown_message_type`` (a command this decoder does not know and whose layout is not ``V1``'s;
traccar drops those too), ``no_device_id`` (an id-less frame on a connection without one),
``invalid_device_id``, ``invalid_time``, ``invalid_coordinates``.

Attributes
----------
============================  ==================================================================
``message_type``              str, the command (``V1``, ``NBR``, ...) or ``binary``
``raw_status``                int, the 32-bit status word
``alarm``                     str: ``vibration``, ``sos``, ``overspeed``, ``power_cut``
``ignition``                  bool
``battery_level``             int, percent
``battery_adc``               int, the raw battery reading of ``V3`` frames (traccar ``battery``)
``result``                    str, command reply / SMS text
``odometer_km``               float
``temp1_c``                   float
``fuel_level``                float
``mcc`` ``mnc`` ``lac``       int, serving (first) cell
``cell_id``                   int
``cell_count``                int, cells reported
``rssi``                      int, signal of the first cell (NBR) or of the link (LINK)
``satellites``                int, on messages without a position (LINK)
``steps`` ``turnovers``       int, LINK pedometer values
``iccid``                     str, SIM card id (``V19``)
``data1`` ...                 str, free fields after the status word, as sent
``time_assumed``              bool, the frame had no date: the fix carries the receive time
``device_time``               str, ISO time of a frame without a fix
============================  ==================================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum, auto
from typing import ClassVar, Final

from cedetect.models import AttributeValue
from cedetect.protocols.attributes import Alarm
from cedetect.protocols.base import (
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
from cedetect.protocols.common import datetime_2000, ddmm_minutes, parse_float, parse_int

PROTOCOL: Final = "h02"
KNOT_KMH: Final = 1.852

#: Shortest binary frame traccar frames (the layout needs 29 bytes with the short id, 32 with the long one).
BINARY_MIN_LENGTH: Final = 32
#: Longest binary frame the framer looks ahead over before falling back to :data:`BINARY_MIN_LENGTH`.
BINARY_MAX_LENGTH: Final = 128
#: Bytes of a binary frame's header the framer needs to judge it (``$``, 8-byte id, time, date).
_BINARY_HEADER: Final = 15
DEFAULT_MAX_FRAME_SIZE: Final = 1024

_MARKERS: Final = b"*$"

# -- text layouts ---------------------------------------------------------------------------------


def _coordinate(prefix: str, hemispheres: str) -> str:
    return (
        rf"(?:-(?P<{prefix}_d1>\d+)-(?P<{prefix}_m1>\d+\.\d+)"
        rf"|(?P<{prefix}_d2>\d*)(?P<{prefix}_m2>\d\d\.\d+)"
        rf"|(?P<{prefix}_d3>\d+)(?P<{prefix}_m3>\d\d)(?P<{prefix}_f3>\d{{4}}))"
        rf",(?P<{prefix}_h>[{hemispheres}]),"
    )


_HEX = "[0-9A-Fa-f]"


def _text_layout(sim_info: bool) -> re.Pattern[str]:
    return re.compile(
        r"\*(?P<maker>[^,]{2}),(?P<id>\d+)?,"
        r"(?:V4,(?P<response>.*),|(?P<type>V[^,]*),)"
        r"(?:(?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d))?,"
        r"(?:(?P<validity>[ABV])?,|(?P<coding>\d+),)"
        + _coordinate("lat", "NS")
        + _coordinate("lon", "EW")
        + r" *(?P<speed>\d+\.?\d*),"
        r"(?P<course>\d+\.?\d*)?,"
        r"(?:\d+,(?=\d{6}(?:[,#]|$)))?"  # battery, only before a date (a date is never read as one)
        r"(?:(?P<dd>\d\d)(?P<mo>\d\d)(?P<yy>\d\d))?"
        + (r"(?P<sim>,[^,]*,[^,]*,[^,]*)?" if sim_info else "")
        + rf"(?:,(?P<status>{_HEX}{{8}})"
        rf"(?:,(?P<odometer>\d+),(?P<temp>-?\d+),(?P<fuel>\d+\.\d+),(?P<alt>-?\d+),(?P<lac>{_HEX}+),(?P<cid>{_HEX}+)"
        r"|,(?P<data>.*))?)?"
        r"#",
        re.DOTALL,
    )


#: The ``V1`` layout, with the optional SIM fields (phone, IP, ICCID) of ``V19`` frames before the status
#: word, and without them (when the first reading finds no status word, it took the status for SIM data).
_TEXT: Final = _text_layout(sim_info=True)
_TEXT_NO_SIM: Final = _text_layout(sim_info=False)
_ICCID = re.compile(r"89\d{16,20}\D?")
_NBR = re.compile(
    r"\*[^,]{2},(?P<id>\d+),NBR,(?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d),(?P<mcc>\d+),(?P<mnc>\d+),\d+,\d+,"
    rf"(?P<cells>(?:\d+,\d+,-?\d+,)+)(?P<dd>\d\d)(?P<mo>\d\d)(?P<yy>\d\d),(?P<status>{_HEX}{{8}}).*",
    re.DOTALL,
)
_LINK = re.compile(
    r"\*[^,]{2},(?P<id>\d+),LINK,(?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d),(?P<rssi>\d+),(?P<sat>\d+),(?P<battery>\d+),"
    rf"(?P<steps>\d+),(?P<turnovers>\d+),(?P<dd>\d\d)(?P<mo>\d\d)(?P<yy>\d\d),(?P<status>{_HEX}{{8}}).*",
    re.DOTALL,
)
_V3 = re.compile(
    r"\*[^,]{2},(?P<id>\d+),V3,(?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d),(?P<mcc>\d{3})(?P<mnc>\d+),(?P<count>\d+),"
    rf"(?P<cells>.*),(?P<battery>{_HEX}{{4}}),\d+,X,(?P<dd>\d\d)(?P<mo>\d\d)(?P<yy>\d\d),(?P<status>{_HEX}{{8}})#?",
    re.DOTALL,
)
_VP1 = re.compile(
    r"\*[^,]{2},(?P<id>\d+),VP1,"
    r"(?:V,(?P<mcc>\d+),(?P<mnc>\d+),(?P<cells>[^#]+)"
    r"|[AB],(?P<lat_d>\d+)(?P<lat_m>\d\d\.\d+),(?P<lat_h>[NS]),(?P<lon_d>\d+)(?P<lon_m>\d\d\.\d+),(?P<lon_h>[EW]),"
    r"(?P<speed>\d+\.\d+),(?P<course>\d+\.\d+),(?P<dd>\d\d)(?P<mo>\d\d)(?P<yy>\d\d)).*",
    re.DOTALL,
)
_HTBT = re.compile(r"\*[^,]{2},(?P<id>\d+),(?:HTBT|V0)(?:,(?P<battery>\d+))?.*", re.DOTALL)
_SMS = re.compile(r"\*[^,]{2},(?P<id>\d+),SMS,(?P<text>.+)#", re.DOTALL)
_ID = re.compile(r"\d+")


# -- status word ----------------------------------------------------------------------------------

_BIT_VIBRATION: Final = 0
_BIT_SOS: Final = (1, 18)
_BIT_OVERSPEED: Final = 2
_BIT_IGNITION: Final = 10
_BIT_POWER: Final = 19


def status_attributes(status: int) -> dict[str, AttributeValue]:
    """``alarm`` (at most one, traccar's priority), ``ignition`` and ``raw_status`` of a status word."""
    attributes: dict[str, AttributeValue] = {}

    def clear(bit: int) -> bool:
        return not (status >> bit) & 1

    if clear(_BIT_VIBRATION):
        attributes["alarm"] = Alarm.VIBRATION.value
    elif any(clear(bit) for bit in _BIT_SOS):
        attributes["alarm"] = Alarm.SOS.value
    elif clear(_BIT_OVERSPEED):
        attributes["alarm"] = Alarm.OVERSPEED.value
    elif clear(_BIT_POWER):
        attributes["alarm"] = Alarm.POWER_CUT.value
    attributes["ignition"] = bool((status >> _BIT_IGNITION) & 1)
    attributes["raw_status"] = status
    return attributes


def encode_status(*, ignition: bool, alarm: str | None = None) -> int:
    """The status word reporting ``ignition`` and one alarm of :data:`STATUS_ALARMS` (or none)."""
    status = 0xFFFFFFFF
    if not ignition:
        status &= ~(1 << _BIT_IGNITION)
    if alarm is not None:
        status &= ~(1 << STATUS_ALARMS[alarm])
    return status


#: The alarms a status word can carry, with the bit an encoder clears for each.
STATUS_ALARMS: Final[dict[str, int]] = {
    Alarm.VIBRATION.value: _BIT_VIBRATION,
    Alarm.SOS.value: _BIT_SOS[0],
    Alarm.OVERSPEED.value: _BIT_OVERSPEED,
    Alarm.POWER_CUT.value: _BIT_POWER,
}


def _battery_level(value: int) -> int | None:
    """traccar's reading of the battery byte of binary frames: grades 1-6, percent, or 0xF1-0xF6."""
    if value == 0:
        return None
    if value <= 3:
        return (value - 1) * 10
    if value <= 6:
        return (value - 1) * 20
    if value <= 100:
        return value
    if 0xF1 <= value <= 0xF6:
        return value - 0xF0
    return None


# -- small parsers ----------------------------------------------------------------------------------


def _device_time(match: re.Match[str]) -> dict[str, AttributeValue]:
    """``device_time`` of a frame without a fix; left out when the device's clock gives an impossible time."""
    try:
        return {"device_time": _match_time(match).isoformat()}
    except DecodeError:
        return {}


def _match_time(match: re.Match[str]) -> datetime:
    """``dd mo yy`` and (optional) ``hh mi ss`` groups of a match."""
    groups = match.groupdict()
    hour, minute, second = (parse_int(groups[key], key) if groups.get(key) else 0 for key in ("hh", "mi", "ss"))
    return datetime_2000(
        parse_int(match["yy"], "year"),
        parse_int(match["mo"], "month"),
        parse_int(match["dd"], "day"),
        hour,
        minute,
        second,
    )


def _match_coordinate(match: re.Match[str], prefix: str) -> float:
    if match[f"{prefix}_m1"] is not None:
        value = parse_int(match[f"{prefix}_d1"], "degrees") + parse_float(match[f"{prefix}_m1"], "minutes") / 60
    elif match[f"{prefix}_m2"] is not None:
        degrees = match[f"{prefix}_d2"]
        value = (parse_int(degrees, "degrees") if degrees else 0) + parse_float(match[f"{prefix}_m2"], "minutes") / 60
    else:
        minutes = parse_int(match[f"{prefix}_m3"], "minutes") + parse_int(match[f"{prefix}_f3"], "minutes") / 10_000
        value = parse_int(match[f"{prefix}_d3"], "degrees") + minutes / 60
    return -value if match[f"{prefix}_h"] in ("S", "W") else value


def _heading(course: float) -> float:
    """Course as a heading in [0, 360): 360 is north; anything else out of range is refused later."""
    return 0.0 if course == 360.0 else course


def _bcd(data: bytes, what: str) -> str:
    digits = data.hex()
    if not digits.isdigit():
        raise DecodeError(DecodeReason.MALFORMED, f"{what}: {digits} is not BCD")
    return digits


def _reply_time(received_utc: datetime) -> str:
    return received_utc.astimezone(UTC).strftime("%Y%m%d%H%M%S")


# -- binary layout ----------------------------------------------------------------------------------


class _Verdict(Enum):
    YES = auto()
    NO = auto()
    MORE = auto()


def _bcd_byte(value: int, low: int, high: int) -> bool:
    if (value >> 4) > 9 or (value & 0x0F) > 9:
        return False
    return low <= (value >> 4) * 10 + (value & 0x0F) <= high


def _judge_binary_layout(buf: bytes | bytearray, at: int, id_length: int) -> _Verdict:
    """Whether ``buf[at:]`` starts a binary frame with an id of ``id_length`` bytes (BCD), time and date."""
    checks: list[Callable[[int], bool]] = [lambda b: b == 0x24]
    for index in range(id_length):
        last_long = id_length == 8 and index == 7
        checks.append((lambda b: (b >> 4) <= 9) if last_long else (lambda b: _bcd_byte(b, 0, 99)))
    checks += [
        lambda b: _bcd_byte(b, 0, 23),
        lambda b: _bcd_byte(b, 0, 59),
        lambda b: _bcd_byte(b, 0, 59),
        lambda b: _bcd_byte(b, 1, 31),
        lambda b: _bcd_byte(b, 1, 12),
        lambda b: _bcd_byte(b, 0, 99),
    ]
    for offset, check in enumerate(checks):
        if at + offset >= len(buf):
            return _Verdict.MORE
        if not check(buf[at + offset]):
            return _Verdict.NO
    if not any(buf[at + 1 : at + 1 + id_length]):
        return _Verdict.NO  # an all-zero id: a run of zero bytes, not a device
    return _Verdict.YES


def _judge_binary(buf: bytes | bytearray, at: int) -> _Verdict:
    verdicts = (_judge_binary_layout(buf, at, 5), _judge_binary_layout(buf, at, 8))
    if _Verdict.YES in verdicts:
        return _Verdict.YES
    if verdicts == (_Verdict.NO, _Verdict.NO):
        return _Verdict.NO
    return _Verdict.MORE


def _judge_text(buf: bytes | bytearray, at: int) -> _Verdict:
    """Whether ``buf[at:]`` starts a text frame: ``*``, two ASCII letters, ``,``."""
    checks: tuple[Callable[[int], bool], ...] = (
        lambda b: b == 0x2A,
        lambda b: 0x41 <= (b & 0xDF) <= 0x5A,
        lambda b: 0x41 <= (b & 0xDF) <= 0x5A,
        lambda b: b == 0x2C,
    )
    for offset, check in enumerate(checks):
        if at + offset >= len(buf):
            return _Verdict.MORE
        if not check(buf[at + offset]):
            return _Verdict.NO
    return _Verdict.YES


def _judge_start(buf: bytes | bytearray, at: int) -> _Verdict:
    if buf[at] == 0x2A:
        return _judge_text(buf, at)
    if buf[at] == 0x24:
        return _judge_binary(buf, at)
    return _Verdict.NO


# -- decoder ----------------------------------------------------------------------------------------


class H02Decoder(ProtocolDecoder):
    """Decodes the text and binary frames of one H02 connection (see the module docstring).

    Each frame names its device; a frame without an id (``*HQ,,V1,...``) uses the connection's.
    """

    protocol: ClassVar[str] = PROTOCOL

    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        try:
            if frame[:1] == b"$":
                return [self._binary(bytes(frame), received_utc)]
            return self._text(bytes(frame), received_utc)
        except DecodeError as exc:
            raise exc.with_raw(frame) from None

    # -- identity and message building --

    def _identify(self, device_id: str | None) -> str:
        if device_id:
            return self._set_device_id(device_id)
        return self._require_device_id()

    def _located(
        self,
        *,
        kind: str,
        raw: bytes,
        received_utc: datetime,
        time_utc: datetime,
        latitude: float,
        longitude: float,
        speed_knots: float,
        course: float,
        valid: bool,
        attributes: dict[str, AttributeValue],
        altitude_m: float | None = None,
        response: bytes | None = None,
    ) -> DecodedMessage:
        device_id = self._require_device_id()
        position = make_position(
            device_id=device_id,
            protocol=PROTOCOL,
            time_utc=time_utc,
            received_utc=received_utc,
            latitude=latitude,
            longitude=longitude,
            speed_kmh=speed_knots * KNOT_KMH,
            heading_deg=_heading(course),
            valid=valid,
            altitude_m=altitude_m,
            attributes=attributes,
        )
        if kind == "location" and "alarm" in attributes:
            kind = "alarm"
        return DecodedMessage(kind, device_id, position, response, raw, dict(position.attributes))

    def _unlocated(
        self,
        kind: str,
        raw: bytes,
        attributes: dict[str, AttributeValue],
        response: bytes | None = None,
    ) -> DecodedMessage:
        return DecodedMessage(kind, self._require_device_id(), None, response, raw, attributes)

    # -- binary --

    def _binary(self, frame: bytes, received_utc: datetime) -> DecodedMessage:
        if len(frame) < 29:
            raise DecodeError(DecodeReason.TRUNCATED, f"{len(frame)} bytes, a binary frame has at least 29")
        # traccar knows the long id by the 42-byte length only; we take the reading that gives a
        # possible id, time and date, and the length only when both (or neither) do.
        short_fits = _judge_binary_layout(frame, 0, 5) is _Verdict.YES
        long_fits = _judge_binary_layout(frame, 0, 8) is _Verdict.YES
        long_id = long_fits if short_fits != long_fits else len(frame) == 42
        if long_id:
            device_id = frame[1:9].hex()[:15]  # 15 digits and a padding nibble
            if not device_id.isdigit():
                raise DecodeError(DecodeReason.MALFORMED, f"device id {device_id} is not BCD")
            body = frame[9:]
        else:
            device_id = _bcd(frame[1:6], "device id")
            body = frame[6:]
        if len(body) < 23:
            raise DecodeError(DecodeReason.TRUNCATED, f"{len(frame)} bytes, the long-id layout needs 32")
        self._identify(device_id)

        clock = _bcd(body[0:6], "time and date")
        time_utc = datetime_2000(
            int(clock[10:12]), int(clock[8:10]), int(clock[6:8]), int(clock[0:2]), int(clock[2:4]), int(clock[4:6])
        )
        lat_digits = _bcd(body[6:10], "latitude")
        latitude = int(lat_digits[0:2]) + int(lat_digits[2:8]) / 10_000 / 60
        battery = body[10]
        lon_hex = body[11:16].hex()
        if not lon_hex[:9].isdigit():
            raise DecodeError(DecodeReason.MALFORMED, f"longitude: {lon_hex} is not BCD")
        longitude = int(lon_hex[0:3]) + int(lon_hex[3:9]) / 10_000 / 60
        flags = int(lon_hex[9], 16)
        motion = _bcd(body[16:19], "speed and course")
        speed_knots = float(int(motion[0:3]))
        course = float(int(motion[3:6]))
        status = int.from_bytes(body[19:23])

        if not flags & 0x04:
            latitude = -latitude
        if not flags & 0x08:
            longitude = -longitude
        attributes: dict[str, AttributeValue] = {"message_type": "binary"}
        level = _battery_level(battery)
        if level is not None:
            attributes["battery_level"] = level
        attributes.update(status_attributes(status))
        return self._located(
            kind="location",
            raw=frame,
            received_utc=received_utc,
            time_utc=time_utc,
            latitude=latitude,
            longitude=longitude,
            speed_knots=speed_knots,
            course=course,
            valid=bool(flags & 0x02),
            attributes=attributes,
        )

    # -- text --

    def _text(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        if frame.lstrip()[:1] != b"*":
            raise DecodeError(DecodeReason.BAD_START_BYTES, f"frame starts with {frame[:1]!r}, not '*' or '$'")
        try:
            sentence = frame.decode("ascii").strip()
        except UnicodeDecodeError:
            raise DecodeError(DecodeReason.MALFORMED, "non-ASCII byte in a text frame") from None
        if not sentence.endswith("#"):
            raise DecodeError(DecodeReason.BAD_STOP_BYTES, "a text frame ends with '#'")
        fields = sentence[1:-1].split(",")
        if len(fields) < 3 or len(fields[0]) != 2:
            raise DecodeError(DecodeReason.MALFORMED, "a text frame is *<maker>,<id>,<command>,...#")
        device_id, command = fields[1], fields[2]
        if device_id and not _ID.fullmatch(device_id):
            raise DecodeError(DecodeReason.INVALID_DEVICE_ID, f"{device_id!r} is not numeric")
        self._identify(device_id)

        if command in ("V0", "HTBT"):
            return [self._heartbeat(sentence, frame, fields)]
        if command == "NBR":
            return [self._nbr(sentence, frame, received_utc)]
        if command == "LINK":
            return [self._link(sentence, frame)]
        if command == "V3":
            return [self._v3(sentence, frame)]
        if command == "VP1":
            return [self._vp1(sentence, frame, received_utc)]
        if command == "SMS":
            return [self._sms(sentence, frame)]
        return [self._location(sentence, frame, fields, received_utc)]

    def _heartbeat(self, sentence: str, raw: bytes, fields: list[str]) -> DecodedMessage:
        match = _HTBT.fullmatch(sentence)
        attributes: dict[str, AttributeValue] = {"message_type": fields[2]}
        if match is not None and match["battery"] is not None:
            attributes["battery_level"] = parse_int(match["battery"], "battery")
        echo = "*" + ",".join(fields[:3]) + "#"
        return self._unlocated("heartbeat", raw, attributes, echo.encode("ascii"))

    def _nbr(self, sentence: str, raw: bytes, received_utc: datetime) -> DecodedMessage:
        match = _NBR.fullmatch(sentence)
        if match is None:
            raise DecodeError(DecodeReason.MALFORMED, "NBR frame does not follow time,mcc,mnc,...,cells,date,status")
        cells = match["cells"].rstrip(",").split(",")
        attributes: dict[str, AttributeValue] = {
            "message_type": "NBR",
            **_device_time(match),
            "mcc": parse_int(match["mcc"], "mcc"),
            "mnc": parse_int(match["mnc"], "mnc"),
            "lac": parse_int(cells[0], "lac"),
            "cell_id": parse_int(cells[1], "cell id"),
            "rssi": parse_int(cells[2], "rssi"),
            "cell_count": len(cells) // 3,
        }
        attributes.update(status_attributes(parse_int(match["status"], "status", 16)))
        response = f"*HQ,{match['id']},V4,NBR,{_reply_time(received_utc)}#".encode("ascii")
        return self._unlocated("lbs", raw, attributes, response)

    def _link(self, sentence: str, raw: bytes) -> DecodedMessage:
        match = _LINK.fullmatch(sentence)
        if match is None:
            raise DecodeError(DecodeReason.MALFORMED, "LINK frame does not follow time,rssi,sat,battery,...,status")
        attributes: dict[str, AttributeValue] = {
            "message_type": "LINK",
            **_device_time(match),
            "rssi": parse_int(match["rssi"], "rssi"),
            "satellites": parse_int(match["sat"], "satellites"),
            "battery_level": parse_int(match["battery"], "battery"),
            "steps": parse_int(match["steps"], "steps"),
            "turnovers": parse_int(match["turnovers"], "turnovers"),
        }
        attributes.update(status_attributes(parse_int(match["status"], "status", 16)))
        return self._unlocated("status", raw, attributes)

    def _v3(self, sentence: str, raw: bytes) -> DecodedMessage:
        match = _V3.fullmatch(sentence)
        if match is None:
            raise DecodeError(DecodeReason.MALFORMED, "V3 frame does not follow time,mccmnc,count,cells,...,status")
        count = parse_int(match["count"], "cell count")
        values = match["cells"].split(",")
        if count < 1 or len(values) < 2:
            raise DecodeError(DecodeReason.MALFORMED, "V3 frame without a cell")
        attributes: dict[str, AttributeValue] = {
            "message_type": "V3",
            **_device_time(match),
            "mcc": parse_int(match["mcc"], "mcc"),
            "mnc": parse_int(match["mnc"], "mnc"),
            "lac": parse_int(values[0], "lac"),
            "cell_id": parse_int(values[1], "cell id"),
            "cell_count": count,
            "battery_adc": parse_int(match["battery"], "battery", 16),
        }
        attributes.update(status_attributes(parse_int(match["status"], "status", 16)))
        return self._unlocated("lbs", raw, attributes)

    def _vp1(self, sentence: str, raw: bytes, received_utc: datetime) -> DecodedMessage:
        match = _VP1.fullmatch(sentence)
        if match is None:
            raise DecodeError(DecodeReason.MALFORMED, "VP1 frame is neither V,mcc,mnc,cells nor A,lat,lon,...")
        if match["cells"] is not None:
            cells = [cell.split(",") for cell in match["cells"].split("Y") if cell]
            if not cells or len(cells[0]) < 2:
                raise DecodeError(DecodeReason.MALFORMED, "VP1 frame without a cell")
            attributes: dict[str, AttributeValue] = {
                "message_type": "VP1",
                "mcc": parse_int(match["mcc"], "mcc"),
                "mnc": parse_int(match["mnc"], "mnc"),
                "lac": parse_int(cells[0][0], "lac"),
                "cell_id": parse_int(cells[0][1], "cell id"),
                "cell_count": len(cells),
            }
            if len(cells[0]) > 2:
                attributes["rssi"] = parse_int(cells[0][2], "rssi")
            return self._unlocated("lbs", raw, attributes)
        latitude = parse_int(match["lat_d"], "degrees") + parse_float(match["lat_m"], "minutes") / 60
        longitude = parse_int(match["lon_d"], "degrees") + parse_float(match["lon_m"], "minutes") / 60
        return self._located(
            kind="location",
            raw=raw,
            received_utc=received_utc,
            time_utc=_match_time(match),  # the layout has a date and no time of day
            latitude=-latitude if match["lat_h"] == "S" else latitude,
            longitude=-longitude if match["lon_h"] == "W" else longitude,
            speed_knots=parse_float(match["speed"], "speed"),
            course=parse_float(match["course"], "course"),
            valid=True,
            attributes={"message_type": "VP1"},
        )

    def _sms(self, sentence: str, raw: bytes) -> DecodedMessage:
        match = _SMS.fullmatch(sentence)
        if match is None:
            raise DecodeError(DecodeReason.MALFORMED, "SMS frame without text")
        return self._unlocated("command_reply", raw, {"message_type": "SMS", "result": match["text"]})

    def _location(self, sentence: str, raw: bytes, fields: list[str], received_utc: datetime) -> DecodedMessage:
        command = fields[2]
        match = _TEXT.fullmatch(sentence)
        if match is not None and match["status"] is None:
            match = _TEXT_NO_SIM.fullmatch(sentence) or match
        if match is None:
            return self._without_fix(raw, fields)
        attributes: dict[str, AttributeValue] = {"message_type": command}
        kind = "location"
        if match["response"] is not None:
            attributes["result"] = match["response"]
            kind = "command_reply"
        response = None
        if match["type"] == "V1" and match["id"]:
            response = f"*HQ,{match['id']},V4,V1,{_reply_time(received_utc)}#".encode("ascii")

        # a coding scheme in place of the validity flag: traccar reads the fix as valid
        valid = match["coding"] is not None or match["validity"] == "A"
        if match["yy"] is not None:
            time_utc = _match_time(match)
        else:
            time_utc = received_utc
            attributes["time_assumed"] = True

        if match.groupdict().get("sim") is not None:
            iccid = match["sim"].split(",")[3].strip()
            if _ICCID.fullmatch(iccid):
                attributes["iccid"] = iccid
        if match["status"] is not None:
            attributes.update(status_attributes(parse_int(match["status"], "status", 16)))
        altitude = None
        if match["odometer"] is not None:
            attributes["odometer_km"] = parse_int(match["odometer"], "odometer") / 1000
            attributes["temp1_c"] = float(parse_int(match["temp"], "temperature"))
            attributes["fuel_level"] = parse_float(match["fuel"], "fuel")
            altitude = float(parse_int(match["alt"], "altitude"))
            attributes["lac"] = parse_int(match["lac"], "lac", 16)
            attributes["cell_id"] = parse_int(match["cid"], "cell id", 16)
        if match["data"] is not None:
            for index, value in enumerate(match["data"].split(","), start=1):
                attributes[f"data{index}"] = value.strip()

        return self._located(
            kind=kind,
            raw=raw,
            received_utc=received_utc,
            time_utc=time_utc,
            latitude=_match_coordinate(match, "lat"),
            longitude=_match_coordinate(match, "lon"),
            speed_knots=parse_float(match["speed"], "speed"),
            course=parse_float(match["course"], "course") if match["course"] else 0.0,
            valid=valid,
            attributes=attributes,
            altitude_m=altitude,
            response=response,
        )

    def _without_fix(self, raw: bytes, fields: list[str]) -> DecodedMessage:
        """A ``V...`` frame whose latitude and longitude are empty: its status word, no position."""
        command = fields[2]
        if not command.startswith("V"):
            raise DecodeError(DecodeReason.UNKNOWN_MESSAGE_TYPE, f"command {command!r}")
        # *XX,id,V1,time,validity,lat,N,lon,E,speed,course,date,status[,data...]
        if len(fields) < 13 or fields[5] or fields[7] or fields[6] not in ("N", "S") or fields[8] not in ("E", "W"):
            raise DecodeError(DecodeReason.MALFORMED, f"{command} frame does not follow the V1 layout")
        attributes: dict[str, AttributeValue] = {"message_type": command}
        status = fields[12]
        if len(status) != 8:
            raise DecodeError(DecodeReason.MALFORMED, f"status word {status!r}")
        attributes.update(status_attributes(parse_int(status, "status", 16)))
        for index, value in enumerate(fields[13:], start=1):
            attributes[f"data{index}"] = value.strip()
        return self._unlocated("status", raw, attributes)


# -- framer -----------------------------------------------------------------------------------------


class H02Framer(StepFramer):
    """Cuts the mixed H02 stream into text and binary frames (see the module docstring).

    ``binary_length`` fixes the length of binary frames (traccar's ``h02.messageLength``); by default
    a binary frame ends where the next frame begins.
    """

    def __init__(self, *, binary_length: int | None = None, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if binary_length is not None and not 29 <= binary_length <= BINARY_MAX_LENGTH:
            raise ValueError(f"binary_length must be in [29, {BINARY_MAX_LENGTH}]")
        super().__init__(max_frame_size=max(max_frame_size, BINARY_MAX_LENGTH + _BINARY_HEADER))
        self.binary_length = binary_length

    def _next_marker(self, start: int) -> int:
        found = [index for marker in _MARKERS if (index := self._buffer.find(marker, start)) >= 0]
        return min(found) if found else -1

    def _skip_to_next_marker(self, out: list[bytes | FramingError], reason: str, detail: str) -> None:
        following = self._next_marker(1)
        self._emit_skip(out, following if following > 0 else len(self._buffer), reason, detail)

    def _step(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        if not buf:
            return False
        blank = 0
        while blank < len(buf) and buf[blank] in (0x0D, 0x0A):
            blank += 1
        if blank:
            del buf[:blank]  # line ends after a text frame
            return True
        start = self._next_marker(0)
        if start < 0:
            self._emit_skip(out, len(buf), "garbage", "no frame marker")
            return False
        if start > 0:
            self._emit_skip(out, start, "garbage", "bytes before a frame marker")
            return True
        if buf[0] == 0x2A:
            return self._text_step(out)
        return self._binary_step(out)

    def _text_step(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        header = _judge_text(buf, 0)
        if header is _Verdict.MORE:
            return False
        if header is _Verdict.NO:
            self._skip_to_next_marker(out, "garbage", "'*' not followed by a maker and a comma")
            return True
        limit = min(len(buf), self.max_frame_size)
        for index in range(4, limit):
            byte = buf[index]
            if byte == 0x23:  # '#'
                self._emit_frame(out, index + 1)
                return True
            if not 0x20 <= byte <= 0x7E:
                self._emit_skip(out, index, "malformed", "non-text byte inside a text frame")
                return True
            if byte in _MARKERS:
                verdict = _judge_start(buf, index)
                if verdict is _Verdict.MORE:
                    return False
                if verdict is _Verdict.YES:
                    self._emit_skip(out, index, "truncated", "a new frame starts before '#'")
                    return True
        if len(buf) >= self.max_frame_size:
            self._skip_to_next_marker(out, "frame_too_long", f"no '#' within {self.max_frame_size} bytes")
            return True
        return False

    def _binary_step(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        header = _judge_binary(buf, 0)
        if header is _Verdict.MORE:
            return False
        if header is _Verdict.NO:
            self._skip_to_next_marker(out, "garbage", "'$' without a BCD id, time and date")
            return True
        if self.binary_length is not None:
            if len(buf) < self.binary_length:
                return False
            self._emit_frame(out, self.binary_length)
            return True
        for length in range(BINARY_MIN_LENGTH, BINARY_MAX_LENGTH + 1):
            if length >= len(buf):
                return False
            if buf[length] not in _MARKERS:
                continue
            verdict = _judge_start(buf, length)
            if verdict is _Verdict.MORE:
                return False
            if verdict is _Verdict.YES:
                self._emit_frame(out, length)
                return True
        self._emit_frame(out, BINARY_MIN_LENGTH)  # no next frame in sight: traccar's default length
        return True


# -- frame builders and the simulated device ------------------------------------------------------


def encode_text_location(
    device_id: str,
    *,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed_knots: float,
    course: int,
    valid: bool,
    status: int,
    command: str = "V1",
    maker: str = "HQ",
) -> bytes:
    """A ``*HQ,<id>,V1,...#`` location frame."""
    t = time_utc.astimezone(UTC)
    fields = [
        f"*{maker}",
        device_id,
        command,
        t.strftime("%H%M%S"),
        "A" if valid else "V",
        ddmm_minutes(latitude, 2),
        "S" if latitude < 0 else "N",
        ddmm_minutes(longitude, 3),
        "W" if longitude < 0 else "E",
        f"{speed_knots:.2f}",
        f"{course % 360:03d}",
        t.strftime("%d%m%y"),
        f"{status:08X}",
    ]
    return (",".join(fields) + "#").encode("ascii")


def encode_binary_location(
    device_id: str,
    *,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed_knots: int,
    course: int,
    valid: bool,
    status: int,
    battery: int = 6,
    record: int = 0,
) -> bytes:
    """A ``$`` binary frame: 32 bytes for a 10-digit id, 42 for a 15-digit one (the long-id layout)."""
    if not device_id.isdigit() or len(device_id) not in (10, 15):
        raise ValueError("a binary H02 frame carries a 10- or 15-digit id")
    if not 0 <= speed_knots <= 999 or not 0 <= course <= 999:
        raise ValueError("speed (knots) and course have three BCD digits")
    t = time_utc.astimezone(UTC)
    identity = bytes.fromhex(device_id + "0" if len(device_id) == 15 else device_id)
    clock = bytes.fromhex(t.strftime("%H%M%S%d%m%y"))
    lat = bytes.fromhex(ddmm_minutes(latitude, 2).replace(".", ""))
    flags = (0x02 if valid else 0) | (0x04 if latitude >= 0 else 0) | (0x08 if longitude >= 0 else 0)
    lon = bytes.fromhex(ddmm_minutes(longitude, 3).replace(".", "") + f"{flags:X}")
    motion = bytes.fromhex(f"{speed_knots:03d}{course:03d}")
    body = b"$" + identity + clock + lat + bytes([battery]) + lon + motion + status.to_bytes(4)
    tail = b"\xff" + bytes(9) if len(device_id) == 15 else b"\xff\x00" + bytes([record & 0xFF])
    return body + tail


class H02Encoder(DeviceEncoder):
    """A simulated H02 device: ``V1`` text frames (or ``$`` binary frames) and ``HTBT`` heartbeats.

    H02 has no login.  The device id must be numeric (10 or 15 digits for binary frames).  A fix's
    alarm must be one of :data:`STATUS_ALARMS` (the ones the status word can carry).
    """

    protocol: ClassVar[str] = PROTOCOL

    def __init__(self, device_id: str, *, binary: bool = False, battery_level: int = 90) -> None:
        super().__init__(device_id)
        if not device_id.isdigit():
            raise ValueError("H02 device ids are numeric")
        if binary and len(device_id) not in (10, 15):
            raise ValueError("binary H02 frames carry a 10- or 15-digit id")
        self.binary = binary
        self.battery_level = battery_level
        self.record = 0

    def location(self, fix: FixToSend) -> bytes:
        if fix.alarm is not None and fix.alarm not in STATUS_ALARMS:
            raise ValueError(f"an H02 status word cannot carry the alarm {fix.alarm!r}")
        status = encode_status(ignition=fix.ignition, alarm=fix.alarm)
        course = round(fix.heading_deg) % 360
        if self.binary:
            self.record = (self.record + 1) % 0x100
            return encode_binary_location(
                self.device_id,
                time_utc=fix.time_utc,
                latitude=fix.latitude,
                longitude=fix.longitude,
                speed_knots=min(round(fix.speed_kmh / KNOT_KMH), 999),
                course=course,
                valid=fix.valid,
                status=status,
                battery=min(max(self.battery_level, 7), 100),
                record=self.record,
            )
        return encode_text_location(
            self.device_id,
            time_utc=fix.time_utc,
            latitude=fix.latitude,
            longitude=fix.longitude,
            speed_knots=fix.speed_kmh / KNOT_KMH,
            course=course,
            valid=fix.valid,
            status=status,
        )

    def heartbeat(self) -> bytes:
        return f"*HQ,{self.device_id},HTBT,{self.battery_level}#".encode("ascii")

    def awaits_response(self, kind: str) -> bool:
        return kind == "heartbeat"


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=5013,
    transports=("tcp", "udp"),
    decoder_factory=H02Decoder,
    framer_factory=H02Framer,
    encoder_factory=H02Encoder,
    # mostly text frames: the CLI then takes --text for them and --hex for the binary ones
    payload="text",
)

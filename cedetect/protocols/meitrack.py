"""Meitrack (MVT/T3xx/T622/P99 ... trackers): decoder, stream framer and frame builders.

Modelled on traccar's ``MeitrackProtocolDecoder``, with the integrity checks traccar leaves out.

Frame
-----
``$$<flag><length>,<imei>,<command>,<data>*<checksum>\\r\\n``.  ``<flag>`` is one character the
device picks, ``<length>`` is decimal and counts every byte from the comma after it to the final
``\\r\\n`` inclusive, ``<checksum>`` is the sum of all bytes from ``$$`` to ``*`` inclusive, modulo 256,
as two hex digits.  Text commands (``AAA`` ...) carry ASCII data; ``CCC``/``CCE`` carry binary
records (little-endian) between ``CCE,`` and ``*``, so the frame is located by its length field, never
by searching for ``*``.  The server's commands and acknowledgements use the same layout with ``@@``.

:func:`parse_frame` checks, in this order: the ``$$`` start (``bad_start_bytes``), the header
(``malformed``), a frame shorter than its length field (``truncated``, or ``bad_length`` when the
frame nevertheless ends in a correct checksum), the checksum (``bad_checksum``) and a frame longer than
its length field (``bad_length``).  The trailing ``\\r\\n`` may be missing (captures often drop it); it
is counted as if present.  ``verify_integrity=False`` skips the checksum and length checks: for
replaying captures whose checksums were edited by hand, never for live traffic.

Messages
--------
* ``AAA`` (and any command with the same layout, e.g. ``AFF``): one fix.  Fields: event code, latitude,
  longitude, UTC time ``yyMMddHHmmss``, validity ``A``/``V``, satellites, GSM signal, speed km/h,
  direction, HDOP, altitude m, mileage m, run time s, ``mcc|mnc|lac|cid`` (lac/cid hex), I/O state
  (input byte, output byte, hex), then either ``battery|power|rtc|mcu|gps`` voltages (decimal) or
  ``ad1|ad2|ad3|battery|power`` (hex; the scaling depends on ``model``: ``MVT340``/``MVT380``,
  ``MT90``/``MT90G``, ``T1 T3 MVT100 MVT600 MVT800 TC68 TC68S``, otherwise hundredths of a volt),
  then optional event data, a reserved field, the protocol version, the fuel level (``XXYY``: XX.YY %,
  hex), temperature sensors (``IIVVVV`` hex, ``|``-separated) and a data block (taximeter).
  Kind ``alarm`` when the event code is an alarm, else ``location``; no acknowledgement.
* ``CCC``: buffered records.  A header (protocol version u16, record length u16, remaining cache
  u32) then records of ``record length`` bytes (at least 52): event, latitude, longitude (int32,
  1e-6 degree), time (seconds since 2000-01-01 UTC), validity, satellites, GSM signal, speed km/h,
  direction, HDOP (0.1), altitude, mileage m, run time s, mcc, mnc, lac, cid, I/O state, AD1,
  battery (0.01 V), external power, geofence.  Each record is one message; the device is answered
  ``@@<flag><length>,<imei>,CCC,<count>*<checksum>\\r\\n`` so that it deletes the records.
* ``CCE``: buffered records with an ID/value map.  Remaining cache u32 and record count u16, then per
  record its length u16, index u16 and four groups (1-, 2-, 4-byte and length-prefixed values), each a
  count byte and ``id value`` pairs; ids are one byte, or two bytes when the first is ``FE``.  Every
  record is one message (a position when it holds latitude, longitude and time).  traccar sends no
  acknowledgement for ``CCE`` and neither does this decoder.
* ``AAC``: answered ``@@<flag>27,<imei>,AAC,1*<checksum>\\r\\n`` as traccar does (kind ``heartbeat``).
* ``D00``: a chunk of a photo (kind ``photo``; the chunks are reported, not reassembled, and no chunk
  is requested).  ``D82`` and every other command: a command reply with ``result``
  (``<command>,<data>``), e.g. ``D03,OK``.

Where this decoder parts from traccar
-------------------------------------
* Checksums and the length field are verified (traccar checks neither).
* Several temperature sensors in an ``AAA`` frame are read as ``|``-separated (traccar's pattern
  only accepts one sensor and then drops the tail of the frame).
* ``CCC`` records are cut by the record length in the header instead of a fixed 52 bytes; ``CCC``
  and ``CCE`` events are also mapped to ``alarm`` values; ``CCE`` HDOP is read in tenths like
  ``CCC``'s (traccar keeps the raw number).
* Command replies (``D03,OK`` ...) are reported as ``command_reply`` messages.

Attributes
----------
============================  ==================================================================
``event``                     int, Meitrack event code
``alarm``                     ``sos`` (1), ``low_battery`` (17), ``low_power`` (18), ``overspeed``
                              (19), ``geofence_enter`` (20), ``geofence_exit`` (21),
                              ``power_restored`` (22), ``power_cut`` (23), ``tow`` (36),
                              ``jamming`` (44), ``accident`` (78), ``hard_cornering`` (90, 91),
                              ``hard_braking`` (129), ``hard_acceleration`` (130),
                              ``fatigue_driving`` (135)
``rssi``                      int, GSM signal
``odometer_km``               float, mileage
``run_time_s``                int, total run time reported by the device
``mcc`` ``mnc`` ``lac``       int, serving cell (``cell_id``)
``input`` ``output``          int, I/O bit masks
``battery_v`` ``power_v``     float, backup battery / external power
``adc1_raw`` ...              int, AAA analogue inputs as sent (hex digits)
``adc1_v`` ``adc2_v``         float, CCE/CCC analogue inputs
``power_raw``                 int, external power of MT90 devices (unscaled, as traccar keeps it)
``driver_id``                 str, iButton/RFID (event 37, CCE 0x25)
``event_data``                str, other event-specific data
``protocol_version``          int, AAA protocol field
``fuel_level``                float, percent
``temp0_c`` ``temp1_c`` ...   float, temperature sensors (numbered as the device numbers them)
``temp_data``                 str, raw temperature data of the data block
``taximeter_on`` ...          taximeter data block (``taximeter_start``, ``taximeter_end``,
                              ``taximeter_distance``, ``taximeter_fare``, ``taximeter_trip``,
                              ``taximeter_wait``)
``status``                    int, CCC I/O status word
``geofence_id``               int, CCC geofence number
``remaining_cache``           int, records still buffered in the device (CCC/CCE)
``record_index``              int, CCE record index
``lock``                      bool, lock state (CCE 0x47)
``throttle_pct``              int, CCE 0x97
``obd_speed_kmh`` ``obd_rpm`` ``obd_coolant_temp_c`` ``obd_fuel_used`` ``obd_odometer_km``
``fuel_consumption``          float
``engine_hours_h``            float (CCE 0xFEF4, minutes on the wire)
``battery_level``             int, percent (``battery2_level``, ``battery3_level``)
``cell_count`` ``wifi_count`` int, cells / WiFi access points in a CCE record
``alarm_type``                int, CCE 0xFE31 video alarm type; ``image_file``: its file name
``tag_name`` ...              BLE sensor tag (``tag_battery_level``, ``tag_temp_c``, ``tag_humidity_pct``)
``archive``                   bool, true on CCC/CCE records (buffered data)
``result``                    str, command reply text
``photo_file``                str, D00 file name (``photo_chunk``, ``photo_chunks``)
============================  ==================================================================
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from cedetect.models import AttributeValue
from cedetect.protocols.attributes import join_alarms
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
    validate_device_id,
)
from cedetect.protocols.reader import ByteReader

PROTOCOL: Final = "meitrack"

START: Final = b"$$"
SERVER_START: Final = b"@@"
STOP: Final = b"\r\n"
#: The longest frame the framer accepts by default (photo chunks and CCE batches stay below it).
DEFAULT_MAX_FRAME_SIZE: Final = 16384
#: ``$$`` + flag + at least one length digit + ``,``.
_MIN_HEADER: Final = 5
#: Digits a length field may have.
_MAX_LENGTH_DIGITS: Final = 5

_EPOCH_2000: Final = datetime(2000, 1, 1, tzinfo=UTC)
_CCC_RECORD_MIN: Final = 52

#: Meitrack event code -> alarm.
EVENT_ALARMS: Final[dict[int, str]] = {
    1: "sos", 17: "low_battery", 18: "low_power", 19: "overspeed", 20: "geofence_enter",
    21: "geofence_exit", 22: "power_restored", 23: "power_cut", 36: "tow", 44: "jamming",
    78: "accident", 90: "hard_cornering", 91: "hard_cornering", 129: "hard_braking",
    130: "hard_acceleration", 135: "fatigue_driving",
}  # fmt: skip
#: Alarm -> the event code a simulated device sends for it (35: timed position report).
ALARM_EVENTS: Final[dict[str, int]] = {
    "sos": 1, "low_battery": 17, "low_power": 18, "overspeed": 19, "geofence_enter": 20,
    "geofence_exit": 21, "power_restored": 22, "power_cut": 23, "tow": 36, "jamming": 44,
    "accident": 78, "hard_cornering": 90, "hard_braking": 129, "hard_acceleration": 130,
    "fatigue_driving": 135,
}  # fmt: skip
EVENT_TIMED_REPORT: Final = 35

_HEX = r"[0-9a-fA-F]"
_REGULAR = re.compile(
    r"\$\$."  # flag
    r"\d+,"  # length
    r"(?P<imei>\d+),"
    rf"{_HEX}{{3}},"  # command
    r"(?:\d+,)?"
    r"(?P<event>\d+),"
    r"(?P<lat>-?\d+\.\d+),"
    r"(?P<lon>-?\d+\.\d+),"
    r"(?P<time>\d{12}),"  # yyMMddHHmmss
    r"(?P<valid>[AV]),"
    r"(?P<sat>\d+),"
    r"(?P<rssi>\d+),"
    r"(?P<speed>\d+\.?\d*),"
    r"(?P<course>\d+),"
    r"(?P<hdop>\d+\.?\d*),"
    r"(?P<alt>-?\d+),"
    r"(?P<odometer>\d+),"
    r"(?P<runtime>\d+),"
    r"(?P<mcc>\d+)\|"
    r"(?P<mnc>\d+)\|"
    rf"(?P<lac>{_HEX}+)?\|"
    rf"(?P<cid>{_HEX}+)?,"
    rf"(?P<input>{_HEX}{{2}})"
    rf"(?P<output>{_HEX}{{2}}),"
    r"(?:"
    r"(?P<battery_dec>\d+\.\d+)\|(?P<power_dec>\d+\.\d+)\|\d+\.\d+\|\d+\.\d+\|\d+\.\d+,"
    r"|"
    rf"(?P<adc1>{_HEX}+)?\|(?P<adc2>{_HEX}+)?\|(?P<adc3>{_HEX}+)?\|(?P<battery_hex>{_HEX}+)\|(?P<power_hex>{_HEX}+)?,"
    r")"
    r"(?:"
    r"(?:(?P<event_data>[^,]+)?,)?"
    r"[^,]*,"  # reserved
    r"(?P<protocol>\d+)?,"
    rf"(?P<fuel>{_HEX}{{4}})?"
    r"(?:"
    rf",(?P<temps>{_HEX}{{6}}(?:\|{_HEX}{{6}})*)?"
    r"(?:,(?P<data_count>\d+),(?P<data>[^*]*))?"
    r")?"
    r"|"
    r".*"
    r")"
    rf"\*{_HEX}{{2}}"
    r"(?:\r\n)?",
    re.DOTALL,
)

_MODELS_MVT380: Final = frozenset({"MVT340", "MVT380"})
_MODELS_MT90: Final = frozenset({"MT90", "MT90G"})
_MODELS_12BIT: Final = frozenset({"T1", "T3", "MVT100", "MVT600", "MVT800", "TC68", "TC68S"})


def checksum(data: bytes) -> bytes:
    """The two uppercase hex digits of the byte sum of ``data`` (``$$`` ... ``*`` inclusive)."""
    return f"{sum(data) & 0xFF:02X}".encode()


@dataclass(frozen=True)
class MeitrackFrame:
    """A ``$$`` frame split into its header fields; ``data`` lies between ``<command>,`` and ``*``."""

    flag: str
    length: int
    imei: str
    command: str
    data: bytes
    raw: bytes


def _header(raw: bytes) -> tuple[int, int]:
    """(index of the comma after the length field, declared length)."""
    comma = raw.find(b",", 3, 3 + _MAX_LENGTH_DIGITS + 1)
    digits = raw[3:comma] if comma > 3 else b""
    if not digits.isdigit():
        raise DecodeError(DecodeReason.MALFORMED, "no decimal length field after the flag", raw=raw)
    return comma, int(digits)


def parse_frame(frame: bytes, *, verify_integrity: bool = True, start: bytes = START) -> MeitrackFrame:
    """Check start bytes, length field and checksum (see the module docstring); split the frame.

    ``start=SERVER_START`` parses the server's ``@@`` commands and acknowledgements instead.
    """
    raw = bytes(frame)
    if not raw.startswith(start):
        if start.startswith(raw):
            raise DecodeError(DecodeReason.TRUNCATED, f"{len(raw)} bytes", raw=raw)
        raise DecodeError(DecodeReason.BAD_START_BYTES, f"starts with {raw[:2].hex()}", raw=raw)
    if len(raw) < _MIN_HEADER:
        raise DecodeError(DecodeReason.TRUNCATED, f"{len(raw)} bytes", raw=raw)
    comma, length = _header(raw)
    end = len(raw) - 2 if raw.endswith(STOP) else len(raw)  # end of the content, before \r\n
    actual = end + 2 - comma
    sum_ok = end - comma >= 4 and raw[end - 3] == ord("*") and checksum(raw[: end - 2]) == raw[end - 2 : end].upper()
    if verify_integrity:
        if actual < length:
            reason = DecodeReason.BAD_LENGTH if sum_ok else DecodeReason.TRUNCATED
            raise DecodeError(reason, f"length field {length}, frame holds {actual}", raw=raw)
        if end - comma < 4 or raw[end - 3] != ord("*"):
            raise DecodeError(DecodeReason.MALFORMED, "no '*<checksum>' at the end of the frame", raw=raw)
        if not sum_ok:
            computed = checksum(raw[: end - 2]).decode()
            raise DecodeError(
                DecodeReason.BAD_CHECKSUM, f"checksum {raw[end - 2 : end]!r}, computed {computed}", raw=raw
            )
        if actual > length:
            raise DecodeError(DecodeReason.BAD_LENGTH, f"length field {length}, frame holds {actual}", raw=raw)
    star = end - 3 if end - comma >= 4 and raw[end - 3] == ord("*") else end
    second = raw.find(b",", comma + 1, star)
    if second < 0:
        raise DecodeError(DecodeReason.MALFORMED, "no command after the IMEI", raw=raw)
    imei = raw[comma + 1 : second].decode("latin-1")
    command = raw[second + 1 : second + 4].decode("latin-1")
    data_start = min(second + 5, star)
    return MeitrackFrame(
        flag=chr(raw[2]),
        length=length,
        imei=imei,
        command=command,
        data=raw[data_start:star],
        raw=raw,
    )


def build_frame(flag: str, imei: str, command: str, data: bytes = b"", *, start: bytes = START) -> bytes:
    """``<start><flag><length>,<imei>,<command>[,<data>]*<checksum>\\r\\n`` with length and checksum."""
    if len(flag) != 1 or not 0x21 <= ord(flag) <= 0x7E:
        raise ValueError("flag must be one printable ASCII character")
    return _assemble(start, flag.encode("ascii"), imei.encode("ascii"), command.encode("ascii"), data)


def _assemble(start: bytes, flag: bytes, imei: bytes, command: bytes, data: bytes) -> bytes:
    body = b"," + imei + b"," + command + (b"," + data if data else b"") + b"*"
    length = len(body) + 2 + 2  # from the comma after the length field: body, checksum digits, \r\n
    frame = start + flag + str(length).encode("ascii") + body
    return frame + checksum(frame) + STOP


def _reply(frame: MeitrackFrame, data: bytes) -> bytes:
    """The server's ``@@`` answer to ``frame``, with the device's own flag byte echoed."""
    return _assemble(SERVER_START, frame.raw[2:3], frame.imei.encode("latin-1"), frame.command.encode("latin-1"), data)


# -- framing ----------------------------------------------------------------------------------------


class MeitrackFramer(StepFramer):
    """Cuts ``$$`` frames out of a TCP stream by their length field.

    A candidate is taken when the length field is sane and the bytes it spans end in ``*XX\\r\\n``.
    Bytes before a ``$$`` are reported as ``garbage``; a ``$$`` whose length field is missing, too
    long for ``max_frame_size`` or whose span does not end in ``*XX\\r\\n`` is skipped up to the next
    ``$$`` (``bad_length``/``frame_too_long``/``bad_stop_bytes``).  A complete candidate with a wrong
    checksum is still handed on (the decoder then refuses it as ``bad_checksum``, keeping the bytes)
    unless a complete, checksum-valid frame starts inside it.  While waiting for the rest of a
    candidate, a complete valid frame starting after it shows the candidate was garbage.
    """

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size=max(max_frame_size, 16))

    def _probe(self, at: int) -> tuple[str, int]:
        """Verdict on the candidate at ``at``: ok, bad_crc, need_more, or a skip reason; and its size."""
        buf = self._buffer
        head = buf[at : at + 3 + _MAX_LENGTH_DIGITS + 1]
        if len(head) < 4:
            return "need_more", 0
        digits = bytearray()
        for byte in head[3:]:
            if byte == ord(","):
                break
            if not 0x30 <= byte <= 0x39:
                return "bad_length", 0
            digits.append(byte)
        else:
            if len(head) < 3 + _MAX_LENGTH_DIGITS + 1:
                return "need_more", 0
            return "bad_length", 0
        if not digits:
            return "bad_length", 0
        comma = at + 3 + len(digits)
        total = comma - at + int(digits)
        if total > self.max_frame_size:
            return "frame_too_long", total
        if int(digits) < 8:
            return "bad_length", total
        if len(buf) - at < total:
            return "need_more", total
        end = at + total
        if buf[end - 2 : end] != STOP or buf[end - 5] != ord("*"):
            return "bad_stop_bytes", total
        if checksum(bytes(buf[at : end - 4])) != bytes(buf[end - 4 : end - 2]).upper():
            return "bad_crc", total
        return "ok", total

    def _valid_inside(self, limit: int) -> int:
        at = self._buffer.find(START, 1)
        while 0 <= at < limit:
            if self._probe(at)[0] == "ok":
                return at
            at = self._buffer.find(START, at + 1)
        return -1

    def _step(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        if not buf:
            return False
        start = buf.find(START)
        if start < 0:
            keep = 1 if buf[-1:] == b"$" else 0
            self._emit_skip(out, len(buf) - keep, "garbage", "no $$ start")
            return False
        if start > 0:
            self._emit_skip(out, start, "garbage", "bytes before $$")
        verdict, total = self._probe(0)
        if verdict == "ok":
            out.append(bytes(buf[:total]))
            del buf[:total]
            return True
        if verdict in ("bad_length", "frame_too_long", "bad_stop_bytes"):
            following = buf.find(START, 1)
            skip = following if following > 0 else len(buf) - (1 if buf[-1:] == b"$" else 0)
            self._emit_skip(out, max(skip, 1), verdict, f"length field gives {total} bytes" if total else "no length")
            return True
        inside = self._valid_inside(total if total else len(buf))
        if inside > 0:
            self._emit_skip(out, inside, "garbage", "$$ without a valid frame")
            return True
        if verdict == "bad_crc":
            out.append(bytes(buf[:total]))
            del buf[:total]
            return True
        return False  # need_more


# -- decoding ---------------------------------------------------------------------------------------


@dataclass
class _Fix:
    time_utc: datetime
    latitude: float
    longitude: float
    valid: bool
    speed_kmh: float = 0.0
    heading_deg: float = 0.0
    altitude_m: float | None = None
    satellites: int | None = None
    hdop: float | None = None


@dataclass
class _Out:
    kind: str
    fix: _Fix | None = None
    attrs: dict[str, AttributeValue] = field(default_factory=dict)


class _Reader(ByteReader):
    """Little-endian binary record data (``uint_le``/``sint_le``); parameter ids are read big-endian."""

    __slots__ = ()
    subject = "record "

    def param_id(self) -> int:
        """A one-byte parameter id, or two bytes after the ``FE`` escape."""
        return self.u8() if self.peek() != 0xFE else self.u16()


def _since_2000(seconds: int) -> datetime:
    return _EPOCH_2000 + timedelta(seconds=seconds)


def _alarm_for(event: int) -> str | None:
    return EVENT_ALARMS.get(event)


def _heading(value: float) -> float:
    return math.fmod(value, 360.0)


class MeitrackDecoder(ProtocolDecoder):
    """Decodes the frames of one Meitrack connection (see the module docstring).

    Every frame names its IMEI, which becomes the connection's device id.  ``verify_integrity=False``
    accepts frames whose checksum or length field is wrong (replay of edited captures only).
    """

    protocol = PROTOCOL

    def __init__(
        self,
        *,
        device_id: str | None = None,
        model: str | None = None,
        verify_integrity: bool = True,
        future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
    ) -> None:
        super().__init__(device_id=device_id, model=model)
        self.verify_integrity = verify_integrity
        self.future_tolerance_s = future_tolerance_s

    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        raw = bytes(frame)
        try:
            parsed = parse_frame(raw, verify_integrity=self.verify_integrity)
            device_id = self._set_device_id(parsed.imei)
            outs, response = self._dispatch(parsed)
            # One acknowledgement per frame: it rides on the first message.
            return [
                self._message(out, device_id, response if index == 0 else None, raw, received_utc)
                for index, out in enumerate(outs)
            ]
        except DecodeError as exc:
            raise exc.with_raw(raw) from None

    def _message(
        self, out: _Out, device_id: str, response: bytes | None, raw: bytes, received_utc: datetime
    ) -> DecodedMessage:
        position = None
        if out.fix is not None:
            fix = out.fix
            position = make_position(
                device_id=device_id,
                protocol=PROTOCOL,
                time_utc=fix.time_utc,
                received_utc=received_utc,
                latitude=fix.latitude,
                longitude=fix.longitude,
                speed_kmh=fix.speed_kmh,
                heading_deg=fix.heading_deg,
                valid=fix.valid,
                altitude_m=fix.altitude_m,
                satellites=fix.satellites,
                hdop=fix.hdop,
                attributes=out.attrs,
                future_tolerance_s=self.future_tolerance_s,
            )
        return DecodedMessage(
            kind=out.kind,
            device_id=device_id,
            position=position,
            response=response,
            raw=raw,
            attributes=dict(position.attributes) if position is not None else out.attrs,
        )

    def _dispatch(self, frame: MeitrackFrame) -> tuple[list[_Out], bytes | None]:
        command = frame.command
        if command == "CCC":
            outs = self._ccc(frame.data)
            return outs, _reply(frame, str(len(outs)).encode())
        if command == "CCE":
            return self._cce(frame.data), None
        if command == "AAC":
            return [_Out("heartbeat")], _reply(frame, b"1")
        if command == "D00":
            return [self._photo(frame.data)], None
        match = _REGULAR.fullmatch(frame.raw.decode("latin-1"))
        if match is not None:
            return [self._regular(match)], None
        if command == "AAA":
            raise DecodeError(DecodeReason.MALFORMED, "AAA frame does not have the location layout")
        result = (command + ("," + frame.data.decode("latin-1") if frame.data else "")).strip()
        return [_Out("command_reply", attrs={"result": result})], None

    # -- AAA ------------------------------------------------------------------------------------

    def _regular(self, m: re.Match[str]) -> _Out:
        a: dict[str, AttributeValue] = {}
        event = int(m["event"])
        a["event"] = event
        alarm = _alarm_for(event)
        if alarm is not None:
            a["alarm"] = join_alarms(alarm)
        stamp = m["time"]
        try:
            year, month, day, hour, minute, second = (int(stamp[i : i + 2]) for i in range(0, 12, 2))
            time_utc = datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as exc:
            raise DecodeError(DecodeReason.INVALID_TIME, f"time {stamp!r}: {exc}") from exc
        rssi = int(m["rssi"])
        a["rssi"] = rssi
        a["odometer_km"] = int(m["odometer"]) / 1000.0
        a["run_time_s"] = int(m["runtime"])
        mcc, mnc = int(m["mcc"]), int(m["mnc"])
        if mcc != 0 and mnc != 0:
            a["mcc"] = mcc
            a["mnc"] = mnc
            a["lac"] = int(m["lac"] or "0", 16)
            a["cell_id"] = int(m["cid"] or "0", 16)
        a["input"] = int(m["input"], 16)
        a["output"] = int(m["output"], 16)
        if m["battery_dec"] is not None:
            a["battery_v"] = float(m["battery_dec"])
            a["power_v"] = float(m["power_dec"])
        else:
            for index in (1, 2, 3):
                value = m[f"adc{index}"]
                if value:
                    a[f"adc{index}_raw"] = int(value, 16)
            self._voltages(a, int(m["battery_hex"], 16), int(m["power_hex"] or "0", 16))
        event_data = m["event_data"]
        if event_data:
            if event == 37:
                a["driver_id"] = event_data
            else:
                a["event_data"] = event_data
        protocol = int(m["protocol"]) if m["protocol"] else 0
        if m["protocol"]:
            a["protocol_version"] = protocol
        fuel = m["fuel"]
        if fuel:
            a["fuel_level"] = int(fuel[:2], 16) + int(fuel[2:], 16) * 0.01
        if m["temps"]:
            for item in m["temps"].split("|"):
                index = int(item[:2], 16)
                if protocol >= 3:
                    value = int.from_bytes(bytes.fromhex(item[2:]), signed=True) * 0.01
                else:
                    whole = int.from_bytes(bytes.fromhex(item[2:4]), signed=True)
                    value = whole + (-0.01 if whole < 0 else 0.01) * int(item[4:], 16)
                a[f"temp{index}_c"] = round(value, 2)
        if m["data_count"] is not None and m["data"] is not None:
            self._data_fields(a, m["data"].split(","))
        fix = _Fix(
            time_utc=time_utc,
            latitude=float(m["lat"]),
            longitude=float(m["lon"]),
            valid=m["valid"] == "A",
            speed_kmh=float(m["speed"]),
            heading_deg=_heading(float(m["course"])),
            altitude_m=float(m["alt"]),
            satellites=int(m["sat"]),
            hdop=float(m["hdop"]),
        )
        return _Out("alarm" if alarm else "location", fix, a)

    def _voltages(self, a: dict[str, AttributeValue], battery: int, power: int) -> None:
        model = self.model or ""
        if model in _MODELS_MVT380:
            a["battery_v"] = battery * 3.0 * 2.0 / 1024.0
            a["power_v"] = power * 3.0 * 16.0 / 1024.0
        elif model in _MODELS_MT90:
            factor = 3.3 if model == "MT90" else 3.0
            a["battery_v"] = battery * factor * 2.0 / 4096.0
            a["power_raw"] = power
        elif model in _MODELS_12BIT:
            a["battery_v"] = battery * 3.3 * 2.0 / 4096.0
            a["power_v"] = power * 3.3 * 16.0 / 4096.0
        else:
            a["battery_v"] = battery / 100.0
            a["power_v"] = power / 100.0

    @staticmethod
    def _data_fields(a: dict[str, AttributeValue], values: list[str]) -> None:
        if len(values) > 1 and values[1]:
            a["temp_data"] = values[1]
        if len(values) > 5 and values[5]:
            data = values[5].split("|")
            if len(data) >= 2 and len(data[0]) >= 2:
                a["taximeter_on"] = data[0][1] == "0"
                a["taximeter_start"] = data[1]
            if len(data) >= 7:
                a["taximeter_end"] = data[2]
                try:
                    a["taximeter_distance"] = int(data[3])
                    a["taximeter_fare"] = int(data[4])
                except ValueError as exc:
                    raise DecodeError(DecodeReason.MALFORMED, f"taximeter data {values[5]!r}") from exc
                a["taximeter_trip"] = data[5]
                a["taximeter_wait"] = data[6]

    # -- CCC / CCE ------------------------------------------------------------------------------

    def _ccc(self, data: bytes) -> list[_Out]:
        r = _Reader(data)
        r.uint_le(2)  # protocol version
        record_length = r.uint_le(2)
        remaining = r.uint_le(4)
        if record_length < _CCC_RECORD_MIN:
            raise DecodeError(DecodeReason.MALFORMED, f"CCC record length {record_length} below {_CCC_RECORD_MIN}")
        if r.remaining % record_length:
            raise DecodeError(DecodeReason.TRUNCATED, f"{r.remaining} record bytes are no multiple of {record_length}")
        outs: list[_Out] = []
        while r.remaining:
            record = _Reader(r.take(record_length))
            a: dict[str, AttributeValue] = {"archive": True, "remaining_cache": remaining}
            event = record.u8()
            a["event"] = event
            alarm = _alarm_for(event)
            if alarm is not None:
                a["alarm"] = join_alarms(alarm)
            latitude = record.sint_le(4) / 1_000_000
            longitude = record.sint_le(4) / 1_000_000
            time_utc = _since_2000(record.uint_le(4))
            valid = record.u8() == 1
            satellites = record.u8()
            a["rssi"] = record.u8()
            speed = float(record.uint_le(2))
            course = float(record.uint_le(2))
            hdop = record.uint_le(2) / 10.0
            altitude = float(record.uint_le(2))
            a["odometer_km"] = record.uint_le(4) / 1000.0
            a["run_time_s"] = record.uint_le(4)
            a["mcc"] = record.uint_le(2)
            a["mnc"] = record.uint_le(2)
            a["lac"] = record.uint_le(2)
            a["cell_id"] = record.uint_le(2)
            a["status"] = record.uint_le(2)
            a["adc1_raw"] = record.uint_le(2)
            a["battery_v"] = record.uint_le(2) / 100.0
            a["power_raw"] = record.uint_le(2)
            a["geofence_id"] = record.uint_le(4)
            fix = _Fix(
                time_utc=time_utc,
                latitude=latitude,
                longitude=longitude,
                valid=valid,
                speed_kmh=speed,
                heading_deg=_heading(course),
                altitude_m=altitude,
                satellites=satellites,
                hdop=hdop,
            )
            outs.append(_Out("alarm" if alarm else "location", fix, a))
        return outs

    def _cce(self, data: bytes) -> list[_Out]:
        r = _Reader(data)
        remaining = r.uint_le(4)
        count = r.uint_le(2)
        outs: list[_Out] = []
        for _ in range(count):
            length = r.uint_le(2)
            record = _Reader(r.take(length))
            outs.append(self._cce_record(record, remaining))
        if r.remaining:
            raise DecodeError(DecodeReason.MALFORMED, f"{r.remaining} bytes after {count} CCE records")
        return outs

    def _cce_record(self, r: _Reader, remaining: int) -> _Out:
        a: dict[str, AttributeValue] = {"archive": True, "remaining_cache": remaining}
        a["record_index"] = r.uint_le(2)
        values: dict[str, float | int | datetime | bool] = {}
        for _ in range(r.u8()):
            self._cce_byte(r.param_id(), r.u8(), a, values)
        for _ in range(r.u8()):
            self._cce_word(r.param_id(), r, a, values)
        for _ in range(r.u8()):
            self._cce_dword(r.param_id(), r, a, values)
        cells = wifi = 0
        for _ in range(r.u8()):
            param = r.param_id()
            item = _Reader(r.take(r.u8()))
            kind = self._cce_variable(param, item, a)
            cells += kind == "cell"
            wifi += kind == "wifi"
        if cells:
            a["cell_count"] = cells
        if wifi:
            a["wifi_count"] = wifi
        event = a.get("event")
        alarm = _alarm_for(event) if isinstance(event, int) else None
        if alarm is not None:
            a["alarm"] = join_alarms(alarm)
        fix = None
        time_utc = values.get("time")
        latitude = values.get("latitude")
        longitude = values.get("longitude")
        if isinstance(time_utc, datetime) and isinstance(latitude, float) and isinstance(longitude, float):
            speed = values.get("speed", 0.0)
            course = values.get("course", 0.0)
            altitude = values.get("altitude")
            satellites = values.get("satellites")
            hdop = values.get("hdop")
            fix = _Fix(
                time_utc=time_utc,
                latitude=latitude,
                longitude=longitude,
                valid=bool(values.get("valid", False)),
                speed_kmh=float(speed) if isinstance(speed, int | float) else 0.0,
                heading_deg=_heading(float(course)) if isinstance(course, int | float) else 0.0,
                altitude_m=float(altitude) if isinstance(altitude, int | float) else None,
                satellites=int(satellites) if isinstance(satellites, int) else None,
                hdop=float(hdop) if isinstance(hdop, int | float) else None,
            )
        kind = "alarm" if alarm else ("location" if fix is not None else "status")
        return _Out(kind, fix, a)

    @staticmethod
    def _cce_byte(
        param: int, value: int, a: dict[str, AttributeValue], values: dict[str, float | int | datetime | bool]
    ) -> None:
        if param == 0x01:
            a["event"] = value
        elif param == 0x05:
            values["valid"] = value > 0
        elif param == 0x06:
            values["satellites"] = value
        elif param == 0x07:
            a["rssi"] = value
        elif param == 0x14:
            a["output"] = value
        elif param == 0x15:
            a["input"] = value
        elif param == 0x47:
            if value > 0:
                a["lock"] = value == 2
        elif param == 0x97:
            a["throttle_pct"] = value
        elif param == 0x9D:
            a["fuel_level"] = float(value)
        elif param == 0xFE69:
            a["battery_level"] = value

    @staticmethod
    def _cce_word(
        param: int, r: _Reader, a: dict[str, AttributeValue], values: dict[str, float | int | datetime | bool]
    ) -> None:
        if param == 0x0B:
            values["altitude"] = r.sint_le(2)
            return
        value = r.uint_le(2)
        if param == 0x08:
            values["speed"] = value
        elif param == 0x09:
            values["course"] = value
        elif param == 0x0A:
            values["hdop"] = value / 10.0
        elif param == 0x16:
            a["adc1_v"] = value / 100.0
        elif param == 0x17:
            a["adc2_v"] = value / 100.0
        elif param == 0x19:
            a["battery_v"] = value / 100.0
        elif param == 0x1A:
            a["power_v"] = value / 100.0
        elif param == 0x29:
            a["fuel_level"] = value / 100.0
        elif param == 0x40:
            a["event"] = value
        elif param in (0x91, 0x92):
            a["obd_speed_kmh"] = float(value)
        elif param == 0x98:
            a["obd_fuel_used"] = float(value)
        elif param == 0x99:
            a["obd_rpm"] = float(value)
        elif param == 0x9C:
            a["obd_coolant_temp_c"] = float(value)
        elif param == 0x9F:
            a["temp1_c"] = float(value)
        elif param == 0xC9:
            a["fuel_consumption"] = float(value)

    @staticmethod
    def _cce_dword(
        param: int, r: _Reader, a: dict[str, AttributeValue], values: dict[str, float | int | datetime | bool]
    ) -> None:
        if param in (0x02, 0x03):
            values["latitude" if param == 0x02 else "longitude"] = r.sint_le(4) / 1_000_000
            return
        value = r.uint_le(4)
        if param == 0x04:
            values["time"] = _since_2000(value)
        elif param == 0x0C:
            a["odometer_km"] = value / 1000.0
        elif param == 0x0D:
            a["run_time_s"] = value
        elif param == 0x25:
            a["driver_id"] = str(value)
        elif param == 0x9B:
            a["obd_odometer_km"] = value / 1000.0
        elif param == 0xA0:
            a["obd_fuel_used"] = value * 0.001
        elif param == 0xA2:
            a["fuel_consumption"] = value * 0.01
        elif param == 0xFEF4:
            a["engine_hours_h"] = value / 60.0

    @staticmethod
    def _cce_variable(param: int, r: _Reader, a: dict[str, AttributeValue]) -> str:
        if 0x1D <= param <= 0x25:
            return "wifi"
        if param in (0x0E, 0x0F, 0x10, 0x12, 0x13):
            if "mcc" not in a:
                a["mcc"] = r.uint_le(2)
                a["mnc"] = r.uint_le(2)
                a["lac"] = r.uint_le(2)
                a["cell_id"] = r.uint_le(4)
            return "cell"
        if 0x2A <= param <= 0x31:
            r.u8()  # label
            a[f"temp{param - 0x2A}_c"] = r.sint_le(2) / 100.0
        elif param == 0xFE31:
            alarm_protocol = r.u8()
            a["alarm_type"] = r.u8()
            if alarm_protocol == 0x02 and r.remaining > 1:
                a["image_file"] = r.take(r.remaining).decode("latin-1")
        elif param == 0xFE73:
            r.u8()  # version
            a["tag_name"] = r.take(r.u8()).decode("latin-1")
            r.take(6)  # mac
            a["tag_battery_level"] = r.u8()
            a["tag_temp_c"] = r.sint_le(2) / 256.0
            a["tag_humidity_pct"] = r.sint_le(2) / 256.0
        elif param == 0xFEA8:
            for index in (1, 2, 3):
                present, level = r.u8(), r.u8()
                if present:
                    a["battery_level" if index == 1 else f"battery{index}_level"] = level
        return "other"

    # -- photo ----------------------------------------------------------------------------------

    @staticmethod
    def _photo(data: bytes) -> _Out:
        parts = data.split(b",", 3)
        if len(parts) < 4:
            raise DecodeError(DecodeReason.MALFORMED, "D00 needs file name, chunk count, chunk index and data")
        try:
            total, current = int(parts[1]), int(parts[2])
        except ValueError as exc:
            raise DecodeError(DecodeReason.MALFORMED, f"D00 chunk numbers {parts[1]!r}, {parts[2]!r}") from exc
        attrs: dict[str, AttributeValue] = {
            "photo_file": parts[0].decode("latin-1"),
            "photo_chunks": total,
            "photo_chunk": current,
        }
        return _Out("photo", attrs=attrs)


# -- frame builders (simulator, tests) ----------------------------------------------------------


def _coordinate(value: float) -> str:
    return f"{value:.6f}"


def encode_location(
    *,
    imei: str,
    flag: str,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed_kmh: float,
    heading_deg: float,
    satellites: int,
    valid: bool,
    event: int = EVENT_TIMED_REPORT,
    altitude_m: float = 0.0,
    odometer_km: float = 0.0,
    run_time_s: int = 0,
    rssi: int = 20,
    hdop: float = 0.9,
    battery_v: float = 4.1,
    power_v: float = 12.6,
    mcc: int = 0,
    mnc: int = 0,
    lac: int = 0,
    cell_id: int = 0,
) -> bytes:
    """An ``AAA`` frame (hex-voltage variant, hundredths of a volt) reporting one fix.

    Round trip: time to the second, lat/lon to 1e-6 degree, speed to 0.1 km/h, heading to whole degrees.
    """
    validate_device_id(imei)
    if time_utc.tzinfo is None:
        raise ValueError("time_utc must be UTC-aware")
    t = time_utc.astimezone(UTC)
    if not 2000 <= t.year <= 2099:
        raise ValueError("Meitrack years run from 2000 to 2099")
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise ValueError("latitude/longitude out of range")
    if speed_kmh < 0 or satellites < 0:
        raise ValueError("speed and satellites must not be negative")
    fields = [
        str(event),
        _coordinate(latitude),
        _coordinate(longitude),
        t.strftime("%y%m%d%H%M%S"),
        "A" if valid else "V",
        str(satellites),
        str(rssi),
        f"{speed_kmh:.1f}",
        str(round(heading_deg) % 360),
        f"{hdop:.1f}",
        str(round(altitude_m)),
        str(round(odometer_km * 1000)),
        str(run_time_s),
        f"{mcc}|{mnc}|{lac:04X}|{cell_id:04X}",
        "0000",
        f"0000|0000|0000|{round(battery_v * 100):04X}|{round(power_v * 100):04X}",
        "",
        "",
    ]
    return build_frame(flag, imei, "AAA", ",".join(fields).encode("ascii"))


class MeitrackEncoder(DeviceEncoder):
    """A simulated Meitrack device: ``AAA`` location frames (event 35, or the alarm's event code).

    Meitrack devices have no login and wait for no acknowledgement of ``AAA`` frames; the flag
    character cycles through ``A``-``z`` like a real device's.
    """

    protocol = PROTOCOL

    def __init__(self, device_id: str) -> None:
        super().__init__(device_id)
        self.sent = 0

    def _next_flag(self) -> str:
        flag = chr(ord("A") + self.sent % 58)
        self.sent += 1
        return flag

    def location(self, fix: FixToSend) -> bytes:
        event = EVENT_TIMED_REPORT
        if fix.alarm is not None:
            if fix.alarm not in ALARM_EVENTS:
                raise ValueError(f"unknown alarm {fix.alarm!r}; known: {', '.join(sorted(ALARM_EVENTS))}")
            event = ALARM_EVENTS[fix.alarm]
        return encode_location(
            imei=self.device_id,
            flag=self._next_flag(),
            time_utc=fix.time_utc,
            latitude=fix.latitude,
            longitude=fix.longitude,
            speed_kmh=fix.speed_kmh,
            heading_deg=fix.heading_deg,
            satellites=fix.satellites,
            valid=fix.valid,
            event=event,
            altitude_m=fix.altitude_m,
            odometer_km=fix.odometer_km or 0.0,
        )

    def awaits_response(self, kind: str) -> bool:
        return False


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=5020,
    transports=("tcp", "udp"),
    decoder_factory=MeitrackDecoder,
    framer_factory=MeitrackFramer,
    encoder_factory=MeitrackEncoder,
)

"""GT06 (Concox and its many clones): decoder and frame builders.

Modelled on traccar's ``Gt06ProtocolDecoder`` (message layouts, device variants recognised by type
and length, model-specific quirks), with integrity checks traccar leaves out.

Frame
-----
``78 78 LL TT <content> SS SS CC CC 0D 0A`` (``79 79 LLLL`` for extended frames), where ``LL`` =
1 (type) + content + 2 (serial) + 2 (CRC), and the CRC is CRC-ITU (X-25) over length..serial.
:func:`parse_frame` checks, in this order: start bytes, minimum size (``truncated``), CRC
(``bad_checksum``), stop bytes (``bad_stop_bytes``), length field (``bad_length``).  WiFi frames of
types 0x17/0x69, which carry the access-point count where the length belongs and no CRC, therefore
fail as ``bad_checksum``: they have no integrity check and are refused (kept as dead letters).

Decoding
--------
:class:`Gt06Decoder` is one per connection.  The login frame (0x01, IMEI in BCD) sets the device
id; any other frame before it raises ``no_device_id`` unless the decoder was created with
``device_id=`` (replay, tests).  If the login carries a time-zone extension, later GPS times are
read as local times of that zone (traccar does the same); pass ``apply_login_timezone=False`` to
read them as UTC regardless.  Dates are ``YY MM DD hh mm ss``; latitude/longitude are uint32 in
1/1 800 000 degree; the course/status word holds the course (10 bits), bit 10 north, bit 11 west,
bit 12 positioned (``valid``), and bits 14/15 an ACC flag.  A message has a ``position`` only when
the frame carries a fix of its own (GPS, a "Current position!" text, a modular GPS record); status,
heartbeat, LBS/WiFi and info frames come without one.  Speeds are km/h.

Unknown message types raise ``unknown_message_type``.  Content shorter than its layout raises
``truncated``; impossible dates ``invalid_time``; out-of-range fixes ``invalid_coordinates``.

Acknowledgements (``DecodedMessage.response``) follow traccar: ``78 78 05 TT SS SS CC CC 0D 0A``
(same type and serial as the frame) for login, heartbeat/status, GPS/LBS/alarm packets, command
strings, BMS, iButton, peripheral/device-status, GPS-modular records; the extended form ``79 79 00
05 ...`` for AZ735 and multimedia frames; the receive time (UTC) for a time request (0x8A); ``NA&&NA&&0##``
(type 0x97) for an address request (0x2A).  Command replies (0x80-0x82), X1 GPS (0x34), info
(0x94), serial pass-through (0x9B), OBD (0x8C), 0x38 records and the multi-cell 0x19 reports of
SPACE10X devices get none.  Photo transfers (0x35 announcements, 0x36 extended chunks, 0x41
multimedia) are reported but not reassembled, and no photo data is requested.

Where this decoder parts from traccar
-------------------------------------
* A content read never runs into the serial/CRC bytes: a layout that does not fit is ``truncated``.
* Cell blocks with a length byte are skipped to the end the length gives (see ``_lbs``), which
  keeps 0x27/0xA4 LTE cells and SL4X status packets aligned; traccar misreads their tails.  In
  SL4X 0x32 packets the cell id takes ``length - 6`` bytes and the altitude follows the language
  byte (traccar vector gt06-021: traccar reads -31703 m from the CRC, the field says 687 m).
* JC400 alarm packets (0x95 with ``FF FF`` marker) carry the course/status word before a 2-byte
  speed; 0xF3 WiFi packets a binary date.
* Command replies 0x80-0x82 have their text decoded (``result``); traccar drops them.
* VL-family (``VL103`` ...) 0x16 packets: the alarm byte is also reported as ``event`` and a
  trailing 8-byte driver tag as ``driver_id``.

``model`` (as traccar's per-device model) selects quirks: ``LW...`` (power in status frames,
LW alarm codes), ``SEEWORLD``, ``R11``, ``QH302R``, the NT family (``NT11 NT20 NT26 NT40 NT46 VL100
XT40``) and the VL family (``VL103 LL303 VL512 G18``).

Attributes
----------
All snake_case; units are in the name where there is one:

============================  ==================================================================
``message_type``              int, the GT06 protocol number of the frame
``ignition``                  bool, ACC
``charge``                    bool, charging
``blocked``                   bool, fuel/power cut active (status bit 7)
``armed``                     bool, defence/arming state
``raw_status``                int, the terminal-information byte as received
``alarm``                     str, comma-separated: ``sos``, ``power_cut``, ``vibration``,
                              ``low_battery``, ``low_power``, ``geofence``, ``geofence_enter``,
                              ``geofence_exit``, ``overspeed``, ``removing``, ``power_off``,
                              ``power_on``, ``tampering``, ``door``, ``accident``, ``hard_braking``,
                              ``hard_acceleration``, ``hard_cornering``, ``fall_down``, ``jamming``,
                              ``tow``, ``lock``, ``unlock``, ``fuel_leak``, ``temperature``,
                              ``idle``, ``general``
``battery_level``             int, percent (GT06 voltage grades 0-6 are scaled to 0-100)
``battery_v``                 float, internal battery voltage
``power_v``                   float, external power voltage
``rssi``                      int, GSM signal as reported (0-4 grade on most devices)
``satellites``                int, on messages without a position (else ``Position.satellites``)
``satellites_visible``        int
``mcc`` ``mnc`` ``lac``       int, serving cell
``cell_id``                   int
``cell_count`` ``wifi_count`` int, neighbour cells / WiFi access points reported
``odometer_km``               float
``engine_hours_h``            float
``event``                     int, device event/report reason code
``event_data``                int
``event_files``               str, video/photo file names attached to an alarm
``archive``                   bool, a buffered (re-sent) record
``geofence_id``               int
``temp1_c``                   float, first temperature sensor
``humidity_pct``              float
``adc1_v`` ...                float, analogue inputs
``input`` ``output``          int, digital I/O bit masks
``in2`` ``io1`` ``door``      bool
``driver_id``                 str, iButton/RFID driver identifier
``card`` ``card_status``      str / int, card reader data
``driving_time``              int
``iccid``                     str
``result``                    str, command reply or pass-through text (hex when not printable)
``network_technology``        str, ``2G``/``4G``
``device_time``               str, ISO time the device put in a frame without a fix
``timezone_offset_min``       int, login time-zone extension
``terminal_type``             int, login type-identification code
``info_subtype``              int, sub-type of an 0x94 information frame
``payload_hex``               str, content of an information frame this decoder does not interpret
``alarm1_status`` ...         int, ``other_status``, ``engine_status``: 0x94/0x04 status words
``fuel_level``                float
``startup_status``            int
``tag1_id`` ``tag1_temp_c``   BLE tag data (``tag1_battery_v``, ``tag1_battery_level``,
                              ``tag1_humidity_pct``, ``tag1_status``)
``accuracy_m``                float
``picture_id`` ...            photo/multimedia bookkeeping (``photo_size_bytes``, ``media_id``,
                              ``media_length_bytes``, ``chunk_offset``, ``chunk_length``)
``bms_*``                     battery-management values of 0x40 frames
``obd_*`` ``vin``             OBD values of 0x8C frames
============================  ==================================================================
"""

from __future__ import annotations

import contextlib
import math
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum, auto
from typing import Final

from cedetect.models import AttributeValue
from cedetect.protocols.base import (
    DEFAULT_FUTURE_TOLERANCE_S,
    DecodedMessage,
    DecodeError,
    DecodeReason,
    DeviceEncoder,
    FixToSend,
    ProtocolDecoder,
    ProtocolSpec,
    assemble_position,
    future_tolerance,
    make_position,
    position_flags,
    validate_device_id,
)
from cedetect.protocols.common import crc16_x25_c, iso_utc
from cedetect.protocols.framing import GT06_START_LONG, GT06_START_SHORT, GT06_STOP, Gt06Framer
from cedetect.protocols.reader import ByteReader

PROTOCOL: Final = "gt06"

# Protocol numbers (several numbers are reused by different device families).
MSG_LOGIN: Final = 0x01
MSG_GPS: Final = 0x10
MSG_GPS_LBS_6: Final = 0x11
MSG_GPS_LBS_1: Final = 0x12
MSG_STATUS: Final = 0x13
MSG_STRING: Final = 0x15
MSG_GPS_LBS_STATUS_1: Final = 0x16
MSG_WIFI: Final = 0x17  # also GPS + LBS + RFID on some devices
MSG_LBS_EXTEND: Final = 0x18
MSG_LBS_STATUS: Final = 0x19
MSG_GPS_PHONE: Final = 0x1A
MSG_GPS_LBS_EXTEND: Final = 0x1E
MSG_STRING_INFO: Final = 0x21
MSG_GPS_LBS_2: Final = 0x22
MSG_HEARTBEAT: Final = 0x23
MSG_LBS_MULTIPLE_3: Final = 0x24
MSG_GPS_LBS_DRIVER: Final = 0x25
MSG_GPS_LBS_STATUS_2: Final = 0x26
MSG_GPS_LBS_STATUS_3: Final = 0x27
MSG_LBS_MULTIPLE_1: Final = 0x28
MSG_ADDRESS_REQUEST: Final = 0x2A
MSG_LBS_WIFI: Final = 0x2C
MSG_GPS_LBS_4: Final = 0x2D
MSG_LBS_MULTIPLE_2: Final = 0x2E
MSG_GPS_LBS_5: Final = 0x31
MSG_GPS_LBS_STATUS_4: Final = 0x32  # AZ735 GPS when extended
MSG_WIFI_5: Final = 0x33  # AZ735 alarm when extended
MSG_X1_GPS: Final = 0x34  # also LBS on SL4X devices
MSG_X1_PHOTO_INFO: Final = 0x35
MSG_STATUS_2: Final = 0x36  # X1 photo data when extended
MSG_GPS_LBS_3: Final = 0x37
MSG_GPS_LBS_8: Final = 0x38
MSG_ALARM_MODULE: Final = 0x39
MSG_BMS: Final = 0x40
MSG_MULTIMEDIA: Final = 0x41
MSG_IBUTTON: Final = 0x61
MSG_DTC: Final = 0x65
MSG_PID: Final = 0x66
MSG_WIFI_2: Final = 0x69
MSG_GPS_MODULAR: Final = 0x70
MSG_COMMAND_0: Final = 0x80
MSG_COMMAND_1: Final = 0x81
MSG_COMMAND_2: Final = 0x82
MSG_TIME_REQUEST: Final = 0x8A
MSG_OBD: Final = 0x8C
MSG_INFO: Final = 0x94
MSG_ALARM: Final = 0x95
MSG_ADDRESS_RESPONSE: Final = 0x97
MSG_SERIAL: Final = 0x9B
MSG_GPS_LBS_7: Final = 0xA0
MSG_LBS_2: Final = 0xA1
MSG_WIFI_3: Final = 0xA2  # GPS + LBS + status on LWxG devices
MSG_FENCE_SINGLE: Final = 0xA3  # status on SEEWORLD devices
MSG_FENCE_MULTI: Final = 0xA4
MSG_LBS_ALARM: Final = 0xA5
MSG_LBS_ADDRESS: Final = 0xA7
MSG_WIFI_ALARM: Final = 0xA9
MSG_BLUETOOTH_CLOCK: Final = 0xB2
MSG_DEVICE_STATUS: Final = 0xF1
MSG_PERIPHERAL: Final = 0xF2
MSG_WIFI_4: Final = 0xF3

_NT_MODELS: Final = frozenset({"NT11", "NT20", "NT26", "NT40", "NT46", "VL100", "XT40"})
_VL_MODELS: Final = frozenset({"VL103", "LL303", "VL512", "G18"})

_GPS_TYPES: Final = frozenset(
    {
        MSG_GPS, MSG_GPS_LBS_1, MSG_GPS_LBS_2, MSG_GPS_LBS_DRIVER, MSG_GPS_LBS_3, MSG_GPS_LBS_4,
        MSG_GPS_LBS_5, MSG_GPS_LBS_6, MSG_GPS_LBS_STATUS_1, MSG_GPS_LBS_STATUS_2, MSG_GPS_LBS_STATUS_3,
        MSG_GPS_LBS_STATUS_4, MSG_WIFI_3, MSG_GPS_PHONE, MSG_GPS_LBS_EXTEND, MSG_GPS_LBS_7, MSG_WIFI,
        MSG_FENCE_MULTI, MSG_ALARM_MODULE,
    }
)  # fmt: skip
_LBS_TYPES: Final = frozenset(
    {
        MSG_LBS_STATUS, MSG_GPS_LBS_1, MSG_GPS_LBS_2, MSG_GPS_LBS_DRIVER, MSG_GPS_LBS_3, MSG_GPS_LBS_4,
        MSG_GPS_LBS_5, MSG_GPS_LBS_6, MSG_GPS_LBS_STATUS_1, MSG_GPS_LBS_STATUS_2, MSG_GPS_LBS_STATUS_3,
        MSG_GPS_LBS_STATUS_4, MSG_WIFI_3, MSG_GPS_LBS_7, MSG_WIFI, MSG_FENCE_MULTI, MSG_ALARM_MODULE,
        MSG_LBS_ALARM, MSG_LBS_ADDRESS,
    }
)  # fmt: skip
_STATUS_TYPES: Final = frozenset(
    {
        MSG_STATUS, MSG_STATUS_2, MSG_LBS_STATUS, MSG_GPS_LBS_STATUS_1, MSG_GPS_LBS_STATUS_2,
        MSG_GPS_LBS_STATUS_3, MSG_GPS_LBS_STATUS_4, MSG_WIFI_3, MSG_FENCE_MULTI, MSG_ALARM_MODULE,
        MSG_LBS_ALARM,
    }
)  # fmt: skip
#: Packets whose purpose is to report an alarm: their messages have kind "alarm".
_ALARM_TYPES: Final = frozenset(
    {
        MSG_GPS_LBS_STATUS_1, MSG_LBS_STATUS, MSG_GPS_LBS_STATUS_2, MSG_GPS_LBS_STATUS_3, MSG_ALARM_MODULE,
        MSG_ALARM, MSG_FENCE_MULTI, MSG_LBS_ALARM, MSG_WIFI_ALARM,
    }
)  # fmt: skip
_LBS_MULTI_TYPES: Final = frozenset(
    {
        MSG_LBS_MULTIPLE_1, MSG_LBS_MULTIPLE_2, MSG_LBS_MULTIPLE_3, MSG_LBS_EXTEND, MSG_LBS_WIFI,
        MSG_LBS_2, MSG_X1_GPS, MSG_WIFI_3, MSG_WIFI_5, MSG_WIFI_ALARM,
    }
)  # fmt: skip
_COMMAND_TYPES: Final = frozenset({MSG_COMMAND_0, MSG_COMMAND_1, MSG_COMMAND_2})

_LOCATION_TEXT = re.compile(
    r"Current position!Lat:([NS])(\d+\.\d+),Lon:([EW])(\d+\.\d+),Course:(\d+\.\d+),Speed:(\d+\.\d+),"
    r"DateTime:(\d{4})-(\d{2})-(\d{2}) +(\d{2}):(\d{2}):(\d{2})"
)
_FUEL_TEXT = re.compile(r"!AIOIL,\d+,\d+\.\d+,(\d+\.\d+),[^,]+,\d{4},(\d+\.\d+),[01],\d+,[0-9A-Fa-f]{2}")

#: Alarm names for the codes of the "alarm/language" byte of status packets.
_STATUS_ALARMS: Final[dict[int, str]] = {
    0x01: "sos", 0x02: "power_cut", 0x03: "vibration", 0x04: "geofence_enter", 0x05: "geofence_exit",
    0x06: "overspeed", 0x0E: "low_battery", 0x0F: "low_battery", 0x11: "power_off", 0x0C: "tampering",
    0x13: "tampering", 0x25: "tampering", 0x32: "tampering", 0x14: "door", 0x1A: "hard_braking",
    0x27: "hard_braking", 0x1B: "hard_cornering", 0x2A: "hard_cornering", 0x2B: "hard_cornering",
    0x2E: "hard_cornering", 0x23: "fall_down", 0x26: "hard_acceleration", 0x2C: "accident", 0x33: "lock",
    0x34: "unlock", 0x53: "fuel_leak", 0x5B: "temperature", 0x5C: "temperature", 0xC9: "idle",
    0x0107: "jamming", 0x010B: "jamming",
}  # fmt: skip
#: Event codes of JC100/JC400 alarm packets (0x95).
_EVENT_ALARMS: Final[dict[int, str]] = {
    0x0E: "low_power", 0x76: "temperature", 0x80: "vibration", 0x87: "overspeed", 0x88: "power_cut",
    0x90: "hard_acceleration", 0x91: "hard_braking", 0x92: "hard_cornering", 0x93: "accident",
}  # fmt: skip
#: Event codes of the 0x34 module of GPS-modular records (0x70).
_MODULAR_EVENT_ALARMS: Final[dict[int, str]] = {
    0x10: "door", 0x12: "removing", 0x14: "geofence_enter", 0x15: "geofence_exit", 0x16: "temperature",
    0x1A: "low_battery", 0x1B: "overspeed", 0x1C: "power_on", 0x1D: "power_off", 0x20: "vibration",
    0x21: "power_cut", 0x23: "tampering",
}  # fmt: skip
#: Alarm names for bits 3-5 of the terminal-information byte (7 is ``removing``, or ``overspeed`` on VXT01).
_TERMINAL_ALARMS: Final[dict[int, str]] = {1: "vibration", 2: "power_cut", 3: "low_battery", 4: "sos", 6: "geofence"}
#: Reverse of the status-packet alarm codes, for :func:`encode_alarm`.
ALARM_CODES: Final[dict[str, int]] = {
    "sos": 0x01, "power_cut": 0x02, "vibration": 0x03, "geofence_enter": 0x04, "geofence_exit": 0x05,
    "overspeed": 0x06, "low_battery": 0x0E, "power_off": 0x11, "tampering": 0x13, "door": 0x14,
    "hard_braking": 0x1A, "hard_cornering": 0x1B, "fall_down": 0x23, "hard_acceleration": 0x26,
    "accident": 0x2C,
}  # fmt: skip


class _Variant(Enum):
    STANDARD = auto()
    VXT01 = auto()
    WANWAY_S20 = auto()
    SR411_MINI = auto()
    GT06E_CARD = auto()
    BENWAY = auto()
    S5 = auto()
    SPACE10X = auto()
    OBD6 = auto()
    WETRUST = auto()
    JC400 = auto()
    SL4X = auto()
    SEEWORLD = auto()
    RFID = auto()
    LW4G = auto()


#: Device families recognised from (type, length field) of a basic frame.
_VARIANTS_BY_TYPE_LENGTH: Final[dict[tuple[int, int], _Variant]] = {
    (MSG_GPS_LBS_1, 0x24): _Variant.VXT01,
    (MSG_GPS_LBS_STATUS_1, 0x24): _Variant.VXT01,
    (MSG_LBS_MULTIPLE_3, 0x31): _Variant.WANWAY_S20,
    (MSG_LBS_MULTIPLE_3, 0x2E): _Variant.SR411_MINI,
    (MSG_GPS_LBS_1, 0x21): _Variant.BENWAY,
    (MSG_GPS_LBS_1, 0x2B): _Variant.S5,
    (MSG_STATUS, 0x13): _Variant.OBD6,
    (MSG_GPS_LBS_1, 0x29): _Variant.WETRUST,
    (MSG_X1_GPS, 0x37): _Variant.SL4X,
    (MSG_GPS_LBS_5, 0x2A): _Variant.SL4X,
    (MSG_GPS_LBS_STATUS_4, 0x27): _Variant.SL4X,
    (MSG_GPS_LBS_STATUS_4, 0x29): _Variant.SL4X,
    (MSG_GPS_LBS_2, 0x2F): _Variant.SEEWORLD,
    (MSG_GPS_LBS_STATUS_1, 0x26): _Variant.SEEWORLD,
    (MSG_FENCE_SINGLE, 0x0C): _Variant.SEEWORLD,
    (MSG_WIFI, 0x28): _Variant.RFID,
    (MSG_WIFI_3, 0x40): _Variant.LW4G,
}


#: Fixed layouts of the frames :meth:`Gt06Decoder._decode_fast` takes, by their first four bytes (start,
#: length, type), read from the content: date (6), satellites, latitude, longitude, speed, course/status,
#: then the cell (MCC, MNC, LAC, cell id as 1 + 2 bytes) and the type's tail.
_FAST_LAYOUTS: Final[dict[bytes, struct.Struct]] = {
    # 0x22: GPS, LBS, ACC, upload mode (event), re-upload (archive)
    bytes([0x78, 0x78, 0x22, MSG_GPS_LBS_2]): struct.Struct(">6BBIIBH HBHBH BBB HH"),
    # 0x12: GPS, LBS
    bytes([0x78, 0x78, 0x1F, MSG_GPS_LBS_1]): struct.Struct(">6BBIIBH HBHBH HH"),
    # 0x16: GPS, LBS with its length byte, terminal info, voltage grade, GSM signal, alarm, language
    bytes([0x78, 0x78, 0x25, MSG_GPS_LBS_STATUS_1]): struct.Struct(">6BBIIBH B HBHBH BBBBB HH"),
}  # each followed by the serial and the CRC
#: An acknowledgement: start, length 5, type, serial, CRC, stop.
_ACK: Final = struct.Struct(">HBBHHH")


def _ack_crc_table(position: int) -> tuple[int, ...]:
    """CRC-ITU of the acknowledgement body ``05 TT SS SS`` with each byte value at ``position`` (1-3), the
    other bytes after the length zero.  The CRC is affine in its input, so the CRC of a body is the XOR of
    the three entries of its type, serial high and serial low bytes (the constant appears three times)."""
    return tuple(
        crc16_x25_c(bytes(5 if i == 0 else value if i == position else 0 for i in range(4))) for value in range(256)
    )


_ACK_CRC_TYPE: Final = _ack_crc_table(1)
_ACK_CRC_SERIAL_HIGH: Final = _ack_crc_table(2)
_ACK_CRC_SERIAL_LOW: Final = _ack_crc_table(3)


@dataclass(frozen=True)
class Gt06Frame:
    """A GT06 frame that passed the integrity checks."""

    extended: bool
    length: int
    type: int
    content: bytes
    serial: int
    raw: bytes


def parse_frame(frame: bytes) -> Gt06Frame:
    """Check start bytes, size, CRC-ITU, stop bytes and length field; split the frame."""
    raw = bytes(frame)
    if len(raw) < 2:
        raise DecodeError(DecodeReason.TRUNCATED, f"{len(raw)} bytes", raw=raw)
    start = raw[:2]
    if start == GT06_START_SHORT:
        extended, header = False, 3
    elif start == GT06_START_LONG:
        extended, header = True, 4
    else:
        raise DecodeError(DecodeReason.BAD_START_BYTES, f"starts with {start.hex()}", raw=raw)
    minimum = header + 1 + 2 + 2 + 2
    if len(raw) < minimum:
        raise DecodeError(DecodeReason.TRUNCATED, f"{len(raw)} bytes, a frame has at least {minimum}", raw=raw)
    received_crc = int.from_bytes(raw[-4:-2])
    computed_crc = crc16_x25_c(raw[2:-4])
    if received_crc != computed_crc:
        raise DecodeError(
            DecodeReason.BAD_CHECKSUM, f"CRC-ITU {received_crc:04x}, computed {computed_crc:04x}", raw=raw
        )
    if raw[-2:] != GT06_STOP:
        raise DecodeError(DecodeReason.BAD_STOP_BYTES, f"ends with {raw[-2:].hex()}", raw=raw)
    length = int.from_bytes(raw[2:4]) if extended else raw[2]
    if header + length + 2 != len(raw):
        raise DecodeError(DecodeReason.BAD_LENGTH, f"length field {length}, frame of {len(raw)} bytes", raw=raw)
    return Gt06Frame(
        extended=extended,
        length=length,
        type=raw[header],
        content=raw[header + 1 : -6],
        serial=int.from_bytes(raw[-6:-4]),
        raw=raw,
    )


class _ContentReader(ByteReader):
    """Reads over the content of a frame."""

    __slots__ = ()
    subject = "content "


@dataclass
class _Fix:
    time_utc: datetime
    latitude: float
    longitude: float
    speed_kmh: float
    heading_deg: float
    valid: bool
    satellites: int | None = None
    altitude_m: float | None = None


class _Out:
    """What one frame decodes to, filled in by the handlers."""

    def __init__(self, kind: str, message_type: int) -> None:
        self.kind = kind
        self.attrs: dict[str, AttributeValue] = {"message_type": message_type}
        self.alarms: list[str] = []
        self.fix: _Fix | None = None
        self.hdop: float | None = None
        self.response: bytes | None = None

    def alarm(self, name: str | None) -> None:
        if name is not None and name not in self.alarms:
            self.alarms.append(name)


def _text(data: bytes) -> str:
    return data.decode("ascii", errors="replace")


def _printable(data: bytes) -> bool:
    return all(0x20 <= b < 0x7F or b in (0x09, 0x0A, 0x0D) for b in data)


def _unix_time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def build_frame(message_type: int, content: bytes, serial: int, *, extended: bool = False) -> bytes:
    """A complete GT06 frame around ``content``, with length, serial and CRC-ITU filled in."""
    if not 0 <= message_type <= 0xFF:
        raise ValueError("message type must fit in one byte")
    if not 0 <= serial <= 0xFFFF:
        raise ValueError("serial must fit in two bytes")
    length = 1 + len(content) + 2 + 2
    if extended:
        if length > 0xFFFF:
            raise ValueError("content too long for an extended frame")
        head = GT06_START_LONG + length.to_bytes(2)
    else:
        if length > 0xFF:
            raise ValueError("content too long for a basic frame; use extended=True")
        head = GT06_START_SHORT + bytes([length])
    body = head[2:] + bytes([message_type]) + content + serial.to_bytes(2)
    return head[:2] + body + crc16_x25_c(body).to_bytes(2) + GT06_STOP


class Gt06Decoder(ProtocolDecoder):
    """Decoder for one GT06 connection (see the module docstring)."""

    protocol = PROTOCOL

    def __init__(
        self,
        *,
        device_id: str | None = None,
        model: str | None = None,
        apply_login_timezone: bool = True,
        future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
    ) -> None:
        super().__init__(device_id=device_id, model=model)
        self.apply_login_timezone = apply_login_timezone
        self.future_tolerance_s = future_tolerance_s
        #: Offset east of UTC of the times the device sends (from the login extension).
        self.timezone_offset = timedelta(0)
        self._variant = _Variant.STANDARD
        self._received_utc = datetime.now(UTC)

    # -- entry point -------------------------------------------------------------------------

    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        raw = bytes(frame)
        fast = self._decode_fast(raw, received_utc)
        if fast is not None:
            return fast
        return self._decode_general(raw, received_utc)

    def _decode_general(self, raw: bytes, received_utc: datetime) -> list[DecodedMessage]:
        """The decoder for every frame: what :meth:`_decode_fast` must equal where it answers."""
        try:
            return [self._decode(parse_frame(raw), received_utc)]
        except DecodeError as exc:
            raise exc.with_raw(raw) from None
        except (ValueError, OverflowError) as exc:  # defensive: content the layouts did not foresee
            raise DecodeError(DecodeReason.MALFORMED, f"{type(exc).__name__}: {exc}", raw=raw) from exc

    def _decode_fast(self, raw: bytes, received_utc: datetime) -> list[DecodedMessage] | None:
        """The common location frames of standard devices, or None to leave the frame to the general path.

        Basic frames 0x22 (GPS + LBS + ACC, the simulator's), 0x12 (GPS + LBS) and 0x16 (GPS + LBS +
        status, with a 9-byte cell block) of exactly their standard size, on a connection with a device
        id and no ``model``, received at a UTC time.  Anything else, and anything that would fail
        (CRC, stop bytes, an impossible date, an out-of-range fix, a 2-byte MNC), goes to
        :meth:`_decode_general`, which decodes it or names the error; the result is the same message
        the general path builds (tests compare them on every shared vector and on generated frames).
        """
        layout = _FAST_LAYOUTS.get(raw[:4])
        if layout is None or self.model is not None:
            return None
        device_id = self._device_id
        n = len(raw)
        if (
            device_id is None
            or type(received_utc) is not datetime
            or received_utc.tzinfo is not UTC
            or n != raw[2] + 5
            or raw[n - 2 :] != GT06_STOP
        ):
            return None
        values = layout.unpack_from(raw, 4)
        serial = values[-2]
        if crc16_x25_c(raw[2 : n - 4]) != values[-1]:
            return None
        year, month, day, hour, minute, second, satellites, lat_raw, lon_raw, speed, course = values[:11]
        try:
            time_utc = datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
            if self.timezone_offset:
                time_utc -= self.timezone_offset
        except (ValueError, OverflowError):
            return None
        latitude = lat_raw / 1_800_000.0
        if not course & 0x0400:
            latitude = -latitude
        longitude = lon_raw / 1_800_000.0
        if course & 0x0800:
            longitude = -longitude
        t = raw[3]
        attrs: dict[str, AttributeValue] = {"message_type": t}
        if course & 0x4000:
            attrs["ignition"] = bool(course & 0x8000)
        kind = "location"
        if t == MSG_GPS_LBS_STATUS_1:
            (cell_length, mcc, mnc, lac, cell_high, cell_low, status, battery, rssi, extension) = values[11:21]
            if mcc & 0x8000 or not 0 < cell_length <= 9:  # 2-byte MNC, no cell, an LTE or padded block
                return None
            attrs["mcc"] = mcc
            attrs["mnc"] = mnc
            attrs["lac"] = lac
            attrs["cell_id"] = cell_high << 16 | cell_low
            attrs["raw_status"] = status
            attrs["ignition"] = bool(status & 0x02)
            attrs["charge"] = bool(status & 0x04)
            attrs["blocked"] = bool(status & 0x80)
            code = (status >> 3) & 0x07
            alarms = ["removing"] if code == 7 else [_TERMINAL_ALARMS[code]] if code in _TERMINAL_ALARMS else []
            if battery <= 6:
                attrs["battery_level"] = battery * 100 // 6
            elif battery <= 100:
                attrs["battery_level"] = battery
            attrs["rssi"] = rssi
            alarm = self._status_alarm(extension)
            if alarm is not None and alarm not in alarms:
                alarms.append(alarm)
            if alarms:
                attrs["alarm"] = ",".join(alarms)
            kind = "alarm"
        else:
            mcc, mnc, lac, cell_high, cell_low = values[11:16]
            if mcc & 0x8000:
                return None
            attrs["mcc"] = mcc
            attrs["mnc"] = mnc
            attrs["lac"] = lac
            attrs["cell_id"] = cell_high << 16 | cell_low
            if t == MSG_GPS_LBS_2:
                acc, event, archive = values[16:19]
                attrs["ignition"] = acc > 0
                attrs["event"] = event
                if archive > 0:
                    attrs["archive"] = True
        heading = float(course & 0x03FF)
        if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0 and heading < 360.0):
            return None  # out of range: the general path names it
        try:
            future = time_utc > received_utc + future_tolerance(self.future_tolerance_s)
        except (OverflowError, TypeError, ValueError):
            return None
        valid = bool(course & 0x1000)
        # Every value now passes the model's validation unchanged: exact types from the layout, ranges
        # checked above, speed 0-255, satellites 0-15, times in UTC, a device id validated when set.
        position = assemble_position(
            device_id,
            PROTOCOL,
            time_utc,
            received_utc,
            latitude,
            longitude,
            float(speed),
            heading,
            valid,
            None,
            satellites & 0x0F,
            None,
            attrs,
            position_flags(valid, latitude, longitude, future),
        )
        self._variant = _Variant.STANDARD
        self._received_utc = received_utc
        ack_crc = _ACK_CRC_TYPE[t] ^ _ACK_CRC_SERIAL_HIGH[serial >> 8] ^ _ACK_CRC_SERIAL_LOW[serial & 0xFF]
        ack = _ACK.pack(0x7878, 5, t, serial, ack_crc, 0x0D0A)
        return [DecodedMessage(kind, device_id, position, ack, raw, attrs.copy())]

    def _decode(self, frame: Gt06Frame, received_utc: datetime) -> DecodedMessage:
        if received_utc.tzinfo is None:
            raise DecodeError(DecodeReason.INVALID_TIME, "received_utc must be UTC-aware")
        self._variant = self._detect_variant(frame)
        self._received_utc = received_utc.astimezone(UTC)
        r = _ContentReader(frame.content)
        if frame.type == MSG_LOGIN:
            out = self._login(r, frame)
        else:
            self._require_device_id()
            out = self._dispatch(r, frame)
        return self._finish(out, frame, received_utc)

    def _finish(self, out: _Out, frame: Gt06Frame, received_utc: datetime) -> DecodedMessage:
        if out.alarms:
            out.attrs["alarm"] = ",".join(out.alarms)
        device_id = self.device_id
        position = None
        if out.fix is not None and device_id is not None:
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
                hdop=out.hdop,
                attributes=out.attrs,
                future_tolerance_s=self.future_tolerance_s,
            )
        return DecodedMessage(
            kind=out.kind,
            device_id=device_id,
            position=position,
            response=out.response,
            raw=frame.raw,
            attributes=dict(out.attrs),
        )

    # -- helpers -----------------------------------------------------------------------------

    def _detect_variant(self, frame: Gt06Frame) -> _Variant:
        if frame.extended:
            return _Variant.STANDARD
        if frame.type == MSG_GPS_LBS_1 and frame.length >= 0x71:
            return _Variant.GT06E_CARD
        if frame.type == MSG_LBS_STATUS and frame.length >= 0x17:
            return _Variant.SPACE10X
        if frame.type == MSG_ALARM and frame.content[:2] == b"\xff\xff":
            return _Variant.JC400
        return _VARIANTS_BY_TYPE_LENGTH.get((frame.type, frame.length), _Variant.STANDARD)

    @property
    def _model_lw(self) -> bool:
        return self.model is not None and self.model.startswith("LW")

    @property
    def _model_nt(self) -> bool:
        return self.model in _NT_MODELS

    @property
    def _model_vl(self) -> bool:
        return self.model in _VL_MODELS

    def _ack(self, frame: Gt06Frame, *, extended: bool = False) -> bytes:
        return build_frame(frame.type, b"", frame.serial, extended=extended)

    def _date(self, r: ByteReader) -> datetime:
        fields = r.take(6)
        year, month, day, hour, minute, second = fields
        try:
            local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as exc:
            raise DecodeError(DecodeReason.INVALID_TIME, f"date bytes {fields.hex()}: {exc}") from exc
        return local - self.timezone_offset

    def _bcd_date(self, r: ByteReader) -> datetime:
        """Packed-decimal date, read digit pair by digit pair as traccar's BcdUtil does."""
        fields = r.take(6)
        year, month, day, hour, minute, second = ((b >> 4) * 10 + (b & 0x0F) for b in fields)
        try:
            return datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as exc:
            raise DecodeError(DecodeReason.INVALID_TIME, f"BCD date {fields.hex()}: {exc}") from exc

    def _gps(
        self,
        r: ByteReader,
        out: _Out,
        *,
        has_length: bool = False,
        has_satellites: bool = True,
        has_speed: bool = True,
        long_speed: bool = False,
        flags_before_speed: bool = False,
    ) -> _Fix | None:
        time_utc = self._date(r)
        if has_length and r.u8() == 0:
            out.attrs["device_time"] = iso_utc(time_utc)
            return None
        satellites = r.u8() & 0x0F if has_satellites else None
        latitude = r.u32() / 1_800_000.0
        longitude = r.u32() / 1_800_000.0
        flags = r.u16() if flags_before_speed else 0
        speed = (r.u16() if long_speed else r.u8()) if has_speed else 0
        if not flags_before_speed:
            flags = r.u16()
        if not flags & 0x0400:
            latitude = -latitude
        if flags & 0x0800:
            longitude = -longitude
        if flags & 0x4000:
            out.attrs["ignition"] = bool(flags & 0x8000)
        return _Fix(
            time_utc=time_utc,
            latitude=latitude,
            longitude=longitude,
            speed_kmh=float(speed),
            heading_deg=float(flags & 0x03FF),
            valid=bool(flags & 0x1000),
            satellites=satellites,
        )

    def _lbs(self, r: ByteReader, out: _Out, message_type: int, *, has_length: bool) -> bool:
        """One serving cell: MCC, MNC (2 bytes if MCC bit 15), LAC, cell id; widths vary by type.

        With ``has_length`` the block starts with a length byte that counts itself (9 for MCC 2 +
        MNC 1 + LAC 2 + cell 3; 17 for an LTE cell with LAC 4 + cell 8), except on SL4X devices and
        in 0x25 driver packets, where it does not.  A block longer than what was read is skipped to
        its end; SEEWORLD blocks (a 4-byte cell id under a length of 9) are read in full.  (traccar
        skips ``length - 9`` bytes whatever it read, which misaligns the 2-byte-MNC blocks of
        0x27/0xA4 packets and the SL4X ones.)
        """
        length = 0
        start = r.remaining
        if has_length:
            length = r.u8()
            if length == 0:
                # an all-zero block of 45 bytes stands for "no cell" (traccar) and is skipped
                if r.remaining >= 45 and not any(r.window(9, 45)):
                    r.skip(45)
                return False
        sl4x = self._variant is _Variant.SL4X
        exclusive = sl4x or message_type == MSG_GPS_LBS_DRIVER
        block_size = length + 1 if exclusive else length
        cell_type = r.u8() if message_type in (MSG_GPS_LBS_8, MSG_ALARM_MODULE) else 0
        mcc = r.u16()
        mnc_size = 2 if mcc & 0x8000 or message_type == MSG_GPS_LBS_6 or sl4x else 1
        mnc = r.uint(mnc_size)
        long_cell = (
            cell_type >= 3
            or message_type in (MSG_LBS_ALARM, MSG_GPS_LBS_7, MSG_WIFI_3)
            or (has_length and not exclusive and length == 1 + 2 + mnc_size + 4 + 8)
        )
        lac = r.sint(4) if long_cell else r.u16()
        sl4x_cell_size = length - 2 - mnc_size - 2
        if sl4x and has_length and 1 <= sl4x_cell_size <= 8:
            cell_id = r.uint(sl4x_cell_size)
        elif long_cell or sl4x:
            cell_id = r.sint(8)
        elif message_type in (MSG_GPS_LBS_6, MSG_IBUTTON, MSG_GPS_LBS_DRIVER) or self._variant is _Variant.SEEWORLD:
            cell_id = r.u32()
        else:
            cell_id = r.u24()
        if cell_type >= 3:
            r.skip(2)  # rssi
        elif message_type in (MSG_GPS_LBS_8, MSG_ALARM_MODULE):
            r.skip(1)  # rssi
        out.attrs.update(mcc=mcc & 0x7FFF, mnc=mnc, lac=lac, cell_id=cell_id)
        consumed = start - r.remaining
        if has_length and block_size > consumed:
            r.skip(block_size - consumed)
        return True

    def _status(self, r: ByteReader, out: _Out) -> None:
        status = r.u8()
        out.attrs["raw_status"] = status
        out.attrs["ignition"] = bool(status & 0x02)
        out.attrs["charge"] = bool(status & 0x04)
        out.attrs["blocked"] = bool(status & 0x80)
        code = (status >> 3) & 0x07
        if code == 7:
            out.alarm("overspeed" if self._variant is _Variant.VXT01 else "removing")
        else:
            out.alarm(_TERMINAL_ALARMS.get(code))

    def _status_alarm(self, code: int) -> str | None:
        lw, vl = self._model_lw, self._model_vl
        sw = self.model == "SEEWORLD"
        if code == 0x09:
            return "tow" if vl else "vibration"
        if code == 0x18:
            return "accident" if lw else "removing"
        if code == 0x19:
            return "hard_acceleration" if lw else "low_battery"
        if code == 0x28:
            return "hard_cornering" if sw else "power_off" if vl else "hard_braking"
        if code == 0x29:
            return "accident" if sw else "hard_acceleration"
        if code == 0x30:
            return "hard_braking" if vl else "jamming"
        return _STATUS_ALARMS.get(code)

    @staticmethod
    def _battery_level(out: _Out, value: int) -> None:
        if value <= 6:
            out.attrs["battery_level"] = value * 100 // 6
        elif value <= 100:
            out.attrs["battery_level"] = value

    # -- dispatch ----------------------------------------------------------------------------

    def _dispatch(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        t = frame.type
        ext = frame.extended
        variant = self._variant
        if t == MSG_HEARTBEAT:
            return self._heartbeat(r, frame)
        if t == MSG_ADDRESS_REQUEST:
            return self._address_request(frame)
        if t == MSG_TIME_REQUEST:
            return self._time_request(frame)
        if t == MSG_X1_GPS and variant is not _Variant.SL4X:
            return self._x1_gps(r, frame)
        if t == MSG_X1_PHOTO_INFO:
            return self._photo_info(r, frame)
        if t == MSG_WIFI_4 or ((t == MSG_WIFI and variant is not _Variant.RFID) or t == MSG_WIFI_2):
            return self._wifi(r, frame)
        if t == MSG_INFO and not ext:
            out = _Out("info", t)
            out.attrs["power_v"] = r.sint(2) / 100.0
            return out
        if t == MSG_LBS_MULTIPLE_3 and variant is _Variant.SR411_MINI:
            return self._sr411(r, frame)
        if t in _LBS_MULTI_TYPES and self._is_lbs_multi(t, ext, variant):
            return self._lbs_multi(r, frame)
        if t == MSG_BLUETOOTH_CLOCK:
            return self._bluetooth_clock(r, frame)
        if t == MSG_STRING:
            return self._string(r, frame)
        if t == MSG_BMS:
            return self._bms(r, frame)
        if t == MSG_STATUS and r.remaining == 16:
            return self._status_16(r, frame)
        if t == MSG_IBUTTON:
            return self._ibutton(r, frame)
        if self._is_supported(t) and not (ext and t in (MSG_GPS_LBS_STATUS_4, MSG_STATUS_2)):
            return self._gps_lbs_status(r, frame)
        if t == MSG_ALARM:
            return self._alarm_packet(r, frame)
        if t == MSG_STRING_INFO:
            return self._string_info(r, frame)
        if t == MSG_INFO:
            return self._info(r, frame)
        if t == MSG_STATUS_2:  # extended: X1 photo data
            return self._photo_data(r, frame)
        if t in (MSG_GPS_LBS_STATUS_4, MSG_WIFI_5):  # extended: AZ735 GPS / alarm
            return self._az735(r, frame)
        if t == MSG_OBD:
            return self._obd(r, frame)
        if t == MSG_GPS_MODULAR:
            return self._modular(r, frame)
        if t == MSG_MULTIMEDIA:
            return self._multimedia(r, frame)
        if t == MSG_SERIAL:
            return self._serial(r, frame)
        if t in (MSG_PERIPHERAL, MSG_DEVICE_STATUS):
            return self._peripheral(r, frame)
        if t == MSG_GPS_LBS_8:
            return self._gps_lbs_8(r, frame)
        if t in _COMMAND_TYPES:
            return self._command_reply(r, frame)
        raise DecodeError(
            DecodeReason.UNKNOWN_MESSAGE_TYPE,
            f"{'extended' if ext else 'basic'} message type 0x{t:02x} ({len(frame.content)} content bytes)",
        )

    @staticmethod
    def _is_lbs_multi(t: int, ext: bool, variant: _Variant) -> bool:
        if t == MSG_X1_GPS:
            return variant is _Variant.SL4X
        if t == MSG_WIFI_3:
            return variant is not _Variant.LW4G
        if t == MSG_WIFI_5:
            return not ext
        return True

    def _is_supported(self, t: int) -> bool:
        return t in _GPS_TYPES or t in _LBS_TYPES or self._has_status(t) or t == MSG_FENCE_SINGLE

    def _has_gps(self, t: int) -> bool:
        if t == MSG_FENCE_SINGLE:
            return self._variant is not _Variant.SEEWORLD
        return t in _GPS_TYPES

    def _has_lbs(self, t: int) -> bool:
        if t == MSG_FENCE_SINGLE:
            return self._variant is not _Variant.SEEWORLD
        return t in _LBS_TYPES

    def _has_status(self, t: int) -> bool:
        if t in (MSG_GPS_LBS_2, MSG_GPS_LBS_DRIVER):
            return self._model_nt
        if t == MSG_FENCE_SINGLE:
            return self._variant is _Variant.SEEWORLD
        return t in _STATUS_TYPES

    # -- handlers: identification and housekeeping -------------------------------------------

    def _login(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("login", frame.type)
        digits = r.take(8).hex()
        imei = digits[1:]
        if not imei.isdigit():
            raise DecodeError(DecodeReason.INVALID_DEVICE_ID, f"login BCD {digits} is not decimal")
        if r.remaining >= 2:
            out.attrs["terminal_type"] = r.u16()
        if r.remaining >= 2:
            bits = r.u16()
            hours, minutes = divmod(bits >> 4, 100)
            offset_min = hours * 60 + minutes
            if bits & 0x08:
                offset_min = -offset_min
            out.attrs["timezone_offset_min"] = offset_min
            self.timezone_offset = timedelta(minutes=offset_min if self.apply_login_timezone else 0)
        else:
            self.timezone_offset = timedelta(0)
        self._set_device_id(imei)
        out.response = self._ack(frame)
        return out

    def _heartbeat(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("heartbeat", frame.type)
        status = r.u8()
        out.attrs.update(armed=bool(status & 0x01), ignition=bool(status & 0x02), charge=bool(status & 0x04))
        if r.remaining >= 2:
            out.attrs["battery_v"] = r.u16() / 100.0
        if r.remaining >= 1:
            out.attrs["rssi"] = r.u8()
        out.response = self._ack(frame)
        return out

    def _address_request(self, frame: Gt06Frame) -> _Out:
        out = _Out("address_request", frame.type)
        text = b"NA&&NA&&0##"
        content = bytes([len(text)]) + (0).to_bytes(4) + text
        out.response = build_frame(MSG_ADDRESS_RESPONSE, content, 0, extended=True)
        return out

    def _time_request(self, frame: Gt06Frame) -> _Out:
        out = _Out("time_request", frame.type)
        now = self._received_utc
        content = bytes([now.year - 2000, now.month, now.day, now.hour, now.minute, now.second])
        out.response = build_frame(MSG_TIME_REQUEST, content, 0)
        return out

    def _photo_info(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("photo", frame.type)
        with contextlib.suppress(DecodeError):  # the announcement stays useful without its time
            out.attrs["device_time"] = iso_utc(self._date(r))
        r.skip(1 + 4 + 4)  # fix status, latitude, longitude
        out.attrs["camera_id"] = r.u8()
        r.skip(2)  # photo source, picture format
        out.attrs["photo_size_bytes"] = r.u32()
        out.attrs["picture_id"] = r.u32()
        return out

    def _photo_data(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("photo", frame.type)
        out.attrs["picture_id"] = r.u32()
        out.attrs["chunk_offset"] = r.u32()
        out.attrs["chunk_length"] = r.u16()
        return out

    def _multimedia(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("photo", frame.type)
        r.skip(8)  # serial number
        out.attrs["device_time"] = iso_utc(_unix_time(r.u32()))
        r.skip(4 + 4 + 2 + 1 + 1 + 2 + 2 + 2 + 2 + 2)  # gps, cell
        out.attrs["media_id"] = r.u32()
        out.attrs["media_length_bytes"] = r.u32()
        out.attrs["media_type"] = r.u8()
        out.attrs["media_format"] = r.u8()
        out.response = self._ack(frame, extended=True)
        return out

    # -- handlers: positions -----------------------------------------------------------------

    def _x1_gps(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("location", frame.type)
        r.skip(4)  # data and alarm
        out.fix = self._gps(r, out)
        r.skip(2)  # terminal info
        out.attrs["odometer_km"] = r.u32() / 1000.0
        out.attrs.update(mcc=r.u16(), mnc=r.u8(), lac=r.u16(), cell_id=r.u32())
        driver = r.u32()
        if driver > 0:
            out.attrs["driver_id"] = str(driver)
        out.attrs["battery_v"] = r.u16() / 100.0
        out.attrs["power_v"] = r.u16() / 100.0
        ports = r.u32()
        out.attrs["input"] = r.u8()
        out.attrs["output"] = r.u8()
        for index in range(1, ((ports >> 20) & 0x0F) + 1):
            out.attrs[f"adc{index}_v"] = r.u16() / 100.0
        return out

    def _sr411(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("location", frame.type)
        out.fix = self._gps(r, out)
        self._lbs(r, out, frame.type, has_length=False)
        out.attrs["ignition"] = r.u8() > 0
        out.attrs["power_v"] = r.u16() / 100.0
        out.attrs["battery_v"] = r.u16() / 100.0
        return out

    def _ibutton(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("location", frame.type)
        r.skip(8)  # imei
        out.fix = self._gps(r, out)
        self._lbs(r, out, frame.type, has_length=False)
        out.attrs["driver_id"] = str((r.u32() << 16) | r.u16())
        out.response = self._ack(frame)
        return out

    def _gps_lbs_8(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("location", frame.type)
        out.fix = self._gps(r, out)
        r.skip(2)  # data upload mode, re-upload
        self._lbs(r, out, frame.type, has_length=False)
        return out

    def _gps_lbs_status(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        """The traccar "supported types" path: GPS and/or LBS and/or status blocks."""
        t = frame.type
        variant = self._variant
        nt = self._model_nt and t in (MSG_GPS_LBS_2, MSG_GPS_LBS_DRIVER)
        has_gps, has_lbs, has_status = self._has_gps(t), self._has_lbs(t), self._has_status(t)
        if t in _ALARM_TYPES:
            kind = "alarm"
        elif has_gps:
            kind = "location"
        elif has_lbs and not has_status:
            kind = "lbs"
        else:
            kind = "heartbeat" if t == MSG_STATUS else "status"
        out = _Out(kind, t)
        if t == MSG_LBS_STATUS and variant is _Variant.SPACE10X:
            out.kind = "lbs"  # a multi-cell report traccar does not decode
            out.attrs["payload_hex"] = r.rest().hex()
            return out

        if t == MSG_GPS_LBS_1 and self.model == "QH302R":
            r.skip(8)  # imei
        if nt:
            r.skip(1 + 8)  # location source type, imei
            out.attrs["device_time"] = iso_utc(self._date(r))

        if has_gps:
            out.fix = self._gps(r, out)
        if has_lbs and r.remaining > 0:
            has_length = (
                has_status
                and t not in (MSG_LBS_STATUS, MSG_LBS_ALARM, MSG_ALARM_MODULE, MSG_WIFI_3)
                and not (t == MSG_GPS_LBS_STATUS_1 and variant is _Variant.VXT01)
            )
            self._lbs(r, out, t, has_length=has_length)

        if has_status:
            self._status_block(r, out, t, nt=nt)

        if t in (MSG_STATUS_2, MSG_WIFI_3, MSG_GPS_LBS_STATUS_3, MSG_FENCE_MULTI, MSG_ALARM_MODULE) or nt:
            r.skip(1)  # language
        if t in (MSG_STATUS_2, MSG_ALARM_MODULE):
            self._status_modules(r, out)
        if t == MSG_WIFI_3:
            out.attrs["odometer_km"] = r.u32() / 1000.0
            out.attrs["engine_hours_h"] = r.u32() / 3600.0
            r.skip(8)  # terminal id
            out.attrs["input"] = r.u16()
        if t == MSG_GPS_LBS_1:
            self._gps_lbs_1_tail(r, out)
        if t == MSG_GPS_LBS_2 and variant is _Variant.SEEWORLD:
            out.attrs["ignition"] = r.u8() > 0
            r.skip(2)  # reporting mode, supplementary transmission
            out.attrs["odometer_km"] = r.u32() / 1000.0
            r.skip(4)  # travel time
            raw_temp = r.u16()
            temp = -(raw_temp & 0x7FFF) if raw_temp & 0x8000 else raw_temp
            out.attrs["temp1_c"] = temp / 100.0
            out.attrs["humidity_pct"] = r.u16() / 100.0
        if t == MSG_GPS_LBS_STATUS_4 and variant is _Variant.SL4X:
            # language, then (length 0x29 only) the altitude.  traccar reads an 8-byte cell id
            # here, so its status fields and altitude come from the serial and CRC bytes.
            if r.remaining > 0:
                r.skip(1)
            if r.remaining >= 2 and out.fix is not None:
                out.fix.altitude_m = float(r.sint(2))
        if t in (MSG_GPS_LBS_2, MSG_GPS_LBS_3, MSG_GPS_LBS_4, MSG_GPS_LBS_5) and r.remaining >= 3 and not nt:
            out.attrs["ignition"] = r.u8() > 0
            out.attrs["event"] = r.u8()
            if r.u8() > 0:
                out.attrs["archive"] = True
            if variant is _Variant.SL4X:
                if r.remaining > 2:
                    out.attrs["odometer_km"] = r.u32() / 1000.0
                altitude = float(r.sint(2))
                if out.fix is not None:
                    out.fix.altitude_m = altitude
        if t == MSG_GPS_LBS_3:
            module, sub_length = r.u16(), r.u8()
            if module == 0x0027:
                out.attrs["power_v"] = r.u16() / 100.0
            elif module == 0x002E:
                out.attrs["odometer_km"] = r.u32() / 1000.0
            elif module == 0x003B:
                out.attrs["accuracy_m"] = r.u16() / 100.0
            else:
                r.skip(sub_length)
        if t == MSG_WIFI:  # RFID variant
            out.attrs["driver_id"] = r.take(8).hex()
            r.skip(1)  # validity
        if nt:
            out.attrs["odometer_km"] = r.u24() / 1000.0
            out.attrs["engine_hours_h"] = r.u24() / 60.0
            if t == MSG_GPS_LBS_DRIVER:
                driver_length = r.u8()
                if driver_length > 0:
                    r.skip(1)  # driver identifier type
                    out.attrs["driver_id"] = r.take(driver_length - 1).hex()
        if r.remaining in (3, 7):
            out.attrs["ignition"] = r.u8() > 0
            r.skip(1)  # upload mode
            if r.u8() > 0:
                out.attrs["archive"] = True
        if r.remaining == 4:
            out.attrs["odometer_km"] = r.u32() / 1000.0
        if t in (MSG_GPS_LBS_STATUS_3, MSG_FENCE_MULTI):
            out.attrs["geofence_id"] = r.u8()
        if t == MSG_GPS_LBS_STATUS_1 and self._model_vl and r.remaining >= 9:
            r.skip(1)  # driver identifier type
            out.attrs["driver_id"] = r.take(8).hex()
        out.response = self._ack(frame)
        return out

    def _status_block(self, r: ByteReader, out: _Out, t: int, *, nt: bool) -> None:
        if t == MSG_WIFI_3:
            r.skip(1)  # network indicator
        self._status(r, out)
        if self._variant is _Variant.OBD6:
            signal = r.u16()
            out.attrs["satellites"] = ((signal >> 10) & 0x1F) + ((signal >> 5) & 0x1F)
            out.attrs["rssi"] = signal & 0x1F
            out.alarm(self._status_alarm(r.u8()))
            r.skip(1)  # language
            out.attrs["battery_level"] = r.u8()
            mode = r.u8()
            out.attrs["power_v"] = r.u16() / 100.0
            r.skip(1 + 2)  # reserved, working time
            if mode == 4:
                out.attrs["temp1_c"] = r.sint(2) / 10.0
            return
        if t == MSG_WIFI_3 or nt:
            out.attrs["power_v"] = r.u16() / 100.0
        if t == MSG_STATUS and self.model == "R11":
            out.attrs["power_v"] = r.u16() / 100.0
        else:
            battery = r.u8()
            if nt:
                out.attrs["battery_v"] = battery / 10.0
            else:
                self._battery_level(out, battery)
        out.attrs["rssi"] = r.u8()
        if t == MSG_STATUS and self._model_lw:
            out.attrs["power_v"] = (r.u16() & 0x0FFF) / 10.0
            return
        extension = r.u8()
        if t in (MSG_GPS_LBS_STATUS_3, MSG_FENCE_MULTI, MSG_ALARM_MODULE) and r.remaining > 0:
            extension += (r.peek() >> 4) << 8  # high nibble of the language byte
        if t == MSG_STATUS and self.model == "SEEWORLD":
            out.attrs["power_v"] = float(extension)
        elif self._variant is not _Variant.VXT01:
            if self._model_vl and t == MSG_GPS_LBS_STATUS_1:
                out.attrs["event"] = extension
            out.alarm(self._status_alarm(extension))

    def _status_modules(self, r: ByteReader, out: _Out) -> None:
        while r.remaining > 0:
            module, length = r.u16(), r.u8()
            if module == 0x0018:
                out.attrs["battery_v"] = r.u16() / 100.0
            elif module == 0x0032:
                out.attrs["startup_status"] = r.u8()
            elif module == 0x006A:
                out.attrs["battery_level"] = r.u8()
            else:
                r.skip(length)

    def _gps_lbs_1_tail(self, r: ByteReader, out: _Out) -> None:
        variant = self._variant
        if variant is _Variant.GT06E_CARD:
            out.attrs["odometer_km"] = r.u32() / 1000.0
            card = _text(r.take(r.u8()))
            r.skip(2)  # alarm, swiped
            out.attrs["card"] = card.strip()
        elif variant is _Variant.BENWAY:
            mask = r.u16()
            out.attrs["ignition"] = bool(mask & (1 << 15))
            out.attrs["in2"] = bool(mask & (1 << 14))
            if mask & (1 << 12):
                value = mask & 0x1FF
                out.attrs["temp1_c"] = float(-value if mask & (1 << 9) else value)
            else:
                value = mask & 0x3FF
                out.attrs["adc1_v"] = float(value) if mask & (1 << 13) else value / 10.0
        elif variant is _Variant.VXT01:
            self._status(r, out)
            out.attrs["power_v"] = r.u16() / 100.0
            out.attrs["rssi"] = r.u8()
            r.skip(1)  # alarm extension
        elif variant is _Variant.S5:
            self._status(r, out)
            out.attrs["power_v"] = r.u16() / 100.0
            out.attrs["rssi"] = r.u8()
            out.alarm(self._status_alarm(r.u8()))
            out.attrs["oil"] = r.u16()
            temperature = r.u8()
            out.attrs["temp1_c"] = float(-(temperature & 0x7F) if temperature & 0x80 else temperature)
            out.attrs["odometer_km"] = r.u32() * 10 / 1000.0
        elif variant is _Variant.WETRUST:
            out.attrs["odometer_km"] = r.u32() / 1000.0
            out.attrs["card"] = _text(r.take(r.u8()))
            if r.u8() > 0:
                out.alarm("general")
            out.attrs["card_status"] = r.u8()
            out.attrs["driving_time"] = r.u16()

    def _az735(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        alarm_packet = frame.type == MSG_WIFI_5
        out = _Out("alarm" if alarm_packet else "location", frame.type)
        out.fix = self._gps(r, out, has_length=True)
        if out.fix is None and not alarm_packet:
            out.kind = "lbs"
        if self._lbs(r, out, frame.type, has_length=True):
            out.attrs["rssi"] = r.u8()
        r.skip(r.u8())  # additional cell towers
        r.skip(r.u8())  # wifi access points
        status = r.u8()
        out.attrs["raw_status"] = status
        if alarm_packet:
            if status in (0xA0, 0xA1):
                out.attrs["armed"] = status == 0xA0
            else:
                out.alarm({0xA2: "low_battery", 0xA3: "low_battery", 0xA4: "general", 0xA5: "door"}.get(status))
        r.skip(r.u8())  # reserved extension
        out.response = self._ack(frame, extended=True)
        return out

    def _modular(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("status", frame.type)
        while r.remaining > 0:
            module, length = r.u16(), r.u16()
            if module == 0x03:
                out.attrs["iccid"] = r.take(10).hex()
            elif module == 0x09:
                out.attrs["satellites"] = r.u8()
            elif module == 0x0A:
                out.attrs["satellites_visible"] = r.u8()
            elif module == 0x11:
                mcc, mnc, lac, cell_id = r.u16(), r.u16(), r.u16(), r.u24()
                r.skip(1)  # rssi
                if cell_id > 0:
                    out.attrs.update(mcc=mcc, mnc=mnc, lac=lac, cell_id=cell_id)
            elif module == 0x18:
                out.attrs["battery_v"] = r.u16() / 100.0
            elif module == 0x28:
                out.hdop = r.u8() / 10.0
            elif module == 0x29:
                out.attrs["record_index"] = r.u32()
            elif module == 0x2A:
                value = r.u8()
                out.attrs["door"] = (value & 0x0F) > 0
                out.attrs["tamper"] = (value >> 4) > 0
            elif module == 0x2B:
                out.attrs["boot_reason"] = r.u8()
            elif module == 0x2E:
                out.attrs["odometer_km"] = int.from_bytes(r.take(4), "little") / 1000.0
            elif module == 0x33:
                out.fix = self._modular_fix(r)
            elif module == 0x34:
                event = r.u8()
                out.alarm(_MODULAR_EVENT_ALARMS.get(event))
                out.attrs["event"] = event
                r.skip(4)  # time, little-endian
                r.skip(r.u8())  # content
            elif module == 0x7F:
                out.attrs["tag1_id"] = r.take(6).hex()
                out.attrs["tag1_battery_v"] = r.u16() / 1000.0
                out.attrs["tag1_battery_level"] = r.u8()
                out.attrs["tag1_temp_c"] = r.sint(2) / 10.0
                out.attrs["tag1_humidity_pct"] = float(r.sint(2))
                out.attrs["tag1_status"] = r.u8()
            else:
                r.skip(length)
        if out.fix is not None:
            out.kind = "location"
            out.attrs.pop("satellites", None)  # the fix record carries its own count
        out.response = build_frame(MSG_GPS_MODULAR, b"", frame.serial)
        return out

    def _modular_fix(self, r: ByteReader) -> _Fix:
        time_utc = _unix_time(r.u32())
        satellites = r.u8()
        altitude = float(r.sint(2))
        latitude = r.u32() / 1_800_000.0
        longitude = r.u32() / 1_800_000.0
        speed = r.u8()
        flags = r.u16()
        return _Fix(
            time_utc=time_utc,
            latitude=latitude if flags & 0x0400 else -latitude,
            longitude=-longitude if flags & 0x0800 else longitude,
            speed_kmh=float(speed),
            heading_deg=float(flags & 0x03FF),
            valid=bool(flags & 0x1000),
            satellites=satellites,
            altitude_m=altitude,
        )

    def _alarm_packet(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("alarm", frame.type)
        jc400 = self._variant is _Variant.JC400
        extended_alarm = frame.length - 5 > 7
        if extended_alarm:
            if jc400:
                r.skip(3)  # marker, version
            out.fix = self._gps(
                r,
                out,
                has_satellites=jc400,
                has_speed=jc400,
                long_speed=jc400,
                flags_before_speed=jc400,
            )
        else:
            out.attrs["device_time"] = iso_utc(self._date(r))
        if jc400:
            out.attrs["power_v"] = r.u16() / 10.0
        event = r.u8()
        out.attrs["event"] = event
        if r.remaining >= 2:
            out.attrs["event_data"] = r.u16()
        if event == 0x01:
            out.alarm("sos" if extended_alarm else "general")
        else:
            out.alarm(_EVENT_ALARMS.get(event))
        if r.remaining > 0:
            out.attrs["event_files"] = _text(r.rest())
        out.response = self._ack(frame)
        return out

    # -- handlers: cells and WiFi ------------------------------------------------------------

    def _wifi(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        """WiFi fixes (0xF3; 0x17/0x69 never pass the CRC check, see the module docstring)."""
        out = _Out("lbs", frame.type)
        time_bytes = r.window(0, 6)
        wifi4 = frame.type == MSG_WIFI_4
        # 0xF3 sends a binary date (like every other GT06 date); 0x17/0x69 a packed-decimal one.
        out.attrs["device_time"] = iso_utc(self._date(r) if wifi4 else self._bcd_date(r))
        count = r.u8() if wifi4 else frame.length
        for _ in range(count):
            r.skip((2 if wifi4 else 0) + 6 + (0 if wifi4 else 1))
        out.attrs["wifi_count"] = count
        if not wifi4:
            cells, mcc, mnc = r.u8(), r.u16(), r.u8()
            out.attrs.update(mcc=mcc, mnc=mnc, cell_count=cells)
            r.skip(cells * 5)
            out.response = GT06_START_SHORT + bytes([0, frame.type]) + time_bytes + GT06_STOP
        return out

    def _lbs_multi(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        t = frame.type
        variant = self._variant
        out = _Out("alarm" if t == MSG_WIFI_ALARM else "lbs", t)
        out.attrs["device_time"] = iso_utc(self._date(r))
        if variant in (_Variant.WANWAY_S20, _Variant.SL4X):
            r.skip(1)  # timing advance
        mcc = r.u16()
        mnc = r.u16() if mcc & 0x8000 or variant is _Variant.SL4X else r.u8()
        cell_4g = t == MSG_WIFI_ALARM and r.u8() > 0
        listed = variant is _Variant.WANWAY_S20 or t == MSG_WIFI_ALARM
        count = r.u8() if listed else (6 if t == MSG_WIFI_5 else 7)
        cells: list[tuple[int, int]] = []
        for _ in range(count):
            if t in (MSG_LBS_2, MSG_WIFI_3) or cell_4g:
                lac, cell_id = r.sint(4), r.sint(8)
            elif t in (MSG_WIFI_5, MSG_X1_GPS):
                lac, cell_id = r.u16(), r.u32()
            else:
                lac, cell_id = r.u16(), r.u24()
            r.skip(1)  # rssi
            if lac > 0:
                cells.append((lac, cell_id))
        if variant not in (_Variant.WANWAY_S20, _Variant.SL4X):
            r.skip(1)  # timing advance
        out.attrs.update(mcc=mcc & 0x7FFF, mnc=mnc, cell_count=len(cells))
        if cells:
            out.attrs.update(lac=cells[0][0], cell_id=cells[0][1])
        if t not in (MSG_LBS_MULTIPLE_1, MSG_LBS_MULTIPLE_2, MSG_LBS_MULTIPLE_3, MSG_LBS_2, MSG_X1_GPS):
            wifi_count = r.u8()
            r.skip(wifi_count * 7)
            out.attrs["wifi_count"] = wifi_count
        if t == MSG_WIFI_ALARM:
            alarm, language = r.u8(), r.u8()
            out.alarm(self._status_alarm(((language >> 4) << 8) | alarm))
        out.response = self._ack(frame)
        return out

    # -- handlers: status, info and text -----------------------------------------------------

    def _status_16(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("heartbeat", frame.type)
        r.skip(1 + 2 + 1 + 1)  # information content, satellites, alarm, language
        out.attrs["battery_level"] = r.u8()
        r.skip(1 + 2 + 1 + 2 + 2)  # working mode, voltage, reserved, working times, working time
        value = r.u16()
        temperature = (value & 0x7FFF) / 10.0
        out.attrs["temp1_c"] = temperature if value & 0x8000 else -temperature
        out.response = self._ack(frame)
        return out

    def _bluetooth_clock(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("info", frame.type)
        out.attrs["device_time"] = iso_utc(self._date(r))
        out.attrs["rssi"] = r.sint(1)
        out.attrs["tag_mac"] = r.take(6).hex()
        out.attrs["tag_uuid"] = r.take(16).hex()
        out.attrs["tag_major"] = r.u16()
        out.attrs["tag_minor"] = r.u16()
        out.attrs["tag_battery_v"] = r.u16() / 100.0
        out.attrs["clock"] = (r.u8() >> 2) & 0x0F
        out.response = self._ack(frame)
        return out

    def _bms(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("status", frame.type)
        r.skip(8)  # serial number
        out.attrs["device_time"] = iso_utc(_unix_time(r.u32()))
        a = out.attrs
        a["bms_relative_capacity"] = r.u8()
        a["bms_remaining_capacity"] = r.u16()
        a["bms_absolute_capacity"] = r.u8()
        a["bms_full_capacity"] = r.u16()
        a["bms_health"] = r.u8()
        a["bms_temp_c"] = round(r.u16() / 10.0 - 273.1, 1)
        a["bms_current"] = r.u16()
        a["battery_v"] = r.u16() / 1000.0
        a["bms_cycle_index"] = r.u16()
        for cell in range(1, 15):
            a[f"bms_cell{cell}_v"] = r.u16() / 1000.0
        a["bms_current_charge_interval"] = r.u16()
        a["bms_max_charge_interval"] = r.u16()
        a["bms_barcode"] = _text(r.take(16)).strip()
        a["bms_version"] = r.u16()
        a["bms_manufacturer"] = _text(r.take(16)).strip()
        a["bms_status"] = r.u32()
        a["bms_controller_status"] = r.u32()
        a["bms_controller_fault"] = r.u32()
        out.response = self._ack(frame)
        return out

    def _string(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("command_reply", frame.type)
        length = r.u8()
        if length > 0:
            r.skip(4)  # server flag
            data = _text(r.take(length - 4))
            if data.startswith("<ICCID:"):
                out.attrs["iccid"] = data[7:27]
            else:
                out.attrs["result"] = data
        out.response = self._ack(frame)
        return out

    def _command_reply(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("command_reply", frame.type)
        if r.remaining > 0:
            length = r.u8()
            if length >= 4 and r.remaining >= length:
                r.skip(4)  # server flag
                out.attrs["result"] = _text(r.take(length - 4)).rstrip("\x00")
        return out

    def _string_info(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("command_reply", frame.type)
        r.skip(4)  # server flag
        encoding = r.u8()
        data = r.rest()
        text = _text(data) if encoding == 1 else data.decode("utf-16-be", errors="replace")
        match = _LOCATION_TEXT.match(text)
        if match:
            lat_hemi, lat, lon_hemi, lon, course, speed, *stamp = match.groups()
            year, month, day, hour, minute, second = (int(v) for v in stamp)
            try:
                time_utc = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except ValueError as exc:
                raise DecodeError(DecodeReason.INVALID_TIME, f"text date: {exc}") from exc
            out.kind = "location"
            out.fix = _Fix(
                time_utc=time_utc,
                latitude=-float(lat) if lat_hemi == "S" else float(lat),
                longitude=-float(lon) if lon_hemi == "W" else float(lon),
                speed_kmh=float(speed),
                heading_deg=math.fmod(float(course), 360.0),
                valid=True,
            )
        else:
            out.attrs["result"] = text
        out.response = self._ack(frame)
        return out

    def _serial(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("info", frame.type)
        r.skip(1)  # external device type code
        data = r.rest()
        out.attrs["result"] = _text(data).strip() if _printable(data) else data.hex()
        return out

    def _info(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("info", frame.type)
        sub = r.u8()
        out.attrs["info_subtype"] = sub
        a = out.attrs
        if sub == 0x00:
            a["adc1_v"] = r.u16() / 100.0
        elif sub == 0x04:
            for item in _text(r.rest()).split(";"):
                key, _, value = item.partition("=")
                try:
                    number = int(value, 16)
                except ValueError:
                    continue
                if key in ("ALM1", "ALM2", "ALM3", "ALM4"):
                    a[f"alarm{key[3]}_status"] = number
                elif key == "STA1":
                    a["other_status"] = number
                elif key == "DYD":
                    a["engine_status"] = number
        elif sub == 0x05:
            if r.remaining >= 7:
                a["device_time"] = iso_utc(self._date(r))
            flags = r.u8()
            a["door"] = bool(flags & 0x01)
            a["io1"] = bool(flags & 0x04)
        elif sub == 0x0A:
            r.skip(8 + 8)  # imei, imsi
            a["iccid"] = r.take(10).hex().rstrip("f")
        elif sub == 0x0B:
            if r.remaining == 1:
                a["network_technology"] = "4G" if r.sint(1) > 0 else "2G"
            elif r.remaining == 2:
                a["power_v"] = r.u16() / 100.0
        elif sub == 0x0D:
            if r.peek() != ord("!"):
                r.skip(6)
            text = _text(r.rest())
            match = _FUEL_TEXT.fullmatch(text)
            if match:
                a["temp1_c"] = float(match.group(1))
                a["fuel_level"] = float(match.group(2))
            else:
                a["result"] = text
        elif sub == 0x1B:
            if chr(r.peek()).isalpha():
                a["serial_number"] = _text(r.rest()).strip()
            else:
                r.skip(2)  # header, type
                a["driver_id"] = r.take(4).hex()
        elif sub == 0x1E:
            a["temp1_c"] = r.sint(4) / 10.0
            a["humidity_pct"] = r.sint(4) / 10.0
        else:
            a["payload_hex"] = r.rest().hex()
        return out

    def _obd(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("obd", frame.type)
        out.attrs["device_time"] = iso_utc(self._date(r))
        out.attrs["ignition"] = r.u8() > 0
        text = _text(r.take(r.remaining - 12))
        names = {
            40: "obd_odometer", 43: "fuel_level", 45: "obd_coolant_temp_c", 53: "obd_speed_kmh",
            54: "obd_rpm", 71: "obd_fuel_used", 73: "engine_hours_h",
        }  # fmt: skip
        for pair in text.split(","):
            key, _, value = pair.partition("=")
            if len(key) < 2 or not value:
                continue
            try:
                code = int(key[:2], 16)
                if code == 74:
                    out.attrs["vin"] = value
                elif code in names:
                    out.attrs[names[code]] = int(value, 16) / 100.0
            except ValueError:
                continue
        return out

    def _peripheral(self, r: ByteReader, frame: Gt06Frame) -> _Out:
        out = _Out("status", frame.type)
        a = out.attrs
        a["device_time"] = iso_utc(_unix_time(r.u32()))
        peripheral = frame.type == MSG_PERIPHERAL
        while r.remaining > 0:
            status_id = r.u16()
            if peripheral:
                if status_id == 0x000A:
                    length = r.u16()
                    r.skip(1)  # mac address type
                    a["mac"] = r.take(6).hex()
                    event, event_data = r.u8(), r.u8()
                    a["event"] = event
                    if event > 0:
                        a["event_data"] = event_data
                    a["data_type"] = r.u8()
                    a["data_details"] = r.take(length - 10).hex()
                elif status_id == 0x000C:
                    r.skip(1)  # length
                    a["external_battery_level"] = r.u8()
                    if r.u8() > 0:
                        a["external_battery_charge"] = True
                    a["external_battery_cycles"] = r.u16()
                    r.skip(6)
                else:
                    length = r.u8()
                    r.skip(length if length else r.u8())
            else:
                length = r.u8()
                if status_id == 0x0001:
                    a["motion"] = r.u8() in (0x02, 0x04)
                elif status_id == 0x0002:
                    a["armed"] = r.u8() > 0
                elif status_id == 0x0004:
                    a["ignition"] = r.u8() > 0
                elif status_id == 0x0005:
                    a["power_v"] = r.u16() / 100.0
                elif status_id == 0x0007:
                    a["charge"] = r.u8() > 0
                elif status_id == 0x000A:
                    a["charge_voltage"] = r.u16()
                elif status_id == 0x000B:
                    a["battery_temp_c"] = r.u16() / 10.0
                else:
                    r.skip(length)
        out.response = self._ack(frame)
        return out


# -- frame builders (simulator, tests) ----------------------------------------------------------


def _imei_bcd(imei: str) -> bytes:
    if not (imei.isdigit() and 1 <= len(imei) <= 16):
        raise ValueError("IMEI must be 1-16 decimal digits")
    return bytes.fromhex(imei.rjust(16, "0"))


def encode_login(imei: str, serial: int, *, timezone_offset_min: int | None = None) -> bytes:
    """Login frame (0x01): IMEI in BCD, type identification 0x0000, optional time-zone extension."""
    validate_device_id(imei)
    content = _imei_bcd(imei) + b"\x00\x00"
    if timezone_offset_min is not None:
        hours, minutes = divmod(abs(timezone_offset_min), 60)
        bits = ((hours * 100 + minutes) << 4) | (0x08 if timezone_offset_min < 0 else 0)
        content += bits.to_bytes(2)
    return build_frame(MSG_LOGIN, content, serial)


def _gps_block(
    *,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed_kmh: float,
    heading_deg: float,
    satellites: int,
    valid: bool,
) -> bytes:
    if time_utc.tzinfo is None:
        raise ValueError("time_utc must be UTC-aware")
    t = time_utc.astimezone(UTC)
    if not 2000 <= t.year <= 2255:
        raise ValueError("GT06 years run from 2000 to 2255")
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise ValueError("latitude/longitude out of range")
    if not 0 <= speed_kmh <= 255:
        raise ValueError("GT06 speed is one byte of km/h")
    if not 0 <= satellites <= 15:
        raise ValueError("GT06 satellites is a 4-bit count")
    course = round(heading_deg) % 360
    flags = course | 0x2000  # bit 13: real-time GPS
    if valid:
        flags |= 0x1000
    if latitude >= 0:
        flags |= 0x0400
    if longitude < 0:
        flags |= 0x0800
    return (
        bytes([t.year - 2000, t.month, t.day, t.hour, t.minute, t.second, 0xC0 | satellites])
        + round(abs(latitude) * 1_800_000).to_bytes(4)
        + round(abs(longitude) * 1_800_000).to_bytes(4)
        + bytes([round(speed_kmh)])
        + flags.to_bytes(2)
    )


def _lbs_block(mcc: int, mnc: int, lac: int, cell_id: int) -> bytes:
    return mcc.to_bytes(2) + bytes([mnc]) + lac.to_bytes(2) + cell_id.to_bytes(3)


def encode_location(
    *,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed_kmh: float,
    heading_deg: float,
    satellites: int,
    valid: bool,
    ignition: bool,
    serial: int,
    mcc: int = 0,
    mnc: int = 0,
    lac: int = 0,
    cell_id: int = 0,
) -> bytes:
    """GPS + LBS location frame (0x22) with the ACC byte, a real-time upload and no re-upload.

    Round trip: time to the second, lat/lon to 1/1 800 000 degree, speed and heading to whole
    km/h and degrees, ignition exactly.
    """
    content = (
        _gps_block(
            time_utc=time_utc,
            latitude=latitude,
            longitude=longitude,
            speed_kmh=speed_kmh,
            heading_deg=heading_deg,
            satellites=satellites,
            valid=valid,
        )
        + _lbs_block(mcc, mnc, lac, cell_id)
        + bytes([1 if ignition else 0, 0x00, 0x00])  # ACC, upload mode (timed), real-time
    )
    return build_frame(MSG_GPS_LBS_2, content, serial)


def battery_level_grade(battery_level: int) -> int:
    """GT06 voltage grade 0-6 for a battery percentage (decoded back as ``grade * 100 // 6``)."""
    if not 0 <= battery_level <= 100:
        raise ValueError("battery_level is a percentage")
    return round(battery_level * 6 / 100)


def _terminal_info(*, ignition: bool, charging: bool = False) -> int:
    return 0x40 | (0x02 if ignition else 0) | (0x04 if charging else 0)  # bit 6: GPS tracking on


def encode_heartbeat(*, ignition: bool, battery_level: int, rssi: int, serial: int, charging: bool = False) -> bytes:
    """Status/heartbeat frame (0x13): terminal info, voltage grade, GSM signal, alarm/language.

    ``battery_level`` is a percentage; it travels as a 0-6 grade (see :func:`battery_level_grade`).
    """
    if not 0 <= rssi <= 0xFF:
        raise ValueError("rssi must fit in one byte")
    content = bytes(
        [_terminal_info(ignition=ignition, charging=charging), battery_level_grade(battery_level), rssi, 0x00, 0x02]
    )
    return build_frame(MSG_STATUS, content, serial)


def encode_alarm(
    *,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed_kmh: float,
    heading_deg: float,
    satellites: int,
    valid: bool,
    alarm: str,
    ignition: bool,
    battery_level: int,
    rssi: int,
    serial: int,
    mcc: int = 0,
    mnc: int = 0,
    lac: int = 0,
    cell_id: int = 0,
) -> bytes:
    """GPS + LBS + status alarm frame (0x16) carrying ``alarm`` (a key of :data:`ALARM_CODES`)."""
    if alarm not in ALARM_CODES:
        raise ValueError(f"unknown alarm {alarm!r}; known: {', '.join(sorted(ALARM_CODES))}")
    content = (
        _gps_block(
            time_utc=time_utc,
            latitude=latitude,
            longitude=longitude,
            speed_kmh=speed_kmh,
            heading_deg=heading_deg,
            satellites=satellites,
            valid=valid,
        )
        + bytes([9])
        + _lbs_block(mcc, mnc, lac, cell_id)
        + bytes(
            [
                _terminal_info(ignition=ignition),
                battery_level_grade(battery_level),
                rssi,
                ALARM_CODES[alarm],
                0x02,
            ]
        )
    )
    return build_frame(MSG_GPS_LBS_STATUS_1, content, serial)


class Gt06Encoder(DeviceEncoder):
    """A simulated GT06 device: login, then location frames (0x22, or 0x16 when the fix carries an alarm)
    and status heartbeats (0x13), each with the next serial number."""

    protocol = PROTOCOL

    def __init__(self, device_id: str, *, battery_level: int = 90, rssi: int = 4) -> None:
        super().__init__(device_id)
        self.serial = 0
        self.battery_level = battery_level
        self.rssi = rssi
        self._ignition = True

    def _next_serial(self) -> int:
        self.serial = (self.serial + 1) % 0x10000
        return self.serial

    def login(self) -> bytes:
        return encode_login(self.device_id, self._next_serial())

    def location(self, fix: FixToSend) -> bytes:
        self._ignition = fix.ignition
        common = {
            "time_utc": fix.time_utc,
            "latitude": fix.latitude,
            "longitude": fix.longitude,
            "speed_kmh": min(fix.speed_kmh, 255.0),
            "heading_deg": fix.heading_deg,
            "satellites": min(fix.satellites, 15),
            "valid": fix.valid,
            "ignition": fix.ignition,
            "serial": self._next_serial(),
        }
        if fix.alarm is not None:
            return encode_alarm(alarm=fix.alarm, battery_level=self.battery_level, rssi=self.rssi, **common)  # type: ignore[arg-type]
        return encode_location(**common)  # type: ignore[arg-type]

    def heartbeat(self) -> bytes:
        return encode_heartbeat(
            ignition=self._ignition, battery_level=self.battery_level, rssi=self.rssi, serial=self._next_serial()
        )

    def awaits_response(self, kind: str) -> bool:
        return kind in ("login", "heartbeat")


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=5023,
    transports=("tcp",),
    decoder_factory=Gt06Decoder,
    framer_factory=Gt06Framer,
    encoder_factory=Gt06Encoder,
)

"""JT/T 808 (formerly "Huabao" in traccar): decoder, stream framer, frame builders, simulated device.

Modelled on traccar's ``Jt808ProtocolDecoder`` (message layouts, the vendor additional-information
items, the model-specific quirks), with the integrity checks traccar leaves out.

Frame
-----
``7E <header> <body> <XOR> 7E`` on the wire, where ``0x7E`` inside the frame travels as ``7D 02`` and
``0x7D`` as ``7D 01``.  After unescaping, the header is: message id (u16), properties (u16: body
length in bits 0-9, encryption in bits 10-12, sub-package flag bit 13, 2019-version flag bit 14),
the protocol version byte (2019 only), the terminal id (BCD phone number: 6 bytes, or 10 bytes in
the 2019 version), the serial number (u16) and, for sub-packaged messages, the package count and
index (u16 each).  The checksum is the XOR of every byte from the message id to the end of the body.

:func:`parse_frame` checks, in this order: the start and stop delimiters (``bad_start_bytes``,
``bad_stop_bytes``), size (``truncated``) and XOR (``bad_checksum``, the raw bytes kept).  A frame may
also be given already unescaped (as traccar's test vectors are): a ``7E`` inside it and a ``7D`` not
followed by 01/02 are then data, and the XOR decides.  The body-length field is *not* enforced when
the XOR matches: the XOR covers it, so a disagreement is the device's own (traccar ignores it too;
GL100 transparent frames in the wild declare more than they carry).
Bodies encrypted with RSA (property bit 10) are refused as ``malformed``.  Sub-packaged messages of
more than one package are reported (``package_count``/``package_index``) and acknowledged, not
reassembled.

The vendor messages 0x5501/0x5502 (JT701-style padlocks) use a one-byte serial, give other meanings
to the property bits (bit 15: the device wants a 0x4401 answer) and carry a JT600 binary location.

A frame starting with ``(`` is a text message of the same devices: ``(...,BASE,2,TIME)`` is a time
request, answered with the sentence with ``TIME`` replaced by the receive time (UTC,
``yyyyMMddHHmmss``); any other sentence is a command reply (``result``).  These name no device, so
they need an identified connection (``no_device_id`` otherwise).

Device id
---------
The terminal id as traccar forms it: the BCD digits of the phone-number field with the leading zeros
stripped (``013511221122`` -> ``13511221122``; 2019 ``00000866496077582164`` -> ``866496077582164``;
all zeros -> ``0``), the id traccar looks the device up by first.  A terminal id that is not BCD is
read, as traccar does, as an IMEI of 14 digits in the first 6 bytes followed by its Luhn digit.
Every binary frame names its terminal, so it sets the connection's id (a preset ``device_id=`` is
used by the text frames only).  Over UDP one datagram is one frame.

Decoding
--------
:class:`Jt808Decoder` is one per connection.  Times in the location body are BCD ``yyMMddHHmmss`` in
the protocol's zone, GMT+8 (``timezone_offset=`` changes it); JT600 locations (0x5501/0x5502) are UTC.
Latitude/longitude are 1e-6 degree with the hemisphere in status bits 2/3, speed 0.1 km/h, altitude
metres, course degrees.

============================  ===========================================================  =============
message                       decoded as                                                   answer
============================  ===========================================================  =============
0x0100 registration           ``login``                                                    0x8100 + auth
0x0102 authentication         ``login``                                                    0x8001
0x0002 / 0x0506 heartbeat     ``heartbeat`` (battery, rssi, status when present)           0x8001
0x0003 logout                 ``status``                                                   0x8001
0x0200 location report        ``location`` with a fix                                      0x8001
0x0201 location query reply   ``location`` with a fix                                      none
0x0704 / 0x0210 batch         one ``location`` per record (``archive`` for blind-area      0x8001
                              uploads); a 0x0210 of 7 bytes is a battery ``status``
0x5501 / 0x5502 JT600 report  ``location`` (0x5502: blind-area upload, ``archive``)        0x4401 if asked
0x0900 transparent data       by content type (OBD, DTC, alarms, trips, sensors, BLE tags) 0x8001
0x0107 terminal attributes    ``info`` (``iccid``)                                         0x8001
0x0702 driver identity        ``info`` (card fields)                                       none
0x0104 parameter reply        ``info`` (parameters)                                        none
0x0701 / 0x1300 / 0x6006      ``command_reply`` (``result``)                               0x8001 (6006)
0x0001 terminal response      ``command_reply`` (reply serial/type/result)                 none
0x0109 time request           ``time_request``                                             0x8109 + time
0x2070 acceleration           ``info`` (``g_sensor``)                                      none
0x1007 time-zone sync         ``info``                                                     0x8001
0x8888 photo                  ``photo`` (not stored)                                       0x8001
============================  ===========================================================  =============

The answers are built as traccar builds them (server serial 0, the terminal id and protocol version
of the frame), but escaped, so that a checksum or id byte of 0x7E cannot break them.  In a batch only
the first message carries the answer.  Other message ids raise ``unknown_message_type``.

Additional-information items of a location (id, length, value) follow traccar's table: 0x01
mileage, 0x02 fuel, 0x25 inputs, 0x2B analogue inputs, 0x30 rssi, 0x31 satellites, 0x51 temperatures,
0x63/0xD5 padlocks, 0x64/0x65 ADAS/DMS alarms, 0x77 tyres, 0x80/0x91/0xEA/0xF3 OBD, 0xEB vendor
sub-items (ICCID, fuel sensors, power, alarms, cells), 0xE1/0xF0 cells, 0xEC/0xF4 WiFi, 0xE8 JC-series
events ...  An item is read within its declared length: an item too short for its layout contributes
what it had before the end and the decoding goes on with the next item (traccar would read into the
next item or fail the frame).  A 0x0200/0x0201 with exactly 18 bytes after the base block carries a
fixed trailer instead (mileage in km, battery voltage, rssi), as traccar reads it.  A location whose
base block (28 bytes) is short raises ``truncated``;
an impossible date ``invalid_time``; an out-of-range fix ``invalid_coordinates``.

``model`` (traccar's per-device model) selects quirks: padlocks ``G-360P G-508P`` (alarm bits),
``AL300 GL100`` (AOVX alarm bits, 0xF3 BLE tags, 0xF6 sensors, 0xF8 ICCID), ``JC371 JC181 JC182 JC450
JC451`` (0xE8 events), ``MV810G MV710G`` (door), ``C5 C5L`` (0xF8 steps), ``G1C PRO`` (motion bit),
``DT800`` (no 0xE2 fuel), ``VL300`` (no accident alarm).

Where this decoder parts from traccar
-------------------------------------
* The XOR is checked (after unescaping ``7D 01``/``7D 02``): traccar's vectors written in unescaped
  form whose data holds ``7D 01``/``7D 02`` (huabao-040, 106-108) are therefore refused.
* 0x5501/0x5502 ``valid`` comes from the fix's own flag (traccar forces it from the message id);
  0x5502 blind-area records are marked ``archive`` instead.
* Transparent (0x0900) content types traccar drops are reported as ``info`` with ``payload_hex``.
* Cells and WiFi access points are summarised as ``mcc``/``mnc``/``lac``/``cell_id`` (first cell),
  ``cell_count`` and ``wifi_count``.
* The 0xEB/0x00C6 battery alarm is added to the other alarms (traccar replaces them with it).
* An additional-information item is read within its declared length (see above).

Attributes
----------
All snake_case, units in the name where there is one (``cedetect.protocols.attributes`` for the
common ones).  Beyond COMMON:

============================================  ===================================================
``message_type``                              int, the JT/T 808 message id of the frame
``raw_status``                                int, status word as received (heartbeats, JT600)
``satellites``                                int, on messages without a fix
``hdop``                                      on messages without a fix (else Position.hdop)
``cell_count`` ``wifi_count``                 int, cells / WiFi access points reported
``obd_speed_kmh`` ``obd_rpm`` ``obd_odometer_km``  OBD values (also ``obd_coolant_temp_c``,
                                              ``obd_fuel_used``, ``engine_load_pct``,
                                              ``throttle_pct``, ``fuel_consumption``,
                                              ``intake_temp_c``, ``intake_flow``, ``intake_pressure``,
                                              ``trip_fuel``, ``trip_fuel_used``, ``vin``, ``dtcs``,
                                              ``cvn``, ``calid``, ``hard_*_count``)
``adc1_v`` ``adc2_v``                         float, analogue inputs
``temp2_c`` ... ``humidity_pct``              float, more sensors (``humidity1_pct`` ... per sensor,
                                              ``device_temp_c``, ``air_pressure``,
                                              ``illuminance_lux``, ``light_sensor``)
``video_alarm`` ``adas_alarm`` ``dms_alarm``  int, video/driver-assistance alarm words
``alarm_label``                               str, hex id of an ADAS/DMS alarm's attachments
``lock_command`` ``lock_card`` ``lock_password`` ``unlock_result``  padlock operation
``lock1_id`` ``lock1_battery_v`` ``lock1_seal`` ``lock1_card`` ``lock1_battery_level``
``lock1_locked`` (per lock)                   padlock sensors
``lock_status`` ``lock_string`` ``cover``     padlock state
``tire1_sensor_id`` ``tire1_pressure_bar`` ``tire1_temp_c`` ``tire1_status``  tyre sensors
``tag1_mac`` ``tag1_rssi`` ``tag1_name`` ``tag1_battery_v`` ``tag1_temp_c`` ``tag1_humidity_pct``
``tag1_data``                                 BLE tags
``fuel1_level`` ``fuel2_level``               float, vendor fuel sensors
``external_*``                                EA sensor block (alarms, illuminance, pressure,
                                              humidity, temperature)
``battery_alarm``                             int, vendor battery alarm code
``mode`` ``event`` ``geofence_id``            int
``timezone``                                  str, the device's own zone text (``UTC+08:00``)
``firmware_version`` ``imei`` ``container`` ``password`` ``driver_name``  str
``card``                                      str, card reader text
``card_status`` ``card_result`` ``card_code`` ``card_agency`` ``card_validity``  driver identity
``steps``                                     int, pedometer
``g_sensor`` ``tilt``                         str, accelerometer readings ``[x,y,z]``
``wake_source``                               int
``upload_mode`` ``data_usage``                int (JC series)
``collision``                                 float
``trip_number`` ``idling_count`` ``idling_time`` ``fuel_temp_c`` ``oil_level`` ``air_temp_c``
``liquid_level`` ``io<id>``                   transparent OBD data
``transparent_type`` ``transparent_text`` ``payload_hex``  transparent data not interpreted
``reply_serial`` ``reply_message_type`` ``reply_result``  0x0001 terminal responses
``package_count`` ``package_index``           sub-packaged messages
``heartbeat_interval_s`` ``apn`` ``server`` ``port`` ``sleep_report_interval_s``
``emergency_report_interval_s`` ``default_report_interval_s`` ``overspeed_threshold_kmh``
``speed_limit_duration_s`` ``plate_number``   0x0104 parameters
``terminal_type``                             int, 0x0107
``auth_code``                                 str, the code the registration answer gives
============================================  ===================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from cedetect.protocols.common import bit_set, iso_utc
from cedetect.protocols.reader import ByteReader

PROTOCOL: Final = "jt808"

DELIMITER: Final = 0x7E
ESCAPE: Final = 0x7D
TEXT_START: Final = 0x28  # "("
TEXT_END: Final = 0x29  # ")"

MSG_TERMINAL_GENERAL_RESPONSE: Final = 0x0001
MSG_HEARTBEAT: Final = 0x0002
MSG_TERMINAL_LOGOUT: Final = 0x0003
MSG_PARAMETER_QUERY_RESPONSE: Final = 0x0104
MSG_TERMINAL_REGISTER: Final = 0x0100
MSG_TERMINAL_AUTH: Final = 0x0102
MSG_TERMINAL_ATTRIBUTES: Final = 0x0107
MSG_TIME_SYNC_REQUEST: Final = 0x0109
MSG_LOCATION_REPORT: Final = 0x0200
MSG_LOCATION_QUERY_RESPONSE: Final = 0x0201
MSG_LOCATION_BATCH_2: Final = 0x0210
MSG_HEARTBEAT_2: Final = 0x0506
MSG_COMMAND_RESPONSE: Final = 0x0701
MSG_DRIVER_IDENTITY: Final = 0x0702
MSG_LOCATION_BATCH: Final = 0x0704
MSG_TRANSPARENT: Final = 0x0900
MSG_TIMEZONE_SYNC: Final = 0x1007
MSG_TEXT_MESSAGE_RESPONSE: Final = 0x1300
MSG_ACCELERATION: Final = 0x2070
MSG_LOCATION_REPORT_2: Final = 0x5501
MSG_LOCATION_REPORT_BLIND: Final = 0x5502
MSG_REPORT_TEXT_MESSAGE: Final = 0x6006
MSG_PHOTO: Final = 0x8888

MSG_GENERAL_RESPONSE: Final = 0x8001
MSG_GENERAL_RESPONSE_2: Final = 0x4401
MSG_TERMINAL_REGISTER_RESPONSE: Final = 0x8100
MSG_TIME_SYNC_RESPONSE: Final = 0x8109

RESULT_SUCCESS: Final = 0

#: Messages with the JT600-style layout: one-byte serial, vendor meaning of the property bits (0x4401
#: is the server's answer to the other two).
_VENDOR_TYPES: Final = frozenset({MSG_LOCATION_REPORT_2, MSG_LOCATION_REPORT_BLIND, MSG_GENERAL_RESPONSE_2})

_PADLOCK_MODELS: Final = frozenset({"G-360P", "G-508P"})
_AOVX_MODELS: Final = frozenset({"AL300", "GL100"})
_JC_MODELS: Final = frozenset({"JC371", "JC181", "JC182", "JC450", "JC451"})
_DOOR_MODELS: Final = frozenset({"MV810G", "MV710G"})
_STEP_MODELS: Final = frozenset({"C5", "C5L"})

#: The base location block: alarm, status, latitude, longitude (u32 each), altitude, speed, course
#: (u16 each) and the BCD time (6 bytes).
_LOCATION_BASE_SIZE: Final = 28
#: The fixed trailer some devices put after the base block instead of items.
_FIXED_TRAILER_SIZE: Final = 18
#: Header size without version byte, id and serial: message id + properties.
_HEAD: Final = 4
#: The fewest bytes between the delimiters (unescaped): message id, properties, a 6-byte id, a
#: one-byte serial (0x5501), the checksum.
_MIN_FRAME_INSIDE: Final = _HEAD + 6 + 1 + 1
#: The longest frame accepted by default (a 1023-byte body fully escaped, plus headers).
DEFAULT_MAX_FRAME_SIZE: Final = 4096
#: The longest text sentence ``(...)`` accepted.
MAX_TEXT_FRAME: Final = 1024


# -- escaping, checksum, ids ---------------------------------------------------------------------


def escape(data: bytes) -> bytes:
    """Escape the inside of a frame: ``7E`` -> ``7D 02``, ``7D`` -> ``7D 01``."""
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(data: bytes) -> tuple[bytes, bool]:
    """Undo :func:`escape`; the flag says whether an invalid escape (``7D`` + other) was met.

    An invalid escape is kept as it is (both bytes), so that the XOR can still judge the frame.
    """
    if ESCAPE not in data:
        return data, False
    out = bytearray()
    invalid = False
    i = 0
    size = len(data)
    while i < size:
        b = data[i]
        if b == ESCAPE and i + 1 < size and data[i + 1] in (0x01, 0x02):
            out.append(ESCAPE if data[i + 1] == 0x01 else DELIMITER)
            i += 2
            continue
        if b == ESCAPE:
            invalid = True
        out.append(b)
        i += 1
    return bytes(out), invalid


def xor_checksum(data: bytes) -> int:
    """XOR of all bytes."""
    value = 0
    for b in data:
        value ^= b
    return value


def luhn_digit(number: int) -> int:
    """The Luhn check digit for ``number`` (as traccar computes it for IMEIs)."""
    checksum = 0
    position = 0
    while number:
        digit = number % 10
        if position % 2 == 0:
            digit *= 2
            if digit >= 10:
                digit = 1 + digit % 10
        checksum += digit
        number //= 10
        position += 1
    return (10 - checksum % 10) % 10


def terminal_id_text(terminal_id: bytes) -> str:
    """The terminal id as traccar's ``decodeId``: its BCD digits, or an IMEI with Luhn digit."""
    digits = terminal_id.hex()
    if digits.isdigit():
        return digits
    imei = int.from_bytes(terminal_id[:6])
    return f"{imei}{luhn_digit(imei)}"


def terminal_device_id(terminal_id: bytes) -> str:
    """The device id of a terminal id: :func:`terminal_id_text` without leading zeros (all zeros: ``0``)."""
    return terminal_id_text(terminal_id).lstrip("0") or "0"


def encode_terminal_id(device_id: str, *, length: int = 6) -> bytes:
    """The terminal-id field for ``device_id`` (BCD, zero-padded); ``length`` is 6 (2013) or 10 (2019).

    A 15-digit IMEI does not fit 12 BCD digits: as traccar does, its first 14 digits travel as a
    48-bit number (the Luhn digit is recomputed by the receiver).
    """
    if not device_id.isdigit():
        raise ValueError("a JT/T 808 terminal id is decimal digits")
    if length not in (6, 10):
        raise ValueError("terminal ids are 6 (2013) or 10 (2019) bytes")
    if len(device_id) <= length * 2:
        return bytes.fromhex(device_id.rjust(length * 2, "0"))
    if length == 6 and len(device_id) == 15 and int(device_id[:14]) < 1 << 48:
        if luhn_digit(int(device_id[:14])) != int(device_id[14]):
            raise ValueError("the IMEI's Luhn digit is wrong: the receiver would compute another id")
        packed = int(device_id[:14]).to_bytes(6)
        if packed.hex().isdigit():
            raise ValueError("this IMEI packs into BCD-looking bytes: the receiver would read a phone number")
        return packed
    raise ValueError(f"device id {device_id!r} does not fit a {length}-byte terminal id")


# -- frames ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Jt808Frame:
    """A JT/T 808 frame that passed the integrity checks (unescaped)."""

    type: int
    properties: int
    version: int | None
    terminal_id: bytes
    serial: int
    body: bytes
    raw: bytes
    package_count: int = 1
    package_index: int = 1

    @property
    def declared_body_length(self) -> int:
        return self.properties & 0x03FF

    @property
    def vendor(self) -> bool:
        """0x5501/0x5502: one-byte serial, vendor meaning of the property bits."""
        return self.type in _VENDOR_TYPES


def parse_frame(frame: bytes) -> Jt808Frame:
    """Check delimiters, size, XOR and escapes; split the header (see the module docstring)."""
    raw = bytes(frame)
    if len(raw) < 2:
        raise DecodeError(DecodeReason.TRUNCATED, f"{len(raw)} bytes", raw=raw)
    if raw[0] != DELIMITER:
        raise DecodeError(DecodeReason.BAD_START_BYTES, f"starts with {raw[:1].hex()}", raw=raw)
    if raw[-1] != DELIMITER:
        raise DecodeError(DecodeReason.BAD_STOP_BYTES, f"ends with {raw[-1:].hex()}", raw=raw)
    data, _ = unescape(raw[1:-1])
    if len(data) < _MIN_FRAME_INSIDE:
        detail = f"{len(data)} bytes inside, a frame has at least {_MIN_FRAME_INSIDE}"
        raise DecodeError(DecodeReason.TRUNCATED, detail, raw=raw)
    received, computed = data[-1], xor_checksum(data[:-1])
    if received != computed:
        raise DecodeError(DecodeReason.BAD_CHECKSUM, f"XOR {received:02x}, computed {computed:02x}", raw=raw)
    message_type = int.from_bytes(data[0:2])
    properties = int.from_bytes(data[2:4])
    vendor = message_type in _VENDOR_TYPES
    at = _HEAD
    version: int | None = None
    if properties & 0x4000:
        version = data[at]
        at += 1
    id_size = 10 if version is not None else 6
    serial_size = 1 if vendor else 2
    subpackaged = not vendor and bool(properties & 0x2000)
    header = at + id_size + serial_size + (4 if subpackaged else 0)
    if len(data) - 1 < header:
        raise DecodeError(DecodeReason.TRUNCATED, f"header needs {header} bytes, frame has {len(data) - 1}", raw=raw)
    terminal_id = data[at : at + id_size]
    at += id_size
    serial = int.from_bytes(data[at : at + serial_size])
    at += serial_size
    count = index = 1
    if subpackaged:
        count, index = int.from_bytes(data[at : at + 2]), int.from_bytes(data[at + 2 : at + 4])
        at += 4
    if not vendor and properties & 0x0400:
        raise DecodeError(DecodeReason.MALFORMED, "RSA-encrypted body", raw=raw)
    return Jt808Frame(
        type=message_type,
        properties=properties,
        version=version,
        terminal_id=terminal_id,
        serial=serial,
        body=data[at:-1],
        raw=raw,
        package_count=count,
        package_index=index,
    )


def build_frame(
    message_type: int,
    terminal_id: bytes,
    body: bytes,
    serial: int,
    *,
    version: int | None = None,
    short_serial: bool = False,
    properties_extra: int = 0,
) -> bytes:
    """A complete, escaped frame with properties and XOR filled in.

    ``version`` (2019) sets property bit 14 and writes the version byte; ``short_serial`` writes a
    one-byte serial (0x4401/0x5501 style); ``properties_extra`` ORs other property bits in.
    """
    if not 0 <= message_type <= 0xFFFF:
        raise ValueError("message id must fit in two bytes")
    if len(body) > 0x03FF:
        raise ValueError("a JT/T 808 body holds at most 1023 bytes")
    if len(terminal_id) != (10 if version is not None else 6):
        raise ValueError("terminal id must be 6 bytes (2013) or 10 bytes (with a version)")
    properties = len(body) | properties_extra
    head = message_type.to_bytes(2)
    if version is not None:
        head += (properties | 0x4000).to_bytes(2) + bytes([version])
    else:
        head += properties.to_bytes(2)
    head += terminal_id + (serial.to_bytes(1) if short_serial else serial.to_bytes(2))
    data = head + body
    return bytes([DELIMITER]) + escape(data + bytes([xor_checksum(data)])) + bytes([DELIMITER])


# -- reading -------------------------------------------------------------------------------------


def _java_trim(text: str) -> str:
    """Java's String.trim(): strip characters up to U+0020 at both ends."""
    return text.strip("".join(chr(c) for c in range(0x21)))


def _bcd(value: int) -> int:
    high, low = value >> 4, value & 0x0F
    if high > 9 or low > 9:
        raise DecodeError(DecodeReason.INVALID_TIME, f"BCD byte {value:02x}")
    return high * 10 + low


def _printable(data: bytes) -> bool:
    return all(0x20 <= b < 0x7F for b in data)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# -- decoded content -------------------------------------------------------------------------------


@dataclass
class _Fix:
    time_utc: datetime
    latitude: float
    longitude: float
    valid: bool
    speed_kmh: float = 0.0
    heading_deg: float = 0.0
    altitude_m: float | None = None


@dataclass
class _Out:
    """One message being decoded: kind, attributes, alarms, maybe a fix."""

    kind: str
    attrs: dict[str, AttributeValue] = field(default_factory=dict)
    alarms: list[str] = field(default_factory=list)
    fix: _Fix | None = None
    satellites: int | None = None
    hdop: float | None = None
    cells: list[tuple[int, int, int, int]] = field(default_factory=list)
    wifi_count: int = 0

    def alarm(self, name: Alarm | None) -> None:
        if name is not None and name.value not in self.alarms:
            self.alarms.append(name.value)

    def set(self, key: str, value: AttributeValue) -> None:
        self.attrs[key] = value


#: Alarm bits of the JT/T 808 alarm word (traccar's defaults).
_ALARM_BITS: Final[tuple[tuple[tuple[int, ...], Alarm], ...]] = (
    ((0,), Alarm.SOS),
    ((1,), Alarm.OVERSPEED),
    ((2,), Alarm.FATIGUE_DRIVING),
    ((5, 6), Alarm.GPS_ANTENNA_CUT),
    ((4, 9, 10, 11), Alarm.FAULT),
    ((7, 18), Alarm.LOW_BATTERY),
    ((8,), Alarm.POWER_OFF),
    ((15,), Alarm.VIBRATION),
    ((16, 17), Alarm.TAMPERING),
    ((19,), Alarm.PARKING),
    ((20,), Alarm.GEOFENCE),
    ((26,), Alarm.GENERAL),
    ((28,), Alarm.MOVEMENT),
)

#: JC-series 0xE8 event codes.
_JC_EVENT_ALARMS: Final[dict[int, Alarm]] = {
    0x0001: Alarm.FAULT, 0x0400: Alarm.HARD_ACCELERATION, 0x0412: Alarm.HARD_ACCELERATION,
    0x0401: Alarm.HARD_BRAKING, 0x0413: Alarm.HARD_BRAKING, 0x0402: Alarm.HARD_CORNERING,
    0x0414: Alarm.HARD_CORNERING, 0x0403: Alarm.OVERSPEED, 0x0405: Alarm.ACCIDENT, 0x0416: Alarm.ACCIDENT,
    0x0417: Alarm.ACCIDENT, 0x0406: Alarm.VIBRATION, 0x0407: Alarm.TOW, 0x0408: Alarm.GEOFENCE_ENTER,
    0x0409: Alarm.GEOFENCE_EXIT, 0x040C: Alarm.DOOR, 0x0415: Alarm.LANE_CHANGE, 0x0C01: Alarm.SOS,
    0x0C02: Alarm.LOW_POWER, 0x0C05: Alarm.GENERAL, 0x0C0E: Alarm.POWER_CUT, 0x0C0F: Alarm.LOW_BATTERY,
    0x0C10: Alarm.POWER_OFF, 0x0C12: Alarm.TAMPERING,
}  # fmt: skip

#: Transparent 0xF0/0x03 alarm ids.
_TRANSPARENT_ALARMS: Final[dict[int, Alarm]] = {
    0x01: Alarm.POWER_RESTORED, 0x02: Alarm.POWER_CUT, 0x0E: Alarm.IDLE, 0x1A: Alarm.HARD_ACCELERATION,
    0x1B: Alarm.HARD_BRAKING, 0x1C: Alarm.HARD_CORNERING, 0x1D: Alarm.LANE_CHANGE, 0x1E: Alarm.LANE_CHANGE,
    0x1F: Alarm.LANE_CHANGE, 0x23: Alarm.FATIGUE_DRIVING, 0x25: Alarm.OVERSPEED, 0x26: Alarm.ACCIDENT,
    0x27: Alarm.ACCIDENT, 0x28: Alarm.ACCIDENT, 0x31: Alarm.DOOR, 0x32: Alarm.DOOR,
}  # fmt: skip

#: Transparent 0xF0/0x15 event numbers that are alarms.
_TRANSPARENT_EVENTS: Final[dict[int, Alarm]] = {
    51: Alarm.HARD_ACCELERATION, 52: Alarm.HARD_BRAKING, 53: Alarm.HARD_CORNERING, 54: Alarm.LANE_CHANGE,
    56: Alarm.ACCIDENT,
}  # fmt: skip

#: 0x0104 parameters: id -> (attribute, kind) with kind "u32", "text" or "odometer".
_PARAMETERS: Final[dict[int, tuple[str, str]]] = {
    0x0001: ("heartbeat_interval_s", "u32"), 0x0010: ("apn", "text"), 0x0013: ("server", "text"),
    0x0018: ("port", "u32"), 0x0027: ("sleep_report_interval_s", "u32"),
    0x0028: ("emergency_report_interval_s", "u32"), 0x0029: ("default_report_interval_s", "u32"),
    0x0055: ("overspeed_threshold_kmh", "u32"), 0x0056: ("speed_limit_duration_s", "u32"),
    0x0080: ("odometer_km", "odometer"), 0x0083: ("plate_number", "text"),
}  # fmt: skip


class Jt808Decoder(ProtocolDecoder):
    """Decoder for one JT/T 808 connection (see the module docstring)."""

    protocol = PROTOCOL

    def __init__(
        self,
        *,
        device_id: str | None = None,
        model: str | None = None,
        timezone_offset: timedelta = timedelta(hours=8),
        future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
    ) -> None:
        super().__init__(device_id=device_id, model=model)
        #: Offset east of UTC of the BCD times in location bodies (GMT+8 in the standard).
        self.timezone_offset = timezone_offset
        self.future_tolerance_s = future_tolerance_s
        self._handlers: dict[int, Callable[[Jt808Frame, ByteReader, datetime], list[_Out]]] = {
            MSG_TERMINAL_REGISTER: self._register,
            MSG_TERMINAL_AUTH: self._acked("login"),
            MSG_HEARTBEAT: self._heartbeat,
            MSG_HEARTBEAT_2: self._acked("heartbeat"),
            MSG_TERMINAL_LOGOUT: self._acked("status"),
            MSG_PHOTO: self._acked("photo"),
            MSG_TIMEZONE_SYNC: self._acked("info"),
            MSG_TERMINAL_GENERAL_RESPONSE: self._terminal_response,
            MSG_REPORT_TEXT_MESSAGE: self._report_text,
            MSG_TEXT_MESSAGE_RESPONSE: self._text_response,
            MSG_COMMAND_RESPONSE: self._command_response,
            MSG_TERMINAL_ATTRIBUTES: self._terminal_attributes,
            MSG_LOCATION_REPORT: self._location_report,
            MSG_LOCATION_QUERY_RESPONSE: self._location_query_response,
            MSG_LOCATION_REPORT_2: self._jt600_location,
            MSG_LOCATION_REPORT_BLIND: self._jt600_location,
            MSG_LOCATION_BATCH: self._batch,
            MSG_LOCATION_BATCH_2: self._batch,
            MSG_TIME_SYNC_REQUEST: self._time_sync,
            MSG_ACCELERATION: self._acceleration,
            MSG_TRANSPARENT: self._transparent,
            MSG_DRIVER_IDENTITY: self._driver_identity,
            MSG_PARAMETER_QUERY_RESPONSE: self._parameters,
        }
        self._response: bytes | None = None

    # -- entry point -------------------------------------------------------------------------

    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        raw = bytes(frame)
        try:
            if received_utc.tzinfo is None:
                raise DecodeError(DecodeReason.INVALID_TIME, "received_utc must be UTC-aware")
            received = received_utc.astimezone(UTC)
            if raw[:1] == bytes([TEXT_START]):
                return self._decode_text(raw, received)
            return self._decode_binary(parse_frame(raw), received)
        except DecodeError as exc:
            raise exc.with_raw(raw) from None
        except (ValueError, OverflowError) as exc:  # defensive: content the layouts did not foresee
            raise DecodeError(DecodeReason.MALFORMED, f"{type(exc).__name__}: {exc}", raw=raw) from exc

    def _decode_text(self, raw: bytes, received: datetime) -> list[DecodedMessage]:
        if raw[-1] != TEXT_END:
            raise DecodeError(DecodeReason.BAD_STOP_BYTES, "text frame does not end with ')'")
        if not _printable(raw):
            raise DecodeError(DecodeReason.MALFORMED, "text frame with non-printable bytes")
        device_id = self._require_device_id()
        sentence = raw.decode("ascii")
        if "BASE,2" in sentence:
            answer = sentence.replace("TIME", received.strftime("%Y%m%d%H%M%S"))
            return [DecodedMessage("time_request", device_id, None, answer.encode("ascii"), raw, {})]
        return [DecodedMessage("command_reply", device_id, None, None, raw, {"result": sentence})]

    def _decode_binary(self, frame: Jt808Frame, received: datetime) -> list[DecodedMessage]:
        device_id = self._set_device_id(terminal_device_id(frame.terminal_id))
        self._response = None
        reader = ByteReader(frame.body)
        if frame.package_count > 1:
            out = _Out("info", {"package_count": frame.package_count, "package_index": frame.package_index})
            self._response = self._general_response(frame)
            outs = [out]
        else:
            handler = self._handlers.get(frame.type)
            if handler is None:
                raise DecodeError(DecodeReason.UNKNOWN_MESSAGE_TYPE, f"message id 0x{frame.type:04x}")
            outs = handler(frame, reader, received)
        messages = []
        for index, out in enumerate(outs):
            response = self._response if index == 0 else None
            messages.append(self._finish(out, frame, device_id, received, response))
        return messages

    def _finish(
        self, out: _Out, frame: Jt808Frame, device_id: str, received: datetime, response: bytes | None
    ) -> DecodedMessage:
        attrs: dict[str, AttributeValue] = {"message_type": frame.type, **out.attrs}
        if out.alarms:
            attrs["alarm"] = ",".join(out.alarms)
        if out.cells:
            mcc, mnc, lac, cell_id = out.cells[0]
            attrs.update({"mcc": mcc, "mnc": mnc, "lac": lac, "cell_id": cell_id, "cell_count": len(out.cells)})
        if out.wifi_count:
            attrs["wifi_count"] = out.wifi_count
        position = None
        if out.fix is None:
            if out.satellites is not None:
                attrs["satellites"] = out.satellites
            if out.hdop is not None:
                attrs["hdop"] = out.hdop
        else:
            fix = out.fix
            position = make_position(
                device_id=device_id,
                protocol=PROTOCOL,
                time_utc=fix.time_utc,
                received_utc=received,
                latitude=fix.latitude,
                longitude=fix.longitude,
                speed_kmh=fix.speed_kmh,
                heading_deg=fix.heading_deg,
                valid=fix.valid,
                altitude_m=fix.altitude_m,
                satellites=out.satellites,
                hdop=out.hdop,
                attributes=attrs,
                future_tolerance_s=self.future_tolerance_s,
            )
        return DecodedMessage(
            kind=out.kind, device_id=device_id, position=position, response=response, raw=frame.raw, attributes=attrs
        )

    # -- answers -----------------------------------------------------------------------------

    def _answer(self, frame: Jt808Frame, message_type: int, body: bytes, *, short_serial: bool = False) -> bytes:
        return build_frame(
            message_type,
            frame.terminal_id,
            body,
            1 if short_serial else 0,
            version=frame.version,
            short_serial=short_serial,
        )

    def _general_response(self, frame: Jt808Frame) -> bytes:
        body = frame.serial.to_bytes(2) + frame.type.to_bytes(2) + bytes([RESULT_SUCCESS])
        return self._answer(frame, MSG_GENERAL_RESPONSE, body)

    # -- model quirks ------------------------------------------------------------------------

    def _in(self, models: frozenset[str]) -> bool:
        return self.model is not None and self.model in models

    @property
    def _aovx(self) -> bool:
        return self._in(_AOVX_MODELS)

    # -- simple messages ---------------------------------------------------------------------

    def _acked(self, kind: str) -> Callable[[Jt808Frame, ByteReader, datetime], list[_Out]]:
        def handler(frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
            self._response = self._general_response(frame)
            return [_Out(kind)]

        return handler

    def _register(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        auth_code = terminal_id_text(frame.terminal_id)
        body = frame.serial.to_bytes(2) + bytes([RESULT_SUCCESS]) + auth_code.encode("ascii")
        self._response = self._answer(frame, MSG_TERMINAL_REGISTER_RESPONSE, body)
        return [_Out("login", {"auth_code": auth_code})]

    def _heartbeat(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        self._response = self._general_response(frame)
        out = _Out("heartbeat")
        if r.remaining >= 3:
            out.set("battery_level", r.u8())
            out.set("rssi", r.u8())
            out.set("raw_status", r.u8())
        return [out]

    def _terminal_response(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        out = _Out("command_reply")
        out.set("reply_serial", r.u16())
        out.set("reply_message_type", r.u16())
        out.set("reply_result", r.u8())
        return [out]

    def _report_text(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        self._response = self._general_response(frame)
        r.skip(1)  # encoding
        return [_Out("command_reply", {"result": r.rest().decode("gbk", errors="replace")})]

    def _text_response(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        r.skip(2)  # serial of the message answered
        size = min(max(frame.declared_body_length - 2, 0), r.remaining)
        text = r.take(size - size % 2).decode("utf-16-be", errors="replace")
        return [_Out("command_reply", {"result": _java_trim(text)})]

    def _command_response(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        return [_Out("command_reply", {"result": r.text(r.u32())})]

    def _terminal_attributes(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        self._response = self._general_response(frame)
        out = _Out("info")
        out.set("terminal_type", r.u16())
        r.skip(5 + 20 + 7)  # manufacturer, model, terminal id
        out.set("iccid", r.hex(10))
        return [out]

    def _time_sync(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        t = received
        body = t.year.to_bytes(2) + bytes([t.month, t.day, t.hour, t.minute, t.second, RESULT_SUCCESS])
        self._response = self._answer(frame, MSG_TIME_SYNC_RESPONSE, body)
        return [_Out("time_request")]

    def _acceleration(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        samples = []
        while r.remaining > 0:
            r.skip(6)  # time
            x, y, z = (self._signed_word(r) for _ in range(3))
            samples.append(f"[{x},{y},{z}]")
        return [_Out("info", {"g_sensor": "[" + ",".join(samples) + "]"})]

    @staticmethod
    def _signed_word(r: ByteReader) -> int:
        value = r.u16()
        return -(value & 0x7FFF) if value & 0x8000 else value

    def _driver_identity(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        out = _Out("info")
        out.set("card_status", r.u8())
        out.set("device_time", iso_utc(self._bcd_time(r)))
        out.set("card_result", r.u8())
        out.set("driver_name", r.text(r.u8()))
        out.set("card_code", _java_trim(r.text(20)))
        out.set("card_agency", r.text(r.u8()))
        out.set("card_validity", r.hex(4))
        return [out]

    def _parameters(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        out = _Out("info")
        r.skip(2)  # serial of the query answered
        r.skip(1)  # parameter count
        while r.remaining >= 5:
            parameter = r.u32()
            length = r.u8()
            if length > r.remaining:
                break
            item = r.sub(length)
            known = _PARAMETERS.get(parameter)
            if known is None:
                continue
            name, kind = known
            if kind == "text":
                out.set(name, _java_trim(item.rest().decode("gbk", errors="replace")))
            elif item.remaining >= 4:
                value = item.u32()
                out.set(name, value * 100 / 1000 if kind == "odometer" else value)
        return [out]

    # -- dates -------------------------------------------------------------------------------

    def _bcd_time(self, r: ByteReader) -> datetime:
        """BCD ``yyMMddHHmmss`` in the device zone (GMT+8 unless configured otherwise), as UTC."""
        fields = r.take(6)
        year, month, day, hour, minute, second = (_bcd(b) for b in fields)
        try:
            local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as exc:
            raise DecodeError(DecodeReason.INVALID_TIME, f"BCD time {fields.hex()}: {exc}") from exc
        return local - self.timezone_offset

    # -- locations ---------------------------------------------------------------------------

    def _location_report(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        self._response = self._general_response(frame)
        return [self._location(r, fixed_trailer=True)]

    def _location_query_response(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        r.skip(2)  # serial of the query answered
        return [self._location(r, fixed_trailer=True)]

    def _batch(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        self._response = self._general_response(frame)
        if frame.type == MSG_LOCATION_BATCH_2 and frame.declared_body_length == 7:
            out = _Out("status")
            out.set("battery_level", r.u8())
            out.set("device_time", iso_utc(self._bcd_time(r)))
            return [out]
        archive = False
        if frame.type == MSG_LOCATION_BATCH:
            r.skip(2)  # count
            archive = r.u8() > 0  # 1: blind-area (buffered) upload
        outs = []
        while r.remaining > 0:
            length = r.u8() if frame.type == MSG_LOCATION_BATCH_2 else r.u16()
            out = self._location(r.sub(length), fixed_trailer=False)
            if archive:
                out.set("archive", True)
            outs.append(out)
        if not outs:
            raise DecodeError(DecodeReason.TRUNCATED, "batch without records")
        return outs

    def _coordinates(self, r: ByteReader, out: _Out) -> tuple[float, float, bool]:
        """Status word, latitude, longitude (as in 0x0200 and transparent records)."""
        status = r.u32()
        out.set("ignition", bit_set(status, 0))
        if self.model == "G1C PRO":
            out.set("motion", bit_set(status, 4))
        out.set("blocked", bit_set(status, 10))
        if self._in(_DOOR_MODELS):
            out.set("door", bit_set(status, 16))
        out.set("charge", bit_set(status, 26))
        latitude = r.u32() / 1_000_000.0
        longitude = r.u32() / 1_000_000.0
        if bit_set(status, 2):
            latitude = -latitude
        if bit_set(status, 3):
            longitude = -longitude
        return latitude, longitude, bit_set(status, 1)

    def _alarm_word(self, value: int, out: _Out) -> None:
        if self._in(_PADLOCK_MODELS):
            if bit_set(value, 0) or bit_set(value, 4):
                out.alarm(Alarm.REMOVING)
            if bit_set(value, 1):
                out.alarm(Alarm.TAMPERING)
            return
        if self._aovx:
            if bit_set(value, 16):
                out.alarm(Alarm.MOVEMENT)
            return
        for bits, alarm in _ALARM_BITS:
            if any(bit_set(value, b) for b in bits):
                out.alarm(alarm)
        if (bit_set(value, 29) or bit_set(value, 30)) and self.model != "VL300":
            out.alarm(Alarm.ACCIDENT)

    def _location(self, r: ByteReader, *, fixed_trailer: bool) -> _Out:
        out = _Out("location")
        if r.remaining < _LOCATION_BASE_SIZE:
            raise DecodeError(DecodeReason.TRUNCATED, f"location of {r.remaining} bytes, needs {_LOCATION_BASE_SIZE}")
        self._alarm_word(r.u32(), out)
        latitude, longitude, valid = self._coordinates(r, out)
        altitude = r.s16()
        speed = r.u16() / 10.0
        course = r.u16()
        time_utc = self._bcd_time(r)
        out.fix = _Fix(time_utc, latitude, longitude, valid, speed, float(course % 360), float(altitude))
        if fixed_trailer and r.remaining == _FIXED_TRAILER_SIZE:
            r.skip(4)  # remaining battery and mileage
            out.set("odometer_km", float(r.u32()))
            out.set("battery_v", r.u16() / 10.0)
            r.skip(4)  # area id
            out.set("rssi", r.u8())
            r.skip(3)  # reserved
            return out
        self._items(r, out)
        return out

    def _items(self, r: ByteReader, out: _Out) -> None:
        while r.remaining >= 2:
            item_id = r.u8()
            length = r.u8()
            if item_id == 0x80:
                # OBD extension: the length byte is not trusted, the rest of the body is the extension
                ext = ByteReader(r.rest())
                try:
                    ext.skip(1)  # content
                    self._extension(ext, out)
                except DecodeError:
                    pass
                return
            if length > r.remaining:
                break
            item = r.sub(length)
            try:
                self._item(item_id, length, item, out)
            except (DecodeError, ValueError):
                continue  # an item too short for its layout: what it had is kept, the next item follows

    def _item(self, item_id: int, length: int, r: ByteReader, out: _Out) -> None:
        if item_id == 0x01:
            out.set("odometer_km", r.u32() * 100 / 1000)
        elif item_id == 0x02:
            fuel = r.u16()
            out.set("fuel_level", float(fuel & 0x7FFF) if fuel & 0x8000 else fuel / 10.0)
        elif item_id == 0x06:
            out.set("battery_level", r.u8())
        elif item_id == 0x0B:
            self._lock_operation(length, r, out)
        elif item_id == 0x14:
            out.set("video_alarm", r.u32())
        elif item_id == 0x25:
            out.set("input", r.u32())
        elif item_id in (0x2B, 0xA7):
            out.set("adc1_v", r.u16() / 100.0)
            out.set("adc2_v", r.u16() / 100.0)
        elif item_id == 0x30:
            out.set("rssi", r.u8())
        elif item_id == 0x31:
            out.satellites = r.u8()
        elif item_id == 0x33:
            self._item_mode(length, r, out)
        elif item_id == 0x51:
            self._temperatures(length, r, out)
        elif item_id == 0x56:
            out.set("battery_level", r.u8() * 10)
        elif item_id == 0x57:
            self._item_57(r, out)
        elif item_id == 0x60:
            event = r.u16()
            out.set("event", event)
            if 0x0061 <= event <= 0x0066:
                r.skip(6)  # lock id
                out.set("driver_id", r.text(8))
        elif item_id == 0x63:
            for i in range(1, length // 11 + 1):
                out.set(f"lock{i}_id", r.hex(6))
                out.set(f"lock{i}_battery_v", r.u16() / 1000.0)
                out.set(f"lock{i}_seal", r.u8() == 0x31)
                r.skip(2)  # physical state, rssi
        elif item_id in (0x64, 0x65):
            r.skip(4 + 1)  # alarm serial, status
            out.set("adas_alarm" if item_id == 0x64 else "dms_alarm", r.u8())
            if length >= 47:
                r.skip(r.remaining - 16)
                out.set("alarm_label", r.hex(16))
        elif item_id == 0x67:
            out.set("password", r.text(8))
        elif item_id == 0x68:
            out.set("battery_level", r.u16() / 100.0)
        elif item_id == 0x69:
            out.set("battery_v", r.u16() / 100.0)
        elif item_id == 0x70:
            r.skip(4 + 1)  # alarm serial, status
            out.alarm(
                {
                    0x01: Alarm.HARD_ACCELERATION,
                    0x02: Alarm.HARD_BRAKING,
                    0x03: Alarm.HARD_CORNERING,
                    0x16: Alarm.ACCIDENT,
                }.get(r.u8())
            )
        elif item_id == 0x77:
            while r.remaining > 0:
                tire = r.u8()
                out.set(f"tire{tire}_sensor_id", r.hex(3))
                out.set(f"tire{tire}_pressure_bar", (r.u16() & 0x03FF) / 40.0)
                out.set(f"tire{tire}_temp_c", r.u8() - 50)
                out.set(f"tire{tire}_status", r.u8())
        elif item_id in (0x82, 0xD3):
            out.set("power_v", r.u16() / 10.0)
        elif item_id == 0x91:
            self._item_91(r, out)
        elif item_id == 0x94:
            if length > 0:
                out.set("vin", r.text(length))
        elif item_id == 0xAC:
            out.set("odometer_km", r.u32() / 1000)
        elif item_id == 0xBC:
            out.set("driver_name", _java_trim(r.text(length)))
        elif item_id == 0xBD:
            out.set("driver_id", r.text(length))
        elif item_id == 0xD0:
            if bit_set(r.u32(), 3):
                out.alarm(Alarm.VIBRATION)
        elif item_id in (0xD4, 0xE1, 0xE9):
            self._item_battery_or_cells(item_id, length, r, out)
        elif item_id == 0xD5:
            self._item_d5(length, r, out)
        elif item_id == 0xDA:
            r.skip(2)  # string cut count
            state = r.u8()
            out.set("lock_string", bit_set(state, 0))
            out.set("motion", bit_set(state, 2))
            out.set("cover", bit_set(state, 3))
        else:
            self._item_e(item_id, length, r, out)

    def _item_e(self, item_id: int, length: int, r: ByteReader, out: _Out) -> None:
        if item_id == 0xE2:
            if self.model != "DT800":
                out.set("fuel_level", r.u32() / 10.0)
        elif item_id == 0xE3:
            r.skip(1)  # reserved
            out.set("battery_level", r.u8())
            out.set("battery_v", r.u16() / 100.0)
        elif item_id == 0xE4:
            if r.u8() == 0:
                out.set("charge", True)
            out.set("battery_level", r.u8())
        elif item_id == 0xE5:
            if length == 1:
                out.set("motion", r.u8() == 1)
        elif item_id == 0xE6:
            self._item_e6(length, r, out)
        elif item_id == 0xE7:
            if length == 8:
                alarm = r.u16()
                if bit_set(alarm, 0):
                    out.alarm(Alarm.VIBRATION)
                if alarm >> 1 & 0x07:
                    out.alarm(Alarm.SOS)
        elif item_id == 0xE8:
            if self._in(_JC_MODELS):
                self._item_jc(r, out)
            else:
                out.set("lock_status", r.u24())
        elif item_id == 0xEA:
            if length > 2:
                self._item_ea(r, out)
        elif item_id == 0xEB:
            self._item_eb(length, r, out)
        elif item_id == 0xED:
            out.set("card", _java_trim(r.text(length)))
        elif item_id == 0xEE:
            if length == 6:
                out.set("rssi", r.u8())
                out.set("power_v", r.u16() / 1000.0)
                out.set("battery_v", r.u16() / 1000.0)
                out.satellites = r.u8()
        elif item_id == 0xF0:
            while r.remaining > 0:
                mcc, mnc, cell_id, lac = r.u16(), r.u16(), r.u32(), r.u32()
                r.skip(1)  # rssi
                out.cells.append((mcc, mnc, lac, cell_id))
        elif item_id == 0xF1:
            out.set("power_v", r.u32() / 1000.0)
        elif item_id == 0xF2:
            out.set("firmware_version", r.text(length))
        elif item_id == 0xF3:
            if self._aovx:
                self._ble_tags(r, out)
            else:
                self._obd_items(r, out)
        elif item_id in (0xEC, 0xF4):
            while r.remaining >= 7:
                r.skip(7)  # mac, rssi
                out.wifi_count += 1
        elif item_id == 0xF5:
            if length == 2:
                out.set("illuminance_lux", r.u16())
        elif item_id == 0xF6:
            self._item_f6(length, r, out)
        elif item_id == 0xF7:
            self._item_f7(length, r, out)
        elif item_id == 0xF8:
            if self._aovx:
                r.skip(1 + 8)  # working mode, imei
                out.set("iccid", r.hex(10))
            elif self._in(_STEP_MODELS):
                out.set("steps", r.u16())
            else:
                out.set("temp2_c", r.u16() / 10.0 - 50)
        elif item_id == 0xF9:
            self._item_f9(r, out)
        elif item_id == 0xFB:
            out.set("container", r.text(length))
        elif item_id == 0xFC:
            out.set("geofence_id", r.u8())
        elif item_id == 0xFE:
            self._item_fe(length, r, out)

    def _lock_operation(self, length: int, r: ByteReader, out: _Out) -> None:
        out.set("lock_command", r.u8())
        if 5 <= length <= 6:
            out.set("lock_card", r.u32())
        elif length >= 7:
            out.set("lock_password", r.text(6))
        if length % 2 == 0:
            out.set("unlock_result", r.u8())

    def _item_mode(self, length: int, r: ByteReader, out: _Out) -> None:
        if length == 1:
            out.set("mode", r.u8())
            return
        text = r.text(length)
        if text.startswith("*M00"):
            lock_status = text[8:15]
            out.set("battery_v", int(lock_status[2:5]) / 100.0)

    def _temperatures(self, length: int, r: ByteReader, out: _Out) -> None:
        if length not in (2, 16):
            return
        for i in range(1, length // 2 + 1):
            value = r.u16()
            if value != 0xFFFF:
                out.set(f"temp{i}_c", -(value & 0x7FFF) / 10.0 if value & 0x8000 else value / 10.0)

    def _item_57(self, r: ByteReader, out: _Out) -> None:
        alarm = r.u16()
        if bit_set(alarm, 8):
            out.alarm(Alarm.HARD_ACCELERATION)
        if bit_set(alarm, 9):
            out.alarm(Alarm.HARD_BRAKING)
        if bit_set(alarm, 10):
            out.alarm(Alarm.HARD_CORNERING)
        r.skip(2)  # external switch state
        alarm = r.u32()
        if self._in(_DOOR_MODELS) and bit_set(alarm, 16):
            out.alarm(Alarm.DOOR)

    def _item_91(self, r: ByteReader, out: _Out) -> None:
        out.set("battery_v", r.u16() / 10.0)
        out.set("obd_rpm", r.u16())
        out.set("obd_speed_kmh", r.u8())
        out.set("throttle_pct", r.u8() * 100 // 255)
        out.set("engine_load_pct", r.u8() * 100 // 255)
        out.set("obd_coolant_temp_c", r.u8() - 40)
        r.skip(2)
        out.set("fuel_consumption", r.u16() / 100.0)
        r.skip(2 + 4 + 2)
        out.set("obd_fuel_used", r.u16() / 100.0)

    def _item_battery_or_cells(self, item_id: int, length: int, r: ByteReader, out: _Out) -> None:
        if length == 1:
            level = r.u8()
            if level == 0xFF:
                out.set("charge", True)
            else:
                out.set("battery_level", level)
        elif item_id == 0xE1 and length >= 12 and (length - 4) % 8 == 0:
            mcc, mnc = r.u16(), r.u16()
            while r.remaining > 0:
                lac, cell_id = r.u24(), r.u32()
                r.skip(1)  # rssi
                if 0 < lac <= 0xFFFF and cell_id <= 0xFFFFFFF:
                    out.cells.append((mcc, mnc, lac, cell_id))
        elif item_id == 0xE1 and length == 2:
            out.set("power_v", r.u16() / 10.0)
        else:
            out.set("driver_id", str(r.u32()))

    def _item_d5(self, length: int, r: ByteReader, out: _Out) -> None:
        if length == 2:
            out.set("battery_v", r.u16() / 100.0)
            return
        for i in range(1, r.u8() + 1):
            out.set(f"lock{i}_id", r.hex(5))
            out.set(f"lock{i}_card", r.hex(5))
            out.set(f"lock{i}_battery_level", r.u8())
            out.set(f"lock{i}_locked", not bit_set(r.u16(), 5))

    def _item_e6(self, length: int, r: ByteReader, out: _Out) -> None:
        data = r.rest()
        if length >= 7 and data[:7] == b"$OBD-RT":
            _obd_rt(data.decode("utf-8", errors="replace"), out)
        elif length >= 11 and length % 11 == 0:
            sensors = ByteReader(data)
            while sensors.remaining > 0:
                index = sensors.u8()
                sensors.skip(6)  # mac
                out.set(f"temp{index}_c", _custom_double(sensors))
                out.set(f"humidity{index}_pct", _custom_double(sensors))

    def _item_jc(self, r: ByteReader, out: _Out) -> None:
        event = r.u16()
        if event == 0x2002:
            r.skip(1)  # packet length
            out.set("upload_mode", r.u8())
            out.set("archive", r.u8() == 1)
        elif event == 0x2003:
            r.skip(1)  # packet length
            out.set("charge", r.u8() == 1)
            status = r.u8()
            if 1 <= status <= 6:
                out.set("battery_level", status * 100 // 6)
            out.set("battery_v", r.u16() / 100.0)
            out.set("rssi", r.u8())
            out.set("power_v", r.u16() / 100.0)
        elif event == 0x2005:
            r.skip(1)  # packet length
            while r.remaining > 0:
                status_id = r.u16()
                sub = r.sub(min(r.u8(), r.remaining))
                self._jc_status(status_id, sub, out)
        elif event == 0x0C03:
            out.set("ignition", True)
        elif event == 0x0C04:
            out.set("ignition", False)
        else:
            out.alarm(_JC_EVENT_ALARMS.get(event))

    def _jc_status(self, status_id: int, r: ByteReader, out: _Out) -> None:
        if status_id == 0x0001:
            out.set("battery_v", r.u16() / 100.0)
        elif status_id == 0x0002:
            out.set("data_usage", r.u32())
        elif status_id == 0x0003:
            out.set("battery_level", r.u8())
        elif status_id == 0x0004:
            out.set("charge", r.u8() == 0)
        elif status_id == 0x0005:
            out.set("iccid", r.hex(10)[:19])
        elif status_id == 0x0007:
            out.hdop = r.u16() / 10.0
        elif status_id == 0x2001:
            out.set("power_v", r.u16() / 10.0)

    def _item_ea(self, r: ByteReader, out: _Out) -> None:
        r.skip(1)  # extended info type
        while r.remaining >= 2:
            sub_id, sub_length = r.u8(), r.u8()
            if sub_length > r.remaining:
                break
            sub = r.sub(sub_length)
            if sub_id == 0x11:
                out.set("external_alarms", sub.u16())
                out.set("alarm_threshold_type", sub.u8())
            elif sub_id == 0x13:
                out.set("external_illuminance_lux", sub.u16())
            elif sub_id == 0x14:
                out.set("external_air_pressure", sub.u16())
            elif sub_id == 0x15:
                out.set("external_humidity_pct", sub.u16() / 10.0)
            elif sub_id == 0x16:
                out.set("external_temp_c", sub.u16() / 10.0 - 50)

    def _item_eb(self, length: int, r: ByteReader, out: _Out) -> None:
        data = r.rest()
        if length >= 2 and int.from_bytes(data[:2]) > 200 and length >= 3 and (length - 3) % 5 == 0:
            cells = ByteReader(data)
            mcc, mnc = cells.u16(), cells.u8()
            while cells.remaining > 0:
                lac, cell_id = cells.u16(), cells.u16()
                cells.skip(1)  # rssi
                out.cells.append((mcc, mnc, lac, cell_id))
        elif _printable(data):
            out.set("timezone", data.decode("ascii"))
        else:
            subs = ByteReader(data)
            while subs.remaining >= 4:
                sub_length = subs.u16()
                if sub_length < 2 or sub_length > subs.remaining:
                    break
                sub_id = subs.u16()
                sub = subs.sub(sub_length - 2)
                try:
                    self._eb_sub(sub_id, sub_length, sub, out)
                except (DecodeError, ValueError):
                    continue

    def _eb_sub(self, sub_id: int, sub_length: int, r: ByteReader, out: _Out) -> None:
        if sub_id == 0x0001:
            out.set("fuel1_level", r.u16() / 10.0)
        elif sub_id == 0x0023:
            value = _number(r.text(6))
            if value is not None:
                out.set("fuel2_level", value)
        elif sub_id == 0x002D:
            if sub_length == 6:
                out.set("power_v", r.u32() / 1000.0)
            else:
                out.set("battery_v", r.u16() / 1000.0)
        elif sub_id == 0x0089:
            alarm = r.u32()
            if not bit_set(alarm, 0):
                out.alarm(Alarm.POWER_OFF)
            if not bit_set(alarm, 12):
                out.alarm(Alarm.REMOVING)
        elif sub_id == 0x00B2:
            out.set("iccid", r.hex(10).rstrip("f"))
        elif sub_id == 0x00B9:
            r.skip(1)  # count
            values = r.rest().decode("latin-1").split(",")
            out.wifi_count += len(values) // 2
        elif sub_id == 0x00C5:
            alarm = r.u32()
            if not bit_set(alarm, 6):
                out.alarm(Alarm.VIBRATION)
            motion = alarm >> 23 & 0x03
            if motion == 0:
                out.set("motion", True)
            elif motion == 1:
                out.set("motion", False)
        elif sub_id == 0x00C6:
            battery_alarm = r.u8()
            if battery_alarm in (0x03, 0x04):
                out.alarm(Alarm.LOW_BATTERY)
            out.set("battery_alarm", battery_alarm)
        elif sub_id == 0x00CE:
            out.set("power_v", r.u16() / 100.0)
        elif sub_id == 0x00D8:
            mcc, mnc, lac, cell_id = r.u16(), r.u8(), r.u16(), r.u32()
            out.cells.append((mcc, mnc, lac, cell_id))
        elif sub_id in (0x00A8, 0x00E1):
            out.set("battery_level", r.u8())

    def _ble_tags(self, r: ByteReader, out: _Out) -> None:
        mask = r.u8()
        index = 0
        while r.remaining > 0:
            index += 1
            out.set(f"tag{index}_mac", r.hex(6))
            out.set(f"tag{index}_rssi", r.s8())
            if bit_set(mask, 0):
                out.set(f"tag{index}_name", _java_trim(r.text(10)))
            if bit_set(mask, 1):
                r.skip(2)  # firmware version
            if bit_set(mask, 2):
                out.set(f"tag{index}_battery_v", r.u16() / 1000.0)
            if bit_set(mask, 3):
                out.set(f"tag{index}_temp_c", r.s16() / 10.0)
            if bit_set(mask, 4):
                out.set(f"tag{index}_humidity_pct", r.s16() / 10.0)
            if bit_set(mask, 5):
                r.skip(6)  # accelerometer
            if bit_set(mask, 6):
                r.skip(2)  # reserved
            if bit_set(mask, 7):
                r.skip(2)  # reserved

    def _obd_items(self, r: ByteReader, out: _Out) -> None:
        while r.remaining >= 3:
            sub_id = r.u16()
            sub_length = r.u8()
            if sub_length > r.remaining:
                break
            sub = r.sub(sub_length)
            try:
                if sub_id == 0x0002:
                    out.set("obd_speed_kmh", sub.u16() / 10.0)
                elif sub_id == 0x0003:
                    out.set("obd_rpm", sub.u16())
                elif sub_id == 0x0004:
                    out.set("power_v", sub.u16() / 1000.0)
                elif sub_id == 0x0005:
                    out.set("obd_odometer_km", sub.u32() * 100 / 1000)
                elif sub_id == 0x0007:
                    out.set("fuel_consumption", sub.u16() / 10.0)
                elif sub_id == 0x0008:
                    out.set("engine_load_pct", sub.u16() / 10.0)
                elif sub_id == 0x0009:
                    out.set("obd_coolant_temp_c", sub.u16() - 40)
                elif sub_id == 0x000B:
                    out.set("intake_pressure", sub.u16())
                elif sub_id == 0x000C:
                    out.set("intake_temp_c", sub.u16() - 40)
                elif sub_id == 0x000D:
                    out.set("intake_flow", sub.u16())
                elif sub_id == 0x000E:
                    out.set("throttle_pct", sub.u16() * 100 // 255)
                elif sub_id == 0x0050:
                    out.set("vin", _java_trim(sub.text(min(17, sub.remaining)).replace("\x00", "")))
                elif sub_id == 0x0051 and sub_length > 0:
                    out.set("cvn", sub.hex(sub_length))
                elif sub_id == 0x0052 and sub_length > 0:
                    out.set("calid", _java_trim(sub.text(sub_length).replace("\x00", "")))
                elif sub_id == 0x0100:
                    out.set("trip_odometer_km", sub.u16() / 10.0 / 1000)  # traccar: metres
                elif sub_id == 0x0102:
                    out.set("trip_fuel", sub.u16() / 10.0)
                elif sub_id == 0x0112:
                    out.set("hard_acceleration_count", sub.u16())
                elif sub_id == 0x0113:
                    out.set("hard_deceleration_count", sub.u16())
                elif sub_id == 0x0114:
                    out.set("hard_cornering_count", sub.u16())
            except DecodeError:
                continue

    def _item_f6(self, length: int, r: ByteReader, out: _Out) -> None:
        if not self._aovx and length == 2:
            out.set("air_pressure", r.u16())
            return
        if not self._aovx and length == 8:
            out.set("imei", r.hex(8)[1:])
            return
        event = r.u8()
        out.set("event", event)
        if event == 2:
            out.set("motion", True)
        mask = r.u8()
        if bit_set(mask, 0):
            out.set("light_sensor", r.u16())
        if bit_set(mask, 1):
            out.set("temp1_c", r.s16() / 10.0)
        if bit_set(mask, 2):
            out.set("humidity_pct", r.s16() / 10.0)
        if bit_set(mask, 3):
            x, y, z = r.s16(), r.s16(), r.s16()
            out.set("g_sensor", f"[{x},{y},{z}]")
        if bit_set(mask, 4):
            r.skip(10)  # threshold configuration
        if bit_set(mask, 5):
            out.set("air_pressure", r.u16())

    def _item_f7(self, length: int, r: ByteReader, out: _Out) -> None:
        if length == 2:
            out.set("humidity_pct", r.u16() / 10.0)
            return
        out.set("battery_v", r.u32() / 1000.0)
        if length >= 5 and r.u8() in (2, 3):
            out.set("charge", True)
        if length >= 6:
            out.set("battery_level", r.u8())

    def _item_f9(self, r: ByteReader, out: _Out) -> None:
        mask = r.u16()
        if bit_set(mask, 0):
            r.skip(4)  # GNSS age
        if bit_set(mask, 1):
            r.skip(4)  # ACC on time
        if bit_set(mask, 2):
            out.hdop = r.u16() / 10.0
        if bit_set(mask, 3):
            r.skip(6)  # GNSS time
        if bit_set(mask, 5):
            r.skip(8)  # sampling and report interval
        if bit_set(mask, 6):
            out.set("temp3_c", r.s16() / 10.0)

    def _item_fe(self, length: int, r: ByteReader, out: _Out) -> None:
        if length == 1:
            out.set("battery_level", r.u8())
        elif length == 2:
            out.set("power_v", r.u16() / 10.0)
        elif length == 4:
            out.set("odometer_km", r.u32() / 1000)
        else:
            if r.u8() == 0x7C:
                while r.remaining >= 2:
                    sub_id, sub_length = r.u8(), r.u8()
                    sub = r.sub(min(sub_length, r.remaining))
                    if sub_id == 0x01 and sub.remaining >= 4:
                        alarms = sub.u32()
                        for bit, alarm in (
                            (0, Alarm.HARD_ACCELERATION),
                            (1, Alarm.HARD_BRAKING),
                            (2, Alarm.HARD_CORNERING),
                            (3, Alarm.ACCIDENT),
                            (4, Alarm.TAMPERING),
                        ):
                            if bit_set(alarms, bit):
                                out.alarm(alarm)
            if r.remaining > 0:  # traccar reads this byte even past the item's end
                out.set("battery_level", r.u8())

    def _extension(self, r: ByteReader, out: _Out) -> None:
        """The OBD extension of item 0x80 (to the end of the body)."""
        while r.remaining >= 2:
            ext_id = r.u8()
            length = r.u8()
            if ext_id == 0x01:
                out.set("odometer_km", r.u32() * 100 / 1000)
            elif ext_id == 0x02:
                out.set("fuel_level", r.u16() / 10.0)
            elif ext_id == 0x03:
                out.set("obd_speed_kmh", r.u16() / 10.0)
            elif ext_id == 0x56:
                r.skip(1)  # power level
                out.set("battery_level", r.u8())
            elif ext_id == 0x61:
                out.set("power_v", r.u16() / 100.0)
            elif ext_id == 0x69:
                out.set("battery_v", r.u16() / 100.0)
            elif ext_id == 0x80:
                out.set("obd_speed_kmh", float(r.u8()))
            elif ext_id == 0x81:
                out.set("obd_rpm", r.u16())
            elif ext_id == 0x82:
                out.set("power_v", r.u16() / 10.0)
            elif ext_id == 0x83:
                out.set("engine_load_pct", r.u8())
            elif ext_id == 0x84:
                out.set("obd_coolant_temp_c", r.u8() - 40)
            elif ext_id == 0x85:
                out.set("fuel_consumption", r.u16())
            elif ext_id == 0x86:
                out.set("intake_temp_c", r.u8() - 40)
            elif ext_id == 0x87:
                out.set("intake_flow", r.u16())
            elif ext_id == 0x88:
                out.set("intake_pressure", r.u8())
            elif ext_id == 0x89:
                out.set("throttle_pct", r.u8())
            elif ext_id == 0x8B:
                out.set("vin", r.text(17))
            elif ext_id == 0x8C:
                out.set("obd_odometer_km", r.u32() * 100 / 1000)
            elif ext_id == 0x8D:
                out.set("trip_odometer_km", float(r.u16()))
            elif ext_id == 0x8E:
                out.set("fuel_level", float(r.u8()))
            elif ext_id == 0xA0:
                out.set("dtcs", r.text(length).replace(",", " "))
            elif ext_id == 0xCC:
                out.set("iccid", r.text(20))
            else:
                r.skip(length)

    # -- JT600 locations (0x5501/0x5502) ---------------------------------------------------------

    def _jt600_location(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        if frame.properties & 0x8000:
            body = frame.type.to_bytes(2) + bytes([RESULT_SUCCESS])
            self._response = self._answer(frame, MSG_GENERAL_RESPONSE_2, body, short_serial=True)
        out = _Out("location")
        day, month, year, hour, minute, second = (_bcd(b) for b in r.take(6))
        try:
            time_utc = datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as exc:
            raise DecodeError(DecodeReason.INVALID_TIME, f"JT600 date: {exc}") from exc
        lat_digits = r.take(4).hex()
        lon_bytes = r.take(5)
        lon_digits = lon_bytes.hex()[:9]
        if not (lat_digits.isdigit() and lon_digits.isdigit()):
            raise DecodeError(DecodeReason.INVALID_COORDINATES, "JT600 coordinates are not BCD")
        flags = lon_bytes[4] & 0x0F
        latitude = _degrees_minutes(int(lat_digits))
        longitude = _degrees_minutes(int(lon_digits))
        if not flags & 0x02:
            latitude = -latitude
        if not flags & 0x04:
            longitude = -longitude
        speed_knots = _bcd_number(r.u8())
        course = r.u8() * 2.0
        out.fix = _Fix(time_utc, latitude, longitude, bool(flags & 0x01), speed_knots * 1.852, course % 360)
        if frame.type == MSG_LOCATION_REPORT_BLIND:
            out.set("archive", True)
        out.set("rssi", r.u8())
        out.satellites = r.u8()
        out.set("odometer_km", float(r.u32()))
        battery = r.u8()
        if battery <= 100:
            out.set("battery_level", battery)
        elif battery in (0xAA, 0xAB):
            out.set("charge", True)
        cell_id, lac = r.u32(), r.u16()
        if cell_id > 0 and lac > 0:
            out.set("lac", lac)
            out.set("cell_id", cell_id)
        product, status, alarm = r.u8(), r.u16(), r.u16()
        if product in (1, 2):
            if bit_set(alarm, 0):
                out.alarm(Alarm.LOW_POWER)
        elif product == 3:
            out.set("blocked", bit_set(status, 5))
            for bit, name in (
                (0, Alarm.OVERSPEED),
                (1, Alarm.LOW_POWER),
                (2, Alarm.VIBRATION),
                (3, Alarm.LOW_BATTERY),
                (5, Alarm.GEOFENCE_ENTER),
                (6, Alarm.GEOFENCE_EXIT),
            ):
                if bit_set(alarm, bit):
                    out.alarm(name)
        out.set("raw_status", status)
        while r.remaining >= 2:
            item_id, length = r.u8(), r.u8()
            if length > r.remaining:
                break
            item = r.sub(length)
            try:
                self._jt600_item(item_id, length, item, out)
            except DecodeError:
                continue
        return [out]

    def _jt600_item(self, item_id: int, length: int, r: ByteReader, out: _Out) -> None:
        if item_id == 0x02:
            if out.fix is not None:
                out.fix.altitude_m = float(r.s16())
        elif item_id == 0x10:
            out.set("wake_source", r.u8())
        elif item_id == 0x0B:
            self._lock_operation(length, r, out)
        elif item_id == 0x0C:
            x, y, z = (_tilt(r.u16()) for _ in range(3))
            out.set("tilt", f"[{x},{y},{z}]")
        elif item_id == 0xFC:
            out.set("geofence_id", r.u8())

    # -- transparent data (0x0900) -----------------------------------------------------------

    def _transparent(self, frame: Jt808Frame, r: ByteReader, received: datetime) -> list[_Out]:
        self._response = self._general_response(frame)
        content_type = r.u8()
        if content_type == 0x40:
            return [self._transparent_text(r)]
        if content_type == 0x41:
            out = _Out("obd")
            _obd_rt(_java_trim(r.rest().decode("latin-1")), out)
            return [out]
        if content_type == 0xF0:
            return [self._transparent_obd(r)]
        if content_type == 0xFF:
            time_utc = self._bcd_time(r)
            latitude, longitude = r.s32() / 1_000_000.0, r.s32() / 1_000_000.0
            altitude = float(r.s16())
            speed = r.u16() / 10.0
            course = r.u16() % 360
            out = _Out("location")
            out.fix = _Fix(time_utc, latitude, longitude, True, speed, float(course), altitude)
            return [out]
        if content_type == 0xF3:
            out = _Out("info")
            while r.remaining >= 4:
                sub_id, length = r.u16(), r.u16()
                sub = r.sub(min(length, r.remaining))
                if sub_id == 0x0002 and sub.remaining >= 2:
                    out.set("collision", sub.u16() / 256.0 / 100.0)
                elif sub_id == 0x0006 and sub.remaining >= 6:
                    out.set("device_time", iso_utc(self._bcd_time(sub)))
            return [out]
        if content_type in (0x53, 0x54):
            return [self._transparent_sensors(content_type, r)]
        out = _Out("info", {"transparent_type": content_type, "payload_hex": r.rest().hex()})
        return [out]

    def _transparent_text(self, r: ByteReader) -> _Out:
        text = _java_trim(r.rest().decode("latin-1"))
        out = _Out("info")
        if text.startswith("GTSL"):
            values = text.split("|")
            if len(values) > 4:
                out.set("driver_id", values[4])
        else:
            out.set("transparent_text", text)
        return out

    def _transparent_fix(self, r: ByteReader, out: _Out, time_utc: datetime) -> None:
        latitude, longitude, valid = self._coordinates(r, out)
        out.fix = _Fix(time_utc, latitude, longitude, valid)

    def _transparent_obd(self, r: ByteReader) -> _Out:
        time_utc = self._bcd_time(r)
        out = _Out("obd")
        if r.u8() > 0:
            out.set("archive", True)
        r.skip(1)  # vehicle type
        subtype = r.u8()
        if subtype == 0x01:
            for _ in range(r.u8()):
                data_id, length = r.u16(), r.u8()
                _obd_value(data_id, r.sub(length), out)
            self._transparent_fix(r, out, time_utc)
        elif subtype == 0x02:
            codes = []
            for _ in range(r.u16()):
                r.skip(4)  # system id
                for _ in range(r.u16()):
                    r.skip(4 + 4)  # dtc, status
                    codes.append(_java_trim(r.text(r.u16())))
            out.set("dtcs", " ".join(codes))
            self._transparent_fix(r, out, time_utc)
        elif subtype == 0x03:
            out.kind = "alarm"
            for _ in range(r.u8()):
                alarm_id, length = r.u8(), r.u8()
                out.alarm(_TRANSPARENT_ALARMS.get(alarm_id))
                r.skip(length)
            self._transparent_fix(r, out, time_utc)
        elif subtype == 0x04:
            trip_property = r.u8()
            out.set("trip_number", r.u32())
            r.skip(6)  # start time
            if trip_property == 0x02:
                r.skip(6 + 8 + 8 + 1)  # end time, start and end location, location flags
                out.set("idling_count", r.u16())
                out.set("idling_time", r.u16())
                out.set("trip_odometer_km", r.u16() * 100 / 1000)
                out.set("trip_fuel", r.u16() / 100.0)
            out.set("device_time", iso_utc(time_utc))
        elif subtype == 0x0B:
            if r.u8() > 0:
                out.set("vin", r.text(17))
            out.set("device_time", iso_utc(time_utc))
        elif subtype == 0x15:
            event = r.s32()
            alarm = _TRANSPARENT_EVENTS.get(event)
            if alarm is None:
                out.set("event", event)
            else:
                out.alarm(alarm)
            out.set("device_time", iso_utc(time_utc))
        else:
            out.kind = "info"
            out.set("transparent_type", 0xF0)
            out.set("device_time", iso_utc(time_utc))
            out.set("payload_hex", (bytes([subtype]) + r.rest()).hex())
        return out

    def _transparent_sensors(self, content_type: int, r: ByteReader) -> _Out:
        out = _Out("location")
        latitude, longitude, valid = self._coordinates(r, out)
        altitude = float(r.s16())
        speed = r.u16() / 10.0
        course = r.u16() % 360
        out.fix = _Fix(self._bcd_time(r), latitude, longitude, valid, speed, float(course), altitude)
        if content_type == 0x53:
            r.skip(1)  # node count over all packages
            while r.remaining > 0:
                index = r.u8() + 1
                out.set(f"tag{index}_mac", r.hex(6))
                out.set(f"tag{index}_rssi", r.s8())
                out.set(f"tag{index}_data", r.hex(r.u8()))
        else:
            while r.remaining > 0:
                mask = r.u16()
                r.skip(6)  # sample time
                if bit_set(mask, 0):
                    out.set("light_sensor", r.u16())
                if bit_set(mask, 1):
                    out.set("device_temp_c", r.s16() / 10.0)
                    out.set("humidity_pct", r.s16() / 10.0)
                if bit_set(mask, 2):
                    out.set("temp3_c", r.s16() / 10.0)
                if bit_set(mask, 3):
                    r.skip(6)  # acceleration
                if bit_set(mask, 4):
                    out.set("air_pressure", r.u16())
        return out


# -- helpers shared by several layouts -----------------------------------------------------------


def _degrees_minutes(raw: int) -> float:
    """JT600 ``DDDMMmmmm``: degrees, then minutes with four decimals."""
    degrees = raw // 1_000_000
    minutes = (raw % 1_000_000) / 10_000.0
    return degrees + minutes / 60


def _bcd_number(value: int) -> int:
    high, low = value >> 4, value & 0x0F
    if high > 9 or low > 9:
        raise DecodeError(DecodeReason.MALFORMED, f"BCD byte {value:02x}")
    return high * 10 + low


def _tilt(value: int) -> int:
    return value - 0x10000 if value > 0x8000 else value


def _custom_double(r: ByteReader) -> float:
    whole = r.s8()
    fraction = r.u8()
    sign = -1 if whole < 0 else 1
    return sign * (abs(whole) + fraction / 255.0)


def _obd_rt(data: str, out: _Out) -> None:
    """``$OBD-RT,power,rpm,speed,throttle,load,coolant,fuel now,fuel average,trip,odometer,trip fuel,fuel``."""
    names: tuple[tuple[str, Callable[[float], AttributeValue]], ...] = (
        ("power_v", float),
        ("obd_rpm", float),
        ("obd_speed_kmh", float),
        ("throttle_pct", float),
        ("engine_load_pct", float),
        ("obd_coolant_temp_c", int),
        ("fuel_consumption", float),
        ("fuel_consumption", float),
        ("trip_odometer_km", lambda metres: metres / 1000),
        ("obd_odometer_km", lambda metres: metres / 1000),
        ("trip_fuel_used", float),
        ("obd_fuel_used", float),
    )
    values = data.split(",")[1:]
    for (name, convert), text in zip(names, values, strict=False):
        number = _number(text) if text else None
        if number is not None:
            out.set(name, convert(number))


#: Transparent 0xF0/0x01 data ids: id -> (attribute, size, scale or None for "minus 40").
_OBD_VALUES: Final[dict[int, tuple[str, int, float | None]]] = {
    0x0102: ("odometer_km", 4, 0.1), 0x0528: ("odometer_km", 4, 0.1), 0x0546: ("odometer_km", 4, 0.1),
    0x0103: ("fuel_level", 4, 0.01), 0x0111: ("fuel_temp_c", 1, None), 0x012E: ("oil_level", 2, 0.1),
    0x052A: ("fuel_level", 2, 0.01), 0x0105: ("obd_fuel_used", 4, 0.01), 0x052C: ("obd_fuel_used", 4, 0.01),
    0x014A: ("fuel_consumption", 2, 0.01), 0x0537: ("fuel_consumption", 2, 0.01),
    0x0538: ("fuel_consumption", 2, 0.01), 0x0539: ("fuel_consumption", 2, 0.01),
    0x052B: ("fuel_level", 1, 1.0), 0x052D: ("obd_coolant_temp_c", 1, None), 0x052E: ("air_temp_c", 1, None),
    0x0530: ("power_v", 2, 0.001), 0x0535: ("obd_speed_kmh", 2, 0.1), 0x0536: ("obd_rpm", 2, 1.0),
    0x053D: ("intake_pressure", 2, 0.1), 0x0544: ("liquid_level", 1, 1.0), 0x0547: ("throttle_pct", 1, 1.0),
    0x0548: ("throttle_pct", 1, 1.0),
}  # fmt: skip


def _obd_value(data_id: int, r: ByteReader, out: _Out) -> None:
    if data_id == 0xFEEC:
        out.set("vin", r.rest().decode("latin-1"))
        return
    known = _OBD_VALUES.get(data_id)
    if known is None:
        if r.remaining in (1, 2, 4):
            out.set(f"io{data_id}", r.uint(r.remaining))
        return
    name, size, scale = known
    if r.remaining < size:
        return
    value = r.uint(size)
    if scale is None:
        out.set(name, value - 40)
    elif scale == 1.0:
        out.set(name, float(value) if name == "fuel_level" else value)
    else:
        out.set(name, round(value * scale, 6))


# -- stream framer -------------------------------------------------------------------------------


def _valid_binary(candidate: bytes) -> bool:
    """``7E ... 7E`` around at least a minimal header, whose XOR matches."""
    data, _ = unescape(candidate[1:-1])
    return len(data) >= _MIN_FRAME_INSIDE and xor_checksum(data[:-1]) == data[-1]


class Jt808Framer(StepFramer):
    """Cuts ``7E ... 7E`` frames (and ``( ... )`` text sentences) out of a TCP stream.

    * Bytes before a delimiter (or ``(``) are reported as ``garbage``.
    * ``7E 7E``: the first delimiter closed something lost; it is reported as garbage and the second
      one starts the next frame.
    * A candidate between two delimiters whose XOR fails is either a damaged frame or junk ending
      with the real start delimiter of the next frame.  The framer looks at what starts at the
      closing delimiter: if a valid frame does, the candidate is junk (``garbage``); otherwise it is
      handed on so that the decoder refuses it as ``bad_checksum`` with its bytes.  (When nothing
      follows yet, it waits for more bytes.)
    * A candidate longer than ``max_frame_size`` is reported as ``frame_too_long``.
    * ``(`` starts a text sentence only if printable ASCII up to ``)`` follows; otherwise it is garbage.
    """

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size=max(max_frame_size, 32))

    def _next_start(self, start: int) -> int:
        buf = self._buffer
        binary = buf.find(DELIMITER, start)
        text = buf.find(TEXT_START, start)
        if binary < 0:
            return text
        if text < 0:
            return binary
        return min(binary, text)

    def _step(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        if not buf:
            return False
        start = self._next_start(0)
        if start < 0:
            self._emit_skip(out, len(buf), "garbage", "no frame start")
            return False
        if start > 0:
            self._emit_skip(out, start, "garbage", "bytes before a frame start")
        if buf[0] == TEXT_START:
            return self._text_step(out)
        return self._binary_step(out)

    def _text_step(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        longest = min(MAX_TEXT_FRAME, self.max_frame_size)
        for i in range(1, min(len(buf), longest)):
            b = buf[i]
            if b == TEXT_END:
                self._emit_frame(out, i + 1)
                return True
            if not 0x20 <= b < DELIMITER or b == TEXT_START:
                self._emit_skip(out, i, "garbage", "'(' without a text sentence")
                return True
        if len(buf) >= longest:
            self._emit_skip(out, 1, "garbage", "'(' without a text sentence")
            return True
        return False

    def _binary_step(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        end = buf.find(DELIMITER, 1)
        if end < 0:
            if len(buf) > self.max_frame_size:
                self._emit_skip(out, len(buf), "frame_too_long", "no closing delimiter within the size limit")
                return True
            return False
        if end == 1:
            self._emit_skip(out, 1, "garbage", "a lone delimiter")
            return True
        if end + 1 > self.max_frame_size:
            self._emit_skip(out, end, "frame_too_long", f"{end + 1} bytes between delimiters")
            return True
        candidate = bytes(buf[: end + 1])
        if _valid_binary(candidate):
            self._emit_frame(out, end + 1)
            return True
        if len(unescape(candidate[1:-1])[0]) < _MIN_FRAME_INSIDE:
            self._emit_skip(out, end, "garbage", "too short for a frame")  # the closing 7E may start one
            return True
        # A bad candidate: junk ending on the next frame's start, or a damaged frame?
        following = buf.find(DELIMITER, end + 1)
        if following < 0:
            if len(buf) > self.max_frame_size:
                self._emit_frame(out, end + 1)
                return True
            return False  # wait for what follows to decide
        if following > end + 1 and _valid_binary(bytes(buf[end : following + 1])):
            self._emit_skip(out, end, "garbage", "delimiter without a valid frame")
            return True
        self._emit_frame(out, end + 1)  # a damaged frame: the decoder refuses it with its bytes
        return True


# -- simulated device ----------------------------------------------------------------------------

#: Alarm word bits a simulated device sets for an alarm.
ALARM_BITS: Final[dict[str, int]] = {
    "sos": 0, "overspeed": 1, "fatigue_driving": 2, "gps_antenna_cut": 5, "fault": 4, "low_battery": 7,
    "power_off": 8, "vibration": 15, "tampering": 16, "parking": 19, "geofence": 20, "general": 26,
    "movement": 28, "accident": 29,
}  # fmt: skip


def _bcd_time_bytes(time_utc: datetime, offset: timedelta) -> bytes:
    if time_utc.tzinfo is None:
        raise ValueError("time_utc must be UTC-aware")
    local = time_utc.astimezone(UTC) + offset
    if not 2000 <= local.year <= 2099:
        raise ValueError("JT/T 808 years run from 2000 to 2099")
    fields = (local.year - 2000, local.month, local.day, local.hour, local.minute, local.second)
    return bytes((v // 10) << 4 | v % 10 for v in fields)


def encode_location_body(
    *,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed_kmh: float = 0.0,
    heading_deg: float = 0.0,
    altitude_m: float = 0.0,
    valid: bool = True,
    ignition: bool = False,
    alarm: str | None = None,
    satellites: int | None = None,
    rssi: int | None = None,
    odometer_km: float | None = None,
    timezone_offset: timedelta = timedelta(hours=8),
) -> bytes:
    """The body of a 0x0200 location report, with items 0x01 (mileage), 0x30 (rssi), 0x31 (satellites).

    Round trip: time to the second, lat/lon to 1e-6 degree, speed to 0.1 km/h, course and
    altitude to whole units, mileage to 0.1 km.
    """
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise ValueError("latitude/longitude out of range")
    if not 0 <= speed_kmh <= 6553.5:
        raise ValueError("speed out of range")
    alarm_word = 0
    if alarm is not None:
        if alarm not in ALARM_BITS:
            raise ValueError(f"unknown alarm {alarm!r}; known: {', '.join(sorted(ALARM_BITS))}")
        alarm_word = 1 << ALARM_BITS[alarm]
    status = (1 if ignition else 0) | (2 if valid else 0) | (4 if latitude < 0 else 0) | (8 if longitude < 0 else 0)
    body = (
        alarm_word.to_bytes(4)
        + status.to_bytes(4)
        + round(abs(latitude) * 1_000_000).to_bytes(4)
        + round(abs(longitude) * 1_000_000).to_bytes(4)
        + round(altitude_m).to_bytes(2, signed=True)
        + round(speed_kmh * 10).to_bytes(2)
        + (round(heading_deg) % 360).to_bytes(2)
        + _bcd_time_bytes(time_utc, timezone_offset)
    )
    if odometer_km is not None:
        body += b"\x01\x04" + round(odometer_km * 10).to_bytes(4)
    if rssi is not None:
        body += b"\x30\x01" + bytes([rssi])
    if satellites is not None:
        body += b"\x31\x01" + bytes([satellites])
    return body


class Jt808Encoder(DeviceEncoder):
    """A simulated JT/T 808 (2013) terminal: authentication, location reports (0x0200), heartbeats.

    The device id must be digits: up to 12 (a phone number), or a 15-digit IMEI (sent as traccar
    expects it, see :func:`encode_terminal_id`).  :meth:`login` sends the authentication (0x0102)
    with the code traccar's registration answer gives (the terminal id); :meth:`register` builds
    the registration (0x0100) for a device that has none yet.
    """

    protocol = PROTOCOL

    def __init__(self, device_id: str, *, rssi: int = 25, timezone_offset: timedelta = timedelta(hours=8)) -> None:
        super().__init__(device_id)
        self.terminal_id = encode_terminal_id(device_id)
        if terminal_device_id(self.terminal_id) != device_id:
            raise ValueError(f"device id {device_id!r} would come back as {terminal_device_id(self.terminal_id)!r}")
        self.serial = 0
        self.rssi = rssi
        self.timezone_offset = timezone_offset

    def _next_serial(self) -> int:
        self.serial = (self.serial + 1) % 0x10000
        return self.serial

    def _frame(self, message_type: int, body: bytes) -> bytes:
        return build_frame(message_type, self.terminal_id, body, self._next_serial())

    def register(self, *, plate: str = "CEDETECT") -> bytes:
        """Terminal registration (0x0100): province, city, maker, model, terminal id, plate colour, plate."""
        body = (
            (0).to_bytes(2)
            + (0).to_bytes(2)
            + b"CEDET"
            + b"SIM".ljust(20, b"\x00")
            + self.device_id[-7:].encode("ascii").rjust(7, b"0")
            + b"\x01"
            + plate.encode("ascii")
        )
        return self._frame(MSG_TERMINAL_REGISTER, body)

    def login(self) -> bytes:
        return self._frame(MSG_TERMINAL_AUTH, terminal_id_text(self.terminal_id).encode("ascii"))

    def location(self, fix: FixToSend) -> bytes:
        body = encode_location_body(
            time_utc=fix.time_utc,
            latitude=fix.latitude,
            longitude=fix.longitude,
            speed_kmh=fix.speed_kmh,
            heading_deg=fix.heading_deg,
            altitude_m=fix.altitude_m,
            valid=fix.valid,
            ignition=fix.ignition,
            alarm=fix.alarm,
            satellites=min(max(fix.satellites, 0), 255),
            rssi=self.rssi,
            odometer_km=fix.odometer_km,
            timezone_offset=self.timezone_offset,
        )
        return self._frame(MSG_LOCATION_REPORT, body)

    def heartbeat(self) -> bytes:
        return self._frame(MSG_HEARTBEAT, b"")

    def awaits_response(self, kind: str) -> bool:
        return kind in ("login", "location", "heartbeat")  # every terminal message gets a general response


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=5015,
    transports=("tcp", "udp"),
    decoder_factory=Jt808Decoder,
    framer_factory=Jt808Framer,
    encoder_factory=Jt808Encoder,
    payload="binary",
    aliases=("huabao",),
)


__all__ = [
    "SPEC",
    "Jt808Decoder",
    "Jt808Encoder",
    "Jt808Frame",
    "Jt808Framer",
    "build_frame",
    "encode_location_body",
    "encode_terminal_id",
    "escape",
    "parse_frame",
    "terminal_device_id",
    "terminal_id_text",
    "unescape",
    "xor_checksum",
]

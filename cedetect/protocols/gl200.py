"""Queclink GL200 family (GL200/GL300/GL500, GV55/GV65/GV75, GV200/GV300/GV350/GV500/GV600, CV100/CV200,
GB100, GT501 ...): decoder for the text and binary @Track protocols, stream framer and frame builders.

Modelled on traccar's ``Gl200TextProtocolDecoder``, ``Gl200BinaryProtocolDecoder`` and
``Gl200FrameDecoder``.  One decoder handles both protocols: a frame is binary when it starts with one of
``+RSP +BSP +EVT +BVT +INF +BNF +HBD +CRD +BRD``, with ``+ACK`` not followed by ``:``, or with ``+`` and a
zero byte (the newer record-based binary format); every other frame is text.

Text frames
-----------
``+RESP:GTxxx,<protocol version>,<IMEI>,<device name>,...,<send time>,<count>$`` (``+BUFF:`` for reports
buffered while the device was offline: every message gets ``archive`` = true; ``+ACK:`` for command
acknowledgements and heartbeats).  Fields are comma separated; the ``$`` end (or a NUL) is optional in
the decoder.  The report type selects the layout, as in traccar:

* ``FRI GEO RTL DOG``: one or more fixes (``<number>`` location blocks: HDOP, speed km/h, azimuth,
  altitude, longitude, latitude, GPS UTC time, optional WiFi, mcc, mnc, lac, cell id, rssi/odometer)
  followed by model-dependent fields (battery, odometer, hour meter, analogue inputs, device status
  with ignition/inputs/outputs, RPM, fuel ...).  Each fix is one message; the tail fields go to the
  last one, as traccar does.
* ``ERI``: the same with an ``ERI mask`` selecting extra blocks (fuel sensors, 1-wire temperatures,
  BLE accessories ...), laid out per model (the model comes from ``model=`` or from the protocol-version
  prefix, e.g. ``27`` = GV300W, ``F1`` = GV350M, ``802005`` = GV355CEU).
* ``IGN IGF VGN VGF`` (ignition on/off, with duration, hour meter and odometer), ``LSW TSW`` (switches),
  ``IDA`` (driver RFID), ``DAR`` (driving behaviour), ``BAA BID`` (BLE accessories), ``LSA``, ``DAT``,
  ``OBD``, ``CAN`` (CAN-bus data selected by a report mask): one message each.
* ``INF`` (device state: ignition/motion, ICCID, signal, power and battery), ``VER`` (versions),
  ``GSM LBS WIF`` (cells / WiFi), ``PNA PFA`` (power on/off), ``DTT`` (transparent data): no fix.
* Every other type (``SOS SPD TOW IDL STT BPL MPN MPF EPN EPF SWG TMP TEM JDR JDS HBM IGL NMR DIS STR
  CTN ...``) is scanned for a ``lon,lat`` pair (the location block then starts four fields earlier) and
  a cell, and gets the alarm of its type.

Times: the GPS time of a location block is UTC; the send time (the field before the count number) is
reported as ``device_time`` and, like traccar, read as UTC although devices configured with a time zone
(``AT+GTTMA``) send local time there.  A message has a ``position`` only when its frame carries a fix
(longitude, latitude and GPS time); ``valid`` is false when the GPS accuracy (HDOP) field is 0: the
device then repeats its last known fix (traccar marks every fix valid).

Acknowledgements: a heartbeat ``+ACK:GTHBD,<protocol version>,...,<count>$`` is answered
``+SACK:GTHBD,<protocol version>,<count>$``.  ``ack_reports=True`` (traccar's ``gl200.ack``) answers
every other text frame with ``+SACK:<count>$`` too, for devices configured to wait for it.

Binary frames
-------------
``+RSP +BSP`` (locations; ``+BSP`` buffered), ``+EVT +BVT`` (events), ``+INF +BNF`` (information),
``+HBD`` (heartbeat), ``+CRD +BRD`` (crash data), ``+ACK``: a message-type byte, a field mask, a length
field (``+RSP``/``+EVT``: 4-byte mask then u16 length at offset 9; ``+INF``: 2-byte mask, u16 length
at 7; ``+CRD``: u16 at 6; ``+ACK``: 1-byte mask, u8 length at 6; ``+HBD``: u8 length at 5) counting the
whole frame, and a trailer of send time (7 bytes), count number (u16), two check bytes and ``\\r\\n``.
The check bytes are not verified (their algorithm is not published and traccar ignores them); the
length field and the ``\\r\\n`` end are.  The 8-byte unique id is the IMEI as seven 2-digit bytes and a
last digit, unless mask bit 6 says it is the device name (the connection's device id is used then).
Locations and events are decoded as in traccar (fixed layout up to the location blocks, HDOP > 0 =
valid); information, heartbeat, crash and ack frames are reported with their header and trailer only.
The newer format ``+ 00 <u16 length> ...`` carries records of TLV data; records with GNSS data (id
0x52) become fixes.  No binary frame is acknowledged (traccar sends nothing either).

Where this decoder parts from traccar
-------------------------------------
* ``valid`` follows the HDOP field (see above); the cell of every location block is reported.
* The send time becomes ``device_time`` for every text report (traccar's FRI pattern never captures it).
* Binary identities are read as Queclink encodes them (``865084030003675``, not the 64-bit number),
  so are MCC/MNC (hex nibbles holding decimal digits: ``0268`` = 268) and speeds (u16 km/h and a
  tenths byte; traccar reads one 24-bit number of tenths, 563.3 km/h for 22.1 km/h).
* ``+INF/+BNF`` binary frames are not interpreted beyond header and trailer: traccar reads them with
  a 4-byte mask where the frame has a 2-byte one.
* Numbers that traccar would fail to parse raise ``malformed`` with the frame kept.

Attributes
----------
============================  ==================================================================
``report_type``               str, the three letters after ``GT`` (``FRI``, ``ERI`` ...) or the binary
                              header (``RSP`` ...)
``archive``                   bool, ``+BUFF``/``+BSP``/``+BVT``/``+BNF``/``+BRD`` reports
``device_time``               str, ISO send time
``count_number``              int, the frame's count number (hex on the wire)
``alarm``                     ``sos``, ``overspeed``, ``tow``, ``idle``, ``power_on``, ``power_off``,
                              ``power_restored``, ``power_cut``, ``low_battery``, ``movement``,
                              ``geofence``, ``temperature``, ``jamming``, ``hard_braking``,
                              ``hard_acceleration``, ``hard_cornering``, ``fatigue_driving``, ``accident``
``ignition`` ``motion`` ``charge``  bool
``battery_level``             int, percent
``battery_v`` ``power_v``     float, internal battery / external power; ``power2_v`` a second supply
``odometer_km``               float, mileage
``engine_hours_h``            float, hour meter
``input`` ``output``          int, digital I/O bits; ``in1`` ``in2`` ``out1`` ``out2`` bool
``adc1_v`` ``adc2_v`` ``adc3_v``  float, analogue inputs; ``fuel1_level`` ... for ``F``-prefixed ones,
                              ``adc1_text`` ... for values in neither form
``rssi``                      int
``satellites`` (on messages without a position)   int
``mcc`` ``mnc`` ``lac`` ``cell_id``   int, serving cell; ``cell_count`` ``wifi_count`` int
``iccid`` ``vin``             str
``device_temp_c`` ``humidity_pct``  INF BLE sensor values
``temp1_c`` ...               float, temperature sensors; ``device_temp_c`` the device's own
``fuel_level``                float, as the sensor reports it (percent or litres)
``obd_rpm`` ``obd_speed_kmh`` ``obd_coolant_temp_c`` ``obd_odometer_km`` ``obd_fuel_used``  OBD/CAN
``fuel_consumption``          float, l/h (CAN) or as the OBD report sends it
``throttle_pct`` ``driving_time_h`` ``idle_hours_h`` ``idle_fuel_used`` ``range_km``
``axle_weight_kg`` ``tachograph_info`` ``indicators`` ``lights`` ``doors``
``vehicle_overspeed`` ``engine_overspeed`` ``ad_blue_level`` ``axle_weight1_kg`` ``axle_weight3_kg``
``axle_weight4_kg`` ``driver1_card`` ``driver2_card`` ``driver1_name`` ``driver2_name`` ``registration``
                              CAN-bus values (GTCAN)
``dtcs_cleared_distance`` ``obd_connected`` ``dtc_count`` ``dtc_codes``   OBD (GTOBD)
``driver_id``                 str, RFID (GTIDA)
``result``                    str, command acknowledgement (``+ACK:GTxxx``) or transparent data
``data``                      str, GTDAT payload
``device_type`` ``version_fw`` ``version_hw``   GTVER / binary headers
``warning_type`` ``fatigue_degree``   GTDAR
``accessory_name`` ``accessory_mac`` ``accessory_status`` ``accessory_voltage_v``
``accessory_temp_c`` ``accessory_humidity_pct``   GTBAA/GTBID
``light_level``               int, GTLSA
``external_battery_level``    int, GL320M
``tag1_id`` ``tag1_temp_c`` ``tag1_humidity_pct`` ``tag1_battery_level`` ...   BLE tags (GTERI)
``event_type``                int, binary event/ack/info message type
============================  ==================================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
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
from cedetect.protocols.common import bit_set
from cedetect.protocols.reader import ByteReader

PROTOCOL: Final = "gl200"

#: The longest frame the framer accepts by default (binary compressed reports reach ~1.5 kB).
DEFAULT_MAX_FRAME_SIZE: Final = 8192
TEXT_END: Final = b"$"
BINARY_END: Final = b"\r\n"
#: Binary headers and the offset/size of their length field.
BINARY_LENGTH_FIELD: Final[dict[bytes, tuple[int, int]]] = {
    b"+RSP": (9, 2), b"+BSP": (9, 2), b"+EVT": (9, 2), b"+BVT": (9, 2), b"+INF": (7, 2), b"+BNF": (7, 2),
    b"+HBD": (5, 1), b"+CRD": (6, 2), b"+BRD": (6, 2), b"+ACK": (6, 1),
}  # fmt: skip
TEXT_PREFIXES: Final = (b"+RESP:", b"+BUFF:", b"+ACK:")
#: Send time (7) + count number (2) + check bytes (2) + ``\r\n``: the trailer of classic binary frames.
_BINARY_TRAILER: Final = 13
_BUFFERED_HEADERS: Final = frozenset({b"+BSP", b"+BVT", b"+BNF", b"+BRD"})

#: Protocol-version prefix -> device model (the first two hex digits, or six for 10-digit versions).
PROTOCOL_MODELS: Final[dict[str, str]] = {
    "02": "GL200", "04": "GV200", "06": "GV300", "08": "GMT100", "09": "GV50P", "0F": "GV55", "10": "GV55 LITE",
    "11": "GL500", "1A": "GL300", "1F": "GV500", "21": "GL200", "25": "GV300", "27": "GV300W", "28": "GL300VC",
    "2C": "GL300W", "2D": "GV500VC", "2F": "GV55", "4F": "GV56", "30": "GL300", "31": "GV65", "35": "GV200",
    "36": "GV500", "3F": "GMT100", "40": "GL500", "41": "GV75W", "42": "GT501", "44": "GL530", "45": "GB100",
    "50": "GV55W", "52": "GL50", "55": "GL50B", "5E": "GV500MAP", "6E": "GV310LAU", "74": "GV350CEU",
    "BD": "CV200", "C2": "GV600M", "C3": "GL320M", "DC": "GV600MG", "DE": "GL500M", "DF": "CV100LG",
    "F1": "GV350M", "F8": "GV800W", "FC": "GV600W", "802004": "GV58LAU", "802005": "GV355CEU",
    "80201E": "GV30CEU",
}  # fmt: skip

#: Report type -> alarm, for the reports decoded by the generic scan.
TYPE_ALARMS: Final[dict[str, str]] = {
    "SOS": "sos", "SPD": "overspeed", "TOW": "tow", "IDL": "idle", "PNA": "power_on", "PFA": "power_off",
    "EPN": "power_restored", "MPN": "power_restored", "EPF": "power_cut", "MPF": "power_cut",
    "BPL": "low_battery", "STT": "movement", "SWG": "geofence", "TMP": "temperature", "TEM": "temperature",
    "JDR": "jamming", "JDS": "jamming",
}  # fmt: skip

_X = "[0-9a-fA-F]"
_VERSION = r"(?:.{6}|.{10})?,"
_IMEI = rf"(\d{{15}}|{_X}{{14}})"
_DATE = r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})"
_TAIL = rf"(?:{_DATE})?,({_X}{{4}})\$?"
#: A location block: 20 groups (hdop, speed, course, altitude, lon, lat, 6 time parts, wifi, mcc, mnc,
#: decimal lac/cid, hex lac/cid, odometer).
_LOCATION = (
    r"(\d{1,2}\.?\d?)?,"  # hdop
    r"(\d{1,3}\.\d)?,"  # speed
    r"(\d{1,3}\.?\d?)?,"  # course
    r"(-?\d{1,5}\.\d)?,"  # altitude
    r"(-?\d{1,3}\.\d{6})?,"  # longitude
    r"(-?\d{1,2}\.\d{6})?,"  # latitude
    rf"(?:{_DATE})?"  # GPS time
    rf"(?:,\d+((?:,{_X}{{12}},-\d+,,,)+))?"  # wifi
    r","
    r"(\d+)?,"  # mcc
    r"(\d+)?,"  # mnc
    rf"(?:(\d+),(\d+),|({_X}+)?,({_X}+)?,)"  # lac, cid
    r"(?:\d+|(\d+\.\d))?,"  # rssi / odometer
)
_LOCATION_RE = re.compile(_LOCATION, re.DOTALL)
_LOCATION_NC = re.sub(r"\((?!\?)", "(?:", _LOCATION)


def _compile(*parts: str) -> re.Pattern[str]:
    return re.compile("".join(parts), re.DOTALL)


_FRI = _compile(
    r"\+(?:RESP|BUFF):GT...,",
    _VERSION,
    _IMEI,
    ",",
    r"(?:([0-9A-Z]{17}),)?",  # vin
    r"[^,]*,",  # device name
    r"(\d+)?,",  # power
    r"(?:(\d{1,2}),)?",  # report type
    r"(?:\d{1,2},)?",  # count
    r"(?:\d*,)?",  # reserved
    r"(?:(\d+),)?",  # battery
    rf"((?:{_LOCATION_NC})+)",
    r"(?:",
    r"\d{1,2},(\d{1,5})?,(\d{1,3}),[01],(?:[01])?,(-?\d{1,2}\.\d)?,",  # battery mV, level, temperature
    r"|",
    rf"(\d{{1,7}}\.\d)?,(\d{{5}}:\d\d:\d\d)?,({_X}+)?,({_X}+)?,(?:\d*,)?(\d{{1,3}})?,({_X}{{6}})?,"
    r"(\d+)?,(?:\d+\.?\d*|Inf|NaN)?,(\d+)?,",  # odometer, hours, adc1, adc2, battery, status, rpm, fuel
    r"|",
    r"(-?\d),(\d{1,3}),",  # rssi, battery
    r"|",
    r"(?:(\d{1,7}\.\d)?,)?(\d{1,3})?,",  # odometer, battery
    r")",
    r".*",
    rf"(?:{_DATE.replace('(', '(?:')})?,{_X}{{4}}\$?",
)
_OBD = _compile(
    r"\+RESP:GTOBD,",
    _VERSION,
    _IMEI,
    ",",
    r"(?:[0-9A-Z]{17})?,",  # vin
    r"[^,]{0,20},",  # device name
    r"[01],",  # report type
    rf"{_X}{{1,8}},",  # report mask
    r"(?:[0-9A-Z]{17})?,",  # vin
    r"[01],",  # obd connect
    r"(?:\d{1,5})?,",  # obd voltage
    rf"(?:{_X}{{8}})?,",  # supported pids
    r"(\d{1,5})?,",  # rpm
    r"(\d{1,3})?,",  # speed
    r"(-?\d{1,3})?,",  # coolant temperature
    r"(\d+\.?\d*|Inf|NaN)?,",  # fuel consumption
    r"(\d{1,5})?,",  # dtcs cleared distance
    r"(?:\d{1,5})?,",
    r"([01])?,",  # obd connect
    r"(\d{1,3})?,",  # number of dtcs
    rf"({_X}*),",  # dtcs
    r"(\d{1,3})?,",  # throttle
    r"(?:\d{1,3})?,",  # engine load
    r"(\d{1,3})?,",  # fuel level
    r"(?:[0-9A],)?",  # obd protocol
    r"(\d+),",  # odometer
    _LOCATION,
    r"(\d{1,7}\.\d)?,",  # odometer
    _TAIL,
)
_VER = _compile(
    r"\+(?:RESP|BUFF):GTVER,",
    r"(?:.{6}|.{10})?,",
    _IMEI,
    ",",
    r"[^,]*,",  # device name
    r"([^,]*),",  # device type
    rf"({_X}{{4}}),",  # firmware version
    rf"({_X}{{4}}),",  # hardware version
    _DATE,
    rf",({_X}{{4}})\$?",
)
_LSW = _compile(r"\+RESP:GT[LT]SW,", _VERSION, _IMEI, r",[^,]*,[01],([01]),", _LOCATION, _TAIL)
_IDA = _compile(r"\+RESP:GTIDA,", _VERSION, _IMEI, r",[^,]*,,([^,]+),[01],1,", _LOCATION, r"(\d+\.\d),,,,", _TAIL)
_WIF = _compile(
    r"\+RESP:GTWIF,",
    _VERSION,
    _IMEI,
    r",[^,]*,(\d+),",
    rf"((?:{_X}{{12}},-?\d+,,,,)+),,,,",
    r"(\d{1,3}),",
    _TAIL,
)
_WIFI_ITEM = re.compile(rf"({_X}{{12}}),(-?\d+),,,,")
_WIFI_BLOCK = re.compile(rf",{_X}{{12}},-\d+,,,")
_GSM = _compile(r"\+RESP:GTGSM,", _VERSION, _IMEI, r",(?:STR|CTN|NMR|RTL),(.*)", _TAIL)
_PNA = _compile(r"\+RESP:GTP[NF]A,", _VERSION, _IMEI, r",[^,]*,", _TAIL)
_DAR = _compile(r"\+RESP:GTDAR,", _VERSION, _IMEI, r",[^,]*,(\d),(\d{1,2}),,,", _LOCATION, r".*", _TAIL)
_DTT = _compile(r"\+RESP:GTDTT,", _VERSION, _IMEI, r",[^,]*,,,\d,\d+,", rf"({_X}+),", _TAIL)
_BAA = _compile(
    r"\+RESP:GTBAA,",
    _VERSION,
    _IMEI,
    rf",[^,]*,{_X}+,\d,\d,{_X}+,({_X}{{4}}),((?:[^,]+,){{0,6}})",
    _LOCATION,
    r".*",
    _TAIL,
)
_BID = _compile(
    r"\+RESP:GTBID,", _VERSION, _IMEI, rf",[^,]*,\d,\d,({_X}{{4}}),((?:[^,]+,){{0,2}})", _LOCATION, r".*", _TAIL
)
_LSA = _compile(
    r"\+RESP:GTLSA,",
    _VERSION,
    _IMEI,
    r",[^,]*,\d,\d,\d+,",
    _LOCATION,
    r"\d+,(\d),(\d+),[01],[01]?,(-?\d+\.\d)?,",
    _TAIL,
)

#: GTHBM report type (low nibble) -> alarm.
_BEHAVIOUR_ALARMS: Final[dict[int, str]] = {
    0: "hard_braking", 3: "hard_braking", 1: "hard_acceleration", 4: "hard_acceleration", 2: "hard_cornering",
}  # fmt: skip

_INT_RE = re.compile(r"[+-]?\d+")
_HEX_RE = re.compile(r"[+-]?[0-9a-fA-F]+")
_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_COORDINATE_RE = re.compile(r"-?\d{1,3}\.\d{6}")
_ANY_IMEI_RE = re.compile(rf"\d{{15}}|{_X}{{14}}")


# -- small parsing helpers (every failure is a named DecodeError) -------------------------------------


def _int(text: str, base: int = 10) -> int:
    if not (_INT_RE if base == 10 else _HEX_RE).fullmatch(text):
        raise DecodeError(DecodeReason.MALFORMED, f"not a base-{base} integer: {text[:40]!r}")
    return int(text, base)


def _float(text: str) -> float:
    if not _FLOAT_RE.fullmatch(text):
        raise DecodeError(DecodeReason.MALFORMED, f"not a number: {text[:40]!r}")
    return float(text)


def _time(text: str) -> datetime:
    """``yyyyMMddHHmmss`` as UTC."""
    if len(text) != 14 or not text.isdigit():
        raise DecodeError(DecodeReason.INVALID_TIME, f"not a yyyyMMddHHmmss time: {text[:40]!r}")
    try:
        return datetime(
            int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:14]),
            tzinfo=UTC,
        )  # fmt: skip
    except ValueError as exc:
        raise DecodeError(DecodeReason.INVALID_TIME, f"{text}: {exc}") from exc


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _hours(text: str | None) -> float | None:
    """``HHHHH:MM:SS`` hour meter -> hours."""
    if not text:
        return None
    parts = text.split(":")
    total = _int(parts[0]) * 3600 + (_int(parts[1]) * 60 if len(parts) > 1 else 0)
    total += _int(parts[2]) if len(parts) > 2 else 0
    return total / 3600.0


def _java_split(text: str) -> list[str]:
    """``String.split(",")``: trailing empty strings are dropped."""
    values = text.split(",")
    while len(values) > 1 and values[-1] == "":
        values.pop()
    return values


class _Fields:
    """Index-based access to the comma-separated fields; out-of-range reads raise ``truncated``."""

    __slots__ = ("i", "v")

    def __init__(self, values: Sequence[str], index: int = 0) -> None:
        self.v = values
        self.i = index

    def __len__(self) -> int:
        return len(self.v)

    def at(self, index: int) -> str:
        if not 0 <= index < len(self.v):
            raise DecodeError(DecodeReason.TRUNCATED, f"field {index} of {len(self.v)} missing")
        return self.v[index]

    def peek(self, offset: int = 0) -> str:
        return self.at(self.i + offset)

    def next(self) -> str:
        value = self.at(self.i)
        self.i += 1
        return value

    def skip(self, count: int = 1) -> None:
        self.i += count


class _Groups:
    """Sequential reads of a regex match's groups, with the skip-on-miss rules of traccar's parser."""

    __slots__ = ("_groups", "pos")

    def __init__(self, match: re.Match[str]) -> None:
        self._groups = match.groups()
        self.pos = 0

    def has_next(self, count: int = 1) -> bool:
        for index in range(self.pos, self.pos + count):
            value = self._groups[index] if index < len(self._groups) else None
            if not value:
                self.pos += count
                return False
        return True

    def next(self) -> str | None:
        value = self._groups[self.pos] if self.pos < len(self._groups) else None
        self.pos += 1
        return value

    def next_int(self, base: int = 10) -> int | None:
        if self.has_next():
            return _int(self.next() or "", base)
        return None

    def next_float(self) -> float | None:
        if self.has_next():
            return _float(self.next() or "")
        return None

    def skip(self, count: int) -> None:
        self.pos += count

    def next_time(self) -> datetime | None:
        if self.has_next(6):
            return _time("".join(self.next() or "" for _ in range(6)))
        return None


# -- messages -------------------------------------------------------------------------------------------


@dataclass
class _Fix:
    time_utc: datetime
    latitude: float
    longitude: float


@dataclass
class _Out:
    """One message under construction; ``fix`` is filled when the frame carries longitude, latitude, time."""

    kind: str = "status"
    fix: _Fix | None = None
    attrs: dict[str, AttributeValue] = field(default_factory=dict)
    alarms: list[str] = field(default_factory=list)
    hdop: float | None = None
    speed: float = 0.0
    course: float = 0.0
    altitude: float | None = None
    satellites: int | None = None
    valid: bool | None = None

    def set(self, key: str, value: AttributeValue) -> None:
        """traccar's ``Position.set``: None and empty strings are not stored."""
        if value is None or value == "":
            return
        self.attrs[key] = value

    def place(self, time_utc: datetime, latitude: float, longitude: float) -> None:
        self.fix = _Fix(time_utc=time_utc, latitude=latitude, longitude=longitude)


def _heading(value: float) -> float:
    return math.fmod(value, 360.0) if value >= 0 else 0.0


def _model_of(declared: str | None, protocol_version: str) -> str:
    if declared:
        return declared
    prefix = protocol_version[:6] if len(protocol_version) > 6 else protocol_version[:2]
    return PROTOCOL_MODELS.get(prefix.upper(), "")


def _status(out: _Out, value: int) -> None:
    """The 3-byte device status word: ignition byte, input byte, output byte."""
    ignition = (value >> 16) & 0xFF
    if bit_set(ignition, 4):
        out.set("ignition", False)
    elif bit_set(ignition, 5):
        out.set("ignition", True)
    inputs = (value >> 8) & 0xFF
    outputs = value & 0xFF
    out.set("input", inputs)
    out.set("in1", bit_set(inputs, 1))
    out.set("in2", bit_set(inputs, 2))
    out.set("output", outputs)
    out.set("out1", bit_set(outputs, 0))
    out.set("out2", bit_set(outputs, 1))


def _analog(out: _Out, index: int, text: str) -> None:
    if text.startswith("F"):
        out.set(f"fuel{index}_level", float(_int(text[1:])))
    else:
        out.set(f"adc{index}_v", _int(text) / 1000.0)


def _cell(out: _Out, mcc: int, mnc: int, lac: int, cell_id: int) -> None:
    out.set("mcc", mcc)
    out.set("mnc", mnc)
    out.set("lac", lac)
    out.set("cell_id", cell_id)


def _location_groups(out: _Out, g: _Groups) -> None:
    """A location block read from regex groups (20 groups)."""
    out.hdop = g.next_float()
    out.speed = g.next_float() or 0.0
    out.course = g.next_float() or 0.0
    out.altitude = g.next_float() or 0.0
    if g.has_next(8):
        longitude = _float(g.next() or "")
        latitude = _float(g.next() or "")
        time_utc = g.next_time()
        if time_utc is not None:
            out.place(time_utc, latitude, longitude)
    wifi = g.next()
    if wifi:
        out.set("wifi_count", len(_WIFI_BLOCK.findall(wifi)))
    mcc, mnc = g.next(), g.next()
    lac_dec, cid_dec, lac_hex, cid_hex = g.next(), g.next(), g.next(), g.next()
    lac, cid = (lac_dec, cid_dec) if lac_dec is not None else (lac_hex, cid_hex)
    if mcc and mnc and lac and cid:
        _cell(out, _int(mcc), _int(mnc), _int(lac, 16), _int(cid, 16))
    odometer = g.next_float()
    if odometer is not None:
        out.set("odometer_km", odometer)


def _location_fields(out: _Out, model: str, f: _Fields) -> None:
    """A location block read field by field (the split-string layouts)."""
    text = f.next()
    out.hdop = _float(text) if text else None
    text = f.next()
    out.speed = _float(text) if text else 0.0
    text = f.next()
    out.course = _float(text) if text else 0.0
    text = f.next()
    out.altitude = _float(text) if text else 0.0
    if f.peek() and f.peek(1) and f.peek(2):
        longitude = _float(f.next())
        latitude = _float(f.next())
        out.place(_time(f.next()), latitude, longitude)
    else:
        f.skip(3)
    if len(f.peek(1)) == 12:
        count = _int(f.next())
        for _ in range(count):
            f.skip(2)  # mac, rssi
            f.skip(3)  # reserved
        out.set("wifi_count", count)
    if f.peek():
        mcc, mnc, lac, cid = _int(f.next()), _int(f.next()), _int(f.next(), 16), _int(f.next(), 16)
        _cell(out, mcc, mnc, lac, cid)
    else:
        f.skip(4)
    if model.startswith("GL5"):
        f.skip(2)  # csq rssi, csq ber
    if model in ("GT500MA", "GT501"):
        f.skip(1)  # csq rssi
    elif model != "GL320M":
        value = f.next()
        if value:
            if "." in value:
                out.set("odometer_km", _float(value))
            else:
                mask = _int(value, 16)
                if bit_set(mask, 0):
                    out.satellites = _int(f.next())
                if bit_set(mask, 1):
                    f.skip(1)  # trigger type
                if bit_set(mask, 4):
                    f.skip(1)  # gnss jamming state


class Gl200Decoder(ProtocolDecoder):
    """Decodes the text and binary frames of one Queclink connection (see the module docstring).

    Text frames name their IMEI, which becomes the connection's device id; binary frames that carry a
    device name instead use it.  ``ack_reports=True`` answers every text report with ``+SACK:<count>$``.
    """

    protocol = PROTOCOL

    def __init__(
        self,
        *,
        device_id: str | None = None,
        model: str | None = None,
        ack_reports: bool = False,
        future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
    ) -> None:
        super().__init__(device_id=device_id, model=model)
        self.ack_reports = ack_reports
        self.future_tolerance_s = future_tolerance_s

    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        raw = bytes(frame)
        try:
            if is_binary(raw):
                outs, response = self._binary(raw)
            else:
                outs, response = self._text(raw)
            device_id = self._require_device_id()
            return [
                self._message(out, device_id, response if index == 0 else None, raw, received_utc)
                for index, out in enumerate(outs)
            ]
        except DecodeError as exc:
            raise exc.with_raw(raw) from None

    def _message(
        self, out: _Out, device_id: str, response: bytes | None, raw: bytes, received_utc: datetime
    ) -> DecodedMessage:
        if out.alarms:
            out.attrs["alarm"] = join_alarms(*out.alarms)
        position = None
        if out.fix is not None:
            fix = out.fix
            valid = out.valid if out.valid is not None else (out.hdop is None or out.hdop > 0)
            position = make_position(
                device_id=device_id,
                protocol=PROTOCOL,
                time_utc=fix.time_utc,
                received_utc=received_utc,
                latitude=fix.latitude,
                longitude=fix.longitude,
                speed_kmh=out.speed,
                heading_deg=_heading(out.course),
                valid=valid,
                altitude_m=out.altitude,
                satellites=out.satellites,
                hdop=out.hdop,
                attributes=out.attrs,
                future_tolerance_s=self.future_tolerance_s,
            )
        elif out.satellites is not None:
            out.attrs["satellites"] = out.satellites
        kind = out.kind
        if "alarm" in out.attrs:
            kind = "alarm"
        elif position is not None and kind == "status":
            kind = "location"
        return DecodedMessage(
            kind=kind,
            device_id=device_id,
            position=position,
            response=response,
            raw=raw,
            attributes=dict(position.attributes) if position is not None else out.attrs,
        )

    # -- text -----------------------------------------------------------------------------------

    def _text(self, raw: bytes) -> tuple[list[_Out], bytes | None]:
        sentence = raw.decode("latin-1")
        sentence = sentence.rstrip("\x00").removesuffix("\r\n").removesuffix("$")
        if not sentence.startswith(("+RESP:GT", "+BUFF:GT", "+ACK:GT")):
            raise DecodeError(DecodeReason.UNKNOWN_MESSAGE_TYPE, f"not a Queclink report: {sentence[:12]!r}")
        type_index = sentence.index(":GT") + 3
        report = sentence[type_index : type_index + 3]
        values = _java_split(sentence)
        if len(values) < 4:
            raise DecodeError(DecodeReason.TRUNCATED, f"{len(values)} fields")
        response: bytes | None = None
        if sentence.startswith("+ACK"):
            outs, response = self._ack(values)
        else:
            outs = self._report(report, sentence, values)
            for out in outs:
                out.attrs["report_type"] = report
        archive = sentence.startswith("+BUFF")
        send_time = values[-2]
        for out in outs:
            if archive:
                out.attrs["archive"] = True
            if len(send_time) == 14 and send_time.isdigit():
                out.attrs.setdefault("device_time", _iso(_time(send_time)))
            count = values[-1]
            if len(count) == 4 and _HEX_RE.fullmatch(count):
                out.attrs["count_number"] = int(count, 16)
        if response is None and self.ack_reports:
            response = f"+SACK:{values[-1]}$".encode("latin-1")
        return outs, response

    def _identify(self, candidate: str) -> None:
        self._set_device_id(candidate)

    def _identify_fields(self, values: Sequence[str]) -> None:
        """The IMEI is the third field; a few reports (GTTRI) omit the protocol version before it."""
        if len(values) > 2 and _ANY_IMEI_RE.fullmatch(values[2]):
            self._identify(values[2])
        elif _ANY_IMEI_RE.fullmatch(values[1]):
            self._identify(values[1])
        else:
            self._identify(values[2] if len(values) > 2 else values[1])

    def _ack(self, values: list[str]) -> tuple[list[_Out], bytes | None]:
        self._identify_fields(values)
        if values[0] == "+ACK:GTHBD":
            response = f"+SACK:GTHBD,{values[1]},{values[-1]}$".encode("latin-1")
            return [_Out("heartbeat")], response
        out = _Out("command_reply")
        out.set("result", values[0])
        return [out], None

    def _report(self, report: str, sentence: str, values: list[str]) -> list[_Out]:
        handlers: dict[str, Callable[[], list[_Out] | None]] = {
            "INF": lambda: self._inf(values),
            "OBD": lambda: self._obd(sentence),
            "CAN": lambda: self._can(values),
            "FRI": lambda: self._fri(sentence),
            "GEO": lambda: self._fri(sentence),
            "RTL": lambda: self._fri(sentence),
            "DOG": lambda: self._fri(sentence),
            "ERI": lambda: self._eri(values),
            "IGN": lambda: self._ign(values, report),
            "IGF": lambda: self._ign(values, report),
            "VGN": lambda: self._ign(values, report),
            "VGF": lambda: self._ign(values, report),
            "LSW": lambda: self._lsw(sentence),
            "TSW": lambda: self._lsw(sentence),
            "IDA": lambda: self._ida(sentence),
            "WIF": lambda: self._wif(sentence),
            "GSM": lambda: self._gsm(sentence),
            "VER": lambda: self._ver(sentence),
            "PNA": lambda: self._pna(sentence),
            "PFA": lambda: self._pna(sentence),
            "DAR": lambda: self._dar(sentence),
            "DTT": lambda: self._dtt(sentence),
            "BAA": lambda: self._baa(sentence),
            "BID": lambda: self._bid(sentence),
            "LSA": lambda: self._lsa(sentence),
            "LBS": lambda: self._lbs(values),
            "DAT": lambda: self._dat(values),
        }
        handler = handlers.get(report)
        outs = handler() if handler is not None else None
        if outs is None:
            outs = self._basic(values, report)
        if outs is None:
            raise DecodeError(DecodeReason.MALFORMED, f"GT{report} report without location, cell or known fields")
        return outs

    def _model(self, protocol_version: str) -> str:
        return _model_of(self.model, protocol_version)

    def _match(self, pattern: re.Pattern[str], sentence: str) -> _Groups | None:
        match = pattern.fullmatch(sentence)
        if match is None:
            return None
        groups = _Groups(match)
        self._identify(groups.next() or "")
        return groups

    # -- INF / VER / GSM / WIF / LBS / PNA / DTT (no fix) ---------------------------------------

    def _inf(self, values: list[str]) -> list[_Out] | None:
        f = _Fields(values, 1)
        protocol_version = f.next()
        if len(protocol_version) > 10:
            return None  # GT300 protocol: the generic scan
        self._identify(f.next())
        out = _Out("info")
        model = self._model(protocol_version)
        f.skip(1)  # device name
        state_text = f.next()
        if state_text:
            state = _int(state_text, 16)
            ignition_motion = {
                0x16: (False, True), 0x1A: (False, True), 0x12: (False, True), 0x11: (False, False),
                0x21: (True, False), 0x22: (True, True), 0x41: (None, False), 0x42: (None, True),
            }  # fmt: skip
            if state in ignition_motion:
                ignition, motion = ignition_motion[state]
                out.set("ignition", ignition)
                out.set("motion", motion)
        out.set("iccid", f.next())
        rssi = f.next()
        if rssi:
            out.set("rssi", _int(rssi))
        f.skip(2)  # signal quality, external power supply
        if len(f.peek(1)) >= 12:
            f.skip(1)  # ble sensor mac
            out.set("device_temp_c", float(_int(f.next())))
            out.set("humidity_pct", float(_int(f.next())))
        value = f.next()
        if value:
            if "." in value:
                out.set("odometer_km", _float(value))
            else:
                out.set("power_v", _int(value) / 1000.0)
        if model != "GV500VC":
            if model in ("GV350M", "GV310LAU"):
                f.skip(1)  # expand mask or network type
            else:
                value = f.next()
                if value:
                    out.set("power2_v", _int(value) / 1000.0)
        value = f.next()
        if value:
            out.set("battery_v", _float(value))
        value = f.next()
        if value and _int(value) == 1:
            out.set("charge", True)
        if model == "GV310LAU":
            f.skip(5)  # led state, power saving mode, external antenna, last fix time, pin mask
            for index in (1, 2, 3):
                out.set(f"adc{index}_v", _int(f.next()) / 1000.0)
        return [out]

    def _ver(self, sentence: str) -> list[_Out] | None:
        g = self._match(_VER, sentence)
        if g is None:
            return None
        out = _Out("info")
        out.set("device_type", g.next())
        out.set("version_fw", g.next_int(16))
        out.set("version_hw", g.next_int(16))
        return [out]

    def _wif(self, sentence: str) -> list[_Out] | None:
        g = self._match(_WIF, sentence)
        if g is None:
            return None
        out = _Out("lbs")
        g.next()  # count
        out.set("wifi_count", len(_WIFI_ITEM.findall(g.next() or "")))
        out.set("battery_level", g.next_int())
        return [out]

    def _gsm(self, sentence: str) -> list[_Out] | None:
        g = self._match(_GSM, sentence)
        if g is None:
            return None
        out = _Out("lbs")
        data = (g.next() or "").split(",")
        cells = 0
        for index in range(6):
            base = index * 6
            if base + 4 >= len(data):
                raise DecodeError(DecodeReason.TRUNCATED, f"GTGSM cell {index + 1} incomplete")
            if data[base]:
                if cells == 0:
                    _cell(
                        out, _int(data[base]), _int(data[base + 1]), _int(data[base + 2], 16), _int(data[base + 3], 16)
                    )
                    out.set("rssi", _int(data[base + 4]))
                cells += 1
        out.set("cell_count", cells)
        return [out]

    def _lbs(self, values: list[str]) -> list[_Out]:
        f = _Fields(values, 2)
        self._identify(f.next())
        out = _Out("lbs")
        f.skip(3)  # device name, trigger type, report type
        out.set("battery_level", _int(f.next()))
        f.skip(5)  # reserved, motion status, reserved, reserved, component expansion mask
        cells = 0
        for _ in range(7):
            if f.peek(1):
                mcc, mnc, lac, cid = _int(f.next()), _int(f.next()), _int(f.next(), 16), _int(f.next(), 16)
                rssi = _int(f.next())
                if cells == 0:
                    _cell(out, mcc, mnc, lac, cid)
                    out.set("rssi", rssi)
                cells += 1
            else:
                f.skip(5)
            f.skip(1)  # reserved
        out.set("cell_count", cells)
        return [out]

    def _pna(self, sentence: str) -> list[_Out] | None:
        if self._match(_PNA, sentence) is None:
            return None
        return [_Out("alarm", alarms=["power_on" if "PNA" in sentence[:12] else "power_off"])]

    def _dtt(self, sentence: str) -> list[_Out] | None:
        g = self._match(_DTT, sentence)
        if g is None:
            return None
        out = _Out("info")
        hex_data = g.next() or ""
        if len(hex_data) % 2:
            raise DecodeError(DecodeReason.MALFORMED, "odd number of hex digits in GTDTT data")
        data = bytes.fromhex(hex_data).decode("latin-1")
        if "COMB" in data:
            parts = data.split(",")
            if len(parts) < 3:
                raise DecodeError(DecodeReason.MALFORMED, f"GTDTT fuel data {data[:40]!r}")
            out.set("fuel_level", _float(parts[2]))
        else:
            out.set("result", data)
        return [out]

    # -- reports with location blocks -----------------------------------------------------------

    def _fri(self, sentence: str) -> list[_Out] | None:
        match = _FRI.fullmatch(sentence)
        if match is None:
            return None
        g = _Groups(match)
        self._identify(g.next() or "")
        vin = g.next()
        power = g.next_int()
        report_type = g.next_int()
        battery = g.next_int()
        outs: list[_Out] = []
        for item in _LOCATION_RE.finditer(g.next() or ""):
            out = _Out("location")
            out.set("vin", vin)
            _location_groups(out, _Groups(item))
            outs.append(out)
        if not outs:
            return None
        last = outs[-1]
        if power is not None and power > 10:
            last.set("power_v", power / 1000.0)
        last.set("battery_level", battery)
        if g.has_next():
            last.set("battery_v", (g.next_int() or 0) / 1000.0)
        last.set("battery_level", g.next_int())
        last.set("temp1_c", g.next_float())
        odometer = g.next_float()
        if odometer is not None:
            last.set("odometer_km", odometer)
        last.set("engine_hours_h", _hours(g.next()))
        for index in (1, 2):
            adc = g.next()
            if adc:
                if adc.isdigit() or adc.startswith("F"):
                    _analog(last, index, adc)
                else:
                    last.set(f"adc{index}_text", adc)
        last.set("battery_level", g.next_int())
        status = g.next_int(16)
        if status is not None:
            _status(last, status)
        rpm = g.next_int()
        last.set("obd_rpm", float(rpm) if rpm is not None else None)
        fuel = g.next_int()
        last.set("fuel_level", float(fuel) if fuel is not None else None)
        if g.has_next(2):
            if report_type is not None:
                last.set("motion", bit_set(report_type, 0))
                last.set("charge", bit_set(report_type, 1))
            last.set("rssi", g.next_int())
            last.set("battery_level", g.next_int())
        odometer = g.next_float()
        if odometer is not None:
            last.set("odometer_km", odometer)
        last.set("battery_level", g.next_int())
        return outs

    def _eri(self, values: list[str]) -> list[_Out]:
        f = _Fields(values)
        extended = f.next().endswith("ERI")
        protocol_version = f.next()
        self._identify(f.next())
        model = self._model(protocol_version)
        vin = f.next() if model == "GV500" else None
        f.skip(1)  # device name
        mask = _int(f.next(), 16) if extended else 0
        text = f.next()
        power = _int(text) / 1000.0 if text else None
        f.skip(1)  # report type
        count = _int(f.next())
        if count < 1:
            raise DecodeError(DecodeReason.MALFORMED, "GTERI without a location block")
        outs: list[_Out] = []
        for _ in range(count):
            out = _Out("location")
            out.set("vin", vin)
            _location_fields(out, model, f)
            outs.append(out)
        last = outs[-1]
        if not extended and re.fullmatch(r"GL200|GL300(W|VC)?", model):
            text = f.next()
            if text:
                last.set("battery_level", _int(text))
            return outs
        last.set("power_v", power)
        if not model.startswith("GL5"):
            text = f.next()
            last.set("odometer_km", _float(text) if text else None)
        if not model.startswith("GL5") and model != "GL320M":
            last.set("engine_hours_h", _hours(f.next()))
            text = f.next()
            if text:
                _analog(last, 1, text)
        if model.startswith("GV") and not model.startswith("GV6") and model != "GV350M":
            text = f.next()
            if text:
                _analog(last, 2, text)
        if model in ("GV200", "GV310LAU", "GV350CEU"):
            text = f.next()
            if text:
                _analog(last, 3, text)
        elif (model.startswith("GV3") and model.endswith("CEU")) or model.startswith("GV600M"):
            f.skip(1)  # reserved
        if model.startswith("GL5"):
            text = f.next()
            last.set("battery_level", _int(text) if text else None)
            f.skip(1)  # mode selection
            text = f.next()
            last.set("motion", _int(text) > 0 if text else None)
        elif model == "GV200":
            text = f.next()
            last.set("input", _int(text, 16) if text else None)
            text = f.next()
            last.set("output", _int(text, 16) if text else None)
            f.skip(1)  # uart device type
        elif model == "GL320M":
            text = f.next()
            last.set("battery_level", _int(text) if text else None)
            if bit_set(mask, 7):
                text = f.next()
                last.set("external_battery_level", _int(text) if text else None)
        else:
            text = f.next()
            last.set("battery_level", _int(text) if text else None)
            text = f.next()
            if text:
                _status(last, _int(text, 16))
            if extended:
                f.skip(1)  # reserved / uart device type
            else:
                text = f.next()
                last.set("obd_rpm", float(_int(text)) if text else None)
                f.skip(1)  # fuel consumption
                text = f.next()
                last.set("fuel_level", float(_int(text)) if text else None)
        if bit_set(mask, 0) and model != "GV350M":
            text = f.next()
            last.set("fuel_level", float(_int(text, 16)) if text else None)
        if bit_set(mask, 29):
            f.skip(2)  # reserved
            data_mask = _int(f.next(), 16)
            if bit_set(data_mask, 0):
                text = f.next()
                if text:
                    last.set("fuel_level", float(_int(text, 16)))
            if bit_set(data_mask, 1):
                f.skip(1)  # fuel height
        if bit_set(mask, 1):
            for index in range(1, _int(f.next()) + 1):
                f.skip(2)  # id, type
                text = f.next()
                if text:
                    raw = _int(text, 16) & 0xFFFF
                    last.set(f"temp{index}_c", (raw - 0x10000 if raw & 0x8000 else raw) * 0.0625)
        if bit_set(mask, 2):
            return outs  # CAN data is not interpreted
        if (bit_set(mask, 3) or bit_set(mask, 4) or (bit_set(mask, 0) and model == "GV350M")) and f.i < len(f) - 2:
            for _ in range(_int(f.next())):
                f.skip(1)  # type
                if model == "GV350M":
                    f.skip(1)  # uart id
                    if bit_set(mask, 0):
                        last.set("fuel_level", float(_int(f.next(), 16)))
                if bit_set(mask, 3):
                    last.set("fuel_level", _float(f.next()))
                if bit_set(mask, 4):
                    f.skip(1)  # volume
                if bit_set(mask, 10):
                    f.skip(1)  # fuel temperature
        if bit_set(mask, 7) and model != "GL320M":
            for _ in range(_int(f.next())):
                f.skip(1)  # serial number
                sensor_type = _int(f.next())
                f.skip(2 if sensor_type == 2 else 1)  # temperature (and humidity)
        if bit_set(mask, 8) and model != "GL320M":
            self._eri_accessories(last, model, f)
        return outs

    @staticmethod
    def _eri_accessories(out: _Out, model: str, f: _Fields) -> None:
        for index in range(1, _int(f.next()) + 1):
            f.skip(3)  # index, type, model
            if model.startswith("GV600M"):
                f.skip(1)  # raw data length
            f.skip(1)  # raw data
            device_mask = _int(f.next(), 16)
            if bit_set(device_mask, 0):
                f.skip(1)  # name
            if bit_set(device_mask, 1):
                out.set(f"tag{index}_id", f.next())
            if bit_set(device_mask, 2):
                f.skip(1)  # status
            if bit_set(device_mask, 3):
                f.skip(1)  # battery level
            if bit_set(device_mask, 4):
                text = f.next()
                if text:
                    out.set(f"tag{index}_temp_c", _float(text))
            if bit_set(device_mask, 5):
                text = f.next()
                if text:
                    out.set(f"tag{index}_humidity_pct", float(_int(text)))
            for bit in (7, 8, 9, 10, 11, 12):
                if bit_set(device_mask, bit):
                    f.skip(1)  # input/output, event, tire pressure, timestamp, enhanced temperature, magnet
            if bit_set(device_mask, 13):
                text = f.next()
                if text:
                    out.set(f"tag{index}_battery_level", _int(text))
            if bit_set(device_mask, 14):
                f.skip(1)  # relay

    def _ign(self, values: list[str], report: str) -> list[_Out]:
        f = _Fields(values, 1)
        protocol_version = f.next()
        self._identify(f.next())
        model = self._model(protocol_version)
        out = _Out("status")
        f.skip(1)  # device name
        if model == "CV200":
            f.skip(2)  # reserved, report type
        f.skip(1)  # duration of ignition on/off
        _location_fields(out, model, f)
        out.set("ignition", "GN" in report)
        out.set("engine_hours_h", _hours(f.next()))
        text = f.next()
        if text:
            out.set("odometer_km", _float(text))
        return [out]

    def _dat(self, values: list[str]) -> list[_Out]:
        f = _Fields(values, 1)
        protocol_version = f.next()
        self._identify(f.next())
        model = self._model(protocol_version)
        out = _Out("status")
        f.skip(4)  # device name, report type, reserved, reserved
        out.set("data", f.next())
        _location_fields(out, model, f)
        return [out]

    def _lsw(self, sentence: str) -> list[_Out] | None:
        g = self._match(_LSW, sentence)
        if g is None:
            return None
        out = _Out("status")
        out.set("in1" if "LSW" in sentence[:12] else "in2", g.next_int() == 1)
        _location_groups(out, g)
        return [out]

    def _ida(self, sentence: str) -> list[_Out] | None:
        g = self._match(_IDA, sentence)
        if g is None:
            return None
        out = _Out("status")
        out.set("driver_id", g.next())
        _location_groups(out, g)
        out.set("odometer_km", g.next_float())
        return [out]

    def _dar(self, sentence: str) -> list[_Out] | None:
        g = self._match(_DAR, sentence)
        if g is None:
            return None
        out = _Out("status")
        warning = g.next_int()
        degree = g.next_int()
        if warning == 1:
            out.alarms.append("fatigue_driving")
            out.set("fatigue_degree", degree)
        else:
            out.set("warning_type", warning)
        _location_groups(out, g)
        return [out]

    def _baa(self, sentence: str) -> list[_Out] | None:
        g = self._match(_BAA, sentence)
        if g is None:
            return None
        out = _Out("status")
        mask = g.next_int(16) or 0
        items = iter((g.next() or "").split(","))
        if bit_set(mask, 0):
            out.set("accessory_name", next(items, None))
        if bit_set(mask, 1):
            out.set("accessory_mac", next(items, None))
        if bit_set(mask, 2):
            out.set("accessory_status", _int(next(items, "")))
        if bit_set(mask, 3):
            out.set("accessory_voltage_v", _int(next(items, "")) / 1000.0)
        if bit_set(mask, 4):
            out.set("accessory_temp_c", float(_int(next(items, ""))))
        if bit_set(mask, 5):
            out.set("accessory_humidity_pct", float(_int(next(items, ""))))
        _location_groups(out, g)
        return [out]

    def _bid(self, sentence: str) -> list[_Out] | None:
        g = self._match(_BID, sentence)
        if g is None:
            return None
        out = _Out("status")
        mask = g.next_int(16) or 0
        items = iter((g.next() or "").split(","))
        if bit_set(mask, 1):
            out.set("accessory_mac", next(items, None))
        if bit_set(mask, 3):
            out.set("accessory_voltage_v", _int(next(items, "")) / 1000.0)
        _location_groups(out, g)
        return [out]

    def _lsa(self, sentence: str) -> list[_Out] | None:
        g = self._match(_LSA, sentence)
        if g is None:
            return None
        out = _Out("status")
        _location_groups(out, g)
        out.set("light_level", g.next_int())
        out.set("battery_level", g.next_int())
        out.set("temp1_c", g.next_float())
        return [out]

    def _obd(self, sentence: str) -> list[_Out] | None:
        g = self._match(_OBD, sentence)
        if g is None:
            return None
        out = _Out("obd")
        rpm = g.next_int()
        out.set("obd_rpm", float(rpm) if rpm is not None else None)
        speed = g.next_int()
        out.set("obd_speed_kmh", float(speed) if speed is not None else None)
        coolant = g.next_int()
        out.set("obd_coolant_temp_c", float(coolant) if coolant is not None else None)
        consumption = g.next()
        if consumption and consumption not in ("Inf", "NaN"):
            out.set("fuel_consumption", _float(consumption))
        out.set("dtcs_cleared_distance", g.next_int())
        if g.has_next():
            out.set("obd_connected", g.next_int() == 1)
        out.set("dtc_count", g.next_int())
        out.set("dtc_codes", g.next())
        out.set("throttle_pct", g.next_int())
        fuel = g.next_int()
        out.set("fuel_level", float(fuel) if fuel is not None else None)
        odometer = g.next_int()
        if odometer is not None:
            out.set("obd_odometer_km", float(odometer))
        _location_groups(out, g)
        odometer_km = g.next_float()
        if odometer_km is not None:
            out.set("obd_odometer_km", odometer_km)
        return [out]

    def _can(self, values: list[str]) -> list[_Out]:
        f = _Fields(values, 1)
        protocol_version = f.next()
        self._identify(f.next())
        model = self._model(protocol_version)
        out = _Out("obd")
        f.skip(3)  # device name, report type, can bus state
        mask = _int(f.next(), 16)
        ceu = re.fullmatch(r"GV35.CEU", model) is not None

        def text_if(bit: int, source: int = mask) -> str | None:
            """The next field when ``bit`` of ``source`` is set (consumed even when empty), else None."""
            if not bit_set(source, bit):
                return None
            return f.next() or None

        if bit_set(mask, 0):
            out.set("vin", f.next())
        if (text := text_if(1)) is not None:
            out.set("ignition", _int(text) > 0)
        if (text := text_if(2)) is not None and text.startswith("H"):
            out.set("obd_odometer_km", _int(text[1:]) / 10.0)
        if (text := text_if(3)) is not None and not text.startswith("K"):
            out.set("obd_fuel_used", _float(text[1:] if text.startswith("L") else text))
        if (text := text_if(5)) is not None:
            out.set("obd_rpm", float(_int(text)))
        if (text := text_if(4)) is not None:
            out.set("obd_speed_kmh", float(_int(text)))
        if (text := text_if(6)) is not None:
            out.set("obd_coolant_temp_c", float(_int(text)))
        if (text := text_if(7)) is not None and text.startswith("L/H"):
            out.set("fuel_consumption", _float(text[3:]))
        if (text := text_if(8)) is not None:
            out.set("fuel_level", _float(text[1:]))
        if (text := text_if(9)) is not None:
            out.set("range_km", _int(text) / 10.0)
        if (text := text_if(10)) is not None:
            out.set("throttle_pct", _int(text))
        if (text := text_if(11)) is not None:
            out.set("engine_hours_h", _float(text))
        if (text := text_if(12)) is not None:
            out.set("driving_time_h", _float(text))
        if (text := text_if(13)) is not None:
            out.set("idle_hours_h", _float(text))
        if (text := text_if(14)) is not None and not text.startswith("K"):
            out.set("idle_fuel_used", _float(text[1:] if text.startswith("L") else text))
        if (text := text_if(15)) is not None:
            out.set("axle_weight_kg", _int(text))
        for bit, name in ((16, "tachograph_info"), (17, "indicators"), (18, "lights"), (19, "doors")):
            if (text := text_if(bit)) is not None:
                out.set(name, _int(text, 16))
        if (text := text_if(20)) is not None:
            out.set("vehicle_overspeed", _float(text))
        if (text := text_if(21)) is not None:
            out.set("engine_overspeed", _float(text))
        if model == "GV350M":
            f.skip(sum(bit_set(mask, bit) for bit in (22, 23, 24)))
        elif ceu:
            f.skip(sum(bit_set(mask, bit) for bit in (23, 24, 25, 26, 27)))
        ext = 0
        if (text := text_if(29)) is not None:
            ext = _int(text, 16)
        if (text := text_if(0, ext)) is not None:
            out.set("ad_blue_level", _float(text[1:] if text[:1] in ("L", "P") else text))
        for bit, name in ((1, "axle_weight1_kg"), (2, "axle_weight3_kg"), (3, "axle_weight4_kg")):
            if (text := text_if(bit, ext)) is not None:
                out.set(name, _int(text))
        f.skip(sum(bit_set(ext, bit) for bit in (4, 5, 6)))  # tachograph overspeed, motion, direction
        if (text := text_if(7, ext)) is not None:
            out.set("adc1_v", _int(text) / 1000.0)
        f.skip(sum(bit_set(ext, bit) for bit in (8, 9, 10, 11, 12, 13, 14)))
        for bit, name in (
            (15, "driver1_card"), (16, "driver2_card"), (17, "driver1_name"), (18, "driver2_name"),
            (19, "registration"),
        ):  # fmt: skip
            if (text := text_if(bit, ext)) is not None:
                out.set(name, text)
        f.skip(sum(bit_set(ext, bit) for bit in (20, 21, 22, 23, 24, 25)))
        if not ceu:
            f.skip(sum(bit_set(ext, bit) for bit in (26, 27)))  # tachograph driver working time masks
        if bit_set(ext, 28):
            count = _int(f.peek()) if ceu and f.peek() else 0
            f.skip(1 + count)  # dtc codes
        f.skip(sum(bit_set(ext, bit) for bit in (29, 30)))  # gaseous fuel level, tachograph information expand
        can = 0
        if (text := text_if(31, ext)) is not None:
            can = _int(text, 16)
        f.skip(sum(bit_set(can, bit) for bit in (0, 1)))  # retarder usage, power mode
        if model != "GV350CEU" and bit_set(can, 2):
            f.skip(1)  # tachograph timestamp
        if ceu:
            f.skip(sum(bit_set(can, bit) for bit in range(4, 13)))
            if bit_set(can, 14):
                f.skip(1)  # gross vehicle weight
            if bit_set(can, 15):
                count = _int(f.peek()) if f.peek() else 0
                f.skip(1 + count * 5)  # axle, wheel, pressure, temperature, status
            f.skip(sum(bit_set(can, bit) for bit in range(16, 20)))
            if bit_set(can, 3):
                sub = _int(f.peek(), 16) if f.peek() else 0
                f.skip(1 + sub.bit_count())  # e-genset data
            if bit_set(mask, 28):
                sub = _int(f.peek(), 16) if f.peek() else 0
                f.skip(1 + sub.bit_count())  # electric vehicle data
        if model == "GV355CEU":
            for bit in (26, 27):
                if bit_set(ext, bit):
                    sub = _int(f.peek(), 16) if f.peek() else 0
                    f.skip(1 + sub.bit_count())  # tachograph working time
        if model != "GV355CEU" and bit_set(mask, 30):
            while not f.peek():
                f.skip(1)
            out.valid = _int(f.next()) > 0
            if f.peek():
                out.speed = _float(f.next())
                out.course = float(_int(f.next()))
                out.altitude = _float(f.next())
                longitude = _float(f.next())
                latitude = _float(f.next())
                out.place(_time(f.next()), latitude, longitude)
        return [out]

    def _basic(self, values: list[str], report: str) -> list[_Out] | None:
        f = _Fields(values, 1)
        protocol_version = f.next()
        self._identify_fields(values)
        out = _Out("status")
        index = 2
        if len(values) > 5 and re.fullmatch(r"[0-9a-fA-F]{1,2}", values[5]):
            report_type = int(values[5], 16)
            if report in ("STR", "CTN"):
                battery = values[8] if len(values) > 8 else ""
                if re.fullmatch(r"GL5[03]0", self._model(protocol_version)) and battery:
                    out.set("battery_level", _int(battery))
            elif report == "NMR":
                out.set("motion", report_type == 1)
            elif report == "DIS":
                out.set(f"in{report_type // 0x10}", report_type % 0x10 == 1)
            elif report == "IGL":
                out.set("ignition", report_type % 0x10 == 1)
            elif report == "HBM" and report_type % 0x10 in _BEHAVIOUR_ALARMS:
                out.alarms.append(_BEHAVIOUR_ALARMS[report_type % 0x10])
        index = 3
        located = False
        while index + 2 < len(values):
            if _COORDINATE_RE.fullmatch(values[index]) and _COORDINATE_RE.fullmatch(values[index + 1]):
                g = _Fields(values, index - 4)
                out.hdop = float(_int(g.next()))
                out.speed = _float(g.next())
                out.course = float(_int(g.next()))
                out.altitude = _float(g.next())
                longitude = _float(g.next())
                latitude = _float(g.next())
                out.place(_time(g.next()), latitude, longitude)
                index = g.i
                located = True
                break
            index += 1
        if not located:
            index = 2
        while index + 3 < len(values):
            mcc, mnc, lac, cid = values[index : index + 4]
            if (
                re.fullmatch(r"\d{4}", mcc)
                and re.fullmatch(r"\d{4}", mnc)
                and re.fullmatch(r"[0-9a-fA-F]{4}", lac)
                and re.fullmatch(r"[0-9a-fA-F]{4,8}", cid)
            ):
                _cell(out, int(mcc), int(mnc), int(lac, 16), int(cid, 16))
                break
            index += 1
        last = values[-2]
        if len(last) == 14 and located and re.fullmatch(r"\d{1,3}", values[-3]):
            out.set("battery_level", int(values[-3]))
        if report in TYPE_ALARMS:
            out.alarms.append(TYPE_ALARMS[report])
        if not (out.attrs or out.alarms or out.fix is not None or located):
            return None
        return [out]

    # -- binary ---------------------------------------------------------------------------------

    def _binary(self, raw: bytes) -> tuple[list[_Out], bytes | None]:
        check_binary_frame(raw)
        if raw[1] == 0:
            return self._binary_records(raw), None
        header = raw[:4]
        r = ByteReader(raw, 4, len(raw) - _BINARY_TRAILER)
        trailer = raw[-_BINARY_TRAILER:]
        if header in (b"+RSP", b"+BSP"):
            outs = self._binary_location(r)
        elif header in (b"+EVT", b"+BVT"):
            outs = [self._binary_event(r)]
        elif header in (b"+INF", b"+BNF"):
            outs = [self._binary_info(r, mask_size=2)]
        elif header == b"+ACK":
            outs = [self._binary_info(r, mask_size=1, kind="command_reply")]
        elif header == b"+HBD":
            out = _Out("heartbeat")
            out.set("event_type", r.u8())
            outs = [out]
        else:  # +CRD / +BRD crash data
            out = _Out("info")
            out.set("event_type", r.u8())
            outs = [out]
        self._require_device_id()
        send = _binary_time(trailer[:7])
        for out in outs:
            out.attrs["report_type"] = header[1:].decode("ascii")
            if header in _BUFFERED_HEADERS:
                out.attrs["archive"] = True
            if send is not None:
                out.attrs.setdefault("device_time", _iso(send))
            out.attrs["count_number"] = int.from_bytes(trailer[7:9])
        return outs, None

    def _unique_id(self, r: ByteReader, mask: int) -> None:
        """The 8-byte unique id: the IMEI (mask bit 6 clear) or the device name (bit 6 set)."""
        data = r.take(8)
        if bit_set(mask, 6):
            return
        if any(byte > 99 for byte in data[:7]) or data[7] > 9:
            raise DecodeError(DecodeReason.INVALID_DEVICE_ID, f"unique id {data.hex()} is not a BCD-style IMEI")
        self._set_device_id("".join(f"{byte:02d}" for byte in data[:7]) + str(data[7]))

    def _binary_location(self, r: ByteReader) -> list[_Out]:
        message_type = r.u8()
        mask = r.uint(4)
        r.skip(2 + 1 + 2 + 2)  # length, device type, protocol version, firmware version
        self._unique_id(r, mask)
        battery = r.u8()
        power = r.uint(2)
        if message_type == 8:  # geo-fence report
            r.skip(2)
        r.skip(1)  # motion status
        satellites = r.u8()
        if message_type != 100:
            r.skip(1)  # report index
        if message_type == 3:  # LCB: the phone number in BCD, ending in an F nibble
            r.skip(1)
            while True:
                digit = r.u8()
                if digit & 0x0F == 0x0F or digit & 0xF0 == 0xF0:
                    break
        outs: list[_Out] = []
        if message_type == 100:
            self._compressed(r, outs)
            return outs
        for _ in range(r.u8()):
            out = _Out("location")
            out.set("battery_level", battery)
            out.set("power_v", power / 1000.0)
            out.satellites = satellites
            _binary_fix(out, r)
            outs.append(out)
        if not outs:
            raise DecodeError(DecodeReason.MALFORMED, "binary location report without location blocks")
        return outs

    @staticmethod
    def _compressed(r: ByteReader, outs: list[_Out]) -> None:
        count = r.uint(2)
        speed = heading = latitude = longitude = 0
        seconds = 0
        for _ in range(count):
            if seconds > 0:
                seconds += 1
            kind = r.peek() >> 6
            if kind == 1:
                bits = r.uint(3)
                speed = (bits >> 9) & 0xFFF
                heading = bits & 0x1FF
                longitude = r.sint(4)
                latitude = r.sint(4)
                if seconds == 0:
                    seconds = r.uint(4)
            elif kind == 2:
                bits = r.uint(5)
                speed += _signed((bits >> 30) & 0x7F, 7)
                heading += _signed((bits >> 23) & 0x7F, 7)
                longitude += _signed((bits >> 11) & 0xFFF, 12)
                latitude += _signed(bits & 0x7FF, 11)
            else:
                r.skip(1)  # invalid or unchanged point
                continue
            out = _Out("location", valid=True)
            out.speed = max(speed, 0) / 10.0
            out.course = float(heading % 360)
            out.place(datetime.fromtimestamp(seconds, UTC), latitude / 1_000_000, longitude / 1_000_000)
            outs.append(out)
        if not outs:
            raise DecodeError(DecodeReason.MALFORMED, "compressed report without a valid point")

    def _binary_event(self, r: ByteReader) -> _Out:
        event = r.u8()
        mask = r.uint(4)
        r.skip(2 + 1 + 2)  # length, device type, protocol version
        out = _Out("status")
        out.set("version_fw", r.uint(2))
        self._unique_id(r, mask)
        out.set("battery_level", r.u8())
        out.set("power_v", r.uint(2) / 1000.0)
        r.skip(1)  # motion status
        out.satellites = r.u8()
        out.set("event_type", event)
        extra = {6: 2, 45: 7, 46: 7, 15: 3, 17: 4, 21: 5, 26: 12, 31: 2, 35: 1, 33: 1, 23: 1, 34: 3}
        r.skip(extra.get(event, 0))
        if event == 6:
            out.alarms.append("low_battery")
        elif event == 23:
            out.alarms.append("accident")
        elif event in (45, 46):
            out.set("ignition", event == 45)
        r.skip(1)  # count
        _binary_fix(out, r)
        return out

    def _binary_info(self, r: ByteReader, *, mask_size: int, kind: str = "info") -> _Out:
        out = _Out(kind)
        out.set("event_type", r.u8())
        mask = r.uint(mask_size)
        r.skip(2 if mask_size == 2 else 1)  # length
        if mask_size == 1:  # +ACK: device type, protocol and firmware versions come first
            out.set("device_type", f"{r.u8():02X}")
            r.skip(2)
            out.set("version_fw", r.uint(2))
            self._unique_id(r, mask)
        else:
            self._unique_id(r, mask)
            out.set("device_type", f"{r.u8():02X}")
            r.skip(2)
            out.set("version_fw", r.uint(2))
        return out

    def _binary_records(self, raw: bytes) -> list[_Out]:
        r = ByteReader(raw, 4, len(raw) - 4)  # count number, check byte and tail end the frame
        if bit_set(r.u8(), 7):
            r.skip(2)  # frame count and number of a multi-packet report
        imei = r.take(8).hex()[1:]
        self._set_device_id(imei)
        r.skip(2 + 2 + 1)  # device type, protocol version, custom version
        r.skip(r.u8())  # reserved
        outs: list[_Out] = []
        while r.remaining > 0:
            start = r.pos
            end = start + _variable_length(r)
            if end <= start or end > r.limit:
                raise DecodeError(DecodeReason.MALFORMED, f"record length {end - start} at offset {start}")
            r.skip(4 + 2)  # generated time, record count number
            r.skip(1)  # record id
            event = r.u8()
            out = _Out("status")
            out.set("event_type", event)
            while r.pos < end:
                data_id = _variable_length(r)
                data_length = _variable_length(r)
                data_end = r.pos + data_length
                if data_end > end:
                    raise DecodeError(DecodeReason.MALFORMED, f"data item 0x{data_id:x} overruns its record")
                if data_id == 0x52:
                    item = ByteReader(raw, r.pos, data_end)
                    out.valid = (item.u8() >> 2) & 0x03 == 0b10
                    longitude = item.sint(4) / 1_000_000
                    latitude = item.sint(4) / 1_000_000
                    time_utc = datetime.fromtimestamp(item.uint(4), UTC)
                    out.speed = item.uint(2) / 10.0
                    out.hdop = item.u8() / 10.0
                    out.course = float(item.uint(2))
                    out.altitude = item.uint(3) / 10.0
                    out.satellites = item.u8()
                    out.place(time_utc, latitude, longitude)
                r.pos = data_end
            r.pos = end
            if out.fix is not None:
                outs.append(out)
        if not outs:
            raise DecodeError(DecodeReason.MALFORMED, "binary records without GNSS data")
        return outs


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _variable_length(r: ByteReader) -> int:
    value = r.u8()
    if value & 0x80:
        value = ((value & 0x7F) << 8) | r.u8()
    return value


def _binary_time(data: bytes) -> datetime | None:
    year = int.from_bytes(data[:2])
    try:
        return datetime(year, data[2], data[3], data[4], data[5], data[6], tzinfo=UTC)
    except ValueError:
        return None


def _binary_fix(out: _Out, r: ByteReader) -> None:
    hdop = r.u8()
    out.hdop = float(hdop)
    out.valid = hdop > 0
    out.speed = r.uint(2) + r.u8() / 10.0  # whole km/h, then tenths
    out.course = float(r.uint(2))
    out.altitude = float(r.sint(2))
    longitude = r.sint(4) / 1_000_000
    latitude = r.sint(4) / 1_000_000
    time_utc = _binary_time(r.take(7))
    if time_utc is None:
        raise DecodeError(DecodeReason.INVALID_TIME, "binary GPS time")
    mcc, mnc = f"{r.uint(2):04x}", f"{r.uint(2):04x}"  # decimal digits in hex nibbles
    lac, cid = r.uint(2), r.uint(2)
    if mcc.isdigit() and mnc.isdigit() and int(mcc):
        _cell(out, int(mcc), int(mnc), lac, cid)
    r.skip(1)  # reserved
    out.place(time_utc, latitude, longitude)


# -- frames -----------------------------------------------------------------------------------------------


def is_binary(frame: bytes | bytearray) -> bool:
    """Whether a frame (or the start of a buffer) is a binary @Track frame."""
    if len(frame) >= 2 and frame[0] == ord("+") and frame[1] == 0:
        return True
    header = bytes(frame[:4])
    if header == b"+ACK":
        return len(frame) > 4 and frame[4] != ord(":")
    return header in BINARY_LENGTH_FIELD


def binary_length(frame: bytes | bytearray) -> int | None:
    """The total size a binary frame declares, or None while too few bytes are there to tell."""
    if len(frame) >= 2 and frame[1] == 0:
        return int.from_bytes(frame[2:4]) if len(frame) >= 4 else None
    offset, size = BINARY_LENGTH_FIELD[bytes(frame[:4])]
    if len(frame) < offset + size:
        return None
    return int.from_bytes(frame[offset : offset + size])


def check_binary_frame(raw: bytes) -> None:
    """Length field and end of a binary frame (``bad_length``/``truncated``/``bad_stop_bytes``)."""
    declared = binary_length(raw)
    if declared is None:
        raise DecodeError(DecodeReason.TRUNCATED, f"{len(raw)} bytes, no length field yet")
    minimum = 8 if raw[1] == 0 else 11 + _BINARY_TRAILER - 4
    if declared < minimum:
        raise DecodeError(DecodeReason.BAD_LENGTH, f"length field {declared} below {minimum}")
    if len(raw) < declared:
        raise DecodeError(DecodeReason.TRUNCATED, f"length field {declared}, frame of {len(raw)} bytes")
    if len(raw) > declared:
        raise DecodeError(DecodeReason.BAD_LENGTH, f"length field {declared}, frame of {len(raw)} bytes")
    end = TEXT_END if raw[1] == 0 else BINARY_END
    if not raw.endswith(end):
        raise DecodeError(DecodeReason.BAD_STOP_BYTES, f"ends with {raw[-2:].hex()}")


class Gl200Framer(StepFramer):
    """Cuts Queclink frames out of a TCP stream: text frames up to ``$`` (or NUL), binary by length.

    A frame starts at ``+``: text frames with ``+RESP:``, ``+BUFF:`` or ``+ACK:``, binary frames with a
    known header (see :func:`is_binary`); a ``+`` that starts neither is garbage like any byte before a
    start.  A text fragment that another report start interrupts before its ``$`` is reported as
    ``garbage``; one longer than ``max_frame_size`` without ``$`` as ``frame_too_long``.  A binary
    frame whose length field is out of range is skipped (``bad_length``/``frame_too_long``), as is one
    whose span does not end in ``\r\n`` (``$`` for the record format: ``bad_stop_bytes``).  While the
    rest of a binary frame is awaited, a complete frame starting inside its span shows the header was
    garbage, so a stray ``+RSP`` in junk never holds up the frames behind it.
    """

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size=max(max_frame_size, 64))

    def _start_after(self, after: int, *, partial: bool = False) -> int:
        """Offset of the next report start after ``after``; with ``partial``, a cut-off head counts too."""
        buf = self._buffer
        at = buf.find(b"+", after)
        while at >= 0:
            head = bytes(buf[at : at + 6])
            if _is_start(head) or (partial and len(head) < 6 and _could_start(head)):
                return at
            at = buf.find(b"+", at + 1)
        return -1

    def _step(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        if not buf:
            return False
        start = self._start_after(0, partial=True)
        if start < 0:
            self._emit_skip(out, len(buf), "garbage", "no report start")
            return False
        if start > 0:
            self._emit_skip(out, start, "garbage", "bytes before a report start")
            return True
        if not _is_start(bytes(buf[:6])):
            return False  # the head of a start, cut off: wait for more
        return self._binary(out) if is_binary(buf) else self._text(out)

    def _complete_at(self, at: int) -> bool:
        """Whether a whole frame (text with its end, or binary with length and end) starts at ``at``."""
        buf = self._buffer
        if is_binary(buf[at : at + 6]):
            total = binary_length(buf[at:])
            if total is None or not 8 <= total <= min(self.max_frame_size, len(buf) - at):
                return False
            return bytes(buf[at : at + total]).endswith(TEXT_END if buf[at + 1] == 0 else BINARY_END)
        end = _text_end(buf, at)
        return end > 0 and end - at <= self.max_frame_size and self._start_after(at + 1) not in range(at + 1, end)

    def _binary(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        total = binary_length(buf)
        if total is None:
            return False
        if not 8 <= total <= self.max_frame_size:
            reason = "frame_too_long" if total > self.max_frame_size else "bad_length"
            following = self._start_after(1)
            self._emit_skip(out, following if following > 0 else len(buf), reason, f"length field gives {total}")
            return True
        if len(buf) < total:
            at = self._start_after(1)
            while 0 < at < len(buf):
                if self._complete_at(at):
                    self._emit_skip(out, at, "garbage", "binary header without a frame")
                    return True
                at = self._start_after(at + 1)
            return False
        end = TEXT_END if buf[1] == 0 else BINARY_END
        if not bytes(buf[:total]).endswith(end):
            following = self._start_after(1)
            skip = following if 0 < following < total else total
            self._emit_skip(out, skip, "bad_stop_bytes", f"no {end!r} where the length field ends the frame")
            return True
        out.append(bytes(buf[:total]))
        del buf[:total]
        return True

    def _text(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        end = _text_end(buf, 0)
        following = self._start_after(1)
        if following > 0 and (end < 0 or following < end):
            self._emit_skip(out, following, "garbage", "text report cut short by another report")
            return True
        if end > 0 and end <= self.max_frame_size:
            out.append(bytes(buf[:end]))
            del buf[:end]
            return True
        if end > 0 or len(buf) > self.max_frame_size:
            self._emit_skip(out, end if end > 0 else len(buf), "frame_too_long", f"no '$' within {self.max_frame_size}")
            return True
        return False


def _text_end(buf: bytearray, at: int) -> int:
    """Offset just after the ``$`` (or NUL) that ends the text frame at ``at``, or -1."""
    ends = [index for index in (buf.find(TEXT_END, at), buf.find(b"\x00", at + 2)) if index >= 0]
    return min(ends) + 1 if ends else -1


def _is_start(head: bytes) -> bool:
    """Whether ``head`` (6 bytes from a ``+``, fewer at the end of a frame) starts a report."""
    return head.startswith(TEXT_PREFIXES) or is_binary(head)


def _could_start(head: bytes) -> bool:
    """Whether a cut-off ``head`` can still grow into a report start."""
    candidates = (*TEXT_PREFIXES, *BINARY_LENGTH_FIELD)
    return (len(head) >= 2 and head[1] == 0) or any(c.startswith(head) for c in candidates)


# -- frame builders (simulator, tests) --------------------------------------------------------------------

#: The protocol version the simulated device sends (``06`` = GV300, firmware 01.00).
SIMULATED_PROTOCOL_VERSION: Final = "060100"
#: Alarm -> the report type a simulated device sends for it.
ALARM_REPORTS: Final[dict[str, str]] = {
    "sos": "SOS", "overspeed": "SPD", "tow": "TOW", "idle": "IDL", "power_cut": "MPF",
    "power_restored": "MPN", "low_battery": "BPL", "jamming": "JDR", "temperature": "TMP",
    "movement": "STT", "geofence": "SWG",
}  # fmt: skip


def _stamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("times must be UTC-aware")
    t = value.astimezone(UTC)
    if not 1000 <= t.year <= 9999:
        raise ValueError("year out of range")
    return t.strftime("%Y%m%d%H%M%S")


def _location_block(
    *, time_utc: datetime, latitude: float, longitude: float, speed_kmh: float, heading_deg: float,
    altitude_m: float, valid: bool, mcc: int, mnc: int, lac: int, cell_id: int,
) -> str:  # fmt: skip
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise ValueError("latitude/longitude out of range")
    if not 0 <= speed_kmh <= 999.9:
        raise ValueError("GL200 speed is 0-999.9 km/h")
    if not -99999.9 <= altitude_m <= 99999.9:
        raise ValueError("altitude out of range")
    return ",".join(
        [
            "1" if valid else "0",
            f"{speed_kmh:.1f}",
            str(round(heading_deg) % 360),
            f"{altitude_m:.1f}",
            f"{longitude:.6f}",
            f"{latitude:.6f}",
            _stamp(time_utc),
            f"{mcc:04d}",
            f"{mnc:04d}",
            f"{lac:04X}",
            f"{cell_id:04X}",
            "00",
        ]
    )


def encode_location(
    *,
    imei: str,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed_kmh: float,
    heading_deg: float,
    valid: bool,
    ignition: bool,
    count: int,
    send_time: datetime,
    altitude_m: float = 0.0,
    odometer_km: float = 0.0,
    power_v: float = 12.6,
    battery_level: int = 90,
    report: str = "FRI",
    buffered: bool = False,
    mcc: int = 0,
    mnc: int = 0,
    lac: int = 0,
    cell_id: int = 0,
) -> bytes:
    """A GV300-style ``+RESP:GTFRI`` (or, with ``report``, an alarm report such as ``GTSOS``) frame.

    HDOP is 1 for a valid fix and 0 otherwise.  Round trip: time to the second, lat/lon to 1e-6 degree,
    speed to 0.1 km/h, heading to whole degrees, ignition exactly (device status word).
    """
    validate_device_id(imei)
    if not 0 <= count <= 0xFFFF:
        raise ValueError("count number is 4 hex digits")
    block = _location_block(
        time_utc=time_utc, latitude=latitude, longitude=longitude, speed_kmh=speed_kmh, heading_deg=heading_deg,
        altitude_m=altitude_m, valid=valid, mcc=mcc, mnc=mnc, lac=lac, cell_id=cell_id,
    )  # fmt: skip
    head = "+BUFF" if buffered else "+RESP"
    if report == "FRI":
        status = f"{0x20 if ignition else 0x10:02X}0000"
        fields = [
            f"{head}:GTFRI", SIMULATED_PROTOCOL_VERSION, imei, "", str(round(power_v * 1000)), "10", "1", block,
            f"{odometer_km:.1f}", "", "", "", str(battery_level), status, "", "", "", _stamp(send_time),
            f"{count:04X}",
        ]  # fmt: skip
    else:
        fields = [f"{head}:GT{report}", SIMULATED_PROTOCOL_VERSION, imei, "", "0", "0", "1", block]
        fields += [f"{odometer_km:.1f}", _stamp(send_time), f"{count:04X}"]
    return (",".join(fields) + "$").encode("ascii")


def encode_heartbeat(*, imei: str, count: int, send_time: datetime) -> bytes:
    """``+ACK:GTHBD,<protocol version>,<IMEI>,,<send time>,<count>$`` (answered with ``+SACK:GTHBD``)."""
    validate_device_id(imei)
    return f"+ACK:GTHBD,{SIMULATED_PROTOCOL_VERSION},{imei},,{_stamp(send_time)},{count:04X}$".encode("ascii")


class Gl200Encoder(DeviceEncoder):
    """A simulated Queclink GV300: ``GTFRI`` reports (an alarm report type when the fix has an alarm) and
    ``GTHBD`` heartbeats, each with the next count number; no login.  The send time is the fix time."""

    protocol = PROTOCOL

    def __init__(self, device_id: str) -> None:
        super().__init__(device_id)
        self.count = 0
        self._last_time: datetime | None = None
        self.odometer_km = 0.0

    def _next_count(self) -> int:
        value = self.count
        self.count = (self.count + 1) % 0x10000
        return value

    def location(self, fix: FixToSend) -> bytes:
        report = "FRI"
        if fix.alarm is not None:
            if fix.alarm not in ALARM_REPORTS:
                raise ValueError(f"unknown alarm {fix.alarm!r}; known: {', '.join(sorted(ALARM_REPORTS))}")
            report = ALARM_REPORTS[fix.alarm]
        self._last_time = fix.time_utc
        if fix.odometer_km is not None:
            self.odometer_km = fix.odometer_km
        return encode_location(
            imei=self.device_id,
            time_utc=fix.time_utc,
            latitude=fix.latitude,
            longitude=fix.longitude,
            speed_kmh=min(fix.speed_kmh, 999.9),
            heading_deg=fix.heading_deg,
            valid=fix.valid,
            ignition=fix.ignition,
            altitude_m=fix.altitude_m,
            odometer_km=self.odometer_km,
            count=self._next_count(),
            send_time=fix.time_utc,
            report=report,
        )

    def heartbeat(self) -> bytes:
        send_time = self._last_time or datetime.now(UTC)
        self._last_time = send_time + timedelta(seconds=1)
        return encode_heartbeat(imei=self.device_id, count=self._next_count(), send_time=send_time)

    def awaits_response(self, kind: str) -> bool:
        return kind == "heartbeat"


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=5004,
    transports=("tcp", "udp"),
    decoder_factory=Gl200Decoder,
    framer_factory=Gl200Framer,
    encoder_factory=Gl200Encoder,
)

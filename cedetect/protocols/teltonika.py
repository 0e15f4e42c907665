"""Teltonika (FMB/FMC/FMM/FMU, FM-series, GH3000): AVL data over TCP and UDP, decoder, framer, frame builders.

Modelled on traccar's ``TeltonikaProtocolDecoder`` and ``TeltonikaFrameDecoder`` (codecs, IO element
layouts, model-specific IO tables), with the integrity checks traccar leaves out.

TCP
---
A connection opens with the IMEI handshake: ``00 0F`` (2-byte length) + 15 ASCII digits; the server
answers ``01``.  Then AVL packets: ``00 00 00 00`` (preamble), 4-byte data length, the data field
(codec, record count, records, record count) and a 4-byte CRC field holding CRC-16/ARC (polynomial
0xA001 reflected, initial value 0) of the data field; the server answers the record count as a 4-byte
integer.  A single ``FF`` byte is the keep-alive some firmware sends; it gets no answer.

:func:`parse_avl_frame` checks, in this order: size (``truncated``), preamble (``bad_start_bytes``),
CRC (``bad_checksum``), length field (``bad_length``), the record count after the records
(``malformed``).  The CRC is computed over the bytes between the length field and the CRC field, so a
frame whose length field lies fails as ``bad_checksum`` unless its CRC happens to cover the bytes it has.

UDP
---
One datagram: 2-byte length (of what follows), 2-byte packet id, packet type, AVL packet id, 2-byte
IMEI length + IMEI, then the codec data (codec, count, records, count) with no CRC.  The answer is
``00 05 <packet id> 01 <AVL packet id> <count>``.  :class:`TeltonikaDatagramDecoder` (the spec's
``datagram_decoder_factory``) decodes datagrams; each datagram names its device.

Codecs
------
* 0x08 (codec 8), 0x8E (codec 8 Extended) and 0x10 (codec 16): records of timestamp (ms since the
  epoch, UTC), priority, longitude, latitude (1e-7 degree, signed), altitude (m), angle, satellites,
  speed (km/h), the event IO id (attribute ``event``) and IO elements of 1, 2, 4 and 8 bytes (codec
  8E: 2-byte ids and counts and a section of variable-length elements; codec 16: 2-byte ids and a
  generation-type byte).  ``valid`` is "satellites > 0", as traccar has it.
* 0x07 (GH3000 personal trackers): seconds since 2007-01-01 UTC, a mask of the sections present,
  float coordinates and 1-byte ids with their own meanings (see ``_GH3000_IO``).  A GH3000 record
  without a location section has no position (kind ``status``, its time as ``device_time``).
* 0x0C (codec 12, GPRS commands and replies) and 0x0D (codec 13, replies with a timestamp): kind
  ``command_reply`` without a position; printable text in ``result`` (hex otherwise), truck axle
  weights of ``UUUUww...SSS`` replies as ``axle1`` ... ``total_trailer``, and the driver id of a
  ``GTSL|...`` tachograph reply as ``driver_id``.  Codec 12 camera packets (type 0x0D) are reported
  as kind ``photo`` (announcement or chunk bookkeeping); photos are not requested or reassembled.
  Codec 12/13 packets get no answer.

Each AVL record is one message (kind ``alarm`` when it carries an alarm, else ``location``); the
acknowledgement rides on the first message of the frame.  ``extended`` (traccar's
``teltonika.extended``) says whether records carry a section of 16-byte IO elements after the 8-byte
one: ``True``/``False`` force it; ``None`` (the default) tries without and falls back to with when the
records do not fill the data field exactly.

``model`` (traccar's per-device model) selects the IO table.  FMB-family models (``FMB001`` ...
``FMC920``, see ``_FMB_MODELS``) and an unknown model (``None``) use the full FMB table; any other
model gets only the ids every Teltonika family shares (traccar applies its FMB table only when the
model is set; here it is the default because FMB-family devices are what the trucks carry).  A named
id is read only when the record gives it the width the FMB documentation gives it (IO 113, battery
level, is 1 byte); in another width it belongs to another device family and stays ``io<id>``.
``FM.6..`` models (FMB640, FMC650, ...) also read a 16-character driver id from IO 195/196.
(traccar's TAT100 neighbour-cell lists are not decoded: their ids stay ``io<id>``.)

Where this decoder parts from traccar
-------------------------------------
* CRC, length field and record counts are checked; truncated records raise ``truncated``, and
  records that leave bytes over in the data field raise ``malformed``.
* Codec 12/13 replies and GH3000 records without a location have no position (traccar fills them
  with the last known location).
* Every well-formed IMEI gets ``01`` (traccar answers ``00`` to a device it does not know).
* The UDP answer echoes the datagram's packet id (Teltonika's specification); traccar sends 0.
* An angle of 360 or more is reduced modulo 360.
* Codec 13 replies whose 4-byte timestamp reads before 2000 while 8 bytes are there carry a 64-bit
  millisecond timestamp (seen from FMB firmware; traccar then returns the bytes as hex).
* IO values are read with the width the record gives them (traccar reads some with a fixed width),
  and the FMB table applies to records of an unknown model too (see above).
* Dallas temperature values 2000/3000/4000/5000 (0.1 degC) are the sensor's error states, reported
  as ``temp<n>_error`` (``read_error``, ``not_connected``, ``id_failed``, ``same_id``) instead of
  200-500 degC; a zero ICCID (IO 11) is left out.

Attributes
----------
Common names (see :mod:`cedetect.protocols.attributes`): ``event`` (the record's event IO id),
``ignition`` (IO 239), ``motion`` (240), ``power_v`` (66, mV -> V), ``battery_v`` (67, mV -> V),
``odometer_km`` (16, m -> km), ``trip_odometer_km`` (199, m -> km), ``rssi`` (21, 0-5), ``input``
(bit n-1 = DIN n of IO 1-4 the record reports), ``output`` (bit 0/1 = DOUT1/2, IO 179/180),
``driver_id`` (78 iButton, hex of the little-endian 8 bytes), ``temp1_c`` ... ``temp4_c`` (72-75,
0.1 degC; ``temp1_error`` ... when the sensor reports an error state), ``door`` (662),
``battery_level`` (113; GH3000 IO 1), ``fuel_level`` (84, litres),
``iccid`` (11), ``lac`` ``cell_id`` (206, 205/636) and ``mcc`` ``mnc`` (from the operator code, 241),
and ``alarm``: ``general`` (236), ``tow`` (246), ``accident`` (247 crash), ``jamming`` (249 GSM, 318
GNSS), ``idle`` (251), ``power_cut`` (252 unplug), ``hard_acceleration``/``hard_braking``/
``hard_cornering`` (253 green driving 1/2/3), ``sos`` (GH3000 IO 222).  HDOP (182) goes to
``Position.hdop``, satellites to ``Position.satellites``, IO 24 (FMB speed) to ``Position.speed_kmh``.

Protocol-specific names:

=================================  ================================================================
``priority``                       int, record priority (0 low, 1 high, 2 panic)
``pdop`` ``vdop``                  float, dilution of precision (181; GH3000 21/22)
``operator``                       int, GSM operator code (MCC and MNC digits)
``gnss_status``                    int, IO 69 (0 off, 1 fix, 2 no fix, 3 sleep)
``gnss_jamming``                   int, IO 318 (0 none, 1 warning, 2 critical)
``adc1_v`` ``adc2_v``              float, analogue inputs (9, 10)
``axis_x`` ``axis_y`` ``axis_z``   int, accelerometer (17-19, mG)
``ble_temp1_c`` ... ``ble_temp4_c`` float, BLE sensor temperatures (25-28, 0.01 degC)
``eye_temp1_c`` ... ``eye_temp4_c`` float, EYE sensor temperatures (10800-10803, 0.01 degC)
``eye_humidity1_pct`` ...          int, EYE sensor humidity (10804-10807)
``fuel_used_l``                    float, fuel used (12, 0.001 l; 83, 0.1 l)
``fuel_consumption``               float, fuel rate (13, 0.01; 110, 0.1)
``fuel_level_pct``                 int, fuel level (89)
``fault_count``                    int, OBD fault codes (30)
``coolant_temp_c``                 int, OBD coolant temperature (32)
``engine_temp_c``                  float, engine temperature (115, 0.1 degC)
``battery_current_a``              float, battery current (68)
``data_mode`` ``sleep_mode``       int, IO 80 / 200
``obd_speed_kmh``                  int, OBD speed (81)
``throttle_pct``                   int, throttle position (82)
``rpm``                            int, engine speed (85)
``obd_odometer_km``                float, OBD odometer (87)
``cng_status`` ``cng_used``        bool / float, CNG (232, 233); ``cng_level`` int (234)
``oil_level``                      int, IO 235
``vin`` ``dtcs``                   str, VIN (256) and trouble codes (281) of codec 8E
``beacon1_uuid`` ...               iBeacon/Eddystone data of codec 8E IO 385 (``_major``, ``_minor``,
                                   ``_namespace``, ``_instance``, ``_rssi``, ``_battery_v``, ``_temp``)
``tag1_id`` ...                    BLE tag data of codec 8E IO 548/10829/10831 (``_rssi``,
                                   ``_low_battery``, ``_voltage_v``, ``_battery_v``)
``io<id>``                         any other IO element: int (1-4 bytes unsigned, 8 bytes signed)
                                   or hex (16-byte and variable-length elements)
``message_type``                   int, codec 12 packet type
``result``                         str, command reply text (hex when not printable)
``device_time``                    str, ISO time of a codec 13 reply or a GH3000 record without fix
``axle1`` ... ``axle8``            float, axle loads of an ``UUUUww`` reply, with ``load_truck``,
                                   ``load_trailer``, ``total_truck``, ``total_trailer``
``photo_id`` ``photo_size_bytes``  int, codec 12 camera announcement; ``chunk_offset``,
                                   ``chunk_length`` for a photo chunk, ``photo_subtype`` otherwise
``temp1_error`` ...                str, Dallas sensor error state (see above)
``usb_connected`` ``roaming``      bool, GH3000 IO 2 / 244
``uptime_s`` ``button``            int, GH3000 IO 5 / 221
=================================  ================================================================
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum, auto
from typing import Any, ClassVar, Final

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
    assemble_position,
    future_tolerance,
    make_position,
    position_flags,
)
from cedetect.protocols.common import iso_utc
from cedetect.protocols.reader import ByteReader

PROTOCOL: Final = "teltonika"

CODEC_GH3000: Final = 0x07
CODEC_8: Final = 0x08
CODEC_8_EXT: Final = 0x8E
CODEC_12: Final = 0x0C
CODEC_13: Final = 0x0D
CODEC_16: Final = 0x10

AVL_CODECS: Final = frozenset({CODEC_GH3000, CODEC_8, CODEC_8_EXT, CODEC_16})
COMMAND_CODECS: Final = frozenset({CODEC_12, CODEC_13})
KNOWN_CODECS: Final = AVL_CODECS | COMMAND_CODECS

#: preamble (4) + data length (4) + CRC field (4)
AVL_OVERHEAD: Final = 12
#: codec + count + count: the smallest data field
MIN_DATA_LENGTH: Final = 3
PING: Final = b"\xff"
LOGIN_ACCEPTED: Final = b"\x01"
#: The longest TCP frame the framer accepts by default (FMB packets stay below 1.3 KiB, photo chunks ~2 KiB).
DEFAULT_MAX_FRAME_SIZE: Final = 16384
#: IMEI lengths the framer takes for a handshake (the decoder accepts any valid device id).
IMEI_LENGTHS: Final = range(8, 21)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_GH3000_EPOCH_S: Final = 1_167_609_600  # 2007-01-01 00:00:00 UTC
_Y2000_S: Final = 946_684_800

#: traccar's FMB-family model list; an unknown model (None) is treated as one of them.
_FMB_MODELS: Final = frozenset(
    {
        "FMB001", "FMB010", "FMB002", "FMB020", "FMB003", "FMB110", "FMB120", "FMB122", "FMB125", "FMB130",
        "FMB140", "FMU125", "FMB900", "FMB920", "FMB962", "FMB964", "FM3001", "FMB202", "FMB204", "FMB206",
        "FMT100", "MTB100", "FMP100", "MSP500", "FMC125", "FMM125", "FMU130", "FMC130", "FMM130", "FMB150",
        "FMC150", "FMM150", "FMC920",
    }
)  # fmt: skip
_FM6_MODEL: Final = re.compile(r"^FM.6..$")


# -- CRC-16/ARC ---------------------------------------------------------------------------------


def _arc_table() -> tuple[int, ...]:
    table: list[int] = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_ARC_TABLE: Final = _arc_table()


def crc16_arc_reference(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/ARC (IBM) by table, byte by byte in Python: the reference :func:`crc16_arc` must equal."""
    crc = 0
    table = _ARC_TABLE
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def _arc_kernel(data: bytes, table: Any) -> int:  # pragma: no cover - compiled by numba, see _ArcKernel
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return int(crc)


#: The CRC table as the numpy array :func:`_avl_check_kernel` reads (set by :meth:`_ArcKernel.load` before it
#: compiles the kernel, which freezes it as a constant: one argument less to dispatch on each call).
_ARC_NUMPY: Any = None


def _avl_check_kernel(raw: bytes) -> int:  # pragma: no cover - compiled by numba, see _ArcKernel
    """The record count of ``raw`` where it is a codec 8 or 8E TCP AVL packet that passes the frame checks
    (size, zero preamble, length field, a record count that is not zero and repeated after the records,
    and CRC-16/ARC of the data field in the CRC field), else 0: what :meth:`TeltonikaDecoder._decode_fast`
    checks in Python where numba is missing, in one call."""
    n = len(raw)
    if n < 15 or raw[0] | raw[1] | raw[2] | raw[3]:
        return 0
    if ((raw[4] << 24) | (raw[5] << 16) | (raw[6] << 8) | raw[7]) != n - 12:
        return 0
    codec = raw[8]
    count = raw[9]
    if (codec != 0x8E and codec != 0x08) or count == 0 or raw[n - 5] != count:
        return 0
    table = _ARC_NUMPY
    crc = 0
    for i in range(8, n - 4):
        crc = (crc >> 8) ^ table[(crc ^ raw[i]) & 0xFF]
    if crc != ((raw[n - 4] << 24) | (raw[n - 3] << 16) | (raw[n - 2] << 8) | raw[n - 1]):
        return 0
    return int(count)


class _ArcKernel:
    """:func:`_arc_kernel` compiled by numba (cached on disk by numba), or None where numba is missing or
    fails; :func:`crc16_arc` then runs the Python table loop.  A kernel call costs ~0.4 us for a short
    packet, against ~60 ns per byte for the Python loop; loading it costs about a second (importing
    numba, compiling or reading its cache), so it is loaded by :func:`prepare_crc16_arc` or after
    ``LOAD_AFTER`` packets in a process, never for a short-lived one (a CLI call, a test)."""

    LOAD_AFTER: ClassVar[int] = 1000
    kernel: ClassVar[Callable[[bytes, Any], int] | None] = None
    #: :func:`_avl_check_kernel` compiled, loaded with ``kernel``.
    packet_check: ClassVar[Callable[[bytes], int] | None] = None
    table: ClassVar[Any] = None
    loaded: ClassVar[bool] = False
    calls: ClassVar[int] = 0

    @classmethod
    def load(cls) -> Callable[[bytes, Any], int] | None:
        if cls.loaded:
            return cls.kernel
        cls.loaded = True
        try:
            import numba  # heavy: imported only when the kernel is wanted
            import numpy as np

            table = np.array(_ARC_TABLE, dtype=np.uint32)
            kernel = numba.njit(cache=True, nogil=True)(_arc_kernel)
            for probe in (b"", b"123456789", bytes(range(256))):
                if kernel(probe, table) != crc16_arc_reference(probe):
                    return None
            global _ARC_NUMPY
            _ARC_NUMPY = table
            packet_check = numba.njit(cache=True, nogil=True)(_avl_check_kernel)
            for probe in (b"\x08\x01\x01", bytes([CODEC_8_EXT, 2, *range(256), 2])):
                packet = bytes(4) + len(probe).to_bytes(4) + probe + crc16_arc_reference(probe).to_bytes(4)
                if packet_check(packet) != probe[1] or packet_check(packet[:-1] + bytes([packet[-1] ^ 1])):
                    return None
        except Exception:  # numba missing or unable to compile: the Python loop serves
            return None
        cls.kernel, cls.table, cls.packet_check = kernel, table, packet_check
        return kernel


def prepare_crc16_arc() -> bool:
    """Load the compiled CRC-16/ARC kernel now (a long-running decoder's start-up); whether it is in use."""
    return _ArcKernel.load() is not None


def crc16_arc(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/ARC (IBM): polynomial 0x8005 reflected, initial value 0, no final XOR; check value 0xBB3D."""
    kernel = _ArcKernel.kernel
    if kernel is None:
        if _ArcKernel.loaded or _ArcKernel.calls < _ArcKernel.LOAD_AFTER:
            _ArcKernel.calls += 1
            return crc16_arc_reference(data)
        kernel = _ArcKernel.load()
        if kernel is None:
            return crc16_arc_reference(data)
    result: int = kernel(bytes(data), _ArcKernel.table)
    return result


# -- frame checks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AvlFrame:
    """A TCP AVL packet that passed the integrity checks."""

    codec: int
    count: int
    data: bytes  # the data field: codec, count, records, count
    raw: bytes

    @property
    def records(self) -> bytes:
        return self.data[2:-1]


def parse_avl_frame(frame: bytes) -> AvlFrame:
    """Check size, preamble, CRC-16/ARC, length field and record counts of a TCP AVL packet."""
    raw = bytes(frame)
    if len(raw) < AVL_OVERHEAD + MIN_DATA_LENGTH:
        raise DecodeError(DecodeReason.TRUNCATED, f"{len(raw)} bytes, an AVL packet has at least 15", raw=raw)
    if raw[:4] != b"\x00\x00\x00\x00":
        raise DecodeError(DecodeReason.BAD_START_BYTES, f"preamble {raw[:4].hex()}", raw=raw)
    data = raw[8:-4]
    received_crc = int.from_bytes(raw[-4:])
    computed_crc = crc16_arc(data)
    if received_crc != computed_crc:
        raise DecodeError(
            DecodeReason.BAD_CHECKSUM, f"CRC-16/ARC {received_crc:08x}, computed {computed_crc:04x}", raw=raw
        )
    length = int.from_bytes(raw[4:8])
    if length != len(data):
        raise DecodeError(DecodeReason.BAD_LENGTH, f"length field {length}, data field of {len(data)}", raw=raw)
    codec, count = data[0], data[1]
    if data[-1] != count:
        raise DecodeError(DecodeReason.MALFORMED, f"record count {count} at the start, {data[-1]} at the end", raw=raw)
    return AvlFrame(codec=codec, count=count, data=data, raw=raw)


@dataclass(frozen=True)
class UdpPacket:
    """A UDP datagram split into its header and codec data."""

    packet_id: int
    packet_type: int
    avl_packet_id: int
    imei: str
    codec: int
    count: int
    data: bytes  # codec, count, records, count
    raw: bytes

    @property
    def records(self) -> bytes:
        return self.data[2:-1]


def parse_udp_packet(datagram: bytes) -> UdpPacket:
    """Check and split a UDP datagram: length, header, IMEI and record counts."""
    raw = bytes(datagram)
    if len(raw) < 8:
        raise DecodeError(DecodeReason.TRUNCATED, f"{len(raw)} bytes, a datagram header has 8", raw=raw)
    length = int.from_bytes(raw[:2])
    if length > len(raw) - 2:
        raise DecodeError(DecodeReason.TRUNCATED, f"length field {length}, {len(raw) - 2} bytes follow", raw=raw)
    if length < len(raw) - 2:
        raise DecodeError(DecodeReason.BAD_LENGTH, f"length field {length}, {len(raw) - 2} bytes follow", raw=raw)
    imei_length = int.from_bytes(raw[6:8])
    data = raw[8 + imei_length :]
    if len(raw) < 8 + imei_length or len(data) < MIN_DATA_LENGTH:
        raise DecodeError(DecodeReason.TRUNCATED, "datagram ends inside the IMEI or before the records", raw=raw)
    imei_bytes = raw[8 : 8 + imei_length]
    if not imei_bytes.isascii():
        raise DecodeError(DecodeReason.INVALID_DEVICE_ID, f"IMEI bytes {imei_bytes.hex()}", raw=raw)
    codec, count = data[0], data[1]
    if data[-1] != count:
        raise DecodeError(DecodeReason.MALFORMED, f"record count {count} at the start, {data[-1]} at the end", raw=raw)
    return UdpPacket(
        packet_id=int.from_bytes(raw[2:4]),
        packet_type=raw[4],
        avl_packet_id=raw[5],
        imei=imei_bytes.decode("ascii"),
        codec=codec,
        count=count,
        data=data,
        raw=raw,
    )


# -- reading ------------------------------------------------------------------------------------


def _unsigned(raw: bytes) -> int:
    return int.from_bytes(raw)


def _signed(raw: bytes) -> int:
    return int.from_bytes(raw, signed=True)


def _default_value(raw: bytes) -> int:
    """traccar's reading of an unnamed IO element: unsigned up to 4 bytes, a signed long for 8."""
    return _signed(raw) if len(raw) == 8 else _unsigned(raw)


def _printable(data: bytes) -> bool:
    """traccar's test: no control characters except CR/LF, and 7-bit only."""
    return all(0x20 <= b < 0x80 or b in (0x0A, 0x0D) for b in data)


def _time_from_ms(ms: int) -> datetime:
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError as exc:
        raise DecodeError(DecodeReason.INVALID_TIME, f"timestamp {ms} ms") from exc


# -- one record ----------------------------------------------------------------------------------


@dataclass
class _Record:
    """What one AVL record decodes to."""

    time_utc: datetime
    has_fix: bool = True
    latitude: float = 0.0
    longitude: float = 0.0
    altitude_m: float | None = None
    heading_deg: float = 0.0
    speed_kmh: float = 0.0
    satellites: int | None = None
    valid: bool = True
    hdop: float | None = None
    attrs: dict[str, AttributeValue] = field(default_factory=dict)
    alarms: list[str] = field(default_factory=list)
    inputs: dict[int, bool] = field(default_factory=dict)
    outputs: dict[int, bool] = field(default_factory=dict)
    cell_id: int | None = None
    lac: int | None = None

    def alarm(self, name: str) -> None:
        if name not in self.alarms:
            self.alarms.append(name)

    def finish(self, model: str | None) -> None:
        """Fold the collected pieces into attributes."""
        a = self.attrs
        if self.inputs:
            a["input"] = sum(1 << (n - 1) for n, on in self.inputs.items() if on)
        if self.outputs:
            a["output"] = sum(1 << (n - 1) for n, on in self.outputs.items() if on)
        if self.lac is not None:
            a["lac"] = self.lac
        if self.cell_id is not None:
            a["cell_id"] = self.cell_id
        operator = a.get("operator")
        if isinstance(operator, int) and not isinstance(operator, bool) and operator >= 10_000:
            digits = str(operator)
            a["mcc"], a["mnc"] = int(digits[:3]), int(digits[3:])
        if model is not None and _FM6_MODEL.match(model):
            msb, lsb = a.get("io195"), a.get("io196")
            if isinstance(msb, int) and isinstance(lsb, int):
                text = (msb & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8) + (lsb & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8)
                driver = text.decode("latin-1").strip("\x00 ")
                if driver:
                    a["driver_id"] = driver
        if self.alarms:
            a["alarm"] = join_alarms(*self.alarms)


IoHandler = Callable[[_Record, bytes], None]


#: The handlers made by :func:`_set`, with the attribute each one sets and its conversion: the fast reader
#: sets the attribute itself (one call instead of three for an ``int.from_bytes`` value).
_SETTERS: dict[IoHandler, tuple[str, Callable[[bytes], AttributeValue]]] = {}


def _set(name: str, convert: Callable[[bytes], AttributeValue]) -> IoHandler:
    def handler(record: _Record, raw: bytes) -> None:
        record.attrs[name] = convert(raw)

    # _identity(raw) is _unsigned(raw) is int.from_bytes(raw): the same value without two calls
    _SETTERS[handler] = (name, int.from_bytes if convert is _identity or convert is _unsigned else convert)
    return handler


def _flag(raw: bytes) -> bool:
    return _unsigned(raw) > 0


#: How the layout plans (see :class:`_Layout`) apply a converter to the integer ``struct`` read: the value
#: as it is, ``value > 0``, ``round(value * factor, 6)``, ``value / factor``.
_OP_COPY: Final = 0
_OP_FLAG: Final = 1
_OP_SCALE: Final = 2
_OP_DIVIDE: Final = 3
#: ... and the alarm elements: the alarm ``name`` when the value is not zero; green driving's alarm by value.
_OP_ALARM: Final = 4
_OP_GREEN_DRIVING: Final = 5

#: The converters a layout plan can apply to the integer instead of the bytes: converter -> (read signed,
#: operation, factor); each gives what the converter gives on the bytes of that integer.
_NUMERIC: dict[Callable[[bytes], AttributeValue], tuple[bool, int, float]] = {}


def _scaled(factor: float, *, signed: bool = False) -> Callable[[bytes], float]:
    def convert(raw: bytes) -> float:
        return round((_signed(raw) if signed else _unsigned(raw)) * factor, 6)

    _NUMERIC[convert] = (signed, _OP_SCALE, factor)
    return convert


def _input(number: int) -> IoHandler:
    def handler(record: _Record, raw: bytes) -> None:
        record.inputs[number] = _flag(raw)

    return handler


def _output(number: int) -> IoHandler:
    def handler(record: _Record, raw: bytes) -> None:
        record.outputs[number] = _flag(raw)

    return handler


def _alarm_if_set(name: str) -> IoHandler:
    def handler(record: _Record, raw: bytes) -> None:
        if _flag(raw):
            record.alarm(name)

    _ALARM_HANDLERS[handler] = name
    return handler


#: The handlers made by :func:`_alarm_if_set`, with their alarm (a layout plan applies them to the integer).
_ALARM_HANDLERS: dict[IoHandler, str] = {}


_GREEN_DRIVING: Final[dict[int, str]] = {1: "hard_acceleration", 2: "hard_braking", 3: "hard_cornering"}


def _green_driving(record: _Record, raw: bytes) -> None:
    name = _GREEN_DRIVING.get(_unsigned(raw))
    if name is not None:
        record.alarm(name)


def _driver_ibutton(record: _Record, raw: bytes) -> None:
    value = int.from_bytes(raw, "little")
    if value:
        record.attrs["driver_id"] = f"{value:016X}"


def _hdop(record: _Record, raw: bytes) -> None:
    record.hdop = round(_unsigned(raw) * 0.1, 6)


def _speed(record: _Record, raw: bytes) -> None:
    record.speed_kmh = float(_unsigned(raw))


def _cell_id(record: _Record, raw: bytes) -> None:
    record.cell_id = _unsigned(raw)


def _lac(record: _Record, raw: bytes) -> None:
    record.lac = _unsigned(raw)


def _gnss_jamming(record: _Record, raw: bytes) -> None:
    state = _unsigned(raw)
    record.attrs["gnss_jamming"] = state
    if state > 0:
        record.alarm("jamming")


def _metres_to_km(raw: bytes) -> float:
    return _unsigned(raw) / 1000.0


def _identity(raw: bytes) -> int:
    return _unsigned(raw)


_NUMERIC.update(
    {
        int.from_bytes: (False, _OP_COPY, 1.0),
        _identity: (False, _OP_COPY, 1.0),
        _unsigned: (False, _OP_COPY, 1.0),
        _signed: (True, _OP_COPY, 1.0),
        _flag: (False, _OP_FLAG, 1.0),
        _metres_to_km: (False, _OP_DIVIDE, 1000.0),
    }
)


#: Raw values of a Dallas temperature IO (72-75) that are sensor states, not temperatures.
DALLAS_ERRORS: Final[dict[int, str]] = {2000: "read_error", 3000: "not_connected", 4000: "id_failed", 5000: "same_id"}


def _dallas(number: int) -> IoHandler:
    def handler(record: _Record, raw: bytes) -> None:
        value = _signed(raw)
        if value in DALLAS_ERRORS:
            record.attrs[f"temp{number}_error"] = DALLAS_ERRORS[value]
        else:
            record.attrs[f"temp{number}_c"] = round(value * 0.1, 6)

    return handler


def _iccid(record: _Record, raw: bytes) -> None:
    value = _signed(raw)
    if value:
        record.attrs["iccid"] = str(value)


@dataclass(frozen=True, slots=True)
class _Io:
    """How to read one IO id: the width its devices give it (another width: kept as ``io<id>``).

    ``name`` and ``convert`` are set where the handler only sets ``attrs[name] = convert(raw)``."""

    size: int
    handler: IoHandler
    name: str | None = None
    convert: Callable[[bytes], AttributeValue] | None = None


def _io(size: int, handler: IoHandler) -> _Io:
    setter = _SETTERS.get(handler)
    return _Io(size, handler) if setter is None else _Io(size, handler, *setter)


def _ios(size: int, handlers: dict[int, IoHandler]) -> dict[int, _Io]:
    return {ident: _io(size, handler) for ident, handler in handlers.items()}


#: IO ids with the same meaning on every Teltonika family (codecs 8, 8E, 16).
_COMMON_IO: Final[dict[int, _Io]] = {
    **_ios(
        1,
        {
            1: _input(1),
            2: _input(2),
            3: _input(3),
            4: _input(4),
            21: _set("rssi", _identity),
            179: _output(1),
            180: _output(2),
            236: _alarm_if_set("general"),
            239: _set("ignition", _flag),
            240: _set("motion", _flag),
            253: _green_driving,
        },
    ),
    **_ios(
        2,
        {
            17: _set("axis_x", _signed),
            18: _set("axis_y", _signed),
            19: _set("axis_z", _signed),
            25: _set("ble_temp1_c", _scaled(0.01, signed=True)),
            26: _set("ble_temp2_c", _scaled(0.01, signed=True)),
            27: _set("ble_temp3_c", _scaled(0.01, signed=True)),
            28: _set("ble_temp4_c", _scaled(0.01, signed=True)),
            66: _set("power_v", _scaled(0.001)),
            67: _set("battery_v", _scaled(0.001)),
            181: _set("pdop", _scaled(0.1)),
            182: _hdop,
        },
    ),
    **_ios(
        4,
        {
            16: _set("odometer_km", _metres_to_km),
            199: _set("trip_odometer_km", _metres_to_km),
            241: _set("operator", _identity),
        },
    ),
    78: _Io(8, _driver_ibutton),
}

#: IO ids of the FMB family (FMB/FMC/FMM/FMU/FMT ...), on top of the common ones.
_FMB_IO: Final[dict[int, _Io]] = {
    **_ios(
        1,
        {
            30: _set("fault_count", _identity),
            32: _set("coolant_temp_c", _signed),
            69: _set("gnss_status", _identity),
            80: _set("data_mode", _identity),
            81: _set("obd_speed_kmh", _identity),
            82: _set("throttle_pct", _identity),
            89: _set("fuel_level_pct", _identity),
            113: _set("battery_level", _identity),
            200: _set("sleep_mode", _identity),
            232: _set("cng_status", _flag),
            235: _set("oil_level", _identity),
            246: _alarm_if_set("tow"),
            247: _alarm_if_set("accident"),
            249: _alarm_if_set("jamming"),
            251: _alarm_if_set("idle"),
            252: _alarm_if_set("power_cut"),
            318: _gnss_jamming,
            662: _set("door", _flag),
            **{10804 + n: _set(f"eye_humidity{n + 1}_pct", _identity) for n in range(4)},
        },
    ),
    **_ios(
        2,
        {
            9: _set("adc1_v", _scaled(0.001)),
            10: _set("adc2_v", _scaled(0.001)),
            13: _set("fuel_consumption", _scaled(0.01)),
            24: _speed,
            68: _set("battery_current_a", _scaled(0.001)),
            84: _set("fuel_level", _scaled(0.1)),
            85: _set("rpm", _identity),
            110: _set("fuel_consumption", _scaled(0.1)),
            115: _set("engine_temp_c", _scaled(0.1, signed=True)),
            205: _cell_id,
            206: _lac,
            234: _set("cng_level", _identity),
            **{10800 + n: _set(f"eye_temp{n + 1}_c", _scaled(0.01, signed=True)) for n in range(4)},
        },
    ),
    **_ios(
        4,
        {
            12: _set("fuel_used_l", _scaled(0.001)),
            72: _dallas(1),
            73: _dallas(2),
            74: _dallas(3),
            75: _dallas(4),
            83: _set("fuel_used_l", _scaled(0.1)),
            87: _set("obd_odometer_km", _metres_to_km),
            233: _set("cng_used", _scaled(0.1)),
            636: _cell_id,
        },
    ),
    11: _Io(8, _iccid),
}

#: GH3000 (codec 7) ids, read with whatever width the record gives them.
_GH3000_IO: Final[dict[int, IoHandler]] = {
    1: _set("battery_level", _identity),
    2: _set("usb_connected", lambda raw: _unsigned(raw) == 1),
    5: _set("uptime_s", _identity),
    20: _hdop,
    21: _set("vdop", _scaled(0.1)),
    22: _set("pdop", _scaled(0.1)),
    67: _set("battery_v", _scaled(0.001)),
    221: _set("button", _identity),
    222: lambda record, raw: record.alarm("sos") if _unsigned(raw) == 1 else None,
    240: _set("motion", lambda raw: _unsigned(raw) == 1),
    244: _set("roaming", lambda raw: _unsigned(raw) == 1),
}

_FMB_TABLE: Final[dict[int, _Io]] = {**_COMMON_IO, **_FMB_IO}

#: Codec 8E variable-length elements holding BLE tag lists.
_TAG_LIST_IDS: Final = frozenset({548, 10829, 10831})


def is_fmb_model(model: str | None) -> bool:
    """Whether ``model`` gets the FMB IO table (None: an unknown model is taken for an FMB device)."""
    return model is None or model in _FMB_MODELS


def _apply_io(record: _Record, table: dict[int, _Io], io_id: int, raw: bytes) -> None:
    io = table.get(io_id)
    if io is None or io.size != len(raw):
        record.attrs[f"io{io_id}"] = _default_value(raw)
    else:
        io.handler(record, raw)


def _apply_gh3000_io(record: _Record, io_id: int, raw: bytes) -> None:
    handler = _GH3000_IO.get(io_id)
    if handler is None:
        record.attrs[f"io{io_id}"] = _default_value(raw)
    else:
        handler(record, raw)


def _decode_beacons(record: _Record, data: bytes) -> None:
    """Codec 8E IO 385: iBeacon/Eddystone list."""
    r = ByteReader(data)
    r.u8()  # data part
    index = 1
    a = record.attrs
    while r.remaining:
        flags = r.u8()
        prefix = f"beacon{index}"
        if flags >> 4:
            a[f"{prefix}_uuid"] = r.take(16).hex()
            a[f"{prefix}_major"] = r.u16()
            a[f"{prefix}_minor"] = r.u16()
        else:
            a[f"{prefix}_namespace"] = r.take(10).hex()
            a[f"{prefix}_instance"] = r.take(6).hex()
        a[f"{prefix}_rssi"] = r.sint(1)
        if flags & 0x02:
            a[f"{prefix}_battery_v"] = round(r.u16() * 0.01, 6)
        if flags & 0x04:
            a[f"{prefix}_temp"] = r.u16()
        index += 1


def _decode_tags(record: _Record, data: bytes) -> None:
    """Codec 8E IO 548/10829/10831: BLE tags, each a list of (parameter id, length, value)."""
    r = ByteReader(data)
    r.u8()  # header
    index = 1
    a = record.attrs
    while r.remaining:
        tag = ByteReader(r.take(r.u8()))
        prefix = f"tag{index}"
        while tag.remaining:
            parameter = tag.u8()
            value = tag.take(tag.u8())
            if parameter == 0 and value:
                a[f"{prefix}_rssi"] = _signed(value[:1])
            elif parameter == 1:
                a[f"{prefix}_id"] = value.hex()
            elif parameter == 2 and value:
                flags = value[0]
                if flags & 0x40:
                    a[f"{prefix}_low_battery"] = True
                if flags & 0x80 and len(value) > 1:
                    a[f"{prefix}_voltage_v"] = (value[1] * 10 + 2000) / 1000.0
            elif parameter == 13 and value:
                a[f"{prefix}_low_battery"] = value[0] > 0
            elif parameter == 14 and len(value) >= 2:
                a[f"{prefix}_battery_v"] = _unsigned(value[:2]) / 1000.0
        index += 1


def _decode_variable(record: _Record, io_id: int, data: bytes) -> None:
    if io_id == 256:
        record.attrs["vin"] = data.decode("ascii", errors="replace")
    elif io_id == 281:
        record.attrs["dtcs"] = data.decode("ascii", errors="replace").replace(",", " ")
    elif io_id == 385:
        _decode_beacons(record, data)
    elif io_id in _TAG_LIST_IDS:
        _decode_tags(record, data)
    else:
        record.attrs[f"io{io_id}"] = data.hex()


def _read_fm_record(r: ByteReader, codec: int, *, extended: bool, table: dict[int, _Io]) -> _Record:
    """One record of codec 8, 8E or 16."""
    wide_ids = codec in (CODEC_8_EXT, CODEC_16)
    wide_counts = codec == CODEC_8_EXT
    record = _Record(time_utc=_time_from_ms(r.uint(8)))
    record.attrs["priority"] = r.u8()
    record.longitude = r.sint(4) / 10_000_000.0
    record.latitude = r.sint(4) / 10_000_000.0
    record.altitude_m = float(r.sint(2))
    record.heading_deg = float(r.u16() % 360)
    record.satellites = r.u8()
    record.valid = record.satellites != 0
    record.speed_kmh = float(r.u16())
    record.attrs["event"] = r.u16() if wide_ids else r.u8()
    if codec == CODEC_16:
        r.u8()  # generation type
    r.uint(2 if wide_counts else 1)  # total IO count

    def count() -> int:
        return r.uint(2 if wide_counts else 1)

    def io_id() -> int:
        return r.uint(2 if wide_ids else 1)

    for size in (1, 2, 4, 8):
        for _ in range(count()):
            ident = io_id()
            _apply_io(record, table, ident, r.take(size))
    if extended:
        for _ in range(count()):
            ident = io_id()
            record.attrs[f"io{ident}"] = r.take(16).hex()
    if codec == CODEC_8_EXT:
        for _ in range(r.u16()):
            ident = r.u16()
            _decode_variable(record, ident, r.take(r.u16()))
    return record


def _read_gh3000_record(r: ByteReader) -> _Record:
    """One GH3000 (codec 7) record."""
    seconds = (r.u32() & 0x3FFF_FFFF) + _GH3000_EPOCH_S
    record = _Record(time_utc=_EPOCH + timedelta(seconds=seconds))
    global_mask = r.u8()
    a = record.attrs
    if global_mask & 0x01:
        location_mask = r.u8()
        if location_mask & 0x01:
            record.latitude = r.f32()
            record.longitude = r.f32()
        if location_mask & 0x02:
            record.altitude_m = float(r.u16())
        if location_mask & 0x04:
            record.heading_deg = r.u8() * 360.0 / 256.0
        if location_mask & 0x08:
            record.speed_kmh = float(r.u8())
        if location_mask & 0x10:
            record.satellites = r.u8()
        if location_mask & 0x20:
            record.lac = r.u16()
            record.cell_id = r.u16()
        if location_mask & 0x40:
            a["rssi"] = r.u8()
        if location_mask & 0x80:
            a["operator"] = r.u32()
    else:
        record.has_fix = False
        a["device_time"] = iso_utc(record.time_utc)
    for bit, size in ((0x02, 1), (0x04, 2), (0x08, 4)):
        if global_mask & bit:
            for _ in range(r.u8()):
                ident = r.u8()
                _apply_gh3000_io(record, ident, r.take(size))
    return record


def _read_records(records: bytes, codec: int, count: int, *, extended: bool, model: str | None) -> list[_Record]:
    """All records of an AVL data field; they must fill it exactly."""
    r = ByteReader(records)
    table = _FMB_TABLE if is_fmb_model(model) else _COMMON_IO
    out: list[_Record] = []
    for _ in range(count):
        if codec == CODEC_GH3000:
            record = _read_gh3000_record(r)
        else:
            record = _read_fm_record(r, codec, extended=extended, table=table)
        record.finish(model)
        out.append(record)
    if r.remaining:
        raise DecodeError(DecodeReason.MALFORMED, f"{r.remaining} bytes left after {count} records")
    return out


#: Attribute value types the Position model keeps as they are.
_PLAIN_VALUE_TYPES: Final = frozenset({str, int, float, bool, type(None)})
#: Record header up to the IO elements: timestamp (ms), priority, longitude, latitude, altitude, angle,
#: satellites, speed, event IO id, total IO count (1-byte ids and counts in codec 8, 2-byte in 8E).
_FM_HEADER: Final[dict[int, struct.Struct]] = {
    CODEC_8: struct.Struct(">QBiihHBHBB"),
    CODEC_8_EXT: struct.Struct(">QBiihHBHHH"),
}


def _read_fm_records_fast(
    raw: bytes, start: int, end: int, codec: int, count: int, model: str | None
) -> list[_Record] | None:
    """The records of a codec 8 or 8E data field ``raw[start:end]``, as :func:`_read_records` reads them
    with ``extended=False``; None where that read would fail (a truncated record, bytes left over, an
    impossible timestamp, a variable-length element it refuses), so that the general path names it.

    The same IO tables, handlers and ``finish`` as the general reader, with the fixed-width fields read by
    one ``struct`` call per record and the offsets kept in a local instead of a ``ByteReader``."""
    table = _FMB_TABLE if is_fmb_model(model) else _COMMON_IO
    header = _FM_HEADER[codec]
    header_size = header.size
    wide = codec == CODEC_8_EXT
    step = 2 if wide else 1  # width of counts and ids
    pos = start
    out: list[_Record] = []
    try:
        for _ in range(count):
            if pos + header_size > end:
                return None
            ms, priority, lon, lat, altitude, angle, satellites, speed, event, _ = header.unpack_from(raw, pos)
            pos += header_size
            attrs: dict[str, AttributeValue] = {"priority": priority, "event": event}
            record = _Record(
                _EPOCH + timedelta(0, 0, 0, ms),  # (days, s, us, ms): positional is faster than milliseconds=
                True,
                lat / 10_000_000.0,
                lon / 10_000_000.0,
                float(altitude),
                float(angle % 360),
                float(speed),
                satellites,
                satellites != 0,
                None,
                attrs,
            )
            for size in (1, 2, 4, 8):
                if pos + step > end:
                    return None
                elements = raw[pos] << 8 | raw[pos + 1] if wide else raw[pos]
                pos += step
                element_size = step + size
                if pos + elements * element_size > end:
                    return None
                for _ in range(elements):
                    ident = raw[pos] << 8 | raw[pos + 1] if wide else raw[pos]
                    value = raw[pos + step : pos + element_size]
                    pos += element_size
                    io = table.get(ident)
                    if io is None or io.size != size:
                        attrs[f"io{ident}"] = _default_value(value)
                    elif io.convert is not None:
                        attrs[io.name] = io.convert(value)  # type: ignore[index]
                    else:
                        io.handler(record, value)
            if wide:
                if pos + 2 > end:
                    return None
                elements = raw[pos] << 8 | raw[pos + 1]
                pos += 2
                for _ in range(elements):
                    if pos + 4 > end:
                        return None
                    ident = raw[pos] << 8 | raw[pos + 1]
                    value_end = pos + 4 + (raw[pos + 2] << 8 | raw[pos + 3])
                    if value_end > end:
                        return None
                    _decode_variable(record, ident, raw[pos + 4 : value_end])
                    pos = value_end
            record.finish(model)
            out.append(record)
    except (DecodeError, OverflowError):
        return None
    return out if pos == end else None


#: Attribute names a layout plan leaves to :meth:`_Record.finish` (it derives more attributes from them).
_FINISHED_NAMES: Final = frozenset({"operator", "io195", "io196"})
#: Layouts kept per (codec, FMB table, record size), and in all.
_LAYOUTS_PER_KEY: Final = 4
_LAYOUTS_MAX: Final = 512
#: Below this many ms, ``datetime.fromtimestamp(ms / 1000, UTC)`` is exactly ``_EPOCH + timedelta(ms)``: the
#: double nearest ms / 1000 is within half a microsecond of it below 2**33 s (a ULP there is 2**-20 s).
_EXACT_FROM_TIMESTAMP_MS: Final = 2**33 * 1000
_from_timestamp: Final = datetime.fromtimestamp


@dataclass(frozen=True, slots=True)
class _Layout:
    """The shape of a codec 8/8E record (see :func:`_layout_of`): its size, which bytes hold counts and ids
    (``mask``) and their values there (``expect``: the counts and ids fix every offset, so a record that
    matches them is read as this one is).  Where every IO element is a plain attribute or an alarm element:
    one ``struct`` that reads the header and every IO value, per value (attribute or alarm name, operation,
    factor), and the generated function that builds the attributes; None where the record needs the
    per-element reader."""

    size: int
    mask: int
    expect: int
    unpack: Callable[[bytes, int], tuple[int, ...]] | None
    plan: tuple[tuple[str, int, float], ...]
    #: The attributes from what ``unpack`` read: ``priority``, ``event``, then the plan in order.
    attributes: Callable[[tuple[int, ...]], dict[str, AttributeValue]] | None


class _Rounded(dict[int, float]):
    """``round(value * factor, 6)`` by value, computed once (``round`` to digits costs ~0.2 us a call); the
    values a device sends repeat (voltages, temperatures), and the cache is emptied when it grows large."""

    LIMIT: ClassVar[int] = 65536

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def __missing__(self, value: int) -> float:
        if len(self) >= self.LIMIT:
            self.clear()
        rounded = self[value] = round(value * self.factor, 6)
        return rounded


_ROUNDED: dict[float, _Rounded] = {}

_PLAN_EXPRESSIONS: Final[dict[int, str]] = {
    _OP_COPY: "v[{index}]",
    _OP_FLAG: "v[{index}] > 0",
    _OP_SCALE: "r{slot}[v[{index}]]",
    _OP_DIVIDE: "v[{index}] / {factor!r}",
}


def _attributes_builder(
    plan: tuple[tuple[str, int, float], ...],
) -> Callable[[tuple[int, ...]], dict[str, AttributeValue]]:
    """One function building a layout's attributes, as the per-element reader and :meth:`_Record.finish`
    build them: a dict display of the plain attributes (what assigning ``attrs[name]`` in order gives: a
    repeated name keeps its first place and its last value), then ``alarm`` from the alarm elements that
    are set, in element order (``join_alarms`` drops repeats, as :meth:`_Record.alarm` does).  Generated
    from the plan: names are the IO tables' own (``repr``-quoted), factors their floats (``repr`` is exact)."""
    items = ["'priority': v[1]", "'event': v[8]"]
    alarms: list[str] = []
    namespace: dict[str, Any] = {"__builtins__": {}, "join_alarms": join_alarms, "green": _GREEN_DRIVING}
    for index, (name, op, factor) in enumerate(plan, start=9):
        if op == _OP_ALARM:
            alarms.append(f"    if v[{index}] > 0:\n        alarms.append({name!r})")
        elif op == _OP_GREEN_DRIVING:
            alarms.append(f"    if v[{index}] in green:\n        alarms.append(green[v[{index}]])")
        else:
            slot = len(namespace)
            if op == _OP_SCALE:
                namespace[f"r{slot}"] = _ROUNDED.setdefault(factor, _Rounded(factor))
            items.append(f"{name!r}: " + _PLAN_EXPRESSIONS[op].format(index=index, factor=factor, slot=slot))
    lines = ["def build(v):", "    a = {" + ", ".join(items) + "}"]
    if alarms:
        lines += ["    alarms = []", *alarms, "    if alarms:", "        a['alarm'] = join_alarms(*alarms)"]
    lines.append("    return a")
    exec("\n".join(lines), namespace)  # the source is built above from the IO tables
    builder: Callable[[tuple[int, ...]], dict[str, AttributeValue]] = namespace["build"]
    return builder


_LAYOUTS: dict[tuple[int, bool, int], list[_Layout]] = {}
_VALUE_CODES: Final[dict[tuple[int, bool], str]] = {
    (1, False): "B",
    (1, True): "b",
    (2, False): "H",
    (2, True): "h",
    (4, False): "I",
    (4, True): "i",
    (8, False): "Q",
    (8, True): "q",
}


def _layout_of(raw: bytes, pos: int, end: int, codec: int, table: dict[int, _Io]) -> _Layout | None:
    """The layout of the codec 8/8E record at ``raw[pos:end]``, which must fill it; None where the record is
    cut short or leaves bytes over or has variable-length elements.  A record with an element that needs
    more than ``attrs[name] = convert(value)`` or an alarm when set (another handler, an attribute
    :meth:`_Record.finish` reads) gets a layout without ``unpack`` and ``attributes``: the next record of
    that shape goes to the per-element reader without being scanned again."""
    wide = codec == CODEC_8_EXT
    step = 2 if wide else 1
    header = _FM_HEADER[codec]
    fmt = [header.format[:-1], "x" * step]  # the total IO count is not read
    mask = bytearray(header.size)
    plan: list[tuple[str, int, float]] = []
    plain = True
    at = pos + header.size
    for size in (1, 2, 4, 8):
        if at + step > end:
            return None
        elements = int.from_bytes(raw[at : at + step])
        at += step
        fmt.append("x" * step)
        mask += b"\xff" * step
        for _ in range(elements):
            if at + step + size > end:
                return None
            ident = int.from_bytes(raw[at : at + step])
            at += step + size
            io = table.get(ident)
            if io is None or io.size != size:
                name, signed, op, factor = f"io{ident}", size == 8, _OP_COPY, 1.0
            elif io.handler in _ALARM_HANDLERS:
                name, signed, op, factor = _ALARM_HANDLERS[io.handler], False, _OP_ALARM, 1.0
            elif io.handler is _green_driving:
                name, signed, op, factor = "", False, _OP_GREEN_DRIVING, 1.0
            elif io.name is None or io.convert is None or io.convert not in _NUMERIC:
                plain, name, signed, op, factor = False, "", False, _OP_COPY, 1.0
            else:
                name = io.name
                signed, op, factor = _NUMERIC[io.convert]
            plain = plain and name not in _FINISHED_NAMES
            fmt.append("x" * step + _VALUE_CODES[size, signed])
            mask += b"\xff" * step + bytes(size)
            plan.append((name, op, factor))
    if wide:
        if at + 2 > end or raw[at] or raw[at + 1]:
            return None  # variable-length elements: left to the per-element reader
        at += 2
        fmt.append("xx")
        mask += b"\xff\xff"
    if at != end:
        return None
    mask_int = int.from_bytes(mask)
    expect = int.from_bytes(raw[pos:end]) & mask_int
    if not plain:
        return _Layout(end - pos, mask_int, expect, None, (), None)
    steps = tuple(plan)
    unpack = struct.Struct("".join(fmt)).unpack_from
    return _Layout(end - pos, mask_int, expect, unpack, steps, _attributes_builder(steps))


def _positions_by_layout(
    raw: bytes,
    start: int,
    end: int,
    codec: int,
    count: int,
    model: str | None,
    device_id: str,
    received_utc: datetime,
    threshold: datetime,
) -> list[DecodedMessage] | None:
    """The messages of a codec 8/8E data field ``raw[start:end]`` whose ``count`` records share one size and
    each match a known or learnt :class:`_Layout`, exactly as :func:`_read_fm_records_fast` and the fast
    path build them; None where a record has no layout or a fix leaves the ranges the fast path takes."""
    size, rest = divmod(end - start, count)
    if rest:
        return None
    fmb = model is None or model in _FMB_MODELS  # is_fmb_model(model), without the call
    key = (codec, fmb, size)
    layouts = _LAYOUTS.get(key)
    out: list[DecodedMessage] = []
    pos = start
    for _ in range(count):
        layout = None
        if layouts is not None:
            word = int.from_bytes(raw[pos : pos + size])
            for candidate in layouts:
                if word & candidate.mask == candidate.expect:
                    layout = candidate
                    break
        if layout is None:
            layout = _layout_of(raw, pos, pos + size, codec, _FMB_TABLE if fmb else _COMMON_IO)
            if layout is None:
                return None
            if layouts is None:
                if len(_LAYOUTS) >= _LAYOUTS_MAX:
                    _LAYOUTS.clear()
                layouts = _LAYOUTS[key] = []
            if len(layouts) >= _LAYOUTS_PER_KEY:
                del layouts[-1]
            layouts.insert(0, layout)
        unpack, attributes = layout.unpack, layout.attributes
        if unpack is None or attributes is None:
            return None
        values = unpack(raw, pos)
        pos += size
        ms, _, lon, lat, altitude, angle, satellites, speed = values[:8]
        latitude = lat / 10_000_000.0
        longitude = lon / 10_000_000.0
        if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0 and speed <= 2000):
            return None
        if ms < _EXACT_FROM_TIMESTAMP_MS:
            time_utc = _from_timestamp(ms / 1000, UTC)
        else:
            try:
                time_utc = _EPOCH + timedelta(0, 0, 0, ms)
            except OverflowError:
                return None
        attrs = attributes(values)
        valid = satellites != 0
        future = time_utc > threshold
        position = assemble_position(
            device_id,
            PROTOCOL,
            time_utc,
            received_utc,
            latitude,
            longitude,
            speed + 0.0,  # float(speed), without the call
            angle % 360 + 0.0,
            valid,
            altitude + 0.0,
            satellites,
            None,
            attrs,
            ()
            if valid and not future and (latitude or longitude)
            else position_flags(valid, latitude, longitude, future),
        )
        kind = "alarm" if "alarm" in attrs else "location"
        out.append(DecodedMessage(kind, device_id, position, None if out else _ACKS[count], raw, dict(attrs)))
    return out


#: The TCP acknowledgement of a packet of n records: n as a 4-byte integer.
_ACKS: Final = tuple(n.to_bytes(4) for n in range(256))


# -- codec 12 / 13 --------------------------------------------------------------------------------

_AXLE_KEYS: Final = (
    *(f"axle{n}" for n in range(1, 9)),
    "load_truck",
    "load_trailer",
    "total_truck",
    "total_trailer",
)


def _reply_text(payload: bytes, attrs: dict[str, AttributeValue]) -> None:
    if not _printable(payload):
        attrs["result"] = payload.hex()
        return
    text = payload.decode("ascii").strip()
    if text.startswith("UUUUww") and text.endswith("SSS"):
        try:
            values = [float(v) for v in text[6:-4].split(";")[: len(_AXLE_KEYS)]]
        except ValueError:
            values = []
        if len(values) == len(_AXLE_KEYS):
            attrs.update(zip(_AXLE_KEYS, values, strict=True))
            return
    attrs["result"] = text


def _read_codec12(r: ByteReader) -> tuple[str, dict[str, AttributeValue]]:
    attrs: dict[str, AttributeValue] = {}
    kind = "command_reply"
    packet_type = r.u8()
    attrs["message_type"] = packet_type
    body = ByteReader(r.take(r.u32()))
    if packet_type == 0x0D:  # camera
        kind = "photo"
        subtype = body.u8()
        if subtype == 0x01:
            attrs["photo_id"] = body.u32()
            attrs["photo_size_bytes"] = body.u32()
        elif subtype == 0x02:
            attrs["photo_id"] = body.u32()
            attrs["chunk_offset"] = body.u32()
            attrs["chunk_length"] = len(body.take(body.u16()))
        else:
            attrs["photo_subtype"] = subtype
    else:
        _reply_text(body.take(body.remaining), attrs)
    return kind, attrs


def _read_codec13(r: ByteReader) -> dict[str, AttributeValue]:
    attrs: dict[str, AttributeValue] = {"message_type": r.u8()}
    body = ByteReader(r.take(r.u32()))
    seconds = body.u32()
    if seconds < _Y2000_S and body.remaining >= 4:
        # a 64-bit millisecond timestamp: these were its high 4 bytes
        device_time = _time_from_ms((seconds << 32) | body.u32())
    else:
        device_time = _EPOCH + timedelta(seconds=seconds)
    attrs["device_time"] = iso_utc(device_time)
    payload = body.take(body.remaining)
    if _printable(payload):
        text = payload.decode("ascii").strip()
        parts = text.split("|")
        if text.startswith("GTSL") and len(parts) > 4:
            attrs["driver_id"] = parts[4]
            return attrs
    _reply_text(payload, attrs)
    return attrs


# -- decoders -----------------------------------------------------------------------------------


class _TeltonikaBase(ProtocolDecoder):
    protocol = PROTOCOL

    def __init__(
        self,
        *,
        device_id: str | None = None,
        model: str | None = None,
        extended: bool | None = None,
        future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
    ) -> None:
        super().__init__(device_id=device_id, model=model)
        self.extended = extended
        self.future_tolerance_s = future_tolerance_s

    def _records(self, codec: int, count: int, records: bytes) -> list[_Record]:
        if self.extended is not None:
            return _read_records(records, codec, count, extended=self.extended, model=self.model)
        try:
            return _read_records(records, codec, count, extended=False, model=self.model)
        except DecodeError as plain_error:
            if codec == CODEC_GH3000:
                raise
            try:
                return _read_records(records, codec, count, extended=True, model=self.model)
            except DecodeError:
                raise plain_error from None

    def _decode_data(
        self, codec: int, count: int, records: bytes, raw: bytes, received_utc: datetime, ack: bytes | None
    ) -> list[DecodedMessage]:
        device_id = self._require_device_id()
        if codec in COMMAND_CODECS:
            r = ByteReader(records)
            messages: list[DecodedMessage] = []
            for _ in range(count):
                if codec == CODEC_12:
                    kind, attrs = _read_codec12(r)
                else:
                    kind, attrs = "command_reply", _read_codec13(r)
                messages.append(DecodedMessage(kind, device_id, None, None, raw, attrs))
            if r.remaining:
                raise DecodeError(DecodeReason.MALFORMED, f"{r.remaining} bytes left after {count} replies")
            return messages
        if codec not in AVL_CODECS:
            raise DecodeError(DecodeReason.UNKNOWN_MESSAGE_TYPE, f"codec 0x{codec:02x}")
        out: list[DecodedMessage] = []
        for record in self._records(codec, count, records):
            response = ack if not out else None
            if not record.has_fix:
                out.append(DecodedMessage("status", device_id, None, response, raw, dict(record.attrs)))
                continue
            position = make_position(
                device_id=device_id,
                protocol=PROTOCOL,
                time_utc=record.time_utc,
                received_utc=received_utc,
                latitude=record.latitude,
                longitude=record.longitude,
                speed_kmh=record.speed_kmh,
                heading_deg=record.heading_deg,
                valid=record.valid,
                altitude_m=record.altitude_m,
                satellites=record.satellites,
                hdop=record.hdop,
                attributes=record.attrs,
                future_tolerance_s=self.future_tolerance_s,
            )
            kind = "alarm" if "alarm" in record.attrs else "location"
            out.append(DecodedMessage(kind, device_id, position, response, raw, dict(position.attributes)))
        if not out:  # no records: still acknowledge them
            out.append(DecodedMessage("heartbeat", device_id, None, ack, raw, {}))
        return out


class TeltonikaDecoder(_TeltonikaBase):
    """Decoder for one Teltonika TCP connection (see the module docstring).

    ``extended``: whether records carry 16-byte IO elements (None: detect); ``model``: the IO table.
    """

    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        raw = bytes(frame)
        fast = self._decode_fast(raw, received_utc)
        if fast is not None:
            return fast
        return self._decode_general(raw, received_utc)

    def _decode_general(self, raw: bytes, received_utc: datetime) -> list[DecodedMessage]:
        """The decoder for every frame: what :meth:`_decode_fast` must equal where it answers."""
        try:
            return self._decode(raw, received_utc)
        except DecodeError as exc:
            raise exc.with_raw(raw) from None

    def _decode_fast(self, raw: bytes, received_utc: datetime) -> list[DecodedMessage] | None:
        """Codec 8 and 8E AVL packets that pass every check, or None to leave the frame to the general path.

        Needs a device id, ``extended`` not forced on, a UTC receive time, and packets whose records fill
        the data field without 16-byte IO elements (:func:`_read_fm_records_fast`) and whose fixes pass
        the Position checks (:func:`try_fast_position`).  Anything else (a login, a ping, codec 7/12/13/16,
        a bad CRC or length, an out-of-range fix) goes to :meth:`_decode_general`, which decodes it or
        names the error; where this path answers, the messages equal the general path's (tests compare
        them on every shared vector and on generated packets).

        The frame checks run in one compiled call (:func:`_avl_check_kernel`) once the CRC kernel is
        loaded (:func:`prepare_crc16_arc`, or after ``_ArcKernel.LOAD_AFTER`` packets), in Python before.
        Records whose counts and ids match a known :class:`_Layout` of plain and alarm elements (learnt
        from the first record of that shape; devices repeat their shape) are read by one ``struct`` call
        and one generated function each (:func:`_positions_by_layout`); the others by the per-element
        reader (:func:`_read_fm_records_fast`).
        """
        device_id = self._device_id
        if device_id is None or self.extended or type(received_utc) is not datetime or received_utc.tzinfo is not UTC:
            return None
        n = len(raw)
        packet_check = _ArcKernel.packet_check
        if packet_check is not None:  # the checks below in one compiled call
            count = packet_check(raw)
            if not count:
                return None
            codec = raw[8]
        else:
            if n < AVL_OVERHEAD + MIN_DATA_LENGTH or raw[:4] != b"\x00\x00\x00\x00":
                return None
            codec, count = raw[8], raw[9]
            if (
                (codec != CODEC_8_EXT and codec != CODEC_8)
                or count == 0
                or raw[n - 5] != count
                or int.from_bytes(raw[4:8]) != n - AVL_OVERHEAD
                or crc16_arc(raw[8 : n - 4]) != int.from_bytes(raw[n - 4 :])
            ):
                return None
        try:
            threshold = received_utc + future_tolerance(self.future_tolerance_s)
        except (OverflowError, TypeError, ValueError):
            return None
        by_layout = _positions_by_layout(raw, 10, n - 5, codec, count, self.model, device_id, received_utc, threshold)
        if by_layout is not None:
            return by_layout
        records = _read_fm_records_fast(raw, 10, n - 5, codec, count, self.model)
        if records is None:
            return None
        out: list[DecodedMessage] = []
        for record in records:
            latitude, longitude, speed_kmh, attrs = record.latitude, record.longitude, record.speed_kmh, record.attrs
            # The reader's types are the model's (floats from divisions and float(), satellites a byte, hdop
            # a rounded non-negative float, heading below 360, times in UTC, a device id validated when set):
            # what is left to check is the ranges and the attribute values an IO table produced.
            if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0 and speed_kmh <= 2000.0):
                return None
            for value in attrs.values():
                if type(value) not in _PLAIN_VALUE_TYPES:
                    return None
            valid = record.valid
            time_utc = record.time_utc
            position = assemble_position(
                device_id,
                PROTOCOL,
                time_utc,
                received_utc,
                latitude,
                longitude,
                speed_kmh,
                record.heading_deg,
                valid,
                record.altitude_m,
                record.satellites,
                record.hdop,
                dict(attrs),
                position_flags(valid, latitude, longitude, time_utc > threshold),
            )
            kind = "alarm" if "alarm" in record.attrs else "location"
            response = None if out else count.to_bytes(4)
            out.append(DecodedMessage(kind, device_id, position, response, raw, dict(position.attributes)))
        return out

    def _decode(self, raw: bytes, received_utc: datetime) -> list[DecodedMessage]:
        if raw == PING:
            return [DecodedMessage("heartbeat", self._device_id, None, None, raw, {})]
        if len(raw) < 2:
            raise DecodeError(DecodeReason.TRUNCATED, f"{len(raw)} bytes")
        length = int.from_bytes(raw[:2])
        if length > 0:
            return [self._login(raw, length)]
        frame = parse_avl_frame(raw)
        return self._decode_data(frame.codec, frame.count, frame.records, raw, received_utc, frame.count.to_bytes(4))

    def _login(self, raw: bytes, length: int) -> DecodedMessage:
        if len(raw) < 2 + length:
            raise DecodeError(DecodeReason.TRUNCATED, f"IMEI of {length} bytes, {len(raw) - 2} present")
        if len(raw) > 2 + length:
            raise DecodeError(DecodeReason.BAD_LENGTH, f"IMEI of {length} bytes, {len(raw) - 2} present")
        imei = raw[2:].decode("latin-1")
        device_id = self._set_device_id(imei)
        return DecodedMessage("login", device_id, None, LOGIN_ACCEPTED, raw, {})


class TeltonikaDatagramDecoder(_TeltonikaBase):
    """Decoder for Teltonika UDP datagrams (connectionless); each datagram carries its IMEI."""

    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        raw = bytes(frame)
        try:
            packet = parse_udp_packet(raw)
            self._set_device_id(packet.imei)
            ack = udp_ack(packet.packet_id, packet.avl_packet_id, packet.count)
            return self._decode_data(packet.codec, packet.count, packet.records, raw, received_utc, ack)
        except DecodeError as exc:
            raise exc.with_raw(raw) from None


def udp_ack(packet_id: int, avl_packet_id: int, count: int) -> bytes:
    """The server's answer to a UDP datagram: ``00 05 <packet id> 01 <AVL packet id> <count>``."""
    return b"\x00\x05" + packet_id.to_bytes(2) + b"\x01" + bytes([avl_packet_id, count])


# -- framer -------------------------------------------------------------------------------------


class _Probe(Enum):
    OK = auto()
    NEED_MORE = auto()
    INVALID = auto()
    TOO_LONG = auto()
    BAD_CRC = auto()


def _probe(buf: bytearray, at: int, max_frame_size: int) -> tuple[_Probe, int]:
    """Judge a candidate frame at ``buf[at:]`` (the keep-alive byte is handled by the caller)."""
    available = len(buf) - at
    if available < 2:
        return (_Probe.NEED_MORE, 0) if available == 0 or buf[at] == 0 else (_Probe.INVALID, 0)
    length = int.from_bytes(buf[at : at + 2])
    if length > 0:  # IMEI handshake
        if length not in IMEI_LENGTHS:
            return _Probe.INVALID, 0
        total = 2 + length
        digits = buf[at + 2 : at + min(total, available)]
        if not all(0x30 <= b <= 0x39 for b in digits):
            return _Probe.INVALID, 0
        return (_Probe.OK, total) if available >= total else (_Probe.NEED_MORE, total)
    head = bytes(buf[at : at + min(available, 10)])
    if any(head[:4]):
        return _Probe.INVALID, 0
    if available < 10:
        return _Probe.NEED_MORE, 0
    data_length = int.from_bytes(head[4:8])
    codec, count = head[8], head[9]
    if data_length < MIN_DATA_LENGTH or codec not in KNOWN_CODECS or count == 0:
        return _Probe.INVALID, 0
    total = AVL_OVERHEAD + data_length
    if total > max_frame_size:
        return _Probe.TOO_LONG, total
    if available < total:
        return _Probe.NEED_MORE, total
    end = at + total
    if crc16_arc(memoryview(buf)[at + 8 : end - 4]) != int.from_bytes(buf[end - 4 : end]):
        return _Probe.BAD_CRC, total
    return _Probe.OK, total


class TeltonikaFramer(StepFramer):
    """Cuts a Teltonika TCP stream into frames: IMEI handshakes, AVL packets and ``FF`` keep-alives.

    A handshake is taken when its length is 8-20 and its bytes are ASCII digits; an AVL packet when
    the preamble is zero, the length fits ``max_frame_size``, the codec is known, the count is not
    zero and the CRC matches.  Bytes that start no frame are reported as ``garbage`` (``frame_too_long``
    for an AVL header with an oversized length), each run up to the next possible frame start.  An
    ``FF`` byte is a keep-alive only where a frame may start (at the start of the stream or right after
    a frame); inside garbage it is garbage.

    A candidate with a wrong CRC is handed on (the decoder refuses it as ``bad_checksum`` and keeps the
    bytes) unless a valid frame starts inside it, in which case the bytes before that frame are
    garbage; while a frame start inside the candidate still waits for bytes, the candidate waits too.
    A pending candidate is dropped as garbage as soon as a complete valid frame shows up inside it.
    """

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size=max(max_frame_size, AVL_OVERHEAD + MIN_DATA_LENGTH + 2 + max(IMEI_LENGTHS)))
        self._synced = True
        #: Offsets 1 .. this-1 of the buffer are known to start no frame (a verdict more bytes cannot change).
        self._no_start_before = 1

    def _emit_frame(self, out: list[bytes | FramingError], count: int) -> None:
        out.append(bytes(self._buffer[:count]))  # not super(): this is the per-frame path
        del self._buffer[:count]
        self._synced = True
        self._no_start_before = 1

    def _emit_skip(self, out: list[bytes | FramingError], count: int, reason: str, detail: str = "") -> None:
        if count > 0:
            super()._emit_skip(out, count, reason, detail)
            self._synced = False
            self._no_start_before = 1

    def _next_start(self, start: int, limit: int | None = None) -> int:
        """First offset >= ``start`` (and < ``limit``) where a frame may begin, or -1."""
        stop = len(self._buffer) if limit is None else min(limit, len(self._buffer))
        for at in range(start, stop):
            if _probe(self._buffer, at, self.max_frame_size)[0] is not _Probe.INVALID:
                return at
        return -1

    def _valid_frame_inside(self, limit: int) -> tuple[int, bool]:
        """(offset of the first complete valid frame in ``[1, limit)`` or -1, whether a start there waits)."""
        waiting = False
        for at in range(self._no_start_before, min(limit, len(self._buffer))):
            verdict = _probe(self._buffer, at, self.max_frame_size)[0]
            if verdict is _Probe.OK:
                return at, waiting
            if verdict is _Probe.INVALID:
                if at == self._no_start_before:
                    self._no_start_before += 1  # an invalid start stays invalid whatever follows
            else:
                waiting = waiting or verdict is _Probe.NEED_MORE
        return -1, waiting

    def _step(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        if not buf:
            return False
        if buf[0] == 0xFF and self._synced:
            self._emit_frame(out, 1)
            return True
        verdict, total = _probe(buf, 0, self.max_frame_size)
        if verdict is _Probe.OK:
            self._emit_frame(out, total)
            return True
        if verdict in (_Probe.INVALID, _Probe.TOO_LONG):
            following = self._next_start(1)
            skip = following if following > 0 else len(buf)
            if verdict is _Probe.TOO_LONG:
                self._emit_skip(out, skip, "frame_too_long", f"length field gives {total} bytes")
            else:
                self._emit_skip(out, skip, "garbage", "bytes that start no frame")
            return True
        # NEED_MORE or BAD_CRC: the candidate may be junk with a real frame inside it.
        inside, waiting = self._valid_frame_inside(total if total else len(buf))
        if inside > 0:
            self._emit_skip(out, inside, "garbage", "frame header without a valid frame")
            return True
        if verdict is _Probe.BAD_CRC and (not waiting or len(buf) >= self.max_frame_size):
            self._emit_frame(out, total)  # the decoder refuses it as bad_checksum, bytes kept
            return True
        return False


# -- frame builders (simulator, tests) ----------------------------------------------------------


def encode_login(imei: str) -> bytes:
    """The IMEI handshake: 2-byte length + the IMEI in ASCII (8-20 digits, what the framer takes)."""
    if not (imei.isascii() and imei.isdigit() and len(imei) in IMEI_LENGTHS):
        raise ValueError(f"a Teltonika IMEI is 8-20 ASCII digits, got {imei!r}")
    data = imei.encode("ascii")
    return len(data).to_bytes(2) + data


@dataclass(frozen=True)
class RecordToSend:
    """One AVL record for :func:`encode_record`.  IO maps are id -> unsigned value (``io_var``: bytes)."""

    time_utc: datetime
    latitude: float
    longitude: float
    altitude_m: float = 0.0
    heading_deg: float = 0.0
    satellites: int = 8
    speed_kmh: float = 0.0
    priority: int = 0
    event_id: int = 0
    io1: dict[int, int] = field(default_factory=dict)
    io2: dict[int, int] = field(default_factory=dict)
    io4: dict[int, int] = field(default_factory=dict)
    io8: dict[int, int] = field(default_factory=dict)
    io_var: dict[int, bytes] = field(default_factory=dict)  # codec 8E only


def encode_record(codec: int, record: RecordToSend) -> bytes:
    """One record of codec 8, 8E or 16, exactly as a device builds it."""
    if codec not in (CODEC_8, CODEC_8_EXT, CODEC_16):
        raise ValueError("records are built for codecs 8, 8E and 16")
    if record.time_utc.tzinfo is None:
        raise ValueError("time_utc must be UTC-aware")
    if not (-90.0 <= record.latitude <= 90.0 and -180.0 <= record.longitude <= 180.0):
        raise ValueError("latitude/longitude out of range")
    if record.io_var and codec != CODEC_8_EXT:
        raise ValueError("variable-length IO elements exist in codec 8E only")
    wide_ids = codec in (CODEC_8_EXT, CODEC_16)
    wide_counts = codec == CODEC_8_EXT
    id_size = 2 if wide_ids else 1
    count_size = 2 if wide_counts else 1
    ms = (record.time_utc - _EPOCH) // timedelta(milliseconds=1)
    out = bytearray()
    out += ms.to_bytes(8)
    out += bytes([record.priority])
    out += round(record.longitude * 10_000_000).to_bytes(4, signed=True)
    out += round(record.latitude * 10_000_000).to_bytes(4, signed=True)
    out += round(record.altitude_m).to_bytes(2, signed=True)
    out += (round(record.heading_deg) % 360).to_bytes(2)
    out += bytes([record.satellites])
    out += round(record.speed_kmh).to_bytes(2)
    out += record.event_id.to_bytes(id_size)
    if codec == CODEC_16:
        out += b"\x06" if record.event_id else b"\x07"  # generation type: eventual / periodical
    sections = ((1, record.io1), (2, record.io2), (4, record.io4), (8, record.io8))
    total = sum(len(values) for _, values in sections) + len(record.io_var)
    out += total.to_bytes(count_size)
    for size, values in sections:
        out += len(values).to_bytes(count_size)
        for ident, value in values.items():
            out += ident.to_bytes(id_size) + value.to_bytes(size)
    if codec == CODEC_8_EXT:
        out += len(record.io_var).to_bytes(2)
        for ident, data in record.io_var.items():
            out += ident.to_bytes(2) + len(data).to_bytes(2) + data
    return bytes(out)


def build_data(codec: int, records: list[bytes]) -> bytes:
    """The data field: codec, count, records, count."""
    if not 0 < len(records) <= 0xFF:
        raise ValueError("1 to 255 records per packet")
    return bytes([codec, len(records)]) + b"".join(records) + bytes([len(records)])


def build_avl_packet(codec: int, records: list[bytes]) -> bytes:
    """A TCP AVL packet: preamble, data length, data field, CRC-16/ARC."""
    data = build_data(codec, records)
    return b"\x00\x00\x00\x00" + len(data).to_bytes(4) + data + crc16_arc(data).to_bytes(4)


def build_udp_packet(imei: str, packet_id: int, avl_packet_id: int, codec: int, records: list[bytes]) -> bytes:
    """A UDP datagram: length, packet id, packet type 0x01, AVL packet id, IMEI, data field (no CRC)."""
    imei_bytes = imei.encode("ascii")
    body = (
        packet_id.to_bytes(2)
        + b"\x01"
        + bytes([avl_packet_id])
        + len(imei_bytes).to_bytes(2)
        + imei_bytes
        + build_data(codec, records)
    )
    return len(body).to_bytes(2) + body


def build_command_packet(codec: int, packet_type: int, payload: bytes) -> bytes:
    """A codec 12/13 packet with one command/reply (codec 13 payloads start with their timestamp)."""
    if codec not in COMMAND_CODECS:
        raise ValueError("command packets are codec 12 or 13")
    record = bytes([packet_type]) + len(payload).to_bytes(4) + payload
    return build_avl_packet(codec, [record])


#: Alarms the encoder can put in a record: alarm -> (IO id, value).  They decode back to the alarm.
ALARM_IO: Final[dict[str, tuple[int, int]]] = {
    "general": (236, 1),
    "tow": (246, 1),
    "accident": (247, 1),
    "jamming": (249, 1),
    "idle": (251, 1),
    "power_cut": (252, 1),
    "hard_acceleration": (253, 1),
    "hard_braking": (253, 2),
    "hard_cornering": (253, 3),
}


class TeltonikaEncoder(DeviceEncoder):
    """A simulated FMB device over TCP: IMEI handshake, then one-record codec 8E packets and ``FF`` pings.

    Each location record carries ignition (239), movement (240), GSM signal (21), external voltage (66),
    the odometer (16) when the fix has one and the alarm's IO element (see :data:`ALARM_IO`) as the
    event id.  The device waits for the handshake answer and for each packet's record count.
    """

    protocol = PROTOCOL

    def __init__(self, device_id: str, *, power_mv: int = 24_000, rssi: int = 4, codec: int = CODEC_8_EXT) -> None:
        super().__init__(device_id)
        encode_login(device_id)  # refuses an id that is not an IMEI
        if codec not in (CODEC_8, CODEC_8_EXT, CODEC_16):
            raise ValueError("the encoder sends codec 8, 8E or 16")
        self.power_mv = power_mv
        self.rssi = rssi
        self.codec = codec

    def login(self) -> bytes:
        return encode_login(self.device_id)

    def record(self, fix: FixToSend) -> RecordToSend:
        """The record reporting ``fix``."""
        io1 = {239: int(fix.ignition), 240: int(fix.speed_kmh > 0), 21: self.rssi}
        event_id = 0
        priority = 0
        if fix.alarm is not None:
            if fix.alarm not in ALARM_IO:
                raise ValueError(f"no Teltonika IO for alarm {fix.alarm!r}; known: {', '.join(sorted(ALARM_IO))}")
            event_id, value = ALARM_IO[fix.alarm]
            io1[event_id] = value
            priority = 1
        io4 = {} if fix.odometer_km is None else {16: round(fix.odometer_km * 1000)}
        return RecordToSend(
            time_utc=fix.time_utc,
            latitude=fix.latitude,
            longitude=fix.longitude,
            altitude_m=min(max(fix.altitude_m, -32768.0), 32767.0),
            heading_deg=fix.heading_deg,
            satellites=min(max(fix.satellites, 1), 255) if fix.valid else 0,  # valid = satellites > 0
            speed_kmh=min(max(fix.speed_kmh, 0.0), 0xFFFF),
            priority=priority,
            event_id=event_id,
            io1=io1,
            io2={66: self.power_mv},
            io4=io4,
        )

    def location(self, fix: FixToSend) -> bytes:
        return build_avl_packet(self.codec, [encode_record(self.codec, self.record(fix))])

    def heartbeat(self) -> bytes:
        return PING

    def awaits_response(self, kind: str) -> bool:
        return kind in ("login", "location")


class TeltonikaDatagramEncoder(TeltonikaEncoder):
    """The same device over UDP: each record in its own datagram with the IMEI header and no handshake;
    the device waits for the server's acknowledgement of each packet."""

    def __init__(self, device_id: str, **options: int) -> None:
        super().__init__(device_id, **options)
        self.packet_id = 0

    def login(self) -> None:  # type: ignore[override]
        return None

    def location(self, fix: FixToSend) -> bytes:
        self.packet_id = (self.packet_id + 1) % 0x10000
        record = encode_record(self.codec, self.record(fix))
        return build_udp_packet(self.device_id, self.packet_id, self.packet_id % 0x100, self.codec, [record])

    def heartbeat(self) -> None:  # type: ignore[override]
        return None

    def awaits_response(self, kind: str) -> bool:
        return kind == "location"


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=5027,
    transports=("tcp", "udp"),
    decoder_factory=TeltonikaDecoder,
    framer_factory=TeltonikaFramer,
    datagram_decoder_factory=TeltonikaDatagramDecoder,
    encoder_factory=TeltonikaEncoder,
    datagram_encoder_factory=TeltonikaDatagramEncoder,
    prepare=prepare_crc16_arc,
)

"""The fast paths of decoding equal the general paths they shortcut.

* ``make_position``'s fast route (``try_fast_position``) against full validation (``validated_position``),
  on generated values of every type, in and out of range: same Position (field by field, with types,
  insertion order, fields set) or the same named error;
* the C-speed checksums against the byte-by-byte references;
* GT06 and Teltonika ``decode`` (fast path first) against ``_decode_general`` on every shared vector, on
  the simulator's frames and on generated and mutated frames: same messages or the same error.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from functools import partial
from typing import Any, Final
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from cedetect.models import Position
from cedetect.protocols import gt06, teltonika
from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    FixToSend,
    ProtocolDecoder,
    make_position,
    try_fast_position,
    validated_position,
)
from cedetect.protocols.common import crc16_x25_c
from cedetect.protocols.crc import crc16_x25
from cedetect.protocols.gt06 import Gt06Decoder, Gt06Encoder, build_frame, encode_login
from cedetect.protocols.teltonika import (
    CODEC_8,
    CODEC_8_EXT,
    CODEC_16,
    RecordToSend,
    TeltonikaDecoder,
    TeltonikaEncoder,
    build_avl_packet,
    crc16_arc,
    crc16_arc_reference,
    encode_record,
    prepare_crc16_arc,
)
from tests.cedetect.protocols.vectors import (
    DEVICE_ID,
    RECEIVED,
    by_test_method,
    load_vectors,
    payload_bytes,
    vector_config,
    vector_model,
)

SETTINGS: Final = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
IMEI: Final = "490154203237518"
T0: Final = datetime(2026, 1, 1, tzinfo=UTC)
#: Bounds of generated times (hypothesis takes naive bounds and adds the zone).
EARLIEST: Final = datetime(1990, 1, 1)  # noqa: DTZ001
LATEST: Final = datetime(2100, 1, 1)  # noqa: DTZ001


# -- comparing results ------------------------------------------------------------------------------


def canonical(value: Any) -> Any:
    """``value`` with every type, dict order, time zone and model bookkeeping made explicit (``==`` alone
    takes 1 for 1.0 and True, and ignores dict order and zones)."""
    if isinstance(value, BaseModel):
        return (
            type(value).__name__,
            canonical(value.__dict__),
            sorted(value.model_fields_set),
            value.__pydantic_extra__,
            value.__pydantic_private__,
        )
    if isinstance(value, DecodedMessage):
        return ("DecodedMessage", canonical(vars(value)))
    if isinstance(value, dict):
        return ("dict", [(canonical(k), canonical(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [canonical(v) for v in value])
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), repr(value.tzinfo))
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What ``call`` gives: ("ok", canonical result) or ("error", reason, detail, raw).  Any other exception
    propagates (and fails the test)."""
    try:
        return ("ok", canonical(call()))
    except DecodeError as exc:
        return ("error", exc.reason, exc.detail, exc.raw)


def decoder_state(decoder: ProtocolDecoder) -> Any:
    return canonical({k: v for k, v in vars(decoder).items() if k != "_received_utc"})


def assert_same_decoding(
    fast: ProtocolDecoder, general: ProtocolDecoder, frames: list[bytes], received: datetime = RECEIVED
) -> int:
    """``fast.decode`` and ``general._decode_general`` agree frame by frame (results and decoder state);
    returns how many frames the fast path answered."""
    hits = 0
    for raw in frames:
        before = decoder_state(fast)
        if fast._decode_fast(raw, received) is None:  # type: ignore[attr-defined]
            assert decoder_state(fast) == before, "declining leaves the connection state alone"
        else:
            hits += 1
        expected = outcome(partial(general._decode_general, raw, received))  # type: ignore[attr-defined]
        got = outcome(partial(fast.decode, raw, received))
        assert got == expected, raw.hex()
        assert decoder_state(fast) == decoder_state(general), raw.hex()
    return hits


# -- make_position -----------------------------------------------------------------------------------


class _Tag(StrEnum):
    ON = "on"


_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-400, max_value=400),
    st.integers(min_value=-400, max_value=400),
    st.booleans(),
    st.just(-0.0),
    st.just(360.0),
    st.just(2000.0),
)
_OPTIONAL_NUMBERS = st.one_of(st.none(), _NUMBERS, st.integers(min_value=-5, max_value=300))
_TIMES = st.one_of(
    st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC)),
    st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.none()),
    st.datetimes(
        min_value=EARLIEST,
        max_value=LATEST,
        timezones=st.sampled_from([timezone(timedelta(hours=3)), ZoneInfo("UTC"), UTC]),
    ),
)
_ATTRIBUTE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.just(_Tag.ON),
    st.just([1]),
    st.just(b"x"),
)
_ATTRIBUTES = st.one_of(
    st.none(),
    st.dictionaries(st.one_of(st.text(max_size=6), st.just(_Tag.ON)), _ATTRIBUTE_VALUES, max_size=4),
)


_VALID_POSITION: Final[dict[str, Any]] = {
    "device_id": IMEI,
    "protocol": "gt06",
    "time_utc": T0,
    "received_utc": T0 + timedelta(seconds=5),
    "latitude": 41.5,
    "longitude": 26.25,
    "speed_kmh": 60.0,
    "heading_deg": 90.0,
    "valid": True,
    "altitude_m": None,
    "satellites": 7,
    "hdop": None,
    "attributes": {"ignition": True},
    "future_tolerance_s": 300.0,
}
_EDGES: Final = [
    *(0.0, -0.0, 1e-300, 89.999999, 90.0, 90.0000001, -90.0, -90.0000001, 180.0, 180.0000001, -180.0),
    *(-180.0000001, 359.9999999, 360.0, 1999.9999, 2000.0, 2000.0000001, -1e-9, math.inf, -math.inf, math.nan),
]
_FIELD_VALUES: Final[dict[str, st.SearchStrategy[Any]]] = {
    "device_id": st.one_of(st.just("bad/id"), st.just(""), st.just("a" * 65), st.text(max_size=4)),
    "protocol": st.one_of(st.just(""), st.just("x" * 32), st.just("x" * 33)),
    "time_utc": _TIMES,
    "received_utc": _TIMES,
    "latitude": _NUMBERS,
    "longitude": _NUMBERS,
    "speed_kmh": _NUMBERS,
    "heading_deg": _NUMBERS,
    "valid": st.one_of(st.booleans(), st.just(1), st.just(0)),
    "altitude_m": _OPTIONAL_NUMBERS,
    "satellites": _OPTIONAL_NUMBERS,
    "hdop": _OPTIONAL_NUMBERS,
    "attributes": _ATTRIBUTES,
    "future_tolerance_s": st.sampled_from([300.0, 0.0, 60.0, -5.0]),
}


@st.composite
def position_values(draw: st.DrawFn) -> dict[str, Any]:
    """Valid values with one to three fields replaced: by an edge of a range, or by anything of any type."""
    values = dict(_VALID_POSITION)
    for name in draw(st.lists(st.sampled_from(sorted(_FIELD_VALUES)), min_size=1, max_size=3, unique=True)):
        edges = st.sampled_from(_EDGES) if name in ("latitude", "longitude", "speed_kmh", "heading_deg") else None
        values[name] = draw(edges if edges is not None and draw(st.booleans()) else _FIELD_VALUES[name])
    return values


def test_make_position_equals_full_validation_at_every_range_edge() -> None:
    edges: dict[str, list[Any]] = {
        name: _EDGES for name in ("latitude", "longitude", "speed_kmh", "heading_deg", "altitude_m", "hdop")
    }
    edges["satellites"] = [-1, 0, 255, 256, 7.0, True, None]
    edges["valid"] = [True, False, 1, 0, None]
    edges["protocol"] = ["", "x", "x" * 32, "x" * 33]
    edges["device_id"] = ["a", "a" * 64, "a" * 65, "-a", "a/b", "a+b", IMEI]
    edges["attributes"] = [None, {}, {"a": 1, "b": 1.5, "c": "x", "d": None, "e": False}, {"a": [1]}, {1: 1}]
    for name, values in edges.items():
        for value in values:
            case = {**_VALID_POSITION, name: value}
            assert outcome(partial(make_position, **case)) == outcome(partial(validated_position, **case)), (
                name,
                value,
            )


@settings(max_examples=400, deadline=None)
@given(position_values())
def test_make_position_equals_full_validation(values: dict[str, Any]) -> None:
    expected = outcome(lambda: validated_position(**values))
    assert outcome(lambda: make_position(**values)) == expected


@SETTINGS
@given(
    device_id=st.one_of(st.just(IMEI), st.just("bad/id"), st.just(""), st.text(max_size=4)),
    protocol=st.one_of(st.just("gt06"), st.just(""), st.just("x" * 33)),
    time_utc=_TIMES,
    received_utc=_TIMES,
    latitude=_NUMBERS,
    longitude=_NUMBERS,
    speed_kmh=_NUMBERS,
    heading_deg=_NUMBERS,
    valid=st.one_of(st.booleans(), st.just(1)),
    altitude_m=_OPTIONAL_NUMBERS,
    satellites=_OPTIONAL_NUMBERS,
    hdop=_OPTIONAL_NUMBERS,
    attributes=_ATTRIBUTES,
    future_tolerance_s=st.sampled_from([300.0, 0.0, 60.0]),
)
def test_make_position_equals_full_validation_on_anything(**values: Any) -> None:
    expected = outcome(lambda: validated_position(**values))
    assert outcome(lambda: make_position(**values)) == expected


def test_plain_values_take_the_fast_route_and_build_the_validated_position() -> None:
    values: dict[str, Any] = {
        "device_id": IMEI,
        "protocol": "gt06",
        "time_utc": T0,
        "received_utc": T0 + timedelta(seconds=5),
        "latitude": 41.5,
        "longitude": -0.0,
        "speed_kmh": 60.0,
        "heading_deg": 359.5,
        "valid": False,
        "altitude_m": None,
        "satellites": 7,
        "hdop": 1.2,
        "attributes": {"ignition": True, "event": 3, "note": "x", "v": 1.5, "none": None},
        "future_tolerance_s": 300.0,
    }
    fast = try_fast_position(*values.values())
    assert fast is not None
    assert canonical(fast) == canonical(validated_position(**values))
    assert Position.model_validate_json(fast.model_dump_json()) == fast
    assert fast.attributes is not values["attributes"]  # a copy, as validation makes
    for name, value in (("latitude", 90.5), ("heading_deg", 360.0), ("speed_kmh", -1.0), ("hdop", math.nan)):
        assert try_fast_position(*{**values, name: value}.values()) is None
        with pytest.raises(DecodeError) as caught:
            make_position(**{**values, name: value})
        assert caught.value.reason == "invalid_coordinates"
    assert try_fast_position(*{**values, "time_utc": datetime(2026, 1, 1)}.values()) is None  # noqa: DTZ001
    with pytest.raises(DecodeError, match="invalid_time"):
        make_position(**{**values, "time_utc": datetime(2026, 1, 1)})  # noqa: DTZ001


# -- checksums -----------------------------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=600))
def test_crc16_x25_c_equals_reference(data: bytes) -> None:
    assert crc16_x25_c(data) == crc16_x25(data)
    assert crc16_x25_c(bytearray(data)) == crc16_x25(data)
    assert crc16_x25_c(memoryview(data)) == crc16_x25(data)


def test_crc16_x25_c_check_value_and_random_lengths() -> None:
    assert crc16_x25_c(b"123456789") == 0x906E
    rng = random.Random(4)
    for length in range(0, 1300, 7):
        data = rng.randbytes(length)
        assert crc16_x25_c(data) == crc16_x25(data)


def test_crc16_arc_kernel_loads_and_equals_reference() -> None:
    assert prepare_crc16_arc(), "numba is a dependency: the compiled kernel must load"
    assert crc16_arc(b"123456789") == 0xBB3D
    rng = random.Random(8)
    for length in range(0, 2000, 9):
        data = rng.randbytes(length)
        assert crc16_arc(data) == crc16_arc_reference(data)
        assert crc16_arc(bytearray(data)) == crc16_arc_reference(data)


@SETTINGS
@given(st.binary(max_size=600))
def test_crc16_arc_equals_reference(data: bytes) -> None:
    prepare_crc16_arc()
    assert crc16_arc(data) == crc16_arc_reference(data)


def test_gt06_ack_tables_build_the_acknowledgement() -> None:
    rng = random.Random(6)
    for message_type in range(256):
        for serial in (0, 1, 0xFF, 0x100, 0xFFFF, *(rng.randrange(0x10000) for _ in range(20))):
            crc = (
                gt06._ACK_CRC_TYPE[message_type]
                ^ gt06._ACK_CRC_SERIAL_HIGH[serial >> 8]
                ^ gt06._ACK_CRC_SERIAL_LOW[serial & 0xFF]
            )
            assert gt06._ACK.pack(0x7878, 5, message_type, serial, crc, 0x0D0A) == build_frame(
                message_type, b"", serial
            )


# -- GT06 --------------------------------------------------------------------------------------------

GT06_VECTORS: Final = load_vectors("gt06")


def test_gt06_fast_path_equals_general_path_on_every_vector() -> None:
    assert GT06_VECTORS, "shared tracker vectors are missing"
    hits = 0
    for _name, vectors in by_test_method(GT06_VECTORS):
        model = vector_model(vectors[0])
        fast = Gt06Decoder(device_id=DEVICE_ID, model=model)
        general = Gt06Decoder(device_id=DEVICE_ID, model=model)
        hits += assert_same_decoding(fast, general, [payload_bytes(v) for v in vectors])
        # the same frames once more on a connection without a device model (the fast path's case)
        fast, general = Gt06Decoder(device_id=DEVICE_ID), Gt06Decoder(device_id=DEVICE_ID)
        hits += assert_same_decoding(fast, general, [payload_bytes(v) for v in vectors])
    assert hits >= 10, "real 0x12/0x22/0x16 frames take the fast path"


def test_gt06_simulator_frames_take_the_fast_path() -> None:
    encoder = Gt06Encoder(IMEI)
    fixes = [
        FixToSend(
            time_utc=T0 + timedelta(seconds=10 * i),
            latitude=-41.0 + i * 0.37,
            longitude=179.0 - i * 8.9,
            speed_kmh=float(i * 7 % 256),
            heading_deg=float(i * 37 % 360),
            valid=i % 3 != 0,
            ignition=i % 2 == 0,
            alarm=[None, "sos", "power_cut", "tampering"][i % 4],
        )
        for i in range(40)
    ]
    frames = [encoder.location(fix) for fix in fixes]
    for received in (RECEIVED, T0 - timedelta(days=1)):  # the second makes every fix a future one
        fast, general = Gt06Decoder(device_id=IMEI), Gt06Decoder(device_id=IMEI)
        assert assert_same_decoding(fast, general, frames, received) == len(frames)
    # with a login time zone, the device times shift the same way on both paths
    login = encode_login(IMEI, 1, timezone_offset_min=-330)
    fast, general = Gt06Decoder(), Gt06Decoder()
    assert assert_same_decoding(fast, general, [login, *frames]) == len(frames)
    # a model, a receive time in another zone, or no device id leaves every frame to the general path
    for frame in frames:
        assert Gt06Decoder(device_id=IMEI, model="VL103")._decode_fast(frame, RECEIVED) is None
        assert Gt06Decoder(device_id=IMEI)._decode_fast(frame, RECEIVED.astimezone(ZoneInfo("Europe/Istanbul"))) is None
        assert Gt06Decoder()._decode_fast(frame, RECEIVED) is None


_GT06_TYPES: Final = {0x22: 29, 0x12: 26, 0x16: 32}


@st.composite
def gt06_fast_candidates(draw: st.DrawFn) -> bytes:
    """Frames shaped like the fast path's layouts: plausible or random dates, any coordinates and
    course bits, cells with and without the 2-byte-MNC bit, sometimes resized or with a bad CRC."""
    message_type = draw(st.sampled_from(sorted(_GT06_TYPES)))
    size = _GT06_TYPES[message_type]
    content = bytearray(draw(st.binary(min_size=size, max_size=size)))
    if draw(st.booleans()):
        content[0:6] = bytes(
            [
                draw(st.integers(0, 99)),
                draw(st.integers(1, 12)),
                draw(st.integers(1, 31)),
                draw(st.integers(0, 23)),
                draw(st.integers(0, 59)),
                draw(st.integers(0, 59)),
            ]
        )
    if draw(st.booleans()):  # coordinates in range
        content[7:11] = draw(st.integers(0, 162_000_000)).to_bytes(4)
        content[11:15] = draw(st.integers(0, 324_000_000)).to_bytes(4)
        content[16] = (content[16] & 0xFC) | draw(st.integers(0, 1))  # course below 512
    if message_type == 0x16 and draw(st.booleans()):
        content[18] = 9
    extra = draw(st.sampled_from([0, 0, 0, -1, 1, 4]))
    if extra < 0:
        content = content[:extra]
    else:
        content += bytes(extra)
    frame = bytearray(build_frame(message_type, bytes(content), draw(st.integers(0, 0xFFFF))))
    if draw(st.integers(0, 9)) == 0:
        frame[draw(st.integers(0, len(frame) - 1))] ^= draw(st.integers(1, 255))
    return bytes(frame)


@SETTINGS
@given(frames=st.lists(gt06_fast_candidates(), min_size=1, max_size=4), offset=st.sampled_from([None, 0, 180, -90]))
def test_gt06_fast_path_equals_general_path_on_generated_frames(frames: list[bytes], offset: int | None) -> None:
    if offset is None:
        fast, general = Gt06Decoder(device_id=IMEI), Gt06Decoder(device_id=IMEI)
    else:
        login = encode_login(IMEI, 1, timezone_offset_min=offset)
        fast, general = Gt06Decoder(), Gt06Decoder()
        frames = [login, *frames]
    assert_same_decoding(fast, general, frames)


# -- Teltonika -----------------------------------------------------------------------------------------

TELTONIKA_VECTORS: Final = load_vectors("teltonika")


def test_teltonika_fast_path_equals_general_path_on_every_vector() -> None:
    assert TELTONIKA_VECTORS, "shared tracker vectors are missing"
    hits = 0
    for _name, vectors in by_test_method(TELTONIKA_VECTORS):
        config = vector_config(vectors[0])
        if config.get("connectionless"):
            continue  # datagrams have their own decoder, without a fast path
        model, extended = config.get("model"), config.get("extended")
        for device_id in (DEVICE_ID, None):
            fast = TeltonikaDecoder(device_id=device_id, model=model, extended=extended)
            general = TeltonikaDecoder(device_id=device_id, model=model, extended=extended)
            hits += assert_same_decoding(fast, general, [payload_bytes(v) for v in vectors])
    assert hits >= 10, "real codec 8/8E packets take the fast path"


def test_teltonika_simulator_frames_take_the_fast_path() -> None:
    prepare_crc16_arc()
    frames = []
    for codec in (CODEC_8, CODEC_8_EXT):
        encoder = TeltonikaEncoder(IMEI, codec=codec)
        for i in range(30):
            fix = FixToSend(
                time_utc=T0 + timedelta(seconds=10 * i),
                latitude=-41.0 + i * 0.37,
                longitude=179.0 - i * 8.9,
                speed_kmh=float(i * 7),
                heading_deg=float(i * 37 % 360),
                valid=i % 3 != 0,
                odometer_km=None if i % 2 else i * 1.5,
                alarm=[None, "tow", "power_cut", "hard_braking"][i % 4],
            )
            frames.append(encoder.location(fix))
    fast, general = TeltonikaDecoder(device_id=IMEI), TeltonikaDecoder(device_id=IMEI)
    assert assert_same_decoding(fast, general, frames) == len(frames)
    for frame in frames:
        assert TeltonikaDecoder(device_id=IMEI, extended=True)._decode_fast(frame, RECEIVED) is None
        assert TeltonikaDecoder()._decode_fast(frame, RECEIVED) is None


_IO_IDS: Final = sorted({*teltonika._FMB_TABLE, 1, 2, 3, 500, 10804, 11, 78, 16})


@st.composite
def teltonika_records(draw: st.DrawFn, codec: int) -> bytes:
    def io_map(max_value: int) -> dict[int, int]:
        ids = st.sampled_from(_IO_IDS) if codec != CODEC_8 else st.sampled_from([i for i in _IO_IDS if i < 256])
        return draw(st.dictionaries(ids, st.integers(0, max_value), max_size=3))

    record = RecordToSend(
        time_utc=draw(
            st.datetimes(
                min_value=EARLIEST.replace(year=2000), max_value=LATEST.replace(year=2090), timezones=st.just(UTC)
            )
        ),
        latitude=draw(st.floats(-90, 90)),
        longitude=draw(st.floats(-180, 180)),
        altitude_m=draw(st.integers(-1000, 9000)),
        heading_deg=draw(st.integers(0, 359)),
        satellites=draw(st.integers(0, 20)),
        speed_kmh=draw(st.integers(0, 300)),
        priority=draw(st.integers(0, 2)),
        event_id=draw(st.sampled_from([0, 239, 252, 253])),
        io1=io_map(0xFF),
        io2=io_map(0xFFFF),
        io4=io_map(0xFFFF_FFFF),
        io8=io_map(2**63 - 1),
        io_var=draw(st.dictionaries(st.sampled_from([256, 281, 385, 548, 9999]), st.binary(max_size=12), max_size=2))
        if codec == CODEC_8_EXT
        else {},
    )
    return encode_record(codec, record)


@st.composite
def teltonika_packets(draw: st.DrawFn) -> bytes:
    codec = draw(st.sampled_from([CODEC_8, CODEC_8_EXT, CODEC_8_EXT, CODEC_16]))
    records = draw(st.lists(teltonika_records(codec), min_size=1, max_size=3))
    packet = bytearray(build_avl_packet(codec, records))
    mutation = draw(st.integers(0, 5))
    if mutation == 0:  # a flipped byte, CRC left as it was
        packet[draw(st.integers(0, len(packet) - 1))] ^= draw(st.integers(1, 255))
    elif mutation == 1:  # a flipped byte inside the data field, CRC recomputed: the checks inside must hold
        index = draw(st.integers(8, len(packet) - 5))
        packet[index] ^= draw(st.integers(1, 255))
        packet[-4:] = teltonika.crc16_arc_reference(packet[8:-4]).to_bytes(4)
    return bytes(packet)


def test_teltonika_fast_path_leaves_odd_data_fields_to_the_general_path() -> None:
    prepare_crc16_arc()
    record = encode_record(
        CODEC_8_EXT, TeltonikaEncoder(IMEI).record(FixToSend(time_utc=T0, latitude=1.0, longitude=2.0))
    )
    odd = [
        bytes([CODEC_8_EXT, 1]) + record + b"\x00" + bytes([1]),  # a byte left over after the record
        bytes([CODEC_8_EXT, 1]) + record[:-1] + bytes([1]),  # a record cut short
        bytes([CODEC_8_EXT, 2]) + record + bytes([2]),  # fewer records than counted
        bytes([CODEC_8_EXT, 0, 0]),  # no records
        bytes([CODEC_16, 1])
        + encode_record(CODEC_16, RecordToSend(time_utc=T0, latitude=1.0, longitude=2.0))
        + b"\x01",
        bytes([CODEC_8_EXT, 1]) + b"\xff" * 8 + record[8:] + bytes([1]),  # a timestamp beyond year 9999
    ]
    frames = [
        b"\x00\x00\x00\x00" + len(data).to_bytes(4) + data + crc16_arc_reference(data).to_bytes(4) for data in odd
    ]
    good = build_avl_packet(CODEC_8_EXT, [record])
    frames += [good[:-1] + bytes([good[-1] ^ 1]), good[:4] + (len(good) - 11).to_bytes(4) + good[8:]]
    for frame in frames:
        assert TeltonikaDecoder(device_id=IMEI)._decode_fast(frame, RECEIVED) is None, frame.hex()
    fast, general = TeltonikaDecoder(device_id=IMEI), TeltonikaDecoder(device_id=IMEI)
    assert assert_same_decoding(fast, general, [*frames, good]) == 1


def test_teltonika_fast_path_leaves_out_of_range_fixes_to_the_general_path() -> None:
    prepare_crc16_arc()
    encoder = TeltonikaEncoder(IMEI)
    record = bytearray(encode_record(CODEC_8_EXT, encoder.record(FixToSend(time_utc=T0, latitude=1.0, longitude=2.0))))
    speed_io = RecordToSend(time_utc=T0, latitude=1.0, longitude=2.0, io2={24: 2001})
    cases = {
        "longitude": (9, 1_800_000_001),
        "latitude": (13, -900_000_001),
        "speed": (22, 2001),
    }
    packets = [build_avl_packet(CODEC_8_EXT, [encode_record(CODEC_8_EXT, speed_io)])]
    for offset, value in cases.values():
        changed = bytearray(record)
        size = 2 if offset == 22 else 4
        changed[offset : offset + size] = value.to_bytes(size, signed=True)
        packets.append(build_avl_packet(CODEC_8_EXT, [bytes(changed)]))
    for packet in packets:
        assert TeltonikaDecoder(device_id=IMEI)._decode_fast(packet, RECEIVED) is None
        with pytest.raises(DecodeError) as caught:
            TeltonikaDecoder(device_id=IMEI).decode(packet, RECEIVED)
        assert caught.value.reason == "invalid_coordinates"
    fast, general = TeltonikaDecoder(device_id=IMEI), TeltonikaDecoder(device_id=IMEI)
    assert assert_same_decoding(fast, general, packets) == 0
    # at the edges of the ranges the fast path answers, as validation accepts
    edge = bytearray(record)
    edge[9:13] = (-1_800_000_000).to_bytes(4, signed=True)
    edge[13:17] = (900_000_000).to_bytes(4, signed=True)
    edge[22:24] = (2000).to_bytes(2)
    packet = build_avl_packet(CODEC_8_EXT, [bytes(edge)])
    assert assert_same_decoding(fast, general, [packet]) == 1


@SETTINGS
@given(
    packets=st.lists(teltonika_packets(), min_size=1, max_size=3),
    model=st.sampled_from([None, "FMB130", "TAT100", "FMB640"]),
)
def test_teltonika_fast_path_equals_general_path_on_generated_packets(packets: list[bytes], model: str | None) -> None:
    fast, general = TeltonikaDecoder(device_id=IMEI, model=model), TeltonikaDecoder(device_id=IMEI, model=model)
    assert_same_decoding(fast, general, packets)


# -- Teltonika: the compiled packet check, layouts, times ----------------------------------------------


def reference_packet_check(raw: bytes) -> int:
    """What ``_avl_check_kernel`` must answer, spelled out in Python: the record count of a codec 8/8E TCP
    packet that passes the frame checks, else 0."""
    n = len(raw)
    if n < 15 or raw[:4] != bytes(4) or int.from_bytes(raw[4:8]) != n - 12:
        return 0
    codec, count = raw[8], raw[9]
    if codec not in (CODEC_8, CODEC_8_EXT) or count == 0 or raw[-5] != count:
        return 0
    return count if crc16_arc_reference(raw[8:-4]) == int.from_bytes(raw[-4:]) else 0


@st.composite
def lying_packets(draw: st.DrawFn) -> bytes:
    """Packets whose length field, preamble, counts or CRC field lie in one byte, CRC recomputed or not."""
    packet = bytearray(draw(teltonika_packets()))
    index = draw(st.sampled_from([0, 3, 4, 5, 6, 7, 8, 9, len(packet) - 5, len(packet) - 4, len(packet) - 3]))
    packet[index] ^= draw(st.sampled_from([0x01, 0x80, 0xFF]))
    if draw(st.booleans()) and index >= 8:
        packet[-4:] = crc16_arc_reference(packet[8:-4]).to_bytes(4)
    return bytes(packet)


@SETTINGS
@given(raw=st.one_of(teltonika_packets(), lying_packets(), st.binary(max_size=40)))
def test_teltonika_packet_check_kernel_equals_the_python_checks(raw: bytes) -> None:
    assert prepare_crc16_arc()
    kernel = teltonika._ArcKernel.packet_check
    assert kernel is not None
    assert kernel(raw) == reference_packet_check(raw), raw.hex()


def test_teltonika_packet_check_kernel_reads_whole_length_and_crc_fields() -> None:
    assert prepare_crc16_arc()
    kernel = teltonika._ArcKernel.packet_check
    assert kernel is not None
    data = bytes([CODEC_8_EXT, 1]) + bytes(range(256)) * 2 + bytes([1])  # a length field above 255
    packet = bytes(4) + len(data).to_bytes(4) + data + crc16_arc_reference(data).to_bytes(4)
    assert kernel(packet) == 1
    for index in (0, 4, 5, 6, 7, len(packet) - 4, len(packet) - 3, len(packet) - 2, len(packet) - 1):
        for bit in (0x01, 0x80):
            changed = bytearray(packet)
            changed[index] ^= bit
            assert kernel(bytes(changed)) == reference_packet_check(bytes(changed)) == 0


@SETTINGS
@given(packets=st.lists(st.one_of(teltonika_packets(), lying_packets()), min_size=1, max_size=3))
def test_teltonika_fast_path_without_the_kernel_equals_general_path(packets: list[bytes]) -> None:
    """Where numba is missing the fast path checks frames in Python: still the general path's answers."""
    prepare_crc16_arc()
    saved = teltonika._ArcKernel.packet_check
    teltonika._ArcKernel.packet_check = None
    try:
        fast, general = TeltonikaDecoder(device_id=IMEI), TeltonikaDecoder(device_id=IMEI)
        assert_same_decoding(fast, general, packets)
    finally:
        teltonika._ArcKernel.packet_check = saved


#: IO ids the layouts read as plain attributes (FMB table), and ids of no table (kept as ``io<id>``).
def _plain_ids(size: int) -> list[int]:
    """Ids of ``size`` the layouts read: plain attributes, alarm elements, and ids of no table."""
    table = teltonika._FMB_TABLE
    plain = [
        ident
        for ident, io in table.items()
        if io.size == size
        and (
            (io.convert in teltonika._NUMERIC and io.name not in teltonika._FINISHED_NAMES)
            or io.handler in teltonika._ALARM_HANDLERS
            or io.handler is teltonika._green_driving
        )
    ]
    return [*sorted(plain), 500, 9999]


_PLAIN_IDS: Final = {size: _plain_ids(size) for size in (1, 2, 4, 8)}


@st.composite
def plain_records(draw: st.DrawFn, codec: int, shape: int) -> bytes:
    """A record whose IO elements are all plain attributes; records of one ``shape`` share their ids."""
    rng = random.Random(shape)

    def io_map(size: int) -> dict[int, int]:
        ids = [i for i in _PLAIN_IDS[size] if codec == CODEC_8_EXT or i < 256]
        chosen = rng.sample(ids, rng.randint(0, min(4, len(ids))))
        values = st.one_of(st.integers(0, 3), st.integers(0, 2 ** (8 * size - (1 if size == 8 else 0)) - 1))
        return {i: draw(values) for i in chosen}

    return encode_record(
        codec,
        RecordToSend(
            time_utc=draw(st.datetimes(min_value=EARLIEST, max_value=datetime(2300, 1, 1), timezones=st.just(UTC))),  # noqa: DTZ001
            latitude=draw(st.floats(-90, 90)),
            longitude=draw(st.floats(-180, 180)),
            altitude_m=draw(st.integers(-1000, 9000)),
            heading_deg=draw(st.integers(0, 359)),
            satellites=draw(st.integers(0, 20)),
            speed_kmh=draw(st.integers(0, 2000)),
            priority=draw(st.integers(0, 2)),
            event_id=draw(st.sampled_from([0, 21, 66, 200])),
            io1=io_map(1),
            io2=io_map(2),
            io4=io_map(4),
            io8=io_map(8),
        ),
    )


@st.composite
def plain_packets(draw: st.DrawFn) -> bytes:
    codec = draw(st.sampled_from([CODEC_8, CODEC_8_EXT]))
    shape = draw(st.integers(0, 12))
    return build_avl_packet(codec, draw(st.lists(plain_records(codec, shape), min_size=1, max_size=4)))


@SETTINGS
@given(packets=st.lists(plain_packets(), min_size=1, max_size=4), model=st.sampled_from([None, "FMB130", "TAT100"]))
def test_teltonika_layout_path_answers_plain_packets_as_the_general_path(
    packets: list[bytes], model: str | None
) -> None:
    prepare_crc16_arc()
    fast, general = TeltonikaDecoder(device_id=IMEI, model=model), TeltonikaDecoder(device_id=IMEI, model=model)
    assert assert_same_decoding(fast, general, packets) == len(packets)
    threshold = RECEIVED + timedelta(seconds=fast.future_tolerance_s)
    for packet in packets:
        by_layout = teltonika._positions_by_layout(
            packet, 10, len(packet) - 5, packet[8], packet[9], model, IMEI, RECEIVED, threshold
        )
        assert by_layout is not None, "records of one shape and plain attributes take the layout path"
        assert canonical(by_layout) == canonical(general._decode_general(packet, RECEIVED))


def test_teltonika_layouts_tell_records_of_one_size_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    prepare_crc16_arc()
    monkeypatch.setattr(teltonika, "_LAYOUTS", {})
    base = RecordToSend(time_utc=T0, latitude=41.0, longitude=29.0, io2={66: 12_345})
    variants = [
        RecordToSend(time_utc=T0, latitude=41.0, longitude=29.0, io1={239: 1}, io2={66: 12_345}),
        RecordToSend(time_utc=T0, latitude=41.0, longitude=29.0, io1={240: 1}, io2={66: 12_345}),
        RecordToSend(time_utc=T0, latitude=41.0, longitude=29.0, io1={21: 3}, io2={67: 12_345}),
        RecordToSend(time_utc=T0, latitude=41.0, longitude=29.0, io1={252: 1}, io2={66: 12_345}),  # an alarm
        RecordToSend(time_utc=T0, latitude=41.0, longitude=29.0, io1={1: 1}, io2={66: 12_345}),  # an input
        base,
    ]
    packets = [build_avl_packet(CODEC_8_EXT, [encode_record(CODEC_8_EXT, v)]) for v in variants]
    packets += packets[::-1]  # each shape again, now from the cache
    packets.append(build_avl_packet(CODEC_8_EXT, [encode_record(CODEC_8_EXT, v) for v in variants[:3]]))
    fast, general = TeltonikaDecoder(device_id=IMEI), TeltonikaDecoder(device_id=IMEI)
    assert assert_same_decoding(fast, general, packets) == len(packets)
    kept = [layout for layouts in teltonika._LAYOUTS.values() for layout in layouts]
    assert 0 < len(kept) <= 2 * teltonika._LAYOUTS_PER_KEY
    assert any(layout.unpack is None for layout in kept), "the input record is left to the per-element reader"
    alarm = fast.decode(packets[3], RECEIVED)
    assert alarm[0].kind == "alarm"
    assert alarm[0].attributes["alarm"] == "power_cut"


def test_teltonika_layout_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    prepare_crc16_arc()
    monkeypatch.setattr(teltonika, "_LAYOUTS", {})
    monkeypatch.setattr(teltonika, "_LAYOUTS_MAX", 3)
    decoder, general = TeltonikaDecoder(device_id=IMEI), TeltonikaDecoder(device_id=IMEI)
    packets = [
        build_avl_packet(
            CODEC_8_EXT,
            [
                encode_record(
                    CODEC_8_EXT,
                    RecordToSend(time_utc=T0, latitude=1.0, longitude=2.0, io1=dict.fromkeys(range(500, 500 + k), 1)),
                )
            ],
        )
        for k in range(8)
    ]
    assert assert_same_decoding(decoder, general, packets) == len(packets)
    assert len(teltonika._LAYOUTS) <= 3


@SETTINGS
@given(value=st.integers(-(2**63), 2**64 - 1), factor=st.sampled_from([0.001, 0.01, 0.1]))
def test_rounded_cache_equals_round(value: int, factor: float) -> None:
    cache = teltonika._Rounded(factor)
    assert cache[value] == round(value * factor, 6)
    assert cache[value] == round(value * factor, 6)  # from the cache


def test_rounded_cache_is_emptied_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = teltonika._Rounded(0.001)
    monkeypatch.setattr(teltonika._Rounded, "LIMIT", 10)
    for value in range(25):
        assert cache[value] == round(value * 0.001, 6)
    assert len(cache) <= 10


@SETTINGS
@given(
    ms=st.one_of(
        st.integers(0, teltonika._EXACT_FROM_TIMESTAMP_MS - 1),
        st.integers(0, 10**6).map(lambda d: teltonika._EXACT_FROM_TIMESTAMP_MS - 1 - d),
    )
)
def test_from_timestamp_is_exact_below_the_bound(ms: int) -> None:
    assert teltonika._from_timestamp(ms / 1000, UTC) == teltonika._EPOCH + timedelta(milliseconds=ms)
    assert teltonika._from_timestamp(ms / 1000, UTC).tzinfo is UTC


def test_teltonika_layout_path_reads_times_beyond_the_bound() -> None:
    prepare_crc16_arc()
    beyond = teltonika._EPOCH + timedelta(milliseconds=teltonika._EXACT_FROM_TIMESTAMP_MS + 1_234)
    times = [beyond, datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)]
    packets = [
        build_avl_packet(
            CODEC_8, [encode_record(CODEC_8, RecordToSend(time_utc=t, latitude=1.0, longitude=2.0, io1={21: 2}))]
        )
        for t in times
    ]
    fast, general = TeltonikaDecoder(device_id=IMEI), TeltonikaDecoder(device_id=IMEI)
    assert assert_same_decoding(fast, general, packets) == len(packets)
    assert [m.position.time_utc for p in packets for m in fast.decode(p, RECEIVED) if m.position] == times

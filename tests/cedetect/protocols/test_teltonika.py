"""Teltonika: CRC-16/ARC, the decoders against traccar's real test vectors, the framer, frame builders, fuzzing.

The vectors come from ``shared/data/tracker_vectors`` (traccar's TeltonikaProtocolDecoderTest, see its
README).  Each TCP vector is decoded on a fresh decoder preset with the device id of the test's IMEI
handshake (traccar decodes them after that handshake), with the vector's ``config.model`` and
``config.extended``; the UDP vector (``config.connectionless``) on the datagram decoder.  A second test
replays each traccar test method in ``test_line`` order on one decoder that learns its id from the
handshake.
"""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cedetect import protocols
from cedetect.models import PositionFlag
from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    DecodeReason,
    FixToSend,
    FramingError,
    ProtocolDecoder,
)
from cedetect.protocols.teltonika import (
    ALARM_IO,
    CODEC_8,
    CODEC_8_EXT,
    CODEC_12,
    CODEC_13,
    CODEC_16,
    CODEC_GH3000,
    DEFAULT_MAX_FRAME_SIZE,
    KNOWN_CODECS,
    PING,
    RecordToSend,
    TeltonikaDatagramDecoder,
    TeltonikaDecoder,
    TeltonikaEncoder,
    TeltonikaFramer,
    build_avl_packet,
    build_command_packet,
    build_udp_packet,
    crc16_arc,
    encode_login,
    encode_record,
    is_fmb_model,
    parse_avl_frame,
    udp_ack,
)
from tests.cedetect.protocols.vectors import (
    DEVICE_ID,  # the IMEI of the handshake that opens traccar's test methods
    LATITUDES,
    LONGITUDES,
    RECEIVED,
    VECTORS_FILE,
    Mapped,
    assert_frame_checks_agree,
    assert_position_invariants,
    assert_refused,
    assert_resyncs_after_garbage,
    assert_split_at_every_byte,
    assert_tables_name_vectors,
    by_test_method,
    check_attributes,
    check_fix,
    chunked,
    driving_alarm_set,
    feed_all,
    frame_by_id,
    frame_check_failed,
    frames_of,
    fuzz_decode,
    load_vectors,
    mutated,
    parametrize_vectors,
    payload_bytes,
    positions_of,
    utc_times,
    vector_config,
)

PROTOCOL = "teltonika"


# -- traccar attribute names -> ours ----------------------------------------------------------------


def _milli(value: Any) -> float:
    return float(value) / 1000.0


#: traccar attribute -> ours (the attribute table is in the docstring of cedetect.protocols.teltonika).
ATTRIBUTE_MAP: dict[str, Mapped] = {
    "alarm": Mapped("alarm", driving_alarm_set),  # camelCase alarm names -> snake_case, compared as sets
    "event": Mapped("event"),
    "priority": Mapped("priority"),
    "sat": Mapped("satellites", field="satellites"),
    "hdop": Mapped("hdop", float, field="hdop"),
    "pdop": Mapped("pdop", float),
    "vdop": Mapped("vdop", float),
    "ignition": Mapped("ignition"),
    "motion": Mapped("motion"),
    "door": Mapped("door"),
    "rssi": Mapped("rssi"),
    "operator": Mapped("operator"),
    **{f"in{n}": Mapped("input", bool, bit=n - 1) for n in range(1, 5)},
    **{f"out{n}": Mapped("output", bool, bit=n - 1) for n in range(1, 3)},
    "power": Mapped("power_v", float),
    "battery": Mapped("battery_v", float),
    "batteryLevel": Mapped("battery_level"),
    "batteryCurrent": Mapped("battery_current_a", float),
    "odometer": Mapped("odometer_km", _milli),  # traccar: metres
    "tripOdometer": Mapped("trip_odometer_km", _milli),
    "obdOdometer": Mapped("obd_odometer_km", _milli),
    "axisX": Mapped("axis_x"),
    "axisY": Mapped("axis_y"),
    "axisZ": Mapped("axis_z"),
    **{f"bleTemp{n}": Mapped(f"ble_temp{n}_c", float) for n in range(1, 5)},
    **{f"temp{n}": Mapped(f"temp{n}_c", float) for n in range(1, 5)},
    **{f"eyeTemp{n}": Mapped(f"eye_temp{n}_c", float) for n in range(1, 5)},
    **{f"eyeHumidity{n}": Mapped(f"eye_humidity{n}_pct") for n in range(1, 5)},
    "adc1": Mapped("adc1_v", float),
    "adc2": Mapped("adc2_v", float),
    "iccid": Mapped("iccid"),
    "driverUniqueId": Mapped("driver_id"),
    "fuelUsed": Mapped("fuel_used_l", float),
    "fuelConsumption": Mapped("fuel_consumption", float),
    "fuel": Mapped("fuel_level", float),
    "fuelLevelPercentage": Mapped("fuel_level_pct"),
    "rpm": Mapped("rpm"),
    "obdSpeed": Mapped("obd_speed_kmh"),
    "throttle": Mapped("throttle_pct"),
    "coolantTemp": Mapped("coolant_temp_c"),
    "engineTemp": Mapped("engine_temp_c", float),
    "faultCount": Mapped("fault_count"),
    "dataMode": Mapped("data_mode"),
    "sleepMode": Mapped("sleep_mode"),
    "cngStatus": Mapped("cng_status"),
    "cngUsed": Mapped("cng_used", float),
    "cngLevel": Mapped("cng_level"),
    "oilLevel": Mapped("oil_level"),
    "vin": Mapped("vin"),
    "dtcs": Mapped("dtcs"),
    "result": Mapped("result"),
    "type": Mapped("message_type"),
    **{f"axle{n}": Mapped(f"axle{n}", float) for n in range(1, 9)},
    "loadTruck": Mapped("load_truck", float),
    "loadTrailer": Mapped("load_trailer", float),
    "totalTruck": Mapped("total_truck", float),
    "totalTrailer": Mapped("total_trailer", float),
    "usbConnected": Mapped("usb_connected"),
    "uptime": Mapped("uptime_s"),
    "button": Mapped("button"),
    "roaming": Mapped("roaming"),
    **{
        f"tag{n}{key}": mapped
        for n in range(1, 11)
        for key, mapped in {
            "Rssi": Mapped(f"tag{n}_rssi"),
            "Id": Mapped(f"tag{n}_id"),
            "LowBattery": Mapped(f"tag{n}_low_battery", bool),
            "Voltage": Mapped(f"tag{n}_voltage_v", _milli),  # traccar: mV
            "Battery": Mapped(f"tag{n}_battery_v", _milli),  # traccar: mV
        }.items()
    },
    **{
        f"beacon{n}{key}": mapped
        for n in range(1, 11)
        for key, mapped in {
            "Uuid": Mapped(f"beacon{n}_uuid"),
            "Major": Mapped(f"beacon{n}_major"),
            "Minor": Mapped(f"beacon{n}_minor"),
            "Namespace": Mapped(f"beacon{n}_namespace"),
            "Instance": Mapped(f"beacon{n}_instance"),
            "Rssi": Mapped(f"beacon{n}_rssi"),
            "Battery": Mapped(f"beacon{n}_battery_v", float),
            "Temp": Mapped(f"beacon{n}_temp"),
        }.items()
    },
}

#: traccar's ``io<id>`` for ids traccar names only with an FMB model, which this decoder names by default
#: (when the record gives the id its FMB width; otherwise it stays ``io<id>`` here too).
IO_NAMES: dict[int, Mapped] = {
    9: Mapped("adc1_v", _milli),
    10: Mapped("adc2_v", _milli),
    13: Mapped("fuel_consumption", lambda raw: raw * 0.01),
    30: Mapped("fault_count"),
    68: Mapped("battery_current_a", _milli),
    69: Mapped("gnss_status"),
    80: Mapped("data_mode"),
    81: Mapped("obd_speed_kmh"),
    82: Mapped("throttle_pct"),
    84: Mapped("fuel_level", lambda raw: raw * 0.1),
    85: Mapped("rpm"),
    87: Mapped("obd_odometer_km", _milli),
    89: Mapped("fuel_level_pct"),
    113: Mapped("battery_level"),
    200: Mapped("sleep_mode"),
    205: Mapped("cell_id"),
    206: Mapped("lac"),
    234: Mapped("cng_level"),
    235: Mapped("oil_level"),
    318: Mapped("gnss_jamming"),
    636: Mapped("cell_id"),
}

#: traccar attributes this decoder does not produce, with the reason.  An asserted attribute that
#: is neither here nor mapped fails the test.
UNSUPPORTED: dict[str, str] = {
    "image": "codec 12 camera chunks are reported but not requested or reassembled into photos",
}


def _mapping(key: str) -> Mapped | None:
    if key in ATTRIBUTE_MAP:
        return ATTRIBUTE_MAP[key]
    match = re.fullmatch(r"io(\d+)", key)
    if match is not None:
        return IO_NAMES.get(int(match.group(1)), Mapped(key))
    return None


def _same_type(got: Any, want: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return isinstance(got, bool) and isinstance(want, bool)
    if isinstance(want, float):
        return isinstance(got, float)
    return type(got) is type(want)


def _check_attributes(expected: dict[str, Any], java_types: dict[str, str], messages: list[DecodedMessage]) -> None:
    """traccar's attribute checks; every value we compare also has the type traccar's has."""

    def same_type(key: str, mapped: Mapped, got: Any, want: Any) -> None:
        assert _same_type(got, want), f"{mapped.name}: {got!r} vs traccar {expected[key]!r} ({java_types.get(key)})"

    check_attributes(expected, messages, _mapping, unsupported=UNSUPPORTED, extra=same_type)


# -- vectors --------------------------------------------------------------------------------------

VECTORS = load_vectors("teltonika")

#: Vectors we cannot decode, with the reason.  Empty: every vector decodes or is refused by name.
SKIPS: dict[str, str] = {}


def _tcp_codec(raw: bytes) -> int | None:
    """The codec of a TCP AVL packet, None for a handshake or keep-alive."""
    return raw[8] if len(raw) > 9 and raw[:4] == b"\x00\x00\x00\x00" else None


def _decoder_for(vector: dict[str, Any], device_id: str | None = DEVICE_ID) -> ProtocolDecoder:
    config = vector_config(vector)
    if config.get("connectionless"):
        return TeltonikaDatagramDecoder(model=config.get("model"), extended=config.get("extended"))
    return TeltonikaDecoder(device_id=device_id, model=config.get("model"), extended=config.get("extended"))


def _check_acks(vector: dict[str, Any], raw: bytes, messages: list[DecodedMessage]) -> None:
    """The answers traccar sends: 01 for a handshake, the record count for AVL data, none else."""
    responses = [m.response for m in messages]
    if vector_config(vector).get("connectionless"):
        expected = udp_ack(int.from_bytes(raw[2:4]), raw[5], raw[8 + int.from_bytes(raw[6:8]) + 1])
        assert responses == [expected] + [None] * (len(messages) - 1)
        return
    codec = _tcp_codec(raw)
    if raw == PING:
        assert responses == [None]
    elif codec is None:
        assert responses == [b"\x01"]
    elif codec in (CODEC_12, CODEC_13):
        assert responses == [None] * len(messages)
    else:
        assert responses == [raw[9].to_bytes(4)] + [None] * (len(messages) - 1)


def test_vectors_are_present() -> None:
    assert VECTORS_FILE.is_file(), f"missing {VECTORS_FILE}"
    assert len(VECTORS) >= 40


@parametrize_vectors(VECTORS)
def test_traccar_vector(vector: dict[str, Any]) -> None:
    if vector["id"] in SKIPS:
        pytest.skip(SKIPS[vector["id"]])
    raw = payload_bytes(vector)
    decoder = _decoder_for(vector)

    if frame_check_failed(vector):
        assert_refused(decoder, raw, DecodeReason.BAD_CHECKSUM)
        return

    messages = decoder.decode(raw, RECEIVED)
    assert messages, "a frame that passes the checks decodes to at least one message"
    codec = None if vector_config(vector).get("connectionless") else _tcp_codec(raw)
    for message in messages:
        assert message.raw == raw
        assert_position_invariants(message, PROTOCOL)
    _check_acks(vector, raw, messages)
    if vector_config(vector).get("connectionless"):
        expected_id = raw[8 : 8 + int.from_bytes(raw[6:8])].decode()  # each datagram names its device
    elif codec is None and raw != PING:
        expected_id = raw[2:].decode()  # the handshake names the device
    else:
        expected_id = DEVICE_ID
    assert {m.device_id for m in messages} == {expected_id}

    positions = positions_of(messages)
    expect = vector["expect"]
    if codec in (CODEC_12, CODEC_13):
        # traccar fills a command reply with the last known location; it has no fix of its own
        assert not positions
        assert {m.kind for m in messages} <= {"command_reply", "photo"}
        assert vector.get("check_location") is False or expect in ("attributes", "no_position")
    elif expect == "no_position":
        assert not positions
        assert {m.kind for m in messages} <= {"login", "heartbeat"}
    elif expect in ("position", "positions", "attributes"):
        assert positions, "traccar decodes a fix from this frame"
        assert len(messages) == raw[9 if codec is not None else 8 + int.from_bytes(raw[6:8]) + 1]

    checks = dict(vector.get("checks") or {})
    check_fix(checks, positions)
    _check_attributes(checks.get("attributes") or {}, checks.get("java_types") or {}, messages)


METHODS = by_test_method(VECTORS)


@pytest.mark.parametrize(("method", "vectors"), METHODS, ids=[m for m, _ in METHODS])
def test_traccar_method_replayed_on_one_connection(method: str, vectors: list[dict[str, Any]]) -> None:
    """As traccar's test does: one decoder per test method; its handshake gives the id to what follows."""
    decoder = _decoder_for(vectors[0], device_id=None)
    learnt: set[str] = set()
    for vector in vectors:
        config = vector_config(vector)
        decoder.model = config.get("model")
        assert isinstance(decoder, TeltonikaDecoder | TeltonikaDatagramDecoder)
        decoder.extended = config.get("extended")
        raw = payload_bytes(vector)
        if frame_check_failed(vector):
            with pytest.raises(DecodeError) as caught:
                decoder.decode(raw, RECEIVED)
            assert caught.value.reason == DecodeReason.BAD_CHECKSUM
            continue
        messages = decoder.decode(raw, RECEIVED)
        learnt |= {m.device_id for m in messages if m.device_id is not None}
    assert len(learnt) == 1, f"{method}: {learnt}"


def test_every_vector_is_accounted_for() -> None:
    """Each vector decodes, is refused as bad_checksum, or is skipped with a reason."""
    decoded = refused = 0
    for vector in VECTORS:
        raw = payload_bytes(vector)
        error = _error_of(_decoder_for(vector), raw)
        if error is None:
            decoded += 1
        else:
            assert frame_check_failed(vector), vector["id"]
            assert error.reason == DecodeReason.BAD_CHECKSUM, vector["id"]
            refused += 1
    assert decoded + refused == len(VECTORS)
    assert refused == sum(frame_check_failed(v) for v in VECTORS)
    assert not SKIPS


def _error_of(decoder: ProtocolDecoder, raw: bytes) -> DecodeError | None:
    try:
        decoder.decode(raw, RECEIVED)
    except DecodeError as exc:
        return exc
    return None


def test_vector_tables_name_real_vectors() -> None:
    assert_tables_name_vectors(VECTORS, SKIPS)


# -- checked values of vectors (beyond what traccar asserts) ----------------------------------------


def test_codec8e_two_records_with_cell_and_operator() -> None:
    """teltonika-002: two codec 8E records; the first has the FMB IO set, the second an unknown X-byte element."""
    first, second = TeltonikaDecoder(device_id=DEVICE_ID).decode(frame_by_id(VECTORS, "teltonika-002"), RECEIVED)
    assert first.position is not None
    assert second.position is not None
    p = first.position
    assert p.time_utc == datetime(2025, 6, 13, 15, 18, 7, tzinfo=UTC)
    assert (p.latitude, p.longitude) == pytest.approx((41.4349316, 2.2190583), abs=1e-7)
    assert (p.altitude_m, p.heading_deg, p.satellites, p.speed_kmh, p.hdop) == (24.0, 119.0, 8, 0.0, 1.2)
    a = first.attributes
    assert (a["ignition"], a["motion"], a["power_v"], a["odometer_km"]) == (True, False, 14.548, 61.383)
    assert (a["input"], a["output"], a["operator"], a["mcc"], a["mnc"]) == (1, 2, 21403, 214, 3)
    assert second.position.time_utc == datetime(2025, 6, 13, 15, 17, 50, 11000, tzinfo=UTC)
    assert second.attributes["event"] == 11317
    assert str(second.attributes["io11317"]).startswith("0124050f4e65766572615f33")


def test_gh3000_records_with_and_without_fix() -> None:
    """teltonika-032: codec 7; a record without the location section has no position."""
    messages = TeltonikaDecoder(device_id=DEVICE_ID).decode(frame_by_id(VECTORS, "teltonika-032"), RECEIVED)
    assert [m.kind for m in messages] == ["status", "location", "location", "location"]
    assert messages[0].position is None
    assert messages[0].attributes["device_time"] == "2015-11-10T21:35:46+00:00"
    fix = messages[1].position
    assert fix is not None
    assert (fix.latitude, fix.longitude) == pytest.approx((44.7913055, 18.4797592), abs=1e-6)
    assert fix.time_utc == datetime(2015, 11, 10, 21, 51, 47, tzinfo=UTC)
    assert messages[0].response == (4).to_bytes(4)


def test_codec12_and_13_replies() -> None:
    decoder = TeltonikaDecoder(device_id=DEVICE_ID)
    (axles,) = decoder.decode(frame_by_id(VECTORS, "teltonika-017"), RECEIVED)
    assert axles.kind == "command_reply"
    assert (axles.attributes["axle1"], axles.attributes["total_truck"]) == (6.4, 10.7)
    (text,) = decoder.decode(frame_by_id(VECTORS, "teltonika-040"), RECEIVED)
    assert text.attributes["result"] == "#FM2=262032761721396,26203,07.02.05"
    (binary,) = decoder.decode(frame_by_id(VECTORS, "teltonika-018"), RECEIVED)
    assert binary.attributes["result"] == "010300010015d5c5"
    (driver,) = decoder.decode(frame_by_id(VECTORS, "teltonika-006"), RECEIVED)
    assert driver.attributes == {
        "message_type": 6,
        "device_time": "2023-04-03T20:45:05+00:00",
        "driver_id": "12749884",
    }
    (stamped,) = decoder.decode(frame_by_id(VECTORS, "teltonika-016"), RECEIVED)
    # an 8-byte millisecond timestamp where the specification has 4 bytes of seconds
    assert stamped.attributes["device_time"] == "2019-07-19T13:52:52+00:00"
    assert stamped.attributes["result"] == "getinfo"


def test_codec12_camera_packets() -> None:
    decoder = TeltonikaDecoder(device_id=DEVICE_ID)
    announce = build_command_packet(CODEC_12, 0x0D, b"\x01" + (77).to_bytes(4) + (5000).to_bytes(4))
    (photo,) = decoder.decode(announce, RECEIVED)
    assert (photo.kind, photo.attributes["photo_id"], photo.attributes["photo_size_bytes"]) == ("photo", 77, 5000)
    chunk = build_command_packet(CODEC_12, 0x0D, b"\x02" + (77).to_bytes(4) + (0).to_bytes(4) + b"\x00\x03abc")
    (part,) = decoder.decode(chunk, RECEIVED)
    assert (part.attributes["chunk_offset"], part.attributes["chunk_length"], part.response) == (0, 3, None)


def test_fmb_model_gates_fmb_io_ids() -> None:
    """teltonika-045: FMB130 (or no model) names EYE sensor ids; another family keeps them as io<id>."""
    raw = frame_by_id(VECTORS, "teltonika-045")
    (fmb,) = TeltonikaDecoder(device_id=DEVICE_ID, model="FMB130").decode(raw, RECEIVED)
    assert (fmb.attributes["eye_temp1_c"], fmb.attributes["eye_humidity1_pct"]) == (-11.87, 73)
    (default,) = TeltonikaDecoder(device_id=DEVICE_ID).decode(raw, RECEIVED)
    assert default.attributes == fmb.attributes
    (other,) = TeltonikaDecoder(device_id=DEVICE_ID, model="TAT100").decode(raw, RECEIVED)
    assert other.attributes["io10800"] == 0xFB5D
    assert "eye_temp1_c" not in other.attributes
    assert "gnss_status" not in other.attributes
    assert other.attributes["power_v"] == 12.458  # common ids keep their names
    assert [is_fmb_model(m) for m in (None, "FMB920", "GH3000")] == [True, True, False]


def test_io_width_other_than_fmb_keeps_the_raw_id() -> None:
    """teltonika-009 (codec 16, not an FMB layout): IO 113 in 4 bytes is not an FMB battery level."""
    messages = TeltonikaDecoder(device_id=DEVICE_ID).decode(frame_by_id(VECTORS, "teltonika-009"), RECEIVED)
    assert len(messages) == 4
    assert "battery_level" not in messages[0].attributes
    assert messages[0].attributes["io113"] == 4294806661
    assert messages[0].attributes["alarm"] == "hard_braking"  # 253 = 2: green driving, braking
    assert messages[0].kind == "alarm"


def test_dallas_error_codes_are_not_temperatures() -> None:
    """teltonika-026: Dallas sensors report 3000 (not connected) in the temperature ids."""
    (message,) = TeltonikaDecoder(device_id=DEVICE_ID).decode(frame_by_id(VECTORS, "teltonika-026"), RECEIVED)
    assert "temp1_c" not in message.attributes
    assert message.attributes["temp1_error"] == "not_connected"


def test_extended_records_detected_or_forced() -> None:
    raw = frame_by_id(VECTORS, "teltonika-047")
    forced = TeltonikaDecoder(device_id=DEVICE_ID, extended=True).decode(raw, RECEIVED)
    detected = TeltonikaDecoder(device_id=DEVICE_ID).decode(raw, RECEIVED)
    assert len(forced) == len(detected) == 11
    assert [m.attributes for m in forced] == [m.attributes for m in detected]
    assert forced[0].attributes["io203"] == "00" * 16
    with pytest.raises(DecodeError) as caught:
        TeltonikaDecoder(device_id=DEVICE_ID, extended=False).decode(raw, RECEIVED)
    assert caught.value.reason in (DecodeReason.MALFORMED, DecodeReason.TRUNCATED, DecodeReason.INVALID_TIME)
    assert caught.value.raw == raw


def test_udp_datagram_and_ack() -> None:
    raw = frame_by_id(VECTORS, "teltonika-052")
    (message,) = TeltonikaDatagramDecoder().decode(raw, RECEIVED)
    assert message.device_id == "357454072713975"
    assert message.response == bytes.fromhex("0005cafe012201")
    assert message.position is not None
    assert message.position.time_utc == datetime(2017, 7, 12, 15, 24, 41, tzinfo=UTC)
    with pytest.raises(DecodeError) as caught:
        TeltonikaDatagramDecoder().decode(raw[:-1], RECEIVED)
    assert caught.value.reason == DecodeReason.TRUNCATED
    with pytest.raises(DecodeError) as caught:
        TeltonikaDatagramDecoder().decode(raw + b"\x00", RECEIVED)
    assert caught.value.reason == DecodeReason.BAD_LENGTH


# -- CRC and frame checks ---------------------------------------------------------------------------


def test_crc_check_value() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D
    assert crc16_arc(b"") == 0


def test_crc_of_real_frames() -> None:
    checked = assert_frame_checks_agree(VECTORS, lambda raw: crc16_arc(raw[8:-4]) == int.from_bytes(raw[-4:]))
    assert checked >= 35


SMALL = bytes.fromhex(
    "000000000000002b080100000140d4e3ec6e000cc661d01674a5e0fffc00000900000004020100f0000242322318000000000100007a04"
)


def _with_crc(frame: bytes) -> bytes:
    return frame[:-4] + crc16_arc(frame[8:-4]).to_bytes(4)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", DecodeReason.TRUNCATED),
        (b"\x00", DecodeReason.TRUNCATED),
        (SMALL[:14], DecodeReason.TRUNCATED),
        (b"\x00\x00\x00\x01" + SMALL[4:], DecodeReason.BAD_START_BYTES),
        (SMALL[:20] + bytes([SMALL[20] ^ 0x01]) + SMALL[21:], DecodeReason.BAD_CHECKSUM),
        (SMALL[:-2] + b"\x00\x00", DecodeReason.BAD_CHECKSUM),
        (_with_crc(SMALL[:7] + b"\x2c" + SMALL[8:]), DecodeReason.BAD_LENGTH),
        (_with_crc(SMALL[:-5] + b"\x02" + SMALL[-4:]), DecodeReason.MALFORMED),
        (_with_crc(SMALL[:8] + b"\x09" + SMALL[9:]), DecodeReason.UNKNOWN_MESSAGE_TYPE),
        (_with_crc(SMALL[:7] + b"\x2d" + SMALL[8:-5] + b"\x00\x00" + SMALL[-5:]), DecodeReason.MALFORMED),
        (b"\x00\x0f" + b"1234567890", DecodeReason.TRUNCATED),
        (b"\x00\x03" + b"1234", DecodeReason.BAD_LENGTH),
        (b"\x00\x03" + b"a b", DecodeReason.INVALID_DEVICE_ID),
    ],
)
def test_frame_integrity(frame: bytes, reason: str) -> None:
    assert_refused(TeltonikaDecoder(device_id=DEVICE_ID), frame, reason)


def test_data_before_handshake_is_refused_then_handshake_names_the_device() -> None:
    decoder = TeltonikaDecoder()
    with pytest.raises(DecodeError) as caught:
        decoder.decode(SMALL, RECEIVED)
    assert caught.value.reason == DecodeReason.NO_DEVICE_ID
    assert caught.value.raw == SMALL
    (ping,) = decoder.decode(PING, RECEIVED)
    assert (ping.kind, ping.device_id, ping.response) == ("heartbeat", None, None)
    (login,) = decoder.decode(encode_login("356307042441013"), RECEIVED)
    assert (login.kind, login.device_id, login.response, login.position) == ("login", "356307042441013", b"\x01", None)
    (location,) = decoder.decode(SMALL, RECEIVED)
    assert location.device_id == "356307042441013"
    assert location.position is not None
    assert location.position.device_id == "356307042441013"
    assert location.response == b"\x00\x00\x00\x01"


def test_out_of_range_fix_and_time_are_named() -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    bad_lat = encode_record(CODEC_8, RecordToSend(time_utc=t, latitude=10.0, longitude=10.0))
    bad_lat = bad_lat[:13] + (1_000_000_000).to_bytes(4) + bad_lat[17:]  # latitude 100 degrees
    with pytest.raises(DecodeError) as caught:
        TeltonikaDecoder(device_id=DEVICE_ID).decode(build_avl_packet(CODEC_8, [bad_lat]), RECEIVED)
    assert caught.value.reason == DecodeReason.INVALID_COORDINATES
    bad_time = b"\xff" * 8 + bad_lat[8:]
    with pytest.raises(DecodeError) as caught:
        TeltonikaDecoder(device_id=DEVICE_ID).decode(build_avl_packet(CODEC_8, [bad_time]), RECEIVED)
    assert caught.value.reason == DecodeReason.INVALID_TIME


def test_zero_invalid_and_future_fixes_are_flagged() -> None:
    record = RecordToSend(time_utc=RECEIVED + timedelta(hours=1), latitude=0.0, longitude=0.0, satellites=0)
    (message,) = TeltonikaDecoder(device_id=DEVICE_ID).decode(
        build_avl_packet(CODEC_8, [encode_record(CODEC_8, record)]), RECEIVED
    )
    assert message.position is not None
    assert set(message.position.flags) == {
        PositionFlag.FUTURE_TIME,
        PositionFlag.INVALID_FIX,
        PositionFlag.ZERO_COORDINATES,
    }


@pytest.mark.parametrize("codec", [CODEC_8, CODEC_8_EXT, CODEC_16])
def test_io_elements_of_every_codec(codec: int) -> None:
    t = datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    wide = {} if codec == CODEC_8 else {10800: 0xFF38}  # 2-byte ids exist in codecs 8E and 16 only
    record = RecordToSend(
        time_utc=t,
        latitude=-33.123,
        longitude=-70.5,
        heading_deg=359,
        event_id=252,
        io1={1: 1, 2: 0, 3: 1, 179: 1, 252: 1, 247: 1, 253: 3, 69: 1},
        io2={66: 24_123, 182: 12, 9: 4321, **wide},
        io4={16: 123_456, 72: 0xFFFFFF9C},
        io8={78: int.from_bytes(bytes.fromhex("0123456789abcdef"), "little"), 99: 2**64 - 1},
    )
    (message,) = TeltonikaDecoder(device_id=DEVICE_ID).decode(
        build_avl_packet(codec, [encode_record(codec, record)]), RECEIVED
    )
    a = message.attributes
    assert message.kind == "alarm"
    assert (a["event"], a["input"], a["output"], a["power_v"], a["odometer_km"]) == (252, 5, 1, 24.123, 123.456)
    assert set(a["alarm"].split(",")) == {"accident", "power_cut", "hard_cornering"}  # type: ignore[union-attr]
    assert (a["adc1_v"], a["temp1_c"], a["driver_id"], a["io99"], a["gnss_status"]) == (
        4.321,
        -10.0,
        "0123456789ABCDEF",
        -1,
        1,
    )
    assert message.position is not None
    assert (message.position.time_utc, message.position.heading_deg, message.position.hdop) == (t, 359.0, 1.2)
    if wide:
        assert a["eye_temp1_c"] == -2.0


def test_fm6_driver_gnss_jamming_and_gh3000_sos() -> None:
    t = datetime(2025, 1, 1, tzinfo=UTC)
    driver = b"DRV0000012345678"
    record = RecordToSend(
        time_utc=t,
        latitude=1.0,
        longitude=2.0,
        io1={239: 1},
        io8={195: int.from_bytes(driver[:8]), 196: int.from_bytes(driver[8:])},
    )
    packet = build_avl_packet(CODEC_8, [encode_record(CODEC_8, record)])
    (fm6,) = TeltonikaDecoder(device_id=DEVICE_ID, model="FMB640").decode(packet, RECEIVED)
    assert fm6.attributes["driver_id"] == "DRV0000012345678"
    (fmb,) = TeltonikaDecoder(device_id=DEVICE_ID).decode(packet, RECEIVED)
    assert "driver_id" not in fmb.attributes

    jammed = RecordToSend(time_utc=t, latitude=1.0, longitude=2.0, event_id=318, io1={318: 2})
    (message,) = TeltonikaDecoder(device_id=DEVICE_ID).decode(
        build_avl_packet(CODEC_8_EXT, [encode_record(CODEC_8_EXT, jammed)]), RECEIVED
    )
    assert (message.kind, message.attributes["alarm"], message.attributes["gnss_jamming"]) == ("alarm", "jamming", 2)

    # GH3000: time since 2007, location mask 0x1F (coordinates, altitude, angle, speed, satellites), IO 222 = SOS
    seconds = int((t - datetime(2007, 1, 1, tzinfo=UTC)).total_seconds())
    gh = (
        seconds.to_bytes(4)
        + b"\x03\x1f"
        + struct.pack(">ff", 41.5, 26.5)
        + b"\x00\x64\x40\x32\x07"
        + b"\x02\xde\x01\x01\x55"
    )
    (sos,) = TeltonikaDecoder(device_id=DEVICE_ID).decode(build_avl_packet(CODEC_GH3000, [gh]), RECEIVED)
    assert sos.position is not None
    assert (sos.position.time_utc, sos.position.heading_deg, sos.position.speed_kmh) == (t, 90.0, 50.0)
    assert (sos.position.altitude_m, sos.position.satellites) == (100.0, 7)
    assert (sos.kind, sos.attributes["alarm"], sos.attributes["battery_level"]) == ("alarm", "sos", 85)


def test_variable_length_elements() -> None:
    t = datetime(2025, 1, 1, tzinfo=UTC)
    beacons = bytes.fromhex("01") + bytes([0x23]) + bytes(range(16)) + b"\x00\x05\x00\x06" + b"\xc4" + b"\x01\x2c"
    eddystone = bytes([0x06]) + bytes(10) + bytes(6) + b"\xd0" + b"\x01\x2c" + b"\x00\x15"
    record = RecordToSend(
        time_utc=t,
        latitude=1.0,
        longitude=2.0,
        io_var={256: b"WV1ZZZ2EZ86015388", 281: b"P0299,P0675", 385: beacons + eddystone, 4000: b"\xab\xcd"},
    )
    (message,) = TeltonikaDecoder(device_id=DEVICE_ID).decode(
        build_avl_packet(CODEC_8_EXT, [encode_record(CODEC_8_EXT, record)]), RECEIVED
    )
    a = message.attributes
    assert (a["vin"], a["dtcs"], a["io4000"]) == ("WV1ZZZ2EZ86015388", "P0299 P0675", "abcd")
    assert (a["beacon1_uuid"], a["beacon1_major"], a["beacon1_minor"]) == (bytes(range(16)).hex(), 5, 6)
    assert (a["beacon1_rssi"], a["beacon1_battery_v"]) == (-60, 3.0)
    assert (a["beacon2_namespace"], a["beacon2_rssi"], a["beacon2_battery_v"], a["beacon2_temp"]) == (
        "00" * 10,
        -48,
        3.0,
        21,
    )


# -- framer ------------------------------------------------------------------------------------------

GOOD_FRAMES = [
    payload_bytes(v)
    for v in VECTORS
    if not frame_check_failed(v)
    and v.get("frame_check_derived") is not None
    and not vector_config(v).get("connectionless")
]
LOGIN = encode_login(DEVICE_ID)
SHORT_FRAMES = [
    LOGIN,
    SMALL,
    PING,
    frame_by_id(VECTORS, "teltonika-025") if VECTORS else SMALL,
    PING,
    frame_by_id(VECTORS, "teltonika-040"),
]


def _items(framer: TeltonikaFramer, chunks: list[bytes]) -> list[bytes | FramingError]:
    return [*feed_all(framer, chunks), *framer.flush()]


def test_framer_cuts_real_frames_at_every_split() -> None:
    assert_split_at_every_byte(TeltonikaFramer, SHORT_FRAMES)


def test_framer_byte_by_byte_all_vectors() -> None:
    stream = LOGIN + b"".join(GOOD_FRAMES)
    items = _items(TeltonikaFramer(), chunked(stream, 1))
    assert items == [LOGIN, *GOOD_FRAMES]


def test_framer_hands_on_bad_crc_frames_and_reports_garbage() -> None:
    bad = SMALL[:-1] + bytes([SMALL[-1] ^ 0xFF])
    items = _items(TeltonikaFramer(), [LOGIN + bad + b"junk!" + SMALL])
    assert items[:2] == [LOGIN, bad]
    assert items[2] == FramingError("garbage", b"junk!", "bytes that start no frame")
    assert items[3] == SMALL
    with pytest.raises(DecodeError) as caught:
        TeltonikaDecoder(device_id=DEVICE_ID).decode(bad, RECEIVED)
    assert caught.value.reason == DecodeReason.BAD_CHECKSUM


def test_framer_keepalive_only_at_a_frame_boundary() -> None:
    items = _items(TeltonikaFramer(), [PING + SMALL + PING + b"\x01\xff\xff" + SMALL + PING])
    assert frames_of(items) == [PING, SMALL, PING, SMALL, PING]
    (garbage,) = [item for item in items if isinstance(item, FramingError)]
    assert garbage.raw == b"\x01\xff\xff"


def test_framer_oversized_and_truncated() -> None:
    framer = TeltonikaFramer(max_frame_size=256)
    header = b"\x00\x00\x00\x00" + (10_000).to_bytes(4) + bytes([CODEC_8, 1])
    items = framer.feed(header + SMALL)
    assert isinstance(items[0], FramingError)
    assert items[0].reason == "frame_too_long"
    assert items[-1] == SMALL
    assert framer.feed(SMALL[:20]) == []
    assert framer.buffered == 20
    (held,) = framer.flush()
    assert (held.reason, held.raw) == ("truncated", SMALL[:20])


def test_framer_drops_a_junk_header_holding_up_a_real_frame() -> None:
    junk = b"\x00\x00\x00\x00\x00\x00\x01\x00\x08\x01"  # a header announcing 256 bytes
    framer = TeltonikaFramer()
    items = framer.feed(junk + SMALL)
    assert isinstance(items[0], FramingError)
    assert items[0].raw == junk
    assert items[1:] == [SMALL]
    assert framer.buffered == 0


garbage_bytes = st.binary(min_size=1, max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.integers(min_value=0, max_value=max(len(GOOD_FRAMES) - 1, 0)), min_size=1, max_size=5),
    garbage=st.lists(garbage_bytes, min_size=5, max_size=5),
    cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=8),
)
def test_framer_resyncs_after_garbage(picks: list[int], garbage: list[bytes], cuts: list[int]) -> None:
    frames = [LOGIN] + [GOOD_FRAMES[i] for i in picks]
    stream = b""
    for frame, junk in zip(frames, [*garbage, b""], strict=False):
        stream += frame + junk
    stream = garbage[-1] + stream
    points = {min(c, len(stream)) for c in cuts}
    # every byte comes back, as a frame or as a framing error; garbage may hold keep-alives
    assert_resyncs_after_garbage(TeltonikaFramer, frames, stream, points, keep=lambda f: f != PING)


# -- fuzzing: only DecodeError may come out ---------------------------------------------------------


def _decode_all(decoder: ProtocolDecoder, frame: bytes) -> None:
    fuzz_decode(lambda: decoder, frame, PROTOCOL)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_all(TeltonikaDecoder(device_id=DEVICE_ID), data)
    _decode_all(TeltonikaDatagramDecoder(), data)
    _decode_all(TeltonikaDecoder(device_id=DEVICE_ID), b"\x00\x00\x00\x00" + len(data).to_bytes(4) + data + b"\0" * 4)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    codec=st.sampled_from(sorted(KNOWN_CODECS)),
    count=st.integers(min_value=0, max_value=4),
    body=st.binary(max_size=200),
    extended=st.sampled_from([None, True, False]),
    model=st.sampled_from([None, "FMB130", "TAT100", "FMB640"]),
)
def test_fuzz_well_framed_random_records(
    codec: int, count: int, body: bytes, extended: bool | None, model: str | None
) -> None:
    """Packets that pass every integrity check but carry junk records: each codec reader must cope."""
    data = bytes([codec, count]) + body + bytes([count])
    frame = b"\x00\x00\x00\x00" + len(data).to_bytes(4) + data + crc16_arc(data).to_bytes(4)
    _decode_all(TeltonikaDecoder(device_id=DEVICE_ID, model=model, extended=extended), frame)
    datagram = b"\x00\x01\x01\x05\x00\x0f" + DEVICE_ID.encode() + data
    _decode_all(TeltonikaDatagramDecoder(model=model), len(datagram).to_bytes(2) + datagram)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=max(len(GOOD_FRAMES) - 1, 0)), data=st.data())
def test_fuzz_mutated_real_frames(index: int, data: st.DataObject) -> None:
    frame = bytearray(GOOD_FRAMES[index])
    payload = mutated(data, frame[8:-4])
    payload = payload[: data.draw(st.integers(min_value=0, max_value=len(payload)))]
    rebuilt = b"\x00\x00\x00\x00" + len(payload).to_bytes(4) + bytes(payload) + crc16_arc(payload).to_bytes(4)
    _decode_all(TeltonikaDecoder(device_id=DEVICE_ID), rebuilt)  # well framed, mutated content
    frame[8 : len(frame) - 4] = payload + bytes(len(frame) - 12 - len(payload))
    _decode_all(TeltonikaDecoder(device_id=DEVICE_ID), bytes(frame))  # old CRC: usually bad_checksum


# -- encoder round trip -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    time_utc=utc_times(),
    latitude=LATITUDES,
    longitude=LONGITUDES,
    speed=st.integers(min_value=0, max_value=300),
    heading=st.integers(min_value=0, max_value=359),
    satellites=st.integers(min_value=1, max_value=30),
    valid=st.booleans(),
    ignition=st.booleans(),
    odometer=st.none() | st.integers(min_value=0, max_value=4_000_000),  # km
    alarm=st.none() | st.sampled_from(sorted(ALARM_IO)),
    codec=st.sampled_from([CODEC_8, CODEC_8_EXT, CODEC_16]),
    imei=st.from_regex(r"[0-9]{15}", fullmatch=True),
)
def test_encode_frame_decode_roundtrip(
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed: int,
    heading: int,
    satellites: int,
    valid: bool,
    ignition: bool,
    odometer: int | None,
    alarm: str | None,
    codec: int,
    imei: str,
) -> None:
    fix = FixToSend(
        time_utc=time_utc,
        latitude=latitude,
        longitude=longitude,
        speed_kmh=speed,
        heading_deg=heading,
        satellites=satellites,
        valid=valid,
        ignition=ignition,
        odometer_km=odometer,
        alarm=alarm,
    )
    encoder = TeltonikaEncoder(imei, codec=codec)
    framer = TeltonikaFramer()
    decoder = TeltonikaDecoder()
    frames = framer.feed(encoder.login()) + framer.feed(encoder.location(fix)) + framer.feed(encoder.heartbeat())
    assert all(isinstance(f, bytes) for f in frames)
    login, location, beat = (decoder.decode(f, RECEIVED) for f in frames if isinstance(f, bytes))
    assert [(m.kind, m.device_id, m.response) for m in login] == [("login", imei, b"\x01")]
    assert [(m.kind, m.response) for m in beat] == [("heartbeat", None)]
    (message,) = location
    assert message.response == b"\x00\x00\x00\x01"
    assert message.kind == ("alarm" if alarm else "location")
    position = message.position
    assert position is not None
    assert position.device_id == imei
    assert position.time_utc == time_utc.replace(microsecond=time_utc.microsecond // 1000 * 1000)
    assert position.latitude == pytest.approx(latitude, abs=1e-5)
    assert position.longitude == pytest.approx(longitude, abs=1e-5)
    assert (position.speed_kmh, position.heading_deg) == (speed, heading)
    assert position.valid is valid
    assert position.satellites == (satellites if valid else 0)
    assert position.attributes["ignition"] is ignition
    assert position.attributes["motion"] is (speed > 0)
    assert position.attributes.get("alarm") == alarm
    if odometer is not None:
        assert position.attributes["odometer_km"] == pytest.approx(odometer)
    assert encoder.awaits_response("login")
    assert encoder.awaits_response("location")
    assert not encoder.awaits_response("heartbeat")


def test_encoder_refuses_an_alarm_it_cannot_send_and_an_id_that_is_no_imei() -> None:
    fix = FixToSend(time_utc=RECEIVED, latitude=1.0, longitude=2.0, alarm="sos")
    with pytest.raises(ValueError, match="no Teltonika IO for alarm 'sos'"):
        TeltonikaEncoder(DEVICE_ID).location(fix)
    with pytest.raises(ValueError, match="8-20 ASCII digits"):
        TeltonikaEncoder("TRUCK-01")
    with pytest.raises(ValueError, match="8-20 ASCII digits"):
        encode_login("1234567")


def test_encoder_valid_fix_without_satellites_still_decodes_valid() -> None:
    fix = FixToSend(time_utc=RECEIVED, latitude=1.0, longitude=2.0, satellites=0, altitude_m=40_000.0)
    (message,) = TeltonikaDecoder(device_id=DEVICE_ID).decode(TeltonikaEncoder(DEVICE_ID).location(fix), RECEIVED)
    assert message.position is not None
    assert (message.position.valid, message.position.satellites, message.position.altitude_m) == (True, 1, 32767.0)


def test_udp_round_trip_echoes_packet_ids() -> None:
    t = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
    records = [
        encode_record(CODEC_8, RecordToSend(time_utc=t + timedelta(seconds=n), latitude=41.0, longitude=26.5))
        for n in range(3)
    ]
    datagram = build_udp_packet(DEVICE_ID, 0xBEEF, 0x42, CODEC_8, records)
    messages = TeltonikaDatagramDecoder().decode(datagram, RECEIVED)
    assert [m.response for m in messages] == [bytes.fromhex("0005beef014203"), None, None]
    assert [m.position.time_utc for m in messages if m.position] == [t + timedelta(seconds=n) for n in range(3)]
    assert {m.device_id for m in messages} == {DEVICE_ID}


def test_parse_avl_frame_splits_the_data_field() -> None:
    frame = parse_avl_frame(SMALL)
    assert (frame.codec, frame.count, frame.raw) == (CODEC_8, 1, SMALL)
    assert frame.records == SMALL[10:-5]


# -- registry -----------------------------------------------------------------------------------------


def test_registry() -> None:
    spec = protocols.get("teltonika")
    assert spec is protocols.PROTOCOLS["teltonika"]
    assert (spec.name, spec.default_port, spec.transports, spec.payload) == (
        "teltonika",
        5027,
        ("tcp", "udp"),
        "binary",
    )
    assert isinstance(spec.decoder_factory(device_id=DEVICE_ID, model="FMB130"), TeltonikaDecoder)
    assert spec.datagram_decoder_factory is not None
    assert isinstance(spec.datagram_decoder_factory(), TeltonikaDatagramDecoder)
    assert spec.framer_factory is not None
    framer = spec.framer_factory()
    assert isinstance(framer, TeltonikaFramer)
    assert framer.max_frame_size == DEFAULT_MAX_FRAME_SIZE
    assert spec.encoder_factory is not None
    assert isinstance(spec.encoder_factory(DEVICE_ID), TeltonikaEncoder)


def test_preset_device_id_is_validated() -> None:
    with pytest.raises(ValueError, match="device id"):
        TeltonikaDecoder(device_id="has space")

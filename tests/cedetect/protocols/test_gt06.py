"""GT06: CRC-ITU, the decoder against traccar's real test vectors, frame builders, fuzzing.

The vectors come from ``shared/data/tracker_vectors`` (traccar's Gt06ProtocolDecoderTest, see its
README).  Each is decoded on a fresh decoder preset with a device id, as traccar's test session
does, and with the vector's ``config.model`` where there is one.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cedetect import protocols
from cedetect.models import PositionFlag
from cedetect.protocols import gt06
from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    DecodeReason,
    FixToSend,
    check_position_invariants,
    make_position,
)
from cedetect.protocols.crc import crc16_x25
from cedetect.protocols.framing import Gt06Framer
from cedetect.protocols.gt06 import (
    Gt06Decoder,
    Gt06Encoder,
    build_frame,
    encode_alarm,
    encode_heartbeat,
    encode_location,
    encode_login,
    parse_frame,
)
from tests.cedetect.protocols.vectors import (
    DEVICE_ID,
    LATITUDES,
    LONGITUDES,
    RECEIVED,
    VECTORS_FILE,
    Mapped,
    alarm_set,
    assert_frame_checks_agree,
    assert_position_invariants,
    assert_refused,
    assert_tables_name_vectors,
    check_attributes,
    check_fix,
    frame_check_failed,
    fuzz_decode,
    load_vectors,
    mutated,
    parametrize_vectors,
    payload_bytes,
    positions_of,
    utc_times,
    vector_model,
)

PROTOCOL = "gt06"


# -- traccar attribute names -> ours ----------------------------------------------------------------

#: traccar attribute -> ours (the attribute table is in the docstring of cedetect.protocols.gt06).
ATTRIBUTE_MAP: dict[str, Mapped] = {
    "alarm": Mapped("alarm", alarm_set),  # camelCase alarm names -> snake_case, compared as sets
    "type": Mapped("message_type"),
    "status": Mapped("raw_status"),
    "ignition": Mapped("ignition"),
    "charge": Mapped("charge"),
    "blocked": Mapped("blocked"),
    "armed": Mapped("armed"),
    "motion": Mapped("motion"),
    "door": Mapped("door"),
    "tamper": Mapped("tamper"),
    "io1": Mapped("io1"),
    "in2": Mapped("in2"),
    "input": Mapped("input"),
    "output": Mapped("output"),
    "power": Mapped("power_v", float),
    "battery": Mapped("battery_v", float),
    "batteryLevel": Mapped("battery_level"),
    "rssi": Mapped("rssi"),
    "sat": Mapped("satellites", field="satellites"),
    "satVisible": Mapped("satellites_visible"),
    "hdop": Mapped("hdop", float, field="hdop"),
    "accuracy": Mapped("accuracy_m", float),
    "odometer": Mapped("odometer_km", lambda metres: metres / 1000),  # traccar: metres
    "hours": Mapped("engine_hours_h", lambda ms: ms / 3_600_000),  # traccar: milliseconds
    "event": Mapped("event"),
    "eventData": Mapped("event_data"),
    "eventFiles": Mapped("event_files"),
    "archive": Mapped("archive"),
    "geofence": Mapped("geofence_id"),
    "temp1": Mapped("temp1_c", float),
    "humidity": Mapped("humidity_pct", float),
    "adc1": Mapped("adc1_v", float),
    "adc2": Mapped("adc2_v", float),
    "fuel": Mapped("fuel_level", float),
    "oil": Mapped("oil"),
    "driverUniqueId": Mapped("driver_id"),
    "card": Mapped("card"),
    "cardStatus": Mapped("card_status"),
    "drivingTime": Mapped("driving_time"),
    "iccid": Mapped("iccid"),
    "result": Mapped("result"),
    "serial": Mapped("serial_number"),
    "networkTechnology": Mapped("network_technology"),
    "startupStatus": Mapped("startup_status"),
    "otherStatus": Mapped("other_status"),
    "engineStatus": Mapped("engine_status"),
    "alarm1Status": Mapped("alarm1_status"),
    "alarm2Status": Mapped("alarm2_status"),
    "alarm3Status": Mapped("alarm3_status"),
    "alarm4Status": Mapped("alarm4_status"),
    "index": Mapped("record_index"),
    "bootReason": Mapped("boot_reason"),
    "tag1Id": Mapped("tag1_id"),
    "tag1Temp": Mapped("tag1_temp_c", float),
    "tag1Humidity": Mapped("tag1_humidity_pct", float),
    "tag1Battery": Mapped("tag1_battery_v", float),
    "tag1BatteryLevel": Mapped("tag1_battery_level"),
    "tag1Status": Mapped("tag1_status"),
    "tagMac": Mapped("tag_mac"),
    "tagUuid": Mapped("tag_uuid"),
    "tagMajor": Mapped("tag_major"),
    "tagMinor": Mapped("tag_minor"),
    "tagBattery": Mapped("tag_battery_v", float),
    "clock": Mapped("clock"),
    "mac": Mapped("mac"),
    "dataType": Mapped("data_type"),
    "dataDetails": Mapped("data_details"),
    "externalBatteryLevel": Mapped("external_battery_level"),
    "externalBatteryCharge": Mapped("external_battery_charge"),
    "externalBatteryCycles": Mapped("external_battery_cycles"),
    "chargeVoltage": Mapped("charge_voltage"),
    "batteryTemp": Mapped("battery_temp_c", float),
    "vin": Mapped("vin"),
    "obdSpeed": Mapped("obd_speed_kmh", float),
    "rpm": Mapped("obd_rpm", float),
    "coolantTemp": Mapped("obd_coolant_temp_c", float),
    "fuelUsed": Mapped("obd_fuel_used", float),
}

#: traccar attributes this decoder does not produce, with the reason.  An asserted attribute that
#: is neither here nor in ATTRIBUTE_MAP fails the test.
UNSUPPORTED: dict[str, str] = {
    "image": "photo/multimedia chunks are reported but not reassembled into files",
}

#: Vector checks we knowingly do not reproduce: vector id -> (check key, reason).
DIVERGENT_CHECKS: dict[str, tuple[str, str]] = {
    "gt06-021": (
        "altitude",
        "traccar reads an 8-byte cell id in SL4X 0x32 packets, so its altitude (-31703 m) comes from the "
        "CRC bytes; the frame's own altitude field says 687 m (the fix is in Campinas, BR, ~685 m); "
        "see test_sl4x_altitude",
    ),
}

#: Vectors needing a device model whose layout the reference decoder we follow does not have.
MODEL_SKIPS: dict[str, str] = {
    "gt06-183": "VL103 0x36 GPS packet: layout only in a traccar newer than our reference",
    "gt06-184": "VL103 0x36 GPS packet: layout only in a traccar newer than our reference",
}

#: no_position vectors that traccar drops (returns null for), which we refuse with a named reason.
TRACCAR_DROPS: dict[str, tuple[str, str]] = {
    "gt06-001": (
        DecodeReason.TRUNCATED,
        "0x12 GPS packet without content; traccar drops it because no login preceded it in its test",
    ),
    "gt06-059": (DecodeReason.UNKNOWN_MESSAGE_TYPE, "extended 0x66 (FM08ABC PID): traccar returns null"),
    "gt06-132": (DecodeReason.UNKNOWN_MESSAGE_TYPE, "extended 0x84: traccar returns null"),
    "gt06-162": (DecodeReason.TRUNCATED, "787801080d0a: 6 bytes, too short to hold type, serial and CRC"),
}


VECTORS = load_vectors("gt06")


def test_vectors_are_present() -> None:
    assert VECTORS_FILE.is_file(), f"missing {VECTORS_FILE}"
    assert len(VECTORS) > 100


@parametrize_vectors(VECTORS)
def test_traccar_vector(vector: dict[str, Any]) -> None:
    vid = vector["id"]
    raw = payload_bytes(vector)
    model = vector_model(vector)
    if vid in MODEL_SKIPS:
        assert model, "only model-override vectors may be skipped"
        pytest.skip(MODEL_SKIPS[vid])
    decoder = Gt06Decoder(device_id=DEVICE_ID, model=model)

    if frame_check_failed(vector):
        assert_refused(decoder, raw, DecodeReason.BAD_CHECKSUM)
        return
    if vid in TRACCAR_DROPS:
        assert vector["expect"] == "no_position", "only dropped frames may be refused"
        reason, _why = TRACCAR_DROPS[vid]
        assert_refused(decoder, raw, reason)
        return

    messages = decoder.decode(raw, RECEIVED)
    frame = parse_frame(raw)
    assert messages, "a frame with a good CRC decodes to at least one message"
    for message in messages:
        assert message.raw == raw
        login_imei = frame.content[:8].hex()[1:]
        assert message.device_id == (login_imei if message.kind == "login" else DEVICE_ID)
        assert_position_invariants(message, PROTOCOL)
        if message.response is not None:
            ack = parse_frame(message.response)  # a well-formed frame with a valid CRC
            if ack.type == frame.type:
                assert ack.serial == frame.serial

    positions = positions_of(messages)
    expect = vector["expect"]
    if expect == "no_position":
        assert not positions
    elif expect in ("position", "positions"):
        assert positions, "traccar decodes a fix from this frame"

    checks = dict(vector.get("checks") or {})
    if vid in DIVERGENT_CHECKS:
        key, _why = DIVERGENT_CHECKS[vid]
        checks.pop(key)  # documented divergence; everything else is still checked
    check_fix(checks, positions)
    check_attributes(checks.get("attributes") or {}, messages, ATTRIBUTE_MAP, unsupported=UNSUPPORTED)


def test_sl4x_altitude() -> None:
    """gt06-021: the altitude sits in the last two content bytes, after the language byte."""
    frame = bytes.fromhex(
        "7878293218061301261ccd0274c4ad050d7c960018000a02d4000ac3c70dbdc40b46f004210202af001784290d0a"
    )
    (message,) = Gt06Decoder(device_id=DEVICE_ID).decode(frame, RECEIVED)
    assert message.position is not None
    assert message.position.altitude_m == 687.0
    assert (message.position.latitude, message.position.longitude) == pytest.approx((-22.89275, -47.09441), abs=1e-5)
    assert (message.attributes["mcc"], message.attributes["lac"]) == (724, 50119)


def test_vector_tables_name_real_vectors() -> None:
    assert_tables_name_vectors(VECTORS, DIVERGENT_CHECKS, MODEL_SKIPS, TRACCAR_DROPS)


def test_every_vector_is_accounted_for() -> None:
    """Each vector decodes, is refused with a named reason (bad CRC, traccar drop) or skipped with one."""
    decoded = skipped = refused = 0
    for vector in VECTORS:
        if frame_check_failed(vector) or vector["id"] in TRACCAR_DROPS:
            refused += 1
            continue
        if vector["id"] in MODEL_SKIPS:
            skipped += 1
            continue
        Gt06Decoder(device_id=DEVICE_ID, model=vector_model(vector)).decode(payload_bytes(vector), RECEIVED)
        decoded += 1
    assert decoded + skipped + refused == len(VECTORS)
    assert skipped == len(MODEL_SKIPS)


# -- CRC -------------------------------------------------------------------------------------------


def test_crc_check_value() -> None:
    assert crc16_x25(b"123456789") == 0x906E
    assert crc16_x25(b"") == 0x0000


def test_crc_of_real_frames() -> None:
    checked = assert_frame_checks_agree(VECTORS, lambda raw: crc16_x25(raw[2:-4]) == int.from_bytes(raw[-4:-2]))
    assert checked > 100
    # the login acknowledgement from the Concox GT06 protocol document
    assert build_frame(0x01, b"", 0x0001) == bytes.fromhex("787805010001d9dc0d0a")


# -- frame checks ----------------------------------------------------------------------------------

LOCATION_22 = bytes.fromhex("787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A")


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", DecodeReason.TRUNCATED),
        (b"\x78", DecodeReason.TRUNCATED),
        (bytes.fromhex("7777050100010000"), DecodeReason.BAD_START_BYTES),
        (bytes.fromhex("787805010001"), DecodeReason.TRUNCATED),
        (LOCATION_22[:-1] + b"\x00", DecodeReason.BAD_STOP_BYTES),
        (LOCATION_22[:20] + bytes([LOCATION_22[20] ^ 0x01]) + LOCATION_22[21:], DecodeReason.BAD_CHECKSUM),
    ],
)
def test_frame_integrity(frame: bytes, reason: str) -> None:
    assert_refused(Gt06Decoder(device_id=DEVICE_ID), frame, reason)


def test_bad_length_field() -> None:
    body = bytes([0x07, 0x13, 0x40, 0x04, 0x03, 0x00, 0x00, 0x02])  # length says 7, 8 bytes follow
    frame = b"\x78\x78" + body + crc16_x25(body).to_bytes(2) + b"\r\n"
    with pytest.raises(DecodeError) as caught:
        Gt06Decoder(device_id=DEVICE_ID).decode(frame, RECEIVED)
    assert caught.value.reason == DecodeReason.BAD_LENGTH


def test_unknown_message_type_keeps_raw() -> None:
    frame = build_frame(0xEE, b"\x01\x02", 7)
    with pytest.raises(DecodeError) as caught:
        Gt06Decoder(device_id=DEVICE_ID).decode(frame, RECEIVED)
    assert caught.value.reason == DecodeReason.UNKNOWN_MESSAGE_TYPE
    assert caught.value.raw == frame


# -- connection state ------------------------------------------------------------------------------


def test_location_before_login_is_refused_then_login_names_the_device() -> None:
    decoder = Gt06Decoder()
    with pytest.raises(DecodeError) as caught:
        decoder.decode(LOCATION_22, RECEIVED)
    assert caught.value.reason == DecodeReason.NO_DEVICE_ID
    assert caught.value.raw == LOCATION_22

    (login,) = decoder.decode(bytes.fromhex("78780D01086471700328358100093F040D0A"), RECEIVED)
    assert login.kind == "login"
    assert login.device_id == "864717003283581"
    assert login.position is None
    assert login.response == build_frame(0x01, b"", 0x0009)

    (location,) = decoder.decode(LOCATION_22, RECEIVED)
    assert location.kind == "location"
    assert location.device_id == "864717003283581"
    assert location.position is not None
    assert location.position.device_id == "864717003283581"
    assert location.position.time_utc == datetime(2015, 12, 29, 2, 51, 5, tzinfo=UTC)
    assert location.position.latitude == pytest.approx(23.111693, abs=1e-5)
    assert location.position.longitude == pytest.approx(114.409297, abs=1e-5)
    assert location.response is not None
    ack = parse_frame(location.response)
    assert (ack.type, ack.serial, ack.content) == (0x22, 0x0008, b"")


def test_login_timezone_extension_shifts_device_times() -> None:
    fix_time = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    location = encode_location(
        time_utc=fix_time,
        latitude=10.0,
        longitude=20.0,
        speed_kmh=0,
        heading_deg=0,
        satellites=5,
        valid=True,
        ignition=False,
        serial=2,
    )
    east = Gt06Decoder()
    (login,) = east.decode(encode_login("123456789012345", 1, timezone_offset_min=480), RECEIVED)
    assert login.attributes["timezone_offset_min"] == 480
    (message,) = east.decode(location, RECEIVED)
    assert message.position is not None
    assert message.position.time_utc == fix_time - timedelta(hours=8)  # the device sent local time

    as_utc = Gt06Decoder(apply_login_timezone=False)
    as_utc.decode(encode_login("123456789012345", 1, timezone_offset_min=-90), RECEIVED)
    (message,) = as_utc.decode(location, RECEIVED)
    assert message.position is not None
    assert message.position.time_utc == fix_time


def test_heartbeat_roundtrip_and_ack() -> None:
    frame = encode_heartbeat(ignition=True, battery_level=100, rssi=4, serial=0x1234, charging=True)
    (message,) = Gt06Decoder(device_id=DEVICE_ID).decode(frame, RECEIVED)
    assert message.kind == "heartbeat"
    assert message.position is None
    assert message.attributes["ignition"] is True
    assert message.attributes["charge"] is True
    assert message.attributes["battery_level"] == 100
    assert message.attributes["rssi"] == 4
    assert "alarm" not in message.attributes
    assert message.response == build_frame(0x13, b"", 0x1234)


@pytest.mark.parametrize("alarm", sorted(gt06.ALARM_CODES))
def test_alarm_roundtrip(alarm: str) -> None:
    frame = encode_alarm(
        time_utc=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        latitude=-33.5,
        longitude=-70.25,
        speed_kmh=42,
        heading_deg=271,
        satellites=9,
        valid=True,
        alarm=alarm,
        ignition=False,
        battery_level=50,
        rssi=3,
        serial=77,
    )
    (message,) = Gt06Decoder(device_id=DEVICE_ID).decode(frame, RECEIVED)
    assert message.kind == "alarm"
    assert message.attributes["alarm"] == alarm
    assert message.position is not None
    assert message.position.latitude == pytest.approx(-33.5, abs=1e-5)
    assert message.position.longitude == pytest.approx(-70.25, abs=1e-5)
    assert message.position.heading_deg == 271
    assert message.response == build_frame(0x16, b"", 77)


def test_zero_and_invalid_and_future_fixes_are_flagged() -> None:
    decoder = Gt06Decoder(device_id=DEVICE_ID)
    frame = encode_location(
        time_utc=RECEIVED + timedelta(hours=1),
        latitude=0.0,
        longitude=0.0,
        speed_kmh=0,
        heading_deg=0,
        satellites=0,
        valid=False,
        ignition=False,
        serial=1,
    )
    (message,) = decoder.decode(frame, RECEIVED)
    assert message.position is not None
    assert set(message.position.flags) == {
        PositionFlag.FUTURE_TIME,
        PositionFlag.INVALID_FIX,
        PositionFlag.ZERO_COORDINATES,
    }


def test_out_of_range_fix_and_time_are_named() -> None:
    gps = bytes([24, 1, 1, 0, 0, 0, 0xC5]) + (200 * 1_800_000).to_bytes(4) + (0).to_bytes(4) + b"\x00" + b"\x14\x00"
    with pytest.raises(DecodeError) as caught:
        Gt06Decoder(device_id=DEVICE_ID).decode(build_frame(0x10, gps, 1), RECEIVED)
    assert caught.value.reason == DecodeReason.INVALID_COORDINATES
    bad_date = bytes([24, 13, 1, 0, 0, 0]) + gps[6:]
    with pytest.raises(DecodeError) as caught:
        Gt06Decoder(device_id=DEVICE_ID).decode(build_frame(0x10, bad_date, 1), RECEIVED)
    assert caught.value.reason == DecodeReason.INVALID_TIME
    with pytest.raises(DecodeError) as caught:
        make_position(
            device_id=DEVICE_ID,
            protocol="gt06",
            time_utc=RECEIVED,
            received_utc=RECEIVED,
            latitude=1.0,
            longitude=1.0,
            heading_deg=400.0,
        )
    assert caught.value.reason == DecodeReason.INVALID_COORDINATES


def test_address_and_time_requests_are_answered() -> None:
    decoder = Gt06Decoder(device_id=DEVICE_ID)
    (address,) = decoder.decode(build_frame(0x2A, b"\x00" * 4, 5), RECEIVED)
    assert address.kind == "address_request"
    assert address.response is not None
    reply = parse_frame(address.response)
    assert reply.extended
    assert reply.type == 0x97
    assert reply.content.endswith(b"NA&&NA&&0##")
    (time_request,) = decoder.decode(build_frame(0x8A, b"", 6), RECEIVED)
    assert time_request.kind == "time_request"
    assert time_request.response is not None
    reply = parse_frame(time_request.response)
    assert reply.type == 0x8A
    assert reply.content == bytes([26, 8, 30, 12, 0, 0])  # the receive time, UTC


# -- round trip ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    time_utc=utc_times(),
    latitude=LATITUDES,
    longitude=LONGITUDES,
    speed=st.integers(min_value=0, max_value=255),
    heading=st.integers(min_value=0, max_value=359),
    satellites=st.integers(min_value=0, max_value=15),
    valid=st.booleans(),
    ignition=st.booleans(),
    serial=st.integers(min_value=0, max_value=0xFFFF),
    imei=st.from_regex(r"[0-9]{15}", fullmatch=True),
)
def test_encode_decode_roundtrip(
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed: int,
    heading: int,
    satellites: int,
    valid: bool,
    ignition: bool,
    serial: int,
    imei: str,
) -> None:
    time_utc = time_utc.replace(microsecond=0)
    decoder = Gt06Decoder()
    (login,) = decoder.decode(encode_login(imei, serial), RECEIVED)
    assert login.device_id == imei
    assert login.response == build_frame(0x01, b"", serial)
    frame = encode_location(
        time_utc=time_utc,
        latitude=latitude,
        longitude=longitude,
        speed_kmh=speed,
        heading_deg=heading,
        satellites=satellites,
        valid=valid,
        ignition=ignition,
        serial=serial,
    )
    (message,) = decoder.decode(frame, RECEIVED)
    position = message.position
    assert position is not None
    assert message.kind == "location"
    assert position.device_id == imei
    assert position.time_utc == time_utc
    assert position.latitude == pytest.approx(latitude, abs=1e-5)
    assert position.longitude == pytest.approx(longitude, abs=1e-5)
    assert position.speed_kmh == speed
    assert position.heading_deg == heading
    assert position.satellites == satellites
    assert position.valid is valid
    assert position.attributes["ignition"] is ignition
    assert message.response == build_frame(0x22, b"", serial)
    assert position.flags == tuple(sorted(set(check_position_invariants(position, RECEIVED))))


# -- fuzzing: only DecodeError may come out ---------------------------------------------------------

GOOD_FRAMES = [
    payload_bytes(v)
    for v in VECTORS
    if not frame_check_failed(v) and v.get("frame_check_derived") is not None and v["id"] not in TRACCAR_DROPS
]


def _decode_all(frame: bytes, model: str | None = None) -> list[DecodedMessage]:
    return fuzz_decode(lambda: Gt06Decoder(device_id=DEVICE_ID, model=model), frame, PROTOCOL)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_all(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message_type=st.integers(min_value=0, max_value=255),
    content=st.binary(max_size=120),
    extended=st.booleans(),
    model=st.sampled_from([None, "LW4G-4B", "SEEWORLD", "R11", "NT20", "VL103", "QH302R"]),
)
def test_fuzz_well_framed_random_content(message_type: int, content: bytes, extended: bool, model: str | None) -> None:
    """Frames that pass every integrity check but carry junk: each handler must cope."""
    _decode_all(build_frame(message_type, content, 1, extended=extended), model)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(min_value=0, max_value=max(len(GOOD_FRAMES) - 1, 0)),
    data=st.data(),
)
def test_fuzz_mutated_real_frames(index: int, data: st.DataObject) -> None:
    frame = bytearray(GOOD_FRAMES[index])
    content = mutated(data, frame[4:-6] if frame[:2] == b"\x79\x79" else frame[3:-6])
    cut = data.draw(st.integers(min_value=0, max_value=len(content)))
    content = content[:cut]
    extended = frame[:2] == b"\x79\x79"
    rebuilt = build_frame(content[0], bytes(content[1:]), 3, extended=extended) if content else bytes(frame)
    _decode_all(rebuilt)  # well framed, mutated content
    _decode_all(bytes(frame))  # raw mutation keeps the old CRC: usually bad_checksum


# -- registry and base -----------------------------------------------------------------------------


def test_registry() -> None:
    spec = protocols.get("gt06")
    assert spec is protocols.PROTOCOLS["gt06"]
    assert (spec.name, spec.default_port, spec.transports, spec.payload) == ("gt06", 5023, ("tcp",), "binary")
    assert isinstance(spec.decoder_factory(device_id=DEVICE_ID), Gt06Decoder)
    assert spec.framer_factory is not None
    assert isinstance(spec.framer_factory(), Gt06Framer)
    assert spec.encoder_factory is not None
    assert isinstance(spec.encoder_factory(DEVICE_ID), Gt06Encoder)
    assert protocols.get(" GT06 ") is spec
    with pytest.raises(KeyError, match="unknown tracker protocol 'nope'; known protocols: "):
        protocols.get("nope")


def test_preset_device_id_is_validated() -> None:
    with pytest.raises(ValueError, match="device id"):
        Gt06Decoder(device_id="has space")


def test_invariants_helper() -> None:
    position = make_position(
        device_id=DEVICE_ID,
        protocol="gt06",
        time_utc=RECEIVED + timedelta(seconds=299),
        received_utc=RECEIVED,
        latitude=0.0,
        longitude=0.0,
    )
    assert check_position_invariants(position, RECEIVED) == (PositionFlag.ZERO_COORDINATES,)
    assert PositionFlag.FUTURE_TIME in check_position_invariants(position, RECEIVED, future_tolerance_s=60)
    assert math.isclose(position.speed_kmh, 0.0)


def test_device_encoder_round_trip() -> None:
    encoder = Gt06Encoder(DEVICE_ID)
    decoder = Gt06Decoder()
    t = datetime(2026, 8, 30, 11, 59, 0, tzinfo=UTC)
    fix = FixToSend(time_utc=t, latitude=41.6771, longitude=26.5557, speed_kmh=72.0, heading_deg=181.0, satellites=9)
    (login,) = decoder.decode(encoder.login(), RECEIVED)
    assert (login.kind, login.device_id, login.response is not None) == ("login", DEVICE_ID, True)
    (location,) = decoder.decode(encoder.location(fix), RECEIVED)
    assert location.position is not None
    assert location.position.time_utc == t
    assert (round(location.position.latitude, 5), round(location.position.longitude, 5)) == (41.6771, 26.5557)
    assert (location.position.speed_kmh, location.position.heading_deg) == (72.0, 181.0)
    (alarm,) = decoder.decode(
        encoder.location(FixToSend(time_utc=t, latitude=41.0, longitude=26.0, alarm="sos")), RECEIVED
    )
    assert alarm.position is not None
    assert alarm.position.attributes["alarm"] == "sos"
    (beat,) = decoder.decode(encoder.heartbeat(), RECEIVED)
    assert beat.response is not None
    assert encoder.serial == 4
    assert encoder.awaits_response("login")
    assert encoder.awaits_response("heartbeat")
    assert not encoder.awaits_response("location")

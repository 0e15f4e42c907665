"""Queclink GL200 family: text and binary frames against traccar's real test vectors, framer, builders, fuzzing.

The vectors come from ``shared/data/tracker_vectors`` (traccar's Gl200TextProtocolDecoderTest and
Gl200BinaryProtocolDecoderTest, see its README).  Text vectors are fed as ISO-8859-1 bytes, as traccar's
``buffer()`` does.  Every text frame names its IMEI; binary frames that carry the device name instead of
the IMEI rely on the connection's identity, so each vector is decoded on a fresh decoder preset with a
device id (and, in ``test_one_connection_in_test_order``, all of them on one decoder in test-line order,
as traccar's tests do).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cedetect import protocols
from cedetect.models import PositionFlag
from cedetect.protocols import gl200
from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    DecodeReason,
    FixToSend,
    FramingError,
    check_position_invariants,
)
from cedetect.protocols.gl200 import (
    Gl200Decoder,
    Gl200Encoder,
    Gl200Framer,
    encode_heartbeat,
    encode_location,
    is_binary,
)
from tests.cedetect.protocols.vectors import (
    DEVICE_ID,
    LATITUDES,
    LONGITUDES,
    RECEIVED,
    VECTORS_FILE,
    Mapped,
    assert_position_invariants,
    assert_refused,
    assert_resyncs_after_garbage,
    assert_split_at_every_byte,
    assert_tables_name_vectors,
    check_attributes,
    check_fix,
    driving_alarm_set,
    exact_type,
    frame_by_id,
    frames_of,
    fuzz_decode,
    garbage_stream,
    in_line_order,
    load_vectors,
    mutated,
    parametrize_vectors,
    payload_bytes,
    positions_of,
    utc_times,
    vector_model,
)

PROTOCOL = "gl200"


# -- traccar attribute names -> ours ----------------------------------------------------------------

#: traccar attribute -> ours (the attribute table is in the docstring of cedetect.protocols.gl200).
ATTRIBUTE_MAP: dict[str, Mapped] = {
    "alarm": Mapped("alarm", driving_alarm_set),
    "type": Mapped("report_type"),
    "sat": Mapped("satellites", field="satellites"),
    "hdop": Mapped("hdop", float, field="hdop"),
    "ignition": Mapped("ignition"),
    "motion": Mapped("motion"),
    "charge": Mapped("charge"),
    "batteryLevel": Mapped("battery_level"),
    "battery": Mapped("battery_v", float),
    "power": Mapped("power_v", float),
    "power2": Mapped("power2_v", float),
    "odometer": Mapped("odometer_km", lambda metres: metres / 1000),  # traccar: metres
    "hours": Mapped("engine_hours_h", lambda ms: ms / 3_600_000),  # traccar: milliseconds
    "rssi": Mapped("rssi"),
    "input": Mapped("input"),
    "output": Mapped("output"),
    "in1": Mapped("in1"),
    "in2": Mapped("in2"),
    "out1": Mapped("out1"),
    "out2": Mapped("out2"),
    "adc1": Mapped("adc1_v", lambda millivolts: millivolts / 1000),  # traccar keeps the mV number
    "adc2": Mapped("adc2_v", lambda millivolts: millivolts / 1000),
    "adc3": Mapped("adc3_v", lambda millivolts: millivolts / 1000),
    "fuel": Mapped("fuel_level", float),
    "temp1": Mapped("temp1_c", float),
    "temp2": Mapped("temp2_c", float),
    "iccid": Mapped("iccid"),
    "vin": Mapped("vin"),
    "rpm": Mapped("obd_rpm", float),
    "obdSpeed": Mapped("obd_speed_kmh", float),
    "obdOdometer": Mapped("obd_odometer_km", lambda metres: metres / 1000),
    "coolantTemp": Mapped("obd_coolant_temp_c", float),
    "fuelUsed": Mapped("obd_fuel_used", float),
    "fuelConsumption": Mapped("fuel_consumption", float),
    "throttle": Mapped("throttle_pct"),
    "driverUniqueId": Mapped("driver_id"),
    "result": Mapped("result"),
    "data": Mapped("data"),
    "deviceType": Mapped("device_type"),
    "versionFw": Mapped("version_fw"),
    "versionHw": Mapped("version_hw"),
    "warningType": Mapped("warning_type"),
    "fatigueDegree": Mapped("fatigue_degree"),
    "accessoryName": Mapped("accessory_name"),
    "accessoryMac": Mapped("accessory_mac"),
    "accessoryStatus": Mapped("accessory_status"),
    "accessoryVoltage": Mapped("accessory_voltage_v", float),
    "accessoryTemp": Mapped("accessory_temp_c", float),
    "accessoryHumidity": Mapped("accessory_humidity_pct", float),
    "lightLevel": Mapped("light_level"),
    "externalBattery": Mapped("external_battery_level"),
    "deviceTemp": Mapped("device_temp_c", float),
    "humidity": Mapped("humidity_pct", float),
    "tag1Id": Mapped("tag1_id"),
    "tag1Temp": Mapped("tag1_temp_c", float),
    "tag1Humidity": Mapped("tag1_humidity_pct", float),
    "tag1Battery": Mapped("tag1_battery_level"),
    "archive": Mapped("archive"),
}

#: traccar attributes this decoder does not produce, with the reason.  An asserted attribute that is
#: neither here nor in ATTRIBUTE_MAP fails the test.
UNSUPPORTED: dict[str, str] = {}

#: ``positions`` vectors whose frame carries no fix of its own: traccar fills the fix from the last known
#: location (and its test skips the location checks); we report the message without a position.
NO_OWN_FIX: dict[str, str] = {
    "gl200-047": "GTFRI with an empty location block (buffered, GPS never fixed)",
    "gl200-110": "GTFRI with an empty location block and a cell only",
    "gl200-149": "GTFRI with an empty location block and a cell only",
}

#: Vectors we cannot decode, with the reason (none).
SKIPS: dict[str, str] = {}


VECTORS = load_vectors("gl200")


def _expected_device(vector: dict[str, Any], raw: bytes) -> set[str]:
    """Ids the frame may name: its IMEI field(s) for text; the IMEI as Queclink encodes it for binary."""
    if vector["variant"] == "text":
        return set(raw.decode("latin-1").split(",")[1:3])
    if raw[1] == 0:
        return {raw[5:13].hex()[1:]}
    return {"865084030003675", DEVICE_ID}  # the binary vectors' device, or the preset id for named frames


def test_vectors_are_present() -> None:
    assert VECTORS_FILE.is_file(), f"missing {VECTORS_FILE}"
    assert len(VECTORS) > 150
    assert {v["variant"] for v in VECTORS} == {"text", "binary"}


@parametrize_vectors(VECTORS)
def test_traccar_vector(vector: dict[str, Any]) -> None:
    vid = vector["id"]
    if vid in SKIPS:
        pytest.skip(SKIPS[vid])
    raw = payload_bytes(vector)
    assert is_binary(raw) == (vector["variant"] == "binary")
    decoder = Gl200Decoder(device_id=DEVICE_ID, model=vector_model(vector))

    messages = decoder.decode(raw, RECEIVED)
    assert messages, "every vector decodes to at least one message"
    for message in messages:
        assert message.raw == raw
        assert message.device_id in _expected_device(vector, raw)
        assert_position_invariants(message, PROTOCOL)
    sentence = raw.decode("latin-1")
    if sentence.startswith("+ACK:GTHBD"):
        fields = sentence.rstrip("$").split(",")
        assert messages[0].response == f"+SACK:GTHBD,{fields[1]},{fields[-1]}$".encode()
    else:
        assert all(m.response is None for m in messages)
    if sentence.startswith("+BUFF"):
        assert all(m.attributes["archive"] is True for m in messages)

    positions = positions_of(messages)
    expect = vector["expect"]
    if expect == "no_position":
        assert not positions
    elif expect in ("position", "positions"):
        if vid in NO_OWN_FIX:
            assert vector.get("check_location") is False
            assert not positions
        else:
            assert positions, "traccar decodes a fix from this frame"
        if expect == "position":
            assert len(messages) == 1
    checks = dict(vector.get("checks") or {})
    check_fix(checks, positions)
    # traccar's verifyAttribute looks at the first position of a frame: so do we, at the first message
    check_attributes(
        checks.get("attributes") or {}, messages[:1], ATTRIBUTE_MAP, unsupported=UNSUPPORTED, extra=exact_type
    )


def test_vector_tables_name_real_vectors() -> None:
    assert_tables_name_vectors(VECTORS, NO_OWN_FIX, SKIPS)


def test_one_connection_in_test_order() -> None:
    """traccar decodes the vectors of its test method on one decoder, in line order."""
    for variant in ("text", "binary"):
        decoder = Gl200Decoder()
        refused: list[tuple[str, str]] = []
        for vector in in_line_order(v for v in VECTORS if v["variant"] == variant):
            raw = payload_bytes(vector)
            try:
                messages = decoder.decode(raw, RECEIVED)
            except DecodeError as exc:
                refused.append((vector["id"], exc.reason))
                continue
            assert all(m.device_id == decoder.device_id for m in messages)
        # only binary frames naming the device by name before any frame gave its IMEI
        assert all(reason == DecodeReason.NO_DEVICE_ID for _vid, reason in refused)
        assert len(refused) <= (1 if variant == "binary" else 0)


# -- text frames -------------------------------------------------------------------------------------

FRI = (
    b"+RESP:GTFRI,060228,862894020180553,,14827,10,1,1,3.4,199,409.6,-63.174466,-17.739317,20170407121823,"
    b"0000,0000,0000,0000,00,15989.5,01070:43:13,13,180,0,220101,,,,20170407081824,9607$"
)


def test_fri_fields() -> None:
    (message,) = Gl200Decoder().decode(FRI, RECEIVED)
    position = message.position
    assert position is not None
    assert message.device_id == "862894020180553"
    assert position.time_utc == datetime(2017, 4, 7, 12, 18, 23, tzinfo=UTC)
    assert (position.latitude, position.longitude) == (-17.739317, -63.174466)
    assert (position.speed_kmh, position.heading_deg, position.altitude_m, position.hdop) == (3.4, 199.0, 409.6, 1.0)
    assert position.valid
    a = message.attributes
    assert (a["power_v"], a["odometer_km"], a["battery_level"]) == (14.827, 15989.5, 0)
    assert a["engine_hours_h"] == pytest.approx(1070 + 43 / 60 + 13 / 3600)
    assert (a["adc1_v"], a["adc2_v"]) == (0.013, 0.18)
    assert (a["ignition"], a["input"], a["output"], a["out1"]) == (True, 1, 1, True)
    assert a["device_time"] == "2017-04-07T08:18:24Z"
    assert (a["report_type"], a["count_number"]) == ("FRI", 0x9607)
    assert message.kind == "location"
    assert message.response is None


def test_several_fixes_in_one_report_and_tail_on_the_last() -> None:
    first, second = Gl200Decoder().decode(frame_by_id(VECTORS, "gl200-134"), RECEIVED)
    assert first.position is not None
    assert second.position is not None
    assert first.position.time_utc == datetime(2009, 2, 14, 1, 32, 54, tzinfo=UTC)
    assert second.position.time_utc == datetime(2009, 1, 1, tzinfo=UTC)
    assert "battery_level" not in first.attributes
    assert second.attributes["battery_level"] == 80
    assert first.attributes["vin"] == second.attributes["vin"] == "1G1JC5444R7252367"


def test_zero_hdop_is_an_invalid_fix() -> None:
    (message,) = Gl200Decoder().decode(FRI.replace(b",1,1,3.4,", b",1,0,3.4,"), RECEIVED)
    assert message.position is not None
    assert not message.position.valid
    assert PositionFlag.INVALID_FIX in message.position.flags


def test_heartbeat_and_ack_every_report() -> None:
    heartbeat = b"+ACK:GTHBD,1A0401,135790246811220,,20100214093254,11F0$"
    (beat,) = Gl200Decoder().decode(heartbeat, RECEIVED)
    assert (beat.kind, beat.position, beat.response) == ("heartbeat", None, b"+SACK:GTHBD,1A0401,11F0$")
    (report,) = Gl200Decoder(ack_reports=True).decode(FRI, RECEIVED)
    assert report.response == b"+SACK:9607$"
    (beat,) = Gl200Decoder(ack_reports=True).decode(heartbeat, RECEIVED)
    assert beat.response == b"+SACK:GTHBD,1A0401,11F0$"


def test_text_frame_ends_are_optional() -> None:
    body = FRI[:-1]
    for frame in (body, body + b"$", body + b"\x00", body + b"$\r\n"):
        (message,) = Gl200Decoder().decode(frame, RECEIVED)
        assert message.position is not None


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", DecodeReason.UNKNOWN_MESSAGE_TYPE),
        (b"+RESP:XYZ,1,2$", DecodeReason.UNKNOWN_MESSAGE_TYPE),
        (b"hello", DecodeReason.UNKNOWN_MESSAGE_TYPE),
        (b"+RESP:GTFRI,1$", DecodeReason.TRUNCATED),
        (FRI.replace(b"862894020180553", b"8628940 20180553"), DecodeReason.INVALID_DEVICE_ID),
        (FRI.replace(b"20170407121823", b"20171307121823"), DecodeReason.INVALID_TIME),
        (b"+RESP:GTINF,1A0800,860599000773978,GL300,x1,$", DecodeReason.MALFORMED),
        (b"+RESP:GTERI,040A00,862894022579562,gv200,00000002,,10,1$", DecodeReason.TRUNCATED),
        (b"+RESP:GTZZZ,040A00,862894022579562,,,,,,,20210225065800,6974$", DecodeReason.MALFORMED),
    ],
)
def test_refusals_are_named(frame: bytes, reason: str) -> None:
    assert_refused(Gl200Decoder(), frame, reason)


def test_model_override_selects_the_layout() -> None:
    """GTINF of a GV310LAU (protocol version 6E) has analogue inputs; a declared GV300 does not."""
    frame = frame_by_id(VECTORS, "gl200-188")
    (default,) = Gl200Decoder().decode(frame, RECEIVED)
    assert default.attributes["adc3_v"] == 0.0
    (declared,) = Gl200Decoder(model="GV300").decode(frame, RECEIVED)
    assert "adc3_v" not in declared.attributes


# -- binary frames -----------------------------------------------------------------------------------


def _binary(vid: str) -> bytes:
    return frame_by_id(VECTORS, vid)


def test_binary_event_fields() -> None:
    (message,) = Gl200Decoder().decode(_binary("gl200-193"), RECEIVED)
    position = message.position
    assert position is not None
    assert message.device_id == "865084030003675"
    assert position.time_utc == datetime(2017, 8, 1, 8, 36, 26, tzinfo=UTC)
    assert (position.latitude, position.longitude) == (39.611162, -9.068048)
    assert (position.speed_kmh, position.heading_deg, position.altitude_m, position.satellites) == (
        22.1,
        242.0,
        126.0,
        7,
    )
    assert not position.valid  # HDOP 0
    a = message.attributes
    assert (a["ignition"], a["event_type"], a["battery_level"], a["power_v"]) == (True, 45, 100, 14.328)
    assert (a["mcc"], a["mnc"], a["lac"], a["cell_id"]) == (268, 3, 0x189C, 0x1AC5)
    assert a["device_time"] == "2017-08-01T08:36:26Z"


def test_binary_compressed_track() -> None:
    messages = Gl200Decoder().decode(_binary("gl200-194"), RECEIVED)
    assert len(messages) > 100
    times = [m.position.time_utc for m in messages if m.position is not None]
    assert times == sorted(times)
    assert times[0] == datetime(2017, 8, 1, 8, 36, 27, tzinfo=UTC)
    points = [(m.position.latitude, m.position.longitude) for m in messages if m.position is not None]
    assert len(points) == len(messages)
    for (lat1, lon1), (lat2, lon2) in itertools.pairwise(points):
        assert abs(lat2 - lat1) < 0.001  # one second at ~80 km/h at most
        assert abs(lon2 - lon1) < 0.001


def test_binary_record_format() -> None:
    (message,) = Gl200Decoder().decode(_binary("gl200-192"), RECEIVED)
    position = message.position
    assert position is not None
    assert message.device_id == "865134050947226"
    assert (position.latitude, position.longitude) == (44.833422, -91.543308)
    assert position.time_utc == datetime.fromtimestamp(0x6A3ED6F1, UTC)
    assert (position.hdop, position.altitude_m, position.satellites, position.valid) == (2.2, 434.1, 5, True)


def test_binary_frames_named_by_device_name_need_the_connection_identity() -> None:
    ack = _binary("gl200-199")
    with pytest.raises(DecodeError) as caught:
        Gl200Decoder().decode(ack, RECEIVED)
    assert caught.value.reason == DecodeReason.NO_DEVICE_ID
    (message,) = Gl200Decoder(device_id=DEVICE_ID).decode(ack, RECEIVED)
    assert (message.kind, message.device_id, message.position) == ("command_reply", DEVICE_ID, None)
    decoder = Gl200Decoder()
    decoder.decode(_binary("gl200-196"), RECEIVED)  # names the IMEI
    (info,) = decoder.decode(_binary("gl200-197"), RECEIVED)
    assert (info.kind, info.device_id) == ("info", "865084030003675")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda f: f[:-1], DecodeReason.TRUNCATED),
        (lambda f: f + b"\x00", DecodeReason.BAD_LENGTH),
        (lambda f: f[:-2] + b"\r\r", DecodeReason.BAD_STOP_BYTES),
        (lambda f: f[:9] + b"\x00\x05" + f[11:], DecodeReason.BAD_LENGTH),
        (lambda f: f[:16] + b"\xff" + f[17:], DecodeReason.INVALID_DEVICE_ID),  # IMEI byte > 99
        (lambda f: f[:4], DecodeReason.TRUNCATED),
    ],
)
def test_binary_refusals(mutate: Callable[[bytes], bytes], reason: str) -> None:
    assert_refused(Gl200Decoder(device_id=DEVICE_ID), mutate(_binary("gl200-196")), reason)


# -- framer ------------------------------------------------------------------------------------------


def _stream_frames() -> list[bytes]:
    frames = []
    for vector in VECTORS:
        raw = payload_bytes(vector)
        if vector["variant"] == "text" and not raw.endswith(b"$"):
            raw += b"$"
        frames.append(raw)
    return frames


STREAM_FRAMES = _stream_frames()


def test_framer_cuts_text_and_binary_at_every_split() -> None:
    picks = [STREAM_FRAMES[0], _binary("gl200-196"), STREAM_FRAMES[5], _binary("gl200-192"), _binary("gl200-199")]
    assert_split_at_every_byte(Gl200Framer, picks)


def test_framer_reports_garbage_and_resyncs() -> None:
    frame, binary = STREAM_FRAMES[0], _binary("gl200-198")
    framer = Gl200Framer()
    out = framer.feed(b"noise+x" + frame + b"\r\n" + binary + b"+RESP:GTFRI,cut" + frame)
    assert frames_of(out) == [frame, binary, frame]
    skipped = [item.raw for item in out if isinstance(item, FramingError)]
    assert b"".join(skipped) == b"noise+x\r\n+RESP:GTFRI,cut"
    # a binary header in junk whose length spans the real frames after it
    framer = Gl200Framer()
    out = framer.feed(b"+RSP\x00\x00\x00\x00\x00\x07\xd0" + frame + binary)
    assert frames_of(out) == [frame, binary]
    assert framer.buffered == 0


def test_framer_limits() -> None:
    framer = Gl200Framer(max_frame_size=100)
    out = framer.feed(b"+RESP:GTFRI," + b"1" * 200)
    assert [item.reason for item in out if isinstance(item, FramingError)] == ["frame_too_long"]
    assert framer.buffered <= 100
    out = Gl200Framer(max_frame_size=100).feed(_binary("gl200-194"))
    assert [item.reason for item in out if isinstance(item, FramingError)] == ["frame_too_long"]
    framer = Gl200Framer()
    framer.feed(FRI[:30])
    (tail,) = framer.flush()
    assert (tail.reason, tail.raw) == ("truncated", FRI[:30])
    bad_end = _binary("gl200-196")[:-2] + b"xx"
    out = Gl200Framer().feed(bad_end)
    assert [item.reason for item in out if isinstance(item, FramingError)] == ["bad_stop_bytes"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.integers(min_value=0, max_value=max(len(STREAM_FRAMES) - 1, 0)), min_size=1, max_size=5),
    garbage=st.lists(st.binary(max_size=12).filter(lambda b: b"+" not in b), min_size=6, max_size=6),
    cuts=st.lists(st.integers(min_value=1, max_value=97), max_size=12),
)
def test_framer_random_chunks_and_garbage(picks: list[int], garbage: list[bytes], cuts: list[int]) -> None:
    frames = [STREAM_FRAMES[i] for i in picks]
    stream = garbage_stream(frames, garbage)
    assert_resyncs_after_garbage(Gl200Framer, frames, stream, itertools.accumulate(cuts))


# -- encoder round trip ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    time_utc=utc_times(),
    latitude=LATITUDES,
    longitude=LONGITUDES,
    speed=st.integers(min_value=0, max_value=9999).map(lambda tenths: tenths / 10),
    heading=st.integers(min_value=0, max_value=359),
    valid=st.booleans(),
    ignition=st.booleans(),
    alarm=st.sampled_from([None, *sorted(gl200.ALARM_REPORTS)]),
    imei=st.from_regex(r"[0-9]{15}", fullmatch=True),
)
def test_encoder_framer_decoder_roundtrip(
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed: float,
    heading: int,
    valid: bool,
    ignition: bool,
    alarm: str | None,
    imei: str,
) -> None:
    time_utc = time_utc.replace(microsecond=0)
    encoder = Gl200Encoder(imei)
    assert encoder.login() is None
    fix = FixToSend(
        time_utc=time_utc,
        latitude=latitude,
        longitude=longitude,
        speed_kmh=speed,
        heading_deg=heading,
        valid=valid,
        ignition=ignition,
        alarm=alarm,
        odometer_km=1234.5,
        altitude_m=-12.0,
    )
    (frame,) = Gl200Framer().feed(encoder.location(fix))
    assert isinstance(frame, bytes)
    decoder = Gl200Decoder()
    (message,) = decoder.decode(frame, RECEIVED)
    position = message.position
    assert position is not None
    assert message.device_id == imei
    assert message.kind == ("alarm" if alarm else "location")
    assert message.attributes.get("alarm") == alarm
    assert position.time_utc == time_utc
    assert position.latitude == pytest.approx(latitude, abs=1e-5)
    assert position.longitude == pytest.approx(longitude, abs=1e-5)
    assert position.speed_kmh == pytest.approx(speed, abs=0.05)
    assert position.heading_deg == heading
    assert (position.valid, position.altitude_m) == (valid, -12.0)
    if alarm is None:
        assert message.attributes["ignition"] is ignition
        assert message.attributes["odometer_km"] == 1234.5
    assert message.response is None
    assert not encoder.awaits_response("location")
    (beat,) = decoder.decode(encoder.heartbeat(), RECEIVED)
    assert encoder.awaits_response("heartbeat")
    assert beat.response == b"+SACK:GTHBD,060100,0001$"
    assert position.flags == tuple(sorted(set(check_position_invariants(position, RECEIVED))))


def test_encoder_refuses_unknown_alarm_and_bad_values() -> None:
    encoder = Gl200Encoder(DEVICE_ID)
    with pytest.raises(ValueError, match="unknown alarm"):
        encoder.location(FixToSend(time_utc=RECEIVED, latitude=1, longitude=1, alarm="door"))
    with pytest.raises(ValueError, match="UTC-aware"):
        encode_heartbeat(imei=DEVICE_ID, count=1, send_time=datetime(2024, 1, 1))  # noqa: DTZ001 - on purpose
    with pytest.raises(ValueError, match="latitude"):
        encode_location(
            imei=DEVICE_ID,
            time_utc=RECEIVED,
            latitude=91,
            longitude=0,
            speed_kmh=0,
            heading_deg=0,
            valid=True,
            ignition=True,
            count=1,
            send_time=RECEIVED,
        )


def test_buffered_reports_are_archive() -> None:
    frame = encode_location(
        imei=DEVICE_ID,
        time_utc=RECEIVED - timedelta(days=1),
        latitude=41.0,
        longitude=26.0,
        speed_kmh=50,
        heading_deg=90,
        valid=True,
        ignition=True,
        count=7,
        send_time=RECEIVED,
        buffered=True,
    )
    (message,) = Gl200Decoder().decode(frame, RECEIVED)
    assert message.attributes["archive"] is True
    assert message.attributes["device_time"] == "2026-08-30T12:00:00Z"


# -- fuzzing: only DecodeError may come out -------------------------------------------------------


def _decode_all(frame: bytes) -> list[DecodedMessage]:
    return fuzz_decode(lambda: Gl200Decoder(device_id=DEVICE_ID), frame, PROTOCOL)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_all(data)
    _decode_all(b"+RSP" + data)
    _decode_all(b"+\x00" + data)


REPORT_TYPES = sorted(
    {"FRI", "ERI", "INF", "CAN", "OBD", "IGN", "IGF", "LSW", "IDA", "WIF", "GSM", "VER", "PNA", "DAR", "DTT"}
    | {"BAA", "BID", "LSA", "LBS", "DAT", "SOS", "HBM", "STR", "NMR", "DIS", "IGL", "TRI"}
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    report=st.sampled_from(REPORT_TYPES),
    fields=st.lists(
        st.one_of(
            st.just(""),
            st.from_regex(r"-?[0-9]{1,3}\.[0-9]{6}", fullmatch=True),
            st.from_regex(r"[0-9A-F]{1,8}", fullmatch=True),
            st.from_regex(r"20[0-9]{12}", fullmatch=True),
            st.text(alphabet="0123456789.:-ABFHKLP", max_size=10),
        ),
        max_size=40,
    ),
)
def test_fuzz_text_reports(report: str, fields: list[str]) -> None:
    """Well-formed report headers with random field values: each handler must cope."""
    _decode_all(",".join([f"+RESP:GT{report}", "060228", "862894020180553", *fields]).encode() + b"$")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=max(len(STREAM_FRAMES) - 1, 0)), data=st.data())
def test_fuzz_mutated_real_frames(index: int, data: st.DataObject) -> None:
    frame = mutated(data, STREAM_FRAMES[index])
    cut = data.draw(st.integers(min_value=0, max_value=len(frame)))
    _decode_all(bytes(frame[:cut]))
    _decode_all(bytes(frame))
    if is_binary(frame) and frame[1] != 0 and len(frame) > 12:
        # keep the length field and the end right so that the content checks are reached
        frame[-2:] = b"\r\n"
        offset, size = gl200.BINARY_LENGTH_FIELD[bytes(frame[:4])]
        frame[offset : offset + size] = len(frame).to_bytes(size)
        _decode_all(bytes(frame))


# -- registry ------------------------------------------------------------------------------------------


def test_registry() -> None:
    spec = protocols.get("gl200")
    assert spec is protocols.PROTOCOLS["gl200"]
    assert (spec.name, spec.default_port, spec.transports, spec.payload, spec.aliases) == (
        "gl200",
        5004,
        ("tcp", "udp"),
        "binary",
        (),
    )
    assert isinstance(spec.decoder_factory(device_id=DEVICE_ID), Gl200Decoder)
    assert spec.framer_factory is not None
    assert isinstance(spec.framer_factory(), Gl200Framer)
    assert spec.encoder_factory is not None
    assert isinstance(spec.encoder_factory(DEVICE_ID), Gl200Encoder)


def test_future_fixes_are_flagged() -> None:
    frame = encode_location(
        imei=DEVICE_ID,
        time_utc=RECEIVED + timedelta(hours=2),
        latitude=0.0,
        longitude=0.0,
        speed_kmh=0,
        heading_deg=0,
        valid=False,
        ignition=False,
        count=1,
        send_time=RECEIVED,
    )
    (message,) = Gl200Decoder().decode(frame, RECEIVED)
    assert message.position is not None
    assert set(message.position.flags) == {
        PositionFlag.FUTURE_TIME,
        PositionFlag.INVALID_FIX,
        PositionFlag.ZERO_COORDINATES,
    }

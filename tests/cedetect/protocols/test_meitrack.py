"""Meitrack: frame checks, the decoder against traccar's real test vectors, framer, builders, fuzzing.

The vectors come from ``shared/data/tracker_vectors`` (traccar's MeitrackProtocolDecoderTest, see its
README).  Every Meitrack frame names its IMEI, so each vector is decoded on a fresh decoder (and, in
``test_one_connection_in_test_order``, all of them in test-line order on one decoder, as traccar's test
does).  Vectors whose checksum or length field was edited in traccar's test are refused with the named
reason first, then decoded with ``verify_integrity=False`` so that traccar's asserted values are still
checked.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cedetect import protocols
from cedetect.models import PositionFlag
from cedetect.protocols import meitrack
from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    DecodeReason,
    FixToSend,
    FramingError,
    check_position_invariants,
)
from cedetect.protocols.meitrack import (
    SERVER_START,
    MeitrackDecoder,
    MeitrackEncoder,
    MeitrackFrame,
    MeitrackFramer,
    build_frame,
    checksum,
    encode_location,
    parse_frame,
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

PROTOCOL = "meitrack"


# -- traccar attribute names -> ours ----------------------------------------------------------------


def _media_file(path: Any) -> str:
    """traccar stores photos as ``yyyy-MM-dd/<file>``; the file name is what the device sent."""
    folder, _, name = str(path).partition("/")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", folder)
    assert name.startswith(folder.replace("-", ""))
    return name


#: traccar attribute -> ours (the attribute table is in the docstring of cedetect.protocols.meitrack).
ATTRIBUTE_MAP: dict[str, Mapped] = {
    "alarm": Mapped("alarm", driving_alarm_set),
    "event": Mapped("event"),
    "sat": Mapped("satellites", field="satellites"),
    "hdop": Mapped("hdop", float, field="hdop"),
    "rssi": Mapped("rssi"),
    "odometer": Mapped("odometer_km", lambda metres: metres / 1000),  # traccar: metres
    "runtime": Mapped("run_time_s", int),
    "input": Mapped("input"),
    "output": Mapped("output"),
    "battery": Mapped("battery_v", float),
    "power": Mapped("power_v", float),
    "batteryLevel": Mapped("battery_level"),
    "battery2Level": Mapped("battery2_level"),
    "battery3Level": Mapped("battery3_level"),
    "fuel": Mapped("fuel_level", float),
    "driverUniqueId": Mapped("driver_id"),
    "eventData": Mapped("event_data"),
    "result": Mapped("result"),
    "lock": Mapped("lock"),
    "throttle": Mapped("throttle_pct"),
    "hours": Mapped("engine_hours_h", lambda ms: ms / 3_600_000),  # traccar: milliseconds
    "image": Mapped("image_file", _media_file),
    "alarmType": Mapped("alarm_type"),
    "tagName": Mapped("tag_name"),
    "tagBattery": Mapped("tag_battery_level"),
    "tagTemp": Mapped("tag_temp_c", float),
    "tagHumidity": Mapped("tag_humidity_pct", float),
    "temp1": Mapped("temp1_c", float),
    "adc1": Mapped("adc1_raw"),
    "obdSpeed": Mapped("obd_speed_kmh", float),
    "rpm": Mapped("obd_rpm", float),
    "coolantTemp": Mapped("obd_coolant_temp_c", float),
    "fuelConsumption": Mapped("fuel_consumption", float),
}

#: traccar attributes this decoder does not produce, with the reason.  An asserted attribute that is
#: neither here nor in ATTRIBUTE_MAP fails the test.
UNSUPPORTED: dict[str, str] = {}

#: Vectors whose integrity check fails: id -> (strict reason, why).  They are decoded again with
#: ``verify_integrity=False`` and every traccar check still applies.
INTEGRITY_FAILURES: dict[str, tuple[str, str]] = {
    "meitrack-004": (DecodeReason.BAD_CHECKSUM, "checksum D6, the bytes sum to 64"),
    "meitrack-005": (DecodeReason.BAD_CHECKSUM, "checksum B8, the bytes sum to B5"),
    "meitrack-010": (DecodeReason.BAD_LENGTH, "length field 28 for a 27-byte frame whose checksum is right"),
    "meitrack-014": (DecodeReason.BAD_CHECKSUM, "checksum FA, the bytes sum to FE"),
    "meitrack-020": (DecodeReason.TRUNCATED, "D00 photo chunk cut short: 1019 of 1086 bytes, no checksum"),
    "meitrack-025": (DecodeReason.BAD_CHECKSUM, "same frame as meitrack-026 with edited event data"),
    "meitrack-032": (DecodeReason.TRUNCATED, "14-digit IMEI edited into the frame: one byte short, checksum off"),
    "meitrack-048": (DecodeReason.BAD_CHECKSUM, "AFF frame with a made-up IMEI: checksum 70, bytes sum to 52"),
}

#: Vectors we cannot decode at all, with the reason (none).
SKIPS: dict[str, str] = {}


VECTORS = load_vectors("meitrack")


def _imei(frame: bytes) -> str:
    return frame.split(b",", 2)[1].decode("latin-1")


def _assert_server_frame(response: bytes, imei: str, command: str) -> MeitrackFrame:
    frame = parse_frame(response, start=SERVER_START)  # length and checksum verified
    assert response.endswith(b"\r\n")
    assert (frame.imei, frame.command) == (imei, command)
    return frame


def test_vectors_are_present() -> None:
    assert VECTORS_FILE.is_file(), f"missing {VECTORS_FILE}"
    assert len(VECTORS) >= 40


@parametrize_vectors(VECTORS)
def test_traccar_vector(vector: dict[str, Any]) -> None:
    vid = vector["id"]
    if vid in SKIPS:
        pytest.skip(SKIPS[vid])
    raw = payload_bytes(vector)
    model = vector_model(vector)
    if vid in INTEGRITY_FAILURES:
        reason, _why = INTEGRITY_FAILURES[vid]
        assert_refused(MeitrackDecoder(device_id=DEVICE_ID, model=model), raw, reason)
        decoder = MeitrackDecoder(device_id=DEVICE_ID, model=model, verify_integrity=False)
    else:
        decoder = MeitrackDecoder(device_id=DEVICE_ID, model=model)

    messages = decoder.decode(raw, RECEIVED)
    assert messages, "a frame that passes the checks decodes to at least one message"
    imei = _imei(raw)
    for message in messages:
        assert message.raw == raw
        assert message.device_id == imei
        assert_position_invariants(message, PROTOCOL)
    command = raw.split(b",", 3)[2][:3].decode("latin-1")
    if command in ("CCC", "AAC"):
        assert messages[0].response is not None
        ack = _assert_server_frame(messages[0].response, imei, command)
        assert ack.flag == chr(raw[2])
        assert ack.data == (str(len(messages)).encode() if command == "CCC" else b"1")
    else:
        assert all(m.response is None for m in messages)

    positions = positions_of(messages)
    expect = vector["expect"]
    if expect == "no_position":
        assert not positions
    elif expect in ("position", "positions"):
        assert positions, "traccar decodes a fix from this frame"
        if expect == "position":
            assert len(positions) == 1
    checks = dict(vector.get("checks") or {})
    check_fix(checks, positions)
    # traccar's verifyAttribute looks at the first position of a frame: so do we, at the first message
    check_attributes(
        checks.get("attributes") or {}, messages[:1], ATTRIBUTE_MAP, unsupported=UNSUPPORTED, extra=exact_type
    )


def test_vector_tables_name_real_vectors() -> None:
    assert_tables_name_vectors(VECTORS, INTEGRITY_FAILURES, SKIPS)


def test_every_vector_is_accounted_for() -> None:
    """Each vector passes the strict checks or is listed with the reason it fails them."""
    refused: set[str] = set()
    for vector in VECTORS:
        raw = payload_bytes(vector)
        try:
            MeitrackDecoder().decode(raw, RECEIVED)
        except DecodeError:
            refused.add(vector["id"])
        MeitrackDecoder(verify_integrity=False).decode(raw, RECEIVED)
    assert refused == set(INTEGRITY_FAILURES)


def test_one_connection_in_test_order() -> None:
    """traccar decodes the vectors of its test method on one decoder, in line order: no state leaks."""
    decoder = MeitrackDecoder(verify_integrity=False)
    for vector in in_line_order(VECTORS):
        raw = payload_bytes(vector)
        messages = decoder.decode(raw, RECEIVED)
        assert decoder.device_id == _imei(raw)
        assert all(m.device_id == _imei(raw) for m in messages)


# -- frame checks ------------------------------------------------------------------------------------

HEARTBEAT = b"$$z27,861451040910625,AAC,1*D3"
LOCATION = (
    b"$$E150,013777001165479,AAA,35,10.296601,123.872115,140501161505,A,4,22,1,170,1.4,77,39097,393563,"
    b"515|3|A0CC|ED96,0000,0008|0003|0000|09D5|0000,,,1,0009*1E"
)


def test_checksum_and_builder() -> None:
    assert checksum(HEARTBEAT[:-2]) == b"D3"
    assert build_frame("z", "861451040910625", "AAC", b"1") == HEARTBEAT + b"\r\n"
    assert build_frame("E", "013777001165479", "AAA", LOCATION.split(b",AAA,")[1][:-3]) == LOCATION + b"\r\n"
    with pytest.raises(ValueError, match="flag"):
        build_frame("zz", "1", "AAC")


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", DecodeReason.TRUNCATED),
        (b"$", DecodeReason.TRUNCATED),
        (b"$$z2", DecodeReason.TRUNCATED),
        (b"##z27,861451040910625,AAC,1*D3", DecodeReason.BAD_START_BYTES),
        (b"$$zAB,861451040910625,AAC,1*D3", DecodeReason.MALFORMED),
        (HEARTBEAT[:-3] + b"+D3", DecodeReason.MALFORMED),
        (HEARTBEAT[:-2] + b"D4", DecodeReason.BAD_CHECKSUM),
        (HEARTBEAT.replace(b",1*", b",2*"), DecodeReason.BAD_CHECKSUM),
        (HEARTBEAT[:20], DecodeReason.TRUNCATED),
        (LOCATION + b"\r\n\r\n", DecodeReason.MALFORMED),
        (b"$$z27,861451040910625,AAC,10*" + checksum(b"$$z27,861451040910625,AAC,10*"), DecodeReason.BAD_LENGTH),
        (b"$$z28,861451040910625,AAC,1*" + checksum(b"$$z28,861451040910625,AAC,1*"), DecodeReason.BAD_LENGTH),
        (b"$$z30,", DecodeReason.TRUNCATED),
    ],
)
def test_frame_integrity(frame: bytes, reason: str) -> None:
    assert_refused(MeitrackDecoder(device_id=DEVICE_ID), frame, reason)


def test_with_and_without_line_end() -> None:
    for frame in (LOCATION, LOCATION + b"\r\n"):
        (message,) = MeitrackDecoder().decode(frame, RECEIVED)
        assert message.position is not None
        assert message.position.time_utc == datetime(2014, 5, 1, 16, 15, 5, tzinfo=UTC)


def test_aaa_fields() -> None:
    (message,) = MeitrackDecoder().decode(LOCATION, RECEIVED)
    position = message.position
    assert position is not None
    assert message.kind == "location"
    assert (position.latitude, position.longitude) == (10.296601, 123.872115)
    assert (position.valid, position.satellites, position.hdop) == (True, 4, 1.4)
    assert (position.speed_kmh, position.heading_deg, position.altitude_m) == (1.0, 170.0, 77.0)
    a = message.attributes
    assert a["event"] == 35
    assert "alarm" not in a
    assert (a["rssi"], a["odometer_km"], a["run_time_s"]) == (22, 39.097, 393563)
    assert (a["mcc"], a["mnc"], a["lac"], a["cell_id"]) == (515, 3, 0xA0CC, 0xED96)
    assert (a["input"], a["output"]) == (0, 0)
    assert (a["adc1_raw"], a["adc2_raw"], a["adc3_raw"]) == (8, 3, 0)
    assert a["battery_v"] == pytest.approx(0x09D5 / 100)
    assert a["power_v"] == 0.0
    assert (a["protocol_version"], a["fuel_level"]) == (1, 0.09)


def test_model_scaling_of_hex_voltages() -> None:
    (mvt380,) = MeitrackDecoder(model="mvt380").decode(LOCATION, RECEIVED)
    assert mvt380.attributes["battery_v"] == pytest.approx(0x09D5 * 6.0 / 1024.0)
    (t1,) = MeitrackDecoder(model="T1").decode(LOCATION, RECEIVED)
    assert t1.attributes["battery_v"] == pytest.approx(0x09D5 * 6.6 / 4096.0)
    (mt90,) = MeitrackDecoder(model="MT90").decode(LOCATION, RECEIVED)
    assert mt90.attributes["power_raw"] == 0
    assert "power_v" not in mt90.attributes


def test_alarm_events_and_driver_and_temperatures() -> None:
    base = "35,-6.138255,106.910545,121205074600,A,5,18,0,0,0,49,3800,24826,510|10|0081|4F4F,0000,"
    frame = build_frame("A", DEVICE_ID, "AAA", (base.replace("35,", "1,", 1) + "1.00|12.50|3.3|3.3|3.3,,").encode())
    (sos,) = MeitrackDecoder().decode(frame, RECEIVED)
    assert (sos.kind, sos.attributes["alarm"], sos.attributes["battery_v"], sos.attributes["power_v"]) == (
        "alarm",
        "sos",
        1.0,
        12.5,
    )
    tail = "0000|0000|0000|0191|0573,AB12CD,,3,1234,0110C4|02FF38"
    driver = build_frame("B", DEVICE_ID, "AAA", (base.replace("35,", "37,", 1) + tail).encode())
    (message,) = MeitrackDecoder().decode(driver, RECEIVED)
    a = message.attributes
    assert a["driver_id"] == "AB12CD"
    assert a["fuel_level"] == pytest.approx(0x12 + 0x34 * 0.01)
    assert a["temp1_c"] == pytest.approx(0x10C4 * 0.01)
    assert a["temp2_c"] == pytest.approx(-2.0)
    assert "alarm" not in a


def test_command_replies_and_photo_chunks() -> None:
    decoder = MeitrackDecoder()
    (reply,) = decoder.decode(b"$$D28,353358017784062,D03,OK*F3", RECEIVED)
    assert (reply.kind, reply.attributes, reply.position, reply.response) == (
        "command_reply",
        {"result": "D03,OK"},
        None,
        None,
    )
    chunk = build_frame("O", DEVICE_ID, "D00", b"pic.jpg,3,1,\xff\xd8\x2a\x2c\x00")
    (photo,) = decoder.decode(chunk, RECEIVED)
    assert photo.kind == "photo"
    assert photo.attributes == {"photo_file": "pic.jpg", "photo_chunks": 3, "photo_chunk": 1}
    with pytest.raises(DecodeError) as caught:
        decoder.decode(build_frame("O", DEVICE_ID, "D00", b"pic.jpg,x,1,\x00"), RECEIVED)
    assert caught.value.reason == DecodeReason.MALFORMED
    with pytest.raises(DecodeError) as caught:
        decoder.decode(build_frame("A", DEVICE_ID, "AAA", b"35,1,2"), RECEIVED)
    assert caught.value.reason == DecodeReason.MALFORMED


def _ccc_record(event: int, seconds: int) -> bytes:
    return (
        bytes([event])
        + (-7266504).to_bytes(4, "little", signed=True)
        + (112743651).to_bytes(4, "little", signed=True)
        + seconds.to_bytes(4, "little")
        + bytes([1, 9, 19])
        + (54).to_bytes(2, "little")  # speed
        + (400).to_bytes(2, "little")  # course 400 -> 40
        + (12).to_bytes(2, "little")  # hdop 1.2
        + (30).to_bytes(2, "little")  # altitude
        + (80083).to_bytes(4, "little")
        + (180092).to_bytes(4, "little")
        + (510).to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + (13572).to_bytes(2, "little")
        + (60414).to_bytes(2, "little")
        + (2).to_bytes(2, "little")
        + (5).to_bytes(2, "little")
        + (419).to_bytes(2, "little")
        + (0).to_bytes(2, "little")
        + (3).to_bytes(4, "little")
    )


def test_ccc_records_and_acknowledgement() -> None:
    records = _ccc_record(1, 0) + _ccc_record(35, 454222789)
    data = (0x0102).to_bytes(2, "little") + (52).to_bytes(2, "little") + (7).to_bytes(4, "little") + records
    frame = build_frame("Q", DEVICE_ID, "CCC", data)
    first, second = MeitrackDecoder().decode(frame, RECEIVED)
    assert (first.kind, first.attributes["alarm"], second.kind) == ("alarm", "sos", "location")
    assert first.position is not None
    assert second.position is not None
    assert first.position.time_utc == datetime(2000, 1, 1, tzinfo=UTC)
    assert second.position.time_utc == datetime(2014, 5, 24, 4, 59, 49, tzinfo=UTC)
    assert (second.position.heading_deg, second.position.hdop, second.position.speed_kmh) == (40.0, 1.2, 54.0)
    assert second.attributes["remaining_cache"] == 7
    assert second.attributes["geofence_id"] == 3
    assert (
        first.response
        == b"@@Q27," + DEVICE_ID.encode() + b",CCC,2*" + checksum(b"@@Q27," + DEVICE_ID.encode() + b",CCC,2*") + b"\r\n"
    )
    with pytest.raises(DecodeError) as caught:
        MeitrackDecoder().decode(build_frame("Q", DEVICE_ID, "CCC", data[:-1]), RECEIVED)
    assert caught.value.reason == DecodeReason.TRUNCATED
    short = (0x0102).to_bytes(2, "little") + (20).to_bytes(2, "little") + (7).to_bytes(4, "little")
    with pytest.raises(DecodeError) as caught:
        MeitrackDecoder().decode(build_frame("Q", DEVICE_ID, "CCC", short), RECEIVED)
    assert caught.value.reason == DecodeReason.MALFORMED


def test_ccc_acknowledgement_counts_more_records() -> None:
    messages = MeitrackDecoder().decode(frame_by_id(VECTORS, "meitrack-050"), RECEIVED)
    assert len(messages) == 18
    assert messages[0].response is not None
    assert messages[0].response.startswith(b"@@G28,369800013460674,CCC,18*")
    assert all(m.response is None for m in messages[1:])


def test_cce_record_without_fix_and_truncated_record() -> None:
    record = (5).to_bytes(2, "little") + bytes([1, 0x01, 17, 0, 0, 0])  # index, event 17, no fix
    data = (0).to_bytes(4, "little") + (1).to_bytes(2, "little") + len(record).to_bytes(2, "little") + record
    (message,) = MeitrackDecoder().decode(build_frame("C", DEVICE_ID, "CCE", data), RECEIVED)
    assert (message.kind, message.position, message.attributes["alarm"]) == ("alarm", None, "low_battery")
    assert message.attributes["record_index"] == 5
    with pytest.raises(DecodeError) as caught:
        MeitrackDecoder().decode(build_frame("C", DEVICE_ID, "CCE", data[:-2]), RECEIVED)
    assert caught.value.reason == DecodeReason.TRUNCATED
    with pytest.raises(DecodeError) as caught:
        MeitrackDecoder().decode(build_frame("C", DEVICE_ID, "CCE", data + b"\x00"), RECEIVED)
    assert caught.value.reason == DecodeReason.MALFORMED


# -- framer ------------------------------------------------------------------------------------------


def _strict_frames() -> list[bytes]:
    frames = []
    for vector in VECTORS:
        if vector["id"] in INTEGRITY_FAILURES:
            continue
        raw = payload_bytes(vector)
        frames.append(raw if raw.endswith(b"\r\n") else raw + b"\r\n")
    return frames


STREAM_FRAMES = _strict_frames()


def test_framer_cuts_concatenated_frames_at_every_split() -> None:
    assert_split_at_every_byte(MeitrackFramer, [f for f in STREAM_FRAMES if len(f) < 400][:6])


def test_framer_reports_garbage_and_resyncs() -> None:
    framer = MeitrackFramer()
    frame = STREAM_FRAMES[0]
    out = framer.feed(b"noise$$x" + frame + b"junk" + frame)
    assert frames_of(out) == [frame, frame]
    skipped = b"".join(item.raw for item in out if isinstance(item, FramingError))
    assert skipped == b"noise$$xjunk"
    # a $$ inside junk whose length field spans the real frame after it
    framer = MeitrackFramer()
    out = framer.feed(b"$$A999," + frame)
    assert frames_of(out) == [frame]
    assert framer.buffered == 0


def test_framer_bad_checksum_frame_goes_to_the_decoder() -> None:
    bad = HEARTBEAT[:-2] + b"D4\r\n"
    framer = MeitrackFramer()
    (item,) = framer.feed(bad)
    assert item == bad
    with pytest.raises(DecodeError) as caught:
        MeitrackDecoder().decode(bad, RECEIVED)
    assert caught.value.reason == DecodeReason.BAD_CHECKSUM


def test_framer_limits() -> None:
    framer = MeitrackFramer(max_frame_size=64)
    out = framer.feed(b"$$A500,123")
    assert [item.reason for item in out if isinstance(item, FramingError)] == ["frame_too_long"]
    assert framer.buffered <= 64
    framer = MeitrackFramer()
    framer.feed(HEARTBEAT[:10])
    (tail,) = framer.flush()
    assert (tail.reason, tail.raw) == ("truncated", HEARTBEAT[:10])
    out = MeitrackFramer().feed(b"$$A27,861451040910625,AAC,1*D3xx")
    assert [item.reason for item in out if isinstance(item, FramingError)] == ["bad_stop_bytes"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.integers(min_value=0, max_value=max(len(STREAM_FRAMES) - 1, 0)), min_size=1, max_size=5),
    garbage=st.lists(st.binary(max_size=12).filter(lambda b: b"$" not in b), min_size=6, max_size=6),
    cuts=st.lists(st.integers(min_value=1, max_value=97), max_size=12),
)
def test_framer_random_chunks_and_garbage(picks: list[int], garbage: list[bytes], cuts: list[int]) -> None:
    frames = [STREAM_FRAMES[i] for i in picks]
    stream = garbage_stream(frames, garbage)
    assert_resyncs_after_garbage(MeitrackFramer, frames, stream, itertools.accumulate(cuts))


# -- encoder round trip ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    time_utc=utc_times(),
    latitude=LATITUDES,
    longitude=LONGITUDES,
    speed=st.integers(min_value=0, max_value=3000).map(lambda tenths: tenths / 10),
    heading=st.integers(min_value=0, max_value=359),
    satellites=st.integers(min_value=0, max_value=30),
    valid=st.booleans(),
    alarm=st.sampled_from([None, *sorted(meitrack.ALARM_EVENTS)]),
    imei=st.from_regex(r"[0-9]{15}", fullmatch=True),
)
def test_encoder_framer_decoder_roundtrip(
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed: float,
    heading: int,
    satellites: int,
    valid: bool,
    alarm: str | None,
    imei: str,
) -> None:
    time_utc = time_utc.replace(microsecond=0)
    encoder = MeitrackEncoder(imei)
    assert encoder.login() is None
    fix = FixToSend(
        time_utc=time_utc,
        latitude=latitude,
        longitude=longitude,
        speed_kmh=speed,
        heading_deg=heading,
        satellites=satellites,
        valid=valid,
        alarm=alarm,
        odometer_km=12.345,
        altitude_m=-12.0,
    )
    (frame,) = MeitrackFramer().feed(encoder.location(fix))
    assert isinstance(frame, bytes)
    (message,) = MeitrackDecoder().decode(frame, RECEIVED)
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
    assert (position.satellites, position.valid, position.altitude_m) == (satellites, valid, -12.0)
    assert message.attributes["odometer_km"] == 12.345
    assert message.response is None
    assert not encoder.awaits_response("location")
    assert position.flags == tuple(sorted(set(check_position_invariants(position, RECEIVED))))


def test_encoder_refuses_unknown_alarm_and_bad_values() -> None:
    encoder = MeitrackEncoder(DEVICE_ID)
    with pytest.raises(ValueError, match="unknown alarm"):
        encoder.location(FixToSend(time_utc=RECEIVED, latitude=1, longitude=1, alarm="door"))
    with pytest.raises(ValueError, match="UTC-aware"):
        encode_location(
            imei=DEVICE_ID,
            flag="A",
            time_utc=datetime(2024, 1, 1),  # noqa: DTZ001 - refused on purpose
            latitude=0,
            longitude=0,
            speed_kmh=0,
            heading_deg=0,
            satellites=0,
            valid=True,
        )
    assert encoder.heartbeat() is None


# -- fuzzing: only DecodeError may come out -------------------------------------------------------


def _decode_all(frame: bytes, *, verify: bool = True) -> list[DecodedMessage]:
    return fuzz_decode(lambda: MeitrackDecoder(device_id=DEVICE_ID, verify_integrity=verify), frame, PROTOCOL)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_all(data)
    _decode_all(b"$$A" + data, verify=False)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    command=st.sampled_from(["AAA", "CCC", "CCE", "AAC", "D00", "D82", "AFF", "XYZ"]),
    content=st.binary(max_size=200),
)
def test_fuzz_well_framed_random_content(command: str, content: bytes) -> None:
    _decode_all(build_frame("F", DEVICE_ID, command, content))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=max(len(STREAM_FRAMES) - 1, 0)), data=st.data())
def test_fuzz_mutated_real_frames(index: int, data: st.DataObject) -> None:
    frame = mutated(data, STREAM_FRAMES[index])
    cut = data.draw(st.integers(min_value=0, max_value=len(frame)))
    _decode_all(bytes(frame[:cut]))
    _decode_all(bytes(frame), verify=False)
    content = bytes(STREAM_FRAMES[index])
    imei = _imei(content)
    command = content.split(b",", 3)[2][:3].decode("latin-1")
    body = bytes(frame).partition(b"," + command.encode() + b",")[2][:-5]
    _decode_all(build_frame("M", imei if imei.isalnum() else DEVICE_ID, command, body))  # re-sealed mutation


# -- registry ------------------------------------------------------------------------------------------


def test_registry() -> None:
    spec = protocols.get("meitrack")
    assert spec is protocols.PROTOCOLS["meitrack"]
    assert (spec.name, spec.default_port, spec.transports, spec.payload) == (
        "meitrack",
        5020,
        ("tcp", "udp"),
        "binary",
    )
    assert isinstance(spec.decoder_factory(device_id=DEVICE_ID), MeitrackDecoder)
    assert spec.framer_factory is not None
    assert isinstance(spec.framer_factory(), MeitrackFramer)
    assert spec.encoder_factory is not None
    assert isinstance(spec.encoder_factory(DEVICE_ID), MeitrackEncoder)


def test_acknowledgement_echoes_any_flag_byte() -> None:
    frame = b"$$\xd327,861451040910625,AAC,1*"
    frame += checksum(frame)
    (message,) = MeitrackDecoder().decode(frame, RECEIVED)
    assert message.response is not None
    assert message.response.startswith(b"@@\xd327,861451040910625,AAC,1*")
    _assert_server_frame(message.response, "861451040910625", "AAC")


def test_invalid_device_id_in_frame() -> None:
    frame = build_frame("A", "bad imei!", "AAC", b"1")
    with pytest.raises(DecodeError) as caught:
        MeitrackDecoder().decode(frame, RECEIVED)
    assert caught.value.reason == DecodeReason.INVALID_DEVICE_ID


def test_future_and_invalid_fixes_are_flagged() -> None:
    frame = encode_location(
        imei=DEVICE_ID,
        flag="A",
        time_utc=RECEIVED + timedelta(hours=2),
        latitude=0.0,
        longitude=0.0,
        speed_kmh=0,
        heading_deg=0,
        satellites=0,
        valid=False,
    )
    (message,) = MeitrackDecoder().decode(frame, RECEIVED)
    assert message.position is not None
    assert set(message.position.flags) == {
        PositionFlag.FUTURE_TIME,
        PositionFlag.INVALID_FIX,
        PositionFlag.ZERO_COORDINATES,
    }
    broken = build_frame(
        "A",
        DEVICE_ID,
        "AAA",
        b"35,1.000000,2.000000,241399000000,A,1,1,0,0,1,0,0,0,0|0|0|0,0000,0000|0000|0000|0100|0100,,",
    )
    with pytest.raises(DecodeError) as caught:
        MeitrackDecoder().decode(broken, RECEIVED)
    assert caught.value.reason == DecodeReason.INVALID_TIME

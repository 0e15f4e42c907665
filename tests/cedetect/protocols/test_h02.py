"""H02: the decoder against traccar's real test vectors, the mixed text/binary framer, acks, fuzzing, round trips.

The vectors come from ``shared/data/tracker_vectors`` (traccar's H02ProtocolDecoderTest, see its
README).  Every H02 frame names its device, so each vector is decoded on a fresh decoder (preset
with a device id only for the frame that carries none, as traccar's test session does).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cedetect import protocols
from cedetect.models import PositionFlag
from cedetect.protocols.base import DecodedMessage, DecodeError, DecodeReason, FixToSend, FramingError
from cedetect.protocols.h02 import (
    BINARY_MIN_LENGTH,
    KNOT_KMH,
    STATUS_ALARMS,
    H02Decoder,
    H02Encoder,
    H02Framer,
    encode_binary_location,
    encode_status,
    encode_text_location,
    status_attributes,
)
from tests.cedetect.protocols.vectors import (
    DEVICE_ID,
    LATITUDES,
    LONGITUDES,
    RECEIVED,
    VECTORS_FILE,
    Mapped,
    alarm_set,
    assert_noise_then_resync,
    assert_position_invariants,
    assert_refused,
    assert_resyncs_after_garbage,
    assert_split_at_every_byte,
    assert_tables_name_vectors,
    check_attributes,
    check_fix,
    chunked,
    errors_of,
    feed_all,
    frames_of,
    fuzz_decode,
    garbage_stream,
    load_vectors,
    mutated,
    parametrize_vectors,
    payload_bytes,
    positions_of,
    same,
    utc_times,
    vector_by_id,
    vector_model,
)

PROTOCOL = "h02"
VECTORS = load_vectors("h02")


# -- traccar attribute names -> ours ----------------------------------------------------------------

#: traccar attribute -> ours (the attribute table is in the docstring of cedetect.protocols.h02).
ATTRIBUTE_MAP: dict[str, Mapped] = {
    "alarm": Mapped("alarm", alarm_set),
    "status": Mapped("raw_status"),
    "ignition": Mapped("ignition"),
    "batteryLevel": Mapped("battery_level"),
    "battery": Mapped("battery_adc"),
    "result": Mapped("result"),
    "odometer": Mapped("odometer_km", lambda metres: metres / 1000),  # traccar: metres
    "temp1": Mapped("temp1_c", float),
    "fuel": Mapped("fuel_level", float),
    "rssi": Mapped("rssi"),
    "sat": Mapped("satellites", field="satellites"),
    "steps": Mapped("steps"),
    "turnovers": Mapped("turnovers"),
    **{f"io{n}": Mapped(f"data{n}") for n in range(1, 17)},
}

#: traccar attributes this decoder does not produce, with the reason.  An asserted attribute that is
#: neither here nor in ATTRIBUTE_MAP fails the test.
UNSUPPORTED: dict[str, str] = {}

#: Vectors traccar drops (returns null for), which we refuse with a named reason.
TRACCAR_DROPS: dict[str, tuple[str, str]] = {
    "h02-021": (DecodeReason.UNKNOWN_MESSAGE_TYPE, "XT command: no layout in traccar's decoder"),
    "h02-024": (DecodeReason.UNKNOWN_MESSAGE_TYPE, "'*HQ,<id>,#' has an empty command"),
}

#: Vectors decoded without problems into a message other than a fix, where traccar returns nothing:
#: vector id -> (our kind, why).
NO_POSITION_MESSAGES: dict[str, tuple[str, str]] = {
    "h02-008": ("heartbeat", "HTBT without a battery value: traccar echoes it and returns null; we report it"),
    "h02-017": ("status", "V1 with empty coordinates: traccar drops it; we report its status word"),
}

#: Vectors we cannot decode as traccar does (kept small): vector id -> reason.
SKIPS: dict[str, str] = {}


def _expected_device_id(raw: bytes) -> str:
    if raw[:1] == b"$":
        return raw[1:9].hex()[:15] if len(raw) == 42 else raw[1:6].hex()
    frame_id = raw.decode("ascii").split(",")[1]
    return frame_id or DEVICE_ID


def _decoder(vector: dict[str, Any]) -> H02Decoder:
    return H02Decoder(device_id=DEVICE_ID, model=vector_model(vector))


def _decode_vector(vector: dict[str, Any]) -> list[DecodedMessage]:
    return _decoder(vector).decode(payload_bytes(vector), RECEIVED)


def test_vectors_are_present() -> None:
    assert VECTORS_FILE.is_file(), f"missing {VECTORS_FILE}"
    assert len(VECTORS) >= 70


def test_vector_tables_name_real_vectors() -> None:
    assert_tables_name_vectors(VECTORS, TRACCAR_DROPS, NO_POSITION_MESSAGES, SKIPS)
    for vid in TRACCAR_DROPS:
        assert vector_by_id(VECTORS, vid)["expect"] == "no_position"


@parametrize_vectors(VECTORS)
def test_traccar_vector(vector: dict[str, Any]) -> None:
    vid = vector["id"]
    raw = payload_bytes(vector)
    if vid in SKIPS:
        pytest.skip(SKIPS[vid])
    if vid in TRACCAR_DROPS:
        reason, _why = TRACCAR_DROPS[vid]
        assert_refused(_decoder(vector), raw, reason)
        return

    messages = _decode_vector(vector)
    assert messages
    for message in messages:
        assert message.raw == raw
        assert message.device_id == _expected_device_id(raw)
        assert_position_invariants(message, PROTOCOL)
        _check_response(raw, message)

    positions = positions_of(messages)
    expect = vector["expect"]
    if expect == "no_position":
        assert not positions
        if vid in NO_POSITION_MESSAGES:
            assert [m.kind for m in messages] == [NO_POSITION_MESSAGES[vid][0]]
    elif expect in ("position", "positions"):
        assert positions, "traccar decodes a fix from this frame"
    elif expect == "attributes":
        assert any(m.attributes for m in messages)

    checks = dict(vector.get("checks") or {})
    check_fix(checks, positions)
    _check_attributes(checks.get("attributes") or {}, checks.get("java_types") or {}, messages)


def _check_response(raw: bytes, message: DecodedMessage) -> None:
    if raw[:1] == b"$":
        assert message.response is None  # traccar acknowledges binary frames only when configured to
        return
    fields = raw.decode("ascii").strip().rstrip("#").split(",")
    command = fields[2]
    if command in ("V1", "NBR") and fields[1] and message.kind != "status":  # traccar answers what it decodes
        assert message.response == f"*HQ,{fields[1]},V4,{command},20260830120000#".encode()
    elif command in ("HTBT", "V0"):
        assert message.response == (",".join(fields[:3]) + "#").encode()
    else:
        assert message.response is None


_JAVA_TYPES: dict[str, tuple[type, ...]] = {
    "Integer": (int,),
    "Long": (int,),
    "Double": (float,),
    "Boolean": (bool,),
    "String": (str,),
}


def _check_attributes(expected: dict[str, Any], java_types: dict[str, str], messages: list[DecodedMessage]) -> None:
    """traccar's attribute checks; a value traccar passes through unconverted has its Java type."""

    def java_type(key: str, mapped: Mapped, got: Any, want: Any) -> None:
        if not isinstance(want, float) and mapped.convert is same and key in java_types:
            assert isinstance(got, _JAVA_TYPES[java_types[key]])
            assert isinstance(got, bool) == (java_types[key] == "Boolean")

    check_attributes(expected, messages, ATTRIBUTE_MAP, unsupported=UNSUPPORTED, extra=java_type)


def test_every_vector_is_accounted_for() -> None:
    decoded = refused = 0
    for vector in VECTORS:
        if vector["id"] in TRACCAR_DROPS:
            refused += 1
            continue
        assert _decode_vector(vector)
        decoded += 1
    assert decoded + refused == len(VECTORS)
    assert not SKIPS


# -- text layouts, acks and the status word ---------------------------------------------------------


def test_v1_fix_and_its_acknowledgement() -> None:
    frame = b"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF,712,01,0,0,6#"
    (message,) = H02Decoder().decode(frame, RECEIVED)
    assert message.kind == "location"
    assert message.device_id == "4210051415"
    assert message.response == b"*HQ,4210051415,V4,V1,20260830120000#"
    position = message.position
    assert position is not None
    assert position.time_utc == datetime(2015, 12, 22, 16, 45, 49, tzinfo=UTC)
    assert (position.latitude, position.longitude) == pytest.approx((9.93978, -84.11178), abs=1e-5)
    assert position.attributes["raw_status"] == 0xFFFFFBFF
    assert position.attributes["ignition"] is False
    assert "alarm" not in position.attributes
    assert [position.attributes[f"data{n}"] for n in range(1, 6)] == ["712", "01", "0", "0", "6"]


@pytest.mark.parametrize(
    ("latitude", "longitude", "expected"),
    [
        ("-23-29.0095,S", "-46-51.5852,W", (-23.48349, -46.85975)),  # -DD-MM.MMMM
        ("3542.2043,N", "38.6508,W", (35.70341, -0.64418)),  # longitude without degrees
        ("701.8915,S", "3450.3399,W", (-7.03153, -34.83900)),  # one degree digit
        ("35421234,N", "001120000,E", (35.70206, 1.20000)),  # DDMMmmmm, no dot
    ],
)
def test_coordinate_formats(latitude: str, longitude: str, expected: tuple[float, float]) -> None:
    frame = f"*HQ,2705171109,V1,213324,A,{latitude},{longitude},0.00,000,140613,FFFFFFFF#".encode()
    (message,) = H02Decoder().decode(frame, RECEIVED)
    assert message.position is not None
    assert (message.position.latitude, message.position.longitude) == pytest.approx(expected, abs=1e-5)


def test_speed_is_knots_and_course_360_is_north() -> None:
    frame = b"*HQ,2705171109,V1,213324,A,5002.5849,N,01433.7822,E,10.00,360,140613,FFFFFFFF#"
    (message,) = H02Decoder().decode(frame, RECEIVED)
    assert message.position is not None
    assert message.position.speed_kmh == pytest.approx(18.52)
    assert message.position.heading_deg == 0.0


def test_frame_without_date_takes_the_receive_time() -> None:
    frame = b"*HQ,353505220873067,V1,,V,4605.75732,N,01430.73863,E,0.00,0,,FFFFFFEF,125,194,  64,d3#"
    (message,) = H02Decoder().decode(frame, RECEIVED)
    assert message.position is not None
    assert message.position.time_utc == RECEIVED
    assert message.position.attributes["time_assumed"] is True
    assert message.position.valid is False
    assert message.position.attributes["data3"] == "64"  # trimmed, as traccar does


def test_v19_sim_fields_and_battery_never_eats_the_date() -> None:
    frame = (
        b"*HQ,4209951296,V19,214452,A,5201.0178,N,01830.5029,E,000.00,000,200417,,195.63.13.195,"
        b"89480610500392633029,BFFFFBFF#"
    )
    (message,) = H02Decoder().decode(frame, RECEIVED)
    assert message.position is not None
    assert message.position.time_utc == datetime(2017, 4, 20, 21, 44, 52, tzinfo=UTC)
    assert message.position.attributes["iccid"] == "89480610500392633029"
    assert message.position.attributes["raw_status"] == 0xBFFFFBFF
    battery = b"*HQ,4210209006,V1,054048,A,2828.2297,N,07733.4332,E,000.5,047,4,080918,EEE7FBDF,4261193,0#"
    (message,) = H02Decoder().decode(battery, RECEIVED)
    assert message.position is not None
    assert message.position.time_utc == datetime(2018, 9, 8, 5, 40, 48, tzinfo=UTC)
    assert message.position.attributes["raw_status"] == 0xEEE7FBDF  # not mistaken for SIM data
    assert "iccid" not in message.position.attributes


def test_six_field_tail() -> None:
    frame = (
        b"*HQ,4109179024,V1,181519,A,3853.2587,S,06205.9175,W,000.00,000,090217,FFFFFBFF,12345,-5,33.5,412,1a2b,3c4d#"
    )
    (message,) = H02Decoder().decode(frame, RECEIVED)
    position = message.position
    assert position is not None
    assert position.altitude_m == 412.0
    assert position.attributes["odometer_km"] == pytest.approx(12.345)
    assert position.attributes["temp1_c"] == -5.0
    assert position.attributes["fuel_level"] == 33.5
    assert (position.attributes["lac"], position.attributes["cell_id"]) == (0x1A2B, 0x3C4D)


def test_command_reply_keeps_its_fix() -> None:
    frame = b"*TH,2020916012,V4,S20,DONE,130305,050316,A,2212.8745,N,11346.6574,E,14.28,028,220902,FFFFFBFF#\r\n"
    (message,) = H02Decoder().decode(frame, RECEIVED)
    assert message.kind == "command_reply"
    assert message.attributes["result"] == "S20,DONE,130305"
    assert message.position is not None
    assert message.position.time_utc == datetime(2002, 9, 22, 5, 3, 16, tzinfo=UTC)
    assert message.response is None


def test_heartbeat_is_echoed() -> None:
    (beat,) = H02Decoder().decode(b"*HQ,135790246811220,HTBT,100#", RECEIVED)
    assert (beat.kind, beat.position, beat.attributes["battery_level"]) == ("heartbeat", None, 100)
    assert beat.response == b"*HQ,135790246811220,HTBT#"
    (v0,) = H02Decoder().decode(b"*TH,4209951296,V0#", RECEIVED)
    assert v0.kind == "heartbeat"
    assert v0.response == b"*TH,4209951296,V0#"


def test_cell_reports_have_no_position() -> None:
    nbr = b"*HQ,4208150188,NBR,210249,260,6,0,2,1014,50675,37,1014,50633,27,281216,FFFFFBFF,2#"
    (message,) = H02Decoder().decode(nbr, RECEIVED)
    assert message.position is None
    assert message.kind == "lbs"
    assert message.attributes["device_time"] == "2016-12-28T21:02:49+00:00"
    assert (message.attributes["mcc"], message.attributes["mnc"], message.attributes["cell_count"]) == (260, 6, 2)
    assert message.response == b"*HQ,4208150188,V4,NBR,20260830120000#"
    bad_clock = b"*HQ,1400046168,NBR,160169,460,0,1,1,9338,3692,150,180813,FFFFFBFF#"
    (message,) = H02Decoder().decode(bad_clock, RECEIVED)
    assert "device_time" not in message.attributes  # 16:01:69 is no time; the cells are kept
    (vp1,) = H02Decoder().decode(b"*hq,356327081001239,VP1,V,470,002,92,3565,0Y92,19433,30#", RECEIVED)
    assert (vp1.kind, vp1.attributes["lac"], vp1.attributes["cell_id"], vp1.attributes["cell_count"]) == (
        "lbs",
        92,
        3565,
        2,
    )


def test_sms_text() -> None:
    (message,) = H02Decoder().decode(b"*HQ,4209951296,SMS,Hello, world#", RECEIVED)
    assert (message.kind, message.attributes["result"]) == ("command_reply", "Hello, world")


@pytest.mark.parametrize(
    ("status", "alarm", "ignition"),
    [
        (0xFFFFFFFF, None, True),
        (0xFFFFFBFF, None, False),
        (0xFFFFFFFE, "vibration", True),
        (0xFFFFFFFC, "vibration", True),  # one alarm per word, in traccar's priority
        (0xFFFFFFFD, "sos", True),
        (0xFFFBFFFF, "sos", True),
        (0xFFFFFFFB, "overspeed", True),
        (0xFFF7FFFF, "power_cut", True),
    ],
)
def test_status_word(status: int, alarm: str | None, ignition: bool) -> None:
    attributes = status_attributes(status)
    assert attributes.get("alarm") == alarm
    assert attributes["ignition"] is ignition
    assert attributes["raw_status"] == status


@pytest.mark.parametrize("alarm", sorted(STATUS_ALARMS))
def test_encoded_status_alarms_read_back(alarm: str) -> None:
    for ignition in (True, False):
        attributes = status_attributes(encode_status(ignition=ignition, alarm=alarm))
        assert (attributes["alarm"], attributes["ignition"]) == (alarm, ignition)


# -- binary layout -----------------------------------------------------------------------------------


def test_binary_frame_fields() -> None:
    frame = bytes.fromhex("24410600082621532131081504419390060740418306000000fffffbfdff0015060000002c02dc0c000000001f")
    (message,) = H02Decoder().decode(frame, RECEIVED)
    position = message.position
    assert position is not None
    assert message.device_id == "4106000826"
    assert position.time_utc == datetime(2015, 8, 31, 21, 53, 21, tzinfo=UTC)
    assert (position.latitude, position.longitude) == pytest.approx((4.69898, -74.06971), abs=1e-5)
    assert position.attributes["battery_level"] == 100
    assert position.attributes["alarm"] == "sos"  # bit 1 clear in FFFFFBFD
    assert message.kind == "alarm"


def test_long_id_binary_frame() -> None:
    frame = bytes.fromhex("2435248308419329301047591808172627335900074412294E024138FEFFFFFFFF01120064BA73005ECC")
    assert len(frame) == 42
    (message,) = H02Decoder().decode(frame, RECEIVED)
    assert message.device_id == "352483084193293"
    assert message.position is not None
    assert message.position.time_utc == datetime(2017, 8, 18, 10, 47, 59, tzinfo=UTC)
    assert message.position.speed_kmh == pytest.approx(24 * KNOT_KMH)
    assert message.position.heading_deg == 138.0
    # the same frame with a longer tail: the short reading gives an impossible time, the long one fits
    (message,) = H02Decoder().decode(frame + b"\x00\x00\x00", RECEIVED)
    assert message.device_id == "352483084193293"


def test_short_frame_padded_to_42_bytes_keeps_its_short_id() -> None:
    frame = encode_binary_location(
        "4106011660",
        time_utc=datetime(2016, 11, 13, 12, 45, 43, tzinfo=UTC),
        latitude=50.58855,
        longitude=4.53035,
        speed_knots=0,
        course=0,
        valid=True,
        status=0xFFFFFBFF,
    )
    (message,) = H02Decoder().decode(frame + bytes(10), RECEIVED)
    assert message.device_id == "4106011660"


# -- refusals ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", DecodeReason.BAD_START_BYTES),
        (b"HQ,1,V1#", DecodeReason.BAD_START_BYTES),
        (b"*HQ,4210051415,V1,164549,A", DecodeReason.BAD_STOP_BYTES),
        (b"*HQ,42x0051415,V1#", DecodeReason.INVALID_DEVICE_ID),
        (b"*HQ,4210051415,XT,1,100#", DecodeReason.UNKNOWN_MESSAGE_TYPE),
        (b"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068#", DecodeReason.MALFORMED),
        (b"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,0,0,321215,FFFFFBFF#", DecodeReason.INVALID_TIME),
        (b"*HQ,4210051415,V1,164549,A,9956.3869,N,08406.7068,W,0,0,221215,FFFFFBFF#", DecodeReason.INVALID_COORDINATES),
        (b"*HQ,4210051415,NBR,oops#", DecodeReason.MALFORMED),
        (b"*HQ,\xff,V1#", DecodeReason.MALFORMED),
        (b"$" + bytes(20), DecodeReason.TRUNCATED),
        (b"$" + bytes.fromhex("4a") + bytes(40), DecodeReason.MALFORMED),
    ],
)
def test_refusals_are_named_and_keep_the_bytes(frame: bytes, reason: str) -> None:
    assert_refused(H02Decoder(device_id=DEVICE_ID), frame, reason)


def test_frame_without_id_needs_the_connection_id() -> None:
    frame = b"*HQ,,V1,173212,A,2225.78879,S,02829.19021,E,0.00,0,290418,FFFFFBFF#"
    with pytest.raises(DecodeError) as caught:
        H02Decoder().decode(frame, RECEIVED)
    assert caught.value.reason == DecodeReason.NO_DEVICE_ID
    decoder = H02Decoder()
    decoder.decode(b"*HQ,4106012736,HTBT#", RECEIVED)
    (message,) = decoder.decode(frame, RECEIVED)
    assert message.device_id == "4106012736"
    assert message.response is None  # traccar answers only frames that name their id


# -- framer --------------------------------------------------------------------------------------------

REAL_FRAMES = [payload_bytes(v) for v in VECTORS]
TEXT_FRAMES = [frame.rstrip(b"\r\n") for frame in REAL_FRAMES if frame[:1] == b"*"]
BINARY_FRAMES = [frame for frame in REAL_FRAMES if frame[:1] == b"$"]
FOLLOWER = b"*HQ,4106012736,HTBT#"


def test_there_are_text_and_binary_frames_of_several_lengths() -> None:
    assert len(TEXT_FRAMES) > 50
    assert {len(frame) for frame in BINARY_FRAMES} >= {32, 42, 45, 46, 48}


def test_each_real_frame_alone() -> None:
    for frame in TEXT_FRAMES:
        framer = H02Framer()
        assert framer.feed(frame + b"\r\n") == [frame]
        assert framer.buffered == 0
    for frame in BINARY_FRAMES:
        framer = H02Framer()
        assert framer.feed(frame) == []  # no length field: it ends where the next frame begins
        assert framer.feed(FOLLOWER) == [frame, FOLLOWER]
        assert framer.buffered == 0


def test_all_real_frames_byte_by_byte() -> None:
    stream = b"".join(REAL_FRAMES) + FOLLOWER
    expected = [frame.rstrip(b"\r\n") if frame[:1] == b"*" else frame for frame in REAL_FRAMES] + [FOLLOWER]
    framer = H02Framer()
    items = feed_all(framer, chunked(stream, 1))
    assert items == expected
    assert framer.buffered == 0


def test_mixed_frames_split_at_every_byte_boundary() -> None:
    sample = [*BINARY_FRAMES[:4], *TEXT_FRAMES[:3], *BINARY_FRAMES[4:7], TEXT_FRAMES[3]]
    assert_split_at_every_byte(H02Framer, sample)


def test_garbage_between_frames_is_reported_in_order() -> None:
    junk1, junk2 = b"\x00\x01hello", b"\xff*\x00$"
    stream = junk1 + TEXT_FRAMES[0] + junk2 + BINARY_FRAMES[0] + TEXT_FRAMES[1]
    items = H02Framer().feed(stream)
    assert frames_of(items) == [TEXT_FRAMES[0], BINARY_FRAMES[0], TEXT_FRAMES[1]]
    errors = errors_of(items)
    assert [e.raw for e in errors] == [junk1, b"\xff", b"*\x00", b"$"]
    assert items.index(errors[0]) == 0


def test_text_frame_cut_short_by_a_new_frame() -> None:
    cut = TEXT_FRAMES[0][:25]
    items = H02Framer().feed(cut + TEXT_FRAMES[1])
    assert items == [FramingError("truncated", cut, "a new frame starts before '#'"), TEXT_FRAMES[1]]


def test_binary_bytes_inside_a_text_frame() -> None:
    items = H02Framer().feed(b"*HQ,1,V1,\x01\x02" + TEXT_FRAMES[0])
    assert frames_of(items) == [TEXT_FRAMES[0]]
    assert [e.reason for e in errors_of(items)] == ["malformed", "garbage"]


def test_frame_too_long_resyncs() -> None:
    framer = H02Framer(max_frame_size=200)
    bogus = b"*HQ," + b"1" * 300
    items = framer.feed(bogus + TEXT_FRAMES[0])
    assert frames_of(items) == [TEXT_FRAMES[0]]
    assert [e.reason for e in errors_of(items)] == ["frame_too_long"]


def test_fixed_binary_length_needs_no_lookahead() -> None:
    short = [frame for frame in BINARY_FRAMES if len(frame) == 32]
    framer = H02Framer(binary_length=32)
    assert framer.feed(short[0]) == [short[0]]
    assert framer.feed(b"".join(short)) == short
    with pytest.raises(ValueError, match="binary_length"):
        H02Framer(binary_length=10)


def test_binary_frame_without_a_follower_falls_back_to_32_bytes() -> None:
    frame = BINARY_FRAMES[0]
    framer = H02Framer()
    items = framer.feed(frame + bytes(200))
    assert frames_of(items)[0] == frame[:BINARY_MIN_LENGTH]
    assert framer.buffered <= framer.max_frame_size


def test_buffer_is_bounded_and_flush_reports_the_rest() -> None:
    framer = H02Framer(max_frame_size=256)
    for _ in range(20):
        framer.feed(b"*HQ,1," + b"9" * 100)
        assert framer.buffered <= framer.max_frame_size
    framer = H02Framer()
    assert framer.feed(BINARY_FRAMES[0]) == []
    assert framer.flush() == [FramingError("truncated", BINARY_FRAMES[0], "connection ended inside a frame")]
    assert framer.flush() == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.integers(min_value=0, max_value=max(len(REAL_FRAMES) - 1, 0)), min_size=1, max_size=6),
    garbage=st.lists(st.binary(max_size=30), min_size=1, max_size=6),
    data=st.data(),
)
def test_random_garbage_never_breaks_the_framer(picks: list[int], garbage: list[bytes], data: st.DataObject) -> None:
    frames = [REAL_FRAMES[i].rstrip(b"\r\n") if REAL_FRAMES[i][:1] == b"*" else REAL_FRAMES[i] for i in picks]
    stream = garbage_stream(frames, garbage, tail=FOLLOWER)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=8))
    # in order; a binary frame may keep the garbage that follows it (it has no terminator) and still
    # decodes to the same fix; at most one real frame is lost to a bogus marker in the garbage
    assert_resyncs_after_garbage(
        H02Framer,
        frames,
        stream,
        cuts,
        may_lose=1,
        same_frame=lambda got, frame: got[: len(frame)] == frame,
        line_ends_dropped=True,
    )


@settings(max_examples=150, deadline=None)
@given(noise=st.binary(max_size=400), chunk=st.integers(min_value=1, max_value=64))
def test_pure_noise_then_back_in_sync(noise: bytes, chunk: int) -> None:
    assert_noise_then_resync(
        lambda: H02Framer(max_frame_size=256), noise, chunk, TEXT_FRAMES[0], line_ends_dropped=True
    )


# -- fuzzing: only DecodeError may come out -----------------------------------------------------------


def _decode_all(frame: bytes) -> list[DecodedMessage]:
    return fuzz_decode(lambda: H02Decoder(device_id=DEVICE_ID), frame, PROTOCOL)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=120))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_all(data)
    _decode_all(b"$" + data)
    _decode_all(b"*HQ," + data + b"#")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=max(len(REAL_FRAMES) - 1, 0)), data=st.data())
def test_fuzz_mutated_real_frames(index: int, data: st.DataObject) -> None:
    text = REAL_FRAMES[index][0] == 0x2A
    frame = mutated(data, REAL_FRAMES[index], first=1, alphabet=b"0123456789ABCDEF,.-#NSEWAV *" if text else None)
    cut = data.draw(st.integers(min_value=1, max_value=len(frame)))
    _decode_all(bytes(frame))
    _decode_all(bytes(frame[:cut]))


@settings(max_examples=200, deadline=None)
@given(
    fields=st.lists(
        st.from_regex(r"[0-9A-Fa-f.,\- ]{0,12}", fullmatch=True) | st.sampled_from(["A", "V", "N", "S", "E", "W", ""]),
        max_size=20,
    ),
    command=st.sampled_from(["V1", "V4", "V19", "NBR", "LINK", "V3", "VP1", "HTBT", "V0", "SMS", "XT"]),
)
def test_fuzz_text_fields(fields: list[str], command: str) -> None:
    _decode_all(("*HQ,4210051415," + command + "," + ",".join(fields) + "#").encode())


# -- encoder round trip ----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    time_utc=utc_times(),
    latitude=LATITUDES,
    longitude=LONGITUDES,
    speed=st.floats(min_value=0, max_value=1800),
    heading=st.integers(min_value=0, max_value=359),
    valid=st.booleans(),
    ignition=st.booleans(),
    alarm=st.none() | st.sampled_from(sorted(STATUS_ALARMS)),
    binary=st.booleans(),
    device_id=st.from_regex(r"[1-9][0-9]{9}|[1-9][0-9]{14}", fullmatch=True),
)
def test_encoder_framer_decoder_round_trip(
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed: float,
    heading: int,
    valid: bool,
    ignition: bool,
    alarm: str | None,
    binary: bool,
    device_id: str,
) -> None:
    time_utc = time_utc.replace(microsecond=0)
    encoder = H02Encoder(device_id, binary=binary)
    fix = FixToSend(
        time_utc=time_utc,
        latitude=latitude,
        longitude=longitude,
        speed_kmh=speed,
        heading_deg=heading,
        valid=valid,
        ignition=ignition,
        alarm=alarm,
    )
    framer = H02Framer()
    frames = frames_of(framer.feed(encoder.location(fix) + encoder.heartbeat()))
    assert len(frames) == 2
    decoder = H02Decoder()
    (message,) = decoder.decode(frames[0], RECEIVED)
    position = message.position
    assert position is not None
    assert message.device_id == device_id
    assert position.time_utc == time_utc
    assert position.latitude == pytest.approx(latitude, abs=1e-5)
    assert position.longitude == pytest.approx(longitude, abs=1e-5)
    tolerance = KNOT_KMH / 2 if binary else 0.01
    assert position.speed_kmh == pytest.approx(speed, abs=tolerance)
    assert position.heading_deg == heading
    assert position.valid is valid
    assert position.attributes["ignition"] is ignition
    assert position.attributes.get("alarm") == alarm
    if binary:
        assert message.response is None
    else:
        assert message.response == f"*HQ,{device_id},V4,V1,20260830120000#".encode()
    (beat,) = decoder.decode(frames[1], RECEIVED)
    assert beat.kind == "heartbeat"
    assert beat.response == f"*HQ,{device_id},HTBT#".encode()


def test_device_encoder_contract() -> None:
    encoder = H02Encoder("4106012736")
    assert encoder.login() is None  # H02 has no login
    assert encoder.awaits_response("heartbeat")
    assert not encoder.awaits_response("location")
    t = datetime(2026, 8, 30, 11, 59, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="cannot carry"):
        encoder.location(FixToSend(time_utc=t, latitude=1.0, longitude=1.0, alarm="geofence_enter"))
    with pytest.raises(ValueError, match="numeric"):
        H02Encoder("ABC123")
    with pytest.raises(ValueError, match="10- or 15-digit"):
        H02Encoder("123456", binary=True)
    frame = encode_text_location(
        "4106012736",
        time_utc=t,
        latitude=-0.5,
        longitude=-0.25,
        speed_knots=1.5,
        course=90,
        valid=True,
        status=encode_status(ignition=True),
    )
    assert frame == b"*HQ,4106012736,V1,115900,A,0030.0000,S,00015.0000,W,1.50,090,300826,FFFFFFFF#"


def test_zero_invalid_and_future_fixes_are_flagged() -> None:
    encoder = H02Encoder("4106012736")
    frame = encoder.location(
        FixToSend(time_utc=RECEIVED + timedelta(hours=1), latitude=0.0, longitude=0.0, valid=False, ignition=False)
    )
    (message,) = H02Decoder().decode(frame, RECEIVED)
    assert message.position is not None
    assert set(message.position.flags) == {
        PositionFlag.FUTURE_TIME,
        PositionFlag.INVALID_FIX,
        PositionFlag.ZERO_COORDINATES,
    }


def test_registry() -> None:
    spec = protocols.get("h02")
    assert (spec.name, spec.default_port, spec.transports, spec.payload, spec.aliases) == (
        "h02",
        5013,
        ("tcp", "udp"),
        "text",
        (),
    )
    assert isinstance(spec.decoder_factory(device_id=DEVICE_ID), H02Decoder)
    assert spec.framer_factory is not None
    assert isinstance(spec.framer_factory(), H02Framer)
    assert spec.encoder_factory is not None
    assert isinstance(spec.encoder_factory("4106012736"), H02Encoder)

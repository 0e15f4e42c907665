"""TK103: the decoder against traccar's real test vectors, the ``(...)`` framer, acks, fuzzing, round trips.

The vectors come from ``shared/data/tracker_vectors`` (traccar's Tk103ProtocolDecoderTest, given as
text, see its README).  Every TK103 frame names its device, so each vector is decoded on a fresh
decoder.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cedetect import protocols
from cedetect.models import PositionFlag
from cedetect.protocols.base import DecodedMessage, DecodeReason, FixToSend, FramingError
from cedetect.protocols.tk103 import (
    BO01_ALARMS,
    ENCODER_ALARMS,
    Tk103Decoder,
    Tk103Encoder,
    Tk103Framer,
    location_content,
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
    utc_times,
    vector_by_id,
    vector_model,
)

PROTOCOL = "tk103"
VECTORS = load_vectors("tk103")  # traccar's test gives them as text


# -- traccar attribute names -> ours ----------------------------------------------------------------

#: traccar attribute -> ours (the attribute table is in the docstring of cedetect.protocols.tk103).
ATTRIBUTE_MAP: dict[str, Mapped] = {
    "alarm": Mapped("alarm", alarm_set),
    "ignition": Mapped("ignition"),
    "charge": Mapped("charge"),
    "in2": Mapped("in2", bool),  # traccar: 0/1
    "out2": Mapped("out2", bool),
    "panic": Mapped("panic", bool),
    "blocked": Mapped("blocked", bool),
    "door": Mapped("door", bool),
    **{f"hs{n}": Mapped(f"hs{n}", bool) for n in (1, 2, 3)},
    **{f"ls{n}": Mapped(f"ls{n}", bool) for n in (1, 2, 3)},
    "fuel": Mapped("fuel_level", float),
    "odometer": Mapped("odometer_km", lambda metres: metres / 1000),  # traccar: metres
    "temp1": Mapped("temp1_c", float),
    "batteryLevel": Mapped("battery_level"),
    "battery": Mapped("battery_v", float),
    "power": Mapped("power_v", float),
    "result": Mapped("result"),
    "vin": Mapped("vin"),
    "sat": Mapped("satellites", field="satellites"),
    **{f"batteryTemp{n}": Mapped(f"bms_temp{n}_c", float) for n in range(1, 8)},
}

#: traccar attributes this decoder does not produce, with the reason.  An asserted attribute that is
#: neither here nor in ATTRIBUTE_MAP fails the test.
UNSUPPORTED: dict[str, str] = {}

#: Vectors traccar drops (returns null for), which we refuse with a named reason.
TRACCAR_DROPS: dict[str, tuple[str, str]] = {
    "tk103-024": (DecodeReason.UNKNOWN_MESSAGE_TYPE, "BQ86: no layout in traccar's decoder"),
    "tk103-025": (DecodeReason.UNKNOWN_MESSAGE_TYPE, "BQ86: no layout in traccar's decoder"),
}

#: Vectors where traccar returns a Position filled from the device's last known location (its
#: ``getLastLocation``): the frame carries no fix, so our message has none: vector id -> (kind, why).
LAST_LOCATION: dict[str, tuple[str, str]] = {
    "tk103-013": ("lbs", "DW5B cell + WiFi report: traccar stamps the last known fix with the frame's time"),
}

#: Vectors we knowingly decode differently from traccar: vector id -> (reason we raise, why).
DIVERGENT: dict[str, tuple[str, str]] = {
    "tk103-031": (
        DecodeReason.INVALID_TIME,
        "BO01 with date 06-18-30 (month 18): traccar's lenient calendar turns it into 2007-06-30; we refuse it",
    ),
}

#: Vectors we cannot decode as traccar does (kept small): vector id -> reason.
SKIPS: dict[str, str] = {}

_COMPACT_ID = re.compile(rb"\((\d+)[A-Z]{2}[0-9A-Z]{2}")
_COMMA_ID = re.compile(rb"\(([^,]+),")


def _expected_device_id(raw: bytes) -> str:
    match = _COMPACT_ID.match(raw) or _COMMA_ID.match(raw)
    assert match is not None
    return match[1].decode()


def _is_compact(raw: bytes) -> bool:
    return _COMPACT_ID.match(raw) is not None


def _decoder(vector: dict[str, Any]) -> Tk103Decoder:
    return Tk103Decoder(device_id=DEVICE_ID, model=vector_model(vector))


def _decode_vector(vector: dict[str, Any]) -> list[DecodedMessage]:
    return _decoder(vector).decode(payload_bytes(vector), RECEIVED)


def test_vectors_are_present() -> None:
    assert VECTORS_FILE.is_file(), f"missing {VECTORS_FILE}"
    assert len(VECTORS) >= 55


def test_vector_tables_name_real_vectors() -> None:
    assert_tables_name_vectors(VECTORS, TRACCAR_DROPS, LAST_LOCATION, DIVERGENT, SKIPS)
    for vid in TRACCAR_DROPS:
        assert vector_by_id(VECTORS, vid)["expect"] == "no_position"


@parametrize_vectors(VECTORS)
def test_traccar_vector(vector: dict[str, Any]) -> None:
    vid = vector["id"]
    raw = payload_bytes(vector)
    if vid in SKIPS:
        pytest.skip(SKIPS[vid])
    refusal = TRACCAR_DROPS.get(vid) or DIVERGENT.get(vid)
    if refusal is not None:
        assert_refused(_decoder(vector), raw, refusal[0])
        return

    messages = _decode_vector(vector)
    assert messages
    for message in messages:
        assert message.raw == raw
        assert message.device_id == _expected_device_id(raw)
        assert isinstance(message.attributes["message_type"], str)
        assert_position_invariants(message, PROTOCOL)
        _check_response(raw, message)

    positions = positions_of(messages)
    expect = vector["expect"]
    if expect == "no_position":
        assert not positions
    elif vid in LAST_LOCATION:
        assert not positions, "the frame carries no fix of its own"
        assert [m.kind for m in messages] == [LAST_LOCATION[vid][0]]
        assert all(m.attributes for m in messages)
    elif expect in ("position", "positions"):
        assert positions, "traccar decodes a fix from this frame"
    elif expect == "attributes":
        assert any(len(m.attributes) > 1 for m in messages)  # more than the message type

    checks = dict(vector.get("checks") or {})
    check_fix(checks, positions)
    check_attributes(checks.get("attributes") or {}, messages, ATTRIBUTE_MAP, unsupported=UNSUPPORTED, extra=_is_bool)


def _check_response(raw: bytes, message: DecodedMessage) -> None:
    device_id = _expected_device_id(raw)
    if message.attributes["message_type"] == "BP00":
        assert message.kind == "heartbeat"
        assert message.response == (f"({device_id}AP01HSO)".encode() if _is_compact(raw) else None)
    elif message.attributes["message_type"] == "BP05":
        assert message.kind == "login"
        assert message.response == (f"({device_id}AP05)".encode() if _is_compact(raw) else None)
    else:
        assert message.response is None


def _is_bool(_key: str, _mapped: Mapped, got: Any, want: Any) -> None:
    """A flag traccar asserts as a boolean is ours as the very same boolean."""
    if isinstance(want, bool):
        assert got is want


def test_every_vector_is_accounted_for() -> None:
    decoded = refused = 0
    for vector in VECTORS:
        if vector["id"] in TRACCAR_DROPS or vector["id"] in DIVERGENT:
            refused += 1
            continue
        assert _decode_vector(vector)
        decoded += 1
    assert decoded + refused == len(VECTORS)
    assert not SKIPS


# -- layouts --------------------------------------------------------------------------------------------


def test_compact_location_with_status_field() -> None:
    frame = b"(088046338039BR00160727A3354.7768N03540.7258E000.0140832068.4700000000L00BEB0D4+017.7)"
    (message,) = Tk103Decoder().decode(frame, RECEIVED)
    position = message.position
    assert position is not None
    assert (message.kind, message.device_id, message.response) == ("location", "088046338039", None)
    assert position.time_utc == datetime(2016, 7, 27, 14, 8, 32, tzinfo=UTC)  # yymmdd in compact frames
    assert (position.latitude, position.longitude) == pytest.approx((33.91295, 35.67876), abs=1e-5)
    assert position.heading_deg == pytest.approx(68.47)
    assert position.attributes["charge"] is True
    assert position.attributes["ignition"] is False
    assert position.attributes["odometer_km"] == pytest.approx(0xBEB0D4 / 1000)
    assert position.attributes["temp1_c"] == 17.7


def test_status_field_bits() -> None:
    frame = b"(013012345678BR00130515A4843.9703N01907.6211E012.5192328000.0011FFE012L00000064)"
    (message,) = Tk103Decoder().decode(frame, RECEIVED)
    attributes = message.attributes
    assert attributes["charge"] is False  # '0' is main power
    assert attributes["ignition"] is True
    assert (attributes["in2"], attributes["panic"], attributes["out2"], attributes["blocked"]) == (True,) * 4
    assert (attributes["hs1"], attributes["hs2"], attributes["hs3"], attributes["door"]) == (True,) * 4
    assert (attributes["ls1"], attributes["ls2"], attributes["ls3"]) == (True,) * 3
    assert attributes["fuel_level"] == float(0x012)
    assert attributes["odometer_km"] == pytest.approx(0.1)
    assert message.position is not None
    assert message.position.speed_kmh == 12.5  # km/h as sent
    quiet = b"(013012345678BR00130515A4843.9703N01907.6211E012.5192328000.0011000012L00000064)"
    (message,) = Tk103Decoder().decode(quiet, RECEIVED)
    assert not {"blocked", "door", "hs1", "hs2", "hs3", "ls1", "ls2", "ls3"} & set(message.attributes)


def test_comma_location_with_altitude_and_satellites() -> None:
    frame = b"(864768010869060,DW30,050117,A,5135.82713N,00001.17918E,0.089,154745,000.0,43.40,12)"
    (message,) = Tk103Decoder().decode(frame, RECEIVED)
    position = message.position
    assert position is not None
    assert position.time_utc == datetime(2017, 1, 5, 15, 47, 45, tzinfo=UTC)  # ddmmyy after a comma
    assert (position.altitude_m, position.satellites) == (43.4, 12)
    assert message.response is None


@pytest.mark.parametrize(("digit", "alarm"), sorted(BO01_ALARMS.items()))
def test_bo01_alarms(digit: int, alarm: str) -> None:
    frame = f"(013666666666BO01{digit}110925A1234.5678N01234.5678W000.0025948118.7200000000L000024DE)".encode()
    (message,) = Tk103Decoder().decode(frame, RECEIVED)
    assert (message.kind, message.attributes["alarm"]) == ("alarm", alarm)


@pytest.mark.parametrize(
    ("command", "attribute", "value"),
    [
        ("ZC11", "alarm", "movement"),
        ("DW32", "alarm", "low_battery"),
        ("DW53", "alarm", "power_cut"),
        ("ZC15", "ignition", True),
        ("DW36", "ignition", False),
        ("ZC17", "alarm", "removing"),
        ("DW3E", "alarm", "sos"),
        ("ZC26", "alarm", "tampering"),
        ("DW60", "alarm", "low_power"),
    ],
)
def test_command_codes(command: str, attribute: str, value: object) -> None:
    frame = f"(013632651491,{command},040613,A,2234.0297N,11405.9101E,000.0,040137,178.48)".encode()
    (message,) = Tk103Decoder().decode(frame, RECEIVED)
    assert message.attributes[attribute] == value


def test_alarm_prefix_in_comma_frames() -> None:
    frame = b"(013632651491,BR00,ALARM,2,1,040613,A,2234.0297N,11405.9101E,000.0,040137,178.48)"
    (message,) = Tk103Decoder().decode(frame, RECEIVED)
    assert message.attributes["alarm"] == "sos"


def test_handshake_and_login_replies() -> None:
    (beat,) = Tk103Decoder().decode(b"(027044702512BP00027044702512HSO01A4)", RECEIVED)
    assert (beat.kind, beat.device_id, beat.position, beat.response) == (
        "heartbeat",
        "027044702512",
        None,
        b"(027044702512AP01HSO)",
    )
    login = b"(088047365460BP05354188047365460150929A3258.1754S02755.4323E009.4193927301.9000000000L00000000)"
    (message,) = Tk103Decoder().decode(login, RECEIVED)
    assert (message.kind, message.response) == ("login", b"(088047365460AP05)")
    assert message.position is not None
    assert message.position.time_utc == datetime(2015, 9, 29, 19, 39, 27, tzinfo=UTC)
    cells = b"(027045009305BP05355227045009305,{413,2,30073,16724}\n{413,2,30073,16730}\n,01000000)"
    (message,) = Tk103Decoder().decode(cells, RECEIVED)
    assert (message.kind, message.position, message.response) == ("login", None, b"(027045009305AP05)")
    assert (message.attributes["mcc"], message.attributes["cell_id"], message.attributes["cell_count"]) == (
        413,
        16724,
        2,
    )


def test_reports_without_fix() -> None:
    (battery,) = Tk103Decoder().decode(b"(013632651491,ZC20,040613,040137,6,421,112,0)", RECEIVED)
    assert battery.position is None
    assert battery.attributes == {
        "message_type": "ZC20",
        "device_time": "2013-06-04T04:01:37+00:00",
        "battery_level": 100,
        "battery_v": 4.21,
        "power_v": 11.2,
    }
    (network,) = Tk103Decoder().decode(b"(087073104337BZ00,740,000,3bf7,0425,3bf7,0bf5,01000000)", RECEIVED)
    assert (network.kind, network.attributes["lac"], network.attributes["cell_id"]) == ("lbs", 0x3BF7, 0x0425)
    wifi = b"(864555555555555,DW51,200,1,3215,43370,2,58:F3:BB:3B:AA:82*-65*1,1C:6A:BB:AA:81:95*-78*1,151117,154419)"
    (lbs,) = Tk103Decoder().decode(wifi, RECEIVED)
    assert (lbs.kind, lbs.attributes["alarm"], lbs.attributes["wifi_count"]) == ("alarm", "movement", 2)
    (reply,) = Tk103Decoder().decode(b"(864555555555555,ZC03,191117,234207,$Notice: (v1.0) done$)", RECEIVED)
    assert (reply.kind, reply.attributes["result"]) == ("command_reply", "Notice: (v1.0) done")
    (vin,) = Tk103Decoder().decode(b"(013632651491BV001HGCM82633A004352)", RECEIVED)
    assert vin.attributes["vin"] == "1HGCM82633A004352"


def test_no_fix_and_no_clock_is_a_status_report() -> None:
    frame = b"(087072009461BR00000007V0000.0000N00000.0000E000.00014039900000000L00000000)"
    (message,) = Tk103Decoder().decode(frame, RECEIVED)
    assert (message.kind, message.position) == ("status", None)
    assert message.attributes["ignition"] is False


def test_bms_reports() -> None:
    bs50 = (
        "(352602014867BS500064FF0EF10FF10FF00FF20FF30FF20FF20FF40FF20FF40FF40FF20FF30FF20F0000000000000000000000"
        "000000000000000000000000001663000000010004000000000000000002444444420000000000A00FA000000000000000200000"
        "000315E2000000)"
    )
    (message,) = Tk103Decoder().decode(bs50.encode(), RECEIVED)
    assert message.attributes["bms_cell_count"] == 14
    assert message.attributes["bms_cell1_v"] == 4.081
    assert "bms_cell15_v" not in message.attributes
    assert (message.attributes["bms_temp1_c"], message.attributes["bms_temp2_c"]) == (28, 26)
    bs51 = "(007030201454BS5190:02150000753001DC,93:00010127000037C8,94:0E01000002000000,95:010EE00EE10EE200)"
    (message,) = Tk103Decoder().decode(bs51.encode(), RECEIVED)
    assert (message.attributes["bms_voltage_v"], message.attributes["bms_soc_pct"]) == (53.3, 47.6)
    assert message.attributes["bms_current_a"] == 0.0
    assert message.attributes["bms_remaining_mah"] == 14280
    assert [message.attributes[f"bms_cell{n}_v"] for n in (1, 2, 3)] == [3.808, 3.809, 3.81]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", DecodeReason.BAD_START_BYTES),
        (b"013632651491BR00)", DecodeReason.BAD_START_BYTES),
        (b"(013632651491BR00", DecodeReason.BAD_STOP_BYTES),
        (b"()", DecodeReason.MALFORMED),
        (b"(027028258309BQ86,0,0555,161117005322,01000001)", DecodeReason.UNKNOWN_MESSAGE_TYPE),
        (b"(013632651491BR00garbage)", DecodeReason.MALFORMED),
        (b"(013632651491,ZC20,040613)", DecodeReason.MALFORMED),
        (b"(352602014867BS500064FA01)", DecodeReason.UNKNOWN_MESSAGE_TYPE),
        (b"(352602014867BS500064FF0E)", DecodeReason.TRUNCATED),
        (b"(352602014867BS50XYZ)", DecodeReason.MALFORMED),
        (b"(007030201454BS5190:0215)", DecodeReason.TRUNCATED),
        (b"(013632651491BR00130515A4843.9703N01907.6211E000.0192328000.0000000000L00000000)", None),
        (b"(013632651491BR00131315A4843.9703N01907.6211E000.0192328000.0000000000L00000000)", "invalid_time"),
        (b"(013632651491BR00130515A9843.9703N01907.6211E000.0192328000.0000000000L00000000)", "invalid_coordinates"),
        (b"(a b,BR00,130515)", DecodeReason.INVALID_DEVICE_ID),
    ],
)
def test_refusals_are_named_and_keep_the_bytes(frame: bytes, reason: str | None) -> None:
    if reason is None:
        assert Tk103Decoder().decode(frame, RECEIVED)
        return
    assert_refused(Tk103Decoder(), frame, reason)


# -- framer --------------------------------------------------------------------------------------------

REAL_FRAMES = [payload_bytes(v) for v in VECTORS]
SAMPLE = REAL_FRAMES[:10]


def test_each_real_frame_alone() -> None:
    for frame in REAL_FRAMES:
        framer = Tk103Framer()
        assert framer.feed(frame + b"\r\n") == [frame]
        assert framer.buffered == 0


def test_concatenated_frames_split_at_every_byte_boundary() -> None:
    assert_split_at_every_byte(Tk103Framer, SAMPLE)


def test_all_real_frames_byte_by_byte() -> None:
    stream = b"".join(REAL_FRAMES)
    framer = Tk103Framer()
    assert feed_all(framer, chunked(stream, 1)) == REAL_FRAMES
    assert framer.buffered == 0


def test_free_text_may_hold_parentheses() -> None:
    frame = b"(864555555555555,ZC03,191117,234207,$reply (ok) :)$)"
    framer = Tk103Framer()
    assert framer.feed(frame[:30]) == []
    assert framer.feed(frame[30:] + SAMPLE[0]) == [frame, SAMPLE[0]]


def test_garbage_and_cut_frames_are_reported_in_order() -> None:
    junk, cut = b"\x00\xffjunk", SAMPLE[1][:20]
    items = Tk103Framer().feed(junk + SAMPLE[0] + cut + SAMPLE[2] + b"\r\n" + SAMPLE[3])
    assert frames_of(items) == [SAMPLE[0], SAMPLE[2], SAMPLE[3]]
    assert errors_of(items) == [
        FramingError("garbage", junk, "bytes before '('"),
        FramingError("truncated", cut, "a new frame starts before ')'"),
    ]
    assert items.index(errors_of(items)[1]) == 2


def test_frame_too_long_resyncs_and_buffer_is_bounded() -> None:
    framer = Tk103Framer(max_frame_size=128)
    items = framer.feed(b"(" + b"1" * 300 + SAMPLE[5])
    assert frames_of(items) == [SAMPLE[5]]
    assert [e.reason for e in errors_of(items)] == ["frame_too_long"]
    for _ in range(20):
        framer.feed(b"(" + b"$" * 50)
        assert framer.buffered <= framer.max_frame_size
    framer = Tk103Framer()
    assert framer.feed(SAMPLE[0][:9]) == []
    assert framer.flush() == [FramingError("truncated", SAMPLE[0][:9], "connection ended inside a frame")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.integers(min_value=0, max_value=max(len(REAL_FRAMES) - 1, 0)), min_size=1, max_size=6),
    garbage=st.lists(st.binary(max_size=30), min_size=1, max_size=6),
    data=st.data(),
)
def test_random_garbage_never_breaks_the_framer(picks: list[int], garbage: list[bytes], data: st.DataObject) -> None:
    frames = [REAL_FRAMES[i] for i in picks]
    stream = garbage_stream(frames, garbage)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=8))
    # a '(' or '$' in the garbage may cost the frame after it
    assert_resyncs_after_garbage(Tk103Framer, frames, stream, cuts, may_lose=1, line_ends_dropped=True)


@settings(max_examples=150, deadline=None)
@given(noise=st.binary(max_size=400), chunk=st.integers(min_value=1, max_value=64))
def test_pure_noise_then_back_in_sync(noise: bytes, chunk: int) -> None:
    assert_noise_then_resync(lambda: Tk103Framer(max_frame_size=256), noise, chunk, SAMPLE[0], line_ends_dropped=True)


# -- fuzzing: only DecodeError may come out -----------------------------------------------------------


def _decode_all(frame: bytes) -> list[DecodedMessage]:
    return fuzz_decode(lambda: Tk103Decoder(device_id=DEVICE_ID), frame, PROTOCOL)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=150))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_all(data)
    _decode_all(b"(" + data + b")")
    _decode_all(b"(013632651491BR00" + data + b")")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=max(len(REAL_FRAMES) - 1, 0)), data=st.data())
def test_fuzz_mutated_real_frames(index: int, data: st.DataObject) -> None:
    real = REAL_FRAMES[index]
    frame = mutated(data, real, first=1, last=len(real) - 2, alphabet=b"0123456789ABCDEFL,.:{}$*+-NSEWAV ")
    cut = data.draw(st.integers(min_value=1, max_value=len(frame) - 1))
    _decode_all(bytes(frame))
    _decode_all(bytes(frame[:cut]) + b")")


# -- encoder round trip ----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    time_utc=utc_times(),
    latitude=LATITUDES,
    longitude=LONGITUDES,
    speed=st.floats(min_value=0, max_value=999.9),
    heading=st.floats(min_value=0, max_value=359.99),
    valid=st.booleans(),
    ignition=st.booleans(),
    odometer=st.none() | st.floats(min_value=0, max_value=4_000_000),
    alarm=st.none() | st.sampled_from(sorted(ENCODER_ALARMS)),
    device_id=st.from_regex(r"[0-9]{12}|[0-9]{15}", fullmatch=True),
)
def test_encoder_framer_decoder_round_trip(
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed: float,
    heading: float,
    valid: bool,
    ignition: bool,
    odometer: float | None,
    alarm: str | None,
    device_id: str,
) -> None:
    time_utc = time_utc.replace(microsecond=0)
    encoder = Tk103Encoder(device_id, clock=lambda: time_utc)
    fix = FixToSend(
        time_utc=time_utc,
        latitude=latitude,
        longitude=longitude,
        speed_kmh=speed,
        heading_deg=heading,
        valid=valid,
        ignition=ignition,
        odometer_km=odometer,
        alarm=alarm,
    )
    framer = Tk103Framer()
    frames = frames_of(framer.feed(encoder.login() + encoder.location(fix) + encoder.heartbeat()))
    assert len(frames) == 3
    decoder = Tk103Decoder()
    (login,) = decoder.decode(frames[0], RECEIVED)
    assert (login.kind, login.device_id, login.response) == ("login", device_id, f"({device_id}AP05)".encode())
    (message,) = decoder.decode(frames[1], RECEIVED)
    position = message.position
    assert position is not None
    assert message.device_id == device_id
    assert message.kind == ("alarm" if alarm else "location")
    assert position.time_utc == time_utc
    assert position.latitude == pytest.approx(latitude, abs=1e-5)
    assert position.longitude == pytest.approx(longitude, abs=1e-5)
    assert position.speed_kmh == pytest.approx(speed, abs=0.05)
    assert position.heading_deg == pytest.approx(round(heading, 2) % 360, abs=1e-6)
    assert position.valid is valid
    assert position.attributes["ignition"] is ignition
    assert position.attributes.get("alarm") == alarm
    assert position.attributes["odometer_km"] == pytest.approx(odometer or 0.0, abs=0.001)
    assert message.response is None
    (beat,) = decoder.decode(frames[2], RECEIVED)
    assert (beat.kind, beat.response) == ("heartbeat", f"({device_id}AP01HSO)".encode())


def test_device_encoder_contract() -> None:
    t = datetime(2026, 8, 30, 11, 59, 0, tzinfo=UTC)
    encoder = Tk103Encoder("013632651491", clock=lambda: t)
    assert encoder.imei == "000013632651491"
    assert encoder.awaits_response("login")
    assert encoder.awaits_response("heartbeat")
    assert not encoder.awaits_response("location")
    (login,) = Tk103Decoder().decode(encoder.login(), RECEIVED)
    assert login.position is not None
    assert login.position.valid is False  # no fix known yet: a V fix at 0,0, flagged
    assert login.position.time_utc == t
    fix = FixToSend(time_utc=t, latitude=41.6771, longitude=26.5557, speed_kmh=72.0, heading_deg=181.0)
    assert encoder.location(fix) == b"(013632651491BR00260830A4140.6260N02633.3420E072.0115900181.0001000000L00000000)"
    (login,) = Tk103Decoder().decode(encoder.login(), RECEIVED)  # now with the last fix
    assert login.position is not None
    assert login.position.valid is True
    assert login.position.latitude == pytest.approx(41.6771, abs=1e-5)
    with pytest.raises(ValueError, match="cannot report"):
        encoder.location(FixToSend(time_utc=t, latitude=1.0, longitude=1.0, alarm="jamming"))
    with pytest.raises(ValueError, match="numeric"):
        Tk103Encoder("ABC")
    content = location_content(
        time_utc=t, latitude=-1.5, longitude=-2.25, speed_kmh=5, heading_deg=359.999, valid=True, ignition=False
    )
    assert content == "260830A0130.0000S00215.0000W005.0115900000.0000000000L00000000"


def test_zero_invalid_and_future_fixes_are_flagged() -> None:
    encoder = Tk103Encoder("013632651491")
    frame = encoder.location(
        FixToSend(time_utc=RECEIVED + timedelta(hours=1), latitude=0.0, longitude=0.0, valid=False, ignition=False)
    )
    (message,) = Tk103Decoder().decode(frame, RECEIVED)
    assert message.position is not None
    assert set(message.position.flags) == {
        PositionFlag.FUTURE_TIME,
        PositionFlag.INVALID_FIX,
        PositionFlag.ZERO_COORDINATES,
    }


def test_registry() -> None:
    spec = protocols.get("tk103")
    assert (spec.name, spec.default_port, spec.transports, spec.payload, spec.aliases) == (
        "tk103",
        5002,
        ("tcp",),
        "text",
        (),
    )
    assert isinstance(spec.decoder_factory(device_id=DEVICE_ID), Tk103Decoder)
    assert spec.framer_factory is not None
    assert isinstance(spec.framer_factory(), Tk103Framer)
    assert spec.encoder_factory is not None
    assert isinstance(spec.encoder_factory("013632651491"), Tk103Encoder)

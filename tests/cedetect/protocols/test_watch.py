"""Watch protocol: traccar's real vectors, answers, framer (text and binary), fuzzing, simulated device.

The vectors come from ``shared/data/tracker_vectors`` (traccar's WatchProtocolDecoderTest, see its
README).  Every frame names its device, so each vector is decoded on a fresh decoder; one more test
replays them in test order on one decoder per test method, as traccar does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cedetect import protocols
from cedetect.protocols import watch
from cedetect.protocols.attributes import Alarm
from cedetect.protocols.base import (
    DecodedMessage,
    DecodeReason,
    FixToSend,
    FramingError,
)
from cedetect.protocols.watch import (
    WatchDecoder,
    WatchEncoder,
    WatchFramer,
    build_frame,
    escape,
    parse_header,
    unescape,
)
from tests.cedetect.protocols.vectors import (
    LATITUDES,
    LONGITUDES,
    RECEIVED,
    VECTORS_FILE,
    Mapped,
    accounted,
    alarm_set,
    assert_every_byte_accounted,
    assert_position_invariants,
    assert_refused,
    assert_resyncs_after_garbage,
    assert_split_at_every_byte,
    assert_tables_name_vectors,
    by_test_method,
    check_attributes,
    check_fix,
    chunked,
    feed_all,
    frames_of,
    fuzz_decode,
    garbage_stream,
    load_vectors,
    mutated,
    numbered_lookup,
    parametrize_vectors,
    payload_bytes,
    positions_of,
    utc_times,
)

PROTOCOL = "watch"


# -- traccar attribute names -> ours ----------------------------------------------------------------

#: traccar attribute -> ours (the attribute list is in the docstring of cedetect.protocols.watch).
ATTRIBUTE_MAP: dict[str, Mapped] = {
    "alarm": Mapped("alarm", alarm_set),
    "sat": Mapped("satellites", field="satellites"),
    "rssi": Mapped("rssi"),
    "batteryLevel": Mapped("battery_level"),
    "steps": Mapped("steps"),
    "motion": Mapped("motion"),
    "status": Mapped("raw_status"),
    "heartRate": Mapped("heart_rate_bpm"),
    "pressureHigh": Mapped("blood_pressure_high", int),  # traccar keeps the text
    "pressureLow": Mapped("blood_pressure_low", int),
    "bloodOxygen": Mapped("blood_oxygen_pct"),
    "result": Mapped("result"),
}
NUMBERED_MAP: tuple[tuple[re.Pattern[str], Callable[[str], Mapped]], ...] = (
    (re.compile(r"temp(\d+)"), lambda n: Mapped(f"temp{n}_c", float)),
)

#: traccar attributes this decoder does not produce, with the reason.
UNSUPPORTED: dict[str, str] = {
    "audio": "media are not stored: a voice message is reported with audio_bytes (and its parts)",
    "image": "media are not stored: a photo is reported with photo_bytes",
}

#: Vectors we cannot decode, with the reason (keep this small).
SKIPS: dict[str, str] = {}


_mapped = numbered_lookup(ATTRIBUTE_MAP, NUMBERED_MAP)

VECTORS = load_vectors("watch")


def test_vectors_are_present() -> None:
    assert VECTORS_FILE.is_file(), f"missing {VECTORS_FILE}"
    assert len(VECTORS) > 35


@parametrize_vectors(VECTORS)
def test_traccar_vector(vector: dict[str, Any]) -> None:
    if vector["id"] in SKIPS:
        pytest.skip(SKIPS[vector["id"]])
    raw = payload_bytes(vector)
    messages = WatchDecoder().decode(raw, RECEIVED)
    assert messages
    header = parse_header(raw)
    for message in messages:
        assert message.device_id == header.device_id
        assert_position_invariants(message, PROTOCOL)
        if message.response is not None:
            answer, own = parse_header(message.response), parse_header(message.raw)
            assert (answer.manufacturer, answer.device_id, answer.index) == (own.manufacturer, own.device_id, own.index)
            assert message.response.endswith(b"]")
            assert answer.length == len(message.response) - answer.content_start - 1
    assert b"".join(m.raw for m in messages) == raw

    positions = positions_of(messages)
    expect = vector["expect"]
    if expect == "no_position":
        assert not positions
    elif expect in ("position", "positions"):
        assert positions, "traccar decodes a fix from this frame"
    elif expect == "attributes":
        assert messages[0].attributes.keys() - {"message_type"}
    checks = dict(vector.get("checks") or {})
    check_fix(checks, positions)
    check_attributes(checks.get("attributes") or {}, messages[:1], _mapped, unsupported=UNSUPPORTED)


def test_vectors_replayed_on_one_connection_per_test_method() -> None:
    decoded = 0
    for _method, vectors in by_test_method(VECTORS):
        decoder = WatchDecoder()
        for vector in vectors:
            messages = decoder.decode(payload_bytes(vector), RECEIVED)
            fresh = WatchDecoder().decode(payload_bytes(vector), RECEIVED)
            assert [(m.kind, m.position, m.attributes) for m in messages] == [
                (m.kind, m.position, m.attributes) for m in fresh
            ]
            decoded += 1
    assert decoded == len(VECTORS)


def test_vector_tables_name_real_vectors() -> None:
    assert_tables_name_vectors(VECTORS, SKIPS)


# -- specific layouts ---------------------------------------------------------------------------------


def _one(frame: bytes | str) -> DecodedMessage:
    (message,) = WatchDecoder().decode(frame.encode("latin-1") if isinstance(frame, str) else frame, RECEIVED)
    return message


def test_position_fields() -> None:
    message = _one(
        "[SG*8800000015*0087*UD,220414,134652,A,22.571707,S,113.8613968,W,12.5,370.0,-30.5,7,60,90,1000,50,"
        "00000010,4,1,460,0,9360,4082,131,9360,4092,148,9360,4091,143,9360,4153,141]"
    )
    position = message.position
    assert position is not None
    assert message.kind == "location"
    assert position.time_utc == datetime(2014, 4, 22, 13, 46, 52, tzinfo=UTC)
    assert (position.latitude, position.longitude) == (-22.571707, -113.8613968)
    assert (position.speed_kmh, position.heading_deg, position.altitude_m, position.satellites) == (
        12.5,
        10.0,
        -30.5,
        7,
    )
    attrs = message.attributes
    assert (attrs["rssi"], attrs["battery_level"], attrs["steps"], attrs["motion"]) == (60, 90, 1000, True)
    assert (attrs["mcc"], attrs["mnc"], attrs["lac"], attrs["cell_id"], attrs["cell_count"]) == (460, 0, 9360, 4082, 4)
    assert message.response is None


def test_every_alarm_bit_is_reported_and_alarms_are_answered() -> None:
    message = _one("[3G*1234567890*0037*AL,010120,000000,A,1.0,N,2.0,E,0,0,0,5,50,10,0,0,00310007,0,0]")
    assert message.kind == "alarm"
    assert message.attributes["alarm"] == "low_battery,geofence_exit,geofence_enter,sos,removing,fall_down"
    for name in str(message.attributes["alarm"]).split(","):
        Alarm(name)
    assert message.response == b"[3G*1234567890*0002*AL]"
    general = _one("[3G*1234567890*0037*AL,010120,000000,A,1.0,N,2.0,E,0,0,0,5,50,10,0,0,00000000,0,0]")
    assert general.attributes["alarm"] == "general"
    assert "alarm" not in _one("[3G*1*0032*UD,010120,000000,A,1.0,N,2.0,E,0,0,0,5,50,10,0,0,0,0,0]").attributes
    address = _one("[3G*1*0032*WG,010120,000000,A,1.0,N,2.0,E,0,0,0,5,50,10,0,0,0,0,0]")
    assert (address.kind, address.response, address.position is not None) == ("address_request", None, True)
    wad = _one("[3G*1*0033*WAD,010120,000000,A,1.0,N,2.0,E,0,0,0,5,50,10,0,0,0,0,0]")
    assert (wad.kind, wad.attributes["alarm"], wad.response) == ("alarm", "general", None)


def test_link_health_and_voice_commands() -> None:
    link = _one("[3G*4700186508*000B*LK,7,10,100]")
    assert (link.kind, link.attributes["steps"], link.attributes["battery_level"]) == ("heartbeat", 7, 100)
    assert link.response == b"[3G*4700186508*0002*LK]"
    assert _one("[SG*1*0004*INIT]").response == b"[SG*1*0006*INIT,1]"
    blood = _one("[ZJ*357653059860416*0007*000c*BLOOD,109,68]")
    assert blood.attributes == {"message_type": "BLOOD", "blood_pressure_high": 109, "blood_pressure_low": 68}
    assert _one("[3G*1*000b*oxygen,1,97]").attributes["blood_oxygen_pct"] == 97
    assert "temp1_c" not in _one("[3G*1*000e*btemp2,0,35.29]").attributes
    ack = _one("[CS*1234567890*0004*TK,1]")
    assert (ack.kind, ack.attributes["result"]) == ("command_reply", "1")
    photo = _one(b"[3G*1*0018*img,1,200101120000,\xff\xd8\xff\xd9]")
    assert (photo.kind, photo.attributes["photo_bytes"]) == ("photo", 4)


def test_voice_chunks_are_counted_and_answered() -> None:
    audio = bytes(range(256))
    decoder = WatchDecoder()
    sizes = []
    for part in (1, 2):
        content = f"JXTK,0,voice,{part},2,".encode() + escape(audio)
        (message,) = decoder.decode(build_frame("ZJ", "7894", content, index="0034"), RECEIVED)
        assert message.kind == "audio"
        assert message.response == b"[ZJ*7894*0034*0007*JXTKR,1]"
        sizes.append(message.attributes)
    assert sizes[0]["audio_bytes"] == 256
    assert "audio_total_bytes" not in sizes[0]
    assert sizes[1]["audio_total_bytes"] == 512


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", DecodeReason.TRUNCATED),
        (b"[3G*1*0002*LK", DecodeReason.BAD_STOP_BYTES),
        (b"3G*1*0002*LK]", DecodeReason.BAD_START_BYTES),
        (b"[3G*1*00]", DecodeReason.MALFORMED),
        (b"[3G*1*zzzz*LK]", DecodeReason.MALFORMED),
        (b"[3G*]", DecodeReason.MALFORMED),
        (b"[3G*1*0008*FOO,1,2]", DecodeReason.UNKNOWN_MESSAGE_TYPE),
        (b"[3G*1*0010*UD,1,2,3,4,5]", DecodeReason.MALFORMED),
        (b"[3G*1*0032*UD,320120,000000,A,1.0,N,2.0,E,0,0,0,5,50,10,0,0,0,0,0]", DecodeReason.INVALID_TIME),
        (b"[3G*1*0032*UD,010120,000000,A,91.0,N,2.0,E,0,0,0,5,50,10,0,0,0,0,0]", DecodeReason.INVALID_COORDINATES),
        (b"[3G*bad id*0002*LK]", DecodeReason.MALFORMED),
        (b"[3G*" + b"9" * 70 + b"*0002*LK]", DecodeReason.INVALID_DEVICE_ID),
        (b"[3G*" + b"9" * 120 + b"*0002*LK]", DecodeReason.MALFORMED),
    ],
)
def test_refusals_are_named(frame: bytes, reason: str) -> None:
    assert_refused(WatchDecoder(), frame, reason)


def test_escapes() -> None:
    data = bytes(range(256))
    assert unescape(escape(data)) == data
    assert not {ord("["), ord("]"), ord(","), ord("*")} & set(escape(data))
    assert unescape(b"}[x}") == b"}[x}"  # not an escape: kept as it is


# -- framer --------------------------------------------------------------------------------------------


def _real_frames() -> list[bytes]:
    frames: list[bytes] = []
    for vector in VECTORS:
        frames.extend(m.raw for m in WatchDecoder().decode(payload_bytes(vector), RECEIVED))
    return frames


REAL_FRAMES = _real_frames()
BINARY = b"[CS*1234567890*000e*TK,#!AMR}[],*\xff]"  # traccar watch-050: raw brackets in the audio
SAMPLE = [*REAL_FRAMES[:3], BINARY, *REAL_FRAMES[3:8]]


def test_there_are_real_frames() -> None:
    assert len(REAL_FRAMES) > 40
    assert BINARY in REAL_FRAMES


def test_each_real_frame_alone() -> None:
    for frame in REAL_FRAMES:
        framer = WatchFramer()
        assert framer.feed(frame) == [frame]
        assert framer.buffered == 0


def test_concatenated_frames_split_at_every_byte_boundary() -> None:
    assert_split_at_every_byte(WatchFramer, SAMPLE)


def test_all_real_frames_byte_by_byte() -> None:
    stream = b"".join(REAL_FRAMES)
    framer = WatchFramer()
    assert feed_all(framer, chunked(stream, 1)) == REAL_FRAMES


def test_wrong_lengths_garbage_and_interrupted_frames() -> None:
    overstated = b"[3G*1*0099*LK,0,0,50]"  # text: ends at its ']' whatever the length says
    understated = b"[3G*1*0001*LK,0,0,50]"
    binary_wrong = b"[CS*1*0002*TK,\x01\x02\x03]"  # binary, length wrong: the first ']' ends it
    interrupted = b"[3G*1*0009*LK,0,0"
    stream = b"junk" + overstated + understated + b"\x00\xff" + binary_wrong + interrupted + SAMPLE[0]
    framer = WatchFramer()
    items = framer.feed(stream)
    assert frames_of(items) == [overstated, understated, binary_wrong, SAMPLE[0]]
    errors = [item for item in items if isinstance(item, FramingError)]
    assert [e.raw for e in errors] == [b"junk", b"\x00\xff", interrupted]
    assert accounted(items, framer) == stream


def test_binary_frame_waits_for_its_length() -> None:
    framer = WatchFramer()
    assert framer.feed(BINARY[:32]) == []  # a raw ']' already in sight, but the length says more
    assert framer.feed(BINARY[32:]) == [BINARY]


def test_frame_too_long_and_flush() -> None:
    framer = WatchFramer(max_frame_size=256)
    items = framer.feed(b"[CS*1*ffff*TK,abc" + SAMPLE[0])
    assert [e.reason for e in items if isinstance(e, FramingError)] == ["frame_too_long"]
    assert frames_of(items) == [SAMPLE[0]]
    assert framer.feed(b"[3G*1*0002*L") == []
    assert framer.flush() == [FramingError("truncated", b"[3G*1*0002*L", "connection ended inside a frame")]


garbage_bytes = st.binary(max_size=30).map(lambda b: b.replace(b"[", b""))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.integers(min_value=0, max_value=max(len(REAL_FRAMES) - 1, 0)), min_size=1, max_size=6),
    garbage=st.lists(garbage_bytes, min_size=1, max_size=6),
    data=st.data(),
)
def test_random_garbage_without_brackets_loses_no_frame(
    picks: list[int], garbage: list[bytes], data: st.DataObject
) -> None:
    frames = [REAL_FRAMES[i] for i in picks]
    stream = garbage_stream(frames, garbage)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=8))
    assert_resyncs_after_garbage(WatchFramer, frames, stream, cuts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(st.binary(max_size=200), max_size=8), picks=st.lists(st.integers(0, 8), max_size=4))
def test_arbitrary_bytes_never_break_the_framer(chunks: list[bytes], picks: list[int]) -> None:
    stream_chunks = [*chunks, *(SAMPLE[i % len(SAMPLE)] for i in picks)]
    assert_every_byte_accounted(WatchFramer(max_frame_size=512), stream_chunks)


# -- fuzzing: only DecodeError may come out -----------------------------------------------------

COMMANDS = ["LK", "UD", "UD2", "AL", "WT", "TKQ", "PULSE", "BPHRT", "TEMP", "btemp2", "oxygen", "img", "JXTK", "TK"]


def _decode_all(frame: bytes) -> list[DecodedMessage]:
    return fuzz_decode(WatchDecoder, frame, PROTOCOL)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_all(data)
    _decode_all(b"[3G*1*0000*" + data + b"]")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    command=st.sampled_from(COMMANDS),
    fields=st.lists(st.text(alphabet="0123456789.,-ANSEWV:abcdef ", max_size=12), max_size=25),
    index=st.sampled_from([None, "0001"]),
)
def test_fuzz_well_framed_random_fields(command: str, fields: list[str], index: str | None) -> None:
    _decode_all(build_frame("3G", "1234567890", ",".join([command, *fields]), index=index))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=max(len(REAL_FRAMES) - 1, 0)), data=st.data())
def test_fuzz_mutated_real_frames(index: int, data: st.DataObject) -> None:
    frame = mutated(data, REAL_FRAMES[index])
    _decode_all(bytes(frame[: data.draw(st.integers(0, len(frame)))]))
    _decode_all(bytes(frame))


# -- simulated device and round trip --------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    device_id=st.from_regex(r"[0-9]{10,15}", fullmatch=True),
    time_utc=utc_times(),
    latitude=LATITUDES,
    longitude=LONGITUDES,
    speed=st.floats(min_value=0, max_value=300, allow_nan=False),
    heading=st.floats(min_value=0, max_value=359.9, allow_nan=False),
    satellites=st.integers(min_value=0, max_value=30),
    valid=st.booleans(),
    alarm=st.sampled_from([None, *sorted(watch.ALARM_BITS)]),
)
def test_encoder_framer_decoder_round_trip(
    device_id: str,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed: float,
    heading: float,
    satellites: int,
    valid: bool,
    alarm: str | None,
) -> None:
    time_utc = time_utc.replace(microsecond=0)
    encoder = WatchEncoder(device_id)
    fix = FixToSend(
        time_utc=time_utc,
        latitude=latitude,
        longitude=longitude,
        speed_kmh=speed,
        heading_deg=heading,
        satellites=satellites,
        valid=valid,
        alarm=alarm,
    )
    login, location, beat = encoder.login(), encoder.location(fix), encoder.heartbeat()
    framer = WatchFramer()
    assert framer.feed(login + location + beat) == [login, location, beat]
    decoder = WatchDecoder()
    (m_login,) = decoder.decode(login, RECEIVED)
    (m_location,) = decoder.decode(location, RECEIVED)
    (m_beat,) = decoder.decode(beat, RECEIVED)
    assert m_login.device_id == m_location.device_id == m_beat.device_id == device_id
    assert m_login.response == m_beat.response == f"[3G*{device_id}*0002*LK]".encode()
    assert encoder.awaits_response("login")
    assert encoder.awaits_response("heartbeat")
    assert not encoder.awaits_response("location")
    position = m_location.position
    assert position is not None
    assert position.time_utc == time_utc
    assert position.latitude == pytest.approx(latitude, abs=1e-5)
    assert position.longitude == pytest.approx(longitude, abs=1e-5)
    assert position.speed_kmh == pytest.approx(speed, abs=0.006)
    assert position.heading_deg == pytest.approx(round(heading, 1) % 360, abs=1e-9)
    assert position.satellites == satellites
    assert position.valid is valid
    assert m_location.attributes.get("alarm") == alarm
    assert m_location.kind == ("alarm" if alarm else "location")


# -- registry ------------------------------------------------------------------------------------------


def test_registry() -> None:
    spec = protocols.get("watch")
    assert (spec.name, spec.default_port, spec.transports, spec.payload) == ("watch", 5093, ("tcp",), "text")
    assert isinstance(spec.decoder_factory(), WatchDecoder)
    assert spec.framer_factory is not None
    assert isinstance(spec.framer_factory(), WatchFramer)
    assert spec.encoder_factory is not None
    assert isinstance(spec.encoder_factory("1234567890"), WatchEncoder)

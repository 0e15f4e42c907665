"""The GT06 stream framer: real frames cut at every byte boundary, garbage, resynchronisation."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cedetect.protocols.base import FramingError
from cedetect.protocols.framing import GT06_DEFAULT_MAX_FRAME_SIZE, Gt06Framer
from cedetect.protocols.gt06 import build_frame, encode_heartbeat, encode_login
from tests.cedetect.protocols.vectors import (
    assert_noise_then_resync,
    assert_resyncs_after_garbage,
    assert_split_at_every_byte,
    chunked,
    errors_of,
    feed_all,
    frames_of,
    garbage_stream,
    load_vectors,
    payload_bytes,
)


def _good_frames() -> list[bytes]:
    frames = []
    for vector in load_vectors("gt06"):
        check = vector.get("frame_check_derived")
        if check and check["valid"] and check["length_field_matches"] and check["stop_bytes_0d0a"]:
            frames.append(payload_bytes(vector))
    return frames


REAL_FRAMES = _good_frames()
SAMPLE = REAL_FRAMES[:12]


def test_there_are_real_frames() -> None:
    assert len(REAL_FRAMES) > 100
    assert any(frame[:2] == b"\x79\x79" for frame in REAL_FRAMES)


def test_each_real_frame_alone() -> None:
    for frame in REAL_FRAMES:
        framer = Gt06Framer()
        assert framer.feed(frame) == [frame]
        assert framer.buffered == 0


def test_concatenated_real_frames_split_at_every_byte_boundary() -> None:
    assert_split_at_every_byte(Gt06Framer, SAMPLE)


def test_all_real_frames_byte_by_byte() -> None:
    stream = b"".join(REAL_FRAMES)
    framer = Gt06Framer()
    items = feed_all(framer, chunked(stream, 1))
    assert items == REAL_FRAMES
    assert framer.buffered == 0


def test_garbage_prefix_and_between_frames() -> None:
    junk1, junk2 = b"\x00\x01hello\r\n", b"\xff\x78\x00\x79"
    stream = junk1 + SAMPLE[0] + junk2 + SAMPLE[1] + SAMPLE[2]
    framer = Gt06Framer()
    items = framer.feed(stream)
    assert frames_of(items) == SAMPLE[:3]
    errors = errors_of(items)
    assert [e.reason for e in errors] == ["garbage", "garbage"]
    assert [e.raw for e in errors] == [junk1, junk2]
    assert items.index(errors[1]) == 2  # reported in stream order


def test_trailing_partial_start_marker_is_kept() -> None:
    framer = Gt06Framer()
    assert errors_of(framer.feed(b"junk\x78")) == [FramingError("garbage", b"junk", "no start marker")]
    assert framer.buffered == 1
    frame = encode_login("123456789012345", 1)
    assert framer.feed(frame[1:]) == [frame]


def test_frame_too_long_resyncs() -> None:
    bogus = b"\x79\x79\xff\xf0" + b"\x00" * 20
    stream = bogus + SAMPLE[0]
    framer = Gt06Framer(max_frame_size=1024)
    items = framer.feed(stream)
    assert frames_of(items) == [SAMPLE[0]]
    (error,) = errors_of(items)
    assert error.reason == "frame_too_long"
    assert error.raw == bogus


def test_length_below_minimum_and_bad_stop_bytes_resync() -> None:
    short = b"\x78\x78\x01\x08\x0d\x0a"  # the 6-byte traccar vector gt06-162
    frame = encode_heartbeat(ignition=True, battery_level=50, rssi=3, serial=9)
    no_stop = frame[:-2] + b"\x00\x00"
    framer = Gt06Framer()
    items = framer.feed(short + no_stop + frame)
    assert frames_of(items) == [frame]
    assert [e.reason for e in errors_of(items)] == ["bad_length", "bad_stop_bytes"]
    assert b"".join(e.raw for e in errors_of(items)) == short + no_stop


def test_damaged_frame_is_handed_on_for_the_decoder_to_refuse() -> None:
    frame = bytearray(encode_heartbeat(ignition=False, battery_level=20, rssi=1, serial=4))
    frame[5] ^= 0xFF  # CRC now wrong, framing intact
    framer = Gt06Framer()
    assert framer.feed(bytes(frame) + SAMPLE[0]) == [bytes(frame), SAMPLE[0]]


def test_bogus_start_marker_does_not_hold_back_real_frames() -> None:
    bogus = b"\x78\x78\xf0"  # promises a 245-byte frame
    framer = Gt06Framer()
    items = framer.feed(bogus + SAMPLE[0] + SAMPLE[1])
    assert frames_of(items) == [SAMPLE[0], SAMPLE[1]]
    assert errors_of(items)[0].raw == bogus
    assert framer.buffered == 0


def test_bogus_frame_ending_on_a_real_frame_end_is_split() -> None:
    real = SAMPLE[0]
    fake_length = len(real) + 3 - 2  # 3-byte fake header + real frame, stop bytes shared
    bogus = b"\x78\x78" + bytes([fake_length])
    framer = Gt06Framer()
    items = framer.feed(bogus + real)
    assert frames_of(items) == [real]
    assert errors_of(items)[0].raw == bogus


def test_buffer_is_bounded_by_max_frame_size() -> None:
    framer = Gt06Framer(max_frame_size=64)
    framer.feed(b"\x79\x79\x00\x30" + b"\x00" * 30)  # a legal partial frame of 55 bytes
    assert framer.buffered <= 64
    for _ in range(50):
        framer.feed(b"\x01" * 100)
        assert framer.buffered <= 64


def test_flush_reports_partial_frame() -> None:
    frame = encode_login("123456789012345", 3)
    framer = Gt06Framer()
    assert framer.feed(frame[:7]) == []
    assert framer.flush() == [FramingError("truncated", frame[:7], "connection ended inside a frame")]
    assert framer.buffered == 0
    assert framer.flush() == []


def test_default_max_frame_size_fits_long_extended_frames() -> None:
    frame = build_frame(0x94, b"\x0d" + b"!" * 1500, 1, extended=True)
    assert len(frame) < GT06_DEFAULT_MAX_FRAME_SIZE
    assert Gt06Framer().feed(frame) == [frame]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.integers(min_value=0, max_value=max(len(REAL_FRAMES) - 1, 0)), min_size=1, max_size=6),
    garbage=st.lists(st.binary(max_size=40), min_size=1, max_size=6),
    data=st.data(),
)
def test_random_garbage_never_breaks_the_framer(picks: list[int], garbage: list[bytes], data: st.DataObject) -> None:
    frames = [REAL_FRAMES[i] for i in picks]
    stream = garbage_stream(frames, garbage)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=8))
    # in order, and at most one real frame lost to a bogus start marker in the garbage
    assert_resyncs_after_garbage(Gt06Framer, frames, stream, cuts, may_lose=1)


@settings(max_examples=200, deadline=None)
@given(noise=st.binary(max_size=400), chunk=st.integers(min_value=1, max_value=64))
def test_pure_noise(noise: bytes, chunk: int) -> None:
    follow = encode_login("123456789012345", 1)
    assert_noise_then_resync(lambda: Gt06Framer(max_frame_size=256), noise, chunk, follow)


def test_tiny_max_frame_size_is_raised_to_the_minimum_frame() -> None:
    framer = Gt06Framer(max_frame_size=1)
    smallest = build_frame(0x13, b"", 1)
    assert framer.max_frame_size == len(smallest) == 10
    assert framer.feed(smallest) == [smallest]

"""Shared scaffolding of the protocol tests: traccar's vectors, the checks they carry, framers, fuzzing.

The vectors come from ``shared/data/tracker_vectors/tracker_vectors.json`` (see its README).  Each test
module loads its protocol's list with :func:`load_vectors` at import time; a missing file gives an empty
list there, and the module's ``test_vectors_are_present`` (or a test using the ``shared_data`` fixture)
fails loudly.  What is specific to a protocol (its attribute table, refusal lists, expected answers)
stays in its test module; this module only holds what every protocol checks the same way.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import strategies as st

from cedetect.models import Position, PositionFlag
from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    DecodeReason,
    FramingError,
    ProtocolDecoder,
    StreamFramer,
    check_position_invariants,
)

#: One traccar test vector as the JSON file holds it.
Vector = dict[str, Any]
#: What a framer hands out: a frame, or bytes it skipped.
Item = bytes | FramingError

DEVICE_ID: Final = "123456789012345"
RECEIVED: Final = datetime(2026, 8, 30, 12, 0, 0, tzinfo=UTC)
KNOT_KMH: Final = 1.852
VECTORS_FILE: Final = (
    Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tracker_vectors" / "tracker_vectors.json"
)


# -- vectors ----------------------------------------------------------------------------------------


def load_vectors(protocol: str) -> list[Vector]:
    """The vectors of ``protocol`` (the file's key: ``huabao`` for JT/T 808); [] when the file is missing."""
    if not VECTORS_FILE.is_file():
        return []
    vectors: list[Vector] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["protocols"][protocol]
    return vectors


def vector_ids(vectors: Iterable[Vector]) -> list[str]:
    return [vector["id"] for vector in vectors]


def parametrize_vectors(vectors: Sequence[Vector]) -> pytest.MarkDecorator:
    """``@pytest.mark.parametrize("vector", ...)`` with the vector ids as test ids."""
    return pytest.mark.parametrize("vector", vectors, ids=vector_ids(vectors))


def vector_by_id(vectors: Iterable[Vector], vid: str) -> Vector:
    (vector,) = [v for v in vectors if v["id"] == vid]
    return vector


def payload_bytes(vector: Vector) -> bytes:
    """The frame of a vector: hex decoded; an HTTP request as UTF-8; other text as ISO-8859-1 (traccar's
    ``buffer()``)."""
    payload = str(vector["payload"])
    if vector["encoding"] == "hex":
        return bytes.fromhex(payload)
    return payload.encode("utf-8" if vector["encoding"] == "http" else "latin-1")


def frame_by_id(vectors: Iterable[Vector], vid: str) -> bytes:
    return payload_bytes(vector_by_id(vectors, vid))


def vector_config(vector: Vector) -> dict[str, Any]:
    config: dict[str, Any] = vector.get("config") or {}
    return config


def vector_model(vector: Vector) -> str | None:
    model: str | None = vector_config(vector).get("model")
    return model


def frame_check_failed(vector: Vector) -> bool:
    """The extractor found the frame's own check (CRC, XOR) wrong: traccar's test edited the bytes."""
    check = vector.get("frame_check_derived")
    return check is not None and not check["valid"]


def assert_frame_checks_agree(vectors: Iterable[Vector], check_passes: Callable[[bytes], bool]) -> int:
    """Our frame check (``check_passes``: CRC, XOR) agrees with the extractor's ``frame_check_derived`` on
    every vector that has one; returns how many were checked."""
    checked = 0
    for vector in vectors:
        check = vector.get("frame_check_derived")
        if check is None:
            continue
        assert check_passes(payload_bytes(vector)) is check["valid"], vector["id"]
        checked += 1
    return checked


def in_line_order(vectors: Iterable[Vector]) -> list[Vector]:
    return sorted(vectors, key=lambda v: v["test_line"])


def by_test_method(vectors: Iterable[Vector]) -> list[tuple[str, list[Vector]]]:
    """traccar's test methods by name, each with its vectors in ``test_line`` order: what one of its
    tests replays on one decoder."""
    methods: dict[str, list[Vector]] = {}
    for vector in vectors:
        methods.setdefault(vector["test_method"], []).append(vector)
    return [(name, in_line_order(vs)) for name, vs in sorted(methods.items())]


def assert_tables_name_vectors(vectors: Iterable[Vector], *tables: Iterable[str]) -> None:
    """Every vector id a table (skips, drops, divergences) names is a real vector."""
    ids = set(vector_ids(vectors))
    for table in tables:
        assert set(table) <= ids


# -- what every decoded message keeps ----------------------------------------------------------------


def positions_of(messages: Iterable[DecodedMessage]) -> list[Position]:
    return [m.position for m in messages if m.position is not None]


def assert_position_invariants(message: DecodedMessage, protocol: str, *, received: datetime = RECEIVED) -> None:
    """A fix names its device and protocol, carries its flags and the message's attributes, and survives
    the wire model's own validation round trip."""
    position = message.position
    if position is None:
        return
    assert position.device_id == message.device_id
    assert position.protocol == protocol
    assert position.time_utc.tzinfo is not None
    assert position.received_utc == received
    assert 0 <= position.heading_deg < 360
    assert position.flags == tuple(sorted(set(check_position_invariants(position, received))))
    assert (PositionFlag.INVALID_FIX in position.flags) == (not position.valid)
    assert position.attributes == message.attributes
    assert Position.model_validate_json(position.model_dump_json()) == position


def assert_refused(
    decoder: ProtocolDecoder, frame: bytes, reason: str, *, received: datetime = RECEIVED
) -> DecodeError:
    """``decoder`` refuses ``frame`` with ``reason`` and keeps the refused bytes."""
    with pytest.raises(DecodeError) as caught:
        decoder.decode(frame, received)
    assert caught.value.reason == reason
    assert caught.value.raw == frame
    return caught.value


# -- traccar's checks: the fix -----------------------------------------------------------------------

FIX_KEYS: Final = frozenset({"time_utc", "valid", "latitude", "longitude", "speed", "course", "altitude"})


def traccar_time(text: str) -> datetime:
    """A vector's ``time_utc`` (``2017-04-07T12:18:23.000Z``; UTC when it names no zone)."""
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def check_fix(checks: Mapping[str, Any], positions: Sequence[Position]) -> None:
    """traccar's asserted time, validity, coordinates, speed (knots), course and altitude, on every fix."""
    if not FIX_KEYS & set(checks):
        return
    assert positions, f"fix checks {sorted(FIX_KEYS & set(checks))} need a position"
    for position in positions:
        if "time_utc" in checks:
            assert position.time_utc == traccar_time(checks["time_utc"])
        if "valid" in checks:
            assert position.valid is checks["valid"]
        if "latitude" in checks:
            assert position.latitude == pytest.approx(checks["latitude"], abs=1e-5)
        if "longitude" in checks:
            assert position.longitude == pytest.approx(checks["longitude"], abs=1e-5)
        if "speed" in checks:  # traccar: knots
            assert position.speed_kmh == pytest.approx(checks["speed"] * KNOT_KMH, abs=0.01)
        if "course" in checks:
            assert position.heading_deg == pytest.approx(checks["course"], abs=1e-6)
        if "altitude" in checks:
            assert position.altitude_m == pytest.approx(checks["altitude"], abs=1e-6)


# -- traccar's checks: attributes --------------------------------------------------------------------


def same(value: Any) -> Any:
    return value


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


#: traccar's driving-behaviour alarm names -> ours.
HARD_DRIVING: Final[Mapping[str, str]] = {
    "braking": "hard_braking",
    "acceleration": "hard_acceleration",
    "cornering": "hard_cornering",
}


def alarm_set(value: Any, aliases: Mapping[str, str] | None = None) -> set[str]:
    """A comma-separated alarm list as a set of snake_case names (``aliases`` renames some)."""
    names = (snake(part) for part in str(value).split(",") if part)
    return {(aliases or {}).get(name, name) for name in names}


def driving_alarm_set(value: Any) -> set[str]:
    """:func:`alarm_set` with traccar's braking/acceleration/cornering named hard_*."""
    return alarm_set(value, HARD_DRIVING)


@dataclass(frozen=True)
class Mapped:
    """Where a traccar attribute appears on our side, and the value traccar's becomes.

    ``name`` is our attribute (``fallbacks``: names tried after it when it is absent: traccar reuses a few
    names for values of different units); ``field`` a Position field used instead when the message has a
    fix; ``bit`` picks one bit of a bit-mask attribute (traccar's ``in1`` is bit 0 of our ``input``).
    """

    name: str
    convert: Callable[[Any], Any] = same
    field: str | None = None
    bit: int | None = None
    fallbacks: tuple[str, ...] = ()


#: Finds the Mapped of a traccar attribute: a table, or a function (None: not mapped).
Lookup = Mapping[str, Mapped] | Callable[[str], Mapped | None]
#: An extra check of one compared value: (traccar key, its Mapped, ours, traccar's converted).
ValueCheck = Callable[[str, Mapped, Any, Any], None]


def numbered_lookup(
    table: Mapping[str, Mapped], numbered: Iterable[tuple[re.Pattern[str], Callable[[str], Mapped]]]
) -> Callable[[str], Mapped | None]:
    """Look a key up in ``table``, then in the numbered patterns (``temp(\\d+)`` -> ``temp<n>_c`` ...)."""
    patterns = tuple(numbered)

    def lookup(key: str) -> Mapped | None:
        if key in table:
            return table[key]
        for pattern, make in patterns:
            match = pattern.fullmatch(key)
            if match:
                return make(match.group(1))
        return None

    return lookup


def attribute_of(message: DecodedMessage, mapped: Mapped) -> Any:
    """Our value for a traccar attribute in ``message`` (None: absent)."""
    if mapped.field is not None and message.position is not None:
        return getattr(message.position, mapped.field)
    value = None
    for name in (mapped.name, *mapped.fallbacks):
        if name in message.attributes:
            value = message.attributes[name]
            break
    if mapped.bit is not None and isinstance(value, int):
        return bool(value >> mapped.bit & 1)
    return value


def check_attributes(
    expected: Mapping[str, Any],
    messages: Sequence[DecodedMessage],
    lookup: Lookup,
    *,
    unsupported: Iterable[str],
    extra: ValueCheck | None = None,
) -> None:
    """traccar's asserted attributes on ``messages`` (pass ``messages[:1]`` where traccar looks at the
    first position only).  An attribute neither mapped nor listed as unsupported fails; an alarm list
    is compared as a set; floats to 1e-6 (and must be numbers, not booleans); ``extra`` adds a protocol's
    own check of every compared value but alarms."""
    skipped = set(unsupported)
    for key, value in expected.items():
        if key in skipped:
            continue
        mapped = lookup.get(key) if isinstance(lookup, Mapping) else lookup(key)
        assert mapped is not None, f"traccar attribute {key!r} is neither mapped nor listed as unsupported"
        found = [ours for m in messages if (ours := attribute_of(m, mapped)) is not None]
        if value is None:
            assert not found, f"{mapped.name} must be absent"
            continue
        assert found, f"{mapped.name} (traccar {key}) missing"
        want = mapped.convert(value)
        for got in found:
            if key == "alarm":
                assert mapped.convert(got) == want
                continue
            if isinstance(want, float):
                assert isinstance(got, int | float)
                assert not isinstance(got, bool)
                assert got == pytest.approx(want, abs=1e-6)
            else:
                assert got == want
            if extra is not None:
                extra(key, mapped, got, want)


def exact_type(_key: str, _mapped: Mapped, got: Any, want: Any) -> None:
    """A :data:`ValueCheck`: a value compared exactly also has traccar's type."""
    if not isinstance(want, float):
        assert type(got) is type(want)


# -- framers -------------------------------------------------------------------------------------------


def feed_all(framer: StreamFramer, chunks: Iterable[bytes]) -> list[Item]:
    """Feed ``chunks`` in turn; the buffer stays within ``max_frame_size`` after each."""
    out: list[Item] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
        assert framer.buffered <= framer.max_frame_size
    return out


def frames_of(items: Iterable[Item]) -> list[bytes]:
    return [item for item in items if isinstance(item, bytes)]


def errors_of(items: Iterable[Item]) -> list[FramingError]:
    return [item for item in items if isinstance(item, FramingError)]


def accounted(items: Iterable[Item], framer: StreamFramer) -> bytes:
    """Every byte handed out (frames, skipped bytes), then what the framer still held (flushed)."""
    parts = [item if isinstance(item, bytes) else item.raw for item in items]
    return b"".join(parts) + b"".join(e.raw for e in framer.flush())


def only_line_ends_dropped(stream: bytes, items: Iterable[Item], framer: StreamFramer) -> bool:
    """Every byte fed comes out once (frame, skipped, or still buffered), except CR/LF between frames."""
    out = accounted(items, framer)
    position = 0
    for byte in stream:
        if position < len(out) and out[position] == byte:
            position += 1
        elif byte not in (0x0D, 0x0A):
            return False
    return position == len(out)


def split_at(stream: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``stream`` cut at the positions ``cuts`` (any order; past the end gives empty chunks)."""
    points = sorted(cuts)
    return [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]


def chunked(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def garbage_stream(frames: Sequence[bytes], garbage: Sequence[bytes], tail: bytes = b"") -> bytes:
    """Garbage before each frame (taken in turn) and after the last, then ``tail``."""
    return b"".join(garbage[i % len(garbage)] + frame for i, frame in enumerate(frames)) + garbage[-1] + tail


def assert_split_at_every_byte(make_framer: Callable[[], StreamFramer], frames: Sequence[bytes]) -> None:
    """The concatenated ``frames``, fed in two chunks split at every byte boundary, come out whole."""
    stream = b"".join(frames)
    for cut in range(len(stream) + 1):
        framer = make_framer()
        assert feed_all(framer, [stream[:cut], stream[cut:]]) == list(frames), f"split at {cut}"
        assert framer.buffered == 0


def assert_every_byte_accounted(framer: StreamFramer, chunks: Sequence[bytes]) -> None:
    """Whatever is fed, every byte comes out once: as a frame, as skipped bytes, or flushed."""
    items = feed_all(framer, chunks)
    assert accounted(items, framer) == b"".join(chunks)


def assert_accounted(stream: bytes, items: Sequence[Item], framer: StreamFramer, *, line_ends_dropped: bool) -> None:
    if line_ends_dropped:
        assert only_line_ends_dropped(stream, items, framer)
    else:
        assert accounted(items, framer) == stream


def assert_resyncs_after_garbage(
    make_framer: Callable[[], StreamFramer],
    frames: Sequence[bytes],
    stream: bytes,
    cuts: Iterable[int],
    *,
    may_lose: int | None = None,
    same_frame: Callable[[bytes, bytes], bool] = operator.eq,
    keep: Callable[[bytes], bool] | None = None,
    line_ends_dropped: bool = False,
) -> None:
    """The framer property: real ``frames`` mixed with garbage into ``stream``, fed in chunks cut at
    ``cuts``, never raise and come out again.

    ``may_lose`` None: exactly ``frames`` come out; n: they come out in order (``same_frame(got, frame)``),
    all but n at most (a start marker in the garbage may cost the frame after it).  ``keep`` filters the
    frames handed out first (keep-alives made of garbage bytes).  Every byte fed is accounted for, as a
    frame, as skipped bytes or as held bytes; with ``line_ends_dropped`` CR/LF between frames may vanish.
    """
    framer = make_framer()
    items = feed_all(framer, split_at(stream, cuts))
    got = [frame for frame in frames_of(items) if keep is None or keep(frame)]
    if may_lose is None:
        assert got == list(frames)
    else:
        # in order: each frame is looked for after the last one found; a frame that is missing must not
        # use up the candidates of the frames after it
        found, next_at = 0, 0
        for frame in frames:
            at = next((k for k in range(next_at, len(got)) if same_frame(got[k], frame)), None)
            if at is not None:
                found, next_at = found + 1, at + 1
        assert found >= len(frames) - may_lose
    assert_accounted(stream, items, framer, line_ends_dropped=line_ends_dropped)


def assert_noise_then_resync(
    make_framer: Callable[[], StreamFramer],
    noise: bytes,
    chunk: int,
    follow: bytes,
    *,
    line_ends_dropped: bool = False,
) -> None:
    """Pure noise fed in ``chunk``-byte pieces is all accounted for (and flushed); the framer is then
    back in sync within one frame: of ``follow`` fed twice, the second comes out."""
    framer = make_framer()
    items = feed_all(framer, chunked(noise, chunk))
    assert_accounted(noise, items, framer, line_ends_dropped=line_ends_dropped)
    assert frames_of(framer.feed(follow + follow))[-1] == follow


# -- fuzzing: only DecodeError may come out -----------------------------------------------------------


def fuzz_decode(
    make_decoder: Callable[[], ProtocolDecoder], frame: bytes, protocol: str, *, received: datetime = RECEIVED
) -> list[DecodedMessage]:
    """Decode ``frame`` on a decoder from ``make_decoder``: anything but a DecodeError (with a named reason
    and the frame kept) propagates and fails; every fix keeps the position invariants."""
    decoder = make_decoder()
    error: DecodeError | None = None
    messages: list[DecodedMessage] = []
    try:
        messages = decoder.decode(frame, received)
    except DecodeError as exc:
        error = exc
    if error is not None:
        assert error.reason in set(DecodeReason)
        assert error.raw == frame
    for message in messages:
        assert_position_invariants(message, protocol, received=received)
    return messages


def mutated(
    data: st.DataObject,
    frame: bytes | bytearray,
    *,
    first: int = 0,
    last: int | None = None,
    alphabet: bytes | None = None,
) -> bytearray:
    """A copy of ``frame`` with 1 to 4 bytes between ``first`` and ``last`` (default: the last byte)
    replaced by drawn bytes (from ``alphabet`` where given)."""
    out = bytearray(frame)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        if not out:
            break
        position = data.draw(st.integers(min_value=first, max_value=len(out) - 1 if last is None else last))
        if alphabet is None:
            out[position] = data.draw(st.integers(min_value=0, max_value=255))
        else:
            out[position] = data.draw(st.sampled_from(alphabet))
    return out


# -- strategies for encoder round trips -----------------------------------------------------------------

LATITUDES: Final = st.floats(min_value=-90, max_value=90, allow_nan=False)
LONGITUDES: Final = st.floats(min_value=-180, max_value=180, allow_nan=False)


def utc_times(first_year: int = 2000, last_year: int = 2099) -> st.SearchStrategy[datetime]:
    """UTC-aware datetimes from 1 January of ``first_year`` to 31 December of ``last_year``."""
    return st.datetimes(
        min_value=datetime(first_year, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive; timezones= makes them UTC
        max_value=datetime(last_year, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    )

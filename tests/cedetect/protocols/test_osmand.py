"""OsmAnd over HTTP: every shared vector, plus edge cases with exact expected values."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cedetect import protocols
from cedetect.protocols.base import DecodeError, FixToSend, check_position_invariants
from cedetect.protocols.osmand import KNOT_KMH, OsmAndDecoder, OsmAndEncoder, snake_case
from tests.cedetect.protocols.vectors import (
    VECTORS_FILE,
    assert_refused,
    load_vectors,
    payload_bytes,
    vector_by_id,
    vector_ids,
)

RECEIVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
VECTORS = load_vectors("osmand")

#: traccar attribute name -> ours
ATTRIBUTE_NAMES = {"device_integer_twelve_test": "device_integer_twelve_test"}


# a missing file still gives one test, which the shared_data fixture fails
@pytest.mark.parametrize("vector_id", vector_ids(VECTORS) if VECTORS_FILE.is_file() else ["missing"])
def test_shared_vector(vector_id: str, shared_data: Path) -> None:
    vector = vector_by_id(VECTORS, vector_id)
    frame = payload_bytes(vector)
    decoder = OsmAndDecoder()
    if vector["expect"] == "no_position":
        assert_refused(decoder, frame, "no_device_id", received=RECEIVED)  # traccar answers 400 and drops it
        return
    (message,) = decoder.decode(frame, RECEIVED)
    if vector["expect"] == "not_null":
        assert message.kind == "network"
        assert message.attributes["cell_count"] == 2
        assert message.attributes["wifi_count"] == 2
        return
    position = message.position
    assert position is not None
    assert check_position_invariants(position, RECEIVED) == position.flags
    for name, expected in (vector.get("checks") or {}).get("attributes", {}).items():
        assert position.attributes[ATTRIBUTE_NAMES[name]] == expected


def test_query_string_units_and_names() -> None:
    frame = (
        b"/?id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&bearing=7.2&speed=40"
        b"&ignition=true&rpm=933&fuel=24&hdop=0.9&batt=87&driverUniqueId=AB12"
    )
    (message,) = OsmAndDecoder().decode(frame, RECEIVED)
    p = message.position
    assert p is not None
    assert (p.device_id, p.time_utc) == ("123456789012345", datetime(2017, 9, 7, 5, 56, 50, tzinfo=UTC))
    assert (p.latitude, p.longitude, p.heading_deg, p.hdop) == (40.7232948571, -74.0061408571, 7.2, 0.9)
    assert p.speed_kmh == pytest.approx(40 * KNOT_KMH)
    assert p.attributes == {
        "ignition": True,
        "rpm": 933,
        "fuel_level": 24.0,
        "battery_level": 87.0,
        "driver_id": "AB12",
    }


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("1377177267", datetime(2013, 8, 22, 13, 14, 27, tzinfo=UTC)),
        ("1442068686579", datetime(2015, 9, 12, 14, 38, 6, 579000, tzinfo=UTC)),
        ("2014-06-04+09%3A10%3A11", datetime(2014, 6, 4, 9, 10, 11, tzinfo=UTC)),
        ("2025-06-15T13:45:12.862Z", datetime(2025, 6, 15, 13, 45, 12, 862000, tzinfo=UTC)),
        ("2025-06-15T16:45:12%2B03:00", datetime(2025, 6, 15, 13, 45, 12, tzinfo=UTC)),
    ],
)
def test_timestamps(stamp: str, expected: datetime) -> None:
    (message,) = OsmAndDecoder().decode(f"?id=1&lat=1&lon=2&timestamp={stamp}".encode(), RECEIVED)
    assert message.position is not None
    assert message.position.time_utc == expected


def test_transistorsoft_json() -> None:
    body = {
        "location": {
            "timestamp": "2021-07-21T08:06:34.444Z",
            "coords": {
                "latitude": -6.1148096,
                "longitude": 106.6837015,
                "speed": 18.67,
                "heading": 63,
                "altitude": 35.7,
            },
            "is_moving": True,
            "odometer": 12345.0,
            "battery": {"level": 0.79, "is_charging": False},
            "activity": {"type": "in_vehicle"},
            "extras": {"trailerId": "TR-9"},
        },
        "device_id": "8737767034",
    }
    (message,) = OsmAndDecoder().decode(json.dumps(body).encode(), RECEIVED)
    p = message.position
    assert p is not None
    assert (p.device_id, p.latitude, p.longitude, p.heading_deg, p.altitude_m) == (
        "8737767034",
        -6.1148096,
        106.6837015,
        63.0,
        35.7,
    )
    assert p.speed_kmh == pytest.approx(18.67 * 3.6)
    assert p.attributes == {
        "motion": True,
        "odometer_km": 12.345,
        "battery_level": 79.0,
        "charge": False,
        "activity": "in_vehicle",
        "trailer_id": "TR-9",
    }


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"?lat=1&lon=2", "no_device_id"),
        (b"?id=1&lat=abc&lon=2", "malformed"),
        (b"?id=1&lat=91&lon=2", "invalid_coordinates"),
        (b"?id=1&lat=1&lon=2&timestamp=yesterday", "invalid_time"),
        (b"?id=bad/id&lat=1&lon=2", "invalid_device_id"),
        (b"?id=1&lat=nan&lon=2", "invalid_coordinates"),
        (b"", "malformed"),
        (b"\xff\xfe", "malformed"),
        (b'{"location": {"coords": {}}, "device_id": "1"}', "malformed"),
        (b"{not json", "malformed"),
    ],
)
def test_bad_requests_have_named_reasons(frame: bytes, reason: str) -> None:
    assert_refused(OsmAndDecoder(), frame, reason, received=RECEIVED)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_fuzz_raises_only_decode_errors(frame: bytes) -> None:
    with contextlib.suppress(DecodeError):
        OsmAndDecoder().decode(frame, RECEIVED)


def test_encoder_round_trip_and_registry() -> None:
    t = datetime(2026, 11, 25, 11, 59, 30, tzinfo=UTC)
    encoder = OsmAndEncoder("353861053849681")
    frame = encoder.location(FixToSend(time_utc=t, latitude=41.6771, longitude=26.5557, speed_kmh=80.0, heading_deg=90))
    (message,) = OsmAndDecoder().decode(frame, RECEIVED)
    p = message.position
    assert p is not None
    assert (p.device_id, p.time_utc, p.latitude, p.longitude) == ("353861053849681", t, 41.6771, 26.5557)
    assert p.speed_kmh == pytest.approx(80.0, abs=0.01)
    assert encoder.login() is None
    spec = protocols.get("osmand")
    assert (spec.default_port, spec.transports) == (5055, ("http",))


def test_snake_case() -> None:
    assert [snake_case(k) for k in ("deviceIntegerTest", "x-y z", "RPM", "1st", "__")] == [
        "device_integer_test",
        "x_y_z",
        "rpm",
        "x1st",
        "value",
    ]

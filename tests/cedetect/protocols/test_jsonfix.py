from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cedetect.protocols.base import DecodeError, FixToSend
from cedetect.protocols.jsonfix import JsonFixDecoder, JsonFixEncoder

RECEIVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GOOD = {
    "time_utc": "2026-11-25T13:00:00+03:00",
    "latitude": 41.67,
    "longitude": 26.55,
    "speed_kmh": 72.5,
    "heading_deg": 361,
    "altitude_m": 45,
    "satellites": 9,
    "hdop": 0.9,
    "attributes": {"ignition": True, "odometer_km": 120345.2},
}


def test_a_fix_with_units_in_the_names() -> None:
    (message,) = JsonFixDecoder(device_id="truck-1").decode(json.dumps(GOOD).encode(), RECEIVED)
    p = message.position
    assert p is not None
    assert (p.device_id, p.protocol, p.time_utc) == ("truck-1", "json", datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    assert (p.latitude, p.longitude, p.speed_kmh, p.heading_deg, p.altitude_m, p.satellites, p.hdop) == (
        41.67, 26.55, 72.5, 1.0, 45.0, 9, 0.9,
    )  # fmt: skip
    assert p.attributes == {"ignition": True, "odometer_km": 120345.2}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"time_utc": "2026-11-25T13:00:00"}, "invalid_time"),
        ({"time_utc": "soon"}, "invalid_time"),
        ({"latitude": 91}, "invalid_coordinates"),
        ({"latitude": "41"}, "malformed"),
        ({"latitude": None}, "malformed"),
        ({"speed": 3}, "malformed"),
        ({"attributes": {"Bad Key": 1}}, "malformed"),
        ({"attributes": {"nested": {"a": 1}}}, "malformed"),
        ({"device_id": "someone-else"}, "invalid_device_id"),
        ({"valid": "yes"}, "malformed"),
    ],
)
def test_bad_fixes_have_named_reasons(change: dict[str, object], reason: str) -> None:
    body = {**GOOD, **change}
    frame = json.dumps(body).encode()
    with pytest.raises(DecodeError) as caught:
        JsonFixDecoder(device_id="truck-1").decode(frame, RECEIVED)
    assert caught.value.reason == reason
    assert caught.value.raw == frame


@pytest.mark.parametrize("frame", [b"{broken", b"[1, 2]", b"\xff\xfe", b"null"])
def test_not_a_json_object(frame: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        JsonFixDecoder(device_id="truck-1").decode(frame, RECEIVED)
    assert caught.value.reason == "malformed"


def test_a_fix_without_any_device_id_is_refused() -> None:
    with pytest.raises(DecodeError) as caught:
        JsonFixDecoder().decode(json.dumps(GOOD).encode(), RECEIVED)
    assert caught.value.reason == "no_device_id"


def test_encoder_round_trip() -> None:
    fix = FixToSend(time_utc=RECEIVED, latitude=40.1, longitude=29.2, speed_kmh=50, alarm="sos", odometer_km=12.5)
    (message,) = JsonFixDecoder(device_id="t-2").decode(JsonFixEncoder("t-2").location(fix), RECEIVED)
    p = message.position
    assert p is not None
    assert (p.time_utc, p.latitude, p.longitude, p.speed_kmh) == (RECEIVED, 40.1, 29.2, 50.0)
    assert p.attributes == {"ignition": True, "odometer_km": 12.5, "alarm": "sos"}

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cedetect.models import DeadLetter, DeviceStatus, Position
from ingest.parse import Incoming, Quarantined, SitePosition, parse_message

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def position_json(**overrides: object) -> bytes:
    body: dict[str, object] = {
        "device_id": "359339075003512",
        "protocol": "gt06",
        "time_utc": "2026-11-25T11:59:50Z",
        "received_utc": "2026-11-25T11:59:51Z",
        "latitude": 41.7,
        "longitude": 26.7,
        "speed_kmh": 60.0,
        "heading_deg": 90.0,
    }
    body.update(overrides)
    return json.dumps(body).encode()


def msg(topic: str, payload: bytes) -> Incoming:
    return Incoming(topic, payload, mid=1, qos=1, received_utc=NOW)


TOPIC = "cedetect/v1/kapikule/359339075003512/position"


def test_valid_position() -> None:
    parsed = parse_message(msg(TOPIC, position_json()), "ingest:test")
    assert isinstance(parsed, SitePosition)
    assert parsed.site == "kapikule"
    assert parsed.position.time_utc == datetime(2026, 11, 25, 11, 59, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (TOPIC, b'{"device_id": "359339075003512", "lat', "bad_json"),
        (TOPIC, b"\xff\xfe\x00garbage", "bad_json"),
        (TOPIC, position_json(latitude=123.0), "invalid_coordinates"),
        (TOPIC, position_json(longitude=float("nan")), "invalid_coordinates"),
        (TOPIC, position_json(time_utc="2026-11-25T11:59:50"), "invalid_time"),
        (TOPIC, position_json(schema_version=2), "unsupported_schema_version"),
        (TOPIC, position_json(device_id="someone-else"), "topic_mismatch"),
        (TOPIC, position_json(speed_kmh=-3), "invalid_payload"),
        ("cedetect/v1/kapikule/dev/bogus", b"{}", "unknown_kind"),
        ("other/topic", b"{}", "not_cedetect_topic"),
    ],
)
def test_bad_messages_are_quarantined_with_a_named_reason(topic: str, payload: bytes, reason: str) -> None:
    parsed = parse_message(msg(topic, payload), "ingest:test")
    assert isinstance(parsed, Quarantined)
    assert parsed.reason == reason
    assert parsed.raw == payload
    assert parsed.source == "ingest:test"


def test_dead_letter_keeps_the_edge_bytes_and_reason() -> None:
    letter = DeadLetter(
        source="edge-1",
        site="kapikule",
        received_utc=NOW,
        reason="bad_checksum",
        protocol="gt06",
        raw_hex="78780d01",
    )
    parsed = parse_message(msg("cedetect/v1/kapikule/edge-1/deadletter", letter.model_dump_json().encode()), "x")
    assert isinstance(parsed, Quarantined)
    assert (parsed.reason, parsed.raw, parsed.source, parsed.key) == (
        "bad_checksum",
        b"\x78\x78\x0d\x01",
        "edge-1",
        letter.key,
    )


def test_status() -> None:
    status = DeviceStatus(device_id="edge-1", kind="edge_agent", state="offline", time_utc=NOW, site="kapikule")
    parsed = parse_message(msg("cedetect/v1/kapikule/edge-1/status", status.model_dump_json().encode()), "x")
    assert parsed == status


def test_position_round_trip_is_exact() -> None:
    position = Position.model_validate_json(position_json(attributes={"ignition": True}, flags=["stale_time"]))
    again = parse_message(msg(TOPIC, position.model_dump_json().encode()), "x")
    assert isinstance(again, SitePosition)
    assert again.position == position

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from cedetect.models import Alert, Position, alert_id_for
from cedetect.topics import Topic, TopicError, TopicKind, parse, subscription, topic


def test_topic_round_trip() -> None:
    name = topic("kapikule", "359339075003512", TopicKind.POSITION)
    assert name == "cedetect/v1/kapikule/359339075003512/position"
    assert parse(name) == Topic("kapikule", "359339075003512", TopicKind.POSITION)
    assert subscription(TopicKind.STATUS) == "cedetect/v1/+/+/status"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("cedetect/v2/a/b/position", "not_cedetect_topic"),
        ("cedetect/v1/a/b/position/extra", "not_cedetect_topic"),
        ("cedetect/v1/a/b/weather", "unknown_kind"),
        ("cedetect/v1/+/b/position", "bad_site"),
        ("cedetect/v1/a/#/position", "bad_device_id"),
    ],
)
def test_bad_topics_have_named_reasons(name: str, reason: str) -> None:
    with pytest.raises(TopicError) as caught:
        parse(name)
    assert caught.value.reason == reason


def test_topic_refuses_wildcards_in_ids() -> None:
    with pytest.raises(TopicError):
        topic("site", "dev/ice", TopicKind.POSITION)


def _position(**kw: object) -> Position:
    body: dict[str, object] = {
        "device_id": "d1",
        "protocol": "gt06",
        "time_utc": datetime(2026, 1, 1, 12, tzinfo=UTC),
        "received_utc": datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC),
        "latitude": 41.0,
        "longitude": 26.0,
    }
    body.update(kw)
    return Position.model_validate(body)


def test_times_are_converted_to_utc_and_naive_times_refused() -> None:
    local = datetime(2026, 1, 1, 15, tzinfo=timezone(timedelta(hours=3)))
    assert _position(time_utc=local).time_utc == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert _position(time_utc=local).time_utc.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        _position(time_utc=datetime(2026, 1, 1, 12))  # noqa: DTZ001 - the naive value under test


@pytest.mark.parametrize(
    "bad",
    [
        {"latitude": 90.5},
        {"longitude": -181},
        {"speed_kmh": -1},
        {"heading_deg": 360},
        {"latitude": float("inf")},
        {"flags": ["not_a_flag"]},
        {"schema_version": 2},
        {"unknown_field": 1},
    ],
)
def test_absurd_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _position(**bad)


def test_flags_are_sorted_and_unique() -> None:
    assert [f.value for f in _position(flags=["stale_time", "duplicate", "stale_time"]).flags] == [
        "duplicate",
        "stale_time",
    ]


def test_alert_ids_are_deterministic() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    a = alert_id_for("geofence_enter", ("b", "a"), t, "zone-1")
    assert a == alert_id_for("geofence_enter", ("a", "b"), t.astimezone(timezone(timedelta(hours=3))), "zone-1")
    assert a != alert_id_for("geofence_enter", ("a", "b"), t, "zone-2")
    alert = Alert(
        alert_id=a,
        kind="geofence_enter",
        severity="high",
        device_ids=("a",),
        time_utc=t,
        created_utc=t,
        latitude=1,
        longitude=2,
        title="x",
    )
    assert Alert.model_validate_json(alert.model_dump_json()) == alert


def test_attribute_text_is_kept_verbatim() -> None:
    """Evidence is not normalised: a driver tag with leading whitespace stays exactly as decoded."""
    position = _position(attributes={"driver_id": "\n\xcd ", "result": "  OK"})
    assert position.attributes == {"driver_id": "\n\xcd ", "result": "  OK"}
    assert Position.model_validate_json(position.model_dump_json()).attributes == position.attributes

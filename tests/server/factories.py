"""Rows for the server tests, written straight into the tables the way ingest writes them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cedetect.models import Alert, AlertSeverity, utc_now
from cedetect.storage import insert_alert


def insert_position(
    conn: psycopg.Connection,
    device_id: str,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    *,
    speed_kmh: float = 50.0,
    heading_deg: float = 90.0,
    valid: bool = True,
    flags: tuple[str, ...] = (),
    attributes: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO positions (device_id, time_utc, received_utc, site, protocol, latitude, longitude,"
        " speed_kmh, heading_deg, valid, attributes, flags) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            device_id,
            time_utc,
            time_utc + timedelta(seconds=1),
            "border-post-1",
            "gt06",
            latitude,
            longitude,
            speed_kmh,
            heading_deg,
            valid,
            Jsonb(attributes or {}),
            list(flags),
        ),
    )


def make_alert(
    *,
    kind: str = "geofence_enter",
    severity: AlertSeverity = AlertSeverity.HIGH,
    device_ids: tuple[str, ...] = ("TRK-1",),
    time_utc: datetime | None = None,
    created_utc: datetime | None = None,
    latitude: float = 41.7523,
    longitude: float = 26.4020,
    zone_id: str | None = "restricted-kapikule",
    title: str = "Truck entered a restricted zone",
) -> Alert:
    created = created_utc or utc_now()
    return Alert(
        alert_id=uuid.uuid4(),
        kind=kind,
        severity=severity,
        device_ids=device_ids,
        time_utc=time_utc or created,
        created_utc=created,
        latitude=latitude,
        longitude=longitude,
        zone_id=zone_id,
        title=title,
        details={"source": "test"},
    )


def store_alert(database_url: str, alert: Alert) -> Alert:
    """Insert and commit ``alert`` on a connection of its own (the NOTIFY goes out on commit)."""
    with psycopg.connect(database_url) as conn:
        assert insert_alert(conn, alert)
    return alert


T0 = datetime(2025, 1, 15, 8, 0, tzinfo=UTC)

"""Ingest's batch writer against a real PostgreSQL."""

from __future__ import annotations

import json
import select
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cedetect.models import DeadLetter, DeviceStatus, Position, PositionFlag
from cedetect.storage import ALERT_CHANNEL, migrate
from geofence.zones import Zone
from ingest.parse import Incoming, Parsed, SitePosition, parse_message
from ingest.rules import RestrictedZoneRule
from ingest.store import prepare, write_batch

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
# A 0.02 x 0.02 degree square just south-west of Edirne.
SQUARE = Zone(
    zone_id="rz-test",
    name="Test restricted square",
    kind="restricted",
    polygon=(((26.50, 41.60), (26.52, 41.60), (26.52, 41.62), (26.50, 41.62), (26.50, 41.60)),),
)
POST = Zone(
    zone_id="bp-test",
    name="Test border post",
    kind="border_post",
    polygon=(((26.40, 41.60), (26.42, 41.60), (26.42, 41.62), (26.40, 41.62), (26.40, 41.60)),),
)


def fix(device: str, minute: int, lat: float, lon: float, **kw: object) -> SitePosition:
    position = Position(
        device_id=device,
        protocol="gt06",
        time_utc=T0 + timedelta(minutes=minute),
        received_utc=T0 + timedelta(minutes=minute, seconds=2),
        latitude=lat,
        longitude=lon,
        speed_kmh=50.0,
        heading_deg=90.0,
        **kw,  # type: ignore[arg-type,unused-ignore]
    )
    return SitePosition("kapikule", position)


@pytest.fixture
def conn(database_url: str) -> psycopg.Connection:
    connection = psycopg.connect(database_url)
    migrate(connection)
    prepare(connection)
    return connection


def count(conn: psycopg.Connection, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0])


def test_redelivered_positions_are_stored_once(conn: psycopg.Connection) -> None:
    batch: list[Parsed] = [fix("truck-1", i, 41.5, 26.3 + i * 0.001) for i in range(50)]
    first = write_batch(conn, batch, None)
    again = write_batch(conn, [*batch, fix("truck-1", 50, 41.5, 26.4)], None)
    assert (first.positions_new, first.positions_duplicate) == (50, 0)
    assert (again.positions_new, again.positions_duplicate) == (1, 50)
    assert count(conn, "SELECT count(*) FROM positions") == 51
    assert count(conn, "SELECT count FROM ingest_counters WHERE reason = 'positions_duplicate'") == 50


def test_a_duplicate_inside_one_batch_is_stored_once(conn: psycopg.Connection) -> None:
    result = write_batch(conn, [fix("truck-1", 0, 41.5, 26.3), fix("truck-1", 0, 41.5, 26.3)], None)
    assert result.positions_new == 1
    assert count(conn, "SELECT count(*) FROM positions") == 1


def test_fields_flags_and_attributes_round_trip(conn: psycopg.Connection) -> None:
    item = fix(
        "truck-9",
        3,
        41.123456789,
        26.987654321,
        attributes={"ignition": True, "alarm": "sos"},
        flags=(PositionFlag.STALE_TIME,),
        satellites=9,
        hdop=0.9,
        altitude_m=120.5,
    )
    write_batch(conn, [item], None)
    row = conn.execute(
        "SELECT time_utc, latitude, longitude, attributes, flags, satellites, site FROM positions"
    ).fetchone()
    assert row == (
        item.position.time_utc,
        41.123456789,
        26.987654321,
        {"ignition": True, "alarm": "sos"},
        ["stale_time"],
        9,
        "kapikule",
    )


def test_entering_a_restricted_zone_raises_one_alert_and_notifies_on_commit(
    conn: psycopg.Connection, database_url: str
) -> None:
    listener = psycopg.connect(database_url, autocommit=True)
    listener.execute(f"LISTEN {ALERT_CHANNEL}")
    rule = RestrictedZoneRule([SQUARE, POST])
    track: list[Parsed] = [
        fix("truck-2", 0, 41.61, 26.41),  # inside the border post: not restricted, no alert
        fix("truck-2", 1, 41.61, 26.45),  # outside both
        fix("truck-2", 2, 41.61, 26.51),  # enters the restricted square
        fix("truck-2", 3, 41.611, 26.511),  # still inside: no second alert
        fix("truck-3", 2, 41.61, 26.51, valid=False),  # invalid fix inside: evidence only
    ]
    result = write_batch(conn, track, rule)
    assert [(a.kind, a.device_ids, a.zone_id, a.time_utc) for a in result.alerts] == [
        ("geofence_enter", ("truck-2",), "rz-test", T0 + timedelta(minutes=2))
    ]
    ready = select.select([listener.fileno()], [], [], 10)
    assert ready[0], "NOTIFY not delivered after commit"
    notices = list(listener.notifies(timeout=1, stop_after=1))
    assert [n.payload for n in notices] == [str(result.alerts[0].alert_id)]

    # Redelivery of the same fixes: nothing new, no second alert.
    assert write_batch(conn, track, rule).alerts == []
    # Leaves and comes back later: a new entry.
    later = write_batch(conn, [fix("truck-2", 10, 41.7, 26.7), fix("truck-2", 11, 41.605, 26.505)], rule)
    assert [a.time_utc for a in later.alerts] == [T0 + timedelta(minutes=11)]
    assert count(conn, "SELECT count(*) FROM alerts") == 2
    state = conn.execute("SELECT zone_ids FROM device_zone_state WHERE device_id = 'truck-2'").fetchone()
    assert state == (["rz-test"],)
    listener.close()


def test_quarantine_status_and_counters(conn: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    letter = DeadLetter(
        source="edge-1",
        site="kapikule",
        received_utc=now,
        reason="bad_checksum",
        protocol="gt06",
        raw_hex="787811010123",
    )
    bad = Incoming("cedetect/v1/kapikule/dev-1/position", b"{not json", 7, 1, now)
    items: list[Parsed] = [
        parse_message(
            Incoming("cedetect/v1/kapikule/edge-1/deadletter", letter.model_dump_json().encode(), 1, 1, now), "ingest:t"
        ),
        parse_message(bad, "ingest:t"),
        DeviceStatus(device_id="edge-1", kind="edge_agent", state="online", time_utc=now, site="kapikule"),
    ]
    write_batch(conn, items, None)
    write_batch(conn, items, None)  # redelivered: stored once
    rows = conn.execute("SELECT reason, raw, source FROM quarantine ORDER BY reason").fetchall()
    assert rows == [("bad_checksum", bytes.fromhex("787811010123"), "edge-1"), ("bad_json", b"{not json", "ingest:t")]
    older = DeviceStatus(
        device_id="edge-1", kind="edge_agent", state="offline", time_utc=now - timedelta(hours=1), site="kapikule"
    )
    write_batch(conn, [older], None)  # an older status never overwrites a newer one
    assert conn.execute("SELECT state FROM device_status").fetchone() == ("online",)
    counters: dict[str, int] = dict(conn.execute("SELECT reason, count FROM ingest_counters").fetchall())
    assert counters["bad_checksum"] == 2
    assert counters["bad_json"] == 2
    conn.commit()
    assert json.dumps(counters)

"""The REST API against rows written straight into a real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import psycopg
import pytest

from cedetect.models import Alert, AlertSeverity, PositionFlag
from cedetect.storage import MIGRATIONS, insert_alert
from geofence import crossings
from tests.server.factories import T0, insert_position, make_alert

pytestmark = pytest.mark.postgres


def _iso(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# --- positions -------------------------------------------------------------------------------


def test_positions_are_ordered_by_time_and_filtered(client: httpx.Client, db: psycopg.Connection) -> None:
    for i in (2, 0, 1):
        insert_position(db, "TRK-A", T0 + timedelta(minutes=i), 41.0 + i / 100, 26.5)
    insert_position(db, "TRK-B", T0 + timedelta(seconds=30), 37.1, 42.4, speed_kmh=12.5)

    everything = client.get("/api/v1/positions").json()
    assert [(p["device_id"], p["time_utc"]) for p in everything] == [
        ("TRK-A", "2025-01-15T08:00:00Z"),
        ("TRK-B", "2025-01-15T08:00:30Z"),
        ("TRK-A", "2025-01-15T08:01:00Z"),
        ("TRK-A", "2025-01-15T08:02:00Z"),
    ]
    b = client.get("/api/v1/positions", params={"device_id": "TRK-B"}).json()
    assert len(b) == 1
    assert b[0]["speed_kmh"] == 12.5
    assert b[0]["latitude"] == 37.1
    assert b[0]["site"] == "border-post-1"
    assert b[0]["flags"] == []
    assert b[0]["valid"] is True

    window = client.get(
        "/api/v1/positions",
        params={"device_id": "TRK-A", "since": "2025-01-15T10:00:30+02:00", "until": "2025-01-15T08:02:00Z"},
    ).json()
    assert [p["time_utc"] for p in window] == ["2025-01-15T08:01:00Z"]


def test_positions_limit_pages_forward_from_since_and_keeps_the_latest_without(
    client: httpx.Client, db: psycopg.Connection
) -> None:
    for i in range(5):
        insert_position(db, "TRK-A", T0 + timedelta(minutes=i), 41.0, 26.5)
    latest = client.get("/api/v1/positions", params={"limit": 2}).json()
    assert [p["time_utc"][11:16] for p in latest] == ["08:03", "08:04"]
    first = client.get("/api/v1/positions", params={"limit": 2, "since": _iso(T0)}).json()
    assert [p["time_utc"][11:16] for p in first] == ["08:00", "08:01"]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"since": "2025-01-15T08:00:00"}, ["query", "since"]),  # naive: no offset
        ({"until": "2025-01-15 08:00"}, ["query", "until"]),
        ({"since": "yesterday"}, ["query", "since"]),
        ({"limit": "0"}, ["query", "limit"]),
        ({"limit": "10001"}, ["query", "limit"]),
        ({"limit": "ten"}, ["query", "limit"]),
        ({"device_id": "bad/id"}, ["query", "device_id"]),
    ],
)
def test_bad_position_queries_are_named_invalid_request(
    client: httpx.Client, params: dict[str, str], loc: list[str]
) -> None:
    response = client.get("/api/v1/positions", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert [e["loc"] for e in body["detail"]] == [loc]


def test_an_empty_time_range_is_refused(client: httpx.Client) -> None:
    response = client.get(
        "/api/v1/positions", params={"since": "2025-01-15T09:00:00Z", "until": "2025-01-15T08:00:00Z"}
    )
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "detail": "'since' must be earlier than 'until'"}


# --- devices -------------------------------------------------------------------------------


def test_devices_have_their_latest_usable_fix_status_zones_and_trail(
    client: httpx.Client, db: psycopg.Connection
) -> None:
    for i in range(4):
        insert_position(db, "TRK-A", T0 + timedelta(minutes=i), 41.0 + i / 100, 26.5, speed_kmh=40 + i)
    # Newer, but useless for the map: no lock, 0,0, a clock in the future.
    insert_position(db, "TRK-A", T0 + timedelta(minutes=5), 41.9, 26.9, valid=False, flags=("invalid_fix",))
    insert_position(db, "TRK-A", T0 + timedelta(minutes=6), 0.0, 0.0, flags=(PositionFlag.ZERO_COORDINATES.value,))
    insert_position(db, "TRK-A", T0 + timedelta(days=3), 41.5, 26.6, flags=(PositionFlag.FUTURE_TIME.value,))
    insert_position(db, "TRK-B", T0, 37.1, 42.4)
    insert_position(db, "TRK-C", T0, 0.0, 0.0, valid=False, flags=("invalid_fix",))  # never a usable fix
    db.execute(
        "INSERT INTO device_status (device_id, kind, state, time_utc, site, protocol)"
        " VALUES ('TRK-A', 'tracker', 'online', %s, 'border-post-1', 'gt06')",
        (T0,),
    )
    db.execute("INSERT INTO device_zone_state VALUES ('TRK-A', ARRAY['border-post-kapikule'], %s)", (T0,))

    devices = client.get("/api/v1/devices", params={"trail": 3}).json()
    assert [d["device_id"] for d in devices] == ["TRK-A", "TRK-B"]
    a, b = devices
    assert a["last_position"]["time_utc"] == "2025-01-15T08:03:00Z"
    assert a["last_position"]["speed_kmh"] == 43.0
    assert [p["time_utc"][11:16] for p in a["trail"]] == ["08:01", "08:02", "08:03"]
    assert a["status"] == {
        "kind": "tracker",
        "state": "online",
        "time_utc": "2025-01-15T08:00:00Z",
        "site": "border-post-1",
        "protocol": "gt06",
        "detail": None,
    }
    assert a["zone_ids"] == ["border-post-kapikule"]
    assert b["status"] is None
    assert b["zone_ids"] == []
    assert len(b["trail"]) == 1

    no_trail = client.get("/api/v1/devices").json()
    assert [d["trail"] for d in no_trail] == [[], []]
    recent = client.get("/api/v1/devices", params={"since": "2025-01-15T08:02:00Z"}).json()
    assert [d["device_id"] for d in recent] == ["TRK-A"]


def test_device_track_and_unknown_device(client: httpx.Client, db: psycopg.Connection) -> None:
    for i in range(3):
        insert_position(db, "TRK-A", T0 + timedelta(minutes=i), 41.0, 26.5 + i / 100)
    track = client.get("/api/v1/devices/TRK-A/track", params={"since": _iso(T0 + timedelta(minutes=1))}).json()
    assert track["device_id"] == "TRK-A"
    assert [p["longitude"] for p in track["positions"]] == [26.51, 26.52]
    # Known device, nothing in the window: an empty track, not a 404.
    empty = client.get("/api/v1/devices/TRK-A/track", params={"since": "2030-01-01T00:00:00Z"})
    assert empty.status_code == 200
    assert empty.json()["positions"] == []

    missing = client.get("/api/v1/devices/TRK-NOPE/track")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "no positions were ever stored for device 'TRK-NOPE'"}
    assert client.get("/api/v1/devices/TRK-A/track", params={"since": "2025-01-15T08:00"}).status_code == 422


# --- alerts --------------------------------------------------------------------------------


def test_alerts_newest_first_with_filters(client: httpx.Client, db: psycopg.Connection) -> None:
    stored: list[Alert] = []
    for i, kind in enumerate(["geofence_enter", "route_deviation", "geofence_enter"]):
        alert = make_alert(kind=kind, time_utc=T0 + timedelta(minutes=i), device_ids=(f"TRK-{i}",))
        assert insert_alert(db, alert)
        stored.append(alert)
    assert not insert_alert(db, stored[0])  # idempotent

    listed = client.get("/api/v1/alerts").json()
    assert [a["alert_id"] for a in listed] == [str(a.alert_id) for a in reversed(stored)]
    assert Alert.model_validate(listed[-1]) == stored[0]

    kinds = client.get("/api/v1/alerts", params={"kind": "geofence_enter", "limit": 1}).json()
    assert [a["alert_id"] for a in kinds] == [str(stored[2].alert_id)]
    since = client.get("/api/v1/alerts", params={"since": _iso(T0 + timedelta(minutes=1))}).json()
    assert {a["alert_id"] for a in since} == {str(stored[1].alert_id), str(stored[2].alert_id)}
    by_device = client.get("/api/v1/alerts", params={"device_id": "TRK-1"}).json()
    assert [a["alert_id"] for a in by_device] == [str(stored[1].alert_id)]
    assert client.get("/api/v1/alerts", params={"severity": "low"}).json() == []


def test_alert_by_id(client: httpx.Client, db: psycopg.Connection) -> None:
    alert = make_alert(severity=AlertSeverity.CRITICAL, zone_id=None)
    insert_alert(db, alert)
    body = client.get(f"/api/v1/alerts/{alert.alert_id}").json()
    assert body == alert.model_dump(mode="json")

    unknown = uuid.uuid4()
    missing = client.get(f"/api/v1/alerts/{unknown}")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": f"alert {unknown} not found"}

    malformed = client.get("/api/v1/alerts/not-a-uuid")
    assert malformed.status_code == 422
    assert malformed.json()["error"] == "invalid_request"
    assert malformed.json()["detail"][0]["loc"] == ["path", "alert_id"]


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "1001"}, {"since": "2025-01-15T08:00:00"}, {"severity": "apocalyptic"}],
)
def test_bad_alert_queries(client: httpx.Client, params: dict[str, str]) -> None:
    response = client.get("/api/v1/alerts", params=params)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


# --- geo, health, page, errors ---------------------------------------------------------------


def test_geo_layers(client: httpx.Client) -> None:
    borders = client.get("/api/v1/geo/borders")
    assert borders.headers["content-type"].startswith("application/geo+json")
    countries = {f["properties"]["ADM0_A3"] for f in borders.json()["features"]}
    assert {"TUR", "GRC", "BGR", "GEO", "ARM", "AZE", "IRN", "IRQ", "SYR"} <= countries

    points = client.get("/api/v1/geo/crossings").json()["features"]
    assert len(points) == len(crossings())
    sarp = next(p for p in points if p["properties"]["name_tr"] == "Sarp")
    assert sarp["geometry"] == {"type": "Point", "coordinates": [41.5475, 41.5178]}
    assert sarp["properties"]["country"] == "Georgia"
    assert sarp["properties"]["name_other_side"] == "Sarpi"

    zones = client.get("/api/v1/geo/zones").json()["features"]
    kinds = {z["properties"]["kind"] for z in zones}
    assert {"restricted", "border_post"} <= kinds
    for zone in zones:
        rings = zone["geometry"]["coordinates"]
        assert zone["geometry"]["type"] == "Polygon"
        assert rings
        assert all(r[0] == r[-1] for r in rings)


def test_health(client: httpx.Client) -> None:
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["database"] == "reachable"
    assert body["migration_version"] == max(version for version, _, _ in MIGRATIONS)
    assert body["alert_listener"] == "listening"
    assert body["live_clients"] == 0


def test_page_and_its_assets_are_local(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<svg id="map"' in page.text
    assert 'id="alert-list"' in page.text
    assert 'id="ws-status"' in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        response = client.get(asset)
        assert response.status_code == 200
        assert "http://" not in response.text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in response.text
    assert "https://" not in page.text
    assert "http://" not in page.text


def test_unknown_path_and_method(client: httpx.Client) -> None:
    assert client.get("/api/v1/nothing-here").json() == {"error": "not_found", "detail": "Not Found"}
    response = client.post("/api/v1/alerts")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_page_allows_only_its_own_origin(client: httpx.Client) -> None:
    policy = client.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "CEDetect command centre"

"""Live anomaly scoring in ingest, between a real Mosquitto and a real PostgreSQL.

Truck tracks are built by hand (a GPS jump, an unscheduled stop, restricted zones entered and crossed),
published as Position messages through the broker, and the stored anomalies are compared with what the
batch scorer (``tracking.batch``) finds on the same fixes: the same ids, so live = batch.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from cedetect.config import AnomalySettings, DatabaseSettings, IngestSettings, MqttSettings
from cedetect.models import Anomaly, Position, PositionFlag
from geofence.zones import Zone, parse_zones
from ingest.service import IngestService
from tests.ingest.running import Running
from tests.support import wait_for
from tracking.anomalies import Context
from tracking.batch import score_tracks
from tracking.track import Fix, track_from_fixes

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt]

M_PER_DEG_LAT = 111_195.0
LAT0, LON0 = 37.0, 42.0


def _t0() -> datetime:
    """A recent start (the warm-up replays the last days only), on a whole minute."""
    now = datetime.now(UTC) - timedelta(hours=4)
    return now.replace(second=0, microsecond=0)


def truck_track(device: str, t0: datetime, *, stop_min: int = 70) -> list[Position]:
    """Northbound at 60 km/h, one fix a minute: 6 fixes, a 3 km jump in one minute (180 km/h), 5 fixes,
    a stop of ``stop_min`` minutes (speed 0, a few metres of jitter), then 5 fixes driving on."""
    out: list[Position] = []
    lat = LAT0
    t = t0

    def add(speed: float, jitter_m: float = 0.0) -> None:
        out.append(
            Position(
                device_id=device,
                protocol="gt06",
                time_utc=t,
                received_utc=t + timedelta(seconds=2),
                latitude=lat + jitter_m / M_PER_DEG_LAT,
                longitude=LON0,
                speed_kmh=speed,
                attributes={"ignition": True},
            )
        )

    km = 1000.0 / M_PER_DEG_LAT
    for _ in range(6):
        add(60.0)
        lat += km
        t += timedelta(minutes=1)
    lat += 2 * km  # 3 km since the last fix: 180 km/h implied
    for _ in range(6):
        add(60.0)
        lat += km
        t += timedelta(minutes=1)
    for i in range(stop_min + 1):
        add(0.0, jitter_m=3.0 * (i % 3))
        t += timedelta(minutes=1)
    for _ in range(5):
        lat += km
        add(60.0)
        t += timedelta(minutes=1)
    return out


def batch_anomalies(positions: Sequence[Position], zones: Sequence[Zone] = ()) -> list[Anomaly]:
    from geofence.zones import ZoneIndex

    by_device: dict[str, list[Fix]] = {}
    for p in sorted(positions, key=lambda p: (p.device_id, p.time_utc)):
        by_device.setdefault(p.device_id, []).append(Fix.from_position(p))
    tracks = [track_from_fixes(f) for f in by_device.values()]
    return score_tracks(tracks, Context(AnomalySettings(), (), ZoneIndex(list(zones)) if zones else None))


def publisher(host: str, port: int) -> mqtt.Client:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    client.connect(host, port)
    client.loop_start()
    return client


def publish(client: mqtt.Client, site: str, positions: Sequence[Position]) -> None:
    infos = [
        client.publish(f"cedetect/v1/{site}/{p.device_id}/position", p.model_dump_json().encode(), qos=1)
        for p in positions
    ]
    for info in infos:
        info.wait_for_publish(10)


@pytest.fixture
def site() -> str:
    return f"s{uuid.uuid4().hex[:6]}"


@pytest.fixture
def make_service(database_url: str, mqtt_broker: tuple[str, int], site: str) -> Callable[..., IngestService]:
    client_id = f"ingest-test-{uuid.uuid4().hex[:8]}"

    def make(zones: Sequence[Zone] = (), **ingest: Any) -> IngestService:
        return IngestService(
            IngestSettings(client_id=client_id, site=site, batch_max=200, batch_max_wait_ms=50, **ingest),
            MqttSettings(host=mqtt_broker[0], port=mqtt_broker[1]),
            DatabaseSettings(url=SecretStr(database_url), connect_timeout_s=10),
            zones=list(zones),
        )

    return make


def query(database_url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, params).fetchall()


def count(database_url: str, sql: str, *params: object) -> int:
    return int(query(database_url, sql, *params)[0][0])


def warmed_up(service: IngestService) -> bool:
    return service.anomaly_worker is not None and service.anomaly_worker.ready.is_set()


def stored_ids(database_url: str) -> set[uuid.UUID]:
    return {r[0] for r in query(database_url, "SELECT anomaly_id FROM anomalies")}


def test_a_truck_track_through_mqtt_raises_its_anomalies_and_alerts_once(
    make_service: Callable[..., IngestService], database_url: str, mqtt_broker: tuple[str, int], site: str
) -> None:
    track = truck_track("truck-j", _t0())
    expected = batch_anomalies(track)
    assert sorted(a.kind.value for a in expected) == ["gps_jump", "unscheduled_stop"]
    pub = publisher(*mqtt_broker)
    with Running(make_service()) as service:
        publish(pub, site, track)
        wait_for(lambda: stored_ids(database_url) == {a.anomaly_id for a in expected}, timeout_s=30)
        wait_for(lambda: count(database_url, "SELECT count(*) FROM alerts") == 2, timeout_s=30)
        # The same messages again (a redelivery): duplicates of stored fixes, nothing scored or stored twice.
        publish(pub, site, track)
        wait_for(lambda: service.totals["positions_duplicate"] == len(track), timeout_s=30)
        assert service.anomalies is not None
        assert service.anomalies.totals["anomaly_errors"] == 0
    pub.loop_stop()
    assert count(database_url, "SELECT count(*) FROM anomalies") == 2
    rows = query(
        database_url,
        "SELECT a.kind, a.start_utc, a.end_utc, a.evidence, a.score, l.kind, l.severity, l.details->>'anomaly_id'"
        " FROM anomalies a JOIN alerts l ON (l.details->>'anomaly_id')::uuid = a.anomaly_id ORDER BY a.start_utc",
    )
    by_kind = {r[0]: r for r in rows}
    assert set(by_kind) == {"gps_jump", "unscheduled_stop"}
    jump = by_kind["gps_jump"]
    assert (jump[1], jump[2]) == (track[5].time_utc, track[6].time_utc)  # the two fixes around the jump
    assert [datetime.fromisoformat(e["time_utc"]) for e in jump[3]] == [track[5].time_utc, track[6].time_utc]
    assert jump[5] == "gps_jump"
    assert jump[6] == "medium"
    stop = by_kind["unscheduled_stop"]
    assert stop[5] == "unscheduled_stop"
    assert (stop[2] - stop[1]) >= timedelta(minutes=45)
    want = {a.anomaly_id: a for a in expected}
    for row in rows:
        assert abs(row[4] - want[uuid.UUID(row[7])].score) < 1e-9
    assert count(database_url, "SELECT count FROM ingest_counters WHERE reason = 'anomalies_new'") == 2


def _square(zone_id: str, lat: float, lon: float, half_m: float) -> dict[str, Any]:
    dlat = half_m / M_PER_DEG_LAT
    dlon = half_m / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    ring = [[lon - dlon, lat - dlat], [lon + dlon, lat - dlat], [lon + dlon, lat + dlat], [lon - dlon, lat + dlat]]
    ring.append(ring[0])
    return {
        "type": "Feature",
        "properties": {"zone_id": zone_id, "name": zone_id, "kind": "restricted"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_one_alert_per_restricted_zone_entry_whether_seen_in_a_fix_or_crossed_between_two(
    make_service: Callable[..., IngestService], database_url: str, mqtt_broker: tuple[str, int], site: str
) -> None:
    """The restricted-zone rule alerts a fix inside the zone; the scorer alerts only a zone crossed between
    two sparse fixes (which the rule cannot see); both store the enter and exit events as anomalies."""
    import json

    zone_lat = LAT0 + 0.05
    zones = parse_zones(json.dumps({"type": "FeatureCollection", "features": [_square("rz-1", zone_lat, LON0, 500)]}))
    t0 = _t0()

    def drive(device: str, lats: list[float]) -> list[Position]:
        return [
            Position(
                device_id=device, protocol="gt06", time_utc=t0 + timedelta(minutes=5 * i),
                received_utc=t0 + timedelta(minutes=5 * i, seconds=2), latitude=lat, longitude=LON0, speed_kmh=50.0,
            )
            for i, lat in enumerate(lats)
        ]  # fmt: skip

    step = 4000.0 / M_PER_DEG_LAT  # 4 km in 5 minutes: 48 km/h
    # truck-in has a fix inside the zone; truck-over jumps over it between two fixes.
    inside = drive("truck-in", [zone_lat - 2 * step, zone_lat - step, zone_lat, zone_lat + step, zone_lat + 2 * step])
    over = drive("truck-over", [zone_lat - 1.5 * step, zone_lat - 0.5 * step, zone_lat + 0.5 * step, zone_lat + step])
    expected = batch_anomalies(inside + over, zones)
    assert sorted((a.device_ids[0], a.kind.value) for a in expected) == [
        ("truck-in", "geofence_enter"), ("truck-in", "geofence_exit"),
        ("truck-over", "geofence_enter"), ("truck-over", "geofence_exit"),
    ]  # fmt: skip
    pub = publisher(*mqtt_broker)
    with Running(make_service(zones)):
        publish(pub, site, inside + over)
        wait_for(lambda: stored_ids(database_url) == {a.anomaly_id for a in expected}, timeout_s=30)
        wait_for(lambda: count(database_url, "SELECT count(*) FROM alerts") >= 2, timeout_s=30)
    pub.loop_stop()
    alerts = query(database_url, "SELECT device_ids[1], kind, zone_id, details ? 'anomaly_id' FROM alerts ORDER BY 1")
    assert alerts == [("truck-in", "geofence_enter", "rz-1", False), ("truck-over", "geofence_enter", "rz-1", True)]


def test_a_crash_between_the_positions_commit_and_the_anomalies_commit_loses_nothing(
    make_service: Callable[..., IngestService], database_url: str, mqtt_broker: tuple[str, int], site: str
) -> None:
    """The fixes are committed but their anomalies are not (here: scoring off, the state a crash leaves);
    the next start's warm-up replays them and stores the anomalies and their alerts."""
    track = truck_track("truck-w", _t0())
    expected = {a.anomaly_id for a in batch_anomalies(track)}
    pub = publisher(*mqtt_broker)
    with Running(make_service(anomaly_scoring=False)):
        publish(pub, site, track)
        wait_for(lambda: count(database_url, "SELECT count(*) FROM positions") == len(track), timeout_s=30)
    pub.loop_stop()
    assert count(database_url, "SELECT count(*) FROM anomalies") == 0
    with Running(make_service()) as service:
        assert service.anomalies is not None
        wait_for(lambda: warmed_up(service), timeout_s=60)
        assert service.anomalies.totals["warmup_fixes"] == len(track)
        assert stored_ids(database_url) == expected
    assert count(database_url, "SELECT count(*) FROM alerts") == 2


def test_a_restart_mid_stop_keeps_the_state_and_repeats_no_alert(
    make_service: Callable[..., IngestService], database_url: str, mqtt_broker: tuple[str, int], site: str
) -> None:
    track = truck_track("truck-r", _t0())
    expected = {a.anomaly_id for a in batch_anomalies(track)}
    split = 40  # inside the stop: the jump is behind, the stop still open
    pub = publisher(*mqtt_broker)
    with Running(make_service()):
        publish(pub, site, track[:split])
        wait_for(lambda: count(database_url, "SELECT count(*) FROM positions") == split, timeout_s=30)
        wait_for(lambda: count(database_url, "SELECT count(*) FROM alerts") == 1, timeout_s=30)  # the jump
    assert [r[0] for r in query(database_url, "SELECT kind FROM anomalies")] == ["gps_jump"]
    with Running(make_service()) as service:
        assert service.anomalies is not None
        wait_for(lambda: warmed_up(service), timeout_s=60)
        assert service.anomalies.totals["warmup_fixes"] == split
        publish(pub, site, track[split:])
        wait_for(lambda: stored_ids(database_url) == expected, timeout_s=30)
        wait_for(lambda: count(database_url, "SELECT count(*) FROM alerts") == 2, timeout_s=30)
    pub.loop_stop()
    # A replay window that starts inside the stored stop finds it again with a later start: skipped.
    with Running(make_service(anomaly_warmup_s=3600.0)) as service:
        assert service.anomalies is not None
        wait_for(lambda: warmed_up(service), timeout_s=60)
        assert service.anomalies.totals["anomalies_skipped_overlap"] == 1
    assert stored_ids(database_url) == expected
    assert count(database_url, "SELECT count(*) FROM alerts") == 2
    assert sorted(r[0] for r in query(database_url, "SELECT kind FROM alerts")) == ["gps_jump", "unscheduled_stop"]


def test_unusable_and_late_fixes_are_not_scored_and_bad_ones_do_not_stop_ingest(
    make_service: Callable[..., IngestService], database_url: str, mqtt_broker: tuple[str, int], site: str
) -> None:
    """A fix that cannot place the truck (no GPS lock) is stored but not scored; a fix older than the device's
    last scored fix is refused by the scorer and counted; ingest goes on."""
    t0 = _t0()
    base = truck_track("truck-u", t0)[:6]
    flagged = base[5].model_copy(
        update={"time_utc": base[5].time_utc + timedelta(minutes=1), "latitude": LAT0 + 0.5, "valid": False,
                "flags": (PositionFlag.INVALID_FIX,)}
    )  # fmt: skip
    late = base[2].model_copy(update={"time_utc": base[2].time_utc + timedelta(seconds=30)})
    pub = publisher(*mqtt_broker)
    with Running(make_service()) as service:
        publish(pub, site, [*base, flagged])
        wait_for(lambda: count(database_url, "SELECT count(*) FROM positions") == 7, timeout_s=30)
        publish(pub, site, [late])
        wait_for(lambda: count(database_url, "SELECT count(*) FROM positions") == 8, timeout_s=30)
        assert service.anomalies is not None
        wait_for(lambda: service.anomalies is not None and service.anomalies.totals["anomaly_fixes_refused"] == 1)
        assert service.anomalies.totals["anomaly_errors"] == 0
    pub.loop_stop()
    assert count(database_url, "SELECT count(*) FROM anomalies") == 0  # the invalid fix 55 km away is not scored


def spoofed_track(device: str, t0: datetime) -> list[Position]:
    """Northbound at 60 km/h, one fix a minute for 13 minutes; at minutes 6 and 7 the tracker reports a place
    80 km further north (a spoofed or replayed position).  The real edge filter flags what it flags."""
    from edge.filters import PositionFilter

    km = 1000.0 / M_PER_DEG_LAT
    out = []
    for minute in range(13):
        t = t0 + timedelta(minutes=minute)
        lat = LAT0 + minute * km + (80 * km if minute in (6, 7) else 0.0)
        out.append(
            Position(
                device_id=device, protocol="gt06", time_utc=t, received_utc=t + timedelta(seconds=2), latitude=lat,
                longitude=LON0, speed_kmh=60.0, attributes={"ignition": True},
            )
        )  # fmt: skip
    edge = PositionFilter()
    return [edge.apply(p) for p in out]


def _spoofing_expectation(track: Sequence[Position]) -> Anomaly:
    """The teleport batch finds on every row for the step into the first spoofed fix (and none on the real track)."""
    assert [i for i, p in enumerate(track) if p.flags] == [6, 7]
    assert all(p.flags == (PositionFlag.IMPLAUSIBLE_JUMP,) for p in track[6:8])
    real = [p for p in track if not p.flags]
    assert batch_anomalies(real) == []
    rows = [p.model_copy(update={"flags": ()}) for p in track]
    into = [a for a in batch_anomalies(rows) if a.start_utc == track[5].time_utc]
    assert [(a.kind.value, a.details["subtype"]) for a in into] == [("gps_jump", "teleport")]
    return into[0]


def test_a_teleporting_truck_flagged_at_the_edge_raises_a_stored_gps_jump_and_one_alert(
    make_service: Callable[..., IngestService], database_url: str, mqtt_broker: tuple[str, int], site: str
) -> None:
    """The edge keeps the spoofed fixes off the track (``implausible_jump``); ingest still scores them for the
    jump from the last real fix: the anomaly batch finds for that step, stored once, with one alert."""
    track = spoofed_track("truck-s", _t0())
    expected = _spoofing_expectation(track)
    pub = publisher(*mqtt_broker)
    with Running(make_service()) as service:
        publish(pub, site, track)
        wait_for(lambda: stored_ids(database_url) == {expected.anomaly_id}, timeout_s=30)
        wait_for(lambda: count(database_url, "SELECT count(*) FROM alerts") == 1, timeout_s=30)
        assert service.anomalies is not None
        wait_for(lambda: service.anomalies is not None and service.anomalies.totals["anomaly_jump_flagged_fixes"] == 2)
        assert service.anomalies.totals["anomaly_errors"] == 0
    pub.loop_stop()
    rows = query(
        database_url,
        "SELECT a.kind, a.start_utc, a.end_utc, a.score, a.details->>'subtype', a.evidence, l.kind, l.severity"
        " FROM anomalies a JOIN alerts l ON (l.details->>'anomaly_id')::uuid = a.anomaly_id",
    )
    assert len(rows) == 1
    kind, start, end, score, subtype, evidence, alert_kind, severity = rows[0]
    assert (kind, subtype, alert_kind) == ("gps_jump", "teleport", "gps_jump")
    assert (start, end) == (track[5].time_utc, track[6].time_utc)  # the last real fix and the first spoofed one
    assert [(e["latitude"], e["longitude"]) for e in evidence] == [
        (track[5].latitude, track[5].longitude),
        (track[6].latitude, track[6].longitude),
    ]
    assert abs(score - expected.score) < 1e-9
    assert severity == "high"  # teleport scores escalate the medium gps_jump alert
    # The flagged fixes are stored with their flag; the track after them goes on from the real fixes.
    flags = query(database_url, "SELECT flags FROM positions WHERE device_id = 'truck-s' ORDER BY time_utc")
    assert [tuple(r[0]) for r in flags][5:9] == [(), ("implausible_jump",), ("implausible_jump",), ()]


def test_the_warm_up_replays_jump_flagged_fixes_too(
    make_service: Callable[..., IngestService], database_url: str, mqtt_broker: tuple[str, int], site: str
) -> None:
    """Stored but not scored (the state a crash leaves): the warm-up replays the flagged fixes as jump evidence."""
    track = spoofed_track("truck-v", _t0())
    expected = _spoofing_expectation(track)
    pub = publisher(*mqtt_broker)
    with Running(make_service(anomaly_scoring=False)):
        publish(pub, site, track)
        wait_for(lambda: count(database_url, "SELECT count(*) FROM positions") == len(track), timeout_s=30)
    pub.loop_stop()
    with Running(make_service()) as service:
        assert service.anomalies is not None
        wait_for(lambda: warmed_up(service), timeout_s=60)
        assert service.anomalies.totals["warmup_fixes"] == len(track)
        assert stored_ids(database_url) == {expected.anomaly_id}
    assert count(database_url, "SELECT count(*) FROM alerts") == 1


def _declaration(declaration_id: str, device_id: str, route: list[list[float]]) -> Any:
    from datetime import date

    from cedetect.declarations import Declaration

    return Declaration.model_validate(
        {
            "declaration_id": declaration_id, "date": date(2026, 11, 25), "office_id": "30", "process_type": "B",
            "import_type": "11", "import_use": "21", "payment_type": "11", "mode_of_transport": "10",
            "declarant_id": "ZZR1LT6", "importer_id": "QLRUBN9", "hs6_code": "440890",
            "country_of_departure": "IQ", "country_of_origin": "IQ", "tax_rate_pct": 8.0, "tax_type": "FCN1",
            "country_of_origin_indicator": "G", "net_mass_kg": 21000.0, "item_price_krw": 1.0e8,
            "tracker_device_id": device_id, "route": route,
        }
    )  # fmt: skip


def detour_track(device: str, t0: datetime) -> list[Position]:
    """North along lon 42.0 at 60 km/h, then 5 km east, 3 km north and 5 km back west, then north again."""
    km_lat = 1000.0 / M_PER_DEG_LAT
    km_lon = km_lat / math.cos(math.radians(LAT0))
    steps = [(1, 0)] * 5 + [(0, 1)] * 5 + [(1, 0)] * 3 + [(0, -1)] * 5 + [(1, 0)] * 5
    lat, lon, out = LAT0, LON0, []
    for i, (north, east) in enumerate([(0, 0), *steps]):
        lat, lon = lat + north * km_lat, lon + east * km_lon
        t = t0 + timedelta(minutes=i)
        out.append(
            Position(
                device_id=device, protocol="gt06", time_utc=t, received_utc=t + timedelta(seconds=2),
                latitude=lat, longitude=lon, speed_kmh=60.0,
            )
        )  # fmt: skip
    return out


def test_a_declared_route_is_the_trucks_corridor_and_a_detour_from_it_is_a_route_deviation(
    make_service: Callable[..., IngestService], database_url: str, mqtt_broker: tuple[str, int], site: str
) -> None:
    from geofence.corridors import corridors_from_geojson
    from geofence.zones import ZoneIndex
    from risk.store import upsert_declaration

    route = [[LON0, LAT0 - 0.1], [LON0, LAT0 + 0.5]]
    t0 = _t0()
    declared = detour_track("truck-d", t0)  # declared before ingest starts: read at the warm-up
    undeclared = detour_track("truck-e", t0)  # no declaration, no corridor: no deviation
    late = detour_track("truck-f", t0)  # declared while ingest runs: read at the next refresh
    with Running(make_service(anomaly_declarations_refresh_s=0.2)):  # migrates the database
        pass
    with psycopg.connect(database_url) as conn:
        upsert_declaration(conn, _declaration("D-1", "truck-d", route))
    pub = publisher(*mqtt_broker)
    with Running(make_service(anomaly_declarations_refresh_s=0.2)) as service:
        publish(pub, site, declared + undeclared + late[:3])
        wait_for(lambda: count(database_url, "SELECT count(*) FROM positions") == 2 * len(declared) + 3)
        with psycopg.connect(database_url) as conn:
            upsert_declaration(conn, _declaration("D-2", "truck-f", route))
        inserted = time.monotonic()
        wait_for(lambda: time.monotonic() - inserted > 0.3)  # the next batch is due to re-read the declarations
        publish(pub, site, late[3:])
        wait_for(lambda: count(database_url, "SELECT count(*) FROM anomalies WHERE kind = 'route_deviation'") == 2)
        assert service.anomalies is not None
        assert {c.corridor_id for c in service.anomalies.corridors} == {"declaration:D-1", "declaration:D-2"}
    pub.loop_stop()
    rows = query(database_url, "SELECT device_ids[1], kind, anomaly_id FROM anomalies ORDER BY 1")
    assert [(r[0], r[1]) for r in rows] == [("truck-d", "route_deviation"), ("truck-f", "route_deviation")]
    corridor = corridors_from_geojson(
        {"type": "Feature", "properties": {"device_ids": ["truck-d"]},
         "geometry": {"type": "LineString", "coordinates": route}}
    )  # fmt: skip
    batch = score_tracks(
        [track_from_fixes([Fix.from_position(p) for p in declared])],
        Context(AnomalySettings(), tuple(corridor), ZoneIndex([])),
    )
    assert [a.anomaly_id for a in batch] == [rows[0][2]]
    assert count(database_url, "SELECT count(*) FROM alerts WHERE kind = 'route_deviation'") == 2

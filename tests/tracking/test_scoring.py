"""Batch scoring of hand-built tracks gives the expected anomalies; live scoring gives the same ones (same ids)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from cedetect.config import AnomalySettings
from cedetect.models import Anomaly, AnomalyKind
from geofence.corridors import corridors_from_geojson
from geofence.zones import ZoneIndex, zones_from_geojson
from tests.tracking.scenario import at, fix
from tracking.anomalies import Context
from tracking.batch import fixes_in_time_order, score_tracks
from tracking.live import LiveScorer
from tracking.track import Fix, track_from_fixes


def corridor_east() -> dict[str, object]:
    (la0, lo0), (la1, lo1) = at(-5000, 0), at(200_000, 0)
    return {"type": "Feature", "properties": {"corridor_id": "E1", "width_m": 1000},
            "geometry": {"type": "LineString", "coordinates": [[lo0, la0], [lo1, la1]]}}  # fmt: skip


def zones() -> ZoneIndex:
    (la, lo) = at(60_000, 10_000)
    (ra, ro) = at(25_500, 3000)
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"zone_id": "rest-1", "kind": "rest_area", "radius_m": 500},
         "geometry": {"type": "Point", "coordinates": [lo, la]}},
        {"type": "Feature", "properties": {"zone_id": "mil-1", "kind": "restricted", "radius_m": 400},
         "geometry": {"type": "Point", "coordinates": [ro, ra]}},
    ]}  # fmt: skip
    return ZoneIndex(zones_from_geojson(doc))


def truck_a() -> list[Fix]:
    """East along the corridor at 60 km/h (1 fix/min), with every kind of trouble on the way."""
    out: list[Fix] = []
    t = 0.0
    x = 0.0
    for _ in range(20):  # 0-19 min: drive 20 km
        out.append(fix("truck-a", t, x, 0, 60))
        t, x = t + 60, x + 1000
    for k in range(50):  # 20-69 min: unscheduled stop off any approved zone, 50 min
        out.append(fix("truck-a", t, x + (k % 3) * 5, 0, 0))
        t += 60
    for y in (1000, 2000, 3000, 3000, 3000, 3000, 3000, 3000, 2000, 1000):  # 70-79 min: detour north
        out.append(fix("truck-a", t, x, y, 40))
        t, x = t + 60, x + 1000
    for _ in range(10):
        out.append(fix("truck-a", t, x, 0, 60))
        t, x = t + 60, x + 1000
    t += 3600  # goes dark for an hour while moving
    x += 60_000
    for _ in range(3):
        out.append(fix("truck-a", t, x, 0, 60))
        t, x = t + 60, x + 1000
    out.append(fix("truck-a", t, x + 50_000, 0, 60))  # teleport
    t += 60
    for _ in range(4):  # frozen coordinates while reporting 60 km/h
        out.append(fix("truck-a", t, x + 50_000, 0, 60))
        t += 60
    return out


def pair_meeting() -> list[Fix]:
    """Two trucks parked 30 m apart for 50 minutes by the corridor, away from approved zones."""
    out = []
    for k in range(51):
        out.append(fix("truck-b", 600 + k * 60, 10_000, 300, 0))
        out.append(fix("truck-c", 610 + k * 60, 10_030, 300, 0))
    return out


def by_device(fixes: list[Fix]) -> dict[str, list[Fix]]:
    out: dict[str, list[Fix]] = {}
    for f in fixes:
        out.setdefault(f.device_id, []).append(f)
    return out


def run_batch(fixes: list[Fix], ctx: Context) -> list[Anomaly]:
    tracks = [track_from_fixes(v) for _, v in sorted(by_device(fixes).items())]
    return score_tracks(tracks, ctx)


def run_live(fixes: list[Fix], ctx: Context) -> list[Anomaly]:
    scorer = LiveScorer(ctx.settings, ctx.corridors, ctx.zones)
    out: list[Anomaly] = []
    for f in sorted(fixes, key=lambda f: (f.time_utc, f.device_id)):
        out.extend(scorer.update(f))
    out.extend(scorer.flush())
    return out


def key(anomalies: list[Anomaly]) -> list[str]:
    return sorted(a.model_dump_json() for a in anomalies)


def test_hand_built_tracks_give_the_expected_anomalies() -> None:
    ctx = Context(AnomalySettings(), tuple(corridors_from_geojson(corridor_east())), zones())
    fixes = truck_a() + pair_meeting()
    found = run_batch(fixes, ctx)
    kinds = sorted((a.kind.value, a.device_ids, a.details.get("subtype")) for a in found)
    assert kinds == sorted([
        ("unscheduled_stop", ("truck-a",), None),
        ("unscheduled_stop", ("truck-b",), None),
        ("unscheduled_stop", ("truck-c",), None),
        ("route_deviation", ("truck-a",), None),
        ("gap", ("truck-a",), None),
        ("gps_jump", ("truck-a",), "teleport"),
        ("gps_jump", ("truck-a",), "frozen_coordinates"),
        ("rendezvous", ("truck-b", "truck-c"), None),
        ("geofence_enter", ("truck-a",), None),
        ("geofence_exit", ("truck-a",), None),
    ])  # fmt: skip
    stop = next(a for a in found if a.kind is AnomalyKind.UNSCHEDULED_STOP and a.device_ids == ("truck-a",))
    assert (stop.end_utc - stop.start_utc).total_seconds() == 49 * 60  # fixes at minutes 20..69
    deviation = next(a for a in found if a.kind is AnomalyKind.ROUTE_DEVIATION)
    assert (deviation.end_utc - deviation.start_utc).total_seconds() == 9 * 60
    assert 2990 < deviation.details["max_distance_m"] < 3010
    gap = next(a for a in found if a.kind is AnomalyKind.GAP)
    assert gap.details["gap_s"] == 3660
    assert gap.details["off_corridor"] is False
    meet = next(a for a in found if a.kind is AnomalyKind.RENDEZVOUS)
    assert meet.details["duration_s"] == 50 * 60
    assert 29 < meet.details["min_distance_m"] < 31
    enter = next(a for a in found if a.kind is AnomalyKind.GEOFENCE_ENTER)
    assert enter.zone_id == "mil-1"
    assert enter.score == 1.0
    assert all(0.0 <= a.score <= 1.0 and a.evidence for a in found)


def test_parked_in_a_rest_area_is_not_an_unscheduled_stop() -> None:
    ctx = Context(AnomalySettings(), (), zones())
    fixes = [fix("truck-r", k * 60, 60_000 + (k % 2) * 10, 10_000, 0) for k in range(120)]
    assert [a.kind for a in run_batch(fixes, ctx)] == [AnomalyKind.GEOFENCE_ENTER]


def test_live_equals_batch_on_hand_built_tracks() -> None:
    ctx = Context(AnomalySettings(), tuple(corridors_from_geojson(corridor_east())), zones())
    fixes = truck_a() + pair_meeting()
    batch = run_batch(fixes, ctx)
    assert key(run_live(fixes, ctx)) == key(batch)


def test_live_equals_batch_on_real_trajectories(shared_data: Path) -> None:
    """GeoLife (1-5 s sampling, urban) with walking-scale thresholds so that stops, loitering and gaps occur."""
    rows = list(csv.DictReader((shared_data / "trajectories" / "geolife_small_movingpandas.csv").open()))
    from datetime import datetime

    fixes = [
        Fix(
            r["traj_id"].replace("geolife_small_", "g"),
            datetime.fromisoformat(r["time_utc"]),
            float(r["lat"]),
            float(r["lon"]),
        )
        for r in rows
    ]
    s = AnomalySettings(stop_min_duration_s=300, loiter_min_duration_s=900, loiter_max_diameter_m=500,
                        gap_min_s=300, rendezvous_distance_m=500, rendezvous_min_duration_s=120)  # fmt: skip
    ctx = Context(s)
    tracks = [track_from_fixes(v) for _, v in sorted(by_device(fixes).items())]
    batch = score_tracks(tracks, ctx)
    kinds = {a.kind for a in batch}
    assert {AnomalyKind.UNSCHEDULED_STOP, AnomalyKind.GAP} <= kinds
    live = run_live([f for f in fixes_in_time_order(tracks)], ctx)
    assert key(live) == key(batch)
    assert not math.isnan(sum(a.score for a in batch))

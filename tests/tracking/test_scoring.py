"""Batch scoring of hand-built tracks gives the expected anomalies; live scoring gives the same ones (same ids)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cedetect.config import AnomalySettings
from cedetect.models import Anomaly, AnomalyKind
from geofence.corridors import corridors_from_geojson
from geofence.zones import ZoneIndex, zones_from_geojson
from tests.tracking import naive
from tests.tracking.scenario import at, fix
from tracking.anomalies import Context
from tracking.batch import fixes_in_time_order, score_tracks
from tracking.live import LiveScorer
from tracking.rendezvous import RendezvousScorer
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


def test_a_fix_off_the_track_raises_the_batch_jump_and_leaves_the_live_state_alone() -> None:
    """A spoofed fix the edge kept off the track (``track_point=False``): live reports the jump into it with the
    id batch gives that step, and every other anomaly is what live finds without the spoofed fixes."""
    from dataclasses import replace

    ctx = Context(AnomalySettings(), tuple(corridors_from_geojson(corridor_east())), zones())
    # The drive and the stop (closed by flush), and the parked pair.  At minutes 21 and 22 (inside the stop)
    # the truck reports 80 km north of where it is, and the edge keeps those fixes off the track.
    drive = truck_a()[:70]
    real = drive[:21] + drive[23:] + pair_meeting()
    spoofed = [replace(fix("truck-a", t, 20_000, 80_000, 60), track_point=False) for t in (21 * 60, 22 * 60)]
    live = run_live(real + spoofed, ctx)
    jumps = [a for a in live if a.kind is AnomalyKind.GPS_JUMP]
    assert [(a.details["subtype"], a.evidence[-1].time_utc) for a in jumps] == [
        ("teleport", spoofed[0].time_utc),
        ("teleport", spoofed[1].time_utc),
    ]
    assert jumps[0].anomaly_id == jumps[1].anomaly_id  # same track point before: one stored anomaly, one alert
    assert jumps[0].evidence[0].time_utc == drive[20].time_utc  # the last track point before the spoofing
    # Batch takes every row as a track point: the step into the first spoofed fix is the same anomaly.
    as_rows = sorted((replace(f, track_point=True) for f in real + spoofed), key=lambda f: f.time_utc)
    batch_jumps = [a for a in run_batch(as_rows, ctx) if a.kind is AnomalyKind.GPS_JUMP]
    assert jumps[0] in batch_jumps
    # The rest is untouched: the same as live (= batch) without the spoofed fixes.
    others = [a for a in live if a.kind is not AnomalyKind.GPS_JUMP]
    assert key(others) == key(run_live(real, ctx)) == key(run_batch(real, ctx))
    assert any(a.kind is AnomalyKind.UNSCHEDULED_STOP and a.device_ids == ("truck-a",) for a in others)


def test_a_fix_off_the_track_before_any_track_point_is_refused() -> None:
    from dataclasses import replace

    scorer = LiveScorer(AnomalySettings())
    assert scorer.update(replace(fix("truck-z", 0, 0, 0, 60), track_point=False)) == []
    assert scorer.refused["no_track_point_before"] == 1
    assert scorer.devices == {}


def small_fleet(seed: int) -> list[Fix]:
    """2-6 trucks over 40 one-minute buckets, parked within 150 m of each other with GPS noise, now and then
    away; missed reports, two fixes in a bucket, with and without a reported speed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for k in range(int(rng.integers(2, 7))):
        home_x, home_y = rng.uniform(0, 150, 2)
        away = False
        for minute in range(40):
            away = away != (rng.random() < 0.1)  # now and then drives off 2 km, and back
            x = home_x + rng.normal(0, 10) + (2000.0 if away else 0.0)
            y = home_y + rng.normal(0, 10)
            for second in [(), (10,), (40,), (5, 50)][int(rng.integers(0, 4))]:
                speed = [None, 0.0, 8.0, 60.0][int(rng.integers(0, 4))]
                out.append(fix(f"tr-{k}", minute * 60 + second + k, float(x), float(y), speed))
    return sorted(out, key=lambda f: (f.time_utc, f.device_id))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_rendezvous_scorer_matches_the_naive_definition(seed: int) -> None:
    fleet = small_fleet(seed)
    s = AnomalySettings(rendezvous_min_duration_s=300.0, rendezvous_max_gap_s=120.0)
    scorer = RendezvousScorer(Context(s))
    found = [a for f in fleet for a in scorer.update(f)] + scorer.flush()
    got = {
        (a.device_ids, round(a.start_utc.timestamp() / 60), round(a.end_utc.timestamp() / 60),
         round(a.details["min_distance_m"], 6))
        for a in found
    }  # fmt: skip
    rows = [(f.device_id, f.time_utc.timestamp(), f.lat, f.lon, f.speed_kmh) for f in fleet]
    expected = naive.rendezvous(rows, 60.0, s.rendezvous_distance_m, 300.0, 120.0, s.rendezvous_max_speed_kmh)
    assert got == {(pair, first, last, round(d, 6)) for pair, first, last, d in expected}
    assert len(found) == len(got)

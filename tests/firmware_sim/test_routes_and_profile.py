"""Shipped routes, the measured GPS profile, pacing, the fleet, and the demo's smuggler timing."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import firmware_sim
from firmware_sim import calibrate
from firmware_sim.fleet import build_fleet
from firmware_sim.pacing import Pace, catch_up_start
from firmware_sim.profile import GpsProfile, load_profile, quantile_mean, sample_quantiles
from firmware_sim.routes import ROUTES_FILE, SMUGGLER_ZONE_ID, TOWNS, build_routes_geojson, dumps, load_routes
from firmware_sim.routes import main as routes_main
from geofence import ZoneIndex, crossings, default_zones
from geofence.demo_zones import borders_geojson, country_polygon, crossing_by_name, distance_to_boundary_m
from geofence.geodesy import haversine_m
from geofence.zones import polygon_contains

DATA = Path(firmware_sim.__file__).resolve().parent / "data"
NOW = datetime(2026, 1, 26, 12, 0, 0, tzinfo=UTC)


# -- GPS profile -------------------------------------------------------------------------------


def test_profile_recomputed_from_shared_equals_committed(shared_data: Path) -> None:
    recomputed = calibrate.build_profile(shared_data / "trajectories")
    committed = json.loads((DATA / "gps_profile.json").read_text(encoding="utf-8"))
    assert recomputed == committed
    assert calibrate.dumps(recomputed) == (DATA / "gps_profile.json").read_text(encoding="utf-8")
    assert calibrate.main(["--shared", str(shared_data / "trajectories"), "--check"]) == 0


def test_profile_numbers_agree_with_the_shared_readme() -> None:
    committed = json.loads((DATA / "gps_profile.json").read_text(encoding="utf-8"))
    bus = committed["datasets"]["liverpool_bus"]
    assert (bus["points"], bus["trajectories"]) == (1533, 16)
    assert (bus["interval"]["median_s"], bus["interval"]["p10_s"], bus["interval"]["p90_s"]) == (24.0, 7.0, 33.0)
    assert bus["interval"]["max_s"] == 208.0
    small = committed["datasets"]["geolife_small"]["interval"]
    assert (small["median_s"], small["p10_s"], small["p90_s"]) == (3.0, 1.0, 5.0)
    skmob = committed["datasets"]["geolife_skmob"]
    assert skmob["points"] == 217_653
    assert skmob["trajectories"] == 294
    assert (skmob["interval"]["median_s"], skmob["interval"]["p10_s"]) == (5.0, 2.0)
    assert committed["sim"]["source"] == "liverpool_bus"
    assert committed["sim"]["noise_sigma_per_axis_m"] == bus["noise"]["sigma_per_axis_m"]


def test_calibration_helpers() -> None:
    assert calibrate.quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert calibrate.quantile([5.0], 0.9) == 5.0
    t0 = 1_000_000.0
    fixes = [calibrate.Fix(t0 + i * 10.0, 0.0, 0.0) for i in range(3)]
    fixes += [calibrate.Fix(t0 + 30.0 + i * 10.0, 0.0, 0.001 * (i + 1)) for i in range(3)]
    # Three fixes standing still, then moving 111 m per fix: one stop of 20 s at the start.
    assert calibrate.stop_episodes(fixes, radius_m=10.0) == [(0, 2)]
    # A straight, evenly sampled line has no cross-track offset.
    line = {"a": [calibrate.Fix(t0 + i, 0.0, 0.0005 * i) for i in range(5)]}
    assert calibrate.cross_track_offsets_m(line) == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)


def test_loaded_profile_and_sampling() -> None:
    profile = load_profile()
    committed = json.loads((DATA / "gps_profile.json").read_text(encoding="utf-8"))["sim"]
    assert list(profile.interval_quantiles_s) == committed["interval_quantiles_s"]
    assert profile.noise_sigma_per_axis_m == committed["noise_sigma_per_axis_m"]
    assert profile.median_interval_s() == 24.0
    assert sample_quantiles([0.0, 10.0, 20.0], 0.25) == 5.0
    assert sample_quantiles([0.0, 10.0, 20.0], 1.0) == 20.0
    assert sample_quantiles([7.0], 0.3) == 7.0
    assert quantile_mean([0.0, 10.0, 20.0]) == 10.0
    assert isinstance(profile, GpsProfile)


# -- routes ------------------------------------------------------------------------------------


def test_routes_file_is_up_to_date(tmp_path: Path) -> None:
    assert (DATA / ROUTES_FILE).read_text(encoding="utf-8") == dumps(build_routes_geojson())
    assert routes_main(["--check"]) == 0
    assert routes_main(["--out", str(tmp_path / "r.geojson")]) == 0
    assert (tmp_path / "r.geojson").read_bytes() == (DATA / ROUTES_FILE).read_bytes()


def test_routes_shape() -> None:
    routes = load_routes()
    assert 5 <= len(routes) <= 6
    assert [r.smuggler for r in routes] == [True] + [False] * (len(routes) - 1)
    document = json.loads((DATA / ROUTES_FILE).read_text(encoding="utf-8"))
    assert all(f["properties"]["approximate"] is True for f in document["features"])
    assert all(f["geometry"]["type"] == "LineString" for f in document["features"])
    names = {c.name_tr for c in crossings()}
    for route in routes:
        assert route.vertex_kinds[0] == "crossing"
        assert route.vertex_names[0] in names
        assert len(route.points) == len(route.vertex_names) == len(route.vertex_kinds)
        assert 100_000 < route.length_m < 2_500_000


def test_towns_lie_in_turkey() -> None:
    turkey = country_polygon(borders_geojson(), "TUR")
    for name, (lat, lon) in TOWNS.items():
        inside = polygon_contains(turkey, lon, lat)
        assert inside or distance_to_boundary_m(turkey, lat, lon) < 3000.0, name


def test_smuggler_route_passes_through_the_centre_of_its_zone() -> None:
    smuggler = load_routes()[0]
    assert smuggler.restricted_zone == SMUGGLER_ZONE_ID
    zone = next(z for z in default_zones() if z.zone_id == SMUGGLER_ZONE_ID)
    centre = (zone.properties["centre_lat"], zone.properties["centre_lon"])
    assert smuggler.points[1] == centre
    habur = crossing_by_name("Habur")
    assert smuggler.points[0] == (habur.lat, habur.lon)
    start_to_centre_m = haversine_m(habur.lat, habur.lon, *centre)
    assert 3000.0 < start_to_centre_m - zone.properties["radius_m"] < 10_000.0  # a few km before it


def test_normal_routes_keep_clear_of_restricted_zones() -> None:
    restricted = [z for z in default_zones() if z.kind == "restricted"]
    index = ZoneIndex(restricted)
    for route in load_routes()[1:]:
        line = route.polyline()
        s = 0.0
        while s <= line.length_m:
            where = line.locate(s)
            assert not index.containing(where.lat, where.lon), (route.route_id, s)
            for zone in restricted:
                gap_m = haversine_m(where.lat, where.lon, zone.properties["centre_lat"], zone.properties["centre_lon"])
                assert gap_m > zone.properties["radius_m"] + 1000.0, (route.route_id, zone.zone_id)
            s += 200.0


# -- pacing, fleet and the demo's alert --------------------------------------------------------


def test_pace() -> None:
    assert Pace(10.0).real_offset_s(100.0) == 10.0
    assert Pace(0.0).real_offset_s(1e9) == 0.0
    pace = Pace(10.0, catch_up_sim_s=6000.0)
    assert pace.real_offset_s(6000.0) == 600.0
    assert pace.real_offset_s(6060.0) == 660.0  # real time after the catch-up
    with pytest.raises(ValueError, match="speedup"):
        Pace(-1.0)


def test_catch_up_start_keeps_fix_times_behind_the_wall_clock() -> None:
    start, pace = catch_up_start(NOW, 10.0, 600.0)
    assert start == NOW - timedelta(seconds=5400)
    for real_s in (0.0, 1.0, 300.0, 599.0, 600.0, 601.0, 3600.0, 86400.0):
        # The simulated second due at ``real_s`` after the start: invert the pace numerically.
        lo, hi = 0.0, 1e7
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if pace.real_offset_s(mid) <= real_s else (lo, mid)
        fix_time = start + timedelta(seconds=lo)
        assert fix_time <= NOW + timedelta(seconds=real_s, milliseconds=1)
    assert catch_up_start(NOW, 1.0, 600.0) == (NOW, Pace(1.0))
    assert catch_up_start(NOW, 10.0, 0.0) == (NOW, Pace(10.0))
    assert catch_up_start(NOW, 0.0, 600.0) == (NOW, Pace(0.0))


def test_fleet() -> None:
    fleet = build_fleet(14, seed=1)
    routes = load_routes()
    assert fleet[0].route.smuggler
    assert [t.truck_id for t in fleet[:3]] == ["truck-01", "truck-02", "truck-03"]
    assert [t.route.route_id for t in fleet[1:6]] == [r.route_id for r in routes[1:]]
    assert not any(t.route.smuggler for t in fleet[1:])
    assert all(t.start_offset_m == 0.0 for t in fleet[:6])
    assert all(t.start_offset_m > 0.0 for t in fleet[6:])
    assert fleet[6].route.points == routes[1].points[::-1]  # second round: the other way
    assert fleet[11].route.points == routes[1].points  # third round: the first way again
    assert len({t.imei for t in fleet}) == 14
    assert build_fleet(14, seed=1) == fleet
    with pytest.raises(ValueError, match="at least one truck"):
        build_fleet(0, seed=1)


@pytest.mark.parametrize("seed", range(1, 21))
def test_smuggler_enters_its_zone_within_a_minute_at_default_settings(seed: int) -> None:
    # The CLI defaults: speed-up 10 with a 600 s catch-up, the measured sampling profile.
    start, pace = catch_up_start(NOW, 10.0, 600.0)
    smuggler = build_fleet(1, seed=seed)[0]
    index = ZoneIndex(default_zones())
    for fix in itertools.islice(smuggler.model(start_utc=start, profile=load_profile()).fixes(), 200):
        if SMUGGLER_ZONE_ID in index.containing(fix.latitude, fix.longitude):
            assert pace.real_offset_s(fix.sim_time_s) <= 60.0
            assert fix.time_utc < NOW  # behind the wall clock: not flagged future_time
            return
    pytest.fail("the smuggler never entered its zone")


def test_other_trucks_raise_no_restricted_zone_entry_in_their_first_hours() -> None:
    start, _ = catch_up_start(NOW, 10.0, 600.0)
    index = ZoneIndex([z for z in default_zones() if z.kind == "restricted"])
    for truck in build_fleet(6, seed=1)[1:]:
        model = truck.model(start_utc=start, profile=load_profile())
        for fix in itertools.takewhile(lambda f: f.sim_time_s < 6 * 3600, model.fixes()):
            assert not index.containing(fix.latitude, fix.longitude), truck.truck_id

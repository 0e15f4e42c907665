"""The truck model on tiny polylines with exact expectations."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from firmware_sim.profile import GpsProfile, fixed_interval_profile, load_profile
from firmware_sim.routes import Route, VertexKind, load_routes
from firmware_sim.truck import (
    Fix,
    PhaseKind,
    TruckModel,
    TruckParams,
    plan_segments,
)
from geofence.geodesy import EARTH_RADIUS_M, haversine_m, local_xy_m

START = datetime(2026, 1, 26, 8, 0, 0, tzinfo=UTC)
#: 0.01 degree of longitude along the equator.
L_EQ = EARTH_RADIUS_M * math.radians(0.01)

QUIET = GpsProfile(
    interval_quantiles_s=(10.0,),
    noise_sigma_per_axis_m=0.0,
    urban_stops_per_km=0.0,
    urban_stop_duration_quantiles_s=(30.0,),
)
STEADY = TruckParams(cruise_kmh_min=72.0, cruise_kmh_max=72.0, accel_mps2=0.5, decel_mps2=1.0, loop=False)


def route(points: list[tuple[float, float]], kinds: list[VertexKind] | None = None) -> Route:
    middle: list[VertexKind] = ["waypoint"] * (len(points) - 2)
    kinds = kinds or ["crossing", *middle, "crossing"]
    return Route(
        route_id="test",
        name="test",
        points=tuple(points),
        vertex_names=tuple(f"v{i}" for i in range(len(points))),
        vertex_kinds=tuple(kinds),
        smuggler=False,
    )


def take(model: TruckModel, count: int) -> list[Fix]:
    return list(itertools.islice(model.fixes(), count))


def expected_distance(t: float) -> tuple[float, float]:
    """Exact (distance_m, speed_mps) on the equator line: 0.5 m/s^2 up to 20 m/s, hold, 1 m/s^2 down."""
    hold_s = (L_EQ - 400.0 - 200.0) / 20.0
    if t <= 40.0:
        return 0.25 * t * t, 0.5 * t
    if t <= 40.0 + hold_s:
        return 400.0 + 20.0 * (t - 40.0), 20.0
    tau = t - 40.0 - hold_s
    if tau <= 20.0:
        return 400.0 + 20.0 * hold_s + 20.0 * tau - 0.5 * tau * tau, 20.0 - tau
    return L_EQ, 0.0


def test_straight_line_exact_motion() -> None:
    model = TruckModel(route([(0.0, 0.0), (0.0, 0.01)]), seed=1, start_utc=START, profile=QUIET, params=STEADY)
    fixes = take(model, 12)
    assert [f.sim_time_s for f in fixes] == [10.0 * k for k in range(12)]
    assert [f.time_utc for f in fixes] == [START + timedelta(seconds=10 * k) for k in range(12)]
    for fix in fixes:
        distance, speed = expected_distance(fix.sim_time_s)
        assert fix.odometer_m == pytest.approx(distance, abs=1e-6)
        assert fix.speed_kmh == pytest.approx(speed * 3.6, abs=1e-9)
        assert fix.latitude == pytest.approx(0.0, abs=1e-12)
        assert fix.longitude == pytest.approx(0.01 * distance / L_EQ, abs=1e-12)
        assert (fix.latitude, fix.longitude) == (fix.true_latitude, fix.true_longitude)  # no noise
        assert fix.heading_deg == pytest.approx(90.0, abs=1e-9)
        assert fix.valid
    # Moving with the ignition on, then parked at the end with it off.
    # Arrival after 40 + 25.6 + 20 = 85.6 s.
    assert [(f.phase, f.ignition) for f in fixes[:9]] == [(PhaseKind.DRIVE, True)] * 9
    assert [(f.phase, f.ignition, f.speed_kmh) for f in fixes[9:]] == [(PhaseKind.PARKED, False, 0.0)] * 3
    assert fixes[-1].odometer_m == pytest.approx(L_EQ, abs=1e-6)


def test_phases_of_the_straight_line() -> None:
    model = TruckModel(route([(0.0, 0.0), (0.0, 0.01)]), seed=1, start_utc=START, profile=QUIET, params=STEADY)
    phases = list(model.phases())
    assert [(p.kind, p.accel_mps2) for p in phases] == [
        (PhaseKind.DRIVE, 0.5),
        (PhaseKind.DRIVE, 0.0),
        (PhaseKind.DRIVE, -1.0),
        (PhaseKind.PARKED, 0.0),
    ]
    assert [p.duration_s for p in phases[:3]] == pytest.approx([40.0, (L_EQ - 600.0) / 20.0, 20.0])
    assert phases[-1].duration_s == math.inf
    assert phases[2].end_distance_m == pytest.approx(L_EQ)


def test_short_segment_is_a_triangle() -> None:
    moves = plan_segments([(100.0, 20.0)], accel=0.5, decel=1.0)
    peak = math.sqrt(2 * 0.5 * 1.0 * 100.0 / 1.5)
    assert [m.accel_mps2 for m in moves] == [0.5, -1.0]
    assert [m.duration_s for m in moves] == pytest.approx([peak / 0.5, peak / 1.0])
    assert moves[1].s0_m == pytest.approx(peak**2 / (2 * 0.5))
    assert moves[1].v0_mps == pytest.approx(peak)


def test_lower_limit_ahead_is_reached_by_braking_before_it() -> None:
    # 1000 m at 20 m/s, then 1000 m at 10 m/s: brake from 20 to 10 m/s in the 150 m before the change.
    moves = plan_segments([(1000.0, 20.0), (1000.0, 10.0)], accel=0.5, decel=1.0)
    kinds = [(m.accel_mps2, round(m.v0_mps, 9)) for m in moves]
    assert kinds == [(0.5, 0.0), (0.0, 20.0), (-1.0, 20.0), (0.0, 10.0), (-1.0, 10.0)]
    assert moves[2].s0_m == pytest.approx(1000.0 - 150.0)
    assert moves[3].s0_m == pytest.approx(1000.0)
    assert moves[4].s0_m == pytest.approx(2000.0 - 50.0)
    assert plan_segments([], accel=0.5, decel=1.0) == []


def test_headings_follow_the_legs() -> None:
    # North along the meridian, east along the equator, then back (loop) heading south and west.
    params = TruckParams(cruise_kmh_min=72.0, cruise_kmh_max=72.0, turnaround_s=60.0, loop=True)
    model = TruckModel(
        route([(-0.01, 0.0), (0.0, 0.0), (0.0, 0.01)]), seed=3, start_utc=START, profile=QUIET, params=params
    )
    seen = []
    for fix in itertools.islice(model.fixes(), 60):
        if fix.phase is PhaseKind.DRIVE and fix.speed_kmh > 0:
            on_first_leg = fix.true_longitude < 1e-9
            seen.append((fix.trip, on_first_leg, round(fix.heading_deg, 6)))
    assert (0, True, 0.0) in seen
    assert (0, False, 90.0) in seen
    assert (1, False, 270.0) in seen
    assert (1, True, 180.0) in seen
    assert {h for _, _, h in seen} == {0.0, 90.0, 180.0, 270.0}


def test_urban_stops_and_speed_limit() -> None:
    profile = GpsProfile(
        interval_quantiles_s=(1.0,),
        noise_sigma_per_axis_m=0.0,
        urban_stops_per_km=4.0,
        urban_stop_duration_quantiles_s=(30.0, 30.0),
    )
    params = TruckParams(urban_radius_m=1500.0, loop=False)
    # 0.1 degree of the equator (11.1 km) with a town in the middle.
    town = route([(0.0, 0.0), (0.0, 0.05), (0.0, 0.1)], ["crossing", "town", "crossing"])
    model = TruckModel(town, seed=11, start_utc=START, profile=profile, params=params)
    phases = list(itertools.takewhile(lambda p: p.kind is not PhaseKind.PARKED, model.phases()))
    town_m = EARTH_RADIUS_M * math.radians(0.05)
    stops = [p for p in phases if p.kind is PhaseKind.STOP]
    assert stops, "a 3 km town at 4 stops/km should have stops"
    for stop in stops:
        assert abs(stop.s0_m - town_m) <= 1500.0
        assert stop.duration_s == 30.0
    fixes = list(itertools.takewhile(lambda f: f.phase is not PhaseKind.PARKED, model.fixes()))
    for fix in fixes:
        s = fix.odometer_m
        if abs(s - town_m) < 1500.0:
            assert fix.speed_kmh <= 50.0 + 1e-9
        assert fix.speed_kmh <= 85.0 + 1e-9
        if fix.phase is PhaseKind.STOP:
            assert fix.speed_kmh == 0.0
            assert fix.ignition
    # Odometer never goes backwards and ends at the route length.
    assert all(b.odometer_m >= a.odometer_m for a, b in itertools.pairwise(fixes))
    assert max(f.speed_kmh for f in fixes) > 69.9


def test_rest_breaks_after_the_driving_limit() -> None:
    params = TruckParams(max_driving_s=600.0, rest_break_s=300.0, loop=False)
    model = TruckModel(route([(0.0, 0.0), (0.0, 0.5)]), seed=5, start_utc=START, profile=QUIET, params=params)
    phases = list(itertools.takewhile(lambda p: p.kind is not PhaseKind.PARKED, model.phases()))
    rests = [p for p in phases if p.kind is PhaseKind.REST]
    assert len(rests) >= 4  # 55.6 km at 70-85 km/h is about 45 min of driving
    driving = 0.0
    for phase in phases:
        if phase.kind is PhaseKind.DRIVE:
            driving += phase.duration_s
        elif phase.kind is PhaseKind.REST:
            assert phase.duration_s == 300.0
            # The limit, plus at most the braking from cruise speed to the roadside.
            assert 600.0 - 1e-6 <= driving <= 600.0 + 85.0 / 3.6 / params.decel_mps2 + 1e-6
            driving = 0.0
    rest_fixes = [f for f in itertools.islice(model.fixes(), 500) if f.phase is PhaseKind.REST]
    assert rest_fixes
    assert all(not f.ignition and f.speed_kmh == 0.0 for f in rest_fixes)


def test_deterministic_per_seed_and_independent_of_sampling() -> None:
    route_ = load_routes()[1]
    profile = load_profile()

    def first(seed: int, count: int = 300, prof: GpsProfile = profile) -> list[Fix]:
        return take(TruckModel(route_, seed=seed, start_utc=START, profile=prof), count)

    assert first(1) == first(1)
    assert first(1) != first(2)
    # The drive plan does not depend on how it is sampled.
    a = TruckModel(route_, seed=4, start_utc=START, profile=profile)
    b = TruckModel(route_, seed=4, start_utc=START, profile=fixed_interval_profile(profile, 2.0))
    assert list(itertools.islice(a.phases(), 200)) == list(itertools.islice(b.phases(), 200))


def test_sampling_and_noise_follow_the_profile() -> None:
    profile = load_profile()
    route_ = load_routes()[1]
    fixes = take(TruckModel(route_, seed=9, start_utc=START, profile=profile), 4000)
    intervals = [b.sim_time_s - a.sim_time_s for a, b in itertools.pairwise(fixes)]
    assert all(i >= 1.0 and i == int(i) for i in intervals)
    assert 21.0 <= statistics.median(intervals) <= 27.0  # the bus median is 24 s
    assert max(intervals) <= 208.0
    east, north = [], []
    for fix in fixes:
        x, y = local_xy_m(fix.true_latitude, fix.true_longitude, fix.latitude, fix.longitude)
        east.append(x)
        north.append(y)
    sigma = profile.noise_sigma_per_axis_m
    assert statistics.pstdev(east) == pytest.approx(sigma, rel=0.08)
    assert statistics.pstdev(north) == pytest.approx(sigma, rel=0.08)
    assert all(6 <= f.satellites <= 12 for f in fixes)
    # Truck-like speeds and the reported speed consistent with the distance driven.
    assert max(f.speed_kmh for f in fixes) <= 85.0 + 1e-9
    for a, b in itertools.pairwise(fixes[:400]):
        if a.trip == b.trip:
            gap_m = haversine_m(a.true_latitude, a.true_longitude, b.true_latitude, b.true_longitude)
            assert gap_m <= (b.odometer_m - a.odometer_m) + 1e-3


def test_start_offset_and_validation() -> None:
    line = route([(0.0, 0.0), (0.0, 0.01)])
    model = TruckModel(line, seed=1, start_utc=START, profile=QUIET, params=STEADY, start_offset_m=500.0)
    first = take(model, 1)[0]
    assert first.true_longitude == pytest.approx(0.01 * 500.0 / L_EQ, abs=1e-12)
    assert first.odometer_m == 0.0
    with pytest.raises(ValueError, match="start_offset_m"):
        TruckModel(line, seed=1, start_utc=START, profile=QUIET, start_offset_m=L_EQ + 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        TruckModel(line, seed=1, start_utc=datetime(2026, 1, 1), profile=QUIET)  # noqa: DTZ001
    with pytest.raises(ValueError, match="cruise_kmh_min"):
        TruckParams(cruise_kmh_min=90.0, cruise_kmh_max=80.0)
    with pytest.raises(ValueError, match="non-decreasing"):
        GpsProfile((3.0, 2.0), 1.0, 1.0, (1.0,))

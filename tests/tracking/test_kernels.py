"""Kernels against hand-built tracks with exact answers, and against the naive oracles on random tracks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tracking import naive
from tracking._geo import geodesic_m, mrr_diagonal_m
from tracking.kernels import (
    JUMP_ACCELERATION,
    JUMP_FROZEN,
    JUMP_SPEED,
    JUMP_TELEPORT,
    _close_pairs,
    _corridor_distance_m,
    _gap_seconds,
    _jump_codes,
    _jump_codes_direct,
    _stop_ranges,
)
from tracking.track import TrackError, make_track

NAN = math.nan


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


class TestJump:
    def test_exact_codes(self) -> None:
        # 0 -> 1: 1 km in 60 s (60 km/h); 1 -> 2: 30 km in 60 s (teleport); 2 -> 3: 1 km in 10 s (360 km/h);
        # 3 -> 4 -> 5: the same coordinates while reporting 50 km/h (frozen).
        dlat = 1000 / naive.R * 180 / math.pi
        lat = arr(0, dlat, 31 * dlat, 32 * dlat, 32 * dlat, 32 * dlat)
        lon = np.zeros(6)
        t = arr(0, 60, 120, 130, 190, 250)
        speed = arr(NAN, NAN, NAN, 50, 50, 50)
        codes, values = _jump_codes(t, lat, lon, speed, 160.0, 500.0, 20_000.0, 8.0, 5.0, 5.0)
        assert codes.tolist() == [0, 0, JUMP_TELEPORT, JUMP_SPEED, JUMP_FROZEN, JUMP_FROZEN]
        assert values[2] == pytest.approx(1800.0, rel=1e-6)
        assert values[3] == pytest.approx(360.0, rel=1e-6)

    def test_acceleration_from_reported_speed(self) -> None:
        t, lat, lon = arr(0, 1, 2), arr(0, 0.0001, 0.0002), np.zeros(3)
        codes, values = _jump_codes(t, lat, lon, arr(10, 50, 52), 160.0, 500.0, 20_000.0, 8.0, 5.0, 5.0)
        assert codes.tolist() == [0, JUMP_ACCELERATION, 0]
        assert values[1] == pytest.approx(40 / 3.6)

    def test_gps_noise_under_min_jump_is_not_a_jump(self) -> None:
        # 100 m in one second is 360 km/h but under jump_min_m: noise, not a jump.
        dlat = 100 / naive.R * 180 / math.pi
        codes, _ = _jump_codes(arr(0, 1), arr(0, dlat), np.zeros(2), arr(NAN, NAN), 160.0, 500.0, 2e4, 8.0, 5.0, 5.0)
        assert codes.tolist() == [0, 0]


class TestGap:
    def test_exact(self) -> None:
        dlat = 1000 / naive.R * 180 / math.pi
        # moving at 60 km/h, then 40 min silent (gap); then a parked truck (ignition off) silent for 2 h (no gap);
        # then 15 min silent but reappearing 30 km away (far gap).
        t = arr(0, 60, 2460, 2520, 9720, 9780, 10680)
        lat = arr(0, 1, 40, 41, 41, 42, 72) * dlat
        lon = np.zeros(7)
        ign = np.array([1, 1, 1, 0, 1, 1, 1], dtype=np.int8)
        out = _gap_seconds(t, lat, lon, np.full(7, NAN), ign, 1800.0, 5.0, 20_000.0, 600.0)
        assert out.tolist() == [0, 0, 2400, 0, 0, 0, 900]


class TestStops:
    def test_exact_stop(self) -> None:
        # Moving 1 km/min, then 10 fixes within 20 m over 9 minutes, then moving again.
        dlat = 1 / naive.R * 180 / math.pi
        ys = [0, 1000, 2000] + [2000 + (k % 2) * 20 for k in range(10)] + [3000, 4000]
        t = np.arange(len(ys), dtype=np.float64) * 60
        f, last = _stop_ranges(t, np.array(ys) * dlat, np.zeros(len(ys)), 100.0, 300.0)
        assert list(zip(f.tolist(), last.tolist(), strict=True)) == [(2, 12)]

    def test_open_stop_at_the_end(self) -> None:
        t = np.arange(8, dtype=np.float64) * 60
        f, last = _stop_ranges(t, np.full(8, 10.0), np.full(8, 20.0), 50.0, 300.0)
        assert list(zip(f.tolist(), last.tolist(), strict=True)) == [(0, 7)]

    def test_mrr_diagonal_matches_shapely_and_geodesic(self) -> None:
        lons = arr(20.0, 20.001, 20.0005, 20.0012)
        lats = arr(40.0, 40.0002, 40.0009, 40.0006)
        assert mrr_diagonal_m(lons, lats) == pytest.approx(naive.mrr_diagonal(list(lons), list(lats)), abs=1e-6)
        assert geodesic_m(40.0, 20.0, 41.0, 21.0) == pytest.approx(naive.vincenty(40.0, 20.0, 41.0, 21.0), abs=1e-6)


@st.composite
def random_track(draw: st.DrawFn, max_len: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(2, max_len))
    steps = draw(st.lists(st.sampled_from([0.0, 1.0, 5.0, 30.0, 60.0, 600.0, 2400.0]), min_size=n, max_size=n))
    t = np.cumsum(np.array(steps))
    lat0 = draw(st.floats(-60, 60))
    lon0 = draw(st.floats(-170, 170))
    # Mostly small moves (stops, noise), sometimes large ones (jumps).
    scale = draw(st.sampled_from([1e-5, 1e-4, 1e-3, 0.05]))
    dlat = np.array(draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n))) * scale
    dlon = np.array(draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n))) * scale
    lat = lat0 + np.cumsum(dlat)
    lon = lon0 + np.cumsum(dlon)
    speeds = draw(st.lists(st.sampled_from([NAN, 0.0, 3.0, 40.0, 90.0]), min_size=n, max_size=n))
    return t, lat, lon, np.array(speeds)


PROPS = settings(max_examples=60, deadline=None)


@PROPS
@given(random_track())
def test_jump_kernel_matches_oracle(track: tuple[np.ndarray, ...]) -> None:
    t, lat, lon, sp = track
    codes, _ = _jump_codes(t, lat, lon, sp, 160.0, 500.0, 20_000.0, 2.0, 5.0, 5.0)
    expected = naive.jump_codes(t.tolist(), lat.tolist(), lon.tolist(), sp.tolist(), 160.0, 500.0, 2e4, 2.0, 5.0, 5.0)
    assert codes.tolist() == expected


JUMP_ARGS = (160.0, 500.0, 20_000.0, 2.0, 5.0, 5.0)


@st.composite
def threshold_track(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps that land within a few 1e-13 of every threshold of the jump kernel, to test the fast kernel's bounds."""
    max_kmh, jump_min_m, teleport_m, max_acc, _, _ = JUMP_ARGS
    n = draw(st.integers(2, 30))
    lat = [draw(st.floats(-89.9, 89.9))]
    lon = [draw(st.floats(-179, 179))]
    t = [0.0]
    prev_v = 0.0
    prev_dt = 0.0
    for _ in range(n - 1):
        dt = draw(st.sampled_from([0.0, 1.0, 5.0, 10.0, 30.0, 60.0]))
        eps = draw(st.integers(-4, 4)) * 1e-13
        kind = draw(st.sampled_from(["same", "tiny", "jump", "teleport", "speed", "accel", "normal"]))
        if kind == "same":
            d = 0.0
        elif kind == "tiny":
            d = 1e-9
        elif kind == "jump":
            d = jump_min_m * (1 + eps)
        elif kind == "teleport":
            d = teleport_m * (1 + eps)
        elif kind == "speed":
            d = max_kmh / 3.6 * dt * (1 + eps)
        elif kind == "accel":
            d = max(0.0, prev_v + draw(st.sampled_from([-1.0, 1.0])) * max_acc * 0.5 * (dt + prev_dt)) * dt * (1 + eps)
        else:
            d = 20.0 * dt
        bearing = draw(st.floats(0, 2 * math.pi))
        dlat = d * math.cos(bearing) / naive.R * 180 / math.pi
        dlon = d * math.sin(bearing) / (naive.R * math.cos(math.radians(lat[-1]))) * 180 / math.pi
        lat.append(min(90.0, max(-90.0, lat[-1] + dlat)))
        lon.append((lon[-1] + dlon + 180.0) % 360.0 - 180.0)
        t.append(t[-1] + dt)
        prev_v = d / dt if dt > 0 else 0.0
        prev_dt = dt
    speeds = draw(st.lists(st.sampled_from([NAN, 0.0, 5.0, 60.0, 200.0]), min_size=n, max_size=n))
    return np.array(t), np.array(lat), np.array(lon), np.array(speeds)


@settings(max_examples=150, deadline=None)
@given(st.one_of(threshold_track(), random_track()))
def test_fast_jump_kernel_is_bit_identical_to_direct(track: tuple[np.ndarray, ...]) -> None:
    t, lat, lon, sp = track
    codes, values = _jump_codes(t, lat, lon, sp, *JUMP_ARGS)
    codes_d, values_d = _jump_codes_direct(t, lat, lon, sp, *JUMP_ARGS)
    assert codes.tolist() == codes_d.tolist()
    assert values.tobytes() == values_d.tobytes()
    expected = naive.jump_codes(t.tolist(), lat.tolist(), lon.tolist(), sp.tolist(), *JUMP_ARGS)
    assert codes.tolist() == expected


@PROPS
@given(random_track(), st.lists(st.sampled_from([-1, 0, 1]), min_size=40, max_size=40))
def test_gap_kernel_matches_oracle(track: tuple[np.ndarray, ...], ign: list[int]) -> None:
    t, lat, lon, sp = track
    ig = np.array(ign[: t.shape[0]], dtype=np.int8)
    out = _gap_seconds(t, lat, lon, sp, ig, 1800.0, 5.0, 2000.0, 600.0)
    expected = naive.gap_seconds(
        t.tolist(), lat.tolist(), lon.tolist(), sp.tolist(), ig.tolist(), 1800.0, 5.0, 2000.0, 600.0
    )
    assert out.tolist() == expected


@PROPS
@given(random_track(max_len=60), st.sampled_from([30.0, 100.0, 300.0]), st.sampled_from([60.0, 300.0, 1200.0]))
def test_stop_kernel_matches_oracle(track: tuple[np.ndarray, ...], max_d: float, min_dur: float) -> None:
    t, lat, lon, _ = track
    f, last = _stop_ranges(t, lat, lon, max_d, min_dur)
    assert list(zip(f.tolist(), last.tolist(), strict=True)) == naive.stop_ranges(
        t.tolist(), lat.tolist(), lon.tolist(), max_d, min_dur
    )


@PROPS
@given(
    st.lists(st.tuples(st.floats(36.0, 36.02), st.floats(40.0, 40.02)), min_size=0, max_size=60),
    st.sampled_from([10.0, 100.0, 500.0]),
)
def test_close_pairs_match_all_pairs(points: list[tuple[float, float]], distance_m: float) -> None:
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    a, b, _ = _close_pairs(lat, lon, distance_m)
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == naive.close_pairs(lat.tolist(), lon.tolist(), distance_m)
    assert len(a) == len(set(zip(a.tolist(), b.tolist(), strict=True)))
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == sorted(zip(a.tolist(), b.tolist(), strict=True))


def test_corridor_distance_matches_plain_python() -> None:
    from geofence.corridors import point_to_segments_m

    rng = np.random.default_rng(5)
    seg = np.column_stack(
        [37 + rng.random(5) * 0.1, 42 + rng.random(5) * 0.1, 37 + rng.random(5) * 0.1, 42 + rng.random(5) * 0.1]
    )
    lat, lon = 37 + rng.random(50) * 0.1, 42 + rng.random(50) * 0.1
    got = _corridor_distance_m(lat, lon, seg)
    for i in range(50):
        assert got[i] == pytest.approx(point_to_segments_m(float(lat[i]), float(lon[i]), seg), abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"t_s": [2.0, 1.0]}, "not_sorted"),
        ({"lat": [91.0, 0.0]}, "coordinates_out_of_range"),
        ({"lon": [0.0]}, "length_mismatch"),
        ({"lat": [math.nan, 0.0]}, "not_finite"),
        ({"speed_kmh": [-1.0, 0.0]}, "bad_speed"),
        ({"ignition": [2, 0]}, "bad_ignition"),
    ],
)
def test_validation_names_the_reason(kwargs: dict[str, list[float]], reason: str) -> None:
    args: dict[str, list[float]] = {"t_s": [0.0, 1.0], "lat": [0.0, 0.0], "lon": [0.0, 0.0]}
    args.update(kwargs)
    with pytest.raises(TrackError) as info:
        make_track("truck-1", **args)  # type: ignore[arg-type]
    assert info.value.reason == reason

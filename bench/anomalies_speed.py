"""Speed of the trajectory kernels, ratios measured in this run.

    .venv/bin/python -m bench.anomalies_speed [--quick]

1. Stop detection against MovingPandas' TrajectoryStopDetector (needs the ``bench`` extra) on real
   GeoLife trajectories, same parameters: checks that the stops are the same and prints the speed-up.
2. Point-wise kernels (GPS jump, gap) in fixes per second on one core.
3. Rendezvous: 10,000 trucks reporting once a minute for an hour (compute per minute of traffic), and
   the cost per minute from 1,000 to 100,000 trucks.
"""

from __future__ import annotations

import argparse
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.anomalies_real_data import load
from cedetect.config import AnomalySettings
from tracking.anomalies import Context
from tracking.kernels import _close_pairs, _gap_seconds, _jump_codes, _stop_ranges
from tracking.rendezvous import RendezvousScorer
from tracking.track import Fix

DATA = Path(__file__).resolve().parents[2] / "shared/data/trajectories"


def bench_stops(max_fixes: int) -> None:
    tracks = load(DATA / "geolife_small_movingpandas.csv") + load(DATA / "geolife_sample_skmob.csv")
    picked, total = [], 0
    for t in tracks:
        if total >= max_fixes:
            break
        picked.append(t)
        total += len(t)
    try:
        import geopandas as gpd
        import movingpandas as mpd
        import pandas as pd
    except ImportError:
        print("stops: movingpandas is not installed (pip install '.[bench]'); skipped")
        return
    warnings.simplefilter("ignore")
    frames = [
        pd.DataFrame({"traj_id": t.device_id, "t": pd.to_datetime(t.t_s, unit="s"), "lon": t.lon, "lat": t.lat})
        for t in picked
    ]
    df = pd.concat(frames)
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs=4326).set_index("t")
    collection = mpd.TrajectoryCollection(gdf, "traj_id")
    _stop_ranges(picked[0].t_s, picked[0].lat, picked[0].lon, 100.0, 120.0)  # compile / load the cache
    for max_d, min_s in ((100.0, 120.0), (50.0, 60.0), (150.0, 600.0)):
        t0 = time.perf_counter()
        ranges = mpd.TrajectoryStopDetector(collection).get_stop_time_ranges(
            max_diameter=max_d, min_duration=timedelta(seconds=min_s)
        )
        t_mp = time.perf_counter() - t0
        theirs = {(r.traj_id, pd.Timestamp(r.t_0).value // 1000, pd.Timestamp(r.t_n).value // 1000) for r in ranges}
        t0 = time.perf_counter()
        ours = set()
        for t in picked:
            f, last = _stop_ranges(t.t_s, t.lat, t.lon, max_d, min_s)
            for a, b in zip(f.tolist(), last.tolist(), strict=True):
                ours.add((t.device_id, round(t.t_s[a] * 1e6), round(t.t_s[b] * 1e6)))
        t_us = time.perf_counter() - t0
        same = len(theirs & ours)
        print(
            f"stops max_diameter={max_d:g} m min_duration={min_s:g} s on {len(picked)} trajectories / {total} fixes: "
            f"MovingPandas {len(theirs)} stops in {t_mp:.2f} s, CEDetect {len(ours)} stops in {t_us * 1000:.1f} ms, "
            f"identical {same}/{len(theirs | ours)}, speed-up {t_mp / t_us:.0f}x"
        )


def bench_pointwise(n: int) -> None:
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.integers(1, 60, n)).astype(np.float64)
    lat = 37.0 + np.cumsum(rng.normal(0, 1e-4, n))
    lon = 40.0 + np.cumsum(rng.normal(0, 1e-4, n))
    speed = np.where(rng.random(n) < 0.5, np.nan, rng.random(n) * 90)
    ign = rng.integers(-1, 2, n).astype(np.int8)
    s = AnomalySettings()
    _jump_codes(t[:10], lat[:10], lon[:10], speed[:10], 160.0, 500.0, 2e4, 12.0, 10.0, 5.0)
    _gap_seconds(t[:10], lat[:10], lon[:10], speed[:10], ign[:10], 1800.0, 5.0, 2e4, 600.0)
    t0 = time.perf_counter()
    _jump_codes(
        t,
        lat,
        lon,
        speed,
        s.max_speed_kmh,
        s.jump_min_m,
        s.teleport_m,
        s.max_accel_ms2,
        s.accel_min_dt_s,
        s.moving_speed_kmh,
    )
    t_jump = time.perf_counter() - t0
    t0 = time.perf_counter()
    _gap_seconds(t, lat, lon, speed, ign, s.gap_min_s, s.moving_speed_kmh, s.gap_far_m, s.gap_far_min_s)
    t_gap = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = np.diff(t) > 0  # baseline: one NumPy pass over the same data
    t_base = time.perf_counter() - t0
    print(
        f"point-wise on {n:,} fixes, one core: jump {n / t_jump / 1e6:.1f} M fixes/s, "
        f"gap {n / t_gap / 1e6:.1f} M fixes/s "
        f"(a bare NumPy diff over the times: {n / t_base / 1e6:.0f} M/s; jump/diff cost ratio {t_jump / t_base:.1f})"
    )


def fleet(n: int, minutes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trucks spread over Turkey's transit area; a fifth parked, the rest at 60 km/h; a few parked in pairs."""
    lat = 37.0 + rng.random(n) * 4.0
    lon = 27.0 + rng.random(n) * 17.0
    heading = rng.random(n) * 2 * np.pi
    moving = rng.random(n) > 0.2
    pairs = rng.choice(n, size=(max(1, n // 1000), 2), replace=False)
    lat[pairs[:, 1]], lon[pairs[:, 1]] = lat[pairs[:, 0]] + 0.0002, lon[pairs[:, 0]]
    moving[pairs.ravel()] = False
    step_deg = 1000 / 111_195.0 * moving
    lats = np.empty((minutes, n))
    lons = np.empty((minutes, n))
    for m in range(minutes):
        lats[m], lons[m] = lat + np.cos(heading) * step_deg * m, lon + np.sin(heading) * step_deg * m
    return lats, lons, pairs


def bench_rendezvous(sizes: tuple[int, ...], minutes: int) -> None:
    rng = np.random.default_rng(2)
    _close_pairs(np.array([37.0, 37.0]), np.array([40.0, 40.0]), 100.0)
    t0_utc = datetime(2026, 3, 1, tzinfo=UTC)
    for n in sizes:
        lats, lons, pairs = fleet(n, minutes, rng)
        t0 = time.perf_counter()
        found_pairs = 0
        for m in range(minutes):
            a, _, _ = _close_pairs(lats[m], lons[m], 100.0)
            found_pairs += len(a)
        t_kernel = (time.perf_counter() - t0) / minutes
        # The whole scorer (Python bookkeeping included) for the hour.
        scorer = RendezvousScorer(Context(AnomalySettings()))
        ids = [f"truck-{k}" for k in range(n)]
        fixes_per_minute = [
            [
                Fix(ids[k], t0_utc + timedelta(minutes=m, seconds=k % 60), float(lats[m, k]), float(lons[m, k]), 60.0)
                for k in range(n)
            ]
            for m in range(minutes)
        ]
        t0 = time.perf_counter()
        found = []
        for batch in fixes_per_minute:
            for fix in batch:
                found.extend(scorer.update(fix))
        found.extend(scorer.flush())
        t_scorer = (time.perf_counter() - t0) / minutes
        print(
            f"rendezvous {n:>7,} trucks x {minutes} min: grid kernel {t_kernel * 1000:7.2f} ms per minute of traffic, "
            f"whole scorer {t_scorer * 1000:8.1f} ms per minute; {len(found)} rendezvous ({len(pairs)} planted)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    args = parser.parse_args()
    bench_stops(20_000 if args.quick else 60_000)
    bench_pointwise(2_000_000 if args.quick else 20_000_000)
    bench_rendezvous((1_000, 10_000) if args.quick else (1_000, 10_000, 100_000), 60 if not args.quick else 40)


if __name__ == "__main__":
    main()

"""Speed of the trajectory kernels, ratios measured in this run.

    .venv/bin/python -m bench.anomalies_speed [--quick]

1. Stop detection against MovingPandas' TrajectoryStopDetector (needs the ``bench`` extra) on real
   GeoLife trajectories, same parameters: checks that the stops are the same and prints the speed-up.
2. Point-wise kernels (GPS jump, gap) in fixes per second on one core.
3. The whole live scorer per fix, 1,000 and 10,000 trucks reporting once a minute.
4. Rendezvous: 10,000 trucks reporting once a minute for an hour (compute per minute of traffic), and
   the cost per minute from 1,000 to 100,000 trucks (100,000 for 10 minutes: time and memory bounded).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.anomalies_real_data import load
from cedetect.config import AnomalySettings
from cedetect.models import Anomaly
from tracking.anomalies import Context
from tracking.kernels import JUMP_NAMES, _close_pairs, _gap_seconds, _jump_codes, _jump_codes_direct, _stop_ranges
from tracking.live import LiveScorer
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
    # A few real jumps, teleports and frozen fixes among the ordinary traffic.
    for k in rng.choice(n - 1, size=max(1, n // 10_000), replace=False):
        kind = k % 3
        if kind == 0:
            lat[k + 1 :] += 0.02  # 2.2 km in under a minute
        elif kind == 1:
            lon[k + 1 :] += 1.0  # ~89 km
        else:
            lat[k + 1], lon[k + 1], speed[k], speed[k + 1] = lat[k], lon[k], 60.0, 60.0
    s = AnomalySettings()
    jump_args = (s.max_speed_kmh, s.jump_min_m, s.teleport_m, s.max_accel_ms2, s.accel_min_dt_s, s.moving_speed_kmh)
    _jump_codes(t[:10], lat[:10], lon[:10], speed[:10], *jump_args)
    _jump_codes_direct(t[:10], lat[:10], lon[:10], speed[:10], *jump_args)
    _gap_seconds(t[:10], lat[:10], lon[:10], speed[:10], ign[:10], 1800.0, 5.0, 2e4, 600.0)
    t_jump = t_direct = t_gap = np.inf
    for _ in range(3):  # best of three: the machine is shared
        t0 = time.perf_counter()
        codes, values = _jump_codes(t, lat, lon, speed, *jump_args)
        t_jump = min(t_jump, time.perf_counter() - t0)
        t0 = time.perf_counter()
        codes_d, values_d = _jump_codes_direct(t, lat, lon, speed, *jump_args)
        t_direct = min(t_direct, time.perf_counter() - t0)
        t0 = time.perf_counter()
        _gap_seconds(t, lat, lon, speed, ign, s.gap_min_s, s.moving_speed_kmh, s.gap_far_m, s.gap_far_min_s)
        t_gap = min(t_gap, time.perf_counter() - t0)
    same = np.array_equal(codes, codes_d) and np.array_equal(values, values_d)
    found = np.bincount(codes, minlength=len(JUMP_NAMES))
    print(
        f"point-wise on {n:,} fixes, one core (best of 3): jump {n / t_jump / 1e6:.1f} M fixes/s "
        f"(baseline: the direct kernel, one haversine per step, {n / t_direct / 1e6:.1f} M fixes/s; "
        f"speed-up {t_direct / t_jump:.2f}x; codes and values identical: {same}), "
        f"gap {n / t_gap / 1e6:.1f} M fixes/s; jumps found "
        + ", ".join(f"{name} {int(c)}" for name, c in zip(JUMP_NAMES[1:], found[1:], strict=True))
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


def bench_rendezvous(runs: tuple[tuple[int, int], ...]) -> None:
    """Each run: ``(trucks, minutes)``.  Cost per minute of traffic, and how it grows from the first run."""
    rng = np.random.default_rng(2)
    _close_pairs(np.array([37.0, 37.0]), np.array([40.0, 40.0]), 100.0)
    t0_utc = datetime(2026, 3, 1, tzinfo=UTC)
    settings = AnomalySettings()
    warm = RendezvousScorer(Context(settings))  # compile (or load) the bucket kernels before timing
    for minute in range(3):
        for device in ("a", "b"):
            warm.update(Fix(device, t0_utc + timedelta(minutes=minute), 37.0, 40.0, 0.0))
    warm.flush()
    first: tuple[int, float, float] | None = None
    for n, minutes in runs:
        lats, lons, pairs = fleet(n, minutes, rng)
        t0 = time.perf_counter()
        for m in range(minutes):
            _close_pairs(lats[m], lons[m], settings.rendezvous_distance_m)
        t_kernel = (time.perf_counter() - t0) / minutes
        # The whole scorer (Python bookkeeping included), fed one fix at a time as the live path does.
        scorer = RendezvousScorer(Context(settings))
        ids = [f"truck-{k}" for k in range(n)]
        fixes_per_minute = [
            [
                Fix(ids[k], t0_utc + timedelta(minutes=m, seconds=k % 60), float(lats[m, k]), float(lons[m, k]), 60.0)
                for k in range(n)
            ]
            for m in range(minutes)
        ]
        closing = 0.0
        close_bucket = scorer._close_bucket

        def timed_close(close: Callable[[], list[Anomaly]] = close_bucket) -> list[Anomaly]:
            nonlocal closing
            t_start = time.perf_counter()
            result = close()
            closing += time.perf_counter() - t_start
            return result

        setattr(scorer, "_close_bucket", timed_close)  # noqa: B010 - time the bucket closing apart
        t0 = time.perf_counter()
        found = []
        for batch in fixes_per_minute:
            for fix in batch:
                found.extend(scorer.update(fix))
        found.extend(scorer.flush())
        t_scorer = (time.perf_counter() - t0) / minutes
        t_close = closing / minutes
        planted = {tuple(sorted((ids[a], ids[b]))) for a, b in pairs.tolist()}
        got = {a.device_ids for a in found}
        long_enough = minutes - 1 >= settings.rendezvous_min_duration_s / 60
        growth = ""
        if first is None:
            first = (n, t_kernel, t_scorer)
        else:
            growth = (
                f"; x{n / first[0]:.0f} trucks: kernel x{t_kernel / first[1]:.1f}, scorer x{t_scorer / first[2]:.1f}"
            )
        print(
            f"rendezvous {n:>7,} trucks x {minutes} min: grid kernel (all trucks) {t_kernel * 1000:7.2f} ms per "
            f"minute of traffic, whole scorer {t_scorer * 1000:7.1f} ms per minute (closing the bucket "
            f"{t_close * 1000:.1f} ms, noting each fix {(t_scorer - t_close) / n * 1e6:.2f} us){growth}; "
            + (
                f"found {len(got & planted)}/{len(planted)} planted pairs, {len(got - planted)} others"
                if long_enough
                else f"{len(found)} rendezvous (a run of {minutes} min is under the minimum duration)"
            )
        )


def bench_live(runs: tuple[tuple[int, int], ...]) -> None:
    """The whole live scorer (every detector, no corridors or zones), fed one fix at a time as ingest does."""
    rng = np.random.default_rng(3)
    t0_utc = datetime(2026, 3, 1, tzinfo=UTC)
    warm = LiveScorer(AnomalySettings())
    for minute in range(3):
        warm.update(Fix("warm", t0_utc + timedelta(minutes=minute), 37.0 + 0.01 * minute, 40.0, 60.0, True))
    for n, minutes in runs:
        lats, lons, _ = fleet(n, minutes, rng)
        fixes = [
            Fix(f"truck-{k}", t0_utc + timedelta(minutes=m, seconds=k % 60), float(lats[m, k]), float(lons[m, k]),
                60.0, True)
            for m in range(minutes)
            for k in range(n)
        ]  # fmt: skip
        scorer = LiveScorer(AnomalySettings())
        t0 = time.perf_counter()
        for fix in fixes:
            scorer.update(fix)
        elapsed = time.perf_counter() - t0
        print(
            f"live scorer {n:>7,} trucks x {minutes} min: {elapsed / minutes * 1000:7.1f} ms per minute of traffic, "
            f"{elapsed / len(fixes) * 1e6:.1f} us per fix"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    args = parser.parse_args()
    bench_stops(20_000 if args.quick else 60_000)
    bench_pointwise(2_000_000 if args.quick else 20_000_000)
    if args.quick:
        bench_live(((1_000, 10),))
        bench_rendezvous(((1_000, 40), (10_000, 40)))
    else:  # an hour of 1,000 and 10,000 trucks; 100,000 trucks for 10 minutes (memory and time bounded)
        bench_live(((1_000, 10), (10_000, 10)))
        bench_rendezvous(((1_000, 60), (10_000, 60), (100_000, 10)))


if __name__ == "__main__":
    main()

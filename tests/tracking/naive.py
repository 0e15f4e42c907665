"""Naive pure-Python oracles of the tracking kernels: the definitions, restated without Numba or cleverness."""

from __future__ import annotations

import math
from typing import Any

from shapely.geometry import MultiPoint, Point

Seq = list[float]

R = 6_371_008.8


def hav(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * R * math.asin(min(1.0, math.sqrt(h)))


def vincenty(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    a, f = 6378137.0, 1 / 298.257223563
    b = a * (1 - f)
    if (lat1, lon1) == (lat2, lon2):
        return 0.0
    u1, u2 = math.atan((1 - f) * math.tan(math.radians(lat1))), math.atan((1 - f) * math.tan(math.radians(lat2)))
    big_l = lam = math.radians(lon2 - lon1)
    for _ in range(200):
        sl, cl = math.sin(lam), math.cos(lam)
        ss = math.hypot(math.cos(u2) * sl, math.cos(u1) * math.sin(u2) - math.sin(u1) * math.cos(u2) * cl)
        if ss == 0:
            return 0.0
        cs = math.sin(u1) * math.sin(u2) + math.cos(u1) * math.cos(u2) * cl
        sig = math.atan2(ss, cs)
        sa = math.cos(u1) * math.cos(u2) * sl / ss
        c2a = 1 - sa * sa
        c2m = cs - 2 * math.sin(u1) * math.sin(u2) / c2a if c2a else 0.0
        c = f / 16 * c2a * (4 + f * (4 - 3 * c2a))
        prev, lam = lam, big_l + (1 - c) * f * sa * (sig + c * ss * (c2m + c * cs * (-1 + 2 * c2m * c2m)))
        if abs(lam - prev) < 1e-12:
            break
    usq = c2a * (a * a - b * b) / (b * b)
    aa = 1 + usq / 16384 * (4096 + usq * (-768 + usq * (320 - 175 * usq)))
    bb = usq / 1024 * (256 + usq * (-128 + usq * (74 - 47 * usq)))
    ds = (
        bb
        * ss
        * (c2m + bb / 4 * (cs * (-1 + 2 * c2m * c2m) - bb / 6 * c2m * (-3 + 4 * ss * ss) * (-3 + 4 * c2m * c2m)))
    )
    return b * aa * (sig - ds)


def mrr_diagonal(lons: list[float], lats: list[float]) -> float:
    """MovingPandas' mrr_diagonal with shapely's minimum rotated rectangle."""
    if len(lons) == 2:
        return vincenty(lats[0], lons[0], lats[1], lons[1])
    mrr = MultiPoint(list(zip(lons, lats, strict=True))).minimum_rotated_rectangle
    if isinstance(mrr, Point):
        return 0.0
    if mrr.geom_type == "LineString":
        (x0, y0), (x2, y2) = mrr.coords[0], mrr.coords[-1]
    else:
        xs, ys = mrr.exterior.coords.xy
        x0, y0, x2, y2 = xs[0], ys[0], xs[2], ys[2]
    return vincenty(y0, x0, y2, x2)


def stop_ranges(t: Seq, lat: Seq, lon: Seq, max_d: float, min_dur: float) -> list[tuple[int, int]]:
    """MovingPandas' TrajectoryStopDetector._process_traj, on index lists."""
    out: list[tuple[int, int]] = []
    win: list[int] = []
    stopped = prev = False
    for i in range(len(t)):
        win.append(i)
        if not stopped:
            k = 0
            while len(win[k:]) > 2 and t[win[-1]] - t[win[k]] >= min_dur:
                k += 1
            win = win[k:]
        stopped = False
        if len(win) > 1:
            xs, ys = [lon[j] for j in win], [lat[j] for j in win]
            if vincenty(min(ys), min(xs), max(ys), max(xs)) < max_d * 1.5 and mrr_diagonal(xs, ys) < max_d:
                stopped = True
        if not stopped and prev and len(win) > 1 and t[win[-2]] - t[win[0]] >= min_dur:
            out.append((win[0], win[-2]))
            win = [win[-1]]
        prev = stopped
    if stopped and t[win[-1]] - t[win[0]] >= min_dur:
        out.append((win[0], win[-1]))
    return out


def jump_codes(
    t: Seq, lat: Seq, lon: Seq, speed: Seq, max_kmh: float, jump_min_m: float, teleport_m: float, max_acc: float,
    acc_min_dt: float, moving_kmh: float,
) -> list[int]:  # fmt: skip
    codes = [0] * len(t)
    for i in range(1, len(t)):
        dt = t[i] - t[i - 1]
        d = hav(lat[i - 1], lon[i - 1], lat[i], lon[i])
        too_fast = d > 0 and (dt <= 0 or d / dt * 3.6 > max_kmh)
        if too_fast and d >= teleport_m:
            codes[i] = 2
        elif too_fast and d >= jump_min_m:
            codes[i] = 1
        elif d == 0 and speed[i] >= moving_kmh and speed[i - 1] >= moving_kmh:
            codes[i] = 4
        elif dt > 0:
            acc = 0.0
            if not math.isnan(speed[i]) and not math.isnan(speed[i - 1]):
                acc = abs(speed[i] - speed[i - 1]) / 3.6 / dt
            elif i >= 2 and t[i - 1] > t[i - 2] and dt >= acc_min_dt and t[i - 1] - t[i - 2] >= acc_min_dt:
                v0 = hav(lat[i - 2], lon[i - 2], lat[i - 1], lon[i - 1]) / (t[i - 1] - t[i - 2])
                acc = abs(d / dt - v0) / ((dt + t[i - 1] - t[i - 2]) / 2)
            if acc > max_acc:
                codes[i] = 3
    return codes


def gap_seconds(
    t: Seq, lat: Seq, lon: Seq, speed: Seq, ign: list[int], gap_min_s: float, moving_kmh: float, far_m: float,
    far_min_s: float,
) -> list[float]:  # fmt: skip
    out = [0.0] * len(t)
    for i in range(1, len(t)):
        dt = t[i] - t[i - 1]
        if ign[i - 1] == 0:
            continue
        if not math.isnan(speed[i - 1]):
            moving = speed[i - 1] >= moving_kmh
        elif i >= 2 and t[i - 1] > t[i - 2]:
            moving = hav(lat[i - 2], lon[i - 2], lat[i - 1], lon[i - 1]) / (t[i - 1] - t[i - 2]) * 3.6 >= moving_kmh
        else:
            moving = False
        far = hav(lat[i - 1], lon[i - 1], lat[i], lon[i]) >= far_m
        if moving and (dt >= gap_min_s or (dt >= far_min_s and far)):
            out[i] = dt
    return out


def close_pairs(lat: Seq, lon: Seq, distance_m: float) -> set[tuple[int, int]]:
    return {
        (a, b)
        for a in range(len(lat))
        for b in range(a + 1, len(lat))
        if hav(lat[a], lon[a], lat[b], lon[b]) <= distance_m
    }


def rendezvous(
    fixes: list[tuple[str, float, float, float, float | None]], bucket_s: float, distance_m: float,
    min_duration_s: float, max_gap_s: float, max_speed_kmh: float,
) -> set[tuple[tuple[str, str], int, int, float]]:  # fmt: skip
    """The rendezvous definition (``tracking.rendezvous``, no zones) over ``(device, t_s, lat, lon, speed)`` in time
    order: ``{(pair, first bucket, last bucket, closest metres)}``, comparing all pairs."""
    by_bucket: dict[int, dict[str, tuple[float, float, float, float | None]]] = {}
    for device, t, lat, lon, speed in fixes:
        held = by_bucket.setdefault(math.floor(t / bucket_s), {})
        if device not in held or t >= held[device][0]:
            held[device] = (t, lat, lon, speed)
    previous: dict[str, tuple[float, float, float]] = {}
    runs: dict[tuple[str, str], list[Any]] = {}  # pair -> [first, last, closest]
    out: set[tuple[tuple[str, str], int, int, float]] = set()

    def finish(pair: tuple[str, str], run: list[Any]) -> None:
        if (run[1] - run[0]) * bucket_s >= min_duration_s:
            out.add((pair, run[0], run[1], run[2]))

    for bucket in sorted(by_bucket):
        slow = []
        for device, (t, lat, lon, speed) in sorted(by_bucket[bucket].items()):
            prev = previous.get(device)
            if prev is not None and t > prev[0] and t - prev[0] <= max_gap_s + bucket_s:
                speed = hav(prev[1], prev[2], lat, lon) / (t - prev[0]) * 3.6
            previous[device] = (t, lat, lon)
            if speed is not None and speed <= max_speed_kmh:
                slow.append((device, lat, lon))
        for a in range(len(slow)):
            for b in range(a + 1, len(slow)):
                d = hav(slow[a][1], slow[a][2], slow[b][1], slow[b][2])
                if d > distance_m:
                    continue
                pair = (slow[a][0], slow[b][0])
                run = runs.get(pair)
                if run is not None and (bucket - run[1]) * bucket_s <= max_gap_s:
                    run[1], run[2] = bucket, min(run[2], d)
                    continue
                if run is not None:
                    finish(pair, run)
                runs[pair] = [bucket, bucket, d]
        for pair in list(runs):
            if (bucket - runs[pair][1]) * bucket_s > max_gap_s:
                finish(pair, runs.pop(pair))
    for pair, run in runs.items():
        finish(pair, run)
    return out

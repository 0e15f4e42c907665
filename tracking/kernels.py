"""Numba kernels over one device's fixes.  Private: call them through :mod:`tracking.batch` or :mod:`tracking.live`.

Every kernel takes NumPy ``float64`` arrays already validated by :func:`tracking.track.validate_track`:
``t_s`` (seconds since the epoch, non-decreasing), ``lat``/``lon`` (degrees), ``speed_kmh`` (NaN where
the device gave none) and ``ignition`` (``int8``: -1 unknown, 0 off, 1 on).  The naive oracles in
``tests/tracking/naive.py`` restate each definition in plain Python.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from tracking._geo import EARTH_RADIUS_M, convex_hull_cw, geodesic_m, haversine_m, hull_diagonal_m

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
I64 = npt.NDArray[np.int64]

# Codes of the point-wise GPS-jump kernel, one per fix (about the step from the previous fix).
JUMP_NONE = 0
JUMP_SPEED = 1  # implied speed beyond what a truck can do
JUMP_TELEPORT = 2  # a far jump at an impossible speed
JUMP_ACCELERATION = 3  # speed change beyond what a truck can do
JUMP_FROZEN = 4  # the very same coordinates again while the speed says the truck moves
JUMP_NAMES = ("none", "implied_speed", "teleport", "acceleration", "frozen_coordinates")


# Bound on the haversine distance without a transcendental call (see _jump_codes).
_ASIN_X_MAX = 0.01  # the bound below holds for sqrt(h) <= this (steps up to ~127 km)
_TWO_R_ASIN_SLOPE = 2.0 * EARTH_RADIUS_M * 1.00002  # asin(x) <= 1.0000167 x on [0, 0.01]
_REL_SLACK = 1e-9  # covers every rounding (a few ulps) in the bounds and in the library sin/cos/asin
_ABS_SLACK_H = 1e-300  # covers underflow in the haversine term


@numba.njit(cache=True, inline="always")
def _cos_upper(phi: float) -> float:
    """An upper bound of cos(phi) for every phi: the Taylor polynomial cut after a positive term."""
    p2 = phi * phi
    return 1.0 - 0.5 * p2 + p2 * p2 / 24.0 + 1e-12


@numba.njit(cache=True)
def _jump_codes(
    t_s: F64,
    lat: F64,
    lon: F64,
    speed_kmh: F64,
    max_speed_kmh: float,
    jump_min_m: float,
    teleport_m: float,
    max_accel_ms2: float,
    accel_min_dt_s: float,
    moving_kmh: float,
) -> tuple[I8, F64]:
    """Per fix: a jump code and the value that triggered it (km/h, or m/s^2 for acceleration).

    Same results as :func:`_jump_codes_direct` (bit for bit, tested), faster: each step first gets an
    upper bound ``d_up`` of its haversine distance from polynomials only (``sin(x)^2 <= x^2``, a Taylor
    upper bound of ``cos``, ``asin(x) <= 1.0000167 x`` for short steps), with slack for rounding.  The
    exact distance (the very ``haversine_m`` of the direct kernel) is computed only when the bound
    cannot rule a code out: a step that may be longer than ``min(jump_min_m, teleport_m)`` at an
    implied speed that may exceed ``max_speed_kmh``; a possibly frozen fix (both speeds moving); an
    implied-speed acceleration that may exceed ``max_accel_ms2``.  Ordinary traffic needs no sin, cos
    or asin at all.
    """
    n = t_s.shape[0]
    codes = np.zeros(n, dtype=np.int8)
    values = np.zeros(n)
    if n < 2:
        return codes, values
    near_m = min(jump_min_m, teleport_m)
    speed_cut = max_speed_kmh * (1.0 - _REL_SLACK)
    accel_cut = max_accel_ms2 * (1.0 - _REL_SLACK)
    h_max = _ASIN_X_MAX * _ASIN_X_MAX
    phi_prev = math.radians(lat[0])
    cu_prev = _cos_upper(phi_prev)
    prev_d = -1.0  # exact distance of the previous step, -1 while not computed
    prev_d_up = 0.0
    prev_dt = 0.0
    for i in range(1, n):
        dt = t_s[i] - t_s[i - 1]
        phi = math.radians(lat[i])
        cu = _cos_upper(phi)
        half_dphi = (phi - phi_prev) * 0.5
        half_dlmb = math.radians(lon[i] - lon[i - 1]) * 0.5
        h_up = (half_dphi * half_dphi + cu_prev * cu * (half_dlmb * half_dlmb)) * (1.0 + _REL_SLACK) + _ABS_SLACK_H
        d = -1.0
        if h_up <= h_max:
            d_up = _TWO_R_ASIN_SLOPE * math.sqrt(h_up)
        else:
            d = haversine_m(lat[i - 1], lon[i - 1], lat[i], lon[i])
            d_up = d
        code = 0
        # Implied speed and teleport: need d >= near_m and d / dt * 3.6 > max_speed_kmh.
        if not (d_up < near_m or (dt > 0.0 and d_up * 3.6 < speed_cut * dt)):
            if d < 0.0:
                d = haversine_m(lat[i - 1], lon[i - 1], lat[i], lon[i])
            implied_kmh = np.inf if dt <= 0.0 else d / dt * 3.6
            if d > 0.0 and implied_kmh > max_speed_kmh and d >= teleport_m:
                code = JUMP_TELEPORT
                values[i] = implied_kmh
            elif d > 0.0 and implied_kmh > max_speed_kmh and d >= jump_min_m:
                code = JUMP_SPEED
                values[i] = implied_kmh
        if code == 0 and speed_kmh[i] >= moving_kmh and speed_kmh[i - 1] >= moving_kmh:
            # A half-difference above 1e-100 rad keeps its sin^2 term (times cos*cos >= 3e-33) from
            # underflowing, so the distance is not 0; only (near-)equal coordinates need the exact test.
            if d < 0.0 and abs(half_dphi) <= 1e-100 and abs(half_dlmb) <= 1e-100:
                d = haversine_m(lat[i - 1], lon[i - 1], lat[i], lon[i])
            if d == 0.0:
                code = JUMP_FROZEN
                values[i] = speed_kmh[i]
        if code == 0 and dt > 0.0:
            accel = 0.0
            if not math.isnan(speed_kmh[i]) and not math.isnan(speed_kmh[i - 1]):
                accel = abs(speed_kmh[i] - speed_kmh[i - 1]) / 3.6 / dt
            elif i >= 2 and prev_dt > 0.0 and dt >= accel_min_dt_s and prev_dt >= accel_min_dt_s:
                # |v - prev_v| <= max(v, prev_v) as both are >= 0.
                bound = max(d_up / dt, prev_d_up / prev_dt) / (0.5 * (dt + prev_dt))
                if not (bound < accel_cut):
                    if d < 0.0:
                        d = haversine_m(lat[i - 1], lon[i - 1], lat[i], lon[i])
                    if prev_d < 0.0:
                        prev_d = haversine_m(lat[i - 2], lon[i - 2], lat[i - 1], lon[i - 1])
                    accel = abs(d / dt - prev_d / prev_dt) / (0.5 * (dt + prev_dt))
            if accel > max_accel_ms2:
                code = JUMP_ACCELERATION
                values[i] = accel
        codes[i] = code
        phi_prev = phi
        cu_prev = cu
        prev_d = d
        prev_d_up = d_up
        prev_dt = dt
    return codes, values


@numba.njit(cache=True)
def _jump_codes_direct(
    t_s: F64,
    lat: F64,
    lon: F64,
    speed_kmh: F64,
    max_speed_kmh: float,
    jump_min_m: float,
    teleport_m: float,
    max_accel_ms2: float,
    accel_min_dt_s: float,
    moving_kmh: float,
) -> tuple[I8, F64]:
    """The plain statement of :func:`_jump_codes`, one haversine per step: the fast kernel matches it bit for bit."""
    n = t_s.shape[0]
    codes = np.zeros(n, dtype=np.int8)
    values = np.zeros(n)
    prev_v = np.nan  # implied speed of the previous step, m/s
    prev_dt = 0.0
    for i in range(1, n):
        dt = t_s[i] - t_s[i - 1]
        d = haversine_m(lat[i - 1], lon[i - 1], lat[i], lon[i])
        implied_kmh = np.inf if dt <= 0.0 else d / dt * 3.6
        v = np.nan if dt <= 0.0 else d / dt
        if d > 0.0 and implied_kmh > max_speed_kmh and d >= teleport_m:
            codes[i] = JUMP_TELEPORT
            values[i] = implied_kmh
        elif d > 0.0 and implied_kmh > max_speed_kmh and d >= jump_min_m:
            codes[i] = JUMP_SPEED
            values[i] = implied_kmh
        elif d == 0.0 and speed_kmh[i] >= moving_kmh and speed_kmh[i - 1] >= moving_kmh:
            codes[i] = JUMP_FROZEN
            values[i] = speed_kmh[i]
        elif dt > 0.0:
            accel = 0.0
            if not math.isnan(speed_kmh[i]) and not math.isnan(speed_kmh[i - 1]):
                accel = abs(speed_kmh[i] - speed_kmh[i - 1]) / 3.6 / dt
            elif not math.isnan(prev_v) and dt >= accel_min_dt_s and prev_dt >= accel_min_dt_s:
                accel = abs(v - prev_v) / (0.5 * (dt + prev_dt))
            if accel > max_accel_ms2:
                codes[i] = JUMP_ACCELERATION
                values[i] = accel
        prev_v = v
        prev_dt = dt
    return codes, values


@numba.njit(cache=True)
def _gap_seconds(
    t_s: F64,
    lat: F64,
    lon: F64,
    speed_kmh: F64,
    ignition: I8,
    gap_min_s: float,
    moving_kmh: float,
    far_m: float,
    far_min_s: float,
) -> F64:
    """Per fix: the length of the reporting gap that ends at it, when the truck went dark while moving; else 0.

    Moving before the gap: the last fix's own speed when it has one, else the implied speed of the
    step into the last fix.  A last fix with ignition off is a parked truck, never dark.  A gap counts
    when it lasts ``gap_min_s``, or ``far_min_s`` when the truck reappears at least ``far_m`` away.
    """
    n = t_s.shape[0]
    out = np.zeros(n)
    for i in range(1, n):
        dt = t_s[i] - t_s[i - 1]
        if dt < far_min_s and dt < gap_min_s:
            continue
        if ignition[i - 1] == 0:
            continue
        moving = False
        if not math.isnan(speed_kmh[i - 1]):
            moving = speed_kmh[i - 1] >= moving_kmh
        elif i >= 2 and t_s[i - 1] > t_s[i - 2]:
            step = haversine_m(lat[i - 2], lon[i - 2], lat[i - 1], lon[i - 1])
            moving = step / (t_s[i - 1] - t_s[i - 2]) * 3.6 >= moving_kmh
        if not moving:
            continue
        if dt >= gap_min_s or haversine_m(lat[i - 1], lon[i - 1], lat[i], lon[i]) >= far_m:
            out[i] = dt
    return out


@numba.njit(cache=True)
def _corridor_distance_m(lat: F64, lon: F64, seg: F64) -> F64:
    """Per fix: the distance in metres to the nearest of the segments ``seg[k] = (lat1, lon1, lat2, lon2)``.

    Each segment is projected equirectangularly around the fix (good to a fraction of a percent
    for segments up to tens of kilometres).
    """
    n = lat.shape[0]
    m = seg.shape[0]
    out = np.full(n, np.inf)
    k_m = math.pi / 180.0 * 6_371_008.8
    for i in range(n):
        coslat = math.cos(math.radians(lat[i]))
        best2 = np.inf
        for k in range(m):
            ax = (seg[k, 1] - lon[i]) * coslat * k_m
            ay = (seg[k, 0] - lat[i]) * k_m
            bx = (seg[k, 3] - lon[i]) * coslat * k_m
            by = (seg[k, 2] - lat[i]) * k_m
            dx = bx - ax
            dy = by - ay
            len2 = dx * dx + dy * dy
            r = 0.0 if len2 == 0.0 else -(ax * dx + ay * dy) / len2
            r = min(1.0, max(0.0, r))
            px = ax + r * dx
            py = ay + r * dy
            d2 = px * px + py * py
            if d2 < best2:
                best2 = d2
        out[i] = math.sqrt(best2)
    return out


# --- stop detection (MovingPandas' TrajectoryStopDetector) --------------------------------------
#
# State of one device's stop scan, kept in two small arrays so that the batch loop and the live
# scorer run the very same step:
#   st = [lo, is_stopped, prev_stopped, cache_lo, cache_hi, hull_valid]
#   bb = [min_lon, min_lat, max_lon, max_lat]  (of the window st[3]..st[4])
ST_LO, ST_STOPPED, ST_PREV, ST_CLO, ST_CHI, ST_HULL = 0, 1, 2, 3, 4, 5


def new_stop_state() -> tuple[I64, F64, F64, F64]:
    return np.array([0, 0, 0, -1, -1, 0], dtype=np.int64), np.zeros(4), np.zeros(0), np.zeros(0)


@numba.njit(cache=True)
def _stop_step(
    t_s: F64,
    lat: F64,
    lon: F64,
    i: int,
    st: I64,
    bb: F64,
    hull_lon: F64,
    hull_lat: F64,
    max_diameter_m: float,
    min_duration_s: float,
) -> tuple[int, int, F64, F64]:
    """Feed fix ``i``; returns ``(first, last)`` indices of a stop that ended before it (else -1, -1) and the hull.

    The definition is MovingPandas': the window holds the fixes since the last candidate start;
    while not stopped it is trimmed from the front (keeping at least two fixes) until it spans less
    than ``min_duration_s``; the truck is stopped while the window's minimum-rotated-rectangle
    diagonal (lon/lat plane, WGS84 metres) is below ``max_diameter_m`` (tested only when the
    bounding-box diagonal is below 1.5 times that); a stop ends at the fix before the first one that
    breaks it and counts when it lasted ``min_duration_s``.
    """
    lo = st[ST_LO]
    if st[ST_STOPPED] == 0:
        while i - lo + 1 > 2 and t_s[i] - t_s[lo] >= min_duration_s:
            lo += 1
    st[ST_LO] = lo
    # Bounding box (and hull) of the window lo..i, extended when only a fix was added.
    extended = st[ST_CLO] == lo and st[ST_CHI] == i - 1
    if extended:
        bb[0] = min(bb[0], lon[i])
        bb[1] = min(bb[1], lat[i])
        bb[2] = max(bb[2], lon[i])
        bb[3] = max(bb[3], lat[i])
        if st[ST_HULL] == 1:
            nh = hull_lon.shape[0]
            xs = np.empty(nh + 1)
            ys = np.empty(nh + 1)
            xs[:nh] = hull_lon
            ys[:nh] = hull_lat
            xs[nh] = lon[i]
            ys[nh] = lat[i]
            hull_lon, hull_lat = convex_hull_cw(xs, ys)
    else:
        bb[0] = lon[lo]
        bb[1] = lat[lo]
        bb[2] = lon[lo]
        bb[3] = lat[lo]
        for j in range(lo + 1, i + 1):
            bb[0] = min(bb[0], lon[j])
            bb[1] = min(bb[1], lat[j])
            bb[2] = max(bb[2], lon[j])
            bb[3] = max(bb[3], lat[j])
        st[ST_HULL] = 0
    st[ST_CLO] = lo
    st[ST_CHI] = i
    stopped = 0
    if i - lo + 1 > 1:
        d = geodesic_m(bb[1], bb[0], bb[3], bb[2])
        if d < max_diameter_m * 1.5:
            if st[ST_HULL] == 0:
                hull_lon, hull_lat = convex_hull_cw(lon[lo : i + 1].copy(), lat[lo : i + 1].copy())
                st[ST_HULL] = 1
            if hull_diagonal_m(hull_lon, hull_lat) < max_diameter_m:
                stopped = 1
    first = -1
    last = -1
    if stopped == 0 and st[ST_PREV] == 1 and i - lo + 1 > 1 and t_s[i - 1] - t_s[lo] >= min_duration_s:
        first = lo
        last = i - 1
        st[ST_LO] = i
        st[ST_CLO] = -1
        st[ST_HULL] = 0
    st[ST_STOPPED] = stopped
    st[ST_PREV] = stopped
    return first, last, hull_lon, hull_lat


@numba.njit(cache=True)
def _stop_ranges(t_s: F64, lat: F64, lon: F64, max_diameter_m: float, min_duration_s: float) -> tuple[I64, I64]:
    """Every stop of a track as ``(first, last)`` fix indices, MovingPandas' TrajectoryStopDetector semantics."""
    n = t_s.shape[0]
    st = np.array([0, 0, 0, -1, -1, 0], dtype=np.int64)
    bb = np.zeros(4)
    hull_lon = np.zeros(0)
    hull_lat = np.zeros(0)
    firsts = np.empty(n, dtype=np.int64)
    lasts = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(n):
        first, last, hull_lon, hull_lat = _stop_step(
            t_s, lat, lon, i, st, bb, hull_lon, hull_lat, max_diameter_m, min_duration_s
        )
        if first >= 0:
            firsts[k] = first
            lasts[k] = last
            k += 1
    if n > 0:
        lo = st[ST_LO]
        if st[ST_STOPPED] == 1 and t_s[n - 1] - t_s[lo] >= min_duration_s:
            firsts[k] = lo
            lasts[k] = n - 1
            k += 1
    return firsts[:k].copy(), lasts[:k].copy()


@numba.njit(cache=True)
def _path_length_m(lat: F64, lon: F64, first: int, last: int) -> float:
    total = 0.0
    for j in range(first + 1, last + 1):
        total += haversine_m(lat[j - 1], lon[j - 1], lat[j], lon[j])
    return total


# --- rendezvous: which pairs of trucks are within D metres, by grid hashing --------------------


@numba.njit(cache=True)
def _slow_devices(
    k: I64, t_s: F64, lat: F64, lon: F64, speed_kmh: F64, prev: F64, max_dt_s: float, max_speed_kmh: float
) -> npt.NDArray[np.bool_]:
    """Per fix of a closing bucket (device ``k[j]``): is the device slow enough for a rendezvous?

    The speed is the implied speed since the device's previous bucket position ``prev[:, k]`` (rows
    t_s, lat, lon; NaN time: none) when that is later than ``t_s - max_dt_s``, else the reported speed
    (NaN: unknown, not slow).  ``prev`` is updated to these fixes.
    """
    n = k.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    for j in range(n):
        d = k[j]
        v = speed_kmh[j]
        pt = prev[0, d]
        if not math.isnan(pt) and t_s[j] > pt and t_s[j] - pt <= max_dt_s:
            v = haversine_m(prev[1, d], prev[2, d], lat[j], lon[j]) / (t_s[j] - pt) * 3.6
        prev[0, d] = t_s[j]
        prev[1, d] = lat[j]
        prev[2, d] = lon[j]
        out[j] = not math.isnan(v) and v <= max_speed_kmh
    return out


@numba.njit(cache=True)
def _close_pairs(lat: F64, lon: F64, distance_m: float) -> tuple[I64, I64, F64]:
    """All pairs ``(a, b)``, ``a < b``, of points within ``distance_m`` (haversine), never comparing all pairs.

    The pairs come sorted by ``a``, then ``b``.

    Points are hashed into cells at least ``distance_m`` wide everywhere in the batch (the longitude
    width uses the cosine of the batch's highest latitude), sorted by cell, and each point is compared
    only with the points of its own and the 8 neighbouring cells (three runs of consecutive keys).
    """
    n = lat.shape[0]
    empty_i = np.zeros(0, dtype=np.int64)
    if n < 2:
        return empty_i, empty_i.copy(), np.zeros(0)
    max_abs_lat = 0.0
    for i in range(n):
        max_abs_lat = max(max_abs_lat, abs(lat[i]))
    coslat = max(math.cos(math.radians(min(max_abs_lat, 89.0))), 1e-3)
    cell_lat = distance_m / 6_371_008.8 * 180.0 / math.pi * 1.0001
    cell_lon = cell_lat / coslat
    cx = np.empty(n, dtype=np.int64)
    cy = np.empty(n, dtype=np.int64)
    keys = np.empty(n, dtype=np.int64)
    for i in range(n):
        cx[i] = math.floor((lon[i] + 180.0) / cell_lon)
        cy[i] = math.floor((lat[i] + 90.0) / cell_lat)
        keys[i] = cx[i] * 4_000_000_000 + cy[i]
    order = np.argsort(keys)
    sorted_keys = keys[order]
    cap = 4 * n + 16
    pa = np.empty(cap, dtype=np.int64)
    pb = np.empty(cap, dtype=np.int64)
    pd = np.empty(cap)
    k = 0
    for r in range(n):  # in cell order, so that consecutive searches stay in cache
        i = order[r]
        for ox in range(-1, 2):
            # The cells (cx+ox, cy-1..cy+1) are consecutive keys: one search, then a scan.
            key = (cx[i] + ox) * 4_000_000_000 + (cy[i] - 1)
            key_hi = key + 2
            lo = np.searchsorted(sorted_keys, key)
            while lo < n and sorted_keys[lo] <= key_hi:
                j = order[lo]
                lo += 1
                if j <= i:
                    continue
                d = haversine_m(lat[i], lon[i], lat[j], lon[j])
                if d <= distance_m:
                    if k == cap:
                        cap *= 2
                        na = np.empty(cap, dtype=np.int64)
                        nb = np.empty(cap, dtype=np.int64)
                        nd = np.empty(cap)
                        na[:k] = pa[:k]
                        nb[:k] = pb[:k]
                        nd[:k] = pd[:k]
                        pa, pb, pd = na, nb, nd
                    pa[k] = i
                    pb[k] = j
                    pd[k] = d
                    k += 1
    by_pair = np.argsort(pa[:k] * n + pb[:k])  # canonical order: by first, then second index
    return pa[by_pair], pb[by_pair], pd[by_pair]

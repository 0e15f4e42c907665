"""Geodesy and planar geometry compiled with Numba, shared by every kernel.

* :func:`haversine_m` -- great-circle distance on the IUGG mean sphere (the same radius as
  :mod:`geofence.geodesy`), used for speeds, gaps and proximity.
* :func:`geodesic_m` -- distance on the WGS84 ellipsoid (Vincenty's inverse formula), used where
  the stop detector must measure exactly as MovingPandas does (it uses geopy's WGS84 geodesic).
* :func:`mrr_diagonal_m` -- MovingPandas' ``mrr_diagonal``: the geodesic length of the diagonal of
  the minimum-area rotated rectangle of points taken as planar lon/lat, with the corner choice of
  GEOS' ``MinimumAreaRectangle`` (the first corner is on the base side at the start of the base edge
  of a clockwise hull that starts at its lowest point; the diagonal goes to the opposite corner).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8
WGS84_A = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)


@numba.njit(cache=True, inline="always")
def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi * 0.5) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@numba.njit(cache=True)
def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """WGS84 distance by Vincenty's inverse formula (sub-millimetre for non-antipodal points)."""
    if lat1 == lat2 and lon1 == lon2:
        return 0.0
    f = WGS84_F
    u1 = math.atan((1.0 - f) * math.tan(math.radians(lat1)))
    u2 = math.atan((1.0 - f) * math.tan(math.radians(lat2)))
    big_l = math.radians(lon2 - lon1)
    lam = big_l
    sin_u1, cos_u1 = math.sin(u1), math.cos(u1)
    sin_u2, cos_u2 = math.sin(u2), math.cos(u2)
    sin_sigma = cos_sigma = sigma = cos2_alpha = cos_2sm = 0.0
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.sqrt((cos_u2 * sin_lam) ** 2 + (cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam) ** 2)
        if sin_sigma == 0.0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1.0 - sin_alpha * sin_alpha
        cos_2sm = cos_sigma - 2.0 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha != 0.0 else 0.0
        c = f / 16.0 * cos2_alpha * (4.0 + f * (4.0 - 3.0 * cos2_alpha))
        lam_prev = lam
        lam = big_l + (1.0 - c) * f * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1.0 + 2.0 * cos_2sm * cos_2sm))
        )
        if abs(lam - lam_prev) < 1e-12:
            break
    u_sq = cos2_alpha * (WGS84_A * WGS84_A - WGS84_B * WGS84_B) / (WGS84_B * WGS84_B)
    a_coef = 1.0 + u_sq / 16384.0 * (4096.0 + u_sq * (-768.0 + u_sq * (320.0 - 175.0 * u_sq)))
    b_coef = u_sq / 1024.0 * (256.0 + u_sq * (-128.0 + u_sq * (74.0 - 47.0 * u_sq)))
    delta_sigma = (
        b_coef
        * sin_sigma
        * (
            cos_2sm
            + b_coef
            / 4.0
            * (
                cos_sigma * (-1.0 + 2.0 * cos_2sm * cos_2sm)
                - b_coef / 6.0 * cos_2sm * (-3.0 + 4.0 * sin_sigma * sin_sigma) * (-3.0 + 4.0 * cos_2sm * cos_2sm)
            )
        )
    )
    return WGS84_B * a_coef * (sigma - delta_sigma)


@numba.njit(cache=True, inline="always")
def _cross(ox: float, oy: float, ax: float, ay: float, bx: float, by: float) -> float:
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox)


@numba.njit(cache=True)
def convex_hull_cw(
    xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Convex hull without collinear vertices: clockwise, starting at the lowest (then leftmost) point.

    The ring is open (the first vertex is not repeated).  Returns 1 vertex for identical points and
    2 for collinear ones.
    """
    n = xs.shape[0]
    order = np.argsort(xs, kind="mergesort")
    # Stable sort by x then y.
    sx = xs[order]
    sy = ys[order]
    i = 0
    while i < n:
        j = i
        while j + 1 < n and sx[j + 1] == sx[i]:
            j += 1
        if j > i:
            sub = np.argsort(sy[i : j + 1], kind="mergesort")
            sy[i : j + 1] = sy[i : j + 1][sub]
        i = j + 1
    # Andrew's monotone chain, counter-clockwise, dropping collinear points.
    hx = np.empty(2 * n + 1)
    hy = np.empty(2 * n + 1)
    k = 0
    for i in range(n):
        while k >= 2 and _cross(hx[k - 2], hy[k - 2], hx[k - 1], hy[k - 1], sx[i], sy[i]) <= 0.0:
            k -= 1
        hx[k] = sx[i]
        hy[k] = sy[i]
        k += 1
    lower = k + 1
    for i in range(n - 2, -1, -1):
        while k >= lower and _cross(hx[k - 2], hy[k - 2], hx[k - 1], hy[k - 1], sx[i], sy[i]) <= 0.0:
            k -= 1
        hx[k] = sx[i]
        hy[k] = sy[i]
        k += 1
    m = k - 1 if k > 1 else k
    # Deduplicate the degenerate cases (all points equal gives [p, p]).
    if m == 2 and hx[0] == hx[1] and hy[0] == hy[1]:
        m = 1
    # Reverse to clockwise and rotate to start at the lowest y (then lowest x).
    out_x = np.empty(m)
    out_y = np.empty(m)
    for q in range(m):
        out_x[q] = hx[(m - q) % m]
        out_y[q] = hy[(m - q) % m]
    start = 0
    for q in range(1, m):
        if out_y[q] < out_y[start] or (out_y[q] == out_y[start] and out_x[q] < out_x[start]):
            start = q
    rx = np.empty(m)
    ry = np.empty(m)
    for q in range(m):
        rx[q] = out_x[(start + q) % m]
        ry[q] = out_y[(start + q) % m]
    return rx, ry


@numba.njit(cache=True, inline="always")
def _perp_oriented(p0x: float, p0y: float, p1x: float, p1y: float, px: float, py: float) -> float:
    """Signed perpendicular distance of p from the line p0->p1 (positive on the left), in GEOS' arithmetic."""
    if p0x == p1x and p0y == p1y:
        return math.sqrt((px - p0x) * (px - p0x) + (py - p0y) * (py - p0y))
    dx = p1x - p0x
    dy = p1y - p0y
    len2 = dx * dx + dy * dy
    s = ((p0y - py) * dx - (p0x - px) * dy) / len2
    dist = abs(s) * math.sqrt(len2)
    orientation = dx * (py - p0y) - dy * (px - p0x)
    return -dist if orientation < 0.0 else dist


@numba.njit(cache=True)
def _furthest(
    rx: npt.NDArray[np.float64],
    ry: npt.NDArray[np.float64],
    p0x: float,
    p0y: float,
    p1x: float,
    p1y: float,
    start: int,
    orient: int,
) -> int:
    m = rx.shape[0]
    best = _perp_oriented(p0x, p0y, p1x, p1y, rx[start], ry[start])
    if orient == 0:
        best = abs(best)
    best_index = start
    nxt = start
    nxt_d = best
    while True:
        further = abs(nxt_d) >= abs(best) if orient == 0 else (nxt_d >= best if orient == 1 else nxt_d <= best)
        if not further:
            break
        best = nxt_d
        best_index = nxt
        nxt = (best_index + 1) % m
        if nxt == start:
            break
        nxt_d = _perp_oriented(p0x, p0y, p1x, p1y, rx[nxt], ry[nxt])
        if orient == 0:
            nxt_d = abs(nxt_d)
    return best_index


@numba.njit(cache=True)
def mrr_corners(xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]) -> tuple[float, float, float, float]:
    """Two opposite corners ``(x0, y0, x2, y2)`` of the minimum-area rectangle (planar), as GEOS picks them.

    For a point, both corners are that point; for collinear points, the extreme points.
    """
    rx, ry = convex_hull_cw(xs, ys)
    return mrr_corners_hull(rx, ry)


@numba.njit(cache=True)
def mrr_corners_hull(rx: npt.NDArray[np.float64], ry: npt.NDArray[np.float64]) -> tuple[float, float, float, float]:
    """:func:`mrr_corners` of a hull from :func:`convex_hull_cw`."""
    m = rx.shape[0]
    if m == 1:
        return rx[0], ry[0], rx[0], ry[0]
    if m == 2:
        # GEOS computeMaximumLine: extreme x, or extreme y for a vertical line.
        ax, ay, bx, by = rx[0], ry[0], rx[1], ry[1]
        if ax == bx:
            return ax, min(ay, by), bx, max(ay, by)
        if ax < bx:
            return ax, ay, bx, by
        return bx, by, ax, ay
    best_area = np.inf
    best_base = -1
    best_diam = best_left = best_right = 0
    diam = 1
    left = 1
    right = 0
    for i in range(m):
        b0x, b0y = rx[i], ry[i]
        b1x, b1y = rx[(i + 1) % m], ry[(i + 1) % m]
        diam = _furthest(rx, ry, b0x, b0y, b1x, b1y, diam, 0)
        # The foot of the perpendicular from the diameter point to the base line.
        dx = b1x - b0x
        dy = b1y - b0y
        if rx[diam] == b0x and ry[diam] == b0y:
            fx, fy = b0x, b0y
        elif rx[diam] == b1x and ry[diam] == b1y:
            fx, fy = b1x, b1y
        else:
            r = ((rx[diam] - b0x) * dx + (ry[diam] - b0y) * dy) / (dx * dx + dy * dy)
            fx = b0x + r * dx
            fy = b0y + r * dy
        left = _furthest(rx, ry, fx, fy, rx[diam], ry[diam], left, 1)
        if i == 0:
            right = diam
        right = _furthest(rx, ry, fx, fy, rx[diam], ry[diam], right, -1)
        width = abs(_perp_oriented(fx, fy, rx[diam], ry[diam], rx[left], ry[left])) + abs(
            _perp_oriented(fx, fy, rx[diam], ry[diam], rx[right], ry[right])
        )
        height = math.sqrt((rx[diam] - fx) * (rx[diam] - fx) + (ry[diam] - fy) * (ry[diam] - fy))
        area = height * width
        if area < best_area:
            best_area = area
            best_base = i
            best_diam = diam
            best_left = left
            best_right = right
    b0x, b0y = rx[best_base], ry[best_base]
    b1x, b1y = rx[(best_base + 1) % m], ry[(best_base + 1) % m]
    dx = b1x - b0x
    dy = b1y - b0y
    len2 = dx * dx + dy * dy
    # Corner 0: on the base line, level with the right-side point; corner 2: on the opposite line,
    # level with the left-side point.
    s_right = ((rx[best_right] - b0x) * dx + (ry[best_right] - b0y) * dy) / len2
    s_left = ((rx[best_left] - b0x) * dx + (ry[best_left] - b0y) * dy) / len2
    h = ((rx[best_diam] - b0x) * -dy + (ry[best_diam] - b0y) * dx) / len2
    if rx[best_right] == b0x and ry[best_right] == b0y:
        c0x, c0y = b0x, b0y
    else:
        c0x, c0y = b0x + s_right * dx, b0y + s_right * dy
    if rx[best_left] == rx[best_diam] and ry[best_left] == ry[best_diam]:
        c2x, c2y = rx[best_diam], ry[best_diam]
    else:
        c2x = b0x + s_left * dx - h * dy
        c2y = b0y + s_left * dy + h * dx
    return c0x, c0y, c2x, c2y


@numba.njit(cache=True)
def mrr_diagonal_m(lons: npt.NDArray[np.float64], lats: npt.NDArray[np.float64]) -> float:
    """MovingPandas' ``mrr_diagonal(MultiPoint, spherical=True)`` on lon/lat points, in metres."""
    n = lons.shape[0]
    if n == 1:
        return 0.0
    if n == 2:
        return geodesic_m(lats[0], lons[0], lats[1], lons[1])
    x0, y0, x2, y2 = mrr_corners(lons, lats)
    return geodesic_m(y0, x0, y2, x2)


@numba.njit(cache=True)
def hull_diagonal_m(hull_lons: npt.NDArray[np.float64], hull_lats: npt.NDArray[np.float64]) -> float:
    """:func:`mrr_diagonal_m` of two or more points, given their hull (the result depends on the hull only)."""
    x0, y0, x2, y2 = mrr_corners_hull(hull_lons, hull_lats)
    return geodesic_m(y0, x0, y2, x2)

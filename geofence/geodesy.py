"""Spherical-earth helpers: distances, bearings, destination points, circles.

A sphere of the IUGG mean radius is used throughout.  Errors against the WGS84 ellipsoid stay
below 0.5 %, far under the uncertainty of the approximate crossing coordinates this project uses.
Coordinates are decimal degrees; distances are metres; bearings are degrees clockwise from true
north in ``[0, 360)``.
"""

from __future__ import annotations

import math

#: IUGG mean earth radius.
EARTH_RADIUS_M = 6_371_008.8

LonLat = tuple[float, float]


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def initial_bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle course from point 1 towards point 2."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dlmb = math.radians(lon2 - lon1)
    y = math.sin(dlmb) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlmb)
    return normalize_bearing_deg(math.degrees(math.atan2(y, x)))


def normalize_bearing_deg(bearing_deg: float) -> float:
    value = bearing_deg % 360.0
    # ``-1e-17 % 360`` is 360.0 in floating point; keep the half-open range.
    return 0.0 if value >= 360.0 else value


def destination(lat: float, lon: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """The point reached after ``distance_m`` along the great circle leaving at ``bearing_deg``.

    Returns ``(lat, lon)`` with the longitude normalised to ``[-180, 180)``.
    """
    delta = distance_m / EARTH_RADIUS_M
    theta = math.radians(bearing_deg)
    phi1, lmb1 = math.radians(lat), math.radians(lon)
    sin_phi2 = math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    phi2 = math.asin(max(-1.0, min(1.0, sin_phi2)))
    y = math.sin(theta) * math.sin(delta) * math.cos(phi1)
    x = math.cos(delta) - math.sin(phi1) * sin_phi2
    lmb2 = lmb1 + math.atan2(y, x)
    lon2 = (math.degrees(lmb2) + 540.0) % 360.0 - 180.0
    return math.degrees(phi2), lon2


def intermediate_point(lat1: float, lon1: float, lat2: float, lon2: float, fraction: float) -> tuple[float, float]:
    """The point ``fraction`` of the way along the great circle from point 1 to point 2, as ``(lat, lon)``."""
    if fraction <= 0.0:
        return lat1, lon1
    if fraction >= 1.0:
        return lat2, lon2
    delta = haversine_m(lat1, lon1, lat2, lon2) / EARTH_RADIUS_M
    if delta == 0.0:
        return lat1, lon1
    phi1, lmb1 = math.radians(lat1), math.radians(lon1)
    phi2, lmb2 = math.radians(lat2), math.radians(lon2)
    a = math.sin((1.0 - fraction) * delta) / math.sin(delta)
    b = math.sin(fraction * delta) / math.sin(delta)
    x = a * math.cos(phi1) * math.cos(lmb1) + b * math.cos(phi2) * math.cos(lmb2)
    y = a * math.cos(phi1) * math.sin(lmb1) + b * math.cos(phi2) * math.sin(lmb2)
    z = a * math.sin(phi1) + b * math.sin(phi2)
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def circle_ring(
    lat: float, lon: float, radius_m: float, vertices: int, *, ndigits: int | None = None
) -> tuple[LonLat, ...]:
    """A closed, counter-clockwise ring of ``vertices`` points on the circle of ``radius_m``.

    The ring is inscribed: its edges pass inside the circle by up to ``radius_m * (1 - cos(pi/vertices))``
    (0.5 % of the radius for a 32-gon).  ``ndigits`` rounds the coordinates; the closing point is
    always an exact copy of the first, as GeoJSON requires.
    """
    if vertices < 3:
        raise ValueError(f"a ring needs at least 3 vertices, got {vertices}")
    if not (radius_m > 0.0 and math.isfinite(radius_m)):
        raise ValueError(f"radius_m must be positive and finite, got {radius_m!r}")
    points: list[LonLat] = []
    for k in range(vertices):
        # Decreasing compass bearing walks the circle counter-clockwise on the map (RFC 7946 §3.1.6).
        plat, plon = destination(lat, lon, normalize_bearing_deg(-360.0 * k / vertices), radius_m)
        if ndigits is not None:
            plat, plon = round(plat, ndigits), round(plon, ndigits)
        points.append((plon, plat))
    points.append(points[0])
    return tuple(points)


def local_xy_m(lat0: float, lon0: float, lat: float, lon: float) -> tuple[float, float]:
    """Equirectangular projection around ``(lat0, lon0)``: metres east and north.  Good to a few km."""
    x = math.radians(lon - lon0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    y = math.radians(lat - lat0) * EARTH_RADIUS_M
    return x, y

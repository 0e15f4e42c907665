"""A route as a great-circle polyline measured in metres along its length."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from geofence.geodesy import haversine_m, initial_bearing_deg, intermediate_point, normalize_bearing_deg

LatLon = tuple[float, float]


@dataclass(frozen=True)
class Located:
    """A point on the polyline: position, the course there, and the vertex segment it lies on."""

    lat: float
    lon: float
    heading_deg: float
    segment: int


class Polyline:
    """Vertices ``(lat, lon)`` joined by great-circle arcs; ``locate(distance_m)`` walks along it."""

    def __init__(self, points: Sequence[LatLon]) -> None:
        if len(points) < 2:
            raise ValueError("a polyline needs at least two points")
        self.points: tuple[LatLon, ...] = tuple((float(lat), float(lon)) for lat, lon in points)
        cumulative = [0.0]
        for (lat1, lon1), (lat2, lon2) in zip(self.points, self.points[1:], strict=False):
            cumulative.append(cumulative[-1] + haversine_m(lat1, lon1, lat2, lon2))
        if cumulative[-1] <= 0.0:
            raise ValueError("a polyline needs a positive length")
        #: Distance from the first vertex to each vertex.
        self.cumulative_m: tuple[float, ...] = tuple(cumulative)

    @property
    def length_m(self) -> float:
        return self.cumulative_m[-1]

    def reversed(self) -> Polyline:
        return Polyline(self.points[::-1])

    def locate(self, distance_m: float) -> Located:
        """The point ``distance_m`` along the polyline (clamped to its ends)."""
        s = min(max(distance_m, 0.0), self.length_m)
        i = bisect.bisect_right(self.cumulative_m, s) - 1
        # Skip zero-length segments and stay on the last real segment at the very end.
        i = min(max(i, 0), len(self.points) - 2)
        while i > 0 and self.cumulative_m[i + 1] - self.cumulative_m[i] <= 0.0:
            i -= 1
        seg_len = self.cumulative_m[i + 1] - self.cumulative_m[i]
        (lat1, lon1), (lat2, lon2) = self.points[i], self.points[i + 1]
        fraction = 0.0 if seg_len <= 0.0 else (s - self.cumulative_m[i]) / seg_len
        lat, lon = intermediate_point(lat1, lon1, lat2, lon2, fraction)
        if fraction < 1.0:
            heading = initial_bearing_deg(lat, lon, lat2, lon2)
        else:
            heading = normalize_bearing_deg(initial_bearing_deg(lat2, lon2, lat1, lon1) + 180.0)
        return Located(lat, lon, heading, i)

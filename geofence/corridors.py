"""Transit corridors: polylines with a width, from GeoJSON ``LineString`` features.

A corridor is the approved route of a truck (from its transit declaration) or of a route.  Each
``Feature`` has a ``LineString`` (or ``MultiLineString``) geometry and optional properties
``corridor_id`` (default ``corridor-N``), ``width_m`` (the full width, centred on the line; the
default is given by the caller) and ``device_ids`` (a list, or ``device_id``: the trucks it is
declared for; none means every truck).  Errors raise :class:`CorridorError` with a named ``reason``
(``invalid_geojson``, ``bad_geometry``, ``coordinates_out_of_range``, ``bad_property``).

Distances are metres from a point to the nearest segment, each segment projected equirectangularly
around the point: exact enough (well under 1 %) for segments up to tens of kilometres.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from geofence.geodesy import EARTH_RADIUS_M


class CorridorError(ValueError):
    reason: ClassVar[str] = "invalid_corridor"

    def __init__(self, message: str, *, feature_index: int | None = None) -> None:
        prefix = f"feature {feature_index}: " if feature_index is not None else ""
        super().__init__(f"{self.reason}: {prefix}{message}")
        self.feature_index = feature_index


class InvalidCorridorGeoJSONError(CorridorError):
    reason = "invalid_geojson"


class BadCorridorGeometryError(CorridorError):
    reason = "bad_geometry"


class CorridorCoordinatesOutOfRangeError(CorridorError):
    reason = "coordinates_out_of_range"


class BadCorridorPropertyError(CorridorError):
    reason = "bad_property"


@dataclass(frozen=True)
class Corridor:
    """A polyline (``lines``: one or more runs of ``(lon, lat)``) and its full ``width_m``."""

    corridor_id: str
    lines: tuple[tuple[tuple[float, float], ...], ...]
    width_m: float
    device_ids: frozenset[str] = frozenset()

    def segments(self) -> npt.NDArray[np.float64]:
        """``(k, 4)`` array of segments ``(lat1, lon1, lat2, lon2)``."""
        rows = [(a[1], a[0], b[1], b[0]) for line in self.lines for a, b in itertools.pairwise(line)]
        return np.array(rows, dtype=np.float64).reshape(-1, 4)

    def distance_m(self, lat: float, lon: float) -> float:
        """Distance from the point to the corridor's centre line."""
        return point_to_segments_m(lat, lon, self.segments())

    def applies_to(self, device_id: str) -> bool:
        return not self.device_ids or device_id in self.device_ids


def point_to_segments_m(lat: float, lon: float, segments: npt.NDArray[np.float64]) -> float:
    """Plain-Python distance from a point to the nearest segment ``(lat1, lon1, lat2, lon2)``."""
    k_m = math.pi / 180.0 * EARTH_RADIUS_M
    coslat = math.cos(math.radians(lat))
    best2 = math.inf
    for lat1, lon1, lat2, lon2 in segments.tolist():
        ax, ay = (lon1 - lon) * coslat * k_m, (lat1 - lat) * k_m
        bx, by = (lon2 - lon) * coslat * k_m, (lat2 - lat) * k_m
        dx, dy = bx - ax, by - ay
        len2 = dx * dx + dy * dy
        r = 0.0 if len2 == 0.0 else min(1.0, max(0.0, -(ax * dx + ay * dy) / len2))
        px, py = ax + r * dx, ay + r * dy
        best2 = min(best2, px * px + py * py)
    return math.sqrt(best2)


def _line(value: Any, index: int) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise BadCorridorGeometryError("a LineString needs at least 2 positions", feature_index=index)
    out = []
    for p in value:
        if not isinstance(p, list | tuple) or len(p) < 2:
            raise BadCorridorGeometryError(f"a position must be [lon, lat], got {p!r}", feature_index=index)
        lon, lat = p[0], p[1]
        for v in (lon, lat):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise BadCorridorGeometryError(f"coordinates must be finite numbers, got {p!r}", feature_index=index)
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise CorridorCoordinatesOutOfRangeError(f"position {p!r} out of range", feature_index=index)
        out.append((float(lon), float(lat)))
    return tuple(out)


def corridors_from_geojson(document: Any, *, default_width_m: float = 1000.0) -> list[Corridor]:
    """Corridors from a parsed GeoJSON ``Feature`` or ``FeatureCollection``."""
    if not isinstance(document, Mapping):
        raise InvalidCorridorGeoJSONError("the document must be a GeoJSON object")
    if document.get("type") == "Feature":
        features: Iterable[Any] = [document]
    elif document.get("type") == "FeatureCollection" and isinstance(document.get("features"), list):
        features = document["features"]
    else:
        raise InvalidCorridorGeoJSONError("expected a FeatureCollection or a Feature")
    corridors: list[Corridor] = []
    for index, feature in enumerate(features):
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            raise InvalidCorridorGeoJSONError("each member must be a GeoJSON Feature", feature_index=index)
        props = feature.get("properties") or {}
        if not isinstance(props, Mapping):
            raise InvalidCorridorGeoJSONError("'properties' must be an object", feature_index=index)
        geometry = feature.get("geometry")
        if not isinstance(geometry, Mapping):
            raise BadCorridorGeometryError("the feature has no geometry", feature_index=index)
        coords = geometry.get("coordinates")
        lines: tuple[tuple[tuple[float, float], ...], ...]
        if geometry.get("type") == "LineString":
            lines = (_line(coords, index),)
        elif geometry.get("type") == "MultiLineString" and isinstance(coords, list) and coords:
            lines = tuple(_line(c, index) for c in coords)
        else:
            raise BadCorridorGeometryError(
                f"geometry type {geometry.get('type')!r} is not supported (LineString, MultiLineString)",
                feature_index=index,
            )
        width = props.get("width_m", default_width_m)
        if isinstance(width, bool) or not isinstance(width, int | float) or not (0 < width < 1e6):
            raise BadCorridorPropertyError(f"'width_m' must be a positive number, got {width!r}", feature_index=index)
        corridor_id = props.get("corridor_id", f"corridor-{index}")
        if not isinstance(corridor_id, str) or not corridor_id:
            raise BadCorridorPropertyError("'corridor_id' must be a non-empty string", feature_index=index)
        raw_ids = props.get("device_ids", [props["device_id"]] if "device_id" in props else [])
        if not isinstance(raw_ids, list) or not all(isinstance(d, str) and d for d in raw_ids):
            raise BadCorridorPropertyError("'device_ids' must be a list of strings", feature_index=index)
        corridors.append(Corridor(corridor_id, lines, float(width), frozenset(raw_ids)))
    return corridors


def parse_corridors(text: str | bytes, *, default_width_m: float = 1000.0) -> list[Corridor]:
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCorridorGeoJSONError(f"not valid JSON: {exc}") from exc
    return corridors_from_geojson(document, default_width_m=default_width_m)


def load_corridors(path: str | os.PathLike[str], *, default_width_m: float = 1000.0) -> list[Corridor]:
    with open(path, "rb") as handle:
        return parse_corridors(handle.read(), default_width_m=default_width_m)

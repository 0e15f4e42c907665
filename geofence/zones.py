"""Zones (restricted areas, border posts, approved stops) and a point-in-zone index.

A :class:`Zone` is a polygon in WGS84 longitude/latitude with optional holes.  Zones load from
GeoJSON ``Polygon`` and ``MultiPolygon`` features, and from ``Point`` features with a ``radius_m``
property, which become a 32-gon inscribed in that circle.  Every input error raises a subclass of
:class:`ZoneError` whose ``reason`` names it (``bad_geometry``, ``missing_zone_id``, ...).

Containment uses the even-odd ray-casting rule over all rings of a zone, so holes, and the parts of
a ``MultiPolygon``, need no special treatment.  A point exactly on any ring's edge counts as inside.
Edges are straight lines in longitude/latitude (the RFC 7946 convention), and rings that span more
than 180 degrees of longitude are refused: zones crossing the antimeridian are not supported.

Zone events follow traccar's ``GeofenceEventHandler``: the zones entered are those in the current
set and not in the previous one, the zones exited those in the previous set and not the current one.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any, ClassVar

from cedetect.models import ID_PATTERN
from geofence.geodesy import circle_ring

LonLat = tuple[float, float]
Ring = tuple[LonLat, ...]
Polygon = tuple[Ring, ...]
BBox = tuple[float, float, float, float]  # (min_lon, min_lat, max_lon, max_lat)

#: Vertices of the polygon that stands in for a ``Point`` feature with ``radius_m``.
CIRCLE_VERTICES = 32
#: Largest ``radius_m`` accepted for a ``Point`` zone.
MAX_RADIUS_M = 500_000.0

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ZONE_ID_RE = re.compile(ID_PATTERN)
#: Tolerance, in squared-degree units scaled by the edge length, for "on the edge".
_EDGE_EPS = 1e-12


class ZoneError(ValueError):
    """A zone definition that cannot be used.  ``reason`` names the problem."""

    reason: ClassVar[str] = "invalid_zone"

    def __init__(self, message: str, *, feature_index: int | None = None, zone_id: str | None = None) -> None:
        where = []
        if feature_index is not None:
            where.append(f"feature {feature_index}")
        if zone_id is not None:
            where.append(f"zone {zone_id!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(f"{self.reason}: {prefix}{message}")
        self.detail = message
        self.feature_index = feature_index
        self.zone_id = zone_id


class InvalidGeoJSONError(ZoneError):
    """Not JSON, or not a GeoJSON ``FeatureCollection``/``Feature``."""

    reason = "invalid_geojson"


class BadGeometryError(ZoneError):
    """Missing, unsupported or malformed geometry (open or too short ring, zero area, no radius...)."""

    reason = "bad_geometry"


class CoordinatesOutOfRangeError(ZoneError):
    """A longitude outside [-180, 180] or a latitude outside [-90, 90]."""

    reason = "coordinates_out_of_range"


class MissingZoneIdError(ZoneError):
    """A feature without a non-empty string ``zone_id`` property."""

    reason = "missing_zone_id"


class InvalidZoneIdError(ZoneError):
    """A ``zone_id`` that is not a valid identifier (it travels in MQTT topics and alerts)."""

    reason = "invalid_zone_id"


class DuplicateZoneIdError(ZoneError):
    """Two features with the same ``zone_id``."""

    reason = "duplicate_zone_id"


class BadPropertyError(ZoneError):
    """A ``name``, ``kind`` or ``radius_m`` property of the wrong type or value."""

    reason = "bad_property"


def _check_position(value: Any, feature_index: int | None, zone_id: str | None) -> LonLat:
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise BadGeometryError(
            f"a position must be [lon, lat], got {value!r}", feature_index=feature_index, zone_id=zone_id
        )
    lon, lat = value[0], value[1]
    for number in (lon, lat):
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            raise BadGeometryError(
                f"coordinates must be finite numbers, got {value!r}", feature_index=feature_index, zone_id=zone_id
            )
    if not -180.0 <= lon <= 180.0 or not -90.0 <= lat <= 90.0:
        raise CoordinatesOutOfRangeError(
            f"position {value!r} is outside lon [-180, 180] / lat [-90, 90]",
            feature_index=feature_index,
            zone_id=zone_id,
        )
    return float(lon), float(lat)


def _ring_signed_area(ring: Ring) -> float:
    area = 0.0
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        area += x1 * y2 - x2 * y1
    return area / 2.0


def _check_ring(value: Any, feature_index: int | None, zone_id: str | None) -> Ring:
    if not isinstance(value, list | tuple):
        raise BadGeometryError(
            f"a ring must be a list of positions, got {value!r}", feature_index=feature_index, zone_id=zone_id
        )
    ring = tuple(_check_position(p, feature_index, zone_id) for p in value)
    if len(ring) < 4:
        raise BadGeometryError(
            f"a ring needs at least 4 positions (closed triangle), got {len(ring)}",
            feature_index=feature_index,
            zone_id=zone_id,
        )
    if ring[0] != ring[-1]:
        raise BadGeometryError(
            "a ring must be closed: its last position must equal its first",
            feature_index=feature_index,
            zone_id=zone_id,
        )
    lons = [p[0] for p in ring]
    if max(lons) - min(lons) > 180.0:
        raise BadGeometryError(
            "a ring spans more than 180 degrees of longitude; zones across the antimeridian are not supported",
            feature_index=feature_index,
            zone_id=zone_id,
        )
    if _ring_signed_area(ring) == 0.0:
        raise BadGeometryError("a ring has zero area", feature_index=feature_index, zone_id=zone_id)
    return ring


def _check_polygon(value: Any, feature_index: int | None, zone_id: str | None) -> Polygon:
    if not isinstance(value, list | tuple) or not value:
        raise BadGeometryError(
            f"a polygon must be a non-empty list of rings, got {value!r}", feature_index=feature_index, zone_id=zone_id
        )
    return tuple(_check_ring(r, feature_index, zone_id) for r in value)


def _bbox(polygon: Polygon) -> BBox:
    lons = [p[0] for ring in polygon for p in ring]
    lats = [p[1] for ring in polygon for p in ring]
    return min(lons), min(lats), max(lons), max(lats)


def _on_segment(x: float, y: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    if not (min(x1, x2) <= x <= max(x1, x2) and min(y1, y2) <= y <= max(y1, y2)):
        return False
    cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
    return abs(cross) <= _EDGE_EPS * max(1.0, abs(x2 - x1) + abs(y2 - y1))


def polygon_contains(polygon: Polygon, lon: float, lat: float) -> bool:
    """Even-odd ray casting over every ring; points on an edge are inside."""
    inside = False
    for ring in polygon:
        for (x1, y1), (x2, y2) in itertools.pairwise(ring):
            if _on_segment(lon, lat, x1, y1, x2, y2):
                return True
            if (y1 > lat) != (y2 > lat):
                x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
                if lon < x_cross:
                    inside = not inside
    return inside


@dataclass(frozen=True)
class Zone:
    """A named polygon.  ``polygon`` holds rings of ``(lon, lat)``: outer rings and holes alike.

    ``bbox`` is computed as ``(min_lon, min_lat, max_lon, max_lat)``.  Construction validates the
    geometry and identifiers and raises a :class:`ZoneError` subclass on failure.
    """

    zone_id: str
    name: str
    kind: str
    polygon: Polygon
    properties: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    bbox: BBox = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.zone_id, str) or not self.zone_id.strip():
            raise MissingZoneIdError("zone_id must be a non-empty string")
        if not _ZONE_ID_RE.match(self.zone_id):
            raise InvalidZoneIdError(f"zone_id {self.zone_id!r} does not match {ID_PATTERN}", zone_id=self.zone_id)
        if not isinstance(self.name, str) or not self.name.strip():
            raise BadPropertyError("name must be a non-empty string", zone_id=self.zone_id)
        if not isinstance(self.kind, str) or not KIND_PATTERN.match(self.kind):
            raise BadPropertyError(f"kind must match {KIND_PATTERN.pattern}, got {self.kind!r}", zone_id=self.zone_id)
        polygon = _check_polygon(self.polygon, None, self.zone_id)
        object.__setattr__(self, "polygon", polygon)
        object.__setattr__(self, "properties", MappingProxyType(dict(self.properties)))
        object.__setattr__(self, "bbox", _bbox(polygon))

    def contains(self, lat: float, lon: float) -> bool:
        min_lon, min_lat, max_lon, max_lat = self.bbox
        if not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
            return False
        return polygon_contains(self.polygon, lon, lat)


def _feature_zone(feature: Any, index: int) -> Zone:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise InvalidGeoJSONError("each member of 'features' must be a GeoJSON Feature object", feature_index=index)
    props = feature.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, Mapping):
        raise InvalidGeoJSONError("'properties' must be an object or null", feature_index=index)
    zone_id = props.get("zone_id")
    if not isinstance(zone_id, str) or not zone_id.strip():
        raise MissingZoneIdError("the feature has no non-empty string 'zone_id' property", feature_index=index)
    zone_id = zone_id.strip()
    if not _ZONE_ID_RE.match(zone_id):
        raise InvalidZoneIdError(
            f"zone_id {zone_id!r} does not match {ID_PATTERN}", feature_index=index, zone_id=zone_id
        )
    name = props.get("name", zone_id)
    if not isinstance(name, str) or not name.strip():
        raise BadPropertyError("'name' must be a non-empty string", feature_index=index, zone_id=zone_id)
    kind = props.get("kind", "restricted")
    if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
        raise BadPropertyError(
            f"'kind' must match {KIND_PATTERN.pattern}, got {kind!r}", feature_index=index, zone_id=zone_id
        )

    geometry = feature.get("geometry")
    if not isinstance(geometry, Mapping):
        raise BadGeometryError("the feature has no geometry object", feature_index=index, zone_id=zone_id)
    gtype = geometry.get("type")
    coords = geometry.get("coordinates")
    polygon: Polygon
    if gtype == "Polygon":
        polygon = _check_polygon(coords, index, zone_id)
    elif gtype == "MultiPolygon":
        if not isinstance(coords, list | tuple) or not coords:
            raise BadGeometryError(
                "a MultiPolygon needs a non-empty list of polygons", feature_index=index, zone_id=zone_id
            )
        polygon = tuple(ring for part in coords for ring in _check_polygon(part, index, zone_id))
    elif gtype == "Point":
        lon, lat = _check_position(coords, index, zone_id)
        radius_m = props.get("radius_m")
        if radius_m is None:
            raise BadGeometryError("a Point zone needs a 'radius_m' property", feature_index=index, zone_id=zone_id)
        if (
            isinstance(radius_m, bool)
            or not isinstance(radius_m, int | float)
            or not math.isfinite(radius_m)
            or not 0.0 < radius_m <= MAX_RADIUS_M
        ):
            raise BadPropertyError(
                f"'radius_m' must be a number in (0, {MAX_RADIUS_M:g}], got {radius_m!r}",
                feature_index=index,
                zone_id=zone_id,
            )
        ring = circle_ring(lat, lon, float(radius_m), CIRCLE_VERTICES)
        polygon = (_check_ring(ring, index, zone_id),)
    else:
        raise BadGeometryError(
            f"geometry type {gtype!r} is not supported (Polygon, MultiPolygon, Point with radius_m)",
            feature_index=index,
            zone_id=zone_id,
        )
    extra = {k: v for k, v in props.items() if k not in ("zone_id", "name", "kind")}
    return Zone(zone_id=zone_id, name=name.strip(), kind=kind, polygon=polygon, properties=extra)


def zones_from_geojson(document: Any) -> list[Zone]:
    """Zones from a parsed GeoJSON ``FeatureCollection`` (or a single ``Feature``), in file order."""
    if not isinstance(document, Mapping):
        raise InvalidGeoJSONError("the document must be a GeoJSON object")
    if document.get("type") == "Feature":
        features: Any = [document]
    elif document.get("type") == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise InvalidGeoJSONError("a FeatureCollection needs a 'features' list")
    else:
        raise InvalidGeoJSONError(f"expected a FeatureCollection or Feature, got type {document.get('type')!r}")
    zones: list[Zone] = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        zone = _feature_zone(feature, index)
        if zone.zone_id in seen:
            raise DuplicateZoneIdError(
                "zone_id is used by an earlier feature", feature_index=index, zone_id=zone.zone_id
            )
        seen.add(zone.zone_id)
        zones.append(zone)
    return zones


def parse_zones(text: str | bytes) -> list[Zone]:
    """Zones from GeoJSON text."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidGeoJSONError(f"not valid JSON: {exc}") from exc
    return zones_from_geojson(document)


def load_zones(path: str | os.PathLike[str] | Traversable) -> list[Zone]:
    """Zones from a GeoJSON file (a filesystem path or an ``importlib.resources`` traversable)."""
    if isinstance(path, str | os.PathLike):
        with open(path, "rb") as handle:
            return parse_zones(handle.read())
    return parse_zones(path.read_bytes())


def zones_entered(previous: frozenset[str], current: frozenset[str]) -> frozenset[str]:
    """Zones the device is in now and was not in at the previous fix."""
    return frozenset(current) - frozenset(previous)


def zones_exited(previous: frozenset[str], current: frozenset[str]) -> frozenset[str]:
    """Zones the device was in at the previous fix and is not in now."""
    return frozenset(previous) - frozenset(current)


class ZoneIndex:
    """Answers "which zones contain this point" with a grid prefilter on the zones' bounding boxes.

    Each zone is registered in the ``cell_deg`` grid cells its bbox overlaps; a zone whose bbox
    covers more than ``max_cells_per_zone`` cells is checked for every query instead.  Candidates
    are then tested against the bbox and by ray casting.
    """

    def __init__(self, zones: Iterable[Zone], *, cell_deg: float = 0.25, max_cells_per_zone: int = 4096) -> None:
        if not cell_deg > 0.0:
            raise ValueError(f"cell_deg must be positive, got {cell_deg!r}")
        self._cell_deg = cell_deg
        self._zones: dict[str, Zone] = {}
        self._grid: dict[tuple[int, int], list[Zone]] = {}
        self._large: list[Zone] = []
        self._order: dict[str, int] = {}
        for zone in zones:
            if zone.zone_id in self._zones:
                raise DuplicateZoneIdError("zone_id is used twice in the index", zone_id=zone.zone_id)
            self._zones[zone.zone_id] = zone
            self._order[zone.zone_id] = len(self._order)
            min_lon, min_lat, max_lon, max_lat = zone.bbox
            ix0, iy0 = self._cell(min_lon, min_lat)
            ix1, iy1 = self._cell(max_lon, max_lat)
            if (ix1 - ix0 + 1) * (iy1 - iy0 + 1) > max_cells_per_zone:
                self._large.append(zone)
                continue
            for ix in range(ix0, ix1 + 1):
                for iy in range(iy0, iy1 + 1):
                    self._grid.setdefault((ix, iy), []).append(zone)

    def _cell(self, lon: float, lat: float) -> tuple[int, int]:
        return math.floor(lon / self._cell_deg), math.floor(lat / self._cell_deg)

    def __len__(self) -> int:
        return len(self._zones)

    def __iter__(self) -> Iterator[Zone]:
        return iter(self._zones.values())

    def __contains__(self, zone_id: object) -> bool:
        return zone_id in self._zones

    def get(self, zone_id: str) -> Zone | None:
        return self._zones.get(zone_id)

    @property
    def zones(self) -> tuple[Zone, ...]:
        return tuple(self._zones.values())

    def zones_containing(self, lat: float, lon: float) -> list[Zone]:
        """The zones that contain the point, in the order they were given to the index."""
        if not (math.isfinite(lat) and math.isfinite(lon) and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise ValueError(f"invalid point lat={lat!r} lon={lon!r}")
        # Floating-point division and floor are monotonic, so a point inside a bbox always falls in
        # one of the cells that bbox was registered in, edges included.
        candidates = self._grid.get(self._cell(lon, lat), [])
        found = [zone for zone in (*candidates, *self._large) if zone.contains(lat, lon)]
        return sorted(found, key=lambda z: self._order[z.zone_id])

    def containing(self, lat: float, lon: float) -> frozenset[str]:
        """The ids of the zones that contain the point."""
        return frozenset(z.zone_id for z in self.zones_containing(lat, lon))

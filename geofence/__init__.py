"""Zones (restricted areas, border posts) and point-in-zone queries, plus the shipped geography.

The demo, edge agents and ingest use :func:`default_zones`, :class:`ZoneIndex`, :func:`crossings`
and :func:`borders_geojson`.
"""

from geofence.demo_zones import Crossing, borders_geojson, crossings, default_zones
from geofence.zones import (
    BadGeometryError,
    BadPropertyError,
    CoordinatesOutOfRangeError,
    DuplicateZoneIdError,
    InvalidGeoJSONError,
    InvalidZoneIdError,
    MissingZoneIdError,
    Zone,
    ZoneError,
    ZoneIndex,
    load_zones,
    parse_zones,
    zones_entered,
    zones_exited,
    zones_from_geojson,
)

__all__ = [
    "BadGeometryError",
    "BadPropertyError",
    "CoordinatesOutOfRangeError",
    "Crossing",
    "DuplicateZoneIdError",
    "InvalidGeoJSONError",
    "InvalidZoneIdError",
    "MissingZoneIdError",
    "Zone",
    "ZoneError",
    "ZoneIndex",
    "borders_geojson",
    "crossings",
    "default_zones",
    "load_zones",
    "parse_zones",
    "zones_entered",
    "zones_exited",
    "zones_from_geojson",
]

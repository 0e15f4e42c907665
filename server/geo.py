"""The map layers served by ``/api/v1/geo``: borders, crossings and zones as GeoJSON, built once."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geofence import Crossing, Zone, borders_geojson, crossings, default_zones, load_zones
from server.schemas import Feature, FeatureCollection


@dataclass(frozen=True)
class GeoLayers:
    """Serialized GeoJSON ``FeatureCollection`` documents, ready to send."""

    borders: bytes
    crossings: bytes
    zones: bytes


def load_geo_layers(zones_path: Path | None = None) -> GeoLayers:
    """The shipped borders and crossings, and the zones ingest evaluates (``zones_path`` or the defaults)."""
    zones = load_zones(zones_path) if zones_path is not None else default_zones()
    return GeoLayers(
        borders=_dump(FeatureCollection.model_validate(borders_geojson())),
        crossings=_dump(crossings_collection(crossings())),
        zones=_dump(zones_collection(zones)),
    )


def crossings_collection(items: Iterable[Crossing]) -> FeatureCollection:
    return FeatureCollection(
        features=[
            Feature(
                geometry={"type": "Point", "coordinates": [c.lon, c.lat]},
                properties={
                    "name_tr": c.name_tr,
                    "name_other_side": c.name_other_side,
                    "country": c.country,
                    "neighbour_iso2": c.neighbour_iso2,
                    "province_tr": c.province_tr,
                    "approximate": c.approximate,
                },
            )
            for c in items
        ]
    )


def zones_collection(zones: Sequence[Zone]) -> FeatureCollection:
    """One ``Polygon`` feature per zone holding all its rings, to draw with the even-odd fill rule
    (the rule the geofence uses for containment, so holes and multi-part zones come out right)."""
    return FeatureCollection(
        features=[
            Feature(
                geometry={"type": "Polygon", "coordinates": [[list(p) for p in ring] for ring in zone.polygon]},
                properties={
                    **_json_safe(dict(zone.properties)),
                    "zone_id": zone.zone_id,
                    "name": zone.name,
                    "kind": zone.kind,
                    "bbox": list(zone.bbox),
                },
            )
            for zone in zones
        ]
    )


def _json_safe(value: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return result


def _dump(collection: FeatureCollection) -> bytes:
    return collection.model_dump_json(exclude_none=False).encode()

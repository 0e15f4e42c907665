"""The geography shipped with CEDetect, and the generator of its illustrative zones.

Run time (a fresh clone has no ``../shared``): :func:`default_zones`, :func:`crossings` and
:func:`borders_geojson` read the files in ``geofence/data`` through ``importlib.resources``.

Generation: ``python -m geofence`` rewrites ``restricted_zones.geojson`` and
``border_posts.geojson`` from the shipped crossings and Natural Earth outline (``--check`` only
compares).  The RESTRICTED zones are made up for the demo: a 16-gon of 1.5 km radius centred a few
km from a crossing, at the nearest offset (5-9 km) and the direction (searched every 5 degrees) that puts its centre
deepest inside Turkey's Natural Earth 1:50m outline, with all its vertices inside and its edge at
least 2 km from the straight line to the first town on the main road, so that trucks on the normal
routes do not cross it.  They mark no real place.
Border posts are 800 m circles (``Point`` + ``radius_m``) around each of the 19 crossings.
"""

# ruff: noqa: RUF001, RUF002  (Turkish place names contain the dotless i)

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from geofence.geodesy import circle_ring, destination, initial_bearing_deg, local_xy_m
from geofence.zones import Polygon, Zone, parse_zones, polygon_contains

BORDERS_FILE = "turkey_neighbours_ne50m.geojson"
CROSSINGS_CSV = "turkey_land_border_crossings.csv"
CROSSINGS_GEOJSON = "turkey_land_border_crossings.geojson"
RESTRICTED_FILE = "restricted_zones.geojson"
BORDER_POSTS_FILE = "border_posts.geojson"

#: Crossings that get an illustrative restricted zone nearby, each with the first town on its main
#: road inland (approximate coordinates from general knowledge).  The zone keeps clear of that road.
RESTRICTED_NEAR: dict[str, tuple[str, float, float]] = {
    "Kapıkule": ("Edirne", 41.677, 26.556),
    "Habur": ("Silopi", 37.249, 42.470),
    "Gürbulak": ("Doğubayazıt", 39.547, 44.084),
    "Cilvegözü": ("Reyhanlı", 36.268, 36.567),
}
#: Smallest gap between the zone's edge and the straight line from the crossing to that town.
ROAD_CLEARANCE_M = 2000.0
RESTRICTED_RADIUS_M = 1500.0
RESTRICTED_VERTICES = 16
#: Offsets from the crossing tried in turn; the first with a direction that fits inside Turkey wins.
RESTRICTED_OFFSETS_M = (5000.0, 6000.0, 7000.0, 8000.0, 9000.0)
BEARING_STEP_DEG = 5
BORDER_POST_RADIUS_M = 800.0
COORD_DIGITS = 6
ILLUSTRATIVE_NOTE = "illustrative, approximate"

_ASCII = str.maketrans(
    {
        "ı": "i",
        "İ": "i",
        "ş": "s",
        "Ş": "s",
        "ç": "c",
        "Ç": "c",
        "ğ": "g",
        "Ğ": "g",
        "ü": "u",
        "Ü": "u",
        "ö": "o",
        "Ö": "o",
        "â": "a",
        "î": "i",
        "û": "u",
    }
)


def data_dir() -> Traversable:
    return files("geofence") / "data"


def slug(name: str) -> str:
    """``"Çıldır-Aktaş"`` -> ``"cildir-aktas"``: ASCII, lower case, usable in a zone_id."""
    out = []
    for ch in name.translate(_ASCII).lower():
        out.append(ch if ch.isascii() and ch.isalnum() else "-")
    return "-".join(part for part in "".join(out).split("-") if part)


@dataclass(frozen=True)
class Crossing:
    """A land border crossing.  ``approximate`` marks the 12 whose coordinates come from general knowledge."""

    name_tr: str
    name_other_side: str
    country: str
    lat: float
    lon: float
    approximate: bool
    neighbour_iso2: str
    province_tr: str

    @property
    def slug(self) -> str:
        return slug(self.name_tr)


def parse_crossings_csv(text: str) -> list[Crossing]:
    rows = csv.DictReader(io.StringIO(text))
    out = []
    for row in rows:
        out.append(
            Crossing(
                name_tr=row["name_tr"],
                name_other_side=row["name_other_side"],
                country=row["neighbour_country"],
                lat=float(row["lat"]),
                lon=float(row["lon"]),
                approximate=row["coord_source"].startswith("approximate"),
                neighbour_iso2=row["neighbour_iso2"],
                province_tr=row["province_tr"],
            )
        )
    return out


@cache
def _data_text(name: str) -> str:
    return (data_dir() / name).read_text(encoding="utf-8")


def crossings() -> list[Crossing]:
    """The 19 road crossings of Turkey's land borders, in file order."""
    return parse_crossings_csv(_data_text(CROSSINGS_CSV))


def crossing_by_name(name_tr: str) -> Crossing:
    for crossing in crossings():
        if crossing.name_tr == name_tr:
            return crossing
    raise KeyError(name_tr)


def borders_geojson() -> dict[str, Any]:
    """Natural Earth 1:50m outlines of Turkey and its 8 land neighbours (a fresh dict each call)."""
    document: dict[str, Any] = json.loads(_data_text(BORDERS_FILE))
    return document


def restricted_zones() -> list[Zone]:
    return parse_zones(_data_text(RESTRICTED_FILE))


def border_post_zones() -> list[Zone]:
    return parse_zones(_data_text(BORDER_POSTS_FILE))


def default_zones() -> list[Zone]:
    """The shipped zones: the illustrative restricted zones, then the 19 border posts."""
    return [*restricted_zones(), *border_post_zones()]


# --------------------------------------------------------------------------------------------
# Generation


def country_polygon(borders: dict[str, Any], iso_a3: str) -> Polygon:
    """All rings of one country's (Multi)Polygon, usable with even-odd containment."""
    for feature in borders["features"]:
        if feature["properties"]["ADM0_A3"] == iso_a3:
            geometry = feature["geometry"]
            parts = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
            return tuple(tuple((float(x), float(y)) for x, y in ring) for part in parts for ring in part)
    raise KeyError(iso_a3)


def _origin_to_segment_m(x1: float, y1: float, x2: float, y2: float) -> float:
    dx, dy = x2 - x1, y2 - y1
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0.0 else max(0.0, min(1.0, -(x1 * dx + y1 * dy) / length2))
    return math.hypot(x1 + t * dx, y1 + t * dy)


def distance_to_boundary_m(polygon: Polygon, lat: float, lon: float) -> float:
    """Distance from the point to the nearest edge of any ring (local equirectangular projection)."""
    best = math.inf
    for ring in polygon:
        pts = [local_xy_m(lat, lon, y, x) for x, y in ring]
        for (x1, y1), (x2, y2) in itertools.pairwise(pts):
            best = min(best, _origin_to_segment_m(x1, y1, x2, y2))
    return best


def distance_to_segment_m(lat: float, lon: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance from the point to the segment between ``a`` and ``b`` (each ``(lat, lon)``)."""
    x1, y1 = local_xy_m(lat, lon, a[0], a[1])
    x2, y2 = local_xy_m(lat, lon, b[0], b[1])
    return _origin_to_segment_m(x1, y1, x2, y2)


@dataclass(frozen=True)
class RestrictedSite:
    crossing: Crossing
    centre_lat: float
    centre_lon: float
    bearing_deg: int
    offset_m: float
    ring: tuple[tuple[float, float], ...]
    inland_m: float


def place_restricted_site(crossing: Crossing, turkey: Polygon, town: tuple[float, float]) -> RestrictedSite:
    """The nearest offset, then the direction deepest inside Turkey, that keeps clear of the main road."""
    for offset_m in RESTRICTED_OFFSETS_M:
        best: RestrictedSite | None = None
        for bearing in range(0, 360, BEARING_STEP_DEG):
            lat, lon = destination(crossing.lat, crossing.lon, float(bearing), offset_m)
            lat, lon = round(lat, COORD_DIGITS), round(lon, COORD_DIGITS)
            road_gap_m = distance_to_segment_m(lat, lon, (crossing.lat, crossing.lon), town)
            if road_gap_m - RESTRICTED_RADIUS_M < ROAD_CLEARANCE_M:
                continue
            ring = circle_ring(lat, lon, RESTRICTED_RADIUS_M, RESTRICTED_VERTICES, ndigits=COORD_DIGITS)
            if not all(polygon_contains(turkey, x, y) for x, y in ring):
                continue
            inland_m = distance_to_boundary_m(turkey, lat, lon)
            if best is None or inland_m > best.inland_m:
                best = RestrictedSite(crossing, lat, lon, bearing, offset_m, ring, inland_m)
        if best is not None:
            return best
    raise ValueError(f"no restricted-zone placement fits inside Turkey near {crossing.name_tr}")


def _feature_collection(features: list[dict[str, Any]], description: str) -> dict[str, Any]:
    return {"type": "FeatureCollection", "description": description, "features": features}


def build_restricted_zones(all_crossings: Sequence[Crossing], borders: dict[str, Any]) -> dict[str, Any]:
    turkey = country_polygon(borders, "TUR")
    by_name = {c.name_tr: c for c in all_crossings}
    features = []
    for name, (town, town_lat, town_lon) in RESTRICTED_NEAR.items():
        crossing = by_name[name]
        road_bearing_deg = initial_bearing_deg(crossing.lat, crossing.lon, town_lat, town_lon)
        site = place_restricted_site(crossing, turkey, (town_lat, town_lon))
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "zone_id": f"restricted-{crossing.slug}",
                    "name": f"Restricted area near {crossing.name_tr} (illustrative)",
                    "kind": "restricted",
                    "crossing": crossing.name_tr,
                    "note": ILLUSTRATIVE_NOTE,
                    "centre_lat": site.centre_lat,
                    "centre_lon": site.centre_lon,
                    "radius_m": RESTRICTED_RADIUS_M,
                    "offset_from_crossing_m": site.offset_m,
                    "bearing_from_crossing_deg": site.bearing_deg,
                    "crossing_approximate": crossing.approximate,
                    "main_road_towards": town,
                    "main_road_bearing_deg": round(road_bearing_deg, 1),
                },
                "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in site.ring]]},
            }
        )
    return _feature_collection(
        features,
        "Illustrative RESTRICTED zones for the CEDetect demo; they mark no real restricted area. "
        "Generated by python -m geofence from Natural Earth 1:50m and the crossing list.",
    )


def build_border_posts(all_crossings: Iterable[Crossing]) -> dict[str, Any]:
    features = []
    for crossing in all_crossings:
        note = "800 m circle around the crossing point"
        if crossing.approximate:
            note += "; crossing coordinates approximate (general knowledge, may be off by several km)"
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "zone_id": f"border-post-{crossing.slug}",
                    "name": f"{crossing.name_tr} border post",
                    "kind": "border_post",
                    "crossing": crossing.name_tr,
                    "name_other_side": crossing.name_other_side,
                    "country": crossing.country,
                    "radius_m": BORDER_POST_RADIUS_M,
                    "crossing_approximate": crossing.approximate,
                    "note": note,
                },
                "geometry": {"type": "Point", "coordinates": [crossing.lon, crossing.lat]},
            }
        )
    return _feature_collection(
        features,
        "Border-post zones: a circle (radius_m) around each of Turkey's 19 land road crossings. "
        "Generated by python -m geofence.",
    )


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def generated_files() -> dict[str, str]:
    all_crossings = crossings()
    borders = borders_geojson()
    return {
        RESTRICTED_FILE: dumps(build_restricted_zones(all_crossings, borders)),
        BORDER_POSTS_FILE: dumps(build_border_posts(all_crossings)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate geofence/data zone files.")
    parser.add_argument("--check", action="store_true", help="only compare with the files on disk")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent / "data")
    args = parser.parse_args(argv)
    stale = []
    for name, text in generated_files().items():
        path: Path = args.out_dir / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0

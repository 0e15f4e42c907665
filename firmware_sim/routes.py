"""Approximate transit routes between Turkey's land border crossings, and their generator.

There is no road network in this project (see ``geofence/data/README.md``), so a route is a polyline
of straight (great-circle) legs through the towns a truck passes on the way, roughly along the
E80/E90/E97/E691 corridors.  **Town coordinates are approximate, from general knowledge, not from a
dataset**; a leg can cut corners by kilometres where the real road winds.  Crossing coordinates come
from ``geofence.crossings()``.

One route, the SMUGGLER's, leaves Habur and, instead of taking the road to Silopi, detours through
the centre of the illustrative restricted zone ``restricted-habur`` (read from the shipped zones)
before rejoining the E90.  The normal routes keep clear of every restricted zone
(``tests/firmware_sim/test_routes.py`` checks it).

``python -m firmware_sim.routes [--check]`` regenerates ``firmware_sim/data/routes.geojson``; the
simulator reads that file at run time with :func:`load_routes`.
"""

# ruff: noqa: RUF001  (Turkish place names contain the dotless i)

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from firmware_sim.generated import write_or_check
from firmware_sim.polyline import Polyline
from geofence.demo_zones import crossing_by_name, restricted_zones

ROUTES_FILE = "routes.geojson"
SMUGGLER_ZONE_ID = "restricted-habur"

VertexKind = Literal["crossing", "town", "waypoint"]

#: Approximate town (or junction) coordinates ``(lat, lon)``, from general knowledge.
TOWNS: dict[str, tuple[float, float]] = {
    "Edirne": (41.677, 26.556),
    "Havsa": (41.549, 26.823),
    "Babaeski": (41.433, 27.093),
    "Lüleburgaz": (41.404, 27.357),
    "Çorlu": (41.159, 27.800),
    "Silivri": (41.074, 28.247),
    "İstanbul (İkitelli)": (41.070, 28.800),
    "İstanbul (Kavacık)": (41.090, 29.090),
    "Gebze": (40.800, 29.430),
    "İzmit": (40.765, 29.940),
    "Sapanca": (40.690, 30.270),
    "Düzce": (40.840, 31.160),
    "Bolu": (40.735, 31.610),
    "Gerede": (40.800, 32.200),
    "Kızılcahamam": (40.470, 32.650),
    "Ankara": (39.930, 32.850),
    "Gölbaşı": (39.790, 32.810),
    "Şereflikoçhisar": (38.940, 33.540),
    "Aksaray": (38.370, 34.030),
    "Ulukışla": (37.550, 34.480),
    "Pozantı": (37.430, 34.870),
    "Tarsus": (36.920, 34.890),
    "Mersin": (36.800, 34.630),
    "Adana": (37.000, 35.320),
    "Ceyhan": (37.030, 35.820),
    "Osmaniye": (37.070, 36.250),
    "Gaziantep": (37.070, 37.380),
    "Nizip": (37.010, 37.790),
    "Birecik": (37.030, 37.980),
    "Şanlıurfa": (37.160, 38.790),
    "Viranşehir": (37.230, 39.760),
    "Kızıltepe": (37.190, 40.590),
    "Nusaybin": (37.075, 41.215),
    "Cizre": (37.330, 42.190),
    "Silopi": (37.249, 42.470),
    "Doğubayazıt": (39.547, 44.084),
    "Ağrı": (39.720, 43.050),
    "Horasan": (40.040, 42.170),
    "Erzurum": (39.905, 41.270),
    "Aşkale": (39.920, 40.690),
    "Erzincan": (39.750, 39.490),
    "Refahiye": (39.900, 38.770),
    "Suşehri": (40.160, 38.090),
    "Koyulhisar": (40.300, 37.830),
    "Niksar": (40.590, 36.950),
    "Erbaa": (40.670, 36.570),
    "Amasya": (40.650, 35.830),
    "Merzifon": (40.870, 35.460),
    "Osmancık": (40.970, 34.800),
    "Tosya": (41.020, 34.040),
    "Ilgaz": (40.920, 33.630),
    "Çerkeş": (40.810, 32.890),
    "Hopa": (41.390, 41.420),
    "Arhavi": (41.350, 41.300),
    "Pazar": (41.180, 40.880),
    "Rize": (41.020, 40.520),
    "Of": (40.950, 40.270),
    "Trabzon": (41.000, 39.720),
    "Maçka": (40.810, 39.610),
    "Gümüşhane": (40.460, 39.480),
    "Bayburt": (40.260, 40.230),
    "Reyhanlı": (36.268, 36.567),
    "Kırıkhan": (36.500, 36.360),
    "Belen": (36.490, 36.190),
    "İskenderun": (36.590, 36.170),
    "Dörtyol": (36.840, 36.230),
    "Keşan": (40.860, 26.630),
    "Malkara": (40.890, 26.900),
    "Tekirdağ": (40.980, 27.510),
}

_E80_WEST = [
    "Bolu",
    "Düzce",
    "Sapanca",
    "İzmit",
    "Gebze",
    "İstanbul (Kavacık)",
    "İstanbul (İkitelli)",
    "Silivri",
    "Çorlu",
    "Lüleburgaz",
    "Babaeski",
    "Havsa",
    "Edirne",
]

#: ``route_id -> (name, stops)``; a stop is a crossing (``"crossing:<name_tr>"``), a town in
#: :data:`TOWNS`, or ``"zone:<zone_id>"`` for the centre of a shipped restricted zone.
ROUTE_DEFS: dict[str, tuple[str, list[str]]] = {
    "smuggler-habur": (
        "Habur -> restricted area -> Kızıltepe (SMUGGLER: detours through restricted-habur)",
        ["crossing:Habur", f"zone:{SMUGGLER_ZONE_ID}", "Silopi", "Cizre", "Nusaybin", "Kızıltepe"],
    ),
    "e80-e90-kapikule-habur": (
        "Kapıkule -> İstanbul -> Ankara -> Adana -> Gaziantep -> Habur (E80/E90)",
        [
            "crossing:Kapıkule",
            *reversed(_E80_WEST),
            "Gerede",
            "Kızılcahamam",
            "Ankara",
            "Gölbaşı",
            "Şereflikoçhisar",
            "Aksaray",
            "Ulukışla",
            "Pozantı",
            "Tarsus",
            "Adana",
            "Ceyhan",
            "Osmaniye",
            "Gaziantep",
            "Nizip",
            "Birecik",
            "Şanlıurfa",
            "Viranşehir",
            "Kızıltepe",
            "Nusaybin",
            "Cizre",
            "Silopi",
            "crossing:Habur",
        ],
    ),
    "e80-gurbulak-kapikule": (
        "Gürbulak -> Erzurum -> Amasya -> Bolu -> İstanbul -> Kapıkule (E80)",
        [
            "crossing:Gürbulak",
            "Doğubayazıt",
            "Ağrı",
            "Horasan",
            "Erzurum",
            "Aşkale",
            "Erzincan",
            "Refahiye",
            "Suşehri",
            "Koyulhisar",
            "Niksar",
            "Erbaa",
            "Amasya",
            "Merzifon",
            "Osmancık",
            "Tosya",
            "Ilgaz",
            "Çerkeş",
            "Gerede",
            *_E80_WEST,
            "crossing:Kapıkule",
        ],
    ),
    "e70-e97-sarp-gurbulak": (
        "Sarp -> Trabzon -> Gümüşhane -> Erzurum -> Gürbulak (E70/E97/E80)",
        [
            "crossing:Sarp",
            "Hopa",
            "Arhavi",
            "Pazar",
            "Rize",
            "Of",
            "Trabzon",
            "Maçka",
            "Gümüşhane",
            "Bayburt",
            "Aşkale",
            "Erzurum",
            "Horasan",
            "Ağrı",
            "Doğubayazıt",
            "crossing:Gürbulak",
        ],
    ),
    "e91-e90-cilvegozu-mersin": (
        "Cilvegözü -> İskenderun -> Adana -> Mersin port (E91/E90)",
        [
            "crossing:Cilvegözü",
            "Reyhanlı",
            "Kırıkhan",
            "Belen",
            "İskenderun",
            "Dörtyol",
            "Ceyhan",
            "Adana",
            "Tarsus",
            "Mersin",
        ],
    ),
    "e84-e80-ipsala-ankara": (
        "İpsala -> Tekirdağ -> İstanbul -> Bolu -> Ankara (E84/E80)",
        [
            "crossing:İpsala",
            "Keşan",
            "Malkara",
            "Tekirdağ",
            "Çorlu",
            "Silivri",
            "İstanbul (İkitelli)",
            "İstanbul (Kavacık)",
            "Gebze",
            "İzmit",
            "Sapanca",
            "Düzce",
            "Bolu",
            "Gerede",
            "Kızılcahamam",
            "Ankara",
        ],
    ),
}

ROUTE_NOTE = (
    "approximate: straight great-circle legs between towns, not a road; town coordinates from general "
    "knowledge (may be off by a few km); crossing coordinates from geofence/data"
)


@dataclass(frozen=True)
class Route:
    route_id: str
    name: str
    points: tuple[tuple[float, float], ...]  # (lat, lon)
    vertex_names: tuple[str, ...]
    vertex_kinds: tuple[VertexKind, ...]
    smuggler: bool
    restricted_zone: str | None = None

    def polyline(self) -> Polyline:
        return Polyline(self.points)

    @property
    def length_m(self) -> float:
        return self.polyline().length_m

    def town_distances_m(self) -> tuple[float, ...]:
        """Distance along the route of each vertex that is a town."""
        line = self.polyline()
        return tuple(d for d, kind in zip(line.cumulative_m, self.vertex_kinds, strict=True) if kind == "town")

    def reversed(self) -> Route:
        return Route(
            route_id=self.route_id,
            name=self.name,
            points=self.points[::-1],
            vertex_names=self.vertex_names[::-1],
            vertex_kinds=self.vertex_kinds[::-1],
            smuggler=self.smuggler,
            restricted_zone=self.restricted_zone,
        )


def _resolve(stop: str) -> tuple[str, VertexKind, float, float]:
    if stop.startswith("crossing:"):
        crossing = crossing_by_name(stop.removeprefix("crossing:"))
        return crossing.name_tr, "crossing", crossing.lat, crossing.lon
    if stop.startswith("zone:"):
        zone_id = stop.removeprefix("zone:")
        for zone in restricted_zones():
            if zone.zone_id == zone_id:
                return zone_id, "waypoint", float(zone.properties["centre_lat"]), float(zone.properties["centre_lon"])
        raise KeyError(zone_id)
    lat, lon = TOWNS[stop]
    return stop, "town", lat, lon


def build_routes_geojson() -> dict[str, Any]:
    features = []
    for route_id, (name, stops) in ROUTE_DEFS.items():
        resolved = [_resolve(s) for s in stops]
        zone_ids = [n for n, kind, _, _ in resolved if kind == "waypoint"]
        line = Polyline([(lat, lon) for _, _, lat, lon in resolved])
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "route_id": route_id,
                    "name": name,
                    "approximate": True,
                    "smuggler": bool(zone_ids),
                    "restricted_zone": zone_ids[0] if zone_ids else None,
                    "length_km": round(line.length_m / 1000.0, 1),
                    "vertex_names": [n for n, _, _, _ in resolved],
                    "vertex_kinds": [kind for _, kind, _, _ in resolved],
                    "note": ROUTE_NOTE,
                },
                "geometry": {"type": "LineString", "coordinates": [[lon, lat] for _, _, lat, lon in resolved]},
            }
        )
    return {
        "type": "FeatureCollection",
        "description": "Approximate truck routes for the CEDetect simulator; generated by "
        "python -m firmware_sim.routes",
        "features": features,
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def parse_routes(document: dict[str, Any]) -> list[Route]:
    routes = []
    for feature in document["features"]:
        props = feature["properties"]
        coords = feature["geometry"]["coordinates"]
        routes.append(
            Route(
                route_id=props["route_id"],
                name=props["name"],
                points=tuple((float(lat), float(lon)) for lon, lat in coords),
                vertex_names=tuple(props["vertex_names"]),
                vertex_kinds=tuple(props["vertex_kinds"]),
                smuggler=bool(props["smuggler"]),
                restricted_zone=props.get("restricted_zone"),
            )
        )
    return routes


def load_routes() -> list[Route]:
    """The shipped routes, the smuggler's first."""
    text = (files("firmware_sim") / "data" / ROUTES_FILE).read_text(encoding="utf-8")
    return parse_routes(json.loads(text))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate firmware_sim/data/routes.geojson.")
    parser.add_argument("--check", action="store_true", help="only compare with the file on disk")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / ROUTES_FILE)
    args = parser.parse_args(argv)
    return write_or_check(args.out, dumps(build_routes_geojson()), check=args.check)


if __name__ == "__main__":
    raise SystemExit(main())

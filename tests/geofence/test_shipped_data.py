"""The geography in geofence/data: copies of ../shared, generated zones, and the run-time loaders."""

# ruff: noqa: RUF001  (Turkish place names contain the dotless i)

from __future__ import annotations

from pathlib import Path

import pytest

import geofence
from geofence import ZoneIndex, borders_geojson, crossings, default_zones
from geofence.demo_zones import (
    BORDER_POST_RADIUS_M,
    BORDER_POSTS_FILE,
    RESTRICTED_FILE,
    RESTRICTED_NEAR,
    RESTRICTED_RADIUS_M,
    ROAD_CLEARANCE_M,
    country_polygon,
    crossing_by_name,
    distance_to_segment_m,
    generated_files,
    main,
    restricted_zones,
    slug,
)
from geofence.geodesy import haversine_m
from geofence.zones import polygon_contains

DATA = Path(geofence.__file__).resolve().parent / "data"
COPIED = ["turkey_neighbours_ne50m.geojson", "turkey_land_border_crossings.geojson", "turkey_land_border_crossings.csv"]


@pytest.mark.parametrize("name", COPIED)
def test_copies_equal_shared_originals(name: str, shared_data: Path) -> None:
    assert (DATA / name).read_bytes() == (shared_data / "geo" / name).read_bytes()


def test_generated_files_are_up_to_date() -> None:
    for name, text in generated_files().items():
        assert (DATA / name).read_text(encoding="utf-8") == text, f"run python -m geofence to refresh {name}"
    assert main(["--check"]) == 0


def test_generator_writes_files(tmp_path: Path) -> None:
    assert main(["--check", "--out-dir", str(tmp_path)]) == 1
    assert main(["--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / RESTRICTED_FILE).read_bytes() == (DATA / RESTRICTED_FILE).read_bytes()
    assert (tmp_path / BORDER_POSTS_FILE).read_bytes() == (DATA / BORDER_POSTS_FILE).read_bytes()
    assert main(["--check", "--out-dir", str(tmp_path)]) == 0


def test_crossings() -> None:
    rows = crossings()
    assert len(rows) == 19
    assert sum(c.approximate for c in rows) == 12
    assert {c.name_tr for c in rows if not c.approximate} == {
        "Kapıkule",
        "Hamzabeyli",
        "İpsala",
        "Sarp",
        "Türkgözü",
        "Gürbulak",
        "Habur",
    }
    kapikule = crossing_by_name("Kapıkule")
    assert (kapikule.lat, kapikule.lon, kapikule.country, kapikule.name_other_side) == (
        41.7206,
        26.3594,
        "Bulgaria",
        "Kapitan Andreevo",
    )
    assert crossing_by_name("Cilvegözü").approximate
    assert len({c.slug for c in rows}) == 19
    with pytest.raises(KeyError):
        crossing_by_name("Nowhere")


def test_slug() -> None:
    assert slug("Çıldır-Aktaş") == "cildir-aktas"
    assert slug("İpsala") == "ipsala"
    assert slug("Öncüpınar") == "oncupinar"
    assert slug("Azerbaijan (Nakhchivan)") == "azerbaijan-nakhchivan"


def test_borders() -> None:
    borders = borders_geojson()
    assert borders["type"] == "FeatureCollection"
    assert sorted(f["properties"]["ADM0_A3"] for f in borders["features"]) == [
        "ARM",
        "AZE",
        "BGR",
        "GEO",
        "GRC",
        "IRN",
        "IRQ",
        "SYR",
        "TUR",
    ]
    borders["features"].clear()  # callers get their own copy
    assert len(borders_geojson()["features"]) == 9
    turkey = country_polygon(borders_geojson(), "TUR")
    assert polygon_contains(turkey, 32.85, 39.93)  # Ankara
    assert not polygon_contains(turkey, 23.73, 37.98)  # Athens


def test_default_zones() -> None:
    zones = default_zones()
    kinds = [z.kind for z in zones]
    assert kinds.count("restricted") == len(RESTRICTED_NEAR) == 4
    assert kinds.count("border_post") == 19
    index = ZoneIndex(zones)
    for crossing in crossings():
        assert index.containing(crossing.lat, crossing.lon) == {f"border-post-{crossing.slug}"}


def test_restricted_zones_contain_centre_and_lie_near_their_crossing() -> None:
    turkey = country_polygon(borders_geojson(), "TUR")
    index = ZoneIndex(default_zones())
    zones = restricted_zones()
    assert [z.properties["crossing"] for z in zones] == list(RESTRICTED_NEAR)
    for zone in zones:
        props = zone.properties
        crossing = crossing_by_name(props["crossing"])
        assert zone.kind == "restricted"
        assert zone.zone_id == f"restricted-{crossing.slug}"
        assert props["note"] == "illustrative, approximate"
        lat, lon = props["centre_lat"], props["centre_lon"]
        assert index.containing(lat, lon) == {zone.zone_id}
        assert haversine_m(crossing.lat, crossing.lon, lat, lon) < 10_000.0
        (ring,) = zone.polygon
        assert len(ring) == 17
        for vlon, vlat in ring:
            assert haversine_m(lat, lon, vlat, vlon) == pytest.approx(RESTRICTED_RADIUS_M, abs=0.5)
            assert polygon_contains(turkey, vlon, vlat)
        # Clear of the straight line to the first town on the main road.
        _, town_lat, town_lon = RESTRICTED_NEAR[crossing.name_tr]
        gap_m = distance_to_segment_m(lat, lon, (crossing.lat, crossing.lon), (town_lat, town_lon))
        assert gap_m - RESTRICTED_RADIUS_M >= ROAD_CLEARANCE_M
        # Not touching the border post.
        assert haversine_m(crossing.lat, crossing.lon, lat, lon) > RESTRICTED_RADIUS_M + BORDER_POST_RADIUS_M

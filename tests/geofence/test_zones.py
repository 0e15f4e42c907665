"""Zone loading, validation and point-in-zone on tiny hand-built polygons with exact answers."""

# ruff: noqa: RUF001  (Turkish place names contain the dotless i)

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geofence import (
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
from geofence.geodesy import destination, haversine_m
from geofence.zones import CIRCLE_VERTICES

SQUARE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
# A "C": the notch x in (1, 3), y in (1, 2) is outside.
C_SHAPE = [[0, 0], [3, 0], [3, 1], [1, 1], [1, 2], [3, 2], [3, 3], [0, 3], [0, 0]]
OUTER_4 = [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]
HOLE_1_3 = [[1, 1], [1, 3], [3, 3], [3, 1], [1, 1]]  # clockwise, as RFC 7946 asks of holes


def feature(geometry: dict[str, Any] | None, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def polygon(*rings: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def one_zone(geometry: dict[str, Any], **props: Any) -> Zone:
    props.setdefault("zone_id", "z1")
    zones = zones_from_geojson(collection(feature(geometry, **props)))
    assert len(zones) == 1
    return zones[0]


class TestSquare:
    zone = one_zone(polygon(SQUARE), name="Square", kind="restricted")

    def test_fields(self) -> None:
        assert self.zone.zone_id == "z1"
        assert self.zone.name == "Square"
        assert self.zone.kind == "restricted"
        assert self.zone.bbox == (0.0, 0.0, 1.0, 1.0)
        assert self.zone.polygon == (((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)),)

    @pytest.mark.parametrize(
        ("lat", "lon", "inside"),
        [
            (0.5, 0.5, True),
            (0.999999, 0.000001, True),
            (0.5, 1.5, False),
            (1.5, 0.5, False),
            (-0.000001, 0.5, False),
            (0.5, -0.000001, False),
            # The boundary belongs to the zone: every edge, every corner.
            (0.5, 0.0, True),
            (0.5, 1.0, True),
            (0.0, 0.5, True),
            (1.0, 0.5, True),
            (0.0, 0.0, True),
            (1.0, 1.0, True),
        ],
    )
    def test_contains(self, lat: float, lon: float, inside: bool) -> None:
        assert self.zone.contains(lat, lon) is inside
        assert ZoneIndex([self.zone]).containing(lat, lon) == (frozenset({"z1"}) if inside else frozenset())


@pytest.mark.parametrize(
    ("lat", "lon", "inside"),
    [
        (1.5, 2.0, False),  # in the notch
        (1.5, 0.5, True),  # the back of the C
        (0.5, 2.0, True),  # lower arm
        (2.5, 2.0, True),  # upper arm
        (1.0, 0.5, True),  # the ray runs along the notch's bottom edge, through two vertices
        (2.0, 0.5, True),  # and along its top edge
        (1.5, 3.5, False),  # right of everything, level with the notch
        (1.0, 2.0, True),  # on the notch's bottom edge
        (1.5, 1.0, True),  # on the notch's inner edge
    ],
)
def test_concave(lat: float, lon: float, inside: bool) -> None:
    zone = one_zone(polygon(C_SHAPE))
    assert zone.contains(lat, lon) is inside


@pytest.mark.parametrize(
    ("lat", "lon", "inside"),
    [
        (0.5, 0.5, True),
        (2.0, 2.0, False),  # in the hole
        (2.0, 3.5, True),
        (3.5, 2.0, True),
        (2.0, 1.0, True),  # on the hole's edge: boundary belongs to the zone
        (1.0, 1.0, True),  # hole corner
        (2.5, 1.5, False),
        (5.0, 2.0, False),
    ],
)
def test_polygon_with_hole(lat: float, lon: float, inside: bool) -> None:
    zone = one_zone(polygon(OUTER_4, HOLE_1_3))
    assert zone.contains(lat, lon) is inside


def test_multipolygon_parts_and_holes() -> None:
    left = [OUTER_4, HOLE_1_3]
    right = [[[10, 0], [11, 0], [11, 1], [10, 1], [10, 0]]]
    zone = one_zone({"type": "MultiPolygon", "coordinates": [left, right]})
    assert zone.bbox == (0.0, 0.0, 11.0, 4.0)
    assert len(zone.polygon) == 3
    assert zone.contains(0.5, 0.5)
    assert not zone.contains(2.0, 2.0)
    assert zone.contains(0.5, 10.5)
    assert not zone.contains(0.5, 7.0)  # between the parts, inside the bbox


@pytest.mark.parametrize(
    ("lat", "lon", "inside"),
    [
        (0.0, 179.5, True),
        (0.0, 180.0, True),  # east edge is the antimeridian itself
        (0.0, -179.5, False),  # just across the antimeridian: not inside (no wrapping)
        (0.0, -180.0, False),
        (0.0, 178.9, False),
        (1.0, 179.2, True),
    ],
)
def test_near_antimeridian_without_crossing(lat: float, lon: float, inside: bool) -> None:
    zone = one_zone(polygon([[179, -1], [180, -1], [180, 1], [179, 1], [179, -1]]))
    assert zone.contains(lat, lon) is inside
    assert (ZoneIndex([zone]).containing(lat, lon) == {"z1"}) is inside


def test_west_of_antimeridian_zone() -> None:
    zone = one_zone(polygon([[-180, 10], [-179, 10], [-179, 11], [-180, 11], [-180, 10]]))
    assert zone.contains(10.5, -179.5)
    assert zone.contains(10.5, -180.0)
    assert not zone.contains(10.5, 180.0)


def test_point_with_radius_becomes_32_gon() -> None:
    lat0, lon0, radius_m = 41.0, 29.0, 1000.0
    zone = one_zone({"type": "Point", "coordinates": [lon0, lat0]}, radius_m=radius_m, kind="border_post")
    (ring,) = zone.polygon
    assert len(ring) == CIRCLE_VERTICES + 1
    assert ring[0] == ring[-1]
    for lon, lat in ring[:-1]:
        assert haversine_m(lat0, lon0, lat, lon) == pytest.approx(radius_m, rel=1e-9)
    assert zone.properties["radius_m"] == radius_m
    assert zone.contains(lat0, lon0)
    inscribed_m = radius_m * math.cos(math.pi / CIRCLE_VERTICES)  # 995.2 m
    for bearing in range(0, 360, 7):
        assert zone.contains(*destination(lat0, lon0, bearing, inscribed_m - 1.0))
        assert not zone.contains(*destination(lat0, lon0, bearing, radius_m + 1.0))


def test_defaults_and_extra_properties() -> None:
    zone = one_zone(polygon(SQUARE), zone_id="  z-9  ", crossing="Kapıkule", note="x")
    assert zone.zone_id == "z-9"
    assert zone.name == "z-9"
    assert zone.kind == "restricted"
    assert dict(zone.properties) == {"crossing": "Kapıkule", "note": "x"}
    with pytest.raises(TypeError):
        zone.properties["note"] = "changed"  # type: ignore[index]
    assert hash(zone) == hash(one_zone(polygon(SQUARE), zone_id="z-9", crossing="other"))


def test_single_feature_document_and_text_and_file(tmp_path: Any) -> None:
    doc = feature(polygon(SQUARE), zone_id="solo")
    assert [z.zone_id for z in zones_from_geojson(doc)] == ["solo"]
    text = json.dumps(collection(doc, feature(polygon(SQUARE), zone_id="two")))
    assert [z.zone_id for z in parse_zones(text)] == ["solo", "two"]
    assert [z.zone_id for z in parse_zones(text.encode())] == ["solo", "two"]
    path = tmp_path / "zones.geojson"
    path.write_text(text)
    assert [z.zone_id for z in load_zones(path)] == ["solo", "two"]
    assert [z.zone_id for z in load_zones(str(path))] == ["solo", "two"]


def test_zone_constructor_validates() -> None:
    ring = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0))
    zone = Zone("a", "A", "approved_stop", (ring,))
    assert zone.bbox == (0.0, 0.0, 1.0, 1.0)
    with pytest.raises(MissingZoneIdError):
        Zone("", "A", "restricted", (ring,))
    with pytest.raises(InvalidZoneIdError):
        Zone("a b", "A", "restricted", (ring,))
    with pytest.raises(BadPropertyError):
        Zone("a", "A", "Restricted", (ring,))
    with pytest.raises(BadGeometryError):
        Zone("a", "A", "restricted", (ring[:3],))
    with pytest.raises(CoordinatesOutOfRangeError):
        Zone("a", "A", "restricted", (((0.0, 0.0), (200.0, 0.0), (1.0, 1.0), (0.0, 0.0)),))


BAD_INPUTS: list[tuple[str, Any, type[ZoneError], str, int | None]] = [
    ("not json", "{nope", InvalidGeoJSONError, "invalid_geojson", None),
    ("json list", "[]", InvalidGeoJSONError, "invalid_geojson", None),
    ("geometry document", json.dumps(polygon(SQUARE)), InvalidGeoJSONError, "invalid_geojson", None),
    (
        "features not a list",
        json.dumps({"type": "FeatureCollection", "features": {}}),
        InvalidGeoJSONError,
        "invalid_geojson",
        None,
    ),
    ("member not a feature", json.dumps(collection(polygon(SQUARE))), InvalidGeoJSONError, "invalid_geojson", 0),
    (
        "properties not an object",
        json.dumps(collection({"type": "Feature", "properties": [], "geometry": None})),
        InvalidGeoJSONError,
        "invalid_geojson",
        0,
    ),
    (
        "no zone_id",
        json.dumps(collection(feature(polygon(SQUARE), name="x"))),
        MissingZoneIdError,
        "missing_zone_id",
        0,
    ),
    (
        "null properties",
        json.dumps(collection({"type": "Feature", "properties": None, "geometry": polygon(SQUARE)})),
        MissingZoneIdError,
        "missing_zone_id",
        0,
    ),
    (
        "blank zone_id",
        json.dumps(collection(feature(polygon(SQUARE), zone_id="  "))),
        MissingZoneIdError,
        "missing_zone_id",
        0,
    ),
    (
        "numeric zone_id",
        json.dumps(collection(feature(polygon(SQUARE), zone_id=7))),
        MissingZoneIdError,
        "missing_zone_id",
        0,
    ),
    (
        "zone_id with slash",
        json.dumps(collection(feature(polygon(SQUARE), zone_id="a/b"))),
        InvalidZoneIdError,
        "invalid_zone_id",
        0,
    ),
    (
        "duplicate zone_id",
        json.dumps(collection(feature(polygon(SQUARE), zone_id="a"), feature(polygon(SQUARE), zone_id="a"))),
        DuplicateZoneIdError,
        "duplicate_zone_id",
        1,
    ),
    ("null geometry", json.dumps(collection(feature(None, zone_id="a"))), BadGeometryError, "bad_geometry", 0),
    (
        "line string",
        json.dumps(collection(feature({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, zone_id="a"))),
        BadGeometryError,
        "bad_geometry",
        0,
    ),
    (
        "open ring",
        json.dumps(collection(feature(polygon([*SQUARE[:-1], [0.0, 0.5]]), zone_id="a"))),
        BadGeometryError,
        "bad_geometry",
        0,
    ),
    (
        "ring too short",
        json.dumps(collection(feature(polygon([[0, 0], [1, 1], [0, 0]]), zone_id="a"))),
        BadGeometryError,
        "bad_geometry",
        0,
    ),
    (
        "zero area",
        json.dumps(collection(feature(polygon([[0, 0], [1, 1], [2, 2], [0, 0]]), zone_id="a"))),
        BadGeometryError,
        "bad_geometry",
        0,
    ),
    ("no rings", json.dumps(collection(feature(polygon(), zone_id="a"))), BadGeometryError, "bad_geometry", 0),
    (
        "string coordinate",
        json.dumps(collection(feature(polygon([[0, 0], ["1", 0], [1, 1], [0, 0]]), zone_id="a"))),
        BadGeometryError,
        "bad_geometry",
        0,
    ),
    (
        "boolean coordinate",
        json.dumps(collection(feature(polygon([[0, 0], [True, 0], [1, 1], [0, 0]]), zone_id="a"))),
        BadGeometryError,
        "bad_geometry",
        0,
    ),
    (
        "NaN coordinate",
        '{"type":"Feature","properties":{"zone_id":"a"},"geometry":{"type":"Polygon",'
        '"coordinates":[[[0,0],[NaN,0],[1,1],[0,0]]]}}',
        BadGeometryError,
        "bad_geometry",
        0,
    ),
    (
        "one-number position",
        json.dumps(collection(feature(polygon([[0, 0], [1], [1, 1], [0, 0]]), zone_id="a"))),
        BadGeometryError,
        "bad_geometry",
        0,
    ),
    (
        "across the antimeridian",
        json.dumps(collection(feature(polygon([[179, 0], [-179, 0], [-179, 1], [179, 1], [179, 0]]), zone_id="a"))),
        BadGeometryError,
        "bad_geometry",
        0,
    ),
    (
        "empty multipolygon",
        json.dumps(collection(feature({"type": "MultiPolygon", "coordinates": []}, zone_id="a"))),
        BadGeometryError,
        "bad_geometry",
        0,
    ),
    (
        "point without radius",
        json.dumps(collection(feature({"type": "Point", "coordinates": [1, 1]}, zone_id="a"))),
        BadGeometryError,
        "bad_geometry",
        0,
    ),
    (
        "longitude 181",
        json.dumps(collection(feature(polygon([[0, 0], [181, 0], [1, 1], [0, 0]]), zone_id="a"))),
        CoordinatesOutOfRangeError,
        "coordinates_out_of_range",
        0,
    ),
    (
        "latitude -91",
        json.dumps(collection(feature(polygon([[0, 0], [1, -91], [1, 1], [0, 0]]), zone_id="a"))),
        CoordinatesOutOfRangeError,
        "coordinates_out_of_range",
        0,
    ),
    (
        "point out of range",
        json.dumps(collection(feature({"type": "Point", "coordinates": [0, 95]}, zone_id="a", radius_m=10))),
        CoordinatesOutOfRangeError,
        "coordinates_out_of_range",
        0,
    ),
    (
        "negative radius",
        json.dumps(collection(feature({"type": "Point", "coordinates": [1, 1]}, zone_id="a", radius_m=-5))),
        BadPropertyError,
        "bad_property",
        0,
    ),
    (
        "boolean radius",
        json.dumps(collection(feature({"type": "Point", "coordinates": [1, 1]}, zone_id="a", radius_m=True))),
        BadPropertyError,
        "bad_property",
        0,
    ),
    (
        "kind with spaces",
        json.dumps(collection(feature(polygon(SQUARE), zone_id="a", kind="Restricted Area"))),
        BadPropertyError,
        "bad_property",
        0,
    ),
    (
        "empty name",
        json.dumps(collection(feature(polygon(SQUARE), zone_id="a", name=""))),
        BadPropertyError,
        "bad_property",
        0,
    ),
]


@pytest.mark.parametrize(
    ("text", "error", "reason", "index"),
    [pytest.param(t, e, r, i, id=label) for label, t, e, r, i in BAD_INPUTS],
)
def test_bad_inputs_raise_named_errors(text: str, error: type[ZoneError], reason: str, index: int | None) -> None:
    with pytest.raises(error) as info:
        parse_zones(text)
    assert info.value.reason == reason
    assert str(info.value).startswith(f"{reason}: ")
    assert info.value.feature_index == index
    assert isinstance(info.value, ValueError)


def test_zone_sets_entered_and_exited() -> None:
    before = frozenset({"a", "b"})
    after = frozenset({"b", "c", "d"})
    assert zones_entered(before, after) == frozenset({"c", "d"})
    assert zones_exited(before, after) == frozenset({"a"})
    assert zones_entered(after, after) == frozenset()
    assert zones_exited(frozenset(), after) == frozenset()
    assert zones_entered(frozenset(), after) == after


class TestZoneIndex:
    zones = zones_from_geojson(
        collection(
            feature(polygon(OUTER_4, HOLE_1_3), zone_id="ring"),
            feature(
                polygon([[1.5, 1.5], [2.5, 1.5], [2.5, 2.5], [1.5, 2.5], [1.5, 1.5]]),
                zone_id="core",
                kind="approved_stop",
            ),
            feature(polygon([[-10, -10], [10, -10], [10, 10], [-10, 10], [-10, -10]]), zone_id="big"),
        )
    )

    @pytest.mark.parametrize("max_cells", [4096, 1])
    def test_containing(self, max_cells: int) -> None:
        index = ZoneIndex(self.zones, cell_deg=0.5, max_cells_per_zone=max_cells)
        assert index.containing(0.5, 0.5) == {"ring", "big"}
        assert index.containing(2.0, 2.0) == {"core", "big"}
        assert index.containing(1.2, 1.2) == {"big"}
        assert index.containing(1.5, 1.5) == {"core", "big"}  # a shared corner: on the core's edge
        assert index.containing(20.0, 20.0) == frozenset()
        assert [z.zone_id for z in index.zones_containing(2.0, 2.0)] == ["core", "big"]

    def test_cell_edges(self) -> None:
        # Points on grid-cell lines and on bbox edges that end exactly on them.
        index = ZoneIndex(self.zones, cell_deg=1.0)
        assert index.containing(4.0, 4.0) == {"ring", "big"}
        assert index.containing(0.0, 2.0) == {"ring", "big"}
        assert index.containing(10.0, -10.0) == {"big"}

    def test_lookup(self) -> None:
        index = ZoneIndex(self.zones)
        assert len(index) == 3
        assert [z.zone_id for z in index] == ["ring", "core", "big"]
        assert "core" in index
        assert index.get("core") is self.zones[1]
        assert index.get("missing") is None
        assert index.zones == tuple(self.zones)

    def test_refuses_duplicates_and_bad_points(self) -> None:
        with pytest.raises(DuplicateZoneIdError):
            ZoneIndex([self.zones[0], self.zones[0]])
        index = ZoneIndex(self.zones)
        for lat, lon in ((math.nan, 0.0), (0.0, math.inf), (91.0, 0.0), (0.0, -180.5)):
            with pytest.raises(ValueError, match="invalid point"):
                index.containing(lat, lon)
        with pytest.raises(ValueError, match="cell_deg"):
            ZoneIndex(self.zones, cell_deg=0.0)


@given(
    x0=st.floats(-170, 160),
    y0=st.floats(-80, 70),
    w=st.floats(0.001, 10),
    h=st.floats(0.001, 10),
    fx=st.floats(-0.5, 1.5),
    fy=st.floats(-0.5, 1.5),
)
def test_rectangles_match_interval_arithmetic(x0: float, y0: float, w: float, h: float, fx: float, fy: float) -> None:
    x1, y1 = x0 + w, y0 + h
    zone = Zone("r", "R", "restricted", (((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)),))
    lon, lat = x0 + fx * w, y0 + fy * h
    expected = x0 <= lon <= x1 and y0 <= lat <= y1
    assert zone.contains(lat, lon) is expected
    assert (ZoneIndex([zone]).containing(lat, lon) == {"r"}) is expected

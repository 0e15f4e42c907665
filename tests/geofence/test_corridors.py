"""Corridor loading and point-to-corridor distances on hand-built lines."""

from __future__ import annotations

import json

import pytest

from geofence.corridors import Corridor, CorridorError, corridors_from_geojson, parse_corridors
from geofence.geodesy import destination


def line_feature(coords: list[list[float]], **props: object) -> dict[str, object]:
    return {"type": "Feature", "properties": props, "geometry": {"type": "LineString", "coordinates": coords}}


def test_load_feature_and_collection() -> None:
    one = corridors_from_geojson(line_feature([[42.0, 37.0], [43.0, 37.0]], width_m=800, device_ids=["t1"]))
    assert one == [Corridor("corridor-0", (((42.0, 37.0), (43.0, 37.0)),), 800.0, frozenset({"t1"}))]
    coll = {"type": "FeatureCollection", "features": [line_feature([[0, 0], [1, 0]], corridor_id="r1")]}
    (c,) = corridors_from_geojson(coll, default_width_m=1200)
    assert c.corridor_id == "r1"
    assert c.width_m == 1200
    assert c.applies_to("anyone")


@pytest.mark.parametrize("distance_m", [0.0, 150.0, 2500.0])
def test_distance_from_the_line(distance_m: float) -> None:
    (c,) = corridors_from_geojson(line_feature([[42.0, 37.0], [42.5, 37.0]]))
    lat, lon = destination(37.0, 42.2, 0.0, distance_m)
    assert c.distance_m(lat, lon) == pytest.approx(distance_m, rel=0.002, abs=0.01)
    # beyond the end of the line: distance to the end point
    lat, lon = destination(37.0, 42.5, 90.0, distance_m)
    assert c.distance_m(lat, lon) == pytest.approx(distance_m, rel=0.002, abs=0.01)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "invalid_geojson"),
        (
            json.dumps({"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}}),
            "bad_geometry",
        ),
        (json.dumps(line_feature([[0, 0]])), "bad_geometry"),
        (json.dumps(line_feature([[0, 0], [200, 0]])), "coordinates_out_of_range"),
        (json.dumps(line_feature([[0, 0], [1, 0]], width_m=-5)), "bad_property"),
    ],
)
def test_errors_are_named(text: str, reason: str) -> None:
    with pytest.raises(CorridorError) as info:
        parse_corridors(text)
    assert info.value.reason == reason

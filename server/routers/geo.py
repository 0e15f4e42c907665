"""GET /geo/borders, /geo/crossings, /geo/zones: the map layers as GeoJSON FeatureCollections."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from server.geo import GeoLayers
from server.schemas import FeatureCollection

router = APIRouter(prefix="/geo", tags=["geo"])

_CACHE = "public, max-age=3600"


def get_layers(request: Request) -> GeoLayers:
    layers = getattr(request.app.state, "geo_layers", None)
    if not isinstance(layers, GeoLayers):
        raise RuntimeError("the geo layers were not loaded by create_app")
    return layers


LayersDep = Annotated[GeoLayers, Depends(get_layers)]


def _geojson(body: bytes) -> Response:
    return Response(body, media_type="application/geo+json", headers={"Cache-Control": _CACHE})


@router.get("/borders", response_model=FeatureCollection, response_class=Response)
async def borders(layers: LayersDep) -> Response:
    """Natural Earth 1:50m outlines of Turkey and its land neighbours."""
    return _geojson(layers.borders)


@router.get("/crossings", response_model=FeatureCollection, response_class=Response)
async def border_crossings(layers: LayersDep) -> Response:
    """Turkey's land road crossings as points (``approximate`` marks estimated coordinates)."""
    return _geojson(layers.crossings)


@router.get("/zones", response_model=FeatureCollection, response_class=Response)
async def zones(layers: LayersDep) -> Response:
    """The zones alerts refer to (``kind``: ``restricted``, ``border_post``...), rings under the even-odd rule."""
    return _geojson(layers.zones)

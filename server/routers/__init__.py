"""One router per resource, all mounted under ``/api/v1`` (the page router at ``/``)."""

from __future__ import annotations

from fastapi import APIRouter

from server.routers import (
    alerts,
    anomalies,
    declarations,
    detections,
    devices,
    geo,
    health,
    live,
    outcomes,
    positions,
    profiles,
)

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (
        health,
        positions,
        devices,
        alerts,
        live,
        geo,
        detections,
        declarations,
        profiles,
        outcomes,
        anomalies,
    ):
        router.include_router(module.router)
    return router

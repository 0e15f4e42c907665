"""GET /health: the database answers and the schema is migrated; 503 database_unavailable if not."""

from __future__ import annotations

from fastapi import APIRouter

from cedetect import __version__
from server.db import migration_version
from server.deps import DbDep, StateDep
from server.errors import ERROR_RESPONSES
from server.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses=ERROR_RESPONSES)
async def health(db: DbDep, state: StateDep) -> Health:
    return Health(
        migration_version=await migration_version(db),
        alert_listener="listening" if state.listener.connected else "reconnecting",
        live_clients=state.hub.client_count,
        version=__version__,
    )

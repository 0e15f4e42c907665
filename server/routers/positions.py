"""GET /positions: stored fixes, filtered by device and time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.db import fetch_positions
from server.deps import DbDep
from server.errors import ERROR_RESPONSES
from server.routers.params import DeviceIdFilter, Since, Until, check_range
from server.schemas import PositionRecord

router = APIRouter(tags=["positions"])

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


@router.get("/positions", response_model=list[PositionRecord], responses=ERROR_RESPONSES)
async def list_positions(
    db: DbDep,
    device_id: DeviceIdFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> list[PositionRecord]:
    """Fixes ordered by time, oldest first.

    With ``since``: the first ``limit`` fixes at or after it (page on with the last ``time_utc``).
    Without: the ``limit`` most recent fixes.  Flagged fixes are included, with their ``flags``.
    """
    check_range(since, until)
    rows = await fetch_positions(db, device_id=device_id, since=since, until=until, limit=limit)
    return [PositionRecord.model_validate(row) for row in rows]

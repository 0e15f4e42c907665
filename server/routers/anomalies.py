"""GET /anomalies (trajectory anomalies found live by ingest, newest first) and GET /anomalies/{anomaly_id}."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from cedetect.models import AnomalyKind, EvidenceFix
from cedetect.storage import where_filters
from server.deps import DbDep
from server.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, NotFoundError
from server.routers.params import DeviceIdFilter, Since, Until, check_range

router = APIRouter(tags=["anomalies"])

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class AnomalyRecord(BaseModel):
    """A stored anomaly (:class:`cedetect.models.Anomaly`) with when ingest stored it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    anomaly_id: uuid.UUID
    stored_utc: datetime
    kind: AnomalyKind
    device_ids: tuple[str, ...]
    start_utc: datetime
    end_utc: datetime
    latitude: float
    longitude: float
    score: float
    reason: str
    zone_id: str | None
    evidence: tuple[EvidenceFix, ...]
    details: dict[str, Any]


_COLUMNS = (
    "anomaly_id", "stored_utc", "kind", "device_ids", "start_utc", "end_utc", "latitude", "longitude", "score",
    "reason", "zone_id", "evidence", "details",
)  # fmt: skip
_SELECT = sql.SQL("SELECT {} FROM anomalies").format(sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMNS))


@router.get("/anomalies", response_model=list[AnomalyRecord], responses=ERROR_RESPONSES)
async def list_anomalies(
    db: DbDep,
    since: Since = None,
    until: Until = None,
    kind: AnomalyKind | None = None,
    device_id: DeviceIdFilter = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0, description="only anomalies scored at least this")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> list[AnomalyRecord]:
    """Anomalies whose time span ``[start_utc, end_utc]`` meets ``[since, until)``, newest start first."""
    check_range(since, until)
    where, params = where_filters(
        ("end_utc >= %s", since),
        ("start_utc < %s", until),
        ("kind = %s", kind.value if kind is not None else None),
        ("device_ids @> ARRAY[%s]::text[]", device_id),
        ("score >= %s", min_score),
    )
    query = _SELECT + where + sql.SQL(" ORDER BY start_utc DESC, stored_seq DESC LIMIT %s")
    params.append(limit)
    async with db.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows: list[dict[str, Any]] = await cur.fetchall()
    return [AnomalyRecord.model_validate(row) for row in rows]


@router.get(
    "/anomalies/{anomaly_id}", response_model=AnomalyRecord, responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSE}
)
async def get_anomaly(db: DbDep, anomaly_id: uuid.UUID) -> AnomalyRecord:
    async with db.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT + sql.SQL(" WHERE anomaly_id = %s"), (anomaly_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"anomaly {anomaly_id} not found")
    return AnomalyRecord.model_validate(row)

"""GET /alerts (newest first), GET /alerts/{alert_id}, and an alert's handling status.

An analyst works an alert through assess → decide → respond → record (the outcome, ``POST /outcomes``).
``GET /alerts/{alert_id}/status`` says where it stands; ``PUT /alerts/{alert_id}/status`` moves it
(``{"status": "assessing"}``).  Statuses: ``new`` (as raised), ``assessing``, ``decided``, ``responding``,
``closed`` (outcome recorded), ``dismissed`` (no action).  Any status may follow any other: an alert is
reopened by setting it back.  ``GET /alerts/statuses`` lists the alerts whose status is not ``new``.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from cedetect.models import Alert, AlertSeverity
from server.db import fetch_alert, fetch_alerts
from server.deps import DbDep
from server.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, NotFoundError
from server.routers.params import DeviceIdFilter, Since, Until, check_range

router = APIRouter(tags=["alerts"])

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@router.get("/alerts", response_model=list[Alert], responses=ERROR_RESPONSES)
async def list_alerts(
    db: DbDep,
    since: Since = None,
    until: Until = None,
    kind: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    severity: AlertSeverity | None = None,
    device_id: DeviceIdFilter = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> list[Alert]:
    """Alerts whose event time (``time_utc``) is in ``[since, until)``, newest first."""
    check_range(since, until)
    return await fetch_alerts(
        db,
        since=since,
        until=until,
        kind=kind,
        severity=severity.value if severity is not None else None,
        device_id=device_id,
        limit=limit,
    )


class AlertStatusOut(BaseModel):
    alert_id: uuid.UUID
    status: str


@router.get("/alerts/statuses", response_model=list[AlertStatusOut], responses=ERROR_RESPONSES)
async def list_alert_statuses(
    db: DbDep, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
) -> list[AlertStatusOut]:
    """The alerts being or done being handled (status other than ``new``), most recently raised first:
    what the command-centre page marks in its list, whoever set it."""
    cur = await db.execute(
        "SELECT alert_id, status FROM alerts WHERE status <> 'new' ORDER BY created_utc DESC, alert_id LIMIT %s",
        (limit,),
    )
    return [AlertStatusOut(alert_id=row[0], status=str(row[1])) for row in await cur.fetchall()]


@router.get("/alerts/{alert_id}", response_model=Alert, responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSE})
async def get_alert(db: DbDep, alert_id: uuid.UUID) -> Alert:
    alert = await fetch_alert(db, alert_id)
    if alert is None:
        raise NotFoundError(f"alert {alert_id} not found")
    return alert


class AlertStatus(StrEnum):
    NEW = "new"
    ASSESSING = "assessing"
    DECIDED = "decided"
    RESPONDING = "responding"
    CLOSED = "closed"
    DISMISSED = "dismissed"


class AlertStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AlertStatus


@router.get(
    "/alerts/{alert_id}/status", response_model=AlertStatusOut, responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSE}
)
async def get_alert_status(db: DbDep, alert_id: uuid.UUID) -> AlertStatusOut:
    cur = await db.execute("SELECT status FROM alerts WHERE alert_id = %s", (alert_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"alert {alert_id} not found")
    return AlertStatusOut(alert_id=alert_id, status=str(row[0]))


@router.put(
    "/alerts/{alert_id}/status", response_model=AlertStatusOut, responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSE}
)
async def put_alert_status(db: DbDep, alert_id: uuid.UUID, body: AlertStatusIn) -> AlertStatusOut:
    """Set the alert's handling status (idempotent: the same status twice leaves it as it is)."""
    cur = await db.execute(
        "UPDATE alerts SET status = %s WHERE alert_id = %s RETURNING status", (body.status.value, alert_id)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"alert {alert_id} not found")
    return AlertStatusOut(alert_id=alert_id, status=str(row[0]))

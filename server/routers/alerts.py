"""GET /alerts (newest first) and GET /alerts/{alert_id}."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

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


@router.get("/alerts/{alert_id}", response_model=Alert, responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSE})
async def get_alert(db: DbDep, alert_id: uuid.UUID) -> Alert:
    alert = await fetch_alert(db, alert_id)
    if alert is None:
        raise NotFoundError(f"alert {alert_id} not found")
    return alert

"""GET /devices (latest fix per device) and GET /devices/{device_id}/track."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from cedetect.models import ID_PATTERN
from server.db import POSITION_RECORD_COLUMNS, device_exists, fetch_devices, fetch_positions
from server.deps import DbDep
from server.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, NotFoundError
from server.routers.params import AwareUtc, Since, Until, check_range
from server.routers.positions import DEFAULT_LIMIT, MAX_LIMIT
from server.schemas import DeviceStatusRecord, DeviceSummary, DeviceTrack, PositionRecord, TrackPoint

router = APIRouter(tags=["devices"])

MAX_TRAIL = 200


@router.get("/devices", response_model=list[DeviceSummary], responses=ERROR_RESPONSES)
async def list_devices(
    db: DbDep,
    trail: Annotated[int, Query(ge=0, le=MAX_TRAIL, description="how many latest fixes to add as a trail")] = 0,
    since: Annotated[
        AwareUtc | None, Query(description="only devices whose latest usable fix is at or after this time")
    ] = None,
) -> list[DeviceSummary]:
    """Every device with its latest usable fix (valid, not 0,0, not in the future), ordered by id.

    ``status`` is the device's retained presence when one was reported; ``zone_ids`` the zones
    it was in at its last evaluated fix.
    """
    rows = await fetch_devices(db, trail=trail, since=since)
    return [_summary(row) for row in rows]


@router.get(
    "/devices/{device_id}/track",
    response_model=DeviceTrack,
    responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSE},
)
async def device_track(
    db: DbDep,
    device_id: Annotated[str, Path(pattern=ID_PATTERN)],
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> DeviceTrack:
    """The device's fixes, oldest first (same paging as ``GET /positions``); 404 for an unknown device."""
    check_range(since, until)
    rows = await fetch_positions(db, device_id=device_id, since=since, until=until, limit=limit)
    if not rows and not await device_exists(db, device_id):
        raise NotFoundError(f"no positions were ever stored for device {device_id!r}")
    return DeviceTrack(device_id=device_id, positions=[PositionRecord.model_validate(row) for row in rows])


def _summary(row: dict[str, Any]) -> DeviceSummary:
    position = PositionRecord.model_validate({column: row[column] for column in POSITION_RECORD_COLUMNS})
    status = None
    if row["status_kind"] is not None:
        status = DeviceStatusRecord(
            kind=row["status_kind"],
            state=row["status_state"],
            time_utc=row["status_time_utc"],
            site=row["status_site"],
            protocol=row["status_protocol"],
            detail=row["status_detail"],
        )
    times, lats, lons = row["trail_times"] or [], row["trail_lats"] or [], row["trail_lons"] or []
    trail = [TrackPoint(time_utc=t, latitude=lat, longitude=lon) for t, lat, lon in zip(times, lats, lons, strict=True)]
    return DeviceSummary(
        device_id=position.device_id,
        last_position=position,
        trail=trail,
        status=status,
        zone_ids=list(row["zone_ids"] or []),
    )

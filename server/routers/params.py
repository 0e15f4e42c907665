"""Query parameters shared by the routers: UTC-aware times (a naive time is a 422), device ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime

from cedetect.models import ID_PATTERN
from server.errors import INVALID_REQUEST, ApiError


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


AwareUtc = Annotated[AwareDatetime, AfterValidator(_utc)]

Since = Annotated[
    AwareUtc | None,
    Query(description="ISO-8601 time with an offset, e.g. 2025-01-31T08:00:00Z (inclusive)"),
]
Until = Annotated[
    AwareUtc | None,
    Query(description="ISO-8601 time with an offset (exclusive)"),
]
DeviceIdFilter = Annotated[str | None, Query(pattern=ID_PATTERN, description="only this device")]


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise ApiError(422, INVALID_REQUEST, "'since' must be earlier than 'until'")

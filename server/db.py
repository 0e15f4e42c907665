"""Queries shared by the routers and the alert listener, on psycopg async connections."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow, dict_row
from pydantic import ValidationError

from cedetect.models import UNPLACEABLE_FLAGS, Alert
from cedetect.storage import ALERT_COLUMNS, POSITION_COLUMNS, alert_from_row, where_filters

log = logging.getLogger(__name__)

Connection = AsyncConnection[TupleRow]

_ALERT_SELECT = sql.SQL("SELECT {} FROM alerts").format(sql.SQL(", ").join(map(sql.Identifier, ALERT_COLUMNS)))


async def fetch_alert(conn: Connection, alert_id: uuid.UUID) -> Alert | None:
    cur = await conn.execute(_ALERT_SELECT + sql.SQL(" WHERE alert_id = %s"), (alert_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    alerts = alerts_from_rows([row])
    return alerts[0] if alerts else None


async def fetch_alerts(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
    severity: str | None = None,
    device_id: str | None = None,
    limit: int = 100,
) -> list[Alert]:
    """Alerts whose event time (``time_utc``) is in ``[since, until)``, newest first."""
    where, params = where_filters(
        ("time_utc >= %s", since),
        ("time_utc < %s", until),
        ("kind = %s", kind),
        ("severity = %s", severity),
        ("device_ids @> ARRAY[%s]::text[]", device_id),
    )
    query = _ALERT_SELECT + where + sql.SQL(" ORDER BY time_utc DESC, alert_id LIMIT %s")
    params.append(limit)
    cur = await conn.execute(query, params)
    return alerts_from_rows(await cur.fetchall())


async def fetch_alerts_created_since(conn: Connection, since: datetime, limit: int) -> list[Alert]:
    """Alerts created at or after ``since`` (the ``limit`` most recent), oldest first.

    This is the stream cursor used to replay and to catch up: ``created_utc`` is when the alert
    was raised, while ``time_utc`` is when its evidence happened and may lie far in the past.
    """
    query = (
        sql.SQL("SELECT * FROM (")
        + _ALERT_SELECT
        + sql.SQL(" WHERE created_utc >= %s ORDER BY created_utc DESC, alert_id DESC LIMIT %s) recent")
        + sql.SQL(" ORDER BY created_utc, alert_id")
    )
    cur = await conn.execute(query, (since, limit))
    return alerts_from_rows(await cur.fetchall())


def alerts_from_rows(rows: Iterable[Sequence[object]]) -> list[Alert]:
    """Valid alerts from rows selected with ``ALERT_COLUMNS``; an invalid stored row is logged and skipped."""
    alerts: list[Alert] = []
    for row in rows:
        try:
            alerts.append(alert_from_row(row))
        except ValidationError as exc:
            log.error("skipping alert %s: the stored row is not a valid alert: %s", row[0], exc)
    return alerts


# --- positions -------------------------------------------------------------------------------

#: The stored columns of a fix as served, in table order: what ingest writes plus when it was written.
POSITION_RECORD_COLUMNS: tuple[str, ...] = (*POSITION_COLUMNS[:3], "ingested_utc", *POSITION_COLUMNS[3:])

#: Fixes that cannot place a truck on the map: no GPS lock, 0,0, or a clock ahead of real time.
UNUSABLE_FOR_MAP: tuple[str, ...] = tuple(sorted(flag.value for flag in UNPLACEABLE_FLAGS))


def _position_columns(alias: str) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(alias, column) for column in POSITION_RECORD_COLUMNS)


async def fetch_positions(
    conn: Connection,
    *,
    device_id: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Positions in ``[since, until)``, oldest first.

    With ``since`` these are the first ``limit`` fixes from ``since`` on (page forward by passing
    the last ``time_utc`` seen as the next ``since``); without it, the ``limit`` most recent ones.
    """
    where, params = where_filters(
        ("p.device_id = %s", device_id), ("p.time_utc >= %s", since), ("p.time_utc < %s", until)
    )
    direction = sql.SQL("ASC" if since is not None else "DESC")
    query = (
        sql.SQL("SELECT {} FROM positions p").format(_position_columns("p"))
        + where
        + sql.SQL(" ORDER BY p.time_utc {0}, p.device_id {0} LIMIT %s").format(direction)
    )
    params.append(limit)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    if since is None:
        rows.reverse()
    return rows


async def device_exists(conn: Connection, device_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM positions WHERE device_id = %s LIMIT 1", (device_id,))
    return await cur.fetchone() is not None


# Distinct device ids by a loose index scan over the (device_id, time_utc) primary key, then the
# latest usable fix, the trail and the status of each through LATERAL joins: the cost grows with
# the number of devices, not with the number of stored fixes.
_LATEST_BY_DEVICE = sql.SQL(
    """
    WITH RECURSIVE ids(device_id) AS (
        (SELECT device_id FROM positions ORDER BY device_id LIMIT 1)
        UNION ALL
        SELECT (SELECT p.device_id FROM positions p WHERE p.device_id > ids.device_id
                ORDER BY p.device_id LIMIT 1)
        FROM ids WHERE ids.device_id IS NOT NULL
    )
    SELECT {fix_columns},
           s.kind AS status_kind, s.state AS status_state, s.time_utc AS status_time_utc,
           s.site AS status_site, s.protocol AS status_protocol, s.detail AS status_detail,
           z.zone_ids, trail.times AS trail_times, trail.lats AS trail_lats, trail.lons AS trail_lons
    FROM ids
    CROSS JOIN LATERAL (
        SELECT {position_columns} FROM positions p
        WHERE p.device_id = ids.device_id AND p.valid AND NOT (p.flags && %(unusable)s::text[])
        ORDER BY p.time_utc DESC LIMIT 1
    ) fix
    LEFT JOIN LATERAL (
        SELECT array_agg(t.time_utc ORDER BY t.time_utc) AS times,
               array_agg(t.latitude ORDER BY t.time_utc) AS lats,
               array_agg(t.longitude ORDER BY t.time_utc) AS lons
        FROM (SELECT p.time_utc, p.latitude, p.longitude FROM positions p
              WHERE p.device_id = ids.device_id AND p.valid AND NOT (p.flags && %(unusable)s::text[])
              ORDER BY p.time_utc DESC LIMIT %(trail)s) t
    ) trail ON true
    LEFT JOIN device_status s ON s.device_id = ids.device_id
    LEFT JOIN device_zone_state z ON z.device_id = ids.device_id
    WHERE ids.device_id IS NOT NULL AND (%(since)s::timestamptz IS NULL OR fix.time_utc >= %(since)s)
    ORDER BY ids.device_id
    """
).format(fix_columns=_position_columns("fix"), position_columns=_position_columns("p"))


async def fetch_devices(conn: Connection, *, trail: int, since: datetime | None) -> list[dict[str, Any]]:
    """Per device: its latest usable fix (``fix`` columns), status, zones and the last ``trail`` fixes."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LATEST_BY_DEVICE, {"unusable": list(UNUSABLE_FOR_MAP), "trail": trail, "since": since})
        return await cur.fetchall()


async def migration_version(conn: Connection) -> int | None:
    cur = await conn.execute("SELECT max(version) FROM schema_migrations")
    row = await cur.fetchone()
    return None if row is None else row[0]

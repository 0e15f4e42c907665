"""The PostgreSQL schema every service shares, applied by numbered migrations at start-up.

``positions`` is range-partitioned by ``time_utc`` with native declarative partitioning
(monthly partitions created ahead of time, plus a DEFAULT partition so that a fix with an
unexpected date is stored, never refused).  When the ``timescaledb`` extension is available the
table is created as a hypertable with compression and retention policies instead; that
decision is :func:`timescale_available`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from cedetect.models import Alert
from cedetect.storage.m0004_risk import migration_4

log = logging.getLogger(__name__)

#: Advisory lock key so that several services starting at once migrate one at a time.
MIGRATION_LOCK = 0x0CED_E7EC

POSITION_COLUMNS: tuple[str, ...] = (
    "device_id",
    "time_utc",
    "received_utc",
    "site",
    "protocol",
    "latitude",
    "longitude",
    "speed_kmh",
    "heading_deg",
    "altitude_m",
    "satellites",
    "hdop",
    "valid",
    "attributes",
    "flags",
)

_POSITIONS_BODY = """
    device_id    text             NOT NULL,
    time_utc     timestamptz      NOT NULL,
    received_utc timestamptz      NOT NULL,
    ingested_utc timestamptz      NOT NULL DEFAULT now(),
    site         text             NOT NULL,
    protocol     text             NOT NULL,
    latitude     double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude    double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    speed_kmh    real             NOT NULL CHECK (speed_kmh >= 0),
    heading_deg  real             NOT NULL CHECK (heading_deg >= 0 AND heading_deg < 360),
    altitude_m   real,
    satellites   smallint,
    hdop         real,
    valid        boolean          NOT NULL,
    attributes   jsonb            NOT NULL DEFAULT '{}',
    flags        text[]           NOT NULL DEFAULT '{}',
    PRIMARY KEY (device_id, time_utc)
"""


def timescale_available(conn: psycopg.Connection) -> bool:
    """True when the ``timescaledb`` extension can be created in this database."""
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    return row is not None


def positions_ddl(use_timescale: bool, retention_days: int = 730) -> list[str]:
    """Statements that create ``positions`` on plain PostgreSQL or as a TimescaleDB hypertable."""
    if use_timescale:
        return [
            "CREATE EXTENSION IF NOT EXISTS timescaledb",
            f"CREATE TABLE positions ({_POSITIONS_BODY})",
            "SELECT create_hypertable('positions', by_range('time_utc', INTERVAL '7 days'))",
            "ALTER TABLE positions SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id',"
            " timescaledb.compress_orderby = 'time_utc DESC')",
            "SELECT add_compression_policy('positions', INTERVAL '30 days')",
            f"SELECT add_retention_policy('positions', INTERVAL '{int(retention_days)} days')",
        ]
    return [
        f"CREATE TABLE positions ({_POSITIONS_BODY}) PARTITION BY RANGE (time_utc)",
        "CREATE TABLE positions_default PARTITION OF positions DEFAULT",
        "CREATE INDEX positions_time_brin ON positions USING brin (time_utc)",
    ]


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def ensure_partitions(conn: psycopg.Connection, now: datetime | None = None, months_ahead: int = 3) -> list[str]:
    """Create the monthly partitions of ``positions`` from last month to ``months_ahead`` ahead.

    Returns the names of the partitions created.  A hypertable (no ``positions_default``)
    manages its own chunks, so this does nothing there.
    """
    is_partitioned = conn.execute(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'positions'"
    ).fetchone()
    if not is_partitioned:
        return []
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    first = _add_months(_month_start(today), -1)
    created: list[str] = []
    for i in range(months_ahead + 2):
        start = _add_months(first, i)
        end = _add_months(start, 1)
        name = f"positions_{start:%Y%m}"
        exists = conn.execute("SELECT 1 FROM pg_class WHERE relname = %s", (name,)).fetchone()
        if exists:
            continue
        # Rows that landed in the DEFAULT partition for this month block the new partition;
        # move them into it inside one transaction so nothing is lost.
        with conn.transaction():
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE positions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
                    sql.Identifier(name)
                )
            )
            conn.execute(
                sql.SQL(
                    "WITH moved AS (DELETE FROM positions_default WHERE time_utc >= %s AND time_utc < %s "
                    "RETURNING *) INSERT INTO {} SELECT * FROM moved"
                ).format(sql.Identifier(name)),
                (start, end),
            )
            conn.execute(
                sql.SQL("ALTER TABLE positions ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(name),
                    sql.Literal(f"{start.isoformat()} 00:00:00+00"),
                    sql.Literal(f"{end.isoformat()} 00:00:00+00"),
                )
            )
        created.append(name)
    return created


def _migration_1(conn: psycopg.Connection) -> None:
    for statement in positions_ddl(timescale_available(conn)):
        conn.execute(statement)
    conn.execute(
        """
        CREATE TABLE alerts (
            alert_id     uuid PRIMARY KEY,
            kind         text        NOT NULL,
            severity     text        NOT NULL,
            device_ids   text[]      NOT NULL,
            time_utc     timestamptz NOT NULL,
            created_utc  timestamptz NOT NULL,
            latitude     double precision NOT NULL,
            longitude    double precision NOT NULL,
            zone_id      text,
            title        text        NOT NULL,
            details      jsonb       NOT NULL DEFAULT '{}',
            status       text        NOT NULL DEFAULT 'new'
        )
        """
    )
    conn.execute("CREATE INDEX alerts_time ON alerts (time_utc DESC)")
    conn.execute("CREATE INDEX alerts_devices ON alerts USING gin (device_ids)")
    conn.execute(
        """
        CREATE TABLE quarantine (
            id           bigserial PRIMARY KEY,
            key          text        NOT NULL UNIQUE,
            received_utc timestamptz NOT NULL,
            stored_utc   timestamptz NOT NULL DEFAULT now(),
            source       text        NOT NULL,
            site         text,
            protocol     text,
            device_id    text,
            remote       text,
            reason       text        NOT NULL,
            detail       text        NOT NULL DEFAULT '',
            raw          bytea       NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX quarantine_reason ON quarantine (reason, received_utc DESC)")
    conn.execute(
        """
        CREATE TABLE device_status (
            device_id text PRIMARY KEY,
            kind      text        NOT NULL,
            state     text        NOT NULL,
            time_utc  timestamptz NOT NULL,
            site      text        NOT NULL,
            protocol  text,
            detail    text
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE device_zone_state (
            device_id text PRIMARY KEY,
            zone_ids  text[]      NOT NULL,
            time_utc  timestamptz NOT NULL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE ingest_counters (
            reason text PRIMARY KEY,
            count  bigint NOT NULL DEFAULT 0
        )
        """
    )


def _migration_2(conn: psycopg.Connection) -> None:
    """Plate and container-code reads from border-post cameras, and the evidence crops they rest on."""
    conn.execute(
        """
        CREATE TABLE detections (
            detection_id   uuid PRIMARY KEY,
            stored_seq     bigserial   NOT NULL UNIQUE,
            stored_utc     timestamptz NOT NULL DEFAULT now(),
            camera_id      text        NOT NULL,
            site           text        NOT NULL,
            kind           text        NOT NULL,
            time_utc       timestamptz NOT NULL,
            text           text        NOT NULL,
            raw_text       text        NOT NULL DEFAULT '',
            confidence     double precision NOT NULL,
            box_xyxy       integer[]   NOT NULL,
            valid          boolean     NOT NULL,
            grammar        text,
            check_digit_ok boolean,
            repaired       boolean     NOT NULL DEFAULT false,
            frames         integer     NOT NULL DEFAULT 1,
            crop_sha256    text        NOT NULL,
            attributes     jsonb       NOT NULL DEFAULT '{}'
        )
        """
    )
    conn.execute("CREATE INDEX detections_text ON detections (kind, text)")
    conn.execute("CREATE INDEX detections_time ON detections (time_utc DESC)")
    conn.execute(
        """
        CREATE TABLE evidence_blobs (
            sha256      text PRIMARY KEY,
            media_type  text        NOT NULL,
            data        bytea       NOT NULL,
            stored_utc  timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def _migration_3(conn: psycopg.Connection) -> None:
    """Trajectory anomalies found live by ingest (or loaded from batch runs)."""
    conn.execute(
        """
        CREATE TABLE anomalies (
            anomaly_id  uuid PRIMARY KEY,
            stored_seq  bigserial   NOT NULL UNIQUE,
            stored_utc  timestamptz NOT NULL DEFAULT now(),
            kind        text        NOT NULL,
            device_ids  text[]      NOT NULL,
            start_utc   timestamptz NOT NULL,
            end_utc     timestamptz NOT NULL,
            latitude    double precision NOT NULL,
            longitude   double precision NOT NULL,
            score       double precision NOT NULL,
            reason      text        NOT NULL,
            zone_id     text,
            evidence    jsonb       NOT NULL DEFAULT '[]',
            details     jsonb       NOT NULL DEFAULT '{}'
        )
        """
    )
    conn.execute("CREATE INDEX anomalies_time ON anomalies (start_utc DESC)")
    conn.execute("CREATE INDEX anomalies_devices ON anomalies USING gin (device_ids)")


MIGRATIONS: Sequence[tuple[int, str, Callable[[psycopg.Connection], None]]] = (
    (1, "positions, alerts, quarantine, device status, zone state", _migration_1),
    (2, "detections and evidence blobs", _migration_2),
    (3, "anomalies", _migration_3),
    (4, "declarations, risk profiles, scores, outcomes, fusion state", migration_4),
)


def migrate(conn: psycopg.Connection, months_ahead: int = 3) -> list[int]:
    """Apply every migration not yet applied, then create partitions ahead.  Safe to call concurrently."""
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, description text NOT NULL,"
            " applied_utc timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, description, apply in MIGRATIONS:
            if version in done:
                continue
            log.info("applying migration %d: %s", version, description)
            apply(conn)
            conn.execute("INSERT INTO schema_migrations (version, description) VALUES (%s, %s)", (version, description))
            applied_now.append(version)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        ensure_partitions(conn, months_ahead=months_ahead)
    return applied_now


def connect_with_retry(url: str, timeout_s: float = 60.0, **kwargs: object) -> psycopg.Connection:
    """Connect, retrying until ``timeout_s`` passes: services start before their database does."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        try:
            return psycopg.connect(url, connect_timeout=5, **kwargs)  # type: ignore[arg-type]
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("database not ready (%s); retrying in %.1fs", str(exc).strip().splitlines()[0], delay)
            time.sleep(delay)
            delay = min(delay * 2, 3.0)


#: PostgreSQL NOTIFY channel on which a committed alert's id is announced (payload: the alert_id).
ALERT_CHANNEL = "cedetect_alerts"

ALERT_COLUMNS: tuple[str, ...] = (
    "alert_id",
    "kind",
    "severity",
    "device_ids",
    "time_utc",
    "created_utc",
    "latitude",
    "longitude",
    "zone_id",
    "title",
    "details",
)


def where_filters(*conditions: tuple[str, object]) -> tuple[sql.Composable, list[object]]:
    """`` WHERE c1 AND c2 ...`` over the conditions whose value is not None, and their parameters in order.

    Each condition is a constant SQL fragment with one ``%s`` placeholder and the value bound to it
    (``("time_utc >= %s", since)``); an empty clause when no value is given.
    """
    given = [(fragment, value) for fragment, value in conditions if value is not None]
    if not given:
        return sql.SQL(""), []
    clause = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(sql.SQL(fragment) for fragment, _ in given)
    return clause, [value for _, value in given]


def add_ingest_counts(conn: psycopg.Connection, counts: Mapping[str, int]) -> None:
    """Add ``counts`` (reason -> n) to ``ingest_counters`` in the caller's transaction; zero counts are skipped."""
    for reason, n in sorted(counts.items()):
        if n:
            conn.execute(
                "INSERT INTO ingest_counters (reason, count) VALUES (%s, %s)"
                " ON CONFLICT (reason) DO UPDATE SET count = ingest_counters.count + EXCLUDED.count",
                (reason, n),
            )


def insert_alert(conn: psycopg.Connection, alert: Alert) -> bool:
    """Store an alert and announce it on :data:`ALERT_CHANNEL` (delivered when the transaction commits).

    Idempotent: an alert id already stored is neither stored nor announced again.  Returns True if new.
    """
    row = conn.execute(
        "INSERT INTO alerts (alert_id, kind, severity, device_ids, time_utc, created_utc, latitude, longitude,"
        " zone_id, title, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id",
        (
            alert.alert_id,
            alert.kind,
            alert.severity.value,
            list(alert.device_ids),
            alert.time_utc,
            alert.created_utc,
            alert.latitude,
            alert.longitude,
            alert.zone_id,
            alert.title,
            Jsonb(alert.details),
        ),
    ).fetchone()
    if row is None:
        return False
    conn.execute("SELECT pg_notify(%s, %s)", (ALERT_CHANNEL, str(alert.alert_id)))
    return True


def alert_from_row(row: Sequence[object]) -> Alert:
    """Build an :class:`Alert` from a row selected with :data:`ALERT_COLUMNS` in that order."""
    return Alert.model_validate(dict(zip(ALERT_COLUMNS, row, strict=True)))

"""Schema, partitions and the TimescaleDB switch on a real PostgreSQL (without the extension)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import pytest

from cedetect.storage import MIGRATIONS, ensure_partitions, migrate, positions_ddl, timescale_available, where_filters

pytestmark = pytest.mark.postgres


def _partitions(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'positions'::regclass ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def test_plain_postgresql_path_is_partitioned_with_indexes(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert timescale_available(conn) is False
        assert migrate(conn) == [version for version, _, _ in MIGRATIONS]
        assert migrate(conn) == []
        now = datetime.now(UTC)
        names = _partitions(conn)
        assert "positions_default" in names
        assert f"positions_{now:%Y%m}" in names
        assert len(names) == 1 + 5  # last month, this month and three ahead
        indexes = {r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'positions'")}
        assert any("USING brin (time_utc)" in i for i in indexes)
        assert any("(device_id, time_utc)" in i for i in indexes)


def test_rows_in_the_default_partition_move_into_a_new_partition(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute(
            "INSERT INTO positions (device_id, time_utc, received_utc, site, protocol, latitude, longitude,"
            " speed_kmh, heading_deg, valid)"
            " VALUES ('d', '2031-02-03T04:05:06Z', now(), 's', 'gt06', 41, 26, 0, 0, true)"
        )
        assert conn.execute("SELECT tableoid::regclass::text FROM positions").fetchone() == ("positions_default",)
        created = ensure_partitions(conn, now=datetime(2031, 2, 1, tzinfo=UTC), months_ahead=1)
        assert created == ["positions_203101", "positions_203102", "positions_203103"]
        assert conn.execute("SELECT tableoid::regclass::text FROM positions").fetchone() == ("positions_203102",)


def test_concurrent_migrations_apply_once(database_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                migrate(conn)
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(MIGRATIONS),)


def test_timescale_switch_builds_a_hypertable_with_policies() -> None:
    ddl = positions_ddl(use_timescale=True, retention_days=365)
    assert ddl[0] == "CREATE EXTENSION IF NOT EXISTS timescaledb"
    assert "PARTITION BY" not in ddl[1]
    assert any("create_hypertable('positions'" in s for s in ddl)
    assert any("add_compression_policy" in s for s in ddl)
    assert any("add_retention_policy('positions', INTERVAL '365 days')" in s for s in ddl)
    plain = positions_ddl(use_timescale=False)
    assert "PARTITION BY RANGE (time_utc)" in plain[0]
    assert not any("timescaledb" in s for s in plain)


def test_where_filters_keep_given_values_in_order(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        where, params = where_filters(("kind = %s", None), ("valid = %s", False), ("score >= %s", 0.5))
        assert where.as_string(conn) == " WHERE valid = %s AND score >= %s"
        assert params == [False, 0.5]  # False is a value to filter on, None means no filter
        empty, none = where_filters(("kind = %s", None))
        assert (empty.as_string(conn), none) == ("", [])

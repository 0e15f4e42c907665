"""Writes one batch of parsed messages to PostgreSQL in one transaction.

Positions go through COPY into a temporary table and then ``INSERT ... ON CONFLICT DO NOTHING`` on the
unique key (device_id, time_utc), so a redelivered message never duplicates a row and only rows that are
new reach the rules.  Quarantine, device status, counters and alerts share the same transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from cedetect.models import Alert, DeviceStatus
from cedetect.storage import POSITION_COLUMNS, add_ingest_counts, insert_alert
from ingest.parse import Parsed, Quarantined, SitePosition
from ingest.rules import RestrictedZoneRule, StoredFix

_COLS = ", ".join(POSITION_COLUMNS)


@dataclass
class BatchResult:
    positions_new: int = 0
    positions_duplicate: int = 0
    quarantined: int = 0
    statuses: int = 0
    alerts: list[Alert] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    #: The fixes this batch stored (new rows only), for what runs after the commit (anomaly scoring).
    stored: list[StoredFix] = field(default_factory=list)


def prepare(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS incoming_positions (LIKE positions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    conn.commit()


def write_batch(conn: psycopg.Connection, items: Sequence[Parsed], rule: RestrictedZoneRule | None) -> BatchResult:
    result = BatchResult()
    positions = [i for i in items if isinstance(i, SitePosition)]
    quarantined = [i for i in items if isinstance(i, Quarantined)]
    statuses = [i for i in items if isinstance(i, DeviceStatus)]
    with conn.transaction():
        fixes: list[StoredFix] = []
        if positions:
            with conn.cursor() as cur:
                with cur.copy(f"COPY incoming_positions ({_COLS}) FROM STDIN") as copy:
                    for item in positions:
                        p = item.position
                        copy.write_row(
                            (
                                p.device_id,
                                p.time_utc,
                                p.received_utc,
                                item.site,
                                p.protocol,
                                p.latitude,
                                p.longitude,
                                p.speed_kmh,
                                p.heading_deg,
                                p.altitude_m,
                                p.satellites,
                                p.hdop,
                                p.valid,
                                Jsonb(p.attributes),
                                [f.value for f in p.flags],
                            )
                        )
                cur.execute(
                    f"INSERT INTO positions ({_COLS}) SELECT {_COLS} FROM incoming_positions"
                    " ON CONFLICT (device_id, time_utc) DO NOTHING"
                    " RETURNING device_id, time_utc, latitude, longitude, speed_kmh, valid, flags, site"
                )
                fixes = [StoredFix(r[0], r[1], r[2], r[3], r[4], r[5], tuple(r[6]), r[7]) for r in cur.fetchall()]
        result.positions_new = len(fixes)
        result.stored = fixes
        result.positions_duplicate = len(positions) - len(fixes)
        for q in quarantined:
            cur2 = conn.execute(
                "INSERT INTO quarantine (key, received_utc, source, site, protocol, device_id, remote, reason,"
                " detail, raw) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                (
                    q.key,
                    q.received_utc,
                    q.source,
                    q.site,
                    q.protocol,
                    q.device_id,
                    q.remote,
                    q.reason,
                    q.detail.replace("\x00", "\\0"),
                    q.raw,
                ),
            )
            result.quarantined += cur2.rowcount
            result.reasons[q.reason] += 1
        for s in statuses:
            conn.execute(
                "INSERT INTO device_status (device_id, kind, state, time_utc, site, protocol, detail)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (device_id) DO UPDATE SET"
                " kind = EXCLUDED.kind, state = EXCLUDED.state, time_utc = EXCLUDED.time_utc, site = EXCLUDED.site,"
                " protocol = EXCLUDED.protocol, detail = EXCLUDED.detail"
                " WHERE device_status.time_utc <= EXCLUDED.time_utc",
                (s.device_id, s.kind, s.state.value, s.time_utc, s.site, s.protocol, s.detail),
            )
            result.statuses += 1
        if rule is not None and fixes:
            for alert in rule.evaluate(conn, fixes):
                if insert_alert(conn, alert):
                    result.alerts.append(alert)
        counts = Counter(result.reasons)
        counts["positions_new"] += result.positions_new
        counts["positions_duplicate"] += result.positions_duplicate
        counts["alerts"] += len(result.alerts)
        add_ingest_counts(conn, counts)
    return result

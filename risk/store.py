"""Declarations, risk scores, profile versions and officers' outcomes in PostgreSQL (migration 4).

Synchronous functions take a ``psycopg.Connection`` (bulk load, fusion worker); the ``a``-prefixed ones
take an ``AsyncConnection`` (the server's API).  Every write is idempotent: declarations upsert on
``declaration_id``, scores on ``(declaration_id, model_version)``, outcomes on a deterministic id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cedetect.declarations import Declaration
from cedetect.storage import where_filters
from risk.fusion import declaration_keys, fuzzy_keys

#: Declaration fields stored as columns, in the table's order.
DECLARATION_FIELDS: tuple[str, ...] = tuple(f for f in Declaration.model_fields if f != "schema_version")
#: The stored columns written for a declaration (its fields plus the match keys and the source).
DECLARATION_COLUMNS: tuple[str, ...] = (*DECLARATION_FIELDS, "match_keys", "fuzzy_keys", "source")

_UPDATE_SET = sql.SQL(", ").join(
    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in DECLARATION_COLUMNS if c != "declaration_id"
)
_COLUMN_LIST = sql.SQL(", ").join(map(sql.Identifier, DECLARATION_COLUMNS))
#: An upsert takes a new ``stored_seq`` so that the fusion worker sees the declaration again.
_NEXT_SEQ = sql.SQL("nextval(pg_get_serial_sequence('declarations', 'stored_seq'))")

UPSERT_DECLARATION = sql.SQL(
    "INSERT INTO declarations ({cols}) VALUES ({vals})"
    " ON CONFLICT (declaration_id) DO UPDATE SET {upd}, updated_utc = now(), stored_seq = {seq}"
    " RETURNING (xmax = 0) AS inserted"
).format(
    cols=_COLUMN_LIST,
    vals=sql.SQL(", ").join(sql.Placeholder() * len(DECLARATION_COLUMNS)),
    upd=_UPDATE_SET,
    seq=_NEXT_SEQ,
)

_SELECT_DECLARATION = sql.SQL("SELECT {} FROM declarations d").format(
    sql.SQL(", ").join(sql.Identifier("d", c) for c in DECLARATION_FIELDS)
)


def upsert_declarations_from(table: sql.Identifier) -> sql.Composed:
    """Upsert every row of ``table`` (with :data:`DECLARATION_COLUMNS`, e.g. a temporary table filled by
    COPY) into ``declarations``; each returned row says whether it was new."""
    return sql.SQL(
        "INSERT INTO declarations ({cols}) SELECT {cols} FROM {src}"
        " ON CONFLICT (declaration_id) DO UPDATE SET {upd}, updated_utc = now(), stored_seq = {seq}"
        " RETURNING (xmax = 0) AS inserted"
    ).format(cols=_COLUMN_LIST, src=table, upd=_UPDATE_SET, seq=_NEXT_SEQ)


def declaration_values(decl: Declaration, source: str = "api") -> tuple[Any, ...]:
    """The values of :data:`DECLARATION_COLUMNS` for one declaration (Python objects for psycopg)."""
    data = decl.model_dump(exclude={"schema_version"})
    values: list[Any] = []
    for name in DECLARATION_FIELDS:
        value = data[name]
        if name == "container_codes":
            value = list(value)
        elif name == "route":
            value = None if value is None else Jsonb([list(p) for p in value])
        values.append(value)
    keys = sorted(declaration_keys(decl))
    values += [keys, fuzzy_keys(keys), source]
    return tuple(values)


def declaration_from_record(record: Mapping[str, Any]) -> Declaration:
    """A Declaration from a row selected with :data:`DECLARATION_FIELDS` as a dict."""
    data = {k: v for k, v in record.items() if k in DECLARATION_FIELDS and v is not None}
    if "container_codes" in data:
        data["container_codes"] = tuple(data["container_codes"])
    return Declaration.model_validate(data)


def upsert_declaration(conn: psycopg.Connection, decl: Declaration, source: str = "api") -> bool:
    """Store one declaration (insert or replace); True when it was new."""
    row = conn.execute(UPSERT_DECLARATION, declaration_values(decl, source)).fetchone()
    return bool(row and row[0])


async def aupsert_declaration(conn: AsyncConnection[Any], decl: Declaration, source: str = "api") -> bool:
    cur = await conn.execute(UPSERT_DECLARATION, declaration_values(decl, source))
    row = await cur.fetchone()
    return bool(row and row[0])


def fetch_declaration(conn: psycopg.Connection, declaration_id: str) -> Declaration | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_SELECT_DECLARATION + sql.SQL(" WHERE d.declaration_id = %s"), (declaration_id,))
        row = cur.fetchone()
    return None if row is None else declaration_from_record(row)


async def afetch_declaration(conn: AsyncConnection[Any], declaration_id: str) -> Declaration | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT_DECLARATION + sql.SQL(" WHERE d.declaration_id = %s"), (declaration_id,))
        row = await cur.fetchone()
    return None if row is None else declaration_from_record(row)


# --- scores --------------------------------------------------------------------------------------

UPSERT_SCORE = (
    "INSERT INTO risk_scores (declaration_id, model_version, risk_score, lane, reasons, scored_utc)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (declaration_id, model_version) DO UPDATE SET"
    " risk_score = EXCLUDED.risk_score, lane = EXCLUDED.lane, reasons = EXCLUDED.reasons,"
    " scored_utc = EXCLUDED.scored_utc"
)


def score_values(
    declaration_id: str, model_version: str, risk_score: float, lane: str, reasons: Sequence[Any], scored_utc: datetime
) -> tuple[Any, ...]:
    return (declaration_id, model_version, float(risk_score), str(lane), Jsonb(list(reasons)), scored_utc)


def store_scores(conn: psycopg.Connection, rows: Iterable[tuple[Any, ...]]) -> int:
    """Upsert rows made with :func:`score_values`; returns how many were written."""
    rows = list(rows)
    if rows:
        with conn.cursor() as cur:
            cur.executemany(UPSERT_SCORE, rows)
            # a new score is new evidence for fusion: the worker sees the declaration again (a declaration
            # loaded in one transaction and scored in the next is never left assessed as unscored)
            cur.execute(
                sql.SQL("UPDATE declarations SET stored_seq = {seq} WHERE declaration_id = ANY(%s)").format(
                    seq=_NEXT_SEQ
                ),
                (sorted({row[0] for row in rows}),),
            )
    return len(rows)


async def astore_score(conn: AsyncConnection[Any], values: tuple[Any, ...]) -> None:
    await conn.execute(UPSERT_SCORE, values)
    await conn.execute(
        sql.SQL("UPDATE declarations SET stored_seq = {seq} WHERE declaration_id = %s").format(seq=_NEXT_SEQ),
        (values[0],),
    )


_LATEST_SCORE = (
    "SELECT model_version, risk_score, lane, reasons, scored_utc FROM risk_scores WHERE declaration_id = %s"
    " ORDER BY scored_utc DESC, model_version LIMIT 1"
)


def fetch_latest_score(conn: psycopg.Connection, declaration_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_LATEST_SCORE, (declaration_id,))
        return cur.fetchone()


async def afetch_latest_score(conn: AsyncConnection[Any], declaration_id: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LATEST_SCORE, (declaration_id,))
        return await cur.fetchone()


async def alist_declarations(
    conn: AsyncConnection[Any],
    *,
    lane: str | None = None,
    min_score: float | None = None,
    since: Any = None,
    until: Any = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Declarations with their latest score, highest score first (unscored ones last)."""
    where, params = where_filters(
        ("s.lane = %s", lane),
        ("s.risk_score >= %s", min_score),
        ("d.date >= %s", since),
        ("d.date <= %s", until),
    )
    query = sql.SQL(
        "SELECT {cols}, s.model_version, s.risk_score, s.lane, s.reasons, s.scored_utc FROM declarations d"
        " LEFT JOIN LATERAL (SELECT * FROM risk_scores r WHERE r.declaration_id = d.declaration_id"
        " ORDER BY r.scored_utc DESC, r.model_version LIMIT 1) s ON true"
    ).format(cols=sql.SQL(", ").join(sql.Identifier("d", c) for c in DECLARATION_FIELDS))
    query += where
    query += sql.SQL(" ORDER BY s.risk_score DESC NULLS LAST, d.declaration_id LIMIT %s")
    params.append(limit)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def afetch_evidence(conn: AsyncConnection[Any], declaration_id: str) -> list[dict[str, Any]]:
    """Reads and anomalies the fusion worker linked to a declaration, oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT e.evidence_kind, e.evidence_id, e.match, e.matched_key, e.linked_utc,"
            " dt.kind AS detection_kind, dt.text, dt.site, dt.camera_id, dt.confidence, dt.time_utc, dt.crop_sha256,"
            " an.kind AS anomaly_kind, an.device_ids, an.start_utc, an.end_utc, an.score, an.reason,"
            " an.latitude, an.longitude, an.zone_id"
            " FROM declaration_evidence e"
            " LEFT JOIN detections dt ON e.evidence_kind = 'detection' AND dt.detection_id = e.evidence_id"
            " LEFT JOIN anomalies an ON e.evidence_kind = 'anomaly' AND an.anomaly_id = e.evidence_id"
            " WHERE e.declaration_id = %s ORDER BY coalesce(dt.time_utc, an.start_utc), e.evidence_id",
            (declaration_id,),
        )
        rows = await cur.fetchall()
    out: list[dict[str, Any]] = []
    for r in rows:
        item: dict[str, Any] = {
            "type": "read" if r["evidence_kind"] == "detection" else "anomaly",
            "id": str(r["evidence_id"]),
            "match": r["match"],
            "matched_key": r["matched_key"],
            "linked_utc": r["linked_utc"],
        }
        if r["evidence_kind"] == "detection":
            item.update(
                kind=r["detection_kind"],
                text=r["text"],
                site=r["site"],
                camera_id=r["camera_id"],
                confidence=r["confidence"],
                time_utc=r["time_utc"],
                crop_sha256=r["crop_sha256"],
                crop_url=f"/api/v1/evidence/{r['crop_sha256']}" if r["crop_sha256"] else None,
            )
        else:
            item.update(
                kind=r["anomaly_kind"],
                device_ids=r["device_ids"],
                start_utc=r["start_utc"],
                end_utc=r["end_utc"],
                score=r["score"],
                reason=r["reason"],
                latitude=r["latitude"],
                longitude=r["longitude"],
                zone_id=r["zone_id"],
            )
        out.append(item)
    return out


# --- profiles ------------------------------------------------------------------------------------

_PROFILE_COLUMNS = "profile_id, version, body, valid_from, valid_until, active, changed_by, changed_utc, comment"


async def aactive_profiles(conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_PROFILE_COLUMNS} FROM risk_profiles WHERE active ORDER BY profile_id")
        return await cur.fetchall()


async def aprofile_history(conn: AsyncConnection[Any], profile_id: str) -> list[dict[str, Any]]:
    """Every version of a profile, newest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_PROFILE_COLUMNS} FROM risk_profiles WHERE profile_id = %s ORDER BY version DESC", (profile_id,)
        )
        return await cur.fetchall()


async def aprofiles_revision(conn: AsyncConnection[Any]) -> tuple[int, datetime | None]:
    """A cheap fingerprint of the profile table: versions stored and the newest change."""
    cur = await conn.execute("SELECT count(*), max(changed_utc) FROM risk_profiles")
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), row[1]


async def aput_profile_version(
    conn: AsyncConnection[Any],
    profile_id: str,
    body: dict[str, Any],
    *,
    valid_from: Any,
    valid_until: Any,
    changed_by: str,
    comment: str,
    active: bool = True,
) -> dict[str, Any]:
    """Store a new version of a profile and make it the active one, in one transaction."""
    async with conn.transaction():
        # Serialise writers of the same profile so that two PUTs never pick the same version.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('risk_profiles:' || %s))", (profile_id,))
        cur = await conn.execute(
            "SELECT coalesce(max(version), 0) FROM risk_profiles WHERE profile_id = %s", (profile_id,)
        )
        row = await cur.fetchone()
        version = int(row[0] if row else 0) + 1
        if active:
            await conn.execute(
                "UPDATE risk_profiles SET active = false WHERE profile_id = %s AND active", (profile_id,)
            )
        async with conn.cursor(row_factory=dict_row) as dcur:
            await dcur.execute(
                "INSERT INTO risk_profiles (profile_id, version, body, valid_from, valid_until, active, changed_by,"
                f" comment) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_PROFILE_COLUMNS}",
                (profile_id, version, Jsonb(body), valid_from, valid_until, active, changed_by, comment),
            )
            stored = await dcur.fetchone()
    assert stored is not None
    return stored


# --- outcomes ------------------------------------------------------------------------------------


class Outcome(StrEnum):
    """What officers found.  Those in :data:`OUTCOME_LABELS` become training labels."""

    SEIZURE = "seizure"
    DOCUMENTS_IRREGULAR = "documents_irregular"
    DUTY_REASSESSED = "duty_reassessed"
    NOTHING_FOUND = "nothing_found"
    RELEASED = "released"  # released without a control: no label
    REFERRED = "referred"  # handed to another service, result pending: no label


#: Outcome → (Fraud, Critical Fraud) in the dataset's encoding (critical fraud: 0 none, 1 fraud, 2 critical).
OUTCOME_LABELS: dict[Outcome, tuple[int, int]] = {
    Outcome.SEIZURE: (1, 2),
    Outcome.DOCUMENTS_IRREGULAR: (1, 1),
    Outcome.DUTY_REASSESSED: (1, 1),
    Outcome.NOTHING_FOUND: (0, 0),
}

OUTCOME_NAMESPACE = uuid.UUID("5f1d2a7e-8c3b-4e6f-9a0d-1b2c3d4e5f60")


def outcome_id_for(
    alert_id: uuid.UUID | None, declaration_id: str | None, outcome: str, officer: str, time_utc: datetime
) -> uuid.UUID:
    """Deterministic: the same report submitted twice is stored once."""
    basis = "|".join(
        [str(alert_id or ""), declaration_id or "", outcome, officer, time_utc.astimezone(UTC).isoformat()]
    )
    return uuid.uuid5(OUTCOME_NAMESPACE, basis)


_OUTCOME_COLUMNS = "outcome_id, alert_id, declaration_id, outcome, officer, notes, time_utc, recorded_utc"


async def ainsert_outcome(
    conn: AsyncConnection[Any],
    *,
    outcome_id: uuid.UUID,
    alert_id: uuid.UUID | None,
    declaration_id: str | None,
    outcome: str,
    officer: str,
    notes: str,
    time_utc: datetime,
) -> tuple[dict[str, Any], bool]:
    """Store an outcome; returns the stored row and whether it was new."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO outcomes (outcome_id, alert_id, declaration_id, outcome, officer, notes, time_utc)"
            f" VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (outcome_id) DO NOTHING RETURNING {_OUTCOME_COLUMNS}",
            (outcome_id, alert_id, declaration_id, outcome, officer, notes, time_utc),
        )
        row = await cur.fetchone()
        if row is not None:
            return row, True
        await cur.execute(f"SELECT {_OUTCOME_COLUMNS} FROM outcomes WHERE outcome_id = %s", (outcome_id,))
        existing = await cur.fetchone()
    assert existing is not None
    return existing, False


async def alist_outcomes(
    conn: AsyncConnection[Any],
    *,
    declaration_id: str | None = None,
    alert_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    where: list[sql.Composable] = []
    params: list[Any] = []
    if declaration_id is not None:
        where.append(sql.SQL("declaration_id = %s"))
        params.append(declaration_id)
    if alert_id is not None:
        where.append(sql.SQL("alert_id = %s"))
        params.append(alert_id)
    query: sql.Composable = sql.SQL(f"SELECT {_OUTCOME_COLUMNS} FROM outcomes")
    if where:
        query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
    query += sql.SQL(" ORDER BY time_utc DESC, outcome_id LIMIT %s")
    params.append(limit)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


_LABELLED = [o.value for o in OUTCOME_LABELS]

#: The latest label-bearing outcome of each declaration (through its alert when the outcome names only
#: an alert raised by fusion, whose details carry the declaration id), joined to the declaration.
_LABELS_QUERY = sql.SQL(
    "SELECT {cols}, l.outcome FROM ("
    " SELECT DISTINCT ON (did) did, outcome FROM ("
    "  SELECT coalesce(o.declaration_id, a.details->>'declaration_id') AS did, o.outcome, o.time_utc, o.outcome_id"
    "  FROM outcomes o LEFT JOIN alerts a ON a.alert_id = o.alert_id WHERE o.outcome = ANY(%s)) x"
    " WHERE did IS NOT NULL ORDER BY did, time_utc DESC, outcome_id) l"
    " JOIN declarations d ON d.declaration_id = l.did ORDER BY d.date, d.declaration_id"
).format(cols=sql.SQL(", ").join(sql.Identifier("d", c) for c in DECLARATION_FIELDS))


async def alabelled_declarations(conn: AsyncConnection[Any]) -> list[tuple[Declaration, Outcome]]:
    """Declarations with a label-bearing outcome, their labels set from the latest outcome."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LABELS_QUERY, (_LABELLED,))
        rows = await cur.fetchall()
    out: list[tuple[Declaration, Outcome]] = []
    for row in rows:
        outcome = Outcome(row.pop("outcome"))
        fraud, critical = OUTCOME_LABELS[outcome]
        decl = declaration_from_record(row).model_copy(update={"fraud": fraud, "critical_fraud": critical})
        out.append((decl, outcome))
    return out


async def aalert_declaration_id(conn: AsyncConnection[Any], alert_id: uuid.UUID) -> tuple[bool, str | None]:
    """(the alert exists, the declaration id its details carry)."""
    cur = await conn.execute("SELECT details->>'declaration_id' FROM alerts WHERE alert_id = %s", (alert_id,))
    row = await cur.fetchone()
    return (row is not None, None if row is None else row[0])


async def adeclaration_exists(conn: AsyncConnection[Any], declaration_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM declarations WHERE declaration_id = %s", (declaration_id,))
    return await cur.fetchone() is not None

"""The background task that links live evidence to declarations and raises fused-risk alerts.

Every ``poll_interval_s`` it reads the rows of ``detections`` (plate and container reads) and
``anomalies`` (trajectory anomalies) stored since its watermarks (their ``stored_seq``, kept in
``fusion_state``), links each to the declarations it matches (:mod:`risk.fusion`: a read to the
declared plates and containers, exactly or within one character; an anomaly to the declared
tracker), and re-assesses every declaration that gained evidence.  When the fused score crosses the
alert threshold the alert goes through :func:`cedetect.storage.insert_alert`, so it reaches the live
page by the existing ``NOTIFY cedetect_alerts`` path.

One batch is one transaction: the links, the alerts and the new watermarks commit together, so a
crash replays the batch and, alert ids being deterministic (declaration and severity), a replay
never raises an alert twice.  An advisory lock keeps two servers from fusing the same batch.
``stored_seq`` is taken when a row is written, not when it commits, so a row may become visible after
rows with higher numbers: each poll also looks ``late_window`` numbers behind the watermark and fuses
the rows there it has not seen (remembered in memory; after a restart they are fused again, harmlessly).
Declarations are polled the same way (their ``stored_seq`` is renewed on every upsert), so a read or an
anomaly stored before its declaration was lodged is linked when the declaration arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from cedetect.declarations import Declaration
from cedetect.storage import insert_alert
from risk.fusion import (
    DEFAULT_POLICY,
    AnomalyEvidence,
    DeclarationRisk,
    FusionPolicy,
    MatchKind,
    ReadEvidence,
    active_period,
    anomaly_match,
    assess,
    build_alert,
    declaration_keys,
    fuzzy_keys,
    in_period,
    match_read,
    normalise_key,
    one_edit_neighbours,
)
from risk.store import DECLARATION_FIELDS, declaration_from_record, fetch_declaration, fetch_latest_score

log = logging.getLogger(__name__)

#: Advisory lock held by the server fusing a batch.
FUSION_LOCK = 0x0CED_F051
DETECTIONS = "detections"
ANOMALIES = "anomalies"
DECLARATIONS = "declarations"

_DECL_COLUMNS = sql.SQL(", ").join(sql.Identifier("d", c) for c in DECLARATION_FIELDS)
#: Declarations whose active period may contain %(t)s (checked exactly in Python afterwards).
_DAY = "(d.date::timestamp AT TIME ZONE 'UTC')"
_PERIOD = sql.SQL(
    f"(LEAST({_DAY}, coalesce(d.expected_from_utc, {_DAY})) - %(before)s) <= %(t)s"
    " AND %(t)s <= coalesce(d.expected_until_utc,"
    f" GREATEST({_DAY} + %(transit)s, coalesce(d.expected_from_utc, {_DAY}))) + %(after)s"
)
_READ_CANDIDATES = (
    sql.SQL("SELECT {} FROM declarations d WHERE (d.match_keys && %(exact)s OR d.fuzzy_keys && %(fuzzy)s) AND ").format(
        _DECL_COLUMNS
    )
    + _PERIOD
)
_ANOMALY_CANDIDATES = (
    sql.SQL(
        "SELECT {} FROM declarations d WHERE (d.tracker_device_id = ANY(%(devices)s) OR d.match_keys && %(keys)s) AND "
    ).format(_DECL_COLUMNS)
    + _PERIOD
)
_LINK = (
    "INSERT INTO declaration_evidence (declaration_id, evidence_kind, evidence_id, match, matched_key)"
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


_COUNTS = ("detections", "anomalies", "declarations", "links", "assessed", "alerts", "one_char_tolerant")


def _link(
    conn: psycopg.Connection, declaration_id: str, kind: str, evidence_id: Any, match: MatchKind, key: str | None
) -> bool:
    """Record that a piece of evidence belongs to a declaration; True when the link is new."""
    cur = conn.execute(_LINK, (declaration_id, kind, evidence_id, match.value, key))
    return cur.rowcount == 1


def _link_anomaly(
    conn: psycopg.Connection,
    decl: Declaration,
    anomaly_id: Any,
    device_ids: list[str],
    stats: FusionStats,
    touched: set[str],
) -> None:
    """Link an anomaly to the declaration when one of its devices is the declaration's tracker or vehicle; a
    matched declaration is (re)assessed."""
    kind = anomaly_match(decl, device_ids)
    if kind is None:
        return
    key = decl.tracker_device_id if kind is MatchKind.TRACKER_DEVICE else decl.vehicle_plate
    if _link(conn, decl.declaration_id, "anomaly", anomaly_id, kind, key):
        stats.links += 1
    touched.add(decl.declaration_id)


@dataclass
class FusionStats:
    detections: int = 0
    anomalies: int = 0
    declarations: int = 0
    links: int = 0
    assessed: int = 0
    alerts: int = 0
    one_char_tolerant: int = 0
    skipped_locked: bool = False
    alert_ids: list[str] = field(default_factory=list)


def border_post_locations() -> dict[str, tuple[float, float]]:
    """Border-post zone id → (lat, lon) of its centre, from the shipped geography."""
    from geofence.demo_zones import border_post_zones

    out: dict[str, tuple[float, float]] = {}
    for zone in border_post_zones():
        min_lon, min_lat, max_lon, max_lat = zone.bbox
        out[zone.zone_id] = ((min_lat + max_lat) / 2, (min_lon + max_lon) / 2)
    return out


class FusionWorker:
    def __init__(
        self,
        database_url: str,
        *,
        poll_interval_s: float = 1.0,
        batch_size: int = 500,
        policy: FusionPolicy = DEFAULT_POLICY,
        post_locations: Mapping[str, tuple[float, float]] | None = None,
        reconnect_max_s: float = 10.0,
        late_window: int = 2000,
    ) -> None:
        self._url = database_url
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        self.policy = policy
        self._posts = dict(post_locations) if post_locations is not None else border_post_locations()
        self._reconnect_max_s = reconnect_max_s
        self._conn: psycopg.Connection | None = None
        self._stopping = False
        #: Rows this far behind the watermark are looked at again, in case their transaction committed late.
        self.late_window = late_window
        self._wm: dict[str, int] = {}
        self._seen: dict[str, set[int]] = {}
        self.late_rows = 0
        #: Totals since start, for health and tests.
        self.totals = FusionStats()
        self.cycles = 0
        self.last_error: str | None = None

    # --- the loop ----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Fuse until cancelled; a database failure is logged and retried with backoff."""
        delay = self.poll_interval_s
        try:
            while True:
                try:
                    cycle = asyncio.ensure_future(asyncio.to_thread(self.run_until_idle))
                    try:
                        stats = await asyncio.shield(cycle)
                    except asyncio.CancelledError:
                        # Let the batch in flight commit or roll back before the connection closes.
                        self._stopping = True
                        with contextlib.suppress(Exception):
                            await cycle
                        raise
                    self.last_error = None
                    delay = self.poll_interval_s
                    if stats.alerts:
                        log.info("fusion raised %d alert(s)", stats.alerts)
                except psycopg.Error as exc:
                    self.last_error = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
                    log.warning("fusion cycle failed (%s); retrying in %.1fs", self.last_error, delay)
                    await asyncio.to_thread(self.close)
                    delay = min(max(delay * 2, 0.2), self._reconnect_max_s)
                await asyncio.sleep(delay)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.close)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, connect_timeout=5, application_name="cedetect-server-fusion")
        return self._conn

    def run_until_idle(self, max_batches: int = 100) -> FusionStats:
        """Fuse batches until nothing new is left (at most ``max_batches``); returns the summed stats."""
        total = FusionStats()
        for _ in range(max_batches):
            if self._stopping:
                break
            stats = self.run_once()
            for name in _COUNTS:
                setattr(total, name, getattr(total, name) + getattr(stats, name))
            total.alert_ids += stats.alert_ids
            if stats.skipped_locked or max(stats.detections, stats.anomalies, stats.declarations) < self.batch_size:
                break
        return total

    # --- one batch ----------------------------------------------------------------------------------
    def run_once(self) -> FusionStats:
        """Fuse one batch of new detections and anomalies in one transaction."""
        conn = self._connection()
        stats = FusionStats()
        try:
            self._fuse_batch(conn, stats)
        except BaseException:
            # The batch rolled back: forget what it saw, so that the rows near the watermark are fused again.
            self._seen.clear()
            raise
        self.cycles += 1
        for name in _COUNTS:
            setattr(self.totals, name, getattr(self.totals, name) + getattr(stats, name))
        self.totals.alert_ids += stats.alert_ids
        return stats

    def _fuse_batch(self, conn: psycopg.Connection, stats: FusionStats) -> None:
        with conn.transaction():
            row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (FUSION_LOCK,)).fetchone()
            if not row or not row[0]:
                stats.skipped_locked = True
                return
            touched: set[str] = set()
            self._fuse_detections(conn, stats, touched)
            self._fuse_anomalies(conn, stats, touched)
            self._fuse_declarations(conn, stats, touched)
            for declaration_id in sorted(touched):
                self._assess(conn, declaration_id, stats)

    def _watermark(self, conn: psycopg.Connection, source: str) -> int:
        conn.execute("INSERT INTO fusion_state (source) VALUES (%s) ON CONFLICT DO NOTHING", (source,))
        row = conn.execute("SELECT last_seq FROM fusion_state WHERE source = %s FOR UPDATE", (source,)).fetchone()
        return int(row[0]) if row else 0

    def _new_rows(
        self, conn: psycopg.Connection, cur: psycopg.Cursor[dict[str, Any]], source: str, select: sql.Composable
    ) -> list[dict[str, Any]]:
        """Rows of ``source`` not fused yet: those past the watermark, and those just behind it that were not
        seen (a transaction that took its ``stored_seq`` earlier but committed after a later one)."""
        wm = self._watermark(conn, source)
        self._wm[source] = wm
        cur.execute(
            select + sql.SQL(" WHERE stored_seq > %s ORDER BY stored_seq LIMIT %s"),
            (max(0, wm - self.late_window), self.batch_size + self.late_window),
        )
        seen = self._seen.setdefault(source, set())
        rows = [r for r in cur.fetchall() if r["stored_seq"] > wm or r["stored_seq"] not in seen]
        late = sum(1 for r in rows if r["stored_seq"] <= wm)
        if late:
            self.late_rows += late
            log.info("fusing %d %s row(s) committed after later ones", late, source)
        return rows

    def _done(self, conn: psycopg.Connection, source: str, rows: list[dict[str, Any]]) -> None:
        """Advance the watermark past ``rows`` and remember them (in memory) while they are near it."""
        wm = self._wm.get(source, 0)
        seen = self._seen.setdefault(source, set())
        seen.update(r["stored_seq"] for r in rows)
        new_wm = max([wm, *(r["stored_seq"] for r in rows)])
        if new_wm != wm:
            conn.execute(
                "UPDATE fusion_state SET last_seq = %s, updated_utc = now() WHERE source = %s", (new_wm, source)
            )
        self._seen[source] = {seq for seq in seen if seq > new_wm - self.late_window}

    def _period_params(self, t: datetime) -> dict[str, Any]:
        p = self.policy
        return {"t": t, "before": p.period_before, "after": p.period_after, "transit": p.default_transit}

    def _fuse_detections(self, conn: psycopg.Connection, stats: FusionStats, touched: set[str]) -> None:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = self._new_rows(
                conn, cur, DETECTIONS, sql.SQL("SELECT detection_id, stored_seq, kind, text, time_utc FROM detections")
            )
            for det in rows:
                text = normalise_key(det["text"])
                if not text:
                    continue
                params = self._period_params(det["time_utc"])
                params["exact"] = [text]
                params["fuzzy"] = fuzzy_keys([text], self.policy.min_fuzzy_length - 1)
                cur.execute(_READ_CANDIDATES, params)
                for record in cur.fetchall():
                    decl = declaration_from_record(record)
                    if not in_period(decl, det["time_utc"], self.policy):
                        continue
                    self._link_read(conn, decl, det["detection_id"], text, declaration_keys(decl), stats, touched)
        stats.detections = len(rows)
        self._done(conn, DETECTIONS, rows)

    def _link_read(
        self,
        conn: psycopg.Connection,
        decl: Declaration,
        detection_id: Any,
        text: str,
        keys: Mapping[str, str],
        stats: FusionStats,
        touched: set[str],
    ) -> None:
        """Link a plate or container read to the declaration when its text matches one of ``keys``; a matched
        declaration is (re)assessed."""
        match = match_read(text, keys, self.policy.min_fuzzy_length)
        if match is None:
            return
        if _link(conn, decl.declaration_id, "detection", detection_id, match.kind, match.key):
            stats.links += 1
            stats.one_char_tolerant += match.kind is MatchKind.ONE_CHAR_TOLERANT
        touched.add(decl.declaration_id)

    def _fuse_anomalies(self, conn: psycopg.Connection, stats: FusionStats, touched: set[str]) -> None:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = self._new_rows(
                conn, cur, ANOMALIES, sql.SQL("SELECT anomaly_id, stored_seq, device_ids, start_utc FROM anomalies")
            )
            for an in rows:
                devices = list(an["device_ids"])
                params = self._period_params(an["start_utc"])
                params["devices"] = devices
                params["keys"] = [k for k in (normalise_key(d) for d in devices) if k]
                cur.execute(_ANOMALY_CANDIDATES, params)
                for record in cur.fetchall():
                    decl = declaration_from_record(record)
                    if not in_period(decl, an["start_utc"], self.policy):
                        continue
                    _link_anomaly(conn, decl, an["anomaly_id"], devices, stats, touched)
        stats.anomalies = len(rows)
        self._done(conn, ANOMALIES, rows)

    def _fuse_declarations(self, conn: psycopg.Connection, stats: FusionStats, touched: set[str]) -> None:
        """New or changed declarations: link the reads and anomalies already stored in their active period
        (a truck read at the post before its declaration was lodged)."""
        with conn.cursor(row_factory=dict_row) as cur:
            select = sql.SQL("SELECT {}, d.stored_seq FROM declarations d").format(_DECL_COLUMNS)
            rows = self._new_rows(conn, cur, DECLARATIONS, select)
            for record in rows:
                decl = declaration_from_record(record)
                start, end = active_period(decl, self.policy)
                keys = declaration_keys(decl)
                if keys:
                    texts: set[str] = set()
                    for key in keys:
                        texts |= one_edit_neighbours(key) if len(key) >= self.policy.min_fuzzy_length else {key}
                    cur.execute(
                        "SELECT detection_id, text FROM detections WHERE kind = ANY(%s) AND text = ANY(%s)"
                        " AND time_utc BETWEEN %s AND %s",
                        (["plate", "container"], sorted(texts), start, end),
                    )
                    for det in cur.fetchall():
                        self._link_read(conn, decl, det["detection_id"], det["text"], keys, stats, touched)
                devices = [d for d in (decl.tracker_device_id, normalise_key(decl.vehicle_plate or "")) if d]
                if devices:
                    cur.execute(
                        "SELECT anomaly_id, device_ids FROM anomalies WHERE device_ids && %s"
                        " AND start_utc BETWEEN %s AND %s",
                        (devices, start, end),
                    )
                    for an in cur.fetchall():
                        _link_anomaly(conn, decl, an["anomaly_id"], list(an["device_ids"]), stats, touched)
        stats.declarations = len(rows)
        self._done(conn, DECLARATIONS, rows)

    # --- assessment -----------------------------------------------------------------------------------
    def _assess(self, conn: psycopg.Connection, declaration_id: str, stats: FusionStats) -> None:
        decl = fetch_declaration(conn, declaration_id)
        if decl is None:
            return
        score = fetch_latest_score(conn, declaration_id)
        risk = (
            None
            if score is None
            else DeclarationRisk(
                risk_score=float(score["risk_score"]),
                lane=str(score["lane"]),
                reasons=tuple(score["reasons"] or ()),
                model_version=str(score["model_version"]),
            )
        )
        reads, anomalies = self._evidence(conn, decl)
        assessment = assess(decl, risk, reads, anomalies, self.policy)
        stats.assessed += 1
        if not assessment.raises_alert:
            return
        latitude, longitude, zone_id, located_by = self._locate(conn, decl, reads, anomalies)
        alert = build_alert(
            decl, assessment, latitude=latitude, longitude=longitude, zone_id=zone_id, created_utc=datetime.now(UTC)
        )
        alert = alert.model_copy(update={"details": {**alert.details, "located_by": located_by}})
        if insert_alert(conn, alert):
            stats.alerts += 1
            stats.alert_ids.append(str(alert.alert_id))

    def _evidence(
        self, conn: psycopg.Connection, decl: Declaration
    ) -> tuple[list[ReadEvidence], list[AnomalyEvidence]]:
        keys = declaration_keys(decl)
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT e.match, e.matched_key, dt.detection_id, dt.kind, dt.text, dt.time_utc, dt.site,"
                " dt.camera_id, dt.confidence, dt.crop_sha256 FROM declaration_evidence e"
                " JOIN detections dt ON dt.detection_id = e.evidence_id"
                " WHERE e.declaration_id = %s AND e.evidence_kind = 'detection'",
                (decl.declaration_id,),
            )
            reads = [
                ReadEvidence(
                    detection_id=str(r["detection_id"]),
                    kind=r["kind"],
                    text=r["text"],
                    time_utc=r["time_utc"],
                    site=r["site"],
                    camera_id=r["camera_id"],
                    confidence=float(r["confidence"]),
                    match=MatchKind(r["match"]),
                    matched_key=r["matched_key"] or "",
                    matched_field=keys.get(r["matched_key"] or "", "unknown"),
                    crop_sha256=r["crop_sha256"],
                )
                for r in cur.fetchall()
            ]
            cur.execute(
                "SELECT e.match, an.anomaly_id, an.kind, an.device_ids, an.start_utc, an.end_utc, an.latitude,"
                " an.longitude, an.score, an.reason, an.zone_id FROM declaration_evidence e"
                " JOIN anomalies an ON an.anomaly_id = e.evidence_id"
                " WHERE e.declaration_id = %s AND e.evidence_kind = 'anomaly'",
                (decl.declaration_id,),
            )
            anomalies = [
                AnomalyEvidence(
                    anomaly_id=str(r["anomaly_id"]),
                    kind=r["kind"],
                    device_ids=tuple(r["device_ids"]),
                    start_utc=r["start_utc"],
                    end_utc=r["end_utc"],
                    latitude=float(r["latitude"]),
                    longitude=float(r["longitude"]),
                    score=float(r["score"]),
                    reason=r["reason"],
                    zone_id=r["zone_id"],
                    match=MatchKind(r["match"]),
                )
                for r in cur.fetchall()
            ]
        return reads, anomalies

    def _locate(
        self,
        conn: psycopg.Connection,
        decl: Declaration,
        reads: list[ReadEvidence],
        anomalies: list[AnomalyEvidence],
    ) -> tuple[float, float, str | None, str]:
        """Where the alert is shown: the latest evidence's place (an anomaly's point, a read's border post),
        else the tracker's last fix; ``located_by`` says which."""
        events: list[tuple[datetime, str, Any]] = [(r.time_utc, "read", r) for r in reads]
        events += [(a.start_utc, "anomaly", a) for a in anomalies]
        for _, kind, item in sorted(events, key=lambda e: e[0], reverse=True):
            if kind == "anomaly":
                return item.latitude, item.longitude, item.zone_id, "anomaly"
            if item.site in self._posts:
                lat, lon = self._posts[item.site]
                return lat, lon, item.site, "border_post"
        if decl.tracker_device_id:
            row = conn.execute(
                "SELECT latitude, longitude FROM positions WHERE device_id = %s AND valid"
                " ORDER BY time_utc DESC LIMIT 1",
                (decl.tracker_device_id,),
            ).fetchone()
            if row is not None:
                return float(row[0]), float(row[1]), None, "last_fix"
        site = reads[-1].site if reads else None
        return 0.0, 0.0, site, "unknown"

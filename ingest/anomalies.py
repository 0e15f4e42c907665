"""Live anomaly scoring in the ingest path: new fixes -> :class:`tracking.live.LiveScorer` -> anomalies and alerts.

Order of work (nothing lost, nothing duplicated):

1. The positions batch commits first and is acknowledged: the fixes are the evidence and never wait on
   scoring, which runs in its own thread (:class:`AnomalyWorker`) on its own connection; the Numba
   kernels are compiled there at start-up, not in ingest's loop.
2. The fixes that batch stored as new rows, the usable ones only (valid, none of
   :data:`cedetect.models.NOT_A_TRACK_POINT_FLAGS`), go to the scorer in time order.  A fix not later
   than the device's last scored one (replayed by the warm-up already, or late) is skipped and counted.
   A valid fix whose only such flag is ``implausible_jump`` -- the strongest spoofing trace, which the edge
   keeps off the track -- goes too, as ``Fix(track_point=False)``: the scorer checks it for a ``gps_jump``
   from the device's last track point (the anomaly batch finds for that step) without moving the track.
3. What it finds is stored in a second transaction: ``anomalies`` (``ON CONFLICT (anomaly_id) DO NOTHING``;
   the ids are deterministic, so batch and live agree) and, for the kinds configured in
   ``IngestSettings.anomaly_alert_severity``, an alert through :func:`cedetect.storage.insert_alert`
   (``alert_id_for`` on the anomaly id, so an alert is raised once).  A failure there is logged and
   counted; the anomalies wait in :attr:`AnomalyStage.pending` and go with the next batch.  Routes of
   declarations (``declarations.route`` or ``corridor_id`` for their ``tracker_device_id``) are re-read
   every ``anomaly_declarations_refresh_s`` and become that truck's corridor.
4. At start-up :meth:`AnomalyStage.warm_up` replays each device's last ``anomaly_warmup_s`` of stored fixes
   through a fresh scorer and stores what it finds.  A crash between steps 1 and 3 therefore loses
   nothing, and a restart neither forgets the scorer's state (an open stop, the last fix before a gap)
   nor repeats an alert.  An interval anomaly (stop, loitering, deviation, rendezvous) that a replay
   finds with a later start than the one stored before the restart (its start fell before the replay
   window) is recognised by its overlap with the stored one of the same kind and devices, and skipped.
   Geofence events made by the first replayed fix of a device (a truck already inside a zone when the
   window opens) are window artefacts and are dropped.

Who alerts on geofences: the restricted-zone rule (``ingest/rules.py``) raises the alert for a fix inside
a restricted zone it was not in before, in the positions transaction.  This stage stores every
``geofence_enter``/``geofence_exit`` as an anomaly, and alerts only a restricted zone *crossed* between
two sparse fixes (neither fix inside it), which the rule cannot see.  One zone entry, one alert.

No :meth:`LiveScorer.flush` at shutdown: stopping ingest does not end a truck's track, and flushing would
close open stops and deviations early; the warm-up at the next start carries them on instead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from cedetect.config import AnomalySettings, IngestSettings
from cedetect.models import (
    NOT_A_TRACK_POINT_FLAGS,
    Alert,
    AlertSeverity,
    Anomaly,
    AnomalyKind,
    PositionFlag,
    alert_id_for,
    utc_now,
)
from cedetect.storage import add_ingest_counts, connect_with_retry, insert_alert
from geofence.corridors import Corridor, CorridorError, corridors_from_geojson, load_corridors
from geofence.zones import Zone, ZoneIndex
from ingest.parse import Parsed, SitePosition
from ingest.rules import StoredFix
from tracking.anomalies import Context
from tracking.batch import corridor_segments
from tracking.live import LiveScorer
from tracking.track import Fix

log = logging.getLogger(__name__)

UNUSABLE_FLAGS = frozenset(flag.value for flag in NOT_A_TRACK_POINT_FLAGS)
JUMP_FLAG = PositionFlag.IMPLAUSIBLE_JUMP.value
#: Flags that keep a fix away from the scorer altogether (an ``implausible_jump`` alone is still checked).
UNSCORABLE_FLAGS = UNUSABLE_FLAGS - {JUMP_FLAG}

#: Kinds that span an interval: a replay that starts inside one finds it again with a later start.
INTERVAL_KINDS = frozenset(
    {AnomalyKind.UNSCHEDULED_STOP, AnomalyKind.LOITERING, AnomalyKind.ROUTE_DEVIATION, AnomalyKind.RENDEZVOUS}
)
GEOFENCE_KINDS = frozenset({AnomalyKind.GEOFENCE_ENTER, AnomalyKind.GEOFENCE_EXIT})
_ESCALATE = {
    AlertSeverity.LOW: AlertSeverity.MEDIUM,
    AlertSeverity.MEDIUM: AlertSeverity.HIGH,
    AlertSeverity.HIGH: AlertSeverity.CRITICAL,
    AlertSeverity.CRITICAL: AlertSeverity.CRITICAL,
}
_TITLES = {
    AnomalyKind.ROUTE_DEVIATION: "left its transit corridor",
    AnomalyKind.UNSCHEDULED_STOP: "unscheduled stop",
    AnomalyKind.LOITERING: "loitering",
    AnomalyKind.GPS_JUMP: "GPS jump",
    AnomalyKind.GAP: "went dark",
    AnomalyKind.RENDEZVOUS: "rendezvous",
    AnomalyKind.GEOFENCE_ENTER: "crossed a restricted zone",
    AnomalyKind.GEOFENCE_EXIT: "left a zone",
}
#: At most this many anomalies wait for a failed store to succeed (the oldest are dropped and counted).
MAX_PENDING = 100_000

_INSERT = (
    "INSERT INTO anomalies (anomaly_id, kind, device_ids, start_utc, end_utc, latitude, longitude, score, reason,"
    " zone_id, evidence, details)"
    " SELECT %(anomaly_id)s, %(kind)s, %(device_ids)s, %(start_utc)s, %(end_utc)s, %(latitude)s, %(longitude)s,"
    " %(score)s, %(reason)s, %(zone_id)s, %(evidence)s, %(details)s"
    " WHERE NOT (%(interval)s AND EXISTS (SELECT 1 FROM anomalies a WHERE a.kind = %(kind)s"
    " AND a.device_ids @> %(device_ids)s AND a.device_ids = %(device_ids)s"
    " AND a.start_utc <= %(end_utc)s AND a.end_utc >= %(start_utc)s))"
    " ON CONFLICT (anomaly_id) DO NOTHING RETURNING anomaly_id"
)

_WARMUP = """
WITH last AS (
    SELECT device_id, max(time_utc) AS t FROM positions
    WHERE time_utc >= %(now)s - make_interval(secs => %(horizon_s)s) AND time_utc <= %(now)s
      AND valid AND NOT (flags && %(unscorable)s)
    GROUP BY device_id
)
SELECT p.device_id, p.time_utc, p.latitude, p.longitude, p.speed_kmh, p.attributes -> 'ignition', p.site,
       NOT (p.flags && %(unusable)s)
FROM positions p JOIN last ON last.device_id = p.device_id
WHERE p.time_utc >= last.t - make_interval(secs => %(window_s)s) AND p.time_utc <= last.t
  AND p.time_utc >= %(now)s - make_interval(secs => %(horizon_s)s + %(window_s)s)
  AND p.valid AND NOT (p.flags && %(unscorable)s)
ORDER BY p.time_utc, p.device_id
"""


def usable(fix: StoredFix) -> bool:
    return fix.valid and not UNUSABLE_FLAGS.intersection(fix.flags)


def jump_evidence(fix: StoredFix) -> bool:
    """A valid fix kept off the track for an implausible jump only: scored for the jump into it."""
    return fix.valid and JUMP_FLAG in fix.flags and not UNSCORABLE_FLAGS.intersection(fix.flags)


def new_fixes(items: Sequence[Parsed], stored: Sequence[StoredFix]) -> list[tuple[Fix, str]]:
    """The fixes a batch stored as new rows that the scorer takes, with their site, in time order (then device).

    The usable ones are track points; a jump-flagged one (:func:`jump_evidence`) comes as
    ``Fix(track_point=False)``.
    """
    keys: dict[tuple[str, datetime], bool] = {}
    for f in stored:
        if usable(f):
            keys[(f.device_id, f.time_utc)] = True
        elif jump_evidence(f):
            keys[(f.device_id, f.time_utc)] = False
    out: dict[tuple[str, datetime], tuple[Fix, str]] = {}
    for item in items:
        if isinstance(item, SitePosition):
            p = item.position
            key = (p.device_id, p.time_utc)
            if key in keys and key not in out:
                fix = Fix.from_position(p)
                out[key] = (fix if keys[key] else replace(fix, track_point=False), item.site)
    return [out[k] for k in sorted(out, key=lambda k: (k[1], k[0]))]


def should_alert(anomaly: Anomaly, zones: ZoneIndex | None) -> bool:
    """Geofence events alert only for a restricted zone crossed between two fixes (see the module docstring)."""
    if anomaly.kind is AnomalyKind.GEOFENCE_EXIT:
        return False
    if anomaly.kind is AnomalyKind.GEOFENCE_ENTER:
        zone = zones.get(anomaly.zone_id) if zones is not None and anomaly.zone_id else None
        if zone is None or zone.kind != "restricted" or len(anomaly.evidence) != 2:
            return False
        last = anomaly.evidence[-1]
        crossed = anomaly.start_utc != last.time_utc and not zone.contains(last.latitude, last.longitude)
        return crossed
    return True


def alert_for(anomaly: Anomaly, severity: AlertSeverity, site: str | None) -> Alert:
    device = ", ".join(anomaly.device_ids)
    title = f"Truck {device}: {_TITLES.get(anomaly.kind, anomaly.kind.value)} ({anomaly.reason})"
    return Alert(
        alert_id=alert_id_for(anomaly.kind.value, anomaly.device_ids, anomaly.start_utc, str(anomaly.anomaly_id)),
        kind=anomaly.kind.value,
        severity=severity,
        device_ids=anomaly.device_ids,
        time_utc=anomaly.end_utc,
        created_utc=utc_now(),
        latitude=anomaly.latitude,
        longitude=anomaly.longitude,
        zone_id=anomaly.zone_id,
        title=title[:300],
        details={
            "anomaly_id": str(anomaly.anomaly_id),
            "score": anomaly.score,
            "reason": anomaly.reason,
            "start_utc": anomaly.start_utc.isoformat(),
            "end_utc": anomaly.end_utc.isoformat(),
            "site": site,
            "evidence": [e.model_dump(mode="json") for e in anomaly.evidence],
            **{k: v for k, v in anomaly.details.items() if k not in ("evidence", "site")},
        },
    )


@dataclass
class Stored:
    """What one store call wrote: anomalies and alerts new to the database."""

    anomalies: list[Anomaly] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    skipped_overlap: int = 0


class AnomalyStage:
    """The scorer, its inputs (zones, corridors) and the alert policy, for one ingest service."""

    def __init__(
        self,
        ingest: IngestSettings,
        settings: AnomalySettings,
        zones: Sequence[Zone] = (),
        corridors: Sequence[Corridor] = (),
    ) -> None:
        self.ingest = ingest
        self.settings = settings
        self.zones = ZoneIndex(list(zones)) if zones else None
        self.file_corridors = tuple(corridors)
        self.corridors = self.file_corridors
        self.scorer = self._fresh_scorer()
        self._declarations_read = -float("inf")
        self.sites: dict[str, str] = {}
        self.last_time: dict[str, datetime] = {}
        self.pending: list[Anomaly] = []
        self.totals: Counter[str] = Counter()

    @classmethod
    def from_settings(cls, ingest: IngestSettings, zones: Sequence[Zone]) -> AnomalyStage:
        settings = AnomalySettings()
        corridors: list[Corridor] = []
        if ingest.corridors_path is not None:
            corridors = load_corridors(ingest.corridors_path, default_width_m=settings.corridor_width_m)
        return cls(ingest, settings, zones, corridors)

    def _fresh_scorer(self) -> LiveScorer:
        return LiveScorer(self.settings, self.corridors, self.zones)

    # --- scoring ---------------------------------------------------------------------------------
    def score(self, fixes: Iterable[tuple[Fix, str]]) -> list[Anomaly]:
        """Feed fixes (time order) to the live scorer; the anomalies they complete, queued in :attr:`pending`."""
        found: list[Anomaly] = []
        refused_before = sum(self.scorer.refused.values())
        for fix, site in fixes:
            last = self.last_time.get(fix.device_id)
            if last is not None and fix.time_utc <= last:  # replayed at the warm-up already, or late
                self.totals["anomaly_fixes_refused"] += 1
                continue
            if fix.track_point:
                self.last_time[fix.device_id] = fix.time_utc
            else:
                self.totals["anomaly_jump_flagged_fixes"] += 1
            self.sites[fix.device_id] = site
            found.extend(self.scorer.update(fix))
        self.totals["anomaly_fixes_refused"] += sum(self.scorer.refused.values()) - refused_before
        self._queue(found)
        return found

    def _queue(self, anomalies: Sequence[Anomaly]) -> None:
        self.pending.extend(anomalies)
        if len(self.pending) > MAX_PENDING:
            dropped = len(self.pending) - MAX_PENDING
            del self.pending[:dropped]
            self.totals["anomalies_dropped_pending"] += dropped
            log.error("%d anomalies dropped: storing them has failed for too long", dropped)

    def store_pending(self, conn: psycopg.Connection) -> Stored:
        """Store what is pending in one transaction; on failure it stays pending (raises the error)."""
        if not self.pending:
            return Stored()
        try:
            result = store_anomalies(conn, self.pending, self.policy, self.sites)
        except psycopg.OperationalError:
            raise  # the database is away: keep them all for the next attempt
        except psycopg.Error as exc:
            # One anomaly the database refuses must not hold up the others: store them one by one.
            log.warning("anomaly batch refused by the database (%s); storing them one by one", exc)
            result = Stored()
            for anomaly in self.pending:
                try:
                    part = store_anomalies(conn, [anomaly], self.policy, self.sites)
                except psycopg.OperationalError:
                    raise
                except psycopg.Error as one_exc:
                    self.totals["anomaly_store_refused"] += 1
                    log.error("anomaly %s refused by the database: %s", anomaly.anomaly_id, one_exc)
                    continue
                result.anomalies.extend(part.anomalies)
                result.alerts.extend(part.alerts)
                result.skipped_overlap += part.skipped_overlap
        self.pending = []
        self.totals["anomalies_new"] += len(result.anomalies)
        self.totals["anomaly_alerts"] += len(result.alerts)
        self.totals["anomalies_skipped_overlap"] += result.skipped_overlap
        return result

    def policy(self, anomaly: Anomaly) -> AlertSeverity | None:
        """The severity of the alert this anomaly raises, or None."""
        severity = self.ingest.anomaly_alert_severity.get(anomaly.kind)
        if severity is None or anomaly.score < self.ingest.anomaly_alert_min_score:
            return None
        if not should_alert(anomaly, self.zones):
            return None
        if anomaly.score >= self.ingest.anomaly_alert_escalate_score:
            return _ESCALATE[severity]
        return severity

    # --- declared corridors ----------------------------------------------------------------------
    def refresh_declared_corridors(self, conn: psycopg.Connection, *, force: bool = False) -> bool:
        """Re-read the declarations' routes if due; True when the corridors changed (and were applied)."""
        every = self.ingest.anomaly_declarations_refresh_s
        now = time.monotonic()
        if every <= 0 or (not force and now - self._declarations_read < every):
            return False
        self._declarations_read = now
        declared = declared_corridors(conn, self.file_corridors, self.settings.corridor_width_m, self.totals)
        conn.commit()
        corridors = self.file_corridors + tuple(declared)
        if corridors == self.corridors:
            return False
        self._apply_corridors(corridors)
        log.info("corridors: %d from the file, %d declared", len(self.file_corridors), len(declared))
        return True

    def _apply_corridors(self, corridors: tuple[Corridor, ...]) -> None:
        """New corridors for the live scorer; a device whose corridors changed starts its deviation run afresh."""
        old = Context(self.settings, self.corridors, self.zones)
        ctx = Context(self.settings, corridors, self.zones)
        self.corridors = corridors
        self.scorer.ctx = ctx
        for device_id, device in self.scorer.devices.items():
            device.ctx = ctx
            if old.corridors_for(device_id) != ctx.corridors_for(device_id):
                device.corridor = corridor_segments(ctx, device_id)
                device.deviation = None
                device.last_dist = float("inf")

    # --- start-up --------------------------------------------------------------------------------
    def warm_up(self, conn: psycopg.Connection, now: datetime | None = None) -> Stored:
        """Replay each device's recent stored fixes through a fresh scorer and store what it finds."""
        self.refresh_declared_corridors(conn, force=True)
        self.scorer = self._fresh_scorer()
        self.pending = []
        self.last_time = {}
        first_seen: set[str] = set()
        found: list[Anomaly] = []
        rows = conn.execute(
            _WARMUP,
            {
                "now": now or utc_now(),
                "horizon_s": self.ingest.anomaly_warmup_horizon_s,
                "window_s": self.ingest.anomaly_warmup_s,
                "unusable": sorted(UNUSABLE_FLAGS),
                "unscorable": sorted(UNSCORABLE_FLAGS),
            },
        ).fetchall()
        conn.commit()
        for device_id, time_utc, lat, lon, speed, ignition, site, track_point in rows:
            fix = Fix(
                device_id, time_utc, lat, lon, speed, ignition if isinstance(ignition, bool) else None, track_point
            )
            self.sites[device_id] = site
            if track_point:
                self.last_time[device_id] = time_utc
            anomalies = self.scorer.update(fix)
            if device_id not in first_seen:
                first_seen.add(device_id)
                anomalies = [a for a in anomalies if a.kind not in GEOFENCE_KINDS]
            found.extend(anomalies)
        self.totals["warmup_fixes"] += len(rows)
        self._queue(found)
        stored = self.store_pending(conn)
        log.info(
            "anomaly warm-up: %d fixes of %d devices replayed, %d anomalies found, %d new, %d new alerts",
            len(rows), len(first_seen), len(found), len(stored.anomalies), len(stored.alerts),
        )  # fmt: skip
        return stored


def compile_kernels(settings: AnomalySettings) -> None:
    """Run a tiny track through a throwaway scorer so Numba compiles (or loads) every kernel now."""
    from datetime import UTC, timedelta

    corridor = Corridor("compile", (((0.0, 0.0), (0.0, 1.0)),), 1000.0)
    scorer = LiveScorer(settings, (corridor,), None)
    t0 = datetime(2000, 1, 1, tzinfo=UTC)
    for i in range(4):
        scorer.update(Fix("compile", t0 + timedelta(minutes=i), 0.01 * i, 0.0, 60.0, True))
    scorer.flush()


class AnomalyWorker:
    """Scores in its own thread on its own connection: ingest's loop only hands over the fixes it stored.

    The thread compiles the kernels, warms the stage up from the database, then scores what
    :meth:`submit` queues and stores it.  A lost connection is retried with back-off; any other failure
    is logged and counted (``anomaly_errors``) and the thread goes on.
    """

    def __init__(
        self,
        stage: AnomalyStage,
        database_url: str,
        connect_timeout_s: float = 60.0,
        publish: Callable[[Stored], None] | None = None,
    ) -> None:
        self.stage = stage
        self.database_url = database_url
        self.connect_timeout_s = connect_timeout_s
        self.publish = publish
        self.inbox: queue.Queue[list[tuple[Fix, str]]] = queue.Queue()
        #: Set once the warm-up has run (or failed for good): from then on, fixes are scored as they come.
        self.ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, stop: threading.Event) -> None:
        self._thread = threading.Thread(target=self.run, args=(stop,), name="ingest-anomalies", daemon=True)
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def submit(self, fixes: list[tuple[Fix, str]]) -> None:
        if fixes:
            self.inbox.put(fixes)

    def _take(self) -> list[tuple[Fix, str]]:
        try:
            out = list(self.inbox.get(timeout=0.5))
        except queue.Empty:
            return []
        while True:
            try:
                out.extend(self.inbox.get_nowait())
            except queue.Empty:
                return out

    def run(self, stop: threading.Event) -> None:
        stage = self.stage
        conn: psycopg.Connection | None = None
        warmed = False
        delay = 0.5
        try:
            compile_kernels(stage.settings)
        except Exception:
            stage.totals["anomaly_errors"] += 1
            log.exception("compiling the anomaly kernels failed")
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect_with_retry(self.database_url, self.connect_timeout_s)
                if not warmed:
                    stored = stage.warm_up(conn)
                    warmed = True
                    self.ready.set()
                    self._publish(stored)
                fixes = self._take()
                try:  # after the wait, so that the fixes meet the newest declarations
                    stage.refresh_declared_corridors(conn)
                except psycopg.Error as exc:  # scoring goes on with the corridors it has
                    stage.totals["anomaly_errors"] += 1
                    log.warning("reading the declared corridors failed: %s", exc)
                    if not conn.closed:
                        conn.rollback()
                stage.score(fixes)
                if stage.pending:
                    self._publish(stage.store_pending(conn))
                delay = 0.5
            except psycopg.OperationalError as exc:
                stage.totals["anomaly_errors"] += 1
                log.warning("anomaly scoring: database unavailable (%s); retrying", exc)
                if conn is not None:
                    conn.close()
                conn = None
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                stage.totals["anomaly_errors"] += 1
                log.exception("anomaly scoring failed; ingest goes on")
                if not warmed:  # a warm-up that fails other than by the connection is not tried again
                    warmed = True
                    self.ready.set()
                if conn is not None and not conn.closed:
                    conn.rollback()
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
        self.ready.set()
        if conn is not None:
            conn.close()

    def _publish(self, stored: Stored) -> None:
        if self.publish is not None and (stored.anomalies or stored.alerts):
            try:
                self.publish(stored)
            except Exception:
                log.exception("publishing anomalies failed (they are stored)")


def store_anomalies(
    conn: psycopg.Connection,
    anomalies: Sequence[Anomaly],
    policy: Callable[[Anomaly], AlertSeverity | None],
    sites: dict[str, str] | None = None,
) -> Stored:
    """Store anomalies and their alerts in one transaction; returns those new to the database."""
    sites = sites or {}
    result = Stored()
    with conn.transaction():
        for anomaly in anomalies:
            interval = anomaly.kind in INTERVAL_KINDS
            row = conn.execute(
                _INSERT,
                {
                    "anomaly_id": anomaly.anomaly_id,
                    "kind": anomaly.kind.value,
                    "device_ids": list(anomaly.device_ids),
                    "start_utc": anomaly.start_utc,
                    "end_utc": anomaly.end_utc,
                    "latitude": anomaly.latitude,
                    "longitude": anomaly.longitude,
                    "score": anomaly.score,
                    "reason": anomaly.reason,
                    "zone_id": anomaly.zone_id,
                    "evidence": Jsonb([e.model_dump(mode="json") for e in anomaly.evidence]),
                    "details": Jsonb(anomaly.details),
                    "interval": interval,
                },
            ).fetchone()
            if row is None:
                if interval:
                    exists = conn.execute(
                        "SELECT 1 FROM anomalies WHERE anomaly_id = %s", (anomaly.anomaly_id,)
                    ).fetchone()
                    result.skipped_overlap += exists is None
                continue
            result.anomalies.append(anomaly)
            severity = policy(anomaly)
            if severity is not None:
                alert = alert_for(anomaly, severity, sites.get(anomaly.device_ids[0]))
                if insert_alert(conn, alert):
                    result.alerts.append(alert)
        counts = Counter({"anomalies_new": len(result.anomalies), "anomaly_alerts": len(result.alerts)})
        add_ingest_counts(conn, counts)
    return result


_DECLARED = """
SELECT declaration_id, tracker_device_id, corridor_id, route FROM declarations
WHERE tracker_device_id IS NOT NULL AND (route IS NOT NULL OR corridor_id IS NOT NULL)
  AND (expected_until_utc IS NULL OR expected_until_utc >= now() - interval '2 days')
ORDER BY declaration_id
"""


def declared_corridors(
    conn: psycopg.Connection, file_corridors: Sequence[Corridor], default_width_m: float, totals: Counter[str]
) -> list[Corridor]:
    """The corridor of each declared tracker: its declared route, or the file corridor its ``corridor_id`` names.

    A route that is not a usable line is counted under its reason (``bad_geometry``, ...), a ``corridor_id``
    not in the file under ``unknown_corridor``; neither stops the others.
    """
    row = conn.execute("SELECT to_regclass('declarations') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return []
    by_id = {c.corridor_id: c for c in file_corridors}
    out: list[Corridor] = []
    for declaration_id, device_id, corridor_id, route in conn.execute(_DECLARED).fetchall():
        if route is not None:
            feature = {
                "type": "Feature",
                "properties": {"corridor_id": f"declaration:{declaration_id}", "device_ids": [device_id]},
                "geometry": {"type": "LineString", "coordinates": route},
            }
            try:
                out.extend(corridors_from_geojson(feature, default_width_m=default_width_m))
            except CorridorError as exc:
                totals[f"declared_route_{exc.reason}"] += 1
                log.warning("declaration %s: route refused (%s)", declaration_id, exc)
        elif corridor_id in by_id:
            named = by_id[corridor_id]
            out.append(Corridor(named.corridor_id, named.lines, named.width_m, frozenset({device_id})))
        else:
            totals["declared_route_unknown_corridor"] += 1
    return out

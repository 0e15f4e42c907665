"""The background task that turns PostgreSQL ``NOTIFY cedetect_alerts`` into live alerts.

It LISTENs on :data:`cedetect.storage.ALERT_CHANNEL` on a connection of its own, loads each
announced alert by id and publishes it to the :class:`~server.hub.AlertHub`.  When that connection
drops (database restart, ``pg_terminate_backend``, network) it reconnects with exponential
backoff and then catches up: every alert created since shortly before the last one it delivered
(and not already delivered) is loaded from the table and published, so a notification sent while
it was away is not missed.  The catch-up window starts ``catch_up_slack_s`` before the newest
``created_utc`` seen because ``created_utc`` is set by the producer and commits may land out of
that order; ids already delivered are remembered and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from cedetect.models import Alert
from cedetect.storage import ALERT_CHANNEL, ALERT_COLUMNS
from server.db import Connection, alerts_from_rows, fetch_alerts_created_since
from server.hub import AlertHub

log = logging.getLogger(__name__)

#: ``application_name`` of the listening connection, to find it in ``pg_stat_activity``.
LISTENER_APPLICATION_NAME = "cedetect-server-alert-listener"

_SELECT_BY_IDS = sql.SQL("SELECT {} FROM alerts WHERE alert_id = ANY(%s) ORDER BY created_utc, alert_id").format(
    sql.SQL(", ").join(map(sql.Identifier, ALERT_COLUMNS))
)


class AlertListener:
    def __init__(
        self,
        database_url: str,
        hub: AlertHub,
        *,
        reconnect_initial_s: float = 0.2,
        reconnect_max_s: float = 10.0,
        ping_interval_s: float = 15.0,
        connect_timeout_s: int = 5,
        catch_up_slack_s: float = 300.0,
        catch_up_limit: int = 10_000,
        remember: int = 10_000,
    ) -> None:
        self._url = database_url
        self._hub = hub
        self._reconnect_initial_s = reconnect_initial_s
        self._reconnect_max_s = reconnect_max_s
        self._ping_interval_s = ping_interval_s
        self._connect_timeout_s = connect_timeout_s
        self._catch_up_slack = timedelta(seconds=catch_up_slack_s)
        self._catch_up_limit = catch_up_limit
        self._remember = remember
        self._delivered: OrderedDict[uuid.UUID, None] = OrderedDict()
        self._listen_started: datetime | None = None
        self._newest_created: datetime | None = None
        self._connected = asyncio.Event()
        #: PostgreSQL backend pid of the listening connection while connected.
        self.backend_pid: int | None = None
        self.connections = 0
        self.delivered = 0
        self.caught_up = 0
        self._listening = False

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff after any connection failure."""
        delay = self._reconnect_initial_s
        while True:
            self._listening = False
            try:
                await self._listen_once()
            except psycopg.Error as exc:
                text = str(exc).strip()
                reason = text.splitlines()[0] if text else type(exc).__name__
                log.warning("alert listener connection lost (%s); reconnecting in %.1fs", reason, delay)
            except Exception:
                log.exception("alert listener failed; restarting in %.1fs", delay)
            if self._listening:
                delay = self._reconnect_initial_s  # it had worked: start the backoff afresh
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max_s)

    async def _listen_once(self) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            application_name=LISTENER_APPLICATION_NAME,
            connect_timeout=self._connect_timeout_s,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        async with conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(ALERT_CHANNEL)))
            # Listening before catching up: an alert committed in between is both announced and
            # found by the catch-up query, and the duplicate is skipped.
            if self._listen_started is None:
                cur = await conn.execute("SELECT now()")
                row = await cur.fetchone()
                assert row is not None
                self._listen_started = row[0]
            else:
                await self._catch_up(conn)
            self.connections += 1
            self.backend_pid = conn.info.backend_pid
            self._listening = True
            self._connected.set()
            log.info("alert listener listening on %s (backend %d)", ALERT_CHANNEL, self.backend_pid)
            try:
                while True:
                    payloads = [n.payload async for n in conn.notifies(timeout=self._ping_interval_s, stop_after=1)]
                    if payloads:
                        await self._deliver_ids(conn, payloads)
                    else:
                        await conn.execute("SELECT 1")  # a quiet connection may be a dead one
            finally:
                self._connected.clear()
                self.backend_pid = None

    async def _catch_up(self, conn: Connection) -> None:
        assert self._listen_started is not None
        since = self._listen_started
        if self._newest_created is not None:
            since = max(since, self._newest_created - self._catch_up_slack)
        missed = [
            alert
            for alert in await fetch_alerts_created_since(conn, since, self._catch_up_limit)
            if alert.alert_id not in self._delivered
        ]
        if missed:
            log.info("alert listener caught up %d alert(s) announced while it was disconnected", len(missed))
        self.caught_up += len(missed)
        self._publish(missed)

    async def _deliver_ids(self, conn: Connection, payloads: Iterable[str]) -> None:
        ids: list[uuid.UUID] = []
        for payload in payloads:
            try:
                alert_id = uuid.UUID(payload)
            except ValueError:
                log.warning("ignoring a notification on %s that is not an alert id: %r", ALERT_CHANNEL, payload)
                continue
            if alert_id not in self._delivered and alert_id not in ids:
                ids.append(alert_id)
        if not ids:
            return
        cur = await conn.execute(_SELECT_BY_IDS, (ids,))
        alerts = alerts_from_rows(await cur.fetchall())
        found = {alert.alert_id for alert in alerts}
        for alert_id in ids:
            if alert_id not in found:
                log.warning("announced alert %s is not in the alerts table", alert_id)
        self._publish(alerts)

    def _publish(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            if alert.alert_id in self._delivered:
                continue
            self._delivered[alert.alert_id] = None
            while len(self._delivered) > self._remember:
                self._delivered.popitem(last=False)
            if self._newest_created is None or alert.created_utc > self._newest_created:
                self._newest_created = alert.created_utc
            self.delivered += 1
            self._hub.publish(alert)

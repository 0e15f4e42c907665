"""The live alert WebSocket: NOTIFY -> listener -> hub -> client, replay, and listener reconnects."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.connection import Connection as ClientConnection

from cedetect.models import Alert, utc_now
from cedetect.storage import insert_alert
from server.listener import LISTENER_APPLICATION_NAME
from tests.server.conftest import LiveServer
from tests.server.factories import make_alert, store_alert
from tests.support import wait_for

pytestmark = pytest.mark.postgres


@contextmanager
def live_client(live: LiveServer, query: str = "", *, subscribed: int = 1) -> Iterator[ClientConnection]:
    """A client of /api/v1/alerts/live, returned once the server has subscribed it to the hub."""
    with connect(live.ws_url("/api/v1/alerts/live" + query), open_timeout=10) as ws:
        wait_for(lambda: live.state.hub.client_count >= subscribed, timeout_s=10)
        yield ws


def receive(ws: ClientConnection, timeout_s: float = 15.0) -> dict[str, Any]:
    message = ws.recv(timeout=timeout_s)
    body: dict[str, Any] = json.loads(message)
    return body


def receive_alert(ws: ClientConnection, timeout_s: float = 15.0) -> Alert:
    body = receive(ws, timeout_s)
    assert body["type"] == "alert", body
    return Alert.model_validate(body["alert"])


def test_a_committed_alert_reaches_every_connected_client(live: LiveServer, database_url: str) -> None:
    with live_client(live) as first, live_client(live, subscribed=2) as second:
        alert = store_alert(database_url, make_alert())
        assert receive_alert(first) == alert
        message = receive(second)
        assert message == {"type": "alert", "alert": alert.model_dump(mode="json")}


def test_an_uncommitted_alert_is_not_streamed(live: LiveServer, database_url: str) -> None:
    with live_client(live) as ws:
        with psycopg.connect(database_url) as conn:
            insert_alert(conn, make_alert(title="rolled back"))
            conn.rollback()
        committed = store_alert(database_url, make_alert(title="committed"))
        assert receive_alert(ws) == committed  # the rolled-back one never arrived before it


def test_since_replays_stored_alerts_then_streams(live: LiveServer, database_url: str) -> None:
    now = utc_now()
    old = store_alert(database_url, make_alert(created_utc=now - timedelta(hours=2)))
    recent = [store_alert(database_url, make_alert(created_utc=now - timedelta(minutes=m))) for m in (10, 5)]
    since = (now - timedelta(hours=1)).isoformat()
    with live_client(live, "?since=" + quote(since)) as ws:
        assert [receive_alert(ws) for _ in recent] == recent  # oldest first, nothing older than since
        fresh = store_alert(database_url, make_alert())
        assert receive_alert(ws) == fresh
    assert old.alert_id not in {a.alert_id for a in recent}


def test_since_must_be_an_aware_time(live: LiveServer) -> None:
    with connect(live.ws_url("/api/v1/alerts/live?since=2025-01-15T08:00:00"), open_timeout=10) as ws:
        body = receive(ws)
        assert body["type"] == "error"
        assert body["error"] == "invalid_request"
        assert body["detail"][0]["loc"] == ["query", "since"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


def _terminate_listener(admin: psycopg.Connection, database: str) -> int:
    rows = admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
        (database, LISTENER_APPLICATION_NAME),
    ).fetchall()
    return len(rows)


def test_the_listener_reconnects_and_catches_up_what_it_missed(
    live: LiveServer, database_url: str, admin_database_url: str
) -> None:
    database = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    assert isinstance(database, str)
    listener = live.state.listener
    first_pid = listener.backend_pid
    with (
        live_client(live) as ws,
        psycopg.connect(admin_database_url, autocommit=True) as admin,
        psycopg.connect(database_url) as writer,
    ):
        before = store_alert(database_url, make_alert(title="before the drop"))
        assert receive_alert(ws) == before

        # Keep the listener out while an alert is committed (on a connection opened earlier):
        # its NOTIFY reaches nobody.
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        try:
            assert _terminate_listener(admin, database) == 1
            wait_for(lambda: not listener.connected, timeout_s=10)
            missed = make_alert(title="while the listener was away")
            assert insert_alert(writer, missed)
            writer.commit()
        finally:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        assert receive_alert(ws, timeout_s=30) == missed  # found by the catch-up query
        wait_for(lambda: listener.connected, timeout_s=10)
        assert listener.backend_pid != first_pid
        assert listener.caught_up == 1

        after = store_alert(database_url, make_alert(title="after the reconnect"))
        assert receive_alert(ws) == after
        # Nothing was delivered twice.
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)


def test_a_listener_killed_while_idle_comes_back(live: LiveServer, database_url: str, admin_database_url: str) -> None:
    database = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    listener = live.state.listener
    with live_client(live) as ws, psycopg.connect(admin_database_url, autocommit=True) as admin:
        for _ in range(2):
            old_pid = listener.backend_pid
            assert _terminate_listener(admin, str(database)) == 1

            def back(old_pid: int | None = old_pid) -> bool:
                return listener.connected and listener.backend_pid != old_pid

            wait_for(back, timeout_s=15)
            alert = store_alert(database_url, make_alert())
            assert receive_alert(ws) == alert


def test_clients_that_leave_are_unsubscribed(live: LiveServer) -> None:
    with live_client(live), live_client(live, subscribed=2):
        assert live.state.hub.client_count == 2
    wait_for(lambda: live.state.hub.client_count == 0, timeout_s=10)


def test_the_database_going_away_is_a_named_503_and_recovers(
    serve: Callable[..., LiveServer], database_url: str, admin_database_url: str
) -> None:
    live = serve(pool_timeout_s=1.0)
    database = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with (
        httpx.Client(base_url=live.base_url, timeout=30) as http,
        psycopg.connect(admin_database_url, autocommit=True) as admin,
    ):
        assert http.get("/api/v1/health").status_code == 200
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
            response = http.get("/api/v1/alerts")
            assert response.status_code == 503
            assert response.json()["error"] == "database_unavailable"
            assert response.headers["retry-after"] == "5"
            assert http.get("/api/v1/health").status_code == 503
        finally:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        wait_for(lambda: http.get("/api/v1/health").status_code == 200, timeout_s=30)
        wait_for(lambda: live.state.listener.connected, timeout_s=30)
        with live_client(live) as ws:
            alert = store_alert(database_url, make_alert())
            assert receive_alert(ws) == alert


def test_server_shutdown_closes_live_clients(serve: Callable[..., LiveServer]) -> None:
    live = serve()
    with live_client(live) as ws:
        live.stop()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)
    assert live.state.hub.client_count == 0

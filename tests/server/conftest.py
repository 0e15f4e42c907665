"""A real server for the tests: the app from ``create_app`` served by uvicorn on a free loopback port."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI

from cedetect.storage import connect_with_retry, migrate
from server.app import create_app
from server.deps import ServerState
from tests.support import free_port, wait_for


class LiveServer:
    """``app`` served by uvicorn in a background thread, as in production (lifespan, real sockets)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def state(self) -> ServerState:
        state = self.app.state.cedetect
        assert isinstance(state, ServerState)
        return state

    def start(self) -> None:
        self._thread.start()
        wait_for(lambda: self._server.started or not self._thread.is_alive(), timeout_s=60)
        if not self._server.started:
            pytest.fail("the server did not start")
        # The listener's first LISTEN marks where live delivery begins.
        wait_for(lambda: self.state.listener.connected, timeout_s=30)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the server did not stop"


@pytest.fixture
def serve(database_url: str) -> Iterator[Callable[..., LiveServer]]:
    """Factory: start a server on the test's database (``create_app`` keyword arguments pass through)."""
    started: list[LiveServer] = []

    def start(**kwargs: Any) -> LiveServer:
        server = LiveServer(create_app(database_url, **kwargs))
        server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def live(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve()


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        yield http


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the migrated test database, for inserting rows."""
    with connect_with_retry(database_url, timeout_s=10) as conn:
        migrate(conn)
        conn.autocommit = True
        yield conn

"""Fixtures for the real services started by ``scripts/test.sh``: PostgreSQL and an MQTT broker.

Tests that need them fail with a clear message when the services are absent: run the suite
through ``./scripts/test.sh`` (or set ``CEDETECT_TEST_DATABASE_URL`` and ``CEDETECT_TEST_MQTT_*``).
"""

from __future__ import annotations

import itertools
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

_counter = itertools.count()


def _require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests with ./scripts/test.sh, which starts the services")
    return value


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def admin_database_url() -> str:
    url = _require_env("CEDETECT_TEST_DATABASE_URL")
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def make_database(admin_database_url: str) -> Iterator[Callable[[], str]]:
    """Factory: a new empty database per call, dropped at the end of the session."""
    created: list[str] = []

    def make() -> str:
        name = f"cedetect_test_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(admin_database_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        created.append(name)
        parts = urlsplit(admin_database_url)
        return urlunsplit(parts._replace(path="/" + name))

    yield make
    with psycopg.connect(admin_database_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(make_database: Callable[[], str]) -> str:
    """A fresh, empty database for one test."""
    return make_database()


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    host = os.environ.get("CEDETECT_TEST_MQTT_HOST", "127.0.0.1")
    port = int(_require_env("CEDETECT_TEST_MQTT_PORT"))
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return host, port
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"MQTT broker not reachable at {host}:{port}")
            time.sleep(0.2)

"""Helpers shared by the tests: free loopback ports and polling with a deadline (never fixed sleeps)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Literal, TypeVar

import pytest

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(probe: Callable[[], T | Literal[False] | None], timeout_s: float = 30.0, interval_s: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s}s: {getattr(probe, '__name__', probe)}")
        time.sleep(interval_s)

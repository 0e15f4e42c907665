"""Helpers shared by the tests: free loopback ports and polling with a deadline (never fixed sleeps)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import pytest

from cedetect.topics import TopicKind

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


class Collected:
    """Stands in for a publish callback (the agent's outbox): keeps every (kind, device id, payload) given."""

    def __init__(self) -> None:
        self.messages: list[tuple[TopicKind, str, Any]] = []

    def __call__(self, kind: TopicKind, device_id: str, payload: Any) -> None:
        self.messages.append((kind, device_id, payload))

    def of(self, kind: TopicKind) -> list[Any]:
        return [p for k, _, p in self.messages if k is kind]

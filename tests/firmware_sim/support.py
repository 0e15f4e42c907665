"""Helpers for running simulated devices against the edge agent's own inputs, in this process.

The protocol/transport cases come from the protocol registry at collection time (:func:`pairs`); a pair
whose location frames the server cannot decode (see :func:`firmware_sim.wire.check_wire`) is an expected
failure with the reason, and runs as soon as the protocol can be simulated over that transport.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from cedetect import protocols
from cedetect.models import DeadLetter, Position
from cedetect.protocols.base import ProtocolSpec, Transport
from cedetect.topics import TopicKind
from edge.http_input import HttpInput
from edge.pipeline import Pipeline
from edge.trackers import TrackerServer
from edge.udp import UdpServer
from firmware_sim.device import Device
from firmware_sim.imei import imei_for
from firmware_sim.pacing import Pace
from firmware_sim.truck import Fix, PhaseKind
from firmware_sim.wire import check_wire, device_id_for, encoder_factory_for

T = TypeVar("T")
START = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


def pairs(*, mqtt: bool) -> list[Any]:
    """pytest params (protocol, transport) over the registry; xfail where the encoder cannot serve the transport."""
    params = []
    for name, spec in sorted(protocols.PROTOCOLS.items()):
        if spec.encoder_factory is None:
            continue
        for transport in spec.transports:
            if (transport == "mqtt") != mqtt:
                continue
            check = check_wire(spec, transport, device_id_for(spec, transport, imei_for(3, 0)))
            marks = [] if check.ok else [pytest.mark.xfail(reason=check.summary(), run=False, strict=True)]
            params.append(pytest.param(name, transport, marks=marks, id=f"{name}-{transport}"))
    return params


def make_fixes(count: int, *, step_s: float = 10.0) -> list[Fix]:
    fixes = []
    for i in range(count):
        lat, lon = 41.2 + i * 0.0011, 26.4 + i * 0.0017
        fixes.append(
            Fix(
                time_utc=START + timedelta(seconds=i * step_s),
                latitude=lat,
                longitude=lon,
                speed_kmh=float(50 + i),
                heading_deg=float((i * 41) % 360),
                satellites=9,
                valid=True,
                ignition=True,
                sim_time_s=i * step_s,
                odometer_m=1000.0 * i,
                true_latitude=lat,
                true_longitude=lon,
                trip=0,
                phase=PhaseKind.DRIVE,
            )
        )
    return fixes


class Recorder:
    """The edge pipeline's publish callback: keeps what would go to the outbox."""

    def __init__(self) -> None:
        self.items: list[tuple[TopicKind, str, BaseModel]] = []
        self.pipeline = Pipeline(self.publish, site="sim-test", agent_id="sim-test")

    def publish(self, kind: TopicKind, device_id: str, payload: BaseModel) -> None:
        self.items.append((kind, device_id, payload))

    def all_positions(self, device_id: str) -> list[Position]:
        return [p for _, _, p in self.items if isinstance(p, Position) and p.device_id == device_id]

    def positions(self, device_id: str) -> list[Position]:
        """The valid fixes.  A device may report void fixes of its own accord (a TK103 login carries the
        last fix, or a void one at 0,0 before the first): those are not what the simulator sent."""
        return [p for p in self.all_positions(device_id) if p.valid]

    def void_positions(self, device_id: str) -> list[Position]:
        return [p for p in self.all_positions(device_id) if not p.valid]

    def dead_letters(self) -> list[DeadLetter]:
        return [p for _, _, p in self.items if isinstance(p, DeadLetter)]


async def serve(
    spec: ProtocolSpec, transport: Transport, pipeline: Pipeline
) -> tuple[int, Callable[[], Coroutine[Any, Any, None]]]:
    server: TrackerServer | UdpServer | HttpInput
    if transport == "tcp":
        server = TrackerServer(spec.name, pipeline, host="127.0.0.1", port=0)
    elif transport == "udp":
        server = UdpServer(spec.name, pipeline, host="127.0.0.1", port=0)
    else:
        server = HttpInput(spec.name, pipeline, host="127.0.0.1", port=0)
    return await server.start(), server.stop


def make_device(spec: ProtocolSpec, transport: Transport, fixes: list[Fix], seed: int, **options: Any) -> Device:
    device_id = device_id_for(spec, transport, imei_for(seed, 0))
    settings: dict[str, Any] = {
        "pace": Pace(0),
        "heartbeat_every": 3,
        "login_timeout_s": 2.0,
        "ack_timeout_s": 2.0,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
    }
    settings.update(options)
    return Device(encoder_factory_for(spec, transport)(device_id), fixes, transport=transport, **settings)


def run(main: Awaitable[T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(60):
            return await main

    return asyncio.run(bounded())


def assert_same_fix(position: Position, fix: Fix) -> None:
    assert position.time_utc == fix.time_utc
    assert math.isclose(position.latitude, fix.latitude, abs_tol=1e-4)
    assert math.isclose(position.longitude, fix.longitude, abs_tol=1e-4)

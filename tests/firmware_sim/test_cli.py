"""``cedetect sim`` options: protocol, transport, port, and the usage errors."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest

from cedetect import protocols
from cedetect.cli import main as cedetect_main
from cedetect.protocols.base import Transport
from edge.pipeline import Pipeline
from firmware_sim.fleet import build_fleet
from firmware_sim.profile import fixed_interval_profile, load_profile
from firmware_sim.wire import device_id_for
from tests.firmware_sim.gt06_server import wait_until
from tests.firmware_sim.support import Recorder, pairs, serve

SIM = ["--log-level", "WARNING", "sim"]
START = datetime(2026, 1, 26, 8, 0, 0, tzinfo=UTC)


def simulated() -> list[str]:
    return sorted(name for name, spec in protocols.PROTOCOLS.items() if spec.encoder_factory is not None)


def first_pair(transport: Transport) -> Any:
    """The first registered protocol (in name order) that can be simulated over ``transport``."""
    for param in pairs(mqtt=transport == "mqtt"):
        name, carried = param.values
        if carried == transport and not param.marks:
            return pytest.param(name, transport, id=f"{name}-{transport}")
    return pytest.param("-", transport, marks=pytest.mark.skip(reason=f"no protocol over {transport} yet"))


class ServerThread:
    """An edge input of one protocol/transport on an event loop of its own, for the CLI to send to."""

    def __init__(self, name: str, transport: Transport) -> None:
        self.name = name
        self.transport: Transport = transport
        self.recorder = Recorder()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._stop: Callable[[], Coroutine[Any, Any, None]] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(self.recorder.pipeline,), daemon=True)

    def _serve(self, pipeline: Pipeline) -> None:
        asyncio.set_event_loop(self.loop)
        self.port, self._stop = self.loop.run_until_complete(serve(protocols.get(self.name), self.transport, pipeline))
        self._ready.set()
        self.loop.run_forever()

    def wait_until(self, probe: Callable[[], object]) -> None:
        asyncio.run_coroutine_threadsafe(wait_until(probe), self.loop).result(30)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.mark.parametrize(("name", "transport"), [first_pair("udp"), first_pair("http")])
def test_cli_sends_every_truck_in_the_protocol_over_the_transport(name: str, transport: Transport) -> None:
    spec = protocols.get(name)
    options = ["--trucks", "2", "--speedup", "0", "--max-fixes", "5", "--seed", "11", "--interval-s", "5"]
    with ServerThread(name, transport) as server:
        code = cedetect_main(
            [
                *SIM,
                *("--protocol", name, "--transport", transport, "--port", str(server.port)),
                *options,
                *("--start-utc", START.isoformat()),
            ]
        )
        assert code == 0
        profile = fixed_interval_profile(load_profile(), 5.0)
        for truck in build_fleet(2, 11):
            device_id = device_id_for(spec, transport, truck.imei)

            def arrived(device_id: str = device_id) -> bool:
                return len(server.recorder.positions(device_id)) >= 5

            server.wait_until(arrived)
            positions = server.recorder.positions(device_id)
            fixes = truck.model(start_utc=START, profile=profile).fixes()
            assert [p.time_utc for p in positions] == [next(fixes).time_utc for _ in range(5)]
            assert {p.protocol for p in positions} == {spec.name}


def test_unknown_protocol_is_a_usage_error(caplog: pytest.LogCaptureFixture) -> None:
    assert cedetect_main([*SIM, "--protocol", "no-such-tracker"]) == 2
    assert "unknown tracker protocol" in caplog.text


def test_a_transport_the_protocol_lacks_is_a_usage_error(caplog: pytest.LogCaptureFixture) -> None:
    name, missing = next(
        (name, t)
        for name in simulated()
        for t in ("tcp", "udp", "http", "mqtt")
        if t not in protocols.get(name).transports
    )
    assert cedetect_main([*SIM, "--protocol", name, "--transport", missing]) == 2
    assert f"not {missing}" in caplog.text


def test_gt06_port_is_the_port_of_gt06_only(caplog: pytest.LogCaptureFixture) -> None:
    other = next(name for name in simulated() if name != "gt06")
    assert cedetect_main([*SIM, "--protocol", other, "--gt06-port", "5023"]) == 2
    assert "--gt06-port" in caplog.text
    assert cedetect_main([*SIM, "--port", "5024", "--gt06-port", "5023"]) == 2
    assert "disagree" in caplog.text

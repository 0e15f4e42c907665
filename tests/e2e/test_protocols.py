"""End to end for every tracker protocol the simulator speaks, over each of its transports:
``cedetect sim`` -> ``cedetect edge`` -> Mosquitto -> ``cedetect ingest`` -> PostgreSQL, each a real process.

The cases come from the protocol registry at collection time: every protocol with a device encoder,
times each of its transports.  A pair whose location frames the protocol's own decoder refuses for that
transport (see :func:`firmware_sim.wire.check_wire`) is an expected failure, with the reason, that is not
run; it runs as soon as the protocol can be simulated over the transport.

One ingest serves the module (one database, one site); each protocol gets one edge agent, started when
its first case needs it and kept for its other transports.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cedetect import protocols
from cedetect.protocols.base import Transport
from firmware_sim.fleet import build_fleet
from firmware_sim.imei import imei_for
from firmware_sim.profile import fixed_interval_profile, load_profile
from firmware_sim.truck import Fix
from firmware_sim.wire import COORDINATE_TOLERANCE_DEG, check_wire, device_id_for
from tests.e2e.processes import Service, service_env, wait_ready
from tests.support import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.mqtt]

TRUCKS = 2
FIXES = 15
INTERVAL_S = 10.0
FAULT_SEED = 9000


def protocol_cases() -> list[Any]:
    """(protocol, transport, seed) for every registered protocol with an encoder and each of its transports;
    each case has a seed of its own, so that its devices are its own."""
    params = []
    for number, (name, transport) in enumerate(
        (name, transport)
        for name, spec in sorted(protocols.PROTOCOLS.items())
        if spec.encoder_factory is not None
        for transport in spec.transports
    ):
        params.append(pytest.param(name, transport, 7000 + number, id=f"{name}-{transport}"))
    return params


@pytest.mark.parametrize(("name", "transport", "seed"), protocol_cases())
def test_the_simulator_can_speak_every_protocol_and_transport(name: str, transport: Transport, seed: int) -> None:
    """What the simulator sends decodes with the protocol's own framer and decoder (no case is exempt)."""
    spec = protocols.get(name)
    check = check_wire(spec, transport, device_id_for(spec, transport, imei_for(seed, 0)))
    assert check.ok, check.summary()


@dataclass
class Stack:
    env: dict[str, str]
    tmp: Path
    database_url: str
    site: str
    mqtt: tuple[str, int]
    services: list[Service] = field(default_factory=list)
    edge_ports: dict[str, int] = field(default_factory=dict)

    def edge(self, name: str) -> int:
        """The port of the edge agent for protocol ``name``, started (and waited for) on first use."""
        if name in self.edge_ports:
            return self.edge_ports[name]
        spec = protocols.get(name)
        port = free_port()
        env = dict(
            self.env,
            CEDETECT_EDGE_PROTOCOLS=json.dumps([spec.name]),
            CEDETECT_EDGE_PORTS=json.dumps({spec.name: port}),
            CEDETECT_EDGE_AGENT_ID=f"edge-{spec.name}",
            CEDETECT_EDGE_OUTBOX_PATH=str(self.tmp / f"outbox-{spec.name}.sqlite3"),
            CEDETECT_EDGE_MQTT_FIXES="true" if "mqtt" in spec.transports else "false",
        )
        edge = Service(f"edge-{spec.name}", ["edge"], env, self.tmp)
        self.services.append(edge)
        expected = [f"({t})" for t in spec.transports if t != "mqtt"]

        def ready() -> bool:
            lines = [line for line in edge.log().splitlines() if f"{spec.name}: listening on" in line]
            listening = all(any(t in line for line in lines) for t in expected)
            return listening and ("mqtt" not in spec.transports or "subscribed to" in edge.log())

        wait_ready(edge, ready, timeout_s=30)
        self.edge_ports[name] = port
        return port

    def sim(self, name: str, transport: Transport, seed: int, start_utc: datetime, *extra: str) -> Service:
        """Run ``cedetect sim`` for ``TRUCKS`` trucks of ``FIXES`` fixes to completion; fail on a non-zero exit."""
        args = [
            "sim",
            *("--protocol", name, "--transport", transport, "--host", "127.0.0.1"),
            *("--trucks", str(TRUCKS), "--max-fixes", str(FIXES), "--speedup", "0", "--seed", str(seed)),
            *("--interval-s", str(INTERVAL_S), "--start-utc", start_utc.isoformat()),
            *extra,
        ]
        port = self.edge(name)  # MQTT fixes, too, go through the site's edge agent
        if transport == "mqtt":
            args += ["--site", self.site, "--mqtt-host", self.mqtt[0], "--mqtt-port", str(self.mqtt[1])]
        else:
            args += ["--port", str(port)]
        sim = Service(f"sim-{name}-{transport}-{seed}", args, self.env, self.tmp)
        try:
            wait_for(lambda: not sim.alive(), timeout_s=60)
        finally:
            code = sim.stop()
        assert code == 0, f"sim exited with {code}:\n{sim.log()[-3000:]}"
        return sim

    def query(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, make_database: Callable[[], str], mqtt_broker: tuple[str, int]
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("protocols")
    database_url = make_database()
    site = f"proto{uuid.uuid4().hex[:8]}"
    env = service_env(
        CEDETECT_DATABASE_URL=database_url,
        CEDETECT_MQTT_HOST=mqtt_broker[0],
        CEDETECT_MQTT_PORT=str(mqtt_broker[1]),
        CEDETECT_EDGE_SITE=site,
        CEDETECT_INGEST_SITE=site,
        CEDETECT_INGEST_CLIENT_ID=f"ingest-{site}",
    )
    stack = Stack(env, tmp, database_url, site, mqtt_broker)
    try:
        ingest = Service("ingest", ["ingest"], env, tmp)
        stack.services.append(ingest)
        wait_ready(ingest, lambda: "subscribed to" in ingest.log(), timeout_s=60)
        yield stack
    finally:
        codes = {s.name: s.stop() for s in reversed(stack.services)}
        for s in stack.services:
            print(f"--- {s.name} log ---\n{s.log()[-2000:]}")
        assert all(code == 0 for code in codes.values()), codes


def expected_fixes(seed: int, start_utc: datetime) -> list[list[Fix]]:
    """The first ``FIXES`` fixes of each truck, as the simulator's truck models produce them."""
    profile = fixed_interval_profile(load_profile(), INTERVAL_S)
    return [
        [fix for fix, _ in zip(truck.model(start_utc=start_utc, profile=profile).fixes(), range(FIXES), strict=False)]
        for truck in build_fleet(TRUCKS, seed)
    ]


def stored_positions(stack: Stack, name: str, device_ids: list[str]) -> list[tuple[Any, ...]]:
    return stack.query(
        "SELECT device_id, time_utc, latitude, longitude, valid, flags FROM positions"
        " WHERE protocol = %s AND device_id = ANY(%s) ORDER BY device_id, time_utc",
        (name, device_ids),
    )


def assert_stored_as_sent(rows: list[tuple[Any, ...]], device_ids: list[str], fixes: list[list[Fix]]) -> None:
    """The valid positions are exactly the fixes sent, once each; any other is a void fix the device
    reported of its own accord (a TK103 login repeats the last fix, or a void one at 0,0)."""
    for device_id, sent in zip(device_ids, fixes, strict=True):
        valid = [r for r in rows if r[0] == device_id and r[4]]
        assert [r[1] for r in valid] == [f.time_utc for f in sent], device_id
        for row, fix in zip(valid, sent, strict=True):
            assert math.isclose(row[2], fix.latitude, abs_tol=COORDINATE_TOLERANCE_DEG), (row, fix)
            assert math.isclose(row[3], fix.longitude, abs_tol=COORDINATE_TOLERANCE_DEG), (row, fix)
    assert all("invalid_fix" in r[5] for r in rows if not r[4])


def start_time() -> datetime:
    """Fix times from half an hour ago: well inside the edge's future and stale tolerances."""
    return (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)


@pytest.mark.parametrize(("name", "transport", "seed"), protocol_cases())
def test_simulated_fixes_reach_postgresql(stack: Stack, name: str, transport: Transport, seed: int) -> None:
    spec = protocols.get(name)
    start_utc = start_time()
    device_ids = [device_id_for(spec, transport, truck.imei) for truck in build_fleet(TRUCKS, seed)]
    stack.sim(name, transport, seed, start_utc)

    def all_stored() -> list[tuple[Any, ...]] | None:
        rows = stored_positions(stack, spec.name, device_ids)
        return rows if sum(1 for r in rows if r[4]) >= TRUCKS * FIXES else None

    rows = wait_for(all_stored, timeout_s=30)
    assert_stored_as_sent(rows, device_ids, expected_fixes(seed, start_utc))


def duplicates_counted(stack: Stack) -> int:
    rows = stack.query("SELECT count FROM ingest_counters WHERE reason = %s", ("positions_duplicate",))
    return int(rows[0][0]) if rows else 0


def test_gt06_faults_lose_no_fix_and_keep_the_corrupt_frames(stack: Stack) -> None:
    name: str = "gt06"
    transport: Transport = "tcp"
    corrupt = (3, 10)  # per truck
    duplicate = (5, 12)
    faults = ",".join(
        [*(f"corrupt={i}" for i in corrupt), *(f"duplicate={i}" for i in duplicate), "disconnect_after=6"]
    )
    start_utc = start_time()
    device_ids = [truck.imei for truck in build_fleet(TRUCKS, FAULT_SEED)]
    stack.edge(name)
    duplicates_before = duplicates_counted(stack)
    sim = stack.sim(name, transport, FAULT_SEED, start_utc, "--faults", faults)

    def all_stored() -> list[tuple[Any, ...]] | None:
        rows = stored_positions(stack, name, device_ids)
        return rows if len(rows) >= TRUCKS * FIXES else None

    rows = wait_for(all_stored, timeout_s=30)
    assert len(rows) == TRUCKS * FIXES  # each distinct fix stored once: no loss, no duplicate row
    assert_stored_as_sent(rows, device_ids, expected_fixes(FAULT_SEED, start_utc))

    def quarantined() -> list[tuple[Any, ...]] | None:
        found = stack.query(
            "SELECT device_id, reason, raw FROM quarantine WHERE protocol = %s AND device_id = ANY(%s)",
            (name, device_ids),
        )
        return found if len(found) >= TRUCKS * len(corrupt) else None

    letters = wait_for(quarantined, timeout_s=30)
    assert sorted((r[0], r[1]) for r in letters) == sorted(
        (device_id, "bad_checksum") for device_id in device_ids for _ in corrupt
    )
    assert all(bytes(r[2]).startswith(b"\x78\x78") and bytes(r[2]).endswith(b"\r\n") for r in letters)
    # The duplicates reached ingest and were not stored twice.
    wait_for(lambda: duplicates_counted(stack) - duplicates_before >= TRUCKS * len(duplicate), timeout_s=30)
    log = sim.log()
    assert log.count("logins=3") == TRUCKS  # a session dropped after every 6 new frames: 15 fixes, 3 logins

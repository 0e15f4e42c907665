"""The device client for every registered protocol with an encoder, over each of its transports, against
the edge agent's own inputs (TCP tracker server, UDP server, HTTP input, MQTT fix input) in this process.
The cases come from the protocol registry (see :func:`tests.firmware_sim.support.pairs`).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest

from cedetect import protocols
from cedetect.config import MqttSettings
from cedetect.models import Position, PositionFlag
from cedetect.protocols.base import Transport
from edge.mqtt_input import MqttFixInput
from firmware_sim.device import Device, DeviceStats
from firmware_sim.faults import Faults
from tests.firmware_sim.gt06_server import wait_until
from tests.firmware_sim.support import Recorder, assert_same_fix, make_device, make_fixes, pairs, run, serve


@pytest.mark.parametrize(("name", "transport"), pairs(mqtt=False))
def test_every_fix_arrives_decoded_as_sent(name: str, transport: Transport) -> None:
    spec = protocols.get(name)
    recorder = Recorder()
    fixes = make_fixes(8)

    async def main() -> tuple[Device, DeviceStats]:
        port, stop = await serve(spec, transport, recorder.pipeline)
        try:
            device = make_device(spec, transport, fixes, seed=3, port=port)
            stats = await device.run()
            # Fire-and-forget datagrams may still wait in the socket for this loop to read them.
            await wait_until(lambda: len(recorder.positions(device.device_id)) >= len(fixes))
            return device, stats
        finally:
            await stop()

    device, stats = run(main())
    positions = recorder.positions(device.device_id)
    assert len(positions) == len(fixes)
    for position, fix in zip(positions, fixes, strict=True):
        assert position.protocol == spec.name
        assert_same_fix(position, fix)
    assert all(PositionFlag.INVALID_FIX in p.flags for p in recorder.void_positions(device.device_id))
    assert recorder.dead_letters() == []
    assert stats.logins == 1
    assert stats.fixes_sent == stats.fixes_confirmed == len(fixes)
    assert stats.unanswered == stats.disconnects == 0
    if device.wire is not None and "heartbeat" in device.wire.sent:
        assert stats.heartbeats_sent >= 2


@pytest.mark.parametrize(("name", "transport"), pairs(mqtt=False))
def test_faults_lose_no_fix(name: str, transport: Transport) -> None:
    spec = protocols.get(name)
    recorder = Recorder()
    fixes = make_fixes(12)
    faults = Faults.parse(
        "corrupt=1,duplicate=2,out_of_order=4,garbage=6,garbage_bytes=9,disconnect_after=5,offline=9,offline_fixes=2"
    )

    async def main() -> tuple[Device, DeviceStats]:
        port, stop = await serve(spec, transport, recorder.pipeline)
        try:
            device = make_device(spec, transport, fixes, seed=4, port=port, faults=faults)
            stats = await device.run()
            wanted = {f.time_utc for f in fixes}
            await wait_until(lambda: wanted <= {p.time_utc for p in recorder.positions(device.device_id)})
            return device, stats
        finally:
            await stop()

    device, stats = run(main())
    positions = recorder.positions(device.device_id)
    by_time: dict[datetime, list[Position]] = {}
    for position in positions:
        by_time.setdefault(position.time_utc, []).append(position)
    assert sorted(by_time) == [f.time_utc for f in fixes]  # nothing lost
    for fix in fixes:
        assert_same_fix(by_time[fix.time_utc][0], fix)
    assert len(by_time[fixes[2].time_utc]) >= 2  # the duplicate
    first_seen = list(dict.fromkeys(p.time_utc for p in positions))
    assert first_seen.index(fixes[5].time_utc) < first_seen.index(fixes[4].time_utc)  # out of order
    carries_junk = transport in ("tcp", "udp")
    assert stats.faults_skipped == (0 if carries_junk else 1)  # no garbage over HTTP
    # corrupt, duplicate, out-of-order, garbage, offline, and a disconnect after every 5 new frames
    assert stats.faults_injected >= 5 + carries_junk
    assert stats.disconnects >= 2
    assert stats.logins == stats.disconnects + 1
    letters = recorder.dead_letters()
    assert letters, "the corrupt frame (and the garbage) must be kept as dead letters"
    assert len(letters) >= 1 + carries_junk
    if transport == "http":
        assert sum(stats.rejections.values()) == 1  # the corrupt request, answered 400 with the reason
        assert set(stats.rejections) == {letters[0].reason}


@pytest.mark.mqtt
@pytest.mark.parametrize(("name", "transport"), pairs(mqtt=True))
def test_mqtt_fixes_reach_the_edge_fix_input(name: str, transport: Transport, mqtt_broker: tuple[str, int]) -> None:
    spec = protocols.get(name)
    recorder = Recorder()
    settings = MqttSettings(host=mqtt_broker[0], port=mqtt_broker[1])
    site = f"simtest{uuid.uuid4().hex[:8]}"
    fixes = make_fixes(6)

    async def main() -> tuple[Device, DeviceStats]:
        fix_input = MqttFixInput(
            recorder.pipeline, settings, site=site, agent_id="sim-test", commit=lambda: None, protocol=spec.name
        )
        await fix_input.start()
        try:
            async with asyncio.timeout(20):
                await fix_input.subscribed.wait()
            device = make_device(
                spec, transport, fixes, seed=5, mqtt=settings, site=site, faults=Faults.parse("corrupt=1,duplicate=3")
            )
            stats = await device.run()
            await wait_until(lambda: len(recorder.positions(device.device_id)) >= len(fixes) + 1)
            await wait_until(lambda: len(recorder.dead_letters()) >= 1)
            return device, stats
        finally:
            await fix_input.stop()

    device, stats = run(main())
    positions = recorder.positions(device.device_id)
    assert [p.time_utc for p in positions] == [f.time_utc for f in fixes[:4]] + [f.time_utc for f in fixes[3:]]
    for position in positions:
        assert_same_fix(position, next(f for f in fixes if f.time_utc == position.time_utc))
    assert stats.fixes_confirmed == len(fixes)
    assert stats.location_acks == len(fixes)  # PUBACKs
    assert stats.faults_injected == 2
    assert [letter.device_id for letter in recorder.dead_letters()] == [device.device_id]

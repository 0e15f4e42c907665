"""The device client with the GT06 encoder against a real loopback server using the real framer and decoder."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from cedetect.cli import main as cedetect_main
from cedetect.protocols.gt06 import Gt06Encoder
from firmware_sim.device import Device, DeviceStats
from firmware_sim.faults import Faults, FaultSchedule
from firmware_sim.gt06_device import Gt06Device
from firmware_sim.imei import imei_for, luhn_check_digit, luhn_valid
from firmware_sim.pacing import Pace
from firmware_sim.truck import Fix, PhaseKind
from tests.firmware_sim.gt06_server import RecordingGt06Server, wait_until

IMEI = imei_for(1, 0)
START = datetime(2026, 1, 26, 8, 0, 0, tzinfo=UTC)


def make_fixes(count: int, *, step_s: float = 10.0) -> list[Fix]:
    fixes = []
    for i in range(count):
        lat, lon = 41.0 + i * 0.001, 28.0 + i * 0.002
        fixes.append(
            Fix(
                time_utc=START + timedelta(seconds=i * step_s),
                latitude=lat,
                longitude=lon,
                speed_kmh=float(40 + i),
                heading_deg=float((i * 37) % 360),
                satellites=9,
                valid=True,
                ignition=i % 4 != 3,
                sim_time_s=i * step_s,
                odometer_m=0.0,
                true_latitude=lat,
                true_longitude=lon,
                trip=0,
                phase=PhaseKind.DRIVE,
            )
        )
    return fixes


def run_with_server(server: RecordingGt06Server, scenario: Callable[[int], Awaitable[DeviceStats]]) -> DeviceStats:
    async def main() -> DeviceStats:
        port = await server.start()
        try:
            return await asyncio.wait_for(scenario(port), timeout=60)
        finally:
            await server.stop()

    return asyncio.run(main())


def device(port: int, fixes: list[Fix], **kwargs: object) -> Device:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "pace": Pace(0),
        "login_timeout_s": 2.0,
        "ack_timeout_s": 2.0,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
    }
    options.update(kwargs)
    return Device(Gt06Encoder(IMEI, battery_level=100), fixes, transport="tcp", **options)  # type: ignore[arg-type]


def assert_position_matches(fix: Fix, position: object) -> None:
    from cedetect.models import Position

    assert isinstance(position, Position)
    assert position.device_id == IMEI
    assert position.time_utc == fix.time_utc
    assert position.latitude == pytest.approx(fix.latitude, abs=1e-6)
    assert position.longitude == pytest.approx(fix.longitude, abs=1e-6)
    assert position.speed_kmh == round(fix.speed_kmh)
    assert position.heading_deg == round(fix.heading_deg) % 360
    assert position.satellites == fix.satellites
    assert position.valid is fix.valid
    assert position.attributes["ignition"] is fix.ignition


def test_login_then_locations_decode_with_imei_and_coordinates() -> None:
    server = RecordingGt06Server()
    fixes = make_fixes(12)

    async def scenario(port: int) -> DeviceStats:
        return await device(port, fixes, heartbeat_every=5).run()

    stats = run_with_server(server, scenario)
    decoded = [e for e in server.events if e.kind in ("login", "location", "heartbeat")]
    assert decoded[0].kind == "login"
    assert decoded[0].device_id == IMEI
    assert [e.kind for e in decoded[1:7]] == ["location"] * 5 + ["heartbeat"]
    positions = server.positions()
    assert len(positions) == 12
    for fix, position in zip(fixes, positions, strict=True):
        assert_position_matches(fix, position)
    assert not server.of("decode_error")
    assert not server.of("framing_error")
    assert stats.logins == 1
    assert stats.fixes_sent == stats.fixes_confirmed == 12
    assert stats.heartbeats_sent == stats.heartbeat_acks == 3  # after 5, after 10, and the final one
    assert stats.disconnects == 0


def test_location_acks_the_encoder_does_not_await_do_no_harm() -> None:
    server = RecordingGt06Server(ack_locations=True)
    stats = run_with_server(server, lambda port: device(port, make_fixes(4)).run())
    assert stats.fixes_confirmed == 4
    assert stats.unanswered == 0
    assert len(server.positions()) == 4


def test_login_without_ack_is_retried_with_backoff() -> None:
    server = RecordingGt06Server(ignore_logins=2)
    stats = run_with_server(server, lambda port: device(port, make_fixes(3), login_timeout_s=0.2).run())
    assert [e.connection for e in server.of("login")] == [1, 2, 3]
    assert [e.connection for e in server.of("location")] == [3, 3, 3]
    assert stats.login_attempts == 3
    assert stats.logins == 1


def test_connection_refused_then_server_appears() -> None:
    async def scenario(_: int) -> DeviceStats:
        probe = RecordingGt06Server()
        port = await probe.start()
        await probe.stop()  # the port is free again: connecting is refused
        dev = device(port, make_fixes(2))
        task = asyncio.create_task(dev.run())
        await wait_until(lambda: dev.stats.login_attempts >= 2)
        late = RecordingGt06Server()
        await late.start(port)
        try:
            stats = await task
        finally:
            await late.stop()
        assert len(late.positions()) == 2
        return stats

    stats = run_with_server(RecordingGt06Server(), scenario)
    assert stats.logins == 1
    assert stats.login_attempts >= 3


def test_corrupt_fault_is_reported_as_bad_checksum_and_the_fix_follows_intact() -> None:
    server = RecordingGt06Server()
    fixes = make_fixes(6)
    stats = run_with_server(server, lambda port: device(port, fixes, faults=Faults(corrupt=FaultSchedule([2]))).run())
    errors = server.of("decode_error")
    assert [e.reason for e in errors] == ["bad_checksum"]
    assert errors[0].raw[:2] == b"\x78\x78"
    intact = [e.raw for e in server.of("location")][2]
    assert len(errors[0].raw) == len(intact)
    assert sum(a != b for a, b in zip(errors[0].raw, intact, strict=True)) == 1  # one damaged byte
    assert [p.time_utc for p in server.positions()] == [f.time_utc for f in fixes]
    assert stats.faults_injected == 1
    assert stats.fixes_confirmed == 6


def test_out_of_order_fault_swaps_a_fix_with_the_next() -> None:
    server = RecordingGt06Server()
    fixes = make_fixes(5)
    stats = run_with_server(server, lambda port: device(port, fixes, faults=Faults.parse("out_of_order=1")).run())
    order = [0, 2, 1, 3, 4]
    assert [p.time_utc for p in server.positions()] == [fixes[i].time_utc for i in order]
    assert stats.faults_injected == 1
    assert stats.fixes_confirmed == 5


def test_offline_fault_sends_the_buffered_history_in_a_burst_after_reconnecting() -> None:
    server = RecordingGt06Server()
    fixes = make_fixes(8, step_s=10.0)  # 10 s apart; at speed-up 50: 0.2 s apart
    faults = Faults.parse("offline=2,offline_fixes=3")
    stats = run_with_server(server, lambda port: device(port, fixes, pace=Pace(50.0), faults=faults).run())
    assert [p.time_utc for p in server.positions()] == [f.time_utc for f in fixes]
    assert [e.connection for e in server.of("login")] == [1, 2]
    second = [e for e in server.of("location") if e.connection == 2]
    assert [e.position.time_utc for e in second if e.position] == [f.time_utc for f in fixes[2:]]
    burst = [b.at - a.at for a, b in itertools.pairwise(second[:3])]
    paced = [b.at - a.at for a, b in itertools.pairwise(second[2:])]
    assert max(burst) < 0.1 < min(paced), (burst, paced)  # fixes 2-4 together once 4 is due, then one every 0.2 s
    assert stats.disconnects == 1
    assert stats.resent == 0


def test_duplicate_fault_sends_the_fix_twice() -> None:
    server = RecordingGt06Server()
    fixes = make_fixes(4)
    run_with_server(server, lambda port: device(port, fixes, faults=Faults.parse("duplicate=1")).run())
    received = [p.time_utc for p in server.positions()]
    assert received == [fixes[0].time_utc, fixes[1].time_utc, fixes[1].time_utc, fixes[2].time_utc, fixes[3].time_utc]
    dup = [e for e in server.of("location") if e.position is not None and e.position.time_utc == fixes[1].time_utc]
    assert dup[0].raw == dup[1].raw  # byte-identical, serial included


def test_garbage_fault_is_skipped_by_the_framer() -> None:
    server = RecordingGt06Server()
    fixes = make_fixes(5)
    run_with_server(server, lambda port: device(port, fixes, faults=Faults.parse("garbage=3,garbage_bytes=12")).run())
    garbage = server.of("framing_error")
    assert [(e.reason, len(e.raw)) for e in garbage] == [("garbage", 12)]
    assert [p.time_utc for p in server.positions()] == [f.time_utc for f in fixes]


def test_disconnect_fault_reconnects_and_logs_in_again() -> None:
    server = RecordingGt06Server()
    fixes = make_fixes(10)
    stats = run_with_server(
        server, lambda port: device(port, fixes, heartbeat_every=100, faults=Faults(disconnect_after_frames=4)).run()
    )
    assert [e.connection for e in server.of("login")] == [1, 2, 3]
    assert [p.time_utc for p in server.positions()] == [f.time_utc for f in fixes]  # confirmed before each drop
    assert stats.disconnects == 2
    assert stats.resent == 0


def test_server_drop_resends_unconfirmed_fixes() -> None:
    # The server cuts the connection after 3 locations, before the heartbeat after the 5th is acked.
    server = RecordingGt06Server(close_after_locations=3)
    fixes = make_fixes(8)
    stats = run_with_server(server, lambda port: device(port, fixes, heartbeat_every=5).run())
    times = [p.time_utc for p in server.positions()]
    assert set(times) == {f.time_utc for f in fixes}  # nothing lost
    assert len(server.of("login")) == 2
    assert stats.disconnects == 1
    assert stats.resent >= 3
    # After the drop the fixes arrive in order, from the first unconfirmed one to the end.
    second = [e.position.time_utc for e in server.of("location") if e.connection == 2 and e.position]
    assert second == [f.time_utc for f in fixes[len(fixes) - len(second) :]]
    assert len(second) >= len(fixes) - 3
    assert stats.fixes_confirmed == len(fixes)


def test_unacked_heartbeats_end_after_bounded_attempts() -> None:
    server = RecordingGt06Server(ack_heartbeats=False)
    stats = run_with_server(server, lambda port: device(port, make_fixes(3), ack_timeout_s=0.1).run())
    assert len(server.positions()) == 3
    assert stats.fixes_confirmed == 0
    assert stats.heartbeat_acks == 0


def test_paced_sending_follows_simulated_time() -> None:
    server = RecordingGt06Server()
    fixes = make_fixes(5, step_s=10.0)  # 10 s apart; at speed-up 100: 0.1 s apart
    run_with_server(server, lambda port: device(port, fixes, pace=Pace(100.0)).run())
    arrivals = [e.at for e in server.of("location")]
    assert len(arrivals) == 5
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(gap >= 0.08 for gap in gaps), gaps
    assert arrivals[-1] - arrivals[0] >= 0.38


def test_stop_ends_a_long_run() -> None:
    server = RecordingGt06Server()

    async def scenario(port: int) -> DeviceStats:
        many = make_fixes(100_000, step_s=1.0)
        dev = device(port, many, pace=Pace(1.0))
        task = asyncio.create_task(dev.run())
        await wait_until(lambda: len(server.positions()) >= 2)
        started = time.monotonic()
        dev.stop()
        stats = await task
        assert time.monotonic() - started < 2.0
        return stats

    stats = run_with_server(server, scenario)
    assert 2 <= stats.fixes_sent < 10


def test_imei() -> None:
    assert luhn_check_digit("49015420323751") == 8
    assert luhn_valid("490154203237518")
    assert not luhn_valid("490154203237519")
    imeis = [imei_for(1, i) for i in range(50)]
    assert all(len(i) == 15 and i.isdigit() and luhn_valid(i) for i in imeis)
    assert len(set(imeis)) == 50
    assert imei_for(1, 0) == imei_for(1, 0) != imei_for(2, 0)
    assert imei_for(1, 0).startswith("3500010000000")
    with pytest.raises(ValueError, match="15 digits"):
        Gt06Device("12345", [])


def test_gt06_device_wrapper_is_a_device_with_the_gt06_encoder() -> None:
    server = RecordingGt06Server()
    fixes = make_fixes(3)

    async def scenario(port: int) -> DeviceStats:
        wrapped = Gt06Device(IMEI, fixes, port=port, pace=Pace(0))
        assert wrapped.imei == IMEI
        assert isinstance(wrapped.encoder, Gt06Encoder)
        return await wrapped.run()

    stats = run_with_server(server, scenario)
    assert [p.time_utc for p in server.positions()] == [f.time_utc for f in fixes]
    assert stats.fixes_confirmed == 3


def test_fault_parsing() -> None:
    faults = Faults.parse(
        "disconnect_after=20, duplicate=5,corrupt=7,bad_crc=9,garbage_every=50,garbage_bytes=8,"
        "out_of_order=3,offline_every=40,offline_fixes=6"
    )
    assert faults.disconnect_after_frames == 20
    assert faults.duplicate == FaultSchedule([5])
    assert faults.corrupt == FaultSchedule([7, 9])  # bad_crc is the old name of corrupt
    assert faults.garbage == FaultSchedule((), every=50)
    assert faults.garbage_bytes == 8
    assert faults.out_of_order == FaultSchedule([3])
    assert faults.offline == FaultSchedule((), every=40)
    assert faults.offline_fixes == 6
    assert [i for i in range(120) if faults.garbage.hits(i)] == [49, 99]
    assert Faults.parse("") == Faults()
    assert not Faults().duplicate
    for bad, message in (
        ("nope", "not key=value"),
        ("duplicate=x", "needs an integer"),
        ("explode=1", "unknown fault"),
        ("disconnect_after=0", "out of range"),
        ("bad_crc=-1", "out of range"),
        ("garbage_every=0", "out of range"),
        ("offline_fixes=0", "out of range"),
    ):
        with pytest.raises(ValueError, match=message):
            Faults.parse(bad)


def test_cli_sends_every_truck_to_the_server() -> None:
    server = RecordingGt06Server()
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        code = cedetect_main(
            [
                "--log-level",
                "WARNING",
                "sim",
                "--gt06-port",
                str(server.port),
                "--trucks",
                "3",
                "--speedup",
                "0",
                "--max-fixes",
                "4",
                "--seed",
                "7",
                "--interval-s",
                "5",
            ]
        )
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    assert code == 0
    logins = sorted(e.device_id or "" for e in server.of("login"))
    assert logins == sorted(imei_for(7, i) for i in range(3))
    per_device: dict[str, list[datetime]] = {}
    for position in server.positions():
        per_device.setdefault(position.device_id, []).append(position.time_utc)
    assert sorted(per_device) == logins
    for times in per_device.values():
        assert len(times) == 4
        assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [5.0, 5.0, 5.0]

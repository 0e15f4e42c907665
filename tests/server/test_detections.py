"""GET /api/v1/detections and GET /api/v1/evidence/{sha256} against rows stored by ingest's writer."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import psycopg
import pytest

from cedetect.models import Detection, DetectionKind, detection_id_for
from ingest.detections import StoredDetection, write_detections
from tests.server.factories import T0

pytestmark = pytest.mark.postgres


def real_crop(shared_data: Path) -> bytes:
    image = cv2.imread(str(shared_data / "containers" / "images" / "alimustoofaa" / "2009241555062080810.jpg"))
    assert image is not None
    ok, buffer = cv2.imencode(".jpg", image[0:200, 600:960])
    assert ok
    return bytes(buffer.tobytes())


def store(
    db: psycopg.Connection,
    text: str,
    *,
    kind: DetectionKind = DetectionKind.PLATE,
    camera_id: str = "cam-1",
    minutes: int = 0,
    valid: bool = True,
    crop: bytes | None = None,
    crop_sha256: str | None = None,
) -> Detection:
    time_utc = T0 + timedelta(minutes=minutes)
    d = Detection(
        detection_id=detection_id_for(camera_id, kind.value, text, time_utc),
        camera_id=camera_id,
        site="border-post-1",
        kind=kind,
        time_utc=time_utc,
        text=text,
        raw_text=text,
        confidence=0.8,
        box_xyxy=(1, 2, 30, 40),
        valid=valid,
        grammar="iso6346" if kind is DetectionKind.CONTAINER else "TR",
        check_digit_ok=True if kind is DetectionKind.CONTAINER else None,
        frames=3,
        crop_sha256=crop_sha256 or hashlib.sha256(crop or b"").hexdigest(),
        crop_jpeg_b64=base64.b64encode(crop).decode() if crop is not None else None,
    )
    with db.transaction():
        write_detections(db, [StoredDetection(d, crop)])
    return d


def test_detections_newest_first_with_filters(client: httpx.Client, db: psycopg.Connection, shared_data: Path) -> None:
    crop = real_crop(shared_data)
    store(db, "34ABC123", minutes=0, crop=crop)
    store(db, "MSKU4135329", kind=DetectionKind.CONTAINER, minutes=1, crop=crop)
    store(db, "06XY999", camera_id="cam-2", minutes=2, valid=False, crop_sha256="ab" * 32)

    everything = client.get("/api/v1/detections").json()
    assert [d["text"] for d in everything] == ["06XY999", "MSKU4135329", "34ABC123"]
    first = everything[2]
    assert first["camera_id"] == "cam-1"
    assert first["kind"] == "plate"
    assert first["time_utc"] == "2025-01-15T08:00:00Z"
    assert first["box_xyxy"] == [1, 2, 30, 40]
    assert first["frames"] == 3
    assert first["crop_url"] == f"/api/v1/evidence/{hashlib.sha256(crop).hexdigest()}"
    assert everything[0]["crop_url"] is None  # the server does not hold that crop

    def texts(**params: str | int) -> list[str]:
        response = client.get("/api/v1/detections", params=params)
        assert response.status_code == 200, response.text
        return [d["text"] for d in response.json()]

    assert texts(kind="container") == ["MSKU4135329"]
    assert texts(text="34abc123") == ["34ABC123"]
    assert texts(camera_id="cam-2") == ["06XY999"]
    assert texts(valid="false") == ["06XY999"]
    assert texts(since="2025-01-15T08:01:00Z") == ["06XY999", "MSKU4135329"]
    assert texts(until="2025-01-15T10:01:00+02:00") == ["34ABC123"]
    assert texts(limit=1) == ["06XY999"]
    assert texts(site="nowhere") == []


@pytest.mark.parametrize(
    "params",
    [{"kind": "truck"}, {"text": "34 ABC"}, {"limit": 0}, {"since": "2025-01-15T08:00:00"}, {"camera_id": "a/b"},
     {"since": "2025-01-15T09:00:00Z", "until": "2025-01-15T08:00:00Z"}],
)  # fmt: skip
def test_bad_filters_are_named_errors(client: httpx.Client, params: dict[str, str | int]) -> None:
    response = client.get("/api/v1/detections", params=params)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_evidence_serves_the_crop_bytes(client: httpx.Client, db: psycopg.Connection, shared_data: Path) -> None:
    crop = real_crop(shared_data)
    store(db, "34ABC123", crop=crop)
    sha256 = hashlib.sha256(crop).hexdigest()
    response = client.get(f"/api/v1/evidence/{sha256}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["etag"] == f'"{sha256}"'
    assert response.content == crop
    decoded = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape[:2] == (200, 360)

    missing = client.get(f"/api/v1/evidence/{'0' * 64}")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    bad = client.get("/api/v1/evidence/not-a-hash")
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_request"

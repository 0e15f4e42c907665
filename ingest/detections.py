"""Detections (plate and container-code reads) into ``detections``, their crops into ``evidence_blobs``.

A Detection message is checked against its topic (the camera and site of the topic are the payload's), and
the crop it carries (``crop_jpeg_b64``) must be base64 of a JPEG whose SHA-256 is ``crop_sha256``: the crop
is evidence, so one that does not match its name is refused (``crop_hash_mismatch``) rather than stored
under a wrong name.  Both tables are written with ``ON CONFLICT DO NOTHING`` on their key (the
deterministic ``detection_id``, the SHA-256), in the transaction of the batch: a redelivered message
changes nothing (the service calls :func:`write_detections` inside the transaction of
:func:`ingest.store.write_batch`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from cedetect.frames import JPEG_SIGNATURE
from cedetect.models import Detection
from cedetect.storage import add_ingest_counts
from cedetect.topics import Topic

MEDIA_TYPE_JPEG = "image/jpeg"


class DetectionError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class StoredDetection:
    """A checked Detection and its crop bytes (None when the edge kept the crop to itself)."""

    detection: Detection
    crop_jpeg: bytes | None


def check_detection(detection: Detection, topic: Topic) -> StoredDetection:
    """Raise :class:`DetectionError` with a named reason, or return what to store."""
    if detection.camera_id != topic.device_id or detection.site != topic.site:
        raise DetectionError(
            "topic_mismatch", f"payload camera {detection.site}/{detection.camera_id} on {topic.site}/{topic.device_id}"
        )
    x1, y1, x2, y2 = detection.box_xyxy
    if x1 < 0 or y1 < 0 or x2 <= x1 or y2 <= y1:
        raise DetectionError("invalid_box", f"box_xyxy {detection.box_xyxy}")
    crop: bytes | None = None
    if detection.crop_jpeg_b64 is not None:
        try:
            crop = base64.b64decode(detection.crop_jpeg_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DetectionError("bad_crop_encoding", str(exc)) from None
        if not crop.startswith(JPEG_SIGNATURE):
            raise DetectionError("crop_not_jpeg", f"crop starts with {crop[:4].hex() or 'nothing'}")
        digest = hashlib.sha256(crop).hexdigest()
        if digest != detection.crop_sha256:
            raise DetectionError("crop_hash_mismatch", f"crop bytes hash to {digest}, not {detection.crop_sha256}")
    return StoredDetection(detection, crop)


@dataclass
class DetectionResult:
    new: int = 0
    duplicate: int = 0
    blobs_new: int = 0


def write_detections(conn: psycopg.Connection, items: Sequence[StoredDetection]) -> DetectionResult:
    """Insert in the caller's transaction; counts go to ``ingest_counters`` too."""
    result = DetectionResult()
    for item in items:
        d = item.detection
        if item.crop_jpeg is not None:
            cur = conn.execute(
                "INSERT INTO evidence_blobs (sha256, media_type, data) VALUES (%s, %s, %s)"
                " ON CONFLICT (sha256) DO NOTHING",
                (d.crop_sha256, MEDIA_TYPE_JPEG, item.crop_jpeg),
            )
            result.blobs_new += cur.rowcount
        cur = conn.execute(
            "INSERT INTO detections (detection_id, camera_id, site, kind, time_utc, text, raw_text, confidence,"
            " box_xyxy, valid, grammar, check_digit_ok, repaired, frames, crop_sha256, attributes)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (detection_id) DO NOTHING",
            (
                d.detection_id,
                d.camera_id,
                d.site,
                d.kind.value,
                d.time_utc,
                d.text,
                d.raw_text.replace("\x00", "\\0"),
                d.confidence,
                list(d.box_xyxy),
                d.valid,
                d.grammar,
                d.check_digit_ok,
                d.repaired,
                d.frames,
                d.crop_sha256,
                Jsonb(d.attributes),
            ),
        )
        if cur.rowcount:
            result.new += 1
        else:
            result.duplicate += 1
    counts = Counter(
        {"detections_new": result.new, "detections_duplicate": result.duplicate, "evidence_new": result.blobs_new}
    )
    add_ingest_counts(conn, counts)
    return result

"""Turn one MQTT message into what ingest stores, or into a quarantine record with a named reason."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from cedetect.models import DeadLetter, Detection, DeviceStatus, Position
from cedetect.topics import TopicError, TopicKind, parse
from ingest.detections import DetectionError, StoredDetection, check_detection


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_utc: datetime


@dataclass(frozen=True, slots=True)
class Quarantined:
    key: str
    received_utc: datetime
    source: str
    site: str | None
    protocol: str | None
    device_id: str | None
    remote: str | None
    reason: str
    detail: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class SitePosition:
    site: str
    position: Position


Parsed = SitePosition | DeviceStatus | Quarantined | StoredDetection


def _reason_for(error: ValidationError) -> str:
    locations = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
    types = {e["type"] for e in error.errors()}
    if "json_invalid" in types or "json_type" in types:
        return "bad_json"
    if "schema_version" in locations:
        return "unsupported_schema_version"
    if locations & {"latitude", "longitude"}:
        return "invalid_coordinates"
    if locations & {"time_utc", "received_utc"}:
        return "invalid_time"
    return "invalid_payload"


def quarantine(
    message: Incoming, source: str, reason: str, detail: str, site: str | None = None, device_id: str | None = None
) -> Quarantined:
    key = hashlib.sha256(message.topic.encode() + b"\x00" + message.payload).hexdigest()
    return Quarantined(
        key=key,
        received_utc=message.received_utc,
        source=source,
        site=site,
        protocol=None,
        device_id=device_id,
        remote=None,
        reason=reason,
        detail=f"topic {message.topic}: {detail}"[:2000],
        raw=message.payload,
    )


def parse_message(message: Incoming, source: str) -> Parsed:
    try:
        topic = parse(message.topic)
    except TopicError as exc:
        return quarantine(message, source, exc.reason, str(exc))
    try:
        match topic.kind:
            case TopicKind.POSITION:
                position = Position.model_validate_json(message.payload)
                if position.device_id != topic.device_id:
                    return quarantine(
                        message,
                        source,
                        "topic_mismatch",
                        f"payload device_id {position.device_id!r}",
                        topic.site,
                        topic.device_id,
                    )
                return SitePosition(topic.site, position)
            case TopicKind.STATUS:
                return DeviceStatus.model_validate_json(message.payload)
            case TopicKind.DEADLETTER:
                letter = DeadLetter.model_validate_json(message.payload)
                return Quarantined(
                    key=letter.key,
                    received_utc=letter.received_utc,
                    source=letter.source,
                    site=letter.site,
                    protocol=letter.protocol,
                    device_id=letter.device_id,
                    remote=letter.remote,
                    reason=letter.reason,
                    detail=letter.detail,
                    raw=letter.raw,
                )
            case TopicKind.DETECTION:
                try:
                    return check_detection(Detection.model_validate_json(message.payload), topic)
                except DetectionError as exc:
                    return quarantine(message, source, exc.reason, exc.detail, topic.site, topic.device_id)
            case _:
                return quarantine(message, source, "unexpected_kind", topic.kind.value, topic.site, topic.device_id)
    except ValidationError as exc:
        return quarantine(message, source, _reason_for(exc), str(exc).replace("\n", " "), topic.site, topic.device_id)
    except UnicodeDecodeError as exc:
        return quarantine(message, source, "bad_json", str(exc), topic.site, topic.device_id)

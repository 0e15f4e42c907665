"""Versioned wire payloads exchanged between edge agents, ingest and the server.

Every payload carries ``schema_version``; a consumer rejects a version it does not know
with the named reason ``unsupported_schema_version`` instead of guessing.  Times are
UTC-aware (naive datetimes are refused, other offsets are converted to UTC) and units
are part of the field names.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

SCHEMA_VERSION: Literal[1] = 1

#: Identifiers travel inside MQTT topic levels, so they may not contain wildcards or separators.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
AttributeValue = str | int | float | bool | None


def utc_now() -> datetime:
    return datetime.now(UTC)


class PositionFlag(StrEnum):
    """Named reasons attached to a suspect fix.  A flagged fix is kept as evidence, never dropped."""

    INVALID_FIX = "invalid_fix"  # the device itself says the fix is not valid (no GPS lock)
    ZERO_COORDINATES = "zero_coordinates"  # 0,0: a receiver with no fix that still reports
    FUTURE_TIME = "future_time"  # fix time ahead of the receive time by more than the tolerance
    STALE_TIME = "stale_time"  # fix time far behind the receive time (buffered history or clock fault)
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    IMPLAUSIBLE_JUMP = "implausible_jump"
    MAX_SPEED = "max_speed"
    MIN_PERIOD = "min_period"
    BAD_CHECKSUM = "bad_checksum"


#: A fix with one of these flags cannot place a truck on the map: it is stored as evidence only.
UNPLACEABLE_FLAGS: frozenset[PositionFlag] = frozenset(
    {PositionFlag.INVALID_FIX, PositionFlag.ZERO_COORDINATES, PositionFlag.FUTURE_TIME}
)
#: ... nor move a truck's track forward (zone entries, the reference of the next comparison).
NOT_A_TRACK_POINT_FLAGS: frozenset[PositionFlag] = UNPLACEABLE_FLAGS | {
    PositionFlag.DUPLICATE,
    PositionFlag.OUT_OF_ORDER,
    PositionFlag.IMPLAUSIBLE_JUMP,
}


class _Payload(BaseModel):
    # Strings are kept verbatim (no whitespace stripping): attribute values are evidence.
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION


class Position(_Payload):
    """One GPS fix from a tracker, as decoded at the edge."""

    device_id: Identifier
    protocol: Annotated[str, Field(min_length=1, max_length=32)]
    time_utc: UtcDatetime
    received_utc: UtcDatetime
    latitude: Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
    speed_kmh: Annotated[float, Field(ge=0.0, le=2000.0, allow_inf_nan=False)] = 0.0
    heading_deg: Annotated[float, Field(ge=0.0, lt=360.0, allow_inf_nan=False)] = 0.0
    altitude_m: Annotated[float, Field(allow_inf_nan=False)] | None = None
    satellites: Annotated[int, Field(ge=0, le=255)] | None = None
    hdop: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    valid: bool = True
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    flags: tuple[PositionFlag, ...] = ()

    @field_validator("flags")
    @classmethod
    def _sorted_unique_flags(cls, value: tuple[PositionFlag, ...]) -> tuple[PositionFlag, ...]:
        return tuple(sorted(set(value)))


class AlertSeverity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Alert(_Payload):
    """Something an analyst in the command centre has to look at."""

    alert_id: uuid.UUID
    kind: Annotated[str, Field(min_length=1, max_length=64)]
    severity: AlertSeverity
    device_ids: tuple[Identifier, ...] = Field(min_length=1)
    time_utc: UtcDatetime
    created_utc: UtcDatetime
    latitude: Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
    zone_id: str | None = None
    title: Annotated[str, Field(min_length=1, max_length=300)]
    details: dict[str, Any] = Field(default_factory=dict)


#: Namespace for deterministic alert ids: the same rule firing on the same evidence twice
#: (a redelivered message, a replayed batch) yields the same id, so storage stays idempotent.
ALERT_NAMESPACE = uuid.UUID("6a0f3c52-3c1e-4f0e-9a57-3f0e8c5d2b11")


def alert_id_for(kind: str, device_ids: tuple[str, ...], time_utc: datetime, key: str = "") -> uuid.UUID:
    basis = "|".join([kind, ",".join(sorted(device_ids)), time_utc.astimezone(UTC).isoformat(), key])
    return uuid.uuid5(ALERT_NAMESPACE, basis)


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class DeviceStatus(_Payload):
    """Retained presence of an edge agent (its Last Will says ``offline``) or of a tracker connection."""

    device_id: Identifier
    kind: Literal["edge_agent", "tracker"]
    state: DeviceState
    time_utc: UtcDatetime
    site: Identifier
    protocol: str | None = None
    detail: str | None = None


class DeadLetter(_Payload):
    """Bytes that could not become a valid payload, sent on so that they are kept as evidence."""

    source: Identifier  # the edge agent or service that refused the bytes
    site: Identifier
    received_utc: UtcDatetime
    reason: Annotated[str, Field(min_length=1, max_length=64)]
    detail: str = ""
    protocol: str | None = None
    device_id: str | None = None
    remote: str | None = None
    raw_hex: Annotated[str, Field(pattern=r"^([0-9a-f]{2})*$")]

    @property
    def raw(self) -> bytes:
        return bytes.fromhex(self.raw_hex)

    @property
    def key(self) -> str:
        """Stable identity used to store a redelivered dead letter only once."""
        digest = hashlib.sha256()
        for part in (self.source, self.received_utc.isoformat(), self.reason, self.raw_hex):
            digest.update(part.encode())
            digest.update(b"\x00")
        return digest.hexdigest()


class DetectionKind(StrEnum):
    PLATE = "plate"
    CONTAINER = "container"


class Detection(_Payload):
    """One licence-plate or ISO 6346 container-code read by a border-post camera.

    One message per vehicle passage: reads of the same text over consecutive frames are merged at the
    edge, keeping the best.  ``text`` is normalised (A-Z0-9, no spaces); ``raw_text`` is what the
    recogniser returned.  The crop is evidence, named by the SHA-256 of its JPEG bytes; the bytes may
    travel along (``crop_jpeg_b64``) so the server keeps them too.
    """

    detection_id: uuid.UUID
    camera_id: Identifier
    site: Identifier
    kind: DetectionKind
    time_utc: UtcDatetime
    text: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9]+$")]
    raw_text: Annotated[str, Field(max_length=128)] = ""
    confidence: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    box_xyxy: tuple[int, int, int, int]
    valid: bool  # the plate grammar or the ISO 6346 check digit accepts the text
    grammar: str | None = None  # e.g. "TR", "EU", "iso6346"
    check_digit_ok: bool | None = None  # containers only
    repaired: bool = False  # a character was changed to satisfy the check digit
    frames: Annotated[int, Field(ge=1)] = 1  # frames merged into this read
    crop_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    crop_jpeg_b64: str | None = None
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)


DETECTION_NAMESPACE = uuid.UUID("0d6e0f52-6a43-4b8e-9d0b-2f5a7c1e9b37")


def detection_id_for(camera_id: str, kind: str, text: str, time_utc: datetime) -> uuid.UUID:
    basis = "|".join([camera_id, kind, text, time_utc.astimezone(UTC).isoformat()])
    return uuid.uuid5(DETECTION_NAMESPACE, basis)


class AnomalyKind(StrEnum):
    ROUTE_DEVIATION = "route_deviation"
    UNSCHEDULED_STOP = "unscheduled_stop"
    LOITERING = "loitering"
    GPS_JUMP = "gps_jump"
    GAP = "gap"
    RENDEZVOUS = "rendezvous"
    GEOFENCE_ENTER = "geofence_enter"
    GEOFENCE_EXIT = "geofence_exit"


class EvidenceFix(BaseModel):
    """A fix that an anomaly rests on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: Identifier
    time_utc: UtcDatetime
    latitude: Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
    speed_kmh: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None


class Anomaly(_Payload):
    """A trace in a truck's track worth explaining: what, who, when, where, how sure, and on what evidence."""

    anomaly_id: uuid.UUID
    kind: AnomalyKind
    device_ids: tuple[Identifier, ...] = Field(min_length=1)
    start_utc: UtcDatetime
    end_utc: UtcDatetime
    latitude: Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
    score: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    reason: Annotated[str, Field(min_length=1, max_length=300)]
    zone_id: str | None = None
    evidence: tuple[EvidenceFix, ...] = ()
    details: dict[str, Any] = Field(default_factory=dict)


ANOMALY_NAMESPACE = uuid.UUID("b3c1e7a4-2f4d-4c55-8f0e-6d1a9e2c7b58")


def anomaly_id_for(kind: str, device_ids: tuple[str, ...], start_utc: datetime, key: str = "") -> uuid.UUID:
    """Deterministic: the same anomaly found live and in batch, or twice, has one id."""
    basis = "|".join([kind, ",".join(sorted(device_ids)), start_utc.astimezone(UTC).isoformat(), key])
    return uuid.uuid5(ANOMALY_NAMESPACE, basis)

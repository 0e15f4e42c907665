"""Response models of the REST API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cedetect.models import UtcDatetime


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PositionRecord(_Out):
    """One stored fix.  Flagged fixes are kept as evidence; ``flags`` names why they are suspect."""

    device_id: str
    time_utc: UtcDatetime
    received_utc: UtcDatetime
    ingested_utc: UtcDatetime
    site: str
    protocol: str
    latitude: float
    longitude: float
    speed_kmh: float
    heading_deg: float
    altitude_m: float | None = None
    satellites: int | None = None
    hdop: float | None = None
    valid: bool
    attributes: dict[str, Any] = Field(default_factory=dict)
    flags: list[str] = Field(default_factory=list)


class TrackPoint(_Out):
    time_utc: UtcDatetime
    latitude: float
    longitude: float


class DeviceStatusRecord(_Out):
    """The retained presence of a tracker connection or an edge agent."""

    kind: str
    state: str
    time_utc: UtcDatetime
    site: str
    protocol: str | None = None
    detail: str | None = None


class DeviceSummary(_Out):
    device_id: str
    last_position: PositionRecord
    trail: list[TrackPoint] = Field(default_factory=list, description="the latest usable fixes, oldest first")
    status: DeviceStatusRecord | None = None
    zone_ids: list[str] = Field(default_factory=list, description="zones the device was in at its last fix")


class DeviceTrack(_Out):
    device_id: str
    positions: list[PositionRecord]


class Health(_Out):
    status: Literal["ok"] = "ok"
    database: Literal["reachable"] = "reachable"
    migration_version: int | None
    alert_listener: Literal["listening", "reconnecting"]
    live_clients: int
    version: str


class Feature(_Out):
    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any]
    properties: dict[str, Any] = Field(default_factory=dict)


class FeatureCollection(_Out):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]

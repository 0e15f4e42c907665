"""JSON fixes that devices publish over MQTT on ``cedetect/v1/{site}/{device_id}/fix``.

One JSON object per message, units in the names as in the Position contract::

    {"time_utc": "2026-11-25T10:00:00Z", "latitude": 41.67, "longitude": 26.55,
     "speed_kmh": 72.5, "heading_deg": 181, "altitude_m": 45, "satellites": 9, "hdop": 0.9,
     "valid": true, "attributes": {"ignition": true, "odometer_km": 120345.2}}

Required: ``time_utc`` (ISO 8601 with an offset; a naive time is refused as ``invalid_time``),
``latitude``, ``longitude``.  The device id comes from the topic (the decoder is made with it); a
``device_id`` in the body must agree.  Attribute keys follow the shared naming scheme (snake_case).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Final

from cedetect.models import AttributeValue
from cedetect.protocols.attributes import ATTRIBUTE_KEY
from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    DecodeReason,
    DeviceEncoder,
    FixToSend,
    ProtocolDecoder,
    ProtocolSpec,
    make_position,
)

PROTOCOL: Final = "json"
_FIELDS: Final = {
    "device_id", "time_utc", "latitude", "longitude", "speed_kmh", "heading_deg", "altitude_m",
    "satellites", "hdop", "valid", "attributes",
}  # fmt: skip


def _number(body: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        if required:
            raise DecodeError(DecodeReason.MALFORMED, f"{name} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(DecodeReason.MALFORMED, f"{name} is not a number")
    if not math.isfinite(value):
        reason = DecodeReason.INVALID_COORDINATES if name in ("latitude", "longitude") else DecodeReason.MALFORMED
        raise DecodeError(reason, f"{name} is not finite")
    return float(value)


class JsonFixDecoder(ProtocolDecoder):
    protocol = PROTOCOL

    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        raw = bytes(frame)
        try:
            return [self._decode(raw, received_utc)]
        except DecodeError as exc:
            raise exc.with_raw(raw) from None

    def _decode(self, raw: bytes, received_utc: datetime) -> DecodedMessage:
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DecodeError(DecodeReason.MALFORMED, f"bad JSON: {exc}") from None
        if not isinstance(body, dict):
            raise DecodeError(DecodeReason.MALFORMED, "a fix is a JSON object")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise DecodeError(DecodeReason.MALFORMED, f"unknown fields {unknown}; extra values go in 'attributes'")
        named = body.get("device_id")
        if named is not None:
            if self.device_id is not None and named != self.device_id:
                raise DecodeError(DecodeReason.INVALID_DEVICE_ID, f"body names {named!r}, topic {self.device_id!r}")
            self._set_device_id(str(named))
        device_id = self._require_device_id()
        try:
            time_utc = datetime.fromisoformat(str(body.get("time_utc", "")).replace("Z", "+00:00"))
        except ValueError:
            raise DecodeError(DecodeReason.INVALID_TIME, f"time_utc {body.get('time_utc')!r}") from None
        attributes = body.get("attributes", {})
        if not isinstance(attributes, dict) or not all(
            isinstance(k, str) and ATTRIBUTE_KEY.match(k) and isinstance(v, str | int | float | bool | None)
            for k, v in attributes.items()
        ):
            raise DecodeError(DecodeReason.MALFORMED, "attributes must map snake_case names to plain values")
        satellites = _number(body, "satellites")
        valid = body.get("valid", True)
        if not isinstance(valid, bool):
            raise DecodeError(DecodeReason.MALFORMED, "valid is not a boolean")
        position = make_position(
            device_id=device_id,
            protocol=PROTOCOL,
            time_utc=time_utc,
            received_utc=received_utc,
            latitude=_number(body, "latitude", required=True) or 0.0,
            longitude=_number(body, "longitude", required=True) or 0.0,
            speed_kmh=_number(body, "speed_kmh") or 0.0,
            heading_deg=(_number(body, "heading_deg") or 0.0) % 360.0,
            altitude_m=_number(body, "altitude_m"),
            satellites=int(satellites) if satellites is not None else None,
            hdop=_number(body, "hdop"),
            valid=valid,
            attributes=dict[str, AttributeValue](attributes),
        )
        return DecodedMessage("location", device_id, position, None, raw, {})


class JsonFixEncoder(DeviceEncoder):
    protocol = PROTOCOL

    def location(self, fix: FixToSend) -> bytes:
        body: dict[str, Any] = {
            "time_utc": fix.time_utc.isoformat(),
            "latitude": fix.latitude,
            "longitude": fix.longitude,
            "speed_kmh": fix.speed_kmh,
            "heading_deg": fix.heading_deg,
            "altitude_m": fix.altitude_m,
            "satellites": fix.satellites,
            "valid": fix.valid,
            "attributes": {"ignition": fix.ignition},
        }
        if fix.odometer_km is not None:
            body["attributes"]["odometer_km"] = fix.odometer_km
        if fix.alarm is not None:
            body["attributes"]["alarm"] = fix.alarm
        return json.dumps(body).encode()


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=0,
    transports=("mqtt",),
    decoder_factory=JsonFixDecoder,
    encoder_factory=JsonFixEncoder,
    payload="text",
)

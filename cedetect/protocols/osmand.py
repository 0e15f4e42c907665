"""OsmAnd / Traccar Client over HTTP: query-string fixes (GET, or a form body) and the JSON that the
Transistorsoft background-geolocation SDK POSTs (``{"location": {...}, "device_id": ...}``).

Modelled on traccar's ``OsmAndProtocolDecoder``.  A "frame" is what the HTTP request carries: the
request URI (or the query string alone) for GET, the body for POST.  The edge agent's HTTP server
answers 200 when the fix is stored in the outbox and 400 with the named reason otherwise.

Units: the query ``speed`` is in knots (as the OsmAnd app and traccar have it); the JSON
``coords.speed`` is in m/s; ``-1`` means unknown there and becomes 0.  ``timestamp`` is epoch seconds or
milliseconds, ISO 8601, or ``yyyy-MM-dd HH:mm:ss`` read as UTC; without one the receive time is used.

Attributes: ``batt`` and the JSON ``battery.level`` (0-1) -> ``battery_level`` (percent),
``battery.is_charging`` -> ``charge``, ``is_moving`` -> ``motion``, ``odometer`` (m) -> ``odometer_km``,
``accuracy`` -> ``accuracy_m``, ``driverUniqueId`` -> ``driver_id``, ``fuel`` -> ``fuel_level``; the JSON
``event`` -> ``report_event`` and ``activity.type`` -> ``activity``; ``cell``/``wifi`` -> ``cell_count`` /
``wifi_count`` plus the serving cell's ``mcc``/``mnc``/``lac``/``cell_id``.  Any other parameter (and
every JSON ``extras`` item) is kept under its name turned to snake_case, as a number, a boolean or text.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from cedetect.models import AttributeValue
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

PROTOCOL: Final = "osmand"
KNOT_KMH: Final = 1.852
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def snake_case(name: str) -> str:
    """``deviceIntegerTest`` / ``device-integer test`` -> ``device_integer_test`` (``value`` if nothing is left)."""
    key = _NON_WORD.sub("_", _CAMEL.sub("_", name).lower()).strip("_")
    if not key:
        return "value"
    return key if key[0].isalpha() else f"x{key}"


def _number_or_text(value: str) -> AttributeValue:
    if value in ("true", "false"):
        return value == "true"
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


def _float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DecodeError(DecodeReason.MALFORMED, f"{name} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise DecodeError(DecodeReason.INVALID_COORDINATES, f"{name} is not finite")
    return number


def _time(value: Any) -> datetime:
    text = str(value).strip()
    try:
        stamp = int(text)
    except ValueError:
        pass
    else:
        seconds = stamp / 1000 if stamp >= 2**31 else float(stamp)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise DecodeError(DecodeReason.INVALID_TIME, f"timestamp {text!r} out of range") from None
    try:
        if "T" in text:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise DecodeError(DecodeReason.INVALID_TIME, f"unreadable timestamp {text!r}") from None


class OsmAndDecoder(ProtocolDecoder):
    """Decodes one HTTP request's fix.  Each request names its device (``id``/``deviceid``/``device_id``)."""

    protocol = PROTOCOL

    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        raw = bytes(frame)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(DecodeReason.MALFORMED, "request is not UTF-8", raw=raw) from None
        try:
            if text.lstrip().startswith("{"):
                return [self._json(text, raw, received_utc)]
            return [self._query(text, raw, received_utc)]
        except DecodeError as exc:
            raise exc.with_raw(raw) from None

    # -- query string -----------------------------------------------------------------------------

    def _query(self, text: str, raw: bytes, received_utc: datetime) -> DecodedMessage:
        query = urlsplit(text).query if text.startswith(("/", "http")) else text.lstrip("?")
        params = parse_qsl(query, keep_blank_values=True)
        if not params:
            raise DecodeError(DecodeReason.MALFORMED, "no query parameters")
        fix: dict[str, Any] = {"valid": True}
        attributes: dict[str, AttributeValue] = {}
        cells: list[list[str]] = []
        wifi = 0
        for key, value in params:
            match key:
                case "id" | "deviceid":
                    self._set_device_id(value)
                case "valid":
                    fix["valid"] = value.lower() in ("true", "1")
                case "timestamp":
                    fix["time_utc"] = _time(value)
                case "lat":
                    fix["latitude"] = _float(value, "lat")
                case "lon":
                    fix["longitude"] = _float(value, "lon")
                case "location":
                    parts = value.split(",")
                    if len(parts) != 2:
                        raise DecodeError(DecodeReason.MALFORMED, f"location {value!r} is not lat,lon")
                    fix["latitude"], fix["longitude"] = _float(parts[0], "lat"), _float(parts[1], "lon")
                case "cell":
                    cells.append(value.split(","))
                case "wifi":
                    wifi += 1
                case "speed":
                    fix["speed_kmh"] = max(_float(value, "speed"), 0.0) * KNOT_KMH
                case "bearing" | "heading":
                    fix["heading_deg"] = _float(value, key) % 360.0
                case "altitude":
                    fix["altitude_m"] = _float(value, "altitude")
                case "accuracy":
                    attributes["accuracy_m"] = _float(value, "accuracy")
                case "hdop":
                    fix["hdop"] = max(_float(value, "hdop"), 0.0)
                case "batt":
                    attributes["battery_level"] = _float(value, "batt")
                case "driverUniqueId":
                    attributes["driver_id"] = value
                case "fuel":
                    attributes["fuel_level"] = _float(value, "fuel")
                case _:
                    attributes[snake_case(key)] = _number_or_text(value)
        if cells:
            attributes["cell_count"] = len(cells)
            first = cells[0]
            if len(first) >= 4:
                try:
                    mcc, mnc, lac, cell_id = (int(x) for x in first[:4])
                except ValueError:
                    raise DecodeError(DecodeReason.MALFORMED, f"cell {','.join(first)!r}") from None
                attributes.update({"mcc": mcc, "mnc": mnc, "lac": lac, "cell_id": cell_id})
        if wifi:
            attributes["wifi_count"] = wifi
        return self._message(fix, attributes, raw, received_utc)

    # -- Transistorsoft JSON ----------------------------------------------------------------------

    def _json(self, text: str, raw: bytes, received_utc: datetime) -> DecodedMessage:
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DecodeError(DecodeReason.MALFORMED, f"bad JSON: {exc}") from None
        if not isinstance(body, dict) or not isinstance(body.get("location"), dict):
            raise DecodeError(DecodeReason.MALFORMED, "JSON without a 'location' object")
        location: dict[str, Any] = body["location"]
        device = body.get("device_id") or body.get("deviceid") or body.get("id")
        if device is not None:
            self._set_device_id(str(device))
        coords = location.get("coords")
        if not isinstance(coords, dict):
            raise DecodeError(DecodeReason.MALFORMED, "location without 'coords'")
        fix: dict[str, Any] = {
            "valid": True,
            "latitude": _float(coords.get("latitude"), "latitude"),
            "longitude": _float(coords.get("longitude"), "longitude"),
        }
        if "timestamp" in location:
            fix["time_utc"] = _time(location["timestamp"])
        speed = coords.get("speed")
        if speed is not None and _float(speed, "speed") > 0:
            fix["speed_kmh"] = _float(speed, "speed") * 3.6
        heading = coords.get("heading")
        if heading is not None and _float(heading, "heading") >= 0:
            fix["heading_deg"] = _float(heading, "heading") % 360.0
        if coords.get("altitude") is not None:
            fix["altitude_m"] = _float(coords["altitude"], "altitude")
        attributes: dict[str, AttributeValue] = {}
        if coords.get("accuracy") is not None:
            attributes["accuracy_m"] = _float(coords["accuracy"], "accuracy")
        if isinstance(location.get("is_moving"), bool):
            attributes["motion"] = location["is_moving"]
        if location.get("odometer") is not None:
            attributes["odometer_km"] = _float(location["odometer"], "odometer") / 1000.0
        if isinstance(location.get("event"), str):
            attributes["report_event"] = location["event"]
        battery = location.get("battery")
        if isinstance(battery, dict):
            level = battery.get("level")
            if level is not None and _float(level, "battery.level") >= 0:
                attributes["battery_level"] = round(_float(level, "battery.level") * 100.0, 1)
            if isinstance(battery.get("is_charging"), bool):
                attributes["charge"] = battery["is_charging"]
        activity = location.get("activity")
        if isinstance(activity, dict) and isinstance(activity.get("type"), str):
            attributes["activity"] = activity["type"]
        extras = location.get("extras")
        if isinstance(extras, dict):
            for key, value in extras.items():
                if isinstance(value, bool | int | float | str) and not (
                    isinstance(value, float) and not math.isfinite(value)
                ):
                    attributes[snake_case(str(key))] = value
        return self._message(fix, attributes, raw, received_utc)

    # -- shared -----------------------------------------------------------------------------------

    def _message(
        self, fix: dict[str, Any], attributes: dict[str, AttributeValue], raw: bytes, received_utc: datetime
    ) -> DecodedMessage:
        device_id = self._require_device_id()
        if "latitude" not in fix or "longitude" not in fix:
            # Cell towers or WiFi access points only: nothing to place on a map without a lookup service.
            return DecodedMessage("network", device_id, None, None, raw, attributes)
        position = make_position(
            device_id=device_id,
            protocol=PROTOCOL,
            time_utc=fix.pop("time_utc", received_utc),
            received_utc=received_utc,
            attributes=attributes,
            **fix,
        )
        return DecodedMessage("location", device_id, position, None, raw, {})


class OsmAndEncoder(DeviceEncoder):
    """A phone running the OsmAnd/Traccar Client app: one GET query string per fix."""

    protocol = PROTOCOL

    def location(self, fix: FixToSend) -> bytes:
        params = [
            ("id", self.device_id),
            ("timestamp", str(int(fix.time_utc.timestamp()))),
            ("lat", f"{fix.latitude:.7f}"),
            ("lon", f"{fix.longitude:.7f}"),
            ("speed", f"{fix.speed_kmh / KNOT_KMH:.3f}"),
            ("bearing", f"{fix.heading_deg:.1f}"),
            ("altitude", f"{fix.altitude_m:.1f}"),
            ("valid", "true" if fix.valid else "false"),
            ("ignition", "true" if fix.ignition else "false"),
        ]
        if fix.odometer_km is not None:
            params.append(("odometer_km", f"{fix.odometer_km:.3f}"))
        return ("/?" + "&".join(f"{k}={v}" for k, v in params)).encode()


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=5055,
    transports=("http",),
    decoder_factory=OsmAndDecoder,
    encoder_factory=OsmAndEncoder,
    payload="text",
)

"""Flags suspect fixes with named reasons, in the manner of traccar's FilterHandler, but never drops one:
a filtered fix is evidence and is stored with its flags.

Per device, the filter remembers the last fix that passed (time and place) and compares each new fix
with it:

* ``duplicate``        - the same fix time as the last fix;
* ``out_of_order``     - a fix time before the last fix (late history is kept, but it does not move the truck);
* ``min_period``       - less than ``min_period_s`` after the last fix;
* ``max_speed``        - the reported speed is above ``max_speed_kmh`` (no truck does that);
* ``implausible_jump`` - the speed implied by the distance and time since the last fix is above
  ``max_implied_speed_kmh`` and the distance above ``min_jump_m`` (GPS noise on close fixes is not a jump);
* ``stale_time``       - the fix time is more than ``stale_after_s`` before the receive time.

``invalid_fix``, ``zero_coordinates`` and ``future_time`` come from the decoders' shared invariants.  A fix
flagged ``invalid_fix``, ``zero_coordinates``, ``future_time``, ``duplicate``, ``out_of_order`` or
``implausible_jump`` does not become the device's reference for the next comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from cedetect.models import NOT_A_TRACK_POINT_FLAGS, Position, PositionFlag

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class FilterSettings:
    max_speed_kmh: float = 180.0
    max_implied_speed_kmh: float = 250.0
    min_jump_m: float = 1_000.0
    min_period_s: float = 1.0
    stale_after_s: float = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class _Reference:
    time_utc: datetime
    latitude: float
    longitude: float


class PositionFilter:
    def __init__(self, settings: FilterSettings | None = None) -> None:
        self.settings = settings or FilterSettings()
        self._last: dict[str, _Reference] = {}

    def flags(self, position: Position) -> tuple[PositionFlag, ...]:
        """The flags ``position`` deserves beyond those it carries; updates the device's reference."""
        s = self.settings
        found: set[PositionFlag] = set()
        if position.speed_kmh > s.max_speed_kmh:
            found.add(PositionFlag.MAX_SPEED)
        if (position.received_utc - position.time_utc).total_seconds() > s.stale_after_s:
            found.add(PositionFlag.STALE_TIME)
        last = self._last.get(position.device_id)
        if last is not None:
            dt_s = (position.time_utc - last.time_utc).total_seconds()
            if dt_s == 0:
                found.add(PositionFlag.DUPLICATE)
            elif dt_s < 0:
                found.add(PositionFlag.OUT_OF_ORDER)
            else:
                if dt_s < s.min_period_s:
                    found.add(PositionFlag.MIN_PERIOD)
                distance_m = haversine_m(last.latitude, last.longitude, position.latitude, position.longitude)
                if distance_m > s.min_jump_m and distance_m / dt_s * 3.6 > s.max_implied_speed_kmh:
                    found.add(PositionFlag.IMPLAUSIBLE_JUMP)
        if not NOT_A_TRACK_POINT_FLAGS.intersection(found) and not NOT_A_TRACK_POINT_FLAGS.intersection(position.flags):
            self._last[position.device_id] = _Reference(position.time_utc, position.latitude, position.longitude)
        return tuple(sorted(found - set(position.flags)))

    def apply(self, position: Position) -> Position:
        """``position`` with the filter's flags added."""
        extra = self.flags(position)
        if not extra:
            return position
        return position.model_copy(update={"flags": tuple(sorted({*position.flags, *extra}))})

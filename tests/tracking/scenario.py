"""Hand-built truck tracks with known anomalies (local metres around a point in eastern Turkey)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from tracking.track import Fix

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC).timestamp()
LAT0, LON0 = 37.0, 42.0
M_PER_DEG = math.pi / 180 * 6_371_008.8


def at(x_m: float, y_m: float) -> tuple[float, float]:
    return LAT0 + y_m / M_PER_DEG, LON0 + x_m / (M_PER_DEG * math.cos(math.radians(LAT0)))


def fix(device: str, t_s: float, x_m: float, y_m: float, speed: float | None = None, ign: bool | None = None) -> Fix:
    lat, lon = at(x_m, y_m)
    return Fix(device, datetime.fromtimestamp(T0 + t_s, UTC), lat, lon, speed, ign)

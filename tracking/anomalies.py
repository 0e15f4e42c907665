"""Anomaly construction shared by the batch and the live scorers, so both say exactly the same thing.

Definitions (thresholds: :class:`cedetect.config.AnomalySettings`, env prefix ``CEDETECT_ANOMALY_``):

* ``gps_jump`` -- one per step: ``teleport`` (at least ``teleport_m`` at more than ``max_speed_kmh``),
  ``implied_speed`` (at least ``jump_min_m`` at more than ``max_speed_kmh``), ``acceleration``
  (reported speeds, or implied speeds over steps of ``accel_min_dt_s`` or more, changing faster than
  ``max_accel_ms2``); and ``frozen_coordinates``: ``frozen_min_fixes`` or more fixes in a row at the very
  same coordinates while each reports at least ``moving_speed_kmh``.
* ``gap`` -- going dark: the last fix before a silence of ``gap_min_s`` (or of ``gap_far_min_s`` ending
  ``gap_far_m`` away) was moving (its speed, else the implied speed into it, at least
  ``moving_speed_kmh``) and not ignition-off.  The score grows with the length and is weighted up off the
  corridor and within ``border_context_m`` of a border post.
* ``unscheduled_stop`` -- a MovingPandas stop (``stop_max_diameter_m``, ``stop_min_duration_s``) whose
  first fix is outside every approved zone (kinds ``approved_zone_kinds``).
* ``loitering`` -- a MovingPandas stop at the larger scale (``loiter_max_diameter_m``,
  ``loiter_min_duration_s``) with a mean speed of at least ``loiter_min_mean_speed_kmh`` (moving, not
  parked), starting outside approved zones.
* ``route_deviation`` -- consecutive fixes farther than ``width_m / 2 + deviation_tolerance_m`` from every
  corridor that applies to the truck, for at least ``deviation_min_duration_s``.
* ``rendezvous`` -- see :mod:`tracking.rendezvous`.
* ``geofence_enter`` / ``geofence_exit`` -- see :mod:`tracking.zone_events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cedetect.config import AnomalySettings
from cedetect.models import Anomaly, AnomalyKind, EvidenceFix, anomaly_id_for
from geofence.corridors import Corridor
from geofence.zones import ZoneIndex


def _clip(score: float) -> float:
    return max(0.0, min(1.0, score))


def make_anomaly(
    kind: AnomalyKind,
    device_ids: tuple[str, ...],
    start_utc: datetime,
    end_utc: datetime,
    where: EvidenceFix,
    score: float,
    reason: str,
    evidence: tuple[EvidenceFix, ...],
    *,
    key: str = "",
    zone_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> Anomaly:
    ids = tuple(sorted(device_ids))
    return Anomaly(
        anomaly_id=anomaly_id_for(kind.value, ids, start_utc, key),
        kind=kind,
        device_ids=ids,
        start_utc=start_utc,
        end_utc=end_utc,
        latitude=where.latitude,
        longitude=where.longitude,
        score=_clip(score),
        reason=reason[:300],
        zone_id=zone_id,
        evidence=evidence,
        details=details or {},
    )


@dataclass(frozen=True)
class Context:
    """What the detectors need besides the fixes: thresholds, corridors and zones."""

    settings: AnomalySettings
    corridors: tuple[Corridor, ...] = ()
    zones: ZoneIndex | None = None

    def corridors_for(self, device_id: str) -> tuple[Corridor, ...]:
        declared = tuple(c for c in self.corridors if c.device_ids and device_id in c.device_ids)
        return declared or tuple(c for c in self.corridors if not c.device_ids)

    def in_approved_zone(self, lat: float, lon: float) -> bool:
        if self.zones is None:
            return False
        kinds = set(self.settings.approved_zone_kinds)
        return any(z.kind in kinds for z in self.zones.zones_containing(lat, lon))

    def near_border(self, lat: float, lon: float) -> bool:
        if self.zones is None or self.settings.border_context_m <= 0:
            return False
        from geofence.geodesy import haversine_m

        kinds = set(self.settings.border_zone_kinds)
        for zone in self.zones:
            if zone.kind not in kinds:
                continue
            if zone.contains(lat, lon):
                return True
            for ring in zone.polygon:
                if any(haversine_m(lat, lon, y, x) <= self.settings.border_context_m for x, y in ring):
                    return True
        return False


def distinct(*fixes: EvidenceFix) -> tuple[EvidenceFix, ...]:
    out: list[EvidenceFix] = []
    for f in fixes:
        if f not in out:
            out.append(f)
    return tuple(out)


def jump_anomaly(code_name: str, value: float, a: EvidenceFix, b: EvidenceFix, s: AnomalySettings) -> Anomaly:
    if code_name == "acceleration":
        score = 0.5 + 0.5 * (1.0 - s.max_accel_ms2 / value)
        reason = f"acceleration of {value:.1f} m/s² between fixes (limit {s.max_accel_ms2:g})"
    else:
        base = 0.75 if code_name == "teleport" else 0.5
        score = base + (1.0 - base) * (1.0 - s.max_speed_kmh / value) if value != float("inf") else 1.0
        speed = "instant" if value == float("inf") else f"{value:.0f} km/h"
        reason = f"{code_name.replace('_', ' ')}: {speed} implied between fixes (limit {s.max_speed_kmh:g} km/h)"
    return make_anomaly(
        AnomalyKind.GPS_JUMP,
        (b.device_id,),
        a.time_utc,
        b.time_utc,
        b,
        score,
        reason,
        distinct(a, b),
        key=code_name,
        details={"subtype": code_name, "value": value if value != float("inf") else None},
    )


def frozen_anomaly(first: EvidenceFix, last: EvidenceFix, count: int, s: AnomalySettings) -> Anomaly:
    return make_anomaly(
        AnomalyKind.GPS_JUMP,
        (first.device_id,),
        first.time_utc,
        last.time_utc,
        first,
        0.4 + 0.1 * count,
        f"frozen coordinates: {count} fixes at the same position while the speed says moving",
        distinct(first, last),
        key="frozen_coordinates",
        details={"subtype": "frozen_coordinates", "fixes": count},
    )


def gap_anomaly(
    a: EvidenceFix, b: EvidenceFix, gap_s: float, distance_m: float, off_corridor: bool, near_border: bool,
    s: AnomalySettings,
) -> Anomaly:  # fmt: skip
    base = 0.25 + 0.75 * min(1.0, gap_s / (4.0 * s.gap_min_s))
    weight = 1.0 + 0.5 * off_corridor + 0.5 * near_border
    context = [w for w, on in (("off the corridor", off_corridor), ("near a border post", near_border)) if on]
    reason = f"went dark while moving for {gap_s / 60:.0f} min, reappeared {distance_m / 1000:.1f} km away" + (
        " (" + ", ".join(context) + ")" if context else ""
    )
    return make_anomaly(
        AnomalyKind.GAP,
        (a.device_id,),
        a.time_utc,
        b.time_utc,
        a,
        base * weight,
        reason,
        distinct(a, b),
        details={"gap_s": gap_s, "distance_m": distance_m, "off_corridor": off_corridor, "near_border": near_border},
    )


def stop_anomaly(first: EvidenceFix, last: EvidenceFix, s: AnomalySettings) -> Anomaly:
    duration = (last.time_utc - first.time_utc).total_seconds()
    return make_anomaly(
        AnomalyKind.UNSCHEDULED_STOP,
        (first.device_id,),
        first.time_utc,
        last.time_utc,
        first,
        min(1.0, duration / (4.0 * s.stop_min_duration_s)),
        f"stationary (within {s.stop_max_diameter_m:g} m) for {duration / 60:.0f} min outside approved stop zones",
        distinct(first, last),
        details={"duration_s": duration},
    )


def loiter_anomaly(first: EvidenceFix, last: EvidenceFix, mean_kmh: float, s: AnomalySettings) -> Anomaly:
    duration = (last.time_utc - first.time_utc).total_seconds()
    return make_anomaly(
        AnomalyKind.LOITERING,
        (first.device_id,),
        first.time_utc,
        last.time_utc,
        first,
        min(1.0, duration / (4.0 * s.loiter_min_duration_s)),
        f"slow movement (mean {mean_kmh:.1f} km/h) within {s.loiter_max_diameter_m:g} m for {duration / 60:.0f} min",
        distinct(first, last),
        details={"duration_s": duration, "mean_speed_kmh": mean_kmh},
    )


def deviation_anomaly(
    first: EvidenceFix, peak: EvidenceFix, last: EvidenceFix, peak_m: float, allowed_m: float
) -> Anomaly:
    duration = (last.time_utc - first.time_utc).total_seconds()
    return make_anomaly(
        AnomalyKind.ROUTE_DEVIATION,
        (first.device_id,),
        first.time_utc,
        last.time_utc,
        peak,
        0.5 * peak_m / allowed_m,
        f"off the corridor for {duration / 60:.0f} min, up to {peak_m:.0f} m from it (allowed {allowed_m:.0f} m)",
        distinct(first, peak, last),
        details={"duration_s": duration, "max_distance_m": peak_m, "allowed_m": allowed_m},
    )

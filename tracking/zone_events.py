"""Geofence enter/exit from the difference of zone sets between consecutive fixes, with a crossing check.

Between two fixes the truck is taken to move in a straight line (in lon/lat).  Zones in the current
set and not the previous one are entered at the current fix, the reverse exited.  A zone in neither
set whose boundary the segment crosses was passed through between sparse fixes: it yields an enter
and an exit at the first and last crossing, times interpolated along the segment.  The first fix of
a track enters the zones that contain it.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

from cedetect.models import Anomaly, AnomalyKind, EvidenceFix
from geofence.zones import Zone, ZoneIndex
from tracking.anomalies import make_anomaly


def _segment_fractions(zone: Zone, x1: float, y1: float, x2: float, y2: float) -> list[float]:
    """Fractions along (x1, y1)->(x2, y2) where it crosses any ring edge of the zone."""
    out: list[float] = []
    dx, dy = x2 - x1, y2 - y1
    for ring in zone.polygon:
        for (ax, ay), (bx, by) in itertools.pairwise(ring):
            ex, ey = bx - ax, by - ay
            den = dx * ey - dy * ex
            if den == 0.0:
                continue
            t = ((ax - x1) * ey - (ay - y1) * ex) / den
            u = ((ax - x1) * dy - (ay - y1) * dx) / den
            if 0.0 <= t <= 1.0 and 0.0 <= u <= 1.0:
                out.append(t)
    return sorted(out)


def _score(zone: Zone) -> float:
    return 1.0 if zone.kind == "restricted" else 0.3


def _event(kind: AnomalyKind, zone: Zone, where: EvidenceFix, evidence: tuple[EvidenceFix, ...]) -> Anomaly:
    verb = "entered" if kind is AnomalyKind.GEOFENCE_ENTER else "left"
    return make_anomaly(
        kind,
        (where.device_id,),
        where.time_utc,
        where.time_utc,
        where,
        _score(zone),
        f"{verb} {zone.kind} zone {zone.name}",
        evidence,
        key=zone.zone_id,
        zone_id=zone.zone_id,
        details={"zone_kind": zone.kind},
    )


def zone_step(
    zones: ZoneIndex, previous: EvidenceFix | None, previous_set: frozenset[str], current: EvidenceFix
) -> tuple[list[Anomaly], frozenset[str]]:
    """Events between ``previous`` (in ``previous_set``) and ``current``; returns them and the current set."""
    current_set = zones.containing(current.latitude, current.longitude)
    events: list[Anomaly] = []
    if previous is not None:
        x1, y1, x2, y2 = previous.longitude, previous.latitude, current.longitude, current.latitude
        lo_x, hi_x, lo_y, hi_y = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
        for zone in zones:
            if zone.zone_id in previous_set or zone.zone_id in current_set:
                continue
            zx0, zy0, zx1, zy1 = zone.bbox
            if zx1 < lo_x or zx0 > hi_x or zy1 < lo_y or zy0 > hi_y:
                continue
            fractions = _segment_fractions(zone, x1, y1, x2, y2)
            if len(fractions) < 2:
                continue
            span = current.time_utc - previous.time_utc
            points = []
            for f in (fractions[0], fractions[-1]):
                points.append(
                    EvidenceFix(
                        device_id=current.device_id,
                        time_utc=previous.time_utc + timedelta(seconds=span.total_seconds() * f),
                        latitude=y1 + f * (y2 - y1),
                        longitude=x1 + f * (x2 - x1),
                    )
                )
            evidence = (previous, current)
            events.append(_event(AnomalyKind.GEOFENCE_ENTER, zone, points[0], evidence))
            events.append(_event(AnomalyKind.GEOFENCE_EXIT, zone, points[1], evidence))
    evidence_now = (previous, current) if previous is not None else (current,)
    for kind, ids in (
        (AnomalyKind.GEOFENCE_ENTER, current_set - previous_set),
        (AnomalyKind.GEOFENCE_EXIT, previous_set - current_set),
    ):
        for zone_id in sorted(ids):
            found = zones.get(zone_id)
            if found is not None:
                events.append(_event(kind, found, current, evidence_now))
    return events, current_set

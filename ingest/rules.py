"""Live rules evaluated on newly stored fixes, inside the same transaction as the fixes.

The first rule: a truck entering a restricted zone.  Zone membership per device is kept in
``device_zone_state`` so that a restart of ingest neither forgets nor repeats an entry; the entry is the
difference of zone sets between consecutive usable fixes (traccar's GeofenceEventHandler idea).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from cedetect.models import NOT_A_TRACK_POINT_FLAGS, Alert, AlertSeverity, alert_id_for, utc_now
from geofence.zones import Zone, ZoneIndex, zones_entered

#: Fixes carrying one of these flags are stored as evidence but do not move a truck in or out of a zone.
UNUSABLE_FLAGS = frozenset(flag.value for flag in NOT_A_TRACK_POINT_FLAGS)


@dataclass(frozen=True, slots=True)
class StoredFix:
    device_id: str
    time_utc: datetime
    latitude: float
    longitude: float
    speed_kmh: float
    valid: bool
    flags: tuple[str, ...]
    site: str


class RestrictedZoneRule:
    kind = "geofence_enter"

    def __init__(self, zones: Sequence[Zone]) -> None:
        self.zones = {zone.zone_id: zone for zone in zones}
        self.index = ZoneIndex(list(zones))

    def evaluate(self, conn: psycopg.Connection, fixes: Sequence[StoredFix]) -> list[Alert]:
        usable = sorted(
            (f for f in fixes if f.valid and not UNUSABLE_FLAGS.intersection(f.flags)),
            key=lambda f: (f.device_id, f.time_utc),
        )
        if not usable:
            return []
        devices = sorted({f.device_id for f in usable})
        state: dict[str, tuple[frozenset[str], datetime]] = {
            row[0]: (frozenset(row[1]), row[2])
            for row in conn.execute(
                "SELECT device_id, zone_ids, time_utc FROM device_zone_state WHERE device_id = ANY(%s) FOR UPDATE",
                (devices,),
            )
        }
        alerts: list[Alert] = []
        changed: set[str] = set()
        for fix in usable:
            previous, previous_time = state.get(fix.device_id, (frozenset(), None))
            if previous_time is not None and fix.time_utc <= previous_time:
                continue  # late fix: the zone history has already moved past it
            current = self.index.containing(fix.latitude, fix.longitude)
            for zone_id in sorted(zones_entered(previous, current)):
                zone = self.zones[zone_id]
                if zone.kind == "restricted":
                    alerts.append(self._alert(fix, zone))
            state[fix.device_id] = (current, fix.time_utc)
            changed.add(fix.device_id)
        for device_id in sorted(changed):
            zone_ids, time_utc = state[device_id]
            conn.execute(
                "INSERT INTO device_zone_state (device_id, zone_ids, time_utc) VALUES (%s, %s, %s)"
                " ON CONFLICT (device_id) DO UPDATE SET zone_ids = EXCLUDED.zone_ids, time_utc = EXCLUDED.time_utc",
                (device_id, sorted(zone_ids), time_utc),
            )
        return alerts

    def _alert(self, fix: StoredFix, zone: Zone) -> Alert:
        return Alert(
            alert_id=alert_id_for(self.kind, (fix.device_id,), fix.time_utc, zone.zone_id),
            kind=self.kind,
            severity=AlertSeverity.HIGH,
            device_ids=(fix.device_id,),
            time_utc=fix.time_utc,
            created_utc=utc_now(),
            latitude=fix.latitude,
            longitude=fix.longitude,
            zone_id=zone.zone_id,
            title=f"Truck {fix.device_id} entered restricted zone {zone.name}",
            details={
                "zone_kind": zone.kind,
                "zone_name": zone.name,
                "site": fix.site,
                "speed_kmh": fix.speed_kmh,
                "evidence": [
                    {
                        "device_id": fix.device_id,
                        "time_utc": fix.time_utc.isoformat(),
                        "latitude": fix.latitude,
                        "longitude": fix.longitude,
                    }
                ],
            },
        )

"""The demo's smuggler, scored as ingest scores it: besides entering the restricted zone near Habur it
stops there for a meeting, an unscheduled stop the command centre sees within the demo's catch-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cedetect.config import AnomalySettings
from cedetect.models import AnomalyKind
from firmware_sim.fleet import build_fleet
from firmware_sim.profile import load_profile
from firmware_sim.routes import SMUGGLER_ZONE_ID
from geofence.demo_zones import default_zones
from geofence.zones import ZoneIndex
from tracking.live import LiveScorer
from tracking.track import Fix

START = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def test_the_demo_smuggler_makes_an_unscheduled_stop_in_its_restricted_zone() -> None:
    smuggler = build_fleet(2, 1)[0]
    assert smuggler.route.smuggler
    zones = ZoneIndex(default_zones())
    scorer = LiveScorer(AnomalySettings(), (), zones)
    found = []
    for f in smuggler.model(start_utc=START, profile=load_profile()).fixes():
        if f.time_utc > START + timedelta(hours=2):
            break
        fix = Fix(smuggler.truck_id, f.time_utc, f.latitude, f.longitude, f.speed_kmh, f.ignition)
        found.extend(scorer.update(fix))
    stops = [a for a in found if a.kind is AnomalyKind.UNSCHEDULED_STOP]
    assert len(stops) == 1
    stop = stops[0]
    assert SMUGGLER_ZONE_ID in zones.containing(stop.latitude, stop.longitude)
    assert timedelta(minutes=45) <= stop.end_utc - stop.start_utc <= timedelta(minutes=55)
    assert stop.end_utc < START + timedelta(minutes=100)  # within the demo's catch-up (600 s at 10x)
    enter = [a for a in found if a.kind is AnomalyKind.GEOFENCE_ENTER and a.zone_id == SMUGGLER_ZONE_ID]
    assert len(enter) == 1
    assert enter[0].start_utc < stop.start_utc

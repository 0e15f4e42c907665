"""Which truck drives which route, with which IMEI and seed.

Truck 1 is the SMUGGLER (the route that detours through a restricted zone), so that a demo with any
number of trucks raises an alert.  The others take the normal routes in turn; once every route has a
truck, further trucks drive the normal routes again from a seeded point part-way along, in the
opposite direction every other round, so that no two trucks share a track.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from firmware_sim.imei import imei_for
from firmware_sim.profile import GpsProfile
from firmware_sim.routes import Route, load_routes
from firmware_sim.truck import TruckModel, TruckParams


@dataclass(frozen=True)
class FleetTruck:
    index: int
    truck_id: str
    imei: str
    route: Route
    seed: int
    start_offset_m: float

    def model(self, *, start_utc: datetime, profile: GpsProfile, params: TruckParams | None = None) -> TruckModel:
        return TruckModel(
            self.route,
            seed=self.seed,
            start_utc=start_utc,
            profile=profile,
            params=params,
            start_offset_m=self.start_offset_m,
        )


def build_fleet(trucks: int, seed: int, routes: Sequence[Route] | None = None) -> list[FleetTruck]:
    if trucks < 1:
        raise ValueError("need at least one truck")
    all_routes = list(routes) if routes is not None else load_routes()
    smugglers = [r for r in all_routes if r.smuggler]
    normal = [r for r in all_routes if not r.smuggler]
    rng = random.Random(f"cedetect-fleet:{seed}")
    fleet: list[FleetTruck] = []
    for index in range(trucks):
        offset_m = 0.0
        if index == 0 and smugglers:
            route = smugglers[0]
        elif normal:
            k = index - (1 if smugglers else 0)
            route = normal[k % len(normal)]
            round_ = k // len(normal)
            if round_ > 0:
                if round_ % 2 == 1:
                    route = route.reversed()
                offset_m = rng.uniform(0.05, 0.6) * route.length_m
        else:
            route = smugglers[0]
        fleet.append(
            FleetTruck(
                index=index,
                truck_id=f"truck-{index + 1:02d}",
                imei=imei_for(seed, index),
                route=route,
                seed=seed * 1_000_003 + index,
                start_offset_m=offset_m,
            )
        )
    return fleet

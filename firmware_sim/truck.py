"""A deterministic truck driving a route, and the GPS fixes its tracker would report.

Pure: no I/O, no clock, no sleeping.  Everything random comes from ``random.Random`` streams seeded
from ``seed`` (one for the drive plan, one for sampling and noise, so a different sampling interval
leaves the drive unchanged).

The drive is planned analytically as phases of constant acceleration:

* speed limits: inside towns (within ``urban_radius_m`` of a town vertex, measured along the route)
  ``urban_speed_kmh``; elsewhere a cruise speed drawn uniformly in ``[cruise_kmh_min, cruise_kmh_max]``
  for each stretch of open road;
* short stops (traffic lights, junctions) only inside towns, as a Poisson process along the route at
  the profile's measured ``urban_stops_per_km``, each lasting a duration drawn from the profile's
  measured distribution; the ignition stays on;
* between stops the truck accelerates at ``accel_mps2`` up to the limit, holds it, and brakes at
  ``decel_mps2``, slowing before a lower limit ahead (the usual forward/backward pass over the
  junction speeds) and stopping exactly at each stop;
* rest breaks: after ``max_driving_s`` of driving (4 h 30 min) the truck pulls over and stops for
  ``rest_break_s`` (45 min) with the ignition off, as EU Regulation 561/2006 and the AETR agreement
  (which Turkey applies to international road transport) require;
* at the end of the route it parks with the ignition off for ``turnaround_s``, then drives the route
  back (``loop=True``), or stays parked (``loop=False``).

Fixes are sampled at intervals drawn from the profile (or fixed), rounded to whole seconds because
GT06 timestamps have a resolution of one second, with independent Gaussian noise of the profile's
per-axis sigma added to the true position.  Speed and heading are the true values (a receiver derives
them from Doppler, which is far less noisy than position).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from firmware_sim.polyline import Polyline
from firmware_sim.profile import GpsProfile, sample_quantiles
from firmware_sim.routes import Route
from geofence.geodesy import EARTH_RADIUS_M

KMH = 1.0 / 3.6
#: Stops closer than this to a trip's start or end are dropped.
STOP_MARGIN_M = 20.0


@dataclass(frozen=True)
class TruckParams:
    """How the truck drives.  Not measured (no truck data is available): typical values, documented."""

    cruise_kmh_min: float = 70.0
    cruise_kmh_max: float = 85.0
    urban_speed_kmh: float = 50.0
    accel_mps2: float = 0.5
    decel_mps2: float = 1.0
    urban_radius_m: float = 2000.0
    max_driving_s: float = 4.5 * 3600.0
    rest_break_s: float = 45.0 * 60.0
    turnaround_s: float = 3600.0
    #: A smuggler's route stops this long at the centre of its restricted zone (a meeting, ignition on): the
    #: demo's unscheduled stop.  0: drive through.
    meeting_stop_s: float = 50.0 * 60.0
    loop: bool = True
    satellites_min: int = 6
    satellites_max: int = 12

    def __post_init__(self) -> None:
        if not 0.0 < self.cruise_kmh_min <= self.cruise_kmh_max:
            raise ValueError("need 0 < cruise_kmh_min <= cruise_kmh_max")
        if self.urban_speed_kmh <= 0.0 or self.accel_mps2 <= 0.0 or self.decel_mps2 <= 0.0:
            raise ValueError("urban_speed_kmh, accel_mps2 and decel_mps2 must be positive")
        if self.urban_radius_m < 0.0 or self.max_driving_s <= 0.0 or self.rest_break_s < 0.0:
            raise ValueError("urban_radius_m, rest_break_s must be >= 0 and max_driving_s > 0")
        if self.turnaround_s < 0.0 or not 0 <= self.satellites_min <= self.satellites_max <= 15:
            raise ValueError("turnaround_s must be >= 0 and 0 <= satellites_min <= satellites_max <= 15")


class PhaseKind(StrEnum):
    DRIVE = "drive"
    STOP = "stop"  # short stop, ignition on
    REST = "rest"  # rest break, ignition off
    PARKED = "parked"  # end of the route, ignition off


@dataclass(frozen=True)
class Phase:
    """Constant acceleration (or standing still) from ``t0_s`` for ``duration_s`` seconds."""

    kind: PhaseKind
    t0_s: float
    duration_s: float
    s0_m: float  # distance along the trip's polyline at the start of the phase
    v0_mps: float
    accel_mps2: float
    trip: int
    odometer0_m: float  # distance driven since the start of the simulation, at the start of the phase

    @property
    def t1_s(self) -> float:
        return self.t0_s + self.duration_s

    @property
    def ignition(self) -> bool:
        return self.kind in (PhaseKind.DRIVE, PhaseKind.STOP)

    def at(self, t_s: float) -> tuple[float, float]:
        """``(distance_m, speed_mps)`` at time ``t_s`` (clamped to the phase)."""
        if self.kind is not PhaseKind.DRIVE:
            return self.s0_m, 0.0
        tau = min(max(t_s - self.t0_s, 0.0), self.duration_s)
        speed = max(self.v0_mps + self.accel_mps2 * tau, 0.0)
        return self.s0_m + self.v0_mps * tau + 0.5 * self.accel_mps2 * tau * tau, speed

    @property
    def end_distance_m(self) -> float:
        return self.at(self.t1_s)[0]


@dataclass(frozen=True)
class Fix:
    """One report of the tracker.  ``latitude``/``longitude`` carry GPS noise; ``true_*`` do not."""

    time_utc: datetime
    latitude: float
    longitude: float
    speed_kmh: float
    heading_deg: float
    satellites: int
    valid: bool
    ignition: bool
    sim_time_s: float
    odometer_m: float
    true_latitude: float
    true_longitude: float
    trip: int
    phase: PhaseKind


# ------------------------------------------------------------------------------------------------
# Planning


@dataclass(frozen=True)
class _Move:
    """A drive phase relative to its chunk: duration, start distance, start speed, acceleration."""

    duration_s: float
    s0_m: float
    v0_mps: float
    accel_mps2: float


def plan_segments(segments: Sequence[tuple[float, float]], accel: float, decel: float) -> list[_Move]:
    """Fastest drive from standstill to standstill over ``(length_m, limit_mps)`` segments.

    Junction speeds are capped by both neighbouring limits, then by what acceleration allows from
    the previous junction (forward pass) and braking allows before the next (backward pass).  Each
    segment is then a trapezoid (or triangle) of accelerate / hold / brake.
    """
    segs = [(length, limit) for length, limit in segments if length > 0.0]
    if not segs:
        return []
    n = len(segs)
    junction = [0.0] * (n + 1)
    for k in range(1, n):
        junction[k] = min(segs[k - 1][1], segs[k][1])
    for k in range(1, n + 1):
        junction[k] = min(junction[k], math.sqrt(junction[k - 1] ** 2 + 2.0 * accel * segs[k - 1][0]))
    junction[n] = 0.0
    for k in range(n - 1, -1, -1):
        junction[k] = min(junction[k], math.sqrt(junction[k + 1] ** 2 + 2.0 * decel * segs[k][0]))
    moves: list[_Move] = []
    s = 0.0
    for k, (length, limit) in enumerate(segs):
        v0, v1 = junction[k], junction[k + 1]
        peak = min(limit, math.sqrt((2.0 * accel * decel * length + decel * v0**2 + accel * v1**2) / (accel + decel)))
        peak = max(peak, v0, v1)
        d_up = (peak**2 - v0**2) / (2.0 * accel)
        d_down = (peak**2 - v1**2) / (2.0 * decel)
        d_hold = max(length - d_up - d_down, 0.0)
        for duration, v_start, acc, dist in (
            ((peak - v0) / accel, v0, accel, d_up),
            (d_hold / peak if peak > 0.0 else 0.0, peak, 0.0, d_hold),
            ((peak - v1) / decel, peak, -decel, d_down),
        ):
            if duration > 1e-9:
                moves.append(_Move(duration, s, v_start, acc))
                s += dist
        s = sum(seg[0] for seg in segs[: k + 1])  # no drift across segments
    return moves


def _moves_time(moves: Sequence[_Move]) -> float:
    return sum(m.duration_s for m in moves)


def _distance_after(moves: Sequence[_Move], t_s: float) -> float:
    """Distance covered ``t_s`` seconds into a chunk."""
    for move in moves:
        if t_s <= move.duration_s:
            return move.s0_m + move.v0_mps * t_s + 0.5 * move.accel_mps2 * t_s * t_s
        t_s -= move.duration_s
    last = moves[-1]
    return last.s0_m + last.v0_mps * last.duration_s + 0.5 * last.accel_mps2 * last.duration_s**2


def _merge_intervals(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@dataclass(frozen=True)
class TripPlan:
    """Where a trip's speed limits change and where it stops (distances along its polyline)."""

    stretches: tuple[tuple[float, float, float], ...]  # (start_m, end_m, limit_mps), covering the trip
    stops: tuple[tuple[float, float], ...]  # (distance_m, duration_s), increasing


def plan_trip(
    length_m: float,
    town_distances_m: Sequence[float],
    start_m: float,
    params: TruckParams,
    profile: GpsProfile,
    rng: random.Random,
) -> TripPlan:
    urban = _merge_intervals(
        [
            (max(d - params.urban_radius_m, start_m), min(d + params.urban_radius_m, length_m))
            for d in town_distances_m
            if params.urban_radius_m > 0.0 and d + params.urban_radius_m > start_m
        ]
    )
    urban = [(a, b) for a, b in urban if b > a]
    stretches: list[tuple[float, float, float]] = []
    cursor = start_m
    for a, b in [*urban, (length_m, length_m)]:
        if a > cursor:
            cruise_kmh = rng.uniform(params.cruise_kmh_min, params.cruise_kmh_max)
            stretches.append((cursor, a, cruise_kmh * KMH))
        if b > a:
            stretches.append((a, b, params.urban_speed_kmh * KMH))
        cursor = max(cursor, b)
    stops: list[tuple[float, float]] = []
    rate_per_m = profile.urban_stops_per_km / 1000.0
    if rate_per_m > 0.0:
        for a, b in urban:
            x = a + rng.expovariate(rate_per_m)
            while x < b:
                duration = sample_quantiles(profile.urban_stop_duration_quantiles_s, rng.random())
                if start_m + STOP_MARGIN_M < x < length_m - STOP_MARGIN_M and duration > 0.0:
                    stops.append((x, duration))
                x += rng.expovariate(rate_per_m)
    return TripPlan(tuple(stretches), tuple(stops))


def _chunk_segments(plan: TripPlan, s_a: float, s_b: float) -> list[tuple[float, float]]:
    segments = []
    for start, end, limit in plan.stretches:
        lo, hi = max(start, s_a), min(end, s_b)
        if hi > lo:
            segments.append((hi - lo, limit))
    return segments


class TruckModel:
    """A truck on ``route``; iterate :meth:`fixes` (endless) or :meth:`phases`."""

    def __init__(
        self,
        route: Route,
        *,
        seed: int,
        start_utc: datetime,
        profile: GpsProfile,
        params: TruckParams | None = None,
        start_offset_m: float = 0.0,
    ) -> None:
        if start_utc.tzinfo is None:
            raise ValueError("start_utc must be timezone-aware")
        self.route = route
        self.seed = seed
        self.start_utc = start_utc.astimezone(UTC).replace(microsecond=0)
        self.profile = profile
        self.params = params or TruckParams()
        self._forward = route.polyline()
        self._backward = self._forward.reversed()
        length = self._forward.length_m
        if not 0.0 <= start_offset_m < length:
            raise ValueError(f"start_offset_m must be in [0, {length:.0f}), got {start_offset_m!r}")
        self.start_offset_m = start_offset_m
        self._towns_forward = route.town_distances_m()
        self._towns_backward = tuple(sorted(length - d for d in self._towns_forward))
        self._meet_forward = tuple(
            d
            for d, name in zip(self._forward.cumulative_m, route.vertex_names, strict=True)
            if route.restricted_zone is not None and name == route.restricted_zone
        )
        self._meet_backward = tuple(sorted(length - d for d in self._meet_forward))

    def polyline(self, trip: int) -> Polyline:
        return self._forward if trip % 2 == 0 else self._backward

    def phases(self) -> Iterator[Phase]:
        """The drive, phase by phase, forever (the last phase is endless when ``loop`` is off)."""
        params = self.params
        rng = random.Random(f"cedetect-truck-plan:{self.seed}")
        t = 0.0
        odometer = 0.0
        driving_s = 0.0
        trip = 0
        start_m = self.start_offset_m
        while True:
            line = self.polyline(trip)
            towns = self._towns_forward if trip % 2 == 0 else self._towns_backward
            plan = plan_trip(line.length_m, towns, start_m, params, self.profile, rng)
            meets = self._meet_forward if trip % 2 == 0 else self._meet_backward
            stops = sorted(
                [*plan.stops]
                + [
                    (d, params.meeting_stop_s)
                    for d in meets
                    if params.meeting_stop_s > 0.0 and start_m + STOP_MARGIN_M < d < line.length_m - STOP_MARGIN_M
                ]
            )
            s_a = start_m
            for s_b, stop_s in [*stops, (line.length_m, 0.0)]:
                while s_b > s_a:
                    moves = plan_segments(_chunk_segments(plan, s_a, s_b), params.accel_mps2, params.decel_mps2)
                    chunk_s = _moves_time(moves)
                    end = s_b
                    rest_after = False
                    if moves and driving_s + chunk_s > params.max_driving_s:
                        s_star = s_a + _distance_after(moves, params.max_driving_s - driving_s)
                        if s_star - s_a >= 1.0:
                            end, rest_after = s_star, True
                            moves = plan_segments(_chunk_segments(plan, s_a, end), params.accel_mps2, params.decel_mps2)
                        elif driving_s > 0.0:
                            # The limit falls right here: rest before setting off.
                            yield Phase(PhaseKind.REST, t, params.rest_break_s, s_a, 0.0, 0.0, trip, odometer)
                            t += params.rest_break_s
                            driving_s = 0.0
                            continue
                    for move in moves:
                        yield Phase(
                            PhaseKind.DRIVE,
                            t,
                            move.duration_s,
                            s_a + move.s0_m,
                            move.v0_mps,
                            move.accel_mps2,
                            trip,
                            odometer + move.s0_m,
                        )
                        t += move.duration_s
                    driving_s += _moves_time(moves)
                    odometer += end - s_a
                    s_a = end
                    if rest_after:
                        yield Phase(PhaseKind.REST, t, params.rest_break_s, s_a, 0.0, 0.0, trip, odometer)
                        t += params.rest_break_s
                        driving_s = 0.0
                if stop_s > 0.0:
                    yield Phase(PhaseKind.STOP, t, stop_s, s_a, 0.0, 0.0, trip, odometer)
                    t += stop_s
            if not params.loop:
                yield Phase(PhaseKind.PARKED, t, math.inf, line.length_m, 0.0, 0.0, trip, odometer)
                return
            yield Phase(PhaseKind.PARKED, t, params.turnaround_s, line.length_m, 0.0, 0.0, trip, odometer)
            t += params.turnaround_s
            if params.turnaround_s >= params.rest_break_s:
                driving_s = 0.0
            trip += 1
            start_m = 0.0

    def fixes(self) -> Iterator[Fix]:
        """Tracker reports, forever, at the profile's sampling intervals."""
        rng = random.Random(f"cedetect-truck-gps:{self.seed}")
        params = self.params
        sigma = self.profile.noise_sigma_per_axis_m
        satellites = rng.randint(params.satellites_min, params.satellites_max)
        phases = self.phases()
        phase = next(phases)
        t = 0.0
        while True:
            while t >= phase.t1_s:
                phase = next(phases)
            s, v = phase.at(t)
            where = self.polyline(phase.trip).locate(s)
            north_m = rng.gauss(0.0, sigma) if sigma > 0.0 else 0.0
            east_m = rng.gauss(0.0, sigma) if sigma > 0.0 else 0.0
            lat = max(-90.0, min(90.0, where.lat + math.degrees(north_m / EARTH_RADIUS_M)))
            lon = where.lon + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(where.lat))))
            if not -180.0 <= lon <= 180.0:
                lon = (lon + 540.0) % 360.0 - 180.0
            step = rng.random()
            if step < 0.1:
                satellites = max(params.satellites_min, satellites - 1)
            elif step > 0.9:
                satellites = min(params.satellites_max, satellites + 1)
            yield Fix(
                time_utc=self.start_utc + timedelta(seconds=t),
                latitude=lat,
                longitude=lon,
                speed_kmh=v * 3.6,
                heading_deg=where.heading_deg,
                satellites=satellites,
                valid=True,
                ignition=phase.ignition,
                sim_time_s=t,
                odometer_m=phase.odometer0_m + (s - phase.s0_m),
                true_latitude=where.lat,
                true_longitude=where.lon,
                trip=phase.trip,
                phase=phase.kind,
            )
            interval = sample_quantiles(self.profile.interval_quantiles_s, rng.random())
            t += max(1.0, float(round(interval)))

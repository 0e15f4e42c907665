"""Rendezvous: two trucks within ``rendezvous_distance_m`` for ``rendezvous_min_duration_s``, away from approved zones.

Time is cut into buckets of ``rendezvous_bucket_s``.  Each device's position in a bucket is its
latest fix in it.  When a bucket closes (the first fix of a later bucket arrives, or :meth:`flush`),
the devices that are slow (implied speed since their previous bucket position, else their reported
speed, at most ``rendezvous_max_speed_kmh``: two trucks driving in convoy are not a rendezvous) and
outside approved zones are hashed into a grid of cells ``D`` wide; only points in the same or
neighbouring cells are compared (:func:`tracking.kernels._close_pairs`), never all pairs.  A pair's
run goes on while it is close again within ``rendezvous_max_gap_s``; it is reported when it ends
after lasting ``rendezvous_min_duration_s`` (first to last close bucket).

The same scorer serves batch (fixes of all tracks fed in time order) and live (fixes as they come;
a fix for a bucket that already closed is counted in ``late_fixes`` and ignored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from cedetect.models import Anomaly, AnomalyKind, EvidenceFix
from tracking.anomalies import Context, make_anomaly
from tracking.kernels import _close_pairs
from tracking.track import Fix, to_epoch_s


@dataclass
class _Run:
    start_bucket: int
    last_bucket: int
    first: tuple[EvidenceFix, EvidenceFix]
    last: tuple[EvidenceFix, EvidenceFix]
    min_distance_m: float


class RendezvousScorer:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.s = ctx.settings
        self.bucket: int | None = None
        self.current: dict[str, tuple[float, Fix]] = {}
        self.previous_pos: dict[str, tuple[float, float, float]] = {}  # device -> (t_s, lat, lon)
        self.runs: dict[tuple[str, str], _Run] = {}
        self.late_fixes = 0

    def update(self, fix: Fix) -> list[Anomaly]:
        t = to_epoch_s(fix.time_utc)
        bucket = math.floor(t / self.s.rendezvous_bucket_s)
        out: list[Anomaly] = []
        if self.bucket is None:
            self.bucket = bucket
        elif bucket < self.bucket:
            self.late_fixes += 1
            return out
        elif bucket > self.bucket:
            out.extend(self._close_bucket())
            self.bucket = bucket
        held = self.current.get(fix.device_id)
        if held is None or t >= held[0]:
            self.current[fix.device_id] = (t, fix)
        return out

    def flush(self) -> list[Anomaly]:
        out = self._close_bucket() if self.bucket is not None else []
        for pair in sorted(self.runs):
            a = self._finish(pair, self.runs[pair])
            if a is not None:
                out.append(a)
        self.runs.clear()
        return out

    def _close_bucket(self) -> list[Anomaly]:
        assert self.bucket is not None
        s = self.s
        devices: list[str] = []
        lats: list[float] = []
        lons: list[float] = []
        fixes: list[Fix] = []
        for device_id in sorted(self.current):
            t, fix = self.current[device_id]
            prev = self.previous_pos.get(device_id)
            speed = fix.speed_kmh
            if prev is not None and t > prev[0] and t - prev[0] <= s.rendezvous_max_gap_s + s.rendezvous_bucket_s:
                from tracking._geo import haversine_m

                speed = haversine_m(prev[1], prev[2], fix.lat, fix.lon) / (t - prev[0]) * 3.6
            self.previous_pos[device_id] = (t, fix.lat, fix.lon)
            if speed is None or speed > s.rendezvous_max_speed_kmh:
                continue
            if self.ctx.in_approved_zone(fix.lat, fix.lon):
                continue
            devices.append(device_id)
            lats.append(fix.lat)
            lons.append(fix.lon)
            fixes.append(fix)
        self.current = {}
        out: list[Anomaly] = []
        if len(devices) >= 2:
            pa, pb, pd = _close_pairs(np.array(lats), np.array(lons), s.rendezvous_distance_m)
            for a, b, d in zip(pa.tolist(), pb.tolist(), pd.tolist(), strict=True):
                pair = (devices[a], devices[b])
                ev = (_evidence(fixes[a]), _evidence(fixes[b]))
                run = self.runs.get(pair)
                if (
                    run is not None
                    and (self.bucket - run.last_bucket) * s.rendezvous_bucket_s <= s.rendezvous_max_gap_s
                ):
                    run.last_bucket = self.bucket
                    run.last = ev
                    run.min_distance_m = min(run.min_distance_m, d)
                    continue
                if run is not None:
                    done = self._finish(pair, run)
                    if done is not None:
                        out.append(done)
                self.runs[pair] = _Run(self.bucket, self.bucket, ev, ev, d)
        # Runs not seen again within the gap tolerance end here.
        for pair in sorted(self.runs):
            run = self.runs[pair]
            if (self.bucket - run.last_bucket) * s.rendezvous_bucket_s > s.rendezvous_max_gap_s:
                done = self._finish(pair, run)
                if done is not None:
                    out.append(done)
                del self.runs[pair]
        return out

    def _finish(self, pair: tuple[str, str], run: _Run) -> Anomaly | None:
        s = self.s
        duration = (run.last_bucket - run.start_bucket) * s.rendezvous_bucket_s
        if duration < s.rendezvous_min_duration_s:
            return None
        start = datetime.fromtimestamp(run.start_bucket * s.rendezvous_bucket_s, UTC)
        end = datetime.fromtimestamp(run.last_bucket * s.rendezvous_bucket_s, UTC)
        return make_anomaly(
            AnomalyKind.RENDEZVOUS,
            pair,
            start,
            end,
            run.first[0],
            min(1.0, duration / (4.0 * s.rendezvous_min_duration_s)),
            f"{pair[0]} and {pair[1]} within {s.rendezvous_distance_m:g} m for {duration / 60:.0f} min "
            f"away from approved zones (closest {run.min_distance_m:.0f} m)",
            (*run.first, *run.last),
            details={"duration_s": duration, "min_distance_m": run.min_distance_m},
        )


def _evidence(fix: Fix) -> EvidenceFix:
    return EvidenceFix(
        device_id=fix.device_id, time_utc=fix.time_utc, latitude=fix.lat, longitude=fix.lon, speed_kmh=fix.speed_kmh
    )

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
import numpy.typing as npt

from cedetect.models import Anomaly, AnomalyKind, EvidenceFix
from tracking.anomalies import Context, make_anomaly
from tracking.kernels import _close_pairs, _slow_devices
from tracking.track import Fix, to_epoch_s


@dataclass
class _Run:
    start_bucket: int
    last_bucket: int
    first: tuple[EvidenceFix, EvidenceFix]
    last: tuple[EvidenceFix, EvidenceFix]
    min_distance_m: float


class RendezvousScorer:
    """The fleet's rendezvous state.  Per fix, :meth:`update` only notes the fix; closing a bucket is vectorised.

    Devices get a dense index on first sight; their previous bucket positions live in arrays, and the
    implied speeds of a whole bucket are computed in one kernel call (:func:`_slow_devices`).  Python
    work per bucket is proportional to the pairs found and the open runs, not to the fleet.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.s = ctx.settings
        self.bucket: int | None = None
        self.late_fixes = 0
        self.runs: dict[tuple[str, str], _Run] = {}
        # Devices: dense indices, previous bucket positions (NaN time: none yet), rank in device-id order.
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self._prev = np.full((3, 1024), np.nan)  # rows: t_s, lat, lon
        self._rank = np.zeros(0, dtype=np.int64)
        # The current bucket: each device's latest fix, as parallel lists (slot per device in ``_slot``).
        self._slot: dict[str, int] = {}
        self._k: list[int] = []
        self._t: list[float] = []
        self._lat: list[float] = []
        self._lon: list[float] = []
        self._speed: list[float] = []
        self._fix: list[Fix] = []

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
        speed = math.nan if fix.speed_kmh is None else float(fix.speed_kmh)
        slot = self._slot.get(fix.device_id)
        if slot is None:
            k = self.index.get(fix.device_id)
            if k is None:
                k = self._add_device(fix.device_id)
            self._slot[fix.device_id] = len(self._k)
            self._k.append(k)
            self._t.append(t)
            self._lat.append(fix.lat)
            self._lon.append(fix.lon)
            self._speed.append(speed)
            self._fix.append(fix)
        elif t >= self._t[slot]:
            self._t[slot], self._lat[slot], self._lon[slot], self._speed[slot] = t, fix.lat, fix.lon, speed
            self._fix[slot] = fix
        return out

    def flush(self) -> list[Anomaly]:
        out = self._close_bucket() if self.bucket is not None else []
        for pair in sorted(self.runs):
            a = self._finish(pair, self.runs[pair])
            if a is not None:
                out.append(a)
        self.runs.clear()
        return out

    def _add_device(self, device_id: str) -> int:
        k = len(self.ids)
        self.index[device_id] = k
        self.ids.append(device_id)
        if k == self._prev.shape[1]:
            grown = np.full((3, 2 * k), np.nan)
            grown[:, :k] = self._prev
            self._prev = grown
        return k

    def _ranks(self) -> npt.NDArray[np.int64]:
        """Each device's rank in device-id order (recomputed only after new devices appeared)."""
        n = len(self.ids)
        if self._rank.shape[0] != n:
            rank = np.empty(n, dtype=np.int64)
            rank[sorted(range(n), key=self.ids.__getitem__)] = np.arange(n)
            self._rank = rank
        return self._rank

    def _close_bucket(self) -> list[Anomaly]:
        assert self.bucket is not None
        s = self.s
        k = np.array(self._k, dtype=np.int64)
        lat = np.array(self._lat)
        lon = np.array(self._lon)
        fixes = self._fix
        slow = _slow_devices(
            k, np.array(self._t), lat, lon, np.array(self._speed), self._prev,
            s.rendezvous_max_gap_s + s.rendezvous_bucket_s, s.rendezvous_max_speed_kmh,
        )  # fmt: skip
        self._slot = {}
        self._k, self._t, self._lat, self._lon, self._speed, self._fix = [], [], [], [], [], []
        cand = np.flatnonzero(slow)
        if self.ctx.zones is not None and cand.shape[0]:
            keep = [not self.ctx.in_approved_zone(float(lat[j]), float(lon[j])) for j in cand.tolist()]
            cand = cand[np.array(keep, dtype=bool)]
        out: list[Anomaly] = []
        if cand.shape[0] >= 2:
            cand = cand[np.argsort(self._ranks()[k[cand]], kind="stable")]  # device-id order
            pa, pb, pd = _close_pairs(lat[cand], lon[cand], s.rendezvous_distance_m)
            for a, b, d in zip(cand[pa].tolist(), cand[pb].tolist(), pd.tolist(), strict=True):
                pair = (fixes[a].device_id, fixes[b].device_id)
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

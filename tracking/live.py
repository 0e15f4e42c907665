"""Live scoring: per-device state, one fix at a time, the same anomalies (same ids) as :mod:`tracking.batch`.

Usage (the ingest path)::

    scorer = LiveScorer(AnomalySettings(), corridors, ZoneIndex(zones))
    for position in positions:                      # each device's fixes in time order
        for anomaly in scorer.update(Fix.from_position(position)):
            store_and_alert(anomaly)                 # idempotent on anomaly.anomaly_id
    scorer.flush()                                   # at shutdown: closes open stops/runs as batch does

Cost per fix is amortised O(1) in the length of the track: the point-wise kernels run on the last
three fixes; the stop and loitering scans (MovingPandas' definition) keep the window since the
current candidate start -- while stopped the hull is extended by one point, while moving the window
is bounded by ``min_duration`` -- and the buffers are compacted behind it; geofence events look at
the previous fix only; rendezvous closes one time bucket of all devices at a time.

An anomaly is emitted when it is complete: a jump or a gap at the fix that shows it, a stop, a
loitering, a deviation or a frozen run when it ends (or at :meth:`LiveScorer.flush`), a rendezvous
when the pair separates.  A fix older than the device's last one is refused with the reason
``out_of_order`` (counted in ``refused``); the detectors need time order.

Spoofing evidence: a fix with ``track_point=False`` (the edge flagged it ``implausible_jump``, so it must
not move the track) is checked only for a ``gps_jump`` from the device's last track point; no other
detector sees it and the device's state does not change.  Batch, which takes every row as a track point,
finds the same anomaly (same id) for that step; it also reports the step back from the spoofed fix to the
next real one, which live does not see as a step.  Several spoofed fixes after the same track point give
the same anomaly id (start at that track point, same subtype): one stored anomaly, one alert.  A
``track_point=False`` fix of a device with no track point yet is refused (``no_track_point_before``).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np

from cedetect.config import AnomalySettings
from cedetect.models import Anomaly, EvidenceFix
from geofence.corridors import Corridor
from geofence.zones import ZoneIndex
from tracking.anomalies import (
    Context,
    deviation_anomaly,
    frozen_anomaly,
    gap_anomaly,
    jump_anomaly,
    loiter_anomaly,
    stop_anomaly,
)
from tracking.batch import corridor_segments
from tracking.kernels import (
    JUMP_FROZEN,
    JUMP_NAMES,
    ST_LO,
    ST_STOPPED,
    _corridor_distance_m,
    _gap_seconds,
    _jump_codes,
    _path_length_m,
    _stop_step,
)
from tracking.rendezvous import RendezvousScorer
from tracking.track import Fix, to_epoch_s
from tracking.zone_events import zone_step


class _StopScan:
    """One MovingPandas stop scan over a device's buffer (indices relative to the buffer)."""

    def __init__(self, max_diameter_m: float, min_duration_s: float) -> None:
        self.st = np.array([0, 0, 0, -1, -1, 0], dtype=np.int64)
        self.bb = np.zeros(4)
        self.hull_lon = np.zeros(0)
        self.hull_lat = np.zeros(0)
        self.max_diameter_m = max_diameter_m
        self.min_duration_s = min_duration_s

    def step(self, buf: _Buffer, i: int) -> tuple[int, int]:
        first, last, self.hull_lon, self.hull_lat = _stop_step(
            buf.t, buf.lat, buf.lon, i, self.st, self.bb, self.hull_lon, self.hull_lat,
            self.max_diameter_m, self.min_duration_s,
        )  # fmt: skip
        return int(first), int(last)

    def open_stop(self, buf: _Buffer) -> tuple[int, int] | None:
        """The stop still open at the end of the data, as MovingPandas reports it."""
        lo = int(self.st[ST_LO])
        last = buf.n - 1
        if last >= 0 and self.st[ST_STOPPED] == 1 and buf.t[last] - buf.t[lo] >= self.min_duration_s:
            return lo, last
        return None

    def shift(self, k: int) -> None:
        for index in (0, 3, 4):
            if self.st[index] >= 0:
                self.st[index] -= k


class _Buffer:
    """Growable arrays of one device's recent fixes."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        cap = 64
        self.t = np.empty(cap)
        self.lat = np.empty(cap)
        self.lon = np.empty(cap)
        self.speed = np.empty(cap)
        self.ign = np.empty(cap, dtype=np.int8)
        self.n = 0

    def append(self, t: float, lat: float, lon: float, speed: float, ign: int) -> int:
        if self.n == self.t.shape[0]:
            for name in ("t", "lat", "lon", "speed", "ign"):
                old = getattr(self, name)
                new = np.empty(old.shape[0] * 2, dtype=old.dtype)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        i = self.n
        self.t[i], self.lat[i], self.lon[i], self.speed[i], self.ign[i] = t, lat, lon, speed, ign
        self.n += 1
        return i

    def drop_front(self, k: int) -> None:
        if k <= 0:
            return
        for name in ("t", "lat", "lon", "speed", "ign"):
            arr = getattr(self, name)
            arr[: self.n - k] = arr[k : self.n].copy()
        self.n -= k

    def evidence(self, i: int) -> EvidenceFix:
        speed = float(self.speed[i])
        return EvidenceFix(
            device_id=self.device_id,
            time_utc=datetime.fromtimestamp(float(self.t[i]), UTC),
            latitude=float(self.lat[i]),
            longitude=float(self.lon[i]),
            speed_kmh=None if np.isnan(speed) else speed,
        )


class DeviceScorer:
    """The live state of one device."""

    def __init__(self, device_id: str, ctx: Context) -> None:
        s = ctx.settings
        self.ctx = ctx
        self.buf = _Buffer(device_id)
        self.stops = _StopScan(s.stop_max_diameter_m, s.stop_min_duration_s)
        self.loiters = _StopScan(s.loiter_max_diameter_m, s.loiter_min_duration_s)
        self.corridor = corridor_segments(ctx, device_id)
        self.frozen: tuple[EvidenceFix, EvidenceFix, int] | None = None  # first, last, count
        self.deviation: tuple[EvidenceFix, EvidenceFix, EvidenceFix, float] | None = None  # first, peak, last, peak_m
        self.last_dist = np.inf
        self.previous: EvidenceFix | None = None
        self.zone_set: frozenset[str] = frozenset()

    def update(self, fix: Fix) -> list[Anomaly]:
        s = self.ctx.settings
        buf = self.buf
        speed = np.nan if fix.speed_kmh is None else float(fix.speed_kmh)
        ign = -1 if fix.ignition is None else int(fix.ignition)
        i = buf.append(to_epoch_s(fix.time_utc), fix.lat, fix.lon, speed, ign)
        out: list[Anomaly] = []
        lo3 = max(0, i - 2)
        sl = slice(lo3, i + 1)
        zones_on = self.ctx.zones is not None and len(self.ctx.zones) > 0
        current: EvidenceFix | None = None  # built when needed: most fixes raise nothing

        def now() -> EvidenceFix:
            nonlocal current
            if current is None:
                current = buf.evidence(i)
            return current

        if i >= 1:
            codes, values = _jump_codes(
                buf.t[sl], buf.lat[sl], buf.lon[sl], buf.speed[sl], s.max_speed_kmh, s.jump_min_m, s.teleport_m,
                s.max_accel_ms2, s.accel_min_dt_s, s.moving_speed_kmh,
            )  # fmt: skip
            code = int(codes[-1])
            if code and code != JUMP_FROZEN:
                out.append(jump_anomaly(JUMP_NAMES[code], float(values[-1]), buf.evidence(i - 1), now(), s))
            if code == JUMP_FROZEN:
                if self.frozen is None:
                    self.frozen = (buf.evidence(i - 1), now(), 2)
                else:
                    self.frozen = (self.frozen[0], now(), self.frozen[2] + 1)
            else:
                out.extend(self._close_frozen())
            gap = float(
                _gap_seconds(
                    buf.t[sl], buf.lat[sl], buf.lon[sl], buf.speed[sl], buf.ign[sl], s.gap_min_s, s.moving_speed_kmh,
                    s.gap_far_m, s.gap_far_min_s,
                )[-1]
            )  # fmt: skip
            if gap > 0:
                off = self.corridor is not None and self.last_dist > self.corridor[1]
                near = self.ctx.near_border(float(buf.lat[i - 1]), float(buf.lon[i - 1]))
                distance_m = float(_path_length_m(buf.lat, buf.lon, i - 1, i))
                out.append(gap_anomaly(buf.evidence(i - 1), now(), gap, distance_m, bool(off), near, s))
        if self.corridor is not None:
            dist = float(_corridor_distance_m(buf.lat[i : i + 1], buf.lon[i : i + 1], self.corridor[0])[0])
            self.last_dist = dist
            if dist > self.corridor[1]:
                if self.deviation is None:
                    self.deviation = (now(), now(), now(), dist)
                else:
                    first, peak, _, peak_m = self.deviation
                    if dist > peak_m:
                        peak, peak_m = now(), dist
                    self.deviation = (first, peak, now(), peak_m)
            else:
                out.extend(self._close_deviation())
        s_first, s_last = self.stops.step(buf, i)
        if s_first >= 0:
            out.extend(self._stop(s_first, s_last))
        l_first, l_last = self.loiters.step(buf, i)
        if l_first >= 0:
            out.extend(self._loiter(l_first, l_last))
        if zones_on:
            assert self.ctx.zones is not None
            events, self.zone_set = zone_step(self.ctx.zones, self.previous, self.zone_set, now())
            out.extend(events)
            self.previous = now()
        self._compact()
        return out

    def jump_into(self, fix: Fix) -> list[Anomaly]:
        """A ``gps_jump`` from the last track point to ``fix``, which is not a track point; the state is unchanged.

        The jump kernel runs on the last two track points and ``fix``, as it would if ``fix`` were the next
        track point, so the anomaly (and its id) is the one batch finds for that step.  A frozen-coordinates
        code needs a run of track points and is not reported here.
        """
        s = self.ctx.settings
        buf = self.buf
        n = buf.n
        if n == 0:
            return []
        lo = max(0, n - 2)
        speed = np.nan if fix.speed_kmh is None else float(fix.speed_kmh)
        t = np.append(buf.t[lo:n], to_epoch_s(fix.time_utc))
        codes, values = _jump_codes(
            t, np.append(buf.lat[lo:n], fix.lat), np.append(buf.lon[lo:n], fix.lon),
            np.append(buf.speed[lo:n], speed), s.max_speed_kmh, s.jump_min_m, s.teleport_m, s.max_accel_ms2,
            s.accel_min_dt_s, s.moving_speed_kmh,
        )  # fmt: skip
        code = int(codes[-1])
        if not code or code == JUMP_FROZEN:
            return []
        target = EvidenceFix(
            device_id=fix.device_id,
            time_utc=datetime.fromtimestamp(float(t[-1]), UTC),
            latitude=fix.lat,
            longitude=fix.lon,
            speed_kmh=None if np.isnan(speed) else speed,
        )
        return [jump_anomaly(JUMP_NAMES[code], float(values[-1]), buf.evidence(n - 1), target, s)]

    def flush(self) -> list[Anomaly]:
        out = self._close_frozen() + self._close_deviation()
        opened = self.stops.open_stop(self.buf)
        if opened is not None:
            out.extend(self._stop(*opened))
        opened = self.loiters.open_stop(self.buf)
        if opened is not None:
            out.extend(self._loiter(*opened))
        return out

    def _close_frozen(self) -> list[Anomaly]:
        run, self.frozen = self.frozen, None
        if run is not None and run[2] >= self.ctx.settings.frozen_min_fixes:
            return [frozen_anomaly(run[0], run[1], run[2], self.ctx.settings)]
        return []

    def _close_deviation(self) -> list[Anomaly]:
        run, self.deviation = self.deviation, None
        if run is None or self.corridor is None:
            return []
        first, peak, last, peak_m = run
        if (last.time_utc - first.time_utc).total_seconds() >= self.ctx.settings.deviation_min_duration_s:
            return [deviation_anomaly(first, peak, last, peak_m, self.corridor[1])]
        return []

    def _stop(self, first: int, last: int) -> list[Anomaly]:
        if self.ctx.in_approved_zone(float(self.buf.lat[first]), float(self.buf.lon[first])):
            return []
        return [stop_anomaly(self.buf.evidence(first), self.buf.evidence(last), self.ctx.settings)]

    def _loiter(self, first: int, last: int) -> list[Anomaly]:
        s = self.ctx.settings
        buf = self.buf
        duration = float(buf.t[last] - buf.t[first])
        mean_kmh = float(_path_length_m(buf.lat, buf.lon, first, last)) / duration * 3.6 if duration > 0 else 0.0
        if mean_kmh < s.loiter_min_mean_speed_kmh or self.ctx.in_approved_zone(
            float(buf.lat[first]), float(buf.lon[first])
        ):
            return []
        return [loiter_anomaly(buf.evidence(first), buf.evidence(last), mean_kmh, s)]

    def _compact(self) -> None:
        keep_from = min(int(self.stops.st[ST_LO]), int(self.loiters.st[ST_LO]), self.buf.n - 3)
        if keep_from > 1024 and keep_from > self.buf.n // 2:
            self.buf.drop_front(keep_from)
            self.stops.shift(keep_from)
            self.loiters.shift(keep_from)


class LiveScorer:
    """Scores fixes as they arrive; see the module docstring."""

    def __init__(
        self,
        settings: AnomalySettings,
        corridors: tuple[Corridor, ...] | list[Corridor] = (),
        zones: ZoneIndex | None = None,
    ) -> None:
        self.ctx = Context(settings, tuple(corridors), zones)
        self.devices: dict[str, DeviceScorer] = {}
        self.last_time: dict[str, float] = {}
        self.rendezvous = RendezvousScorer(self.ctx)
        self.refused: Counter[str] = Counter()

    def update(self, fix: Fix) -> list[Anomaly]:
        t = to_epoch_s(fix.time_utc)
        if t < self.last_time.get(fix.device_id, -np.inf):
            self.refused["out_of_order"] += 1
            return []
        if not (-90.0 <= fix.lat <= 90.0 and -180.0 <= fix.lon <= 180.0):
            self.refused["coordinates_out_of_range"] += 1
            return []
        if not fix.track_point:
            known = self.devices.get(fix.device_id)
            if known is None:
                self.refused["no_track_point_before"] += 1
                return []
            return known.jump_into(fix)
        self.last_time[fix.device_id] = t
        device = self.devices.get(fix.device_id)
        if device is None:
            device = self.devices[fix.device_id] = DeviceScorer(fix.device_id, self.ctx)
        return device.update(fix) + self.rendezvous.update(fix)

    def flush(self) -> list[Anomaly]:
        out: list[Anomaly] = []
        for device_id in sorted(self.devices):
            out.extend(self.devices[device_id].flush())
        out.extend(self.rendezvous.flush())
        return out

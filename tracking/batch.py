"""Batch scoring: every kernel over whole tracks at once.  :func:`score_tracks` is what the CLI runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from cedetect.models import Anomaly
from tracking.anomalies import (
    Context,
    deviation_anomaly,
    frozen_anomaly,
    gap_anomaly,
    jump_anomaly,
    loiter_anomaly,
    stop_anomaly,
)
from tracking.kernels import (
    JUMP_FROZEN,
    JUMP_NAMES,
    _corridor_distance_m,
    _gap_seconds,
    _jump_codes,
    _path_length_m,
    _stop_ranges,
)
from tracking.rendezvous import RendezvousScorer
from tracking.track import Fix, Track
from tracking.zone_events import zone_step


def corridor_segments(ctx: Context, device_id: str) -> tuple[np.ndarray, float] | None:
    """The segments of the corridors that apply to the device and the allowed distance, or None."""
    corridors = ctx.corridors_for(device_id)
    if not corridors:
        return None
    segments = np.concatenate([c.segments() for c in corridors])
    allowed = max(c.width_m for c in corridors) / 2.0 + ctx.settings.deviation_tolerance_m
    return segments, allowed


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as (first, last) indices."""
    if mask.size == 0:
        return []
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def score_track(track: Track, ctx: Context) -> list[Anomaly]:
    """Every single-device anomaly of one track (all kinds except rendezvous), in time order."""
    s = ctx.settings
    n = len(track)
    out: list[Anomaly] = []
    if n == 0:
        return out
    t, lat, lon, sp, ig = track.t_s, track.lat, track.lon, track.speed_kmh, track.ignition
    codes, values = _jump_codes(
        t, lat, lon, sp, s.max_speed_kmh, s.jump_min_m, s.teleport_m, s.max_accel_ms2, s.accel_min_dt_s,
        s.moving_speed_kmh,
    )  # fmt: skip
    for i in np.flatnonzero((codes > 0) & (codes != JUMP_FROZEN)).tolist():
        out.append(jump_anomaly(JUMP_NAMES[codes[i]], float(values[i]), track.evidence(i - 1), track.evidence(i), s))
    for first, last in _runs(codes == JUMP_FROZEN):
        if last - first + 2 >= s.frozen_min_fixes:
            out.append(frozen_anomaly(track.evidence(first - 1), track.evidence(last), last - first + 2, s))
    gaps = _gap_seconds(t, lat, lon, sp, ig, s.gap_min_s, s.moving_speed_kmh, s.gap_far_m, s.gap_far_min_s)
    corridor = corridor_segments(ctx, track.device_id)
    dist = _corridor_distance_m(lat, lon, corridor[0]) if corridor is not None else None
    for i in np.flatnonzero(gaps > 0).tolist():
        off = bool(dist is not None and corridor is not None and dist[i - 1] > corridor[1])
        near = ctx.near_border(float(lat[i - 1]), float(lon[i - 1]))
        distance_m = float(_path_length_m(lat, lon, i - 1, i))
        out.append(gap_anomaly(track.evidence(i - 1), track.evidence(i), float(gaps[i]), distance_m, off, near, s))
    if dist is not None and corridor is not None:
        for first, last in _runs(dist > corridor[1]):
            if t[last] - t[first] >= s.deviation_min_duration_s:
                peak = first + int(np.argmax(dist[first : last + 1]))
                out.append(
                    deviation_anomaly(
                        track.evidence(first), track.evidence(peak), track.evidence(last), float(dist[peak]),
                        corridor[1],
                    )
                )  # fmt: skip
    firsts, lasts = _stop_ranges(t, lat, lon, s.stop_max_diameter_m, s.stop_min_duration_s)
    for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
        if not ctx.in_approved_zone(float(lat[first]), float(lon[first])):
            out.append(stop_anomaly(track.evidence(first), track.evidence(last), s))
    firsts, lasts = _stop_ranges(t, lat, lon, s.loiter_max_diameter_m, s.loiter_min_duration_s)
    for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
        out.extend(_loiter(track, first, last, ctx))
    if ctx.zones is not None and len(ctx.zones):
        previous = None
        zone_set: frozenset[str] = frozenset()
        for i in range(n):
            current = track.evidence(i)
            events, zone_set = zone_step(ctx.zones, previous, zone_set, current)
            out.extend(events)
            previous = current
    out.sort(key=lambda a: (a.start_utc, a.kind.value, str(a.anomaly_id)))
    return out


def _loiter(track: Track, first: int, last: int, ctx: Context) -> list[Anomaly]:
    s = ctx.settings
    duration = float(track.t_s[last] - track.t_s[first])
    mean_kmh = float(_path_length_m(track.lat, track.lon, first, last)) / duration * 3.6 if duration > 0 else 0.0
    if mean_kmh < s.loiter_min_mean_speed_kmh or ctx.in_approved_zone(float(track.lat[first]), float(track.lon[first])):
        return []
    return [loiter_anomaly(track.evidence(first), track.evidence(last), mean_kmh, s)]


def score_tracks(tracks: Sequence[Track], ctx: Context) -> list[Anomaly]:
    """All anomalies of many tracks, rendezvous included (fixes fed to the grid in time order)."""
    out: list[Anomaly] = []
    for track in tracks:
        out.extend(score_track(track, ctx))
    out.extend(rendezvous_of(tracks, ctx))
    out.sort(key=lambda a: (a.start_utc, a.kind.value, a.device_ids, str(a.anomaly_id)))
    return out


def fixes_in_time_order(tracks: Iterable[Track]) -> list[Fix]:
    fixes: list[tuple[float, str, int, Track]] = []
    for track in tracks:
        fixes.extend((float(track.t_s[i]), track.device_id, i, track) for i in range(len(track)))
    fixes.sort(key=lambda f: (f[0], f[1], f[2]))
    out = []
    for _, _, i, track in fixes:
        e = track.evidence(i)
        ig = int(track.ignition[i])
        out.append(Fix(e.device_id, e.time_utc, e.latitude, e.longitude, e.speed_kmh, None if ig < 0 else bool(ig)))
    return out


def rendezvous_of(tracks: Sequence[Track], ctx: Context) -> list[Anomaly]:
    if len(tracks) < 2:
        return []
    scorer = RendezvousScorer(ctx)
    out: list[Anomaly] = []
    for fix in fixes_in_time_order(tracks):
        out.extend(scorer.update(fix))
    out.extend(scorer.flush())
    return out

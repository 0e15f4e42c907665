"""One device's fixes as validated NumPy arrays: the input of every kernel.

:func:`make_track` checks what the kernels assume and raises :class:`TrackError` with a named
``reason``: ``length_mismatch``, ``empty_device_id``, ``naive_time`` (a time without a UTC offset),
``not_sorted`` (times must not decrease), ``not_finite``, ``coordinates_out_of_range``,
``bad_speed`` (negative or not finite), ``bad_ignition`` (not -1, 0 or 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from cedetect.models import EvidenceFix, Position

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]


class TrackError(ValueError):
    """Input the kernels cannot take; ``reason`` names the problem."""

    reason: ClassVar[str] = "invalid_track"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason  # type: ignore[misc]


@dataclass(frozen=True)
class Fix:
    """One fix as the detectors see it.  ``speed_kmh``/``ignition`` are ``None`` when the device gave none.

    ``track_point`` is False for a fix the edge flagged ``implausible_jump``: it does not move the track,
    and the live scorer only checks the jump into it from the device's last track point
    (:meth:`tracking.live.LiveScorer.update`).
    """

    device_id: str
    time_utc: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    ignition: bool | None = None
    track_point: bool = True

    @classmethod
    def from_position(cls, position: Position) -> Fix:
        ignition = position.attributes.get("ignition")
        return cls(
            device_id=position.device_id,
            time_utc=position.time_utc,
            lat=position.latitude,
            lon=position.longitude,
            speed_kmh=position.speed_kmh,
            ignition=ignition if isinstance(ignition, bool) else None,
        )


@dataclass(frozen=True)
class Track:
    """Arrays of one device's fixes, sorted by time: seconds since the epoch, degrees, km/h (NaN: unknown)."""

    device_id: str
    t_s: F64
    lat: F64
    lon: F64
    speed_kmh: F64
    ignition: I8  # -1 unknown, 0 off, 1 on

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def time(self, i: int) -> datetime:
        return datetime.fromtimestamp(float(self.t_s[i]), UTC)

    def evidence(self, i: int) -> EvidenceFix:
        speed = float(self.speed_kmh[i])
        return EvidenceFix(
            device_id=self.device_id,
            time_utc=self.time(i),
            latitude=float(self.lat[i]),
            longitude=float(self.lon[i]),
            speed_kmh=None if math.isnan(speed) else speed,
        )


def to_epoch_s(value: datetime) -> float:
    if value.tzinfo is None or value.utcoffset() is None:
        raise TrackError("naive_time", f"time {value.isoformat()} has no UTC offset")
    return value.timestamp()


def make_track(
    device_id: str,
    t_s: Sequence[float] | F64,
    lat: Sequence[float] | F64,
    lon: Sequence[float] | F64,
    speed_kmh: Sequence[float] | F64 | None = None,
    ignition: Sequence[int] | I8 | None = None,
) -> Track:
    """Validate and convert.  ``t_s``: seconds since the epoch (use :func:`to_epoch_s` on aware datetimes)."""
    if not device_id:
        raise TrackError("empty_device_id", "a track needs a device id")
    t = np.ascontiguousarray(t_s, dtype=np.float64)
    la = np.ascontiguousarray(lat, dtype=np.float64)
    lo = np.ascontiguousarray(lon, dtype=np.float64)
    n = t.shape[0]
    sp = np.full(n, np.nan) if speed_kmh is None else np.ascontiguousarray(speed_kmh, dtype=np.float64)
    ig = np.full(n, -1, dtype=np.int8) if ignition is None else np.ascontiguousarray(ignition, dtype=np.int8)
    if not (t.ndim == la.ndim == lo.ndim == sp.ndim == ig.ndim == 1) or not (
        la.shape[0] == lo.shape[0] == sp.shape[0] == ig.shape[0] == n
    ):
        raise TrackError("length_mismatch", "time, lat, lon, speed and ignition must be 1-D arrays of one length")
    if not (np.isfinite(t).all() and np.isfinite(la).all() and np.isfinite(lo).all()):
        raise TrackError("not_finite", "times and coordinates must be finite")
    if n > 1 and bool((np.diff(t) < 0).any()):
        first = int(np.argmax(np.diff(t) < 0)) + 1
        raise TrackError("not_sorted", f"time decreases at index {first}")
    if bool((np.abs(la) > 90.0).any() or (np.abs(lo) > 180.0).any()):
        raise TrackError("coordinates_out_of_range", "latitude must be in [-90, 90] and longitude in [-180, 180]")
    known = ~np.isnan(sp)
    if bool((~np.isfinite(sp[known])).any() or (sp[known] < 0).any()):
        raise TrackError("bad_speed", "speed_kmh must be finite and non-negative (NaN: unknown)")
    if bool(((ig < -1) | (ig > 1)).any()):
        raise TrackError("bad_ignition", "ignition must be -1 (unknown), 0 (off) or 1 (on)")
    return Track(device_id, t, la, lo, sp, ig)


def track_from_fixes(fixes: Sequence[Fix]) -> Track:
    """A track from one device's fixes, in the given order (they must be sorted by time)."""
    if not fixes:
        raise TrackError("length_mismatch", "no fixes")
    device_id = fixes[0].device_id
    if any(f.device_id != device_id for f in fixes):
        raise TrackError("length_mismatch", "fixes of more than one device")
    return make_track(
        device_id,
        [to_epoch_s(f.time_utc) for f in fixes],
        [f.lat for f in fixes],
        [f.lon for f in fixes],
        [np.nan if f.speed_kmh is None else f.speed_kmh for f in fixes],
        [-1 if f.ignition is None else int(f.ignition) for f in fixes],
    )

"""Tiny hand-built tracks with exact expected flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cedetect.models import Position, PositionFlag
from edge.filters import FilterSettings, PositionFilter, haversine_m

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def fix(
    seconds: float,
    lat: float = 41.0,
    lon: float = 26.0,
    *,
    speed: float = 60.0,
    device: str = "d1",
    valid: bool = True,
    received_s: float | None = None,
) -> Position:
    time_utc = T0 + timedelta(seconds=seconds)
    received = T0 + timedelta(seconds=seconds if received_s is None else received_s)
    flags = () if valid else (PositionFlag.INVALID_FIX,)
    return Position(
        device_id=device,
        protocol="gt06",
        time_utc=time_utc,
        received_utc=received,
        latitude=lat,
        longitude=lon,
        speed_kmh=speed,
        valid=valid,
        flags=flags,
    )


def names(flags: tuple[PositionFlag, ...]) -> list[str]:
    return [f.value for f in flags]


def test_haversine_one_degree_of_latitude() -> None:
    assert haversine_m(0, 0, 1, 0) == pytest.approx(111_195, abs=1)


def test_a_plain_track_gets_no_flags() -> None:
    f = PositionFilter()
    assert [names(f.flags(fix(s, 41.0 + s * 1e-4))) for s in (0, 10, 20, 30)] == [[], [], [], []]


def test_each_named_reason() -> None:
    f = PositionFilter(FilterSettings(min_period_s=5))
    assert names(f.flags(fix(0))) == []
    assert names(f.flags(fix(0))) == ["duplicate"]
    assert names(f.flags(fix(-30))) == ["out_of_order"]
    assert names(f.flags(fix(2, 41.00001))) == ["min_period"]
    assert names(f.flags(fix(60, 41.0, 26.0, speed=190))) == ["max_speed"]
    # 1 degree of latitude (111 km) in 60 s: 6,672 km/h implied
    assert names(f.flags(fix(120, 42.0))) == ["implausible_jump"]
    # the jump did not become the reference: the next fix near the old place is fine
    assert names(f.flags(fix(180, 41.001))) == []
    assert names(f.flags(fix(3 * 86400, 41.002, received_s=3 * 86400 + 8 * 86400))) == ["stale_time"]


def test_close_fixes_with_noise_are_not_jumps() -> None:
    f = PositionFilter()
    f.flags(fix(0))
    assert names(f.flags(fix(1, 41.005))) == []  # 556 m in 1 s: implied 2,000 km/h, but under min_jump_m


def test_devices_are_independent_and_invalid_fixes_are_no_reference() -> None:
    f = PositionFilter()
    f.flags(fix(0, device="a"))
    assert names(f.flags(fix(0, device="b"))) == []
    assert names(f.flags(fix(10, 10.0, 10.0, device="a", valid=False))) == ["implausible_jump"]
    assert names(f.flags(fix(20, 41.0001, device="a"))) == []


def test_apply_adds_flags_and_keeps_the_fix() -> None:
    f = PositionFilter()
    first = f.apply(fix(0))
    again = f.apply(fix(0))
    assert first.flags == ()
    assert again.flags == (PositionFlag.DUPLICATE,)
    assert (again.latitude, again.time_utc) == (first.latitude, first.time_utc)

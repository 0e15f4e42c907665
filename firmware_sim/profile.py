"""The measured GPS profile (``firmware_sim/data/gps_profile.json``) as the simulator uses it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

PROFILE_FILE = "gps_profile.json"


def sample_quantiles(quantiles: Sequence[float], u: float) -> float:
    """Inverse-CDF sample: ``u`` in [0, 1] mapped through evenly spaced quantiles, linearly interpolated."""
    if not quantiles:
        raise ValueError("no quantiles")
    if len(quantiles) == 1:
        return float(quantiles[0])
    pos = min(max(u, 0.0), 1.0) * (len(quantiles) - 1)
    i = min(int(pos), len(quantiles) - 2)
    return float(quantiles[i] + (quantiles[i + 1] - quantiles[i]) * (pos - i))


def quantile_mean(quantiles: Sequence[float]) -> float:
    """Mean of the piecewise-linear distribution that :func:`sample_quantiles` draws from."""
    if len(quantiles) == 1:
        return float(quantiles[0])
    pairs = itertools.pairwise(quantiles)
    return sum((a + b) / 2.0 for a, b in pairs) / (len(quantiles) - 1)


@dataclass(frozen=True)
class GpsProfile:
    """Sampling, noise and urban-stop behaviour.  ``source`` names where the numbers come from."""

    interval_quantiles_s: tuple[float, ...]
    noise_sigma_per_axis_m: float
    urban_stops_per_km: float
    urban_stop_duration_quantiles_s: tuple[float, ...]
    source: str = "custom"

    def __post_init__(self) -> None:
        for name in ("interval_quantiles_s", "urban_stop_duration_quantiles_s"):
            values = getattr(self, name)
            if not values or any(b < a for a, b in itertools.pairwise(values)) or values[0] < 0:
                raise ValueError(f"{name} must be a non-empty, non-decreasing list of non-negative numbers")
        if self.noise_sigma_per_axis_m < 0 or self.urban_stops_per_km < 0:
            raise ValueError("noise_sigma_per_axis_m and urban_stops_per_km must be >= 0")

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> GpsProfile:
        sim = document["sim"]
        return cls(
            interval_quantiles_s=tuple(float(v) for v in sim["interval_quantiles_s"]),
            noise_sigma_per_axis_m=float(sim["noise_sigma_per_axis_m"]),
            urban_stops_per_km=float(sim["urban_stops_per_km"]),
            urban_stop_duration_quantiles_s=tuple(float(v) for v in sim["urban_stop_duration_quantiles_s"]),
            source=str(sim["source"]),
        )

    def median_interval_s(self) -> float:
        return sample_quantiles(self.interval_quantiles_s, 0.5)


def load_profile() -> GpsProfile:
    """The shipped profile, measured by ``python -m firmware_sim.calibrate``."""
    text = (files("firmware_sim") / "data" / PROFILE_FILE).read_text(encoding="utf-8")
    return GpsProfile.from_json(json.loads(text))


def fixed_interval_profile(base: GpsProfile, interval_s: float) -> GpsProfile:
    """``base`` with every sampling interval equal to ``interval_s``."""
    if not interval_s > 0:
        raise ValueError(f"interval_s must be positive, got {interval_s!r}")
    return GpsProfile(
        interval_quantiles_s=(interval_s,),
        noise_sigma_per_axis_m=base.noise_sigma_per_axis_m,
        urban_stops_per_km=base.urban_stops_per_km,
        urban_stop_duration_quantiles_s=base.urban_stop_duration_quantiles_s,
        source=f"{base.source} (interval fixed at {interval_s:g} s)",
    )


__all__ = ["GpsProfile", "fixed_interval_profile", "load_profile", "quantile_mean", "sample_quantiles"]

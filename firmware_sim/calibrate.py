"""Measure GPS behaviour from the real trajectories in ``../shared/data/trajectories``.

``python -m firmware_sim.calibrate [--shared DIR] [--check]`` writes ``firmware_sim/data/gps_profile.json``,
which the simulator reads at run time (a fresh clone has no ``../shared``).  What is measured, per file:

* **sampling interval**: the time between consecutive fixes of one trajectory, as 21 quantiles
  (every 5 %, linear interpolation), plus count, mean and maximum;
* **position noise**: for each three consecutive fixes less than 120 s apart whose outer two are at
  least 20 m apart, the middle fix's cross-track offset from the chord joining the outer two, after
  interpolating along the chord by time.  For independent per-axis noise of sigma, that offset has
  standard deviation ``sigma * sqrt(1.5)``; road curvature and turns are outliers to the robust
  estimate ``sigma = 1.4826 * MAD / sqrt(1.5)``.  Fixes seconds apart (GeoLife) share most of their
  error, so there the figure is the short-term jitter, not the absolute error;
* **stops**: a stop is a run of consecutive fixes (gaps at most 120 s) that all lie within a radius
  of five noise sigmas of the run's first fix; its observed duration is first-to-last fix time.  Runs
  touching a trajectory's first or last fix are left out (termini, edges of the collection window).
  The rate is stops per km of trajectory length.  With 24 s sampling a stop shorter than one
  interval can be missed and observed durations are lower bounds.

The simulator uses the Liverpool bus figures (``sim`` section): it is the only vehicle-mounted
tracker in the set, with an interval close to a GT06's.  None of the sets is a truck; see
``../shared/data/trajectories/README.md``.  Bus stops count as stops, which is why the simulator only
applies the stop rate inside towns.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_sim.generated import write_or_check
from geofence.geodesy import haversine_m, local_xy_m

PROFILE_PATH = Path(__file__).resolve().parent / "data" / "gps_profile.json"
DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "trajectories"

#: The files measured, with what their README says of their source and licence.
SOURCES: dict[str, dict[str, str]] = {
    "liverpool_bus": {
        "file": "liverpool_bus_route14_bods.csv",
        "what": "city bus, Liverpool route 14 outbound, 16 trips, UK Bus Open Data Service via movingpandas-examples",
        "licence": "BSD-3-Clause (movingpandas-examples); BODS data under OGL v3.0",
    },
    "geolife_small": {
        "file": "geolife_small_movingpandas.csv",
        "what": "Microsoft Research GeoLife 1.3 sample (Beijing), 5 trajectories, via movingpandas-examples",
        "licence": "BSD-3-Clause (repo); GeoLife data for research use (Zheng et al.)",
    },
    "geolife_skmob": {
        "file": "geolife_sample_skmob.csv",
        "what": "Microsoft Research GeoLife 1.3 sample, 2 users split at 30 min gaps, via scikit-mobility",
        "licence": "BSD-3-Clause (repo); GeoLife data for research use (Zheng et al.)",
    },
}
SIM_SOURCE = "liverpool_bus"

QUANTILE_STEPS = 20  # 21 quantiles: 0 %, 5 %, ..., 100 %
MAX_GAP_S = 120.0
MIN_CHORD_M = 20.0
STOP_RADIUS_SIGMAS = 5.0
MAD_TO_SIGMA = 1.4826
DIGITS = 3

METHOD = {
    "interval": "time between consecutive fixes of one trajectory; 21 quantiles (0 %, 5 %, ..., 100 %), "
    "linear interpolation",
    "noise": "cross-track offset of the middle of three consecutive fixes (outer two < 120 s apart and >= 20 m "
    "apart) from the chord of the outer two, interpolated by time; sigma_per_axis_m = 1.4826 * MAD / sqrt(1.5) "
    "(independent per-axis noise). On GeoLife (fixes 1-5 s apart, errors correlated) this is short-term jitter",
    "stops": "runs of consecutive fixes (gaps <= 120 s) all within radius_m = 5 noise sigmas of the run's first "
    "fix; duration = first-to-last fix time (a lower bound); runs touching a trajectory's ends left out; "
    "per_km = stops / trajectory length",
    "sim": "the simulator uses the Liverpool bus figures, the only vehicle-mounted tracker here; bus stops count "
    "as stops, so the simulator applies the stop rate only inside towns",
}


@dataclass(frozen=True)
class Fix:
    t_s: float
    lat: float
    lon: float


def read_trajectories(path: Path) -> dict[str, list[Fix]]:
    """Fixes grouped by ``traj_id``, in file order (the files are sorted by trajectory then time)."""
    out: dict[str, list[Fix]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            t = datetime.fromisoformat(row["time_utc"].replace("Z", "+00:00")).timestamp()
            out.setdefault(row["traj_id"], []).append(Fix(t, float(row["lat"]), float(row["lon"])))
    return out


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def quantiles(values: Iterable[float]) -> list[float]:
    ordered = sorted(values)
    return [round(quantile(ordered, k / QUANTILE_STEPS), DIGITS) for k in range(QUANTILE_STEPS + 1)]


def measure_intervals(trajectories: dict[str, list[Fix]]) -> dict[str, Any]:
    gaps = [b.t_s - a.t_s for fixes in trajectories.values() for a, b in itertools.pairwise(fixes)]
    ordered = sorted(gaps)
    return {
        "count": len(gaps),
        "mean_s": round(statistics.fmean(gaps), DIGITS),
        "median_s": round(quantile(ordered, 0.5), DIGITS),
        "p10_s": round(quantile(ordered, 0.1), DIGITS),
        "p90_s": round(quantile(ordered, 0.9), DIGITS),
        "max_s": round(ordered[-1], DIGITS),
        "quantiles_s": quantiles(gaps),
        "non_positive": sum(1 for g in gaps if g <= 0),
    }


def cross_track_offsets_m(trajectories: dict[str, list[Fix]]) -> list[float]:
    offsets = []
    for fixes in trajectories.values():
        for a, b, c in zip(fixes, fixes[1:], fixes[2:], strict=False):
            if c.t_s - a.t_s > MAX_GAP_S or c.t_s <= a.t_s:
                continue
            bx, by = local_xy_m(a.lat, a.lon, b.lat, b.lon)
            cx, cy = local_xy_m(a.lat, a.lon, c.lat, c.lon)
            chord_m = math.hypot(cx, cy)
            if chord_m < MIN_CHORD_M:
                continue
            fraction = (b.t_s - a.t_s) / (c.t_s - a.t_s)
            ux, uy = cx / chord_m, cy / chord_m
            rx, ry = bx - cx * fraction, by - cy * fraction
            offsets.append(ry * ux - rx * uy)
    return offsets


def measure_noise(trajectories: dict[str, list[Fix]]) -> dict[str, Any]:
    offsets = cross_track_offsets_m(trajectories)
    median = statistics.median(offsets)
    mad = statistics.median(abs(o - median) for o in offsets)
    return {
        "triples": len(offsets),
        "cross_track_median_m": round(median, DIGITS),
        "cross_track_mad_m": round(mad, DIGITS),
        "sigma_per_axis_m": round(MAD_TO_SIGMA * mad / math.sqrt(1.5), DIGITS),
    }


def stop_episodes(fixes: Sequence[Fix], radius_m: float) -> list[tuple[int, int]]:
    """``(first, last)`` fix indices of each stop run with at least two fixes."""
    episodes = []
    i = 0
    while i < len(fixes):
        j = i
        while (
            j + 1 < len(fixes)
            and fixes[j + 1].t_s - fixes[j].t_s <= MAX_GAP_S
            and haversine_m(fixes[i].lat, fixes[i].lon, fixes[j + 1].lat, fixes[j + 1].lon) <= radius_m
        ):
            j += 1
        if j > i:
            episodes.append((i, j))
        i = j + 1
    return episodes


def measure_stops(trajectories: dict[str, list[Fix]], sigma_m: float) -> dict[str, Any]:
    radius_m = round(STOP_RADIUS_SIGMAS * sigma_m, DIGITS)
    durations = []
    length_m = 0.0
    for fixes in trajectories.values():
        length_m += sum(haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in itertools.pairwise(fixes))
        for first, last in stop_episodes(fixes, radius_m):
            if first == 0 or last == len(fixes) - 1:
                continue
            durations.append(fixes[last].t_s - fixes[first].t_s)
    ordered = sorted(durations)
    return {
        "radius_m": radius_m,
        "count": len(durations),
        "trajectory_length_km": round(length_m / 1000.0, DIGITS),
        "per_km": round(len(durations) / (length_m / 1000.0), DIGITS),
        "median_duration_s": round(quantile(ordered, 0.5), DIGITS),
        "duration_quantiles_s": quantiles(durations),
    }


def measure_file(path: Path) -> dict[str, Any]:
    trajectories = read_trajectories(path)
    noise = measure_noise(trajectories)
    return {
        "points": sum(len(f) for f in trajectories.values()),
        "trajectories": len(trajectories),
        "interval": measure_intervals(trajectories),
        "noise": noise,
        "stops": measure_stops(trajectories, noise["sigma_per_axis_m"]),
    }


def build_profile(shared_dir: Path) -> dict[str, Any]:
    datasets = {name: measure_file(shared_dir / meta["file"]) for name, meta in SOURCES.items()}
    chosen = datasets[SIM_SOURCE]
    return {
        "generated_by": "python -m firmware_sim.calibrate (from ../shared/data/trajectories)",
        "sources": {name: dict(meta) for name, meta in SOURCES.items()},
        "method": METHOD,
        "datasets": datasets,
        "sim": {
            "source": SIM_SOURCE,
            "interval_quantiles_s": chosen["interval"]["quantiles_s"],
            "noise_sigma_per_axis_m": chosen["noise"]["sigma_per_axis_m"],
            "urban_stops_per_km": chosen["stops"]["per_km"],
            "urban_stop_duration_quantiles_s": chosen["stops"]["duration_quantiles_s"],
        },
    }


def dumps(profile: dict[str, Any]) -> str:
    return json.dumps(profile, indent=1, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure the GPS profile from the real trajectories.")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the trajectories folder")
    parser.add_argument("--out", type=Path, default=PROFILE_PATH)
    parser.add_argument("--check", action="store_true", help="only compare with the file on disk")
    args = parser.parse_args(argv)
    return write_or_check(args.out, dumps(build_profile(args.shared)), check=args.check)


if __name__ == "__main__":
    raise SystemExit(main())

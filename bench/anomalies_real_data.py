"""Trajectory anomalies on the real trajectories in ../shared/data/trajectories, with the default thresholds.

    .venv/bin/python -m bench.anomalies_real_data [--data DIR]

Maps ``traj_id`` to the CLI's ``device_id`` (one trajectory = one vehicle), scores every file in batch
(all kinds; rendezvous across the trajectories of a file) and prints the count and the rate per 1,000
vehicle-hours of each kind.  Vehicle-hours: the sum over trajectories of last minus first fix time.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

from cedetect.config import AnomalySettings
from tracking.anomalies import Context
from tracking.batch import score_tracks
from tracking.track import Track, make_track

FILES = ("liverpool_bus_route14_bods.csv", "geolife_small_movingpandas.csv", "geolife_sample_skmob.csv")


def load(path: Path) -> list[Track]:
    rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            t = datetime.fromisoformat(row["time_utc"]).timestamp()
            rows[row["traj_id"]].append((t, float(row["lat"]), float(row["lon"])))
    tracks = []
    for traj_id, items in sorted(rows.items()):
        items.sort()
        dedup = [r for k, r in enumerate(items) if k == 0 or r[0] != items[k - 1][0]]
        tracks.append(make_track(traj_id, [r[0] for r in dedup], [r[1] for r in dedup], [r[2] for r in dedup]))
    return tracks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/trajectories")
    args = parser.parse_args()
    ctx = Context(AnomalySettings())
    total_hours = 0.0
    total: Counter[str] = Counter()
    for name in FILES:
        tracks = load(args.data / name)
        hours = sum(float(t.t_s[-1] - t.t_s[0]) for t in tracks) / 3600.0
        fixes = sum(len(t) for t in tracks)
        t0 = time.perf_counter()
        found = score_tracks(tracks, ctx)
        elapsed = time.perf_counter() - t0
        counts = Counter(a.kind.value for a in found)
        total_hours += hours
        total.update(counts)
        print(
            f"{name}: {len(tracks)} trajectories, {fixes} fixes, {hours:.1f} vehicle-hours, scored in {elapsed:.2f} s"
        )
        for kind, count in sorted(counts.items()):
            print(f"  {kind:18s} {count:5d}  {count / hours * 1000:8.1f} per 1,000 vehicle-hours")
    print(f"all: {total_hours:.1f} vehicle-hours")
    for kind, count in sorted(total.items()):
        print(f"  {kind:18s} {count:5d}  {count / total_hours * 1000:8.1f} per 1,000 vehicle-hours")


if __name__ == "__main__":
    main()

"""``cedetect anomalies`` on small CSVs and on a real trajectory file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cedetect.cli import main
from tests.tracking.scenario import fix
from tracking.track import Fix

KEYS = {"kind", "device_ids", "start_utc", "end_utc", "lat", "lon", "score", "reason", "evidence"}


def write_csv(path: Path, fixes: list[Fix], extra_rows: list[str] = ()) -> Path:  # type: ignore[assignment]
    with path.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["device_id", "time_utc", "lat", "lon", "speed_kmh", "ignition"])
        for f in fixes:
            w.writerow([f.device_id, f.time_utc.isoformat().replace("+00:00", "Z"), f.lat, f.lon, f.speed_kmh, ""])
    with path.open("a") as handle:
        for row in extra_rows:
            handle.write(row + "\n")
    return path


def test_jump_and_bad_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixes = [
        fix("t1", 0, 0, 0, 60),
        fix("t1", 60, 1000, 0, 60),
        fix("t1", 120, 40_000, 0, 60),
        fix("t1", 180, 41_000, 0, 60),
    ]
    path = write_csv(
        tmp_path / "t.csv",
        fixes,
        ["t1,2026-03-01T09:00:00,37,42,,", "t1,2026-03-01T09:00:00Z,95,42,,", "bad id!,2026-03-01T09:00:00Z,37,42,,"],
    )
    assert main(["anomalies", str(path)]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(a["kind"], a["device_ids"], a["start_utc"]) for a in lines] == [
        ("gps_jump", ["t1"], "2026-03-01T06:01:00Z")
    ]
    assert set(lines[0]) == KEYS
    assert len(lines[0]["evidence"]) == 2
    assert "line 6: naive_time" in err
    assert "line 7: coordinates_out_of_range" in err
    assert "line 8: bad_device_id" in err


def test_zones_and_corridor_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.tracking.scenario import at

    (la, lo) = at(5000, 0)
    zones = {"type": "FeatureCollection", "features": [{"type": "Feature",
             "properties": {"zone_id": "z1", "kind": "restricted",
             "radius_m": 300}, "geometry": {"type": "Point", "coordinates": [lo, la]}}]}  # fmt: skip
    (a0, o0), (a1, o1) = at(0, 5000), at(20_000, 5000)
    corridor = {
        "type": "Feature",
        "properties": {"width_m": 500},
        "geometry": {"type": "LineString", "coordinates": [[o0, a0], [o1, a1]]},
    }
    (tmp_path / "z.geojson").write_text(json.dumps(zones))
    (tmp_path / "c.geojson").write_text(json.dumps(corridor))
    # Sparse fixes 2 km apart: the 600 m zone is crossed between two fixes; the drive is 5 km off the corridor.
    fixes = [fix("t2", k * 120, k * 2000, 0, 60) for k in range(10)]
    path = write_csv(tmp_path / "t.csv", fixes)
    assert (
        main(
            ["anomalies", str(path), "--zones", str(tmp_path / "z.geojson"), "--corridor", str(tmp_path / "c.geojson")]
        )
        == 0
    )
    kinds = [json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()]
    assert sorted(kinds) == ["geofence_enter", "geofence_exit", "route_deviation"]


def test_unusable_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.csv").write_text("id,time,lat,lon\n")
    assert main(["anomalies", str(tmp_path / "t.csv")]) == 2
    assert "missing_column" in capsys.readouterr().err
    (tmp_path / "z.geojson").write_text("{")
    write_csv(tmp_path / "ok.csv", [fix("t1", 0, 0, 0)])
    assert main(["anomalies", str(tmp_path / "ok.csv"), "--zones", str(tmp_path / "z.geojson")]) == 2
    assert "invalid_geojson" in capsys.readouterr().err


def test_real_bus_trajectories(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Liverpool buses (BODS): ordinary traffic, with default thresholds, raises no alarm."""
    src = shared_data / "trajectories" / "liverpool_bus_route14_bods.csv"
    path = tmp_path / "bus.csv"
    with src.open() as f, path.open("w", newline="") as g:
        w = csv.writer(g)
        w.writerow(["device_id", "time_utc", "lat", "lon", "heading_deg"])
        for row in csv.DictReader(f):
            w.writerow([row["traj_id"], row["time_utc"], row["lat"], row["lon"], row["heading_deg"]])
    assert main(["anomalies", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "refused" not in err

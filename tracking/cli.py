"""``cedetect anomalies TRACK.csv [--corridor FILE.geojson] [--zones FILE.geojson]``.

Reads a CSV with the columns ``device_id,time_utc,lat,lon`` (optional ``speed_kmh``, ``heading_deg``,
``ignition``), scores every device's track (thresholds from ``CEDETECT_ANOMALY_*``) and prints one JSON
line per anomaly on stdout, in time order::

    {"kind", "device_ids", "start_utc", "end_utc", "lat", "lon", "score", "reason", "evidence"}

``kind`` is one of ``route_deviation``, ``unscheduled_stop``, ``loitering``, ``gps_jump``, ``gap``,
``rendezvous``, ``geofence_enter``, ``geofence_exit``; ``evidence`` lists the fixes involved
(``device_id``, ``time_utc``, ``lat``, ``lon``, ``speed_kmh``).

Times need a UTC offset (``Z`` or ``+hh:mm``).  A bad row is reported on **stderr** as
``line N: REASON: detail`` (reasons ``bad_device_id``, ``bad_time``, ``naive_time``, ``bad_coordinates``,
``coordinates_out_of_range``, ``bad_speed``, ``bad_ignition``, ``duplicate_time``, ``wrong_column_count``)
and the other rows are scored; a summary of refused rows per reason ends stderr.  Each device's rows
are sorted by time.  Exit status: 0 when the file was scored (even with bad rows), 2 when the file,
its header (``missing_column``) or a GeoJSON file cannot be used.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from cedetect.models import ID_PATTERN, Anomaly

REQUIRED = ("device_id", "time_utc", "lat", "lon")
_ID = re.compile(ID_PATTERN)
_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no"}


class RowError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "anomalies", help="score a CSV of truck tracks for trajectory anomalies (one JSON line each)"
    )
    parser.add_argument("track", type=Path, metavar="TRACK.csv")
    parser.add_argument("--corridor", type=Path, metavar="FILE.geojson", help="approved corridors (LineStrings)")
    parser.add_argument("--zones", type=Path, metavar="FILE.geojson", help="zones (Polygons, Points with radius_m)")
    parser.set_defaults(func=_run)


def parse_row(row: dict[str, str | None]) -> tuple[str, float, float, float, float | None, bool | None]:
    device_id = (row.get("device_id") or "").strip()
    if not _ID.match(device_id):
        raise RowError("bad_device_id", f"device_id {device_id!r} does not match {ID_PATTERN}")
    text = (row.get("time_utc") or "").strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise RowError("bad_time", f"time_utc {text!r} is not ISO 8601") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise RowError("naive_time", f"time_utc {text!r} has no UTC offset")
    try:
        lat = float(row.get("lat") or "")
        lon = float(row.get("lon") or "")
    except ValueError:
        raise RowError("bad_coordinates", f"lat/lon {row.get('lat')!r}, {row.get('lon')!r} are not numbers") from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise RowError("bad_coordinates", "lat/lon must be finite")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise RowError("coordinates_out_of_range", f"lat {lat} / lon {lon} out of range")
    speed: float | None = None
    raw_speed = (row.get("speed_kmh") or "").strip()
    if raw_speed:
        try:
            speed = float(raw_speed)
        except ValueError:
            raise RowError("bad_speed", f"speed_kmh {raw_speed!r} is not a number") from None
        if not math.isfinite(speed) or speed < 0:
            raise RowError("bad_speed", f"speed_kmh {raw_speed!r} must be finite and non-negative")
    ignition: bool | None = None
    raw_ign = (row.get("ignition") or "").strip().lower()
    if raw_ign:
        if raw_ign in _TRUE:
            ignition = True
        elif raw_ign in _FALSE:
            ignition = False
        else:
            raise RowError("bad_ignition", f"ignition {raw_ign!r} is not one of 1/0/true/false/on/off")
    return device_id, when.timestamp(), lat, lon, speed, ignition


def read_tracks(path: Path, errors: list[str], refused: Counter[str]) -> list[Any]:
    """Tracks from the CSV; bad rows go to ``errors`` as ``line N: reason: detail``."""
    from tracking.track import make_track

    rows: dict[str, list[tuple[float, int, float, float, float | None, bool | None]]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise RowError("missing_column", f"{path}: the header lacks {', '.join(missing)}")
        for row in reader:
            line = reader.line_num
            try:
                if None in row or any(v is None for v in row.values()):
                    raise RowError("wrong_column_count", "the row does not have as many fields as the header")
                device_id, t, lat, lon, speed, ign = parse_row(row)
            except RowError as exc:
                errors.append(f"line {line}: {exc}")
                refused[exc.reason] += 1
                continue
            rows[device_id].append((t, line, lat, lon, speed, ign))
    tracks = []
    for device_id in sorted(rows):
        items = sorted(rows[device_id], key=lambda r: (r[0], r[1]))
        kept: list[tuple[float, int, float, float, float | None, bool | None]] = []
        for item in items:
            if kept and kept[-1][0] == item[0]:
                errors.append(f"line {item[1]}: duplicate_time: device {device_id} already has a fix at this time")
                refused["duplicate_time"] += 1
                continue
            kept.append(item)
        tracks.append(
            make_track(
                device_id,
                [r[0] for r in kept],
                [r[2] for r in kept],
                [r[3] for r in kept],
                [math.nan if r[4] is None else r[4] for r in kept],
                [-1 if r[5] is None else int(r[5]) for r in kept],
            )
        )
    return tracks


def anomaly_json(anomaly: Anomaly) -> dict[str, Any]:
    return {
        "kind": anomaly.kind.value,
        "device_ids": list(anomaly.device_ids),
        "start_utc": anomaly.start_utc.isoformat().replace("+00:00", "Z"),
        "end_utc": anomaly.end_utc.isoformat().replace("+00:00", "Z"),
        "lat": anomaly.latitude,
        "lon": anomaly.longitude,
        "score": round(anomaly.score, 4),
        "reason": anomaly.reason,
        "evidence": [
            {
                "device_id": e.device_id,
                "time_utc": e.time_utc.isoformat().replace("+00:00", "Z"),
                "lat": e.latitude,
                "lon": e.longitude,
                "speed_kmh": e.speed_kmh,
            }
            for e in anomaly.evidence
        ],
    }


def _run(args: argparse.Namespace) -> int:
    from cedetect.config import AnomalySettings
    from geofence.corridors import CorridorError, load_corridors
    from geofence.zones import ZoneError, ZoneIndex, load_zones
    from tracking.anomalies import Context
    from tracking.batch import score_tracks

    settings = AnomalySettings()
    try:
        corridors = load_corridors(args.corridor, default_width_m=settings.corridor_width_m) if args.corridor else []
        zones = ZoneIndex(load_zones(args.zones)) if args.zones else None
    except (CorridorError, ZoneError, OSError) as exc:
        print(f"cedetect anomalies: {exc}", file=sys.stderr)
        return 2
    errors: list[str] = []
    refused: Counter[str] = Counter()
    try:
        tracks = read_tracks(args.track, errors, refused)
    except RowError as exc:
        print(f"cedetect anomalies: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"cedetect anomalies: cannot read {args.track}: {exc}", file=sys.stderr)
        return 2
    for message in errors:
        print(message, file=sys.stderr)
    anomalies = score_tracks(tracks, Context(settings, tuple(corridors), zones))
    out = sys.stdout
    for anomaly in anomalies:
        out.write(json.dumps(anomaly_json(anomaly), ensure_ascii=False) + "\n")
    out.flush()
    if refused:
        summary = ", ".join(f"{reason}={count}" for reason, count in sorted(refused.items()))
        print(f"cedetect anomalies: {sum(refused.values())} rows refused ({summary})", file=sys.stderr)
    return 0

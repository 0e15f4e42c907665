"""A simulated border-post camera: real photos published as JPEG frames over MQTT.

``cedetect sim camera --images PATH [PATH...]`` publishes each photo as one vehicle *passage*: several
consecutive frames, each a slightly shifted and scaled crop of the photo (the vehicle moving through the
field of view; the labelled plate box, when ``labels.json`` gives one, stays inside every crop), re-encoded
as JPEG.  Frames go to ``cedetect/v1/{site}/{camera_id}/frame`` with QoS 1 in the format of
:mod:`cedetect.frames` (16-byte header with the capture time, then the JPEG bytes).

Timing: ``--fps`` frames per second within a passage and ``--gap-s`` seconds between passages, in simulated
time; ``--speedup`` runs it that much faster (0: as fast as the broker takes them).  Capture times are the
simulated clock, which starts at the wall clock, so at ``--speedup 1`` they are real times.

Faults: ``--corrupt-every N`` replaces every Nth frame's image with bytes that start like a JPEG and are not
one (the edge agent must refuse that frame with a named reason and go on).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from cedetect.config import MqttSettings
from cedetect.frames import JPEG_SIGNATURE, encode_frame
from cedetect.models import ID_PATTERN
from cedetect.mqtt import make_client
from cedetect.topics import TopicKind, topic
from firmware_sim.device import DEFAULT_SITE

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("cedetect.sim.camera")

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


@dataclass(frozen=True, slots=True)
class Photo:
    path: Path
    #: The labelled plate box (x1, y1, x2, y2) that every crop must keep, when known.
    box_xyxy: tuple[int, int, int, int] | None = None
    text: str | None = None


def load_labels(folder: Path) -> dict[Path, Photo]:
    """Photos described by a ``labels.json`` (the shared-data format) in ``folder``, by resolved path."""
    labels_path = folder / "labels.json"
    if not labels_path.is_file():
        return {}
    photos: dict[Path, Photo] = {}
    for record in json.loads(labels_path.read_text()):
        path = (folder / record["file"]).resolve()
        box = record.get("box_xyxy")
        text = record.get("plate_text") or record.get("container_code")
        photos[path] = Photo(path, tuple(int(v) for v in box) if box else None, text)  # type: ignore[arg-type]
    return photos


def find_photos(paths: Sequence[Path]) -> list[Photo]:
    """Image files named directly or found under folders (sorted), with their labels when a labels.json has them."""
    photos: list[Photo] = []
    for given in paths:
        files = sorted(p for p in given.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if given.is_dir() else [given]
        for file in files:
            labels: dict[Path, Photo] = {}
            for parent in file.resolve().parents:
                labels = load_labels(parent)
                if labels:
                    break
            photos.append(labels.get(file.resolve(), Photo(file)))
    return photos


def passage_crops(
    image: np.ndarray, frames: int, rng: random.Random, box_xyxy: tuple[int, int, int, int] | None = None
) -> list[np.ndarray]:
    """``frames`` crops of ``image`` growing from about 88% to 100% of it and drifting sideways, as a vehicle
    coming towards the camera; each crop contains ``box_xyxy`` (when given)."""
    height, width = image.shape[:2]
    crops: list[np.ndarray] = []
    drift = rng.choice((-1.0, 1.0))
    for i in range(frames):
        progress = i / max(frames - 1, 1)
        scale = 0.88 + 0.12 * progress + rng.uniform(-0.01, 0.01)
        scale = min(max(scale, 0.85), 1.0)
        cw, ch = max(int(width * scale), 1), max(int(height * scale), 1)
        # centre drifts across the slack, from one side to the other
        cx = (width - cw) * (0.5 + drift * (0.5 - progress) * 0.8)
        cy = (height - ch) * (0.5 + rng.uniform(-0.2, 0.2))
        x1, y1 = round(cx), round(cy)
        if box_xyxy is not None:
            bx1, by1, bx2, by2 = box_xyxy
            x1 = min(max(x1, bx2 - cw), bx1)
            y1 = min(max(y1, by2 - ch), by1)
        x1 = min(max(x1, 0), width - cw)
        y1 = min(max(y1, 0), height - ch)
        crops.append(image[y1 : y1 + ch, x1 : x1 + cw])
    return crops


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    import cv2  # OpenCV loads only when frames are made, not with every ``cedetect`` command

    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buffer.tobytes())


def corrupt_jpeg(rng: random.Random, size: int = 4096) -> bytes:
    """Starts with the JPEG signature, then noise: no decoder can make an image of it."""
    return JPEG_SIGNATURE + bytes(rng.getrandbits(8) for _ in range(size))


@dataclass(frozen=True, slots=True)
class SimFrame:
    photo: Photo
    passage: int
    index: int  # frame number within the passage
    sequence: int  # frame number of the camera
    offset_s: float  # simulated seconds since the start
    image: bytes
    corrupt: bool


def camera_frames(
    photos: Sequence[Photo],
    *,
    frames_per_passage: int = 5,
    fps: float = 5.0,
    gap_s: float = 3.0,
    corrupt_every: int = 0,
    seed: int = 1,
    quality: int = 90,
) -> Iterator[SimFrame]:
    """The frames of one passage per photo, in order, with their simulated time offsets."""
    import cv2

    rng = random.Random(seed)
    sequence = 0
    offset_s = 0.0
    for passage, photo in enumerate(photos):
        image = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read {photo.path}")
        for index, crop in enumerate(passage_crops(image, frames_per_passage, rng, photo.box_xyxy)):
            sequence += 1
            corrupt = corrupt_every > 0 and sequence % corrupt_every == 0
            data = corrupt_jpeg(rng) if corrupt else encode_jpeg(crop, quality)
            yield SimFrame(photo, passage, index, sequence, offset_s, data, corrupt)
            offset_s += 1.0 / fps
        offset_s += gap_s


@dataclass
class CameraStats:
    frames_sent: int = 0
    frames_acked: int = 0
    corrupt_sent: int = 0
    passages: int = 0
    texts: list[str] = field(default_factory=list)


def publish_frames(
    frames: Iterator[SimFrame],
    settings: MqttSettings,
    *,
    site: str,
    camera_id: str,
    speedup: float = 1.0,
    start_utc: datetime | None = None,
    connect_timeout_s: float = 30.0,
) -> CameraStats:
    """Publish ``frames`` (QoS 1), paced by ``speedup``; returns once the broker has acknowledged all of them."""
    target = topic(site, camera_id, TopicKind.FRAME)
    client = make_client(settings, client_id=f"cedetect-sim-camera-{site}-{camera_id}")
    client.connect(settings.host, settings.port, keepalive=settings.keepalive_s)
    client.loop_start()
    stats = CameraStats()
    start_utc = start_utc or datetime.now(UTC)
    started = time.monotonic()
    infos: list[mqtt.MQTTMessageInfo] = []
    last_passage = -1
    try:
        for frame in frames:
            if speedup > 0:
                delay = started + frame.offset_s / speedup - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            captured = start_utc + timedelta(seconds=frame.offset_s)
            infos.append(client.publish(target, encode_frame(frame.image, captured, frame.sequence), qos=1))
            stats.frames_sent += 1
            stats.corrupt_sent += frame.corrupt
            if frame.passage != last_passage:
                last_passage = frame.passage
                stats.passages += 1
                stats.texts.append(frame.photo.text or "")
        deadline = time.monotonic() + connect_timeout_s
        for info in infos:
            info.wait_for_publish(timeout=max(deadline - time.monotonic(), 0.1))
            stats.frames_acked += info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
    return stats


# --- CLI: ``cedetect sim camera`` --------------------------------------------------------------


def _identifier(text: str) -> str:
    if not re.match(ID_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid id (A-Z a-z 0-9 . _ : -, at most 64)")
    return text


def register(subparsers: Any) -> None:
    """``cedetect sim camera``: added under ``cedetect sim`` by :mod:`firmware_sim.cli`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "camera", help="a border-post camera: real photos as JPEG frames over MQTT, one passage per photo"
    )
    parser.add_argument(
        "--images", type=Path, nargs="+", required=True, help="image files or folders (e.g. ../shared/data/plates)"
    )
    parser.add_argument("--camera-id", type=_identifier, default="cam-1", help="camera id (default cam-1)")
    parser.add_argument(
        "--site",
        type=_identifier,
        default=os.environ.get("CEDETECT_EDGE_SITE", DEFAULT_SITE),
        help="site of the frame topic (default: $CEDETECT_EDGE_SITE or border-post-1)",
    )
    parser.add_argument("--mqtt-host", default=None, help="MQTT broker host (default: $CEDETECT_MQTT_HOST)")
    parser.add_argument("--mqtt-port", type=int, default=None, help="MQTT broker port (default: $CEDETECT_MQTT_PORT)")
    parser.add_argument("--frames", type=int, default=5, help="frames per passage (default 5)")
    parser.add_argument("--fps", type=float, default=5.0, help="frames per second within a passage (default 5)")
    parser.add_argument("--gap-s", type=float, default=3.0, help="seconds between passages (default 3)")
    parser.add_argument("--speedup", type=float, default=1.0, help="time runs this much faster; 0: unpaced")
    parser.add_argument("--limit", type=int, default=None, help="publish at most this many photos")
    parser.add_argument("--shuffle", action="store_true", help="photos in a random order (seeded)")
    parser.add_argument("--corrupt-every", type=int, default=0, help="every Nth frame is a corrupt JPEG (fault)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality of the frames (default 90)")
    parser.add_argument("--seed", type=int, default=1)
    parser.set_defaults(func=run_camera)


def run_camera(args: argparse.Namespace) -> int:
    if args.frames < 1 or args.fps <= 0 or args.gap_s < 0 or args.speedup < 0 or args.corrupt_every < 0:
        log.error("--frames must be >= 1, --fps > 0, --gap-s, --speedup and --corrupt-every >= 0")
        return 2
    missing = [str(p) for p in args.images if not p.exists()]
    if missing:
        log.error("not found: %s", ", ".join(missing))
        return 2
    photos = find_photos(args.images)
    if args.shuffle:
        random.Random(args.seed).shuffle(photos)
    if args.limit is not None:
        photos = photos[: args.limit]
    if not photos:
        log.error("no images found under %s", ", ".join(map(str, args.images)))
        return 2
    overrides: dict[str, Any] = {}
    if args.mqtt_host is not None:
        overrides["host"] = args.mqtt_host
    if args.mqtt_port is not None:
        overrides["port"] = args.mqtt_port
    settings = MqttSettings(**overrides)
    log.info(
        "%d passage(s) x %d frames -> mqtt://%s:%d %s",
        len(photos),
        args.frames,
        settings.host,
        settings.port,
        topic(args.site, args.camera_id, TopicKind.FRAME),
    )
    frames = camera_frames(
        photos,
        frames_per_passage=args.frames,
        fps=args.fps,
        gap_s=args.gap_s,
        corrupt_every=args.corrupt_every,
        seed=args.seed,
        quality=args.quality,
    )
    stats = publish_frames(frames, settings, site=args.site, camera_id=args.camera_id, speedup=args.speedup)
    log.info(
        "camera %s: %d passages, %d frames sent (%d corrupt), %d acknowledged by the broker",
        args.camera_id,
        stats.passages,
        stats.frames_sent,
        stats.corrupt_sent,
        stats.frames_acked,
    )
    return 0 if stats.frames_acked == stats.frames_sent else 1

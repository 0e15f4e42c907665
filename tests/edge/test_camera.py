"""The camera input with the real reader on real photos: frames over a real Mosquitto, and files.

The reader is slow on this CPU and not thread-safe: the module builds one per reader worker (two, so that
frames are read in parallel and merged back in order) and hands them to each camera input, and each test reads
a handful of frames.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.publish as single_publish
import pytest

from cedetect.config import CameraSettings, MqttSettings
from cedetect.models import DeadLetter, Detection, DetectionKind, detection_id_for
from cedetect.topics import TopicKind
from edge.camera import CameraInput, Decode, ReaderLike
from firmware_sim.camera import camera_frames, find_photos, publish_frames
from tests.support import Collected

PHOTO = Path("plates/images/fast_alpr/test_image.png")
READERS = 2

ReaderFactory = Callable[[], tuple[ReaderLike, Decode]]


class ReaderPool:
    """Real readers, built once per module; each camera input's workers get one each (a reader per thread)."""

    def __init__(self) -> None:
        self._readers: list[ReaderLike] = []
        self._lock = threading.Lock()

    def factory(self) -> ReaderFactory:
        handed = itertools.count()

        def make() -> tuple[ReaderLike, Decode]:
            from vision.reader import Reader, decode_image

            with self._lock:
                i = next(handed)
                while len(self._readers) <= i:
                    self._readers.append(Reader())
                return self._readers[i], decode_image

        return make


@pytest.fixture(scope="module")
def readers() -> ReaderPool:
    return ReaderPool()


def expected_text(shared_data: Path) -> str:
    labels = json.loads((shared_data / "plates" / "labels.json").read_text())
    text: str = next(r["plate_text"] for r in labels if r["file"] == "images/fast_alpr/test_image.png")
    return text


async def until(probe: Callable[[], object], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.05)


@pytest.mark.mqtt
def test_frames_over_mqtt_become_one_detection_per_passage(
    readers: ReaderPool, mqtt_broker: tuple[str, int], shared_data: Path, tmp_path: Path
) -> None:
    site = f"s{uuid.uuid4().hex[:6]}"
    mqtt_settings = MqttSettings(host=mqtt_broker[0], port=mqtt_broker[1])
    collected = Collected()
    camera = CameraInput(
        CameraSettings(
            enabled=True, passage_quiet_s=1.0, queue_size=16, readers=READERS, evidence_dir=tmp_path / "evidence"
        ),
        mqtt_settings,
        site=site,
        agent_id="edge-t",
        publish=collected,
        reader_factory=readers.factory(),
    )

    async def main() -> None:
        await camera.start()
        try:
            source = camera.mqtt_source
            assert source is not None
            await until(lambda: camera.ready.is_set() and source.subscribed.is_set(), 60)
            photos = find_photos([shared_data / PHOTO])
            frames = camera_frames(photos, frames_per_passage=4, fps=5.0, corrupt_every=3, seed=2)
            stats = await asyncio.to_thread(
                publish_frames, frames, mqtt_settings, site=site, camera_id="gate-2", speedup=0
            )
            assert stats.frames_acked == 4
            single_publish.single(f"cedetect/v1/{site}/gate-2/frame", b"GIF89a not a frame", qos=1,
                          hostname=mqtt_broker[0], port=mqtt_broker[1])  # fmt: skip
            await until(lambda: collected.of(TopicKind.DETECTION) and len(collected.of(TopicKind.DEADLETTER)) == 2, 120)
        finally:
            await camera.stop()

    asyncio.run(main())
    [detection] = collected.of(TopicKind.DETECTION)
    assert isinstance(detection, Detection)
    assert detection.kind is DetectionKind.PLATE
    assert detection.text == expected_text(shared_data)
    assert (detection.camera_id, detection.site) == ("gate-2", site)
    assert 1 <= detection.frames <= 3  # the three good frames of the passage, merged
    assert detection.detection_id == detection_id_for("gate-2", "plate", detection.text, detection.time_utc)
    crop = base64.b64decode(detection.crop_jpeg_b64 or "")
    assert hashlib.sha256(crop).hexdigest() == detection.crop_sha256
    assert (tmp_path / "evidence" / f"{detection.crop_sha256}.jpg").read_bytes() == crop
    letters = collected.of(TopicKind.DEADLETTER)
    assert all(isinstance(letter, DeadLetter) and letter.protocol == "camera" for letter in letters)
    by_reason = {letter.reason: letter for letter in letters}
    assert len(by_reason) == 2
    garbage = by_reason.pop("unknown_frame_format")  # no frame header and no image signature
    [corrupt] = by_reason.values()  # the corrupt JPEG: decoded by the reader, refused with its reason
    assert corrupt.reason in {"not_an_image", "corrupt_image"}
    assert corrupt.device_id == "gate-2"
    assert corrupt.raw[:3] == b"\xff\xd8\xff"
    assert garbage.raw == b"GIF89a not a frame"
    assert garbage.device_id is None
    counters = camera.snapshot()
    assert counters["frames_received"] == 5
    assert counters["frames_read"] == 4
    assert counters["detections"] == 1


def test_files_are_read_and_the_passage_closes_at_the_end_of_the_source(
    readers: ReaderPool, shared_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    image = (shared_data / PHOTO).read_bytes()
    (folder / "1.png").write_bytes(image)
    (folder / "2.png").write_bytes(image)  # the same plate in a second frame: the same passage
    (folder / "3.jpg").write_bytes(b"")  # an empty file: named, counted, and the source goes on
    collected = Collected()
    camera = CameraInput(
        CameraSettings(enabled=True, mqtt_frames=False, sources=[str(folder)], camera_id="lane-4", readers=READERS,
                       evidence_dir=tmp_path / "evidence", send_crops=False),
        None,
        site="site-1",
        agent_id="edge-t",
        publish=collected,
        reader_factory=readers.factory(),
    )  # fmt: skip

    async def main() -> None:
        await camera.start()
        try:
            await until(lambda: collected.of(TopicKind.DETECTION), 120)
        finally:
            await camera.stop()

    asyncio.run(main())
    [detection] = collected.of(TopicKind.DETECTION)
    assert detection.text == expected_text(shared_data)
    assert detection.frames == 2
    assert detection.camera_id == "lane-4"
    assert detection.crop_jpeg_b64 is None  # send_crops=False: the crop stays on the edge
    assert (tmp_path / "evidence" / f"{detection.crop_sha256}.jpg").is_file()
    [letter] = collected.of(TopicKind.DEADLETTER)
    assert letter.reason == "empty_file"
    assert letter.remote.endswith("3.jpg")

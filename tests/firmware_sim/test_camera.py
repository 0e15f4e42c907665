"""The simulated camera: passages of real photos as JPEG frames over a real Mosquitto."""

from __future__ import annotations

import queue
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cedetect.cli import main as cedetect_main
from cedetect.config import MqttSettings
from cedetect.frames import decode_frame
from firmware_sim.camera import Photo, camera_frames, find_photos, passage_crops, publish_frames

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def labelled_plate(shared_data: Path) -> Photo:
    photos = find_photos([shared_data / "plates" / "images" / "openalpr_eu"])
    return next(p for p in photos if p.box_xyxy is not None)


def test_photos_come_with_their_labels(shared_data: Path) -> None:
    plates = find_photos([shared_data / "plates" / "images"])
    assert len(plates) == 135
    assert all(p.text for p in plates)
    containers = find_photos([shared_data / "containers"])
    assert len(containers) == 10
    assert {p.text for p in containers} >= {"MSKU4135329", "DFSU4382559"}
    single = find_photos([shared_data / "plates" / "images" / "fast_alpr" / "test_image.png"])
    assert single == [Photo(single[0].path, (306, 190, 386, 212), "5AU5341")]


def test_passage_crops_drift_and_keep_the_plate(shared_data: Path) -> None:
    photo = labelled_plate(shared_data)
    image = cv2.imread(str(photo.path))
    assert image is not None
    assert photo.box_xyxy is not None
    bx1, by1, bx2, by2 = photo.box_xyxy
    height, width = image.shape[:2]
    crops = passage_crops(image, 6, random.Random(3), photo.box_xyxy)
    assert len(crops) == 6
    sizes = [c.shape[:2] for c in crops]
    assert sizes[-1][1] > sizes[0][1]  # the vehicle comes closer: the view grows towards the whole photo
    assert all(0.84 * width <= w <= width and 0.84 * height <= h <= height for h, w in sizes)
    for crop in crops:
        # the crop is a view of the photo: find its offset and check the plate box is inside
        base = crop.__array_interface__["data"][0] - image.__array_interface__["data"][0]
        y0, x0 = divmod(base // image.shape[2], width)
        assert x0 <= bx1
        assert bx2 <= x0 + crop.shape[1]
        assert y0 <= by1
        assert by2 <= y0 + crop.shape[0]
    assert len({c.__array_interface__["data"][0] for c in crops}) > 1  # it moves


def test_frames_of_passages_and_the_corrupt_fault(shared_data: Path) -> None:
    photos = find_photos([shared_data / "containers"])[:2]
    frames = list(camera_frames(photos, frames_per_passage=3, fps=5.0, gap_s=2.0, corrupt_every=4, seed=7))
    assert [(f.passage, f.index, f.sequence) for f in frames] == [
        (0, 0, 1), (0, 1, 2), (0, 2, 3), (1, 0, 4), (1, 1, 5), (1, 2, 6),
    ]  # fmt: skip
    assert [round(f.offset_s, 6) for f in frames] == [0.0, 0.2, 0.4, 2.6, 2.8, 3.0]
    assert [f.corrupt for f in frames] == [False, False, False, True, False, False]
    for frame in frames:
        decoded = cv2.imdecode(np.frombuffer(frame.image, np.uint8), cv2.IMREAD_COLOR)
        assert (decoded is None) == frame.corrupt
        assert frame.image[:3] == b"\xff\xd8\xff"


@pytest.mark.mqtt
def test_frames_reach_the_broker_in_the_frame_format(mqtt_broker: tuple[str, int], shared_data: Path) -> None:
    site = f"s{uuid.uuid4().hex[:6]}"
    got: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"test-sub-{uuid.uuid4().hex[:8]}")
    sub.on_message = lambda c, u, m: got.put(m)
    sub.connect(*mqtt_broker)
    sub.subscribe(f"cedetect/v1/{site}/+/frame", qos=1)
    sub.loop_start()
    try:
        photos = find_photos([shared_data / "containers"])[:2]
        stats = publish_frames(
            camera_frames(photos, frames_per_passage=2, fps=10.0, gap_s=1.0, corrupt_every=3),
            MqttSettings(host=mqtt_broker[0], port=mqtt_broker[1]),
            site=site,
            camera_id="gate-3",
            speedup=0,
            start_utc=T0,
        )
        assert (stats.frames_sent, stats.frames_acked, stats.corrupt_sent, stats.passages) == (4, 4, 1, 2)
        assert stats.texts == [photos[0].text, photos[1].text]
        messages = [got.get(timeout=10) for _ in range(4)]
    finally:
        sub.loop_stop()
    assert {m.topic for m in messages} == {f"cedetect/v1/{site}/gate-3/frame"}
    frames = [decode_frame(bytes(m.payload), datetime.now(UTC)) for m in messages]
    assert [f.sequence for f in frames] == [1, 2, 3, 4]
    assert [f.time_utc for f in frames] == [T0, T0 + timedelta(seconds=0.1), T0 + timedelta(seconds=1.2),
                                            T0 + timedelta(seconds=1.3)]  # fmt: skip
    images = [cv2.imdecode(np.frombuffer(f.image, np.uint8), cv2.IMREAD_COLOR) for f in frames]
    assert [image is None for image in images] == [False, False, True, False]


@pytest.mark.mqtt
def test_cli_sim_camera(mqtt_broker: tuple[str, int], shared_data: Path) -> None:
    site = f"s{uuid.uuid4().hex[:6]}"
    got: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"test-sub-{uuid.uuid4().hex[:8]}")
    sub.on_message = lambda c, u, m: got.put(m)
    sub.connect(*mqtt_broker)
    sub.subscribe(f"cedetect/v1/{site}/+/frame", qos=1)
    sub.loop_start()
    try:
        code = cedetect_main(
            ["sim", "camera", "--images", str(shared_data / "containers"), "--limit", "1", "--frames", "3",
             "--speedup", "0", "--site", site, "--camera-id", "cam-9", "--mqtt-host", mqtt_broker[0],
             "--mqtt-port", str(mqtt_broker[1])]
        )  # fmt: skip
        assert code == 0
        messages = [got.get(timeout=10) for _ in range(3)]
    finally:
        sub.loop_stop()
    assert {m.topic for m in messages} == {f"cedetect/v1/{site}/cam-9/frame"}
    assert cedetect_main(["sim", "camera", "--images", str(shared_data / "no-such-folder")]) == 2

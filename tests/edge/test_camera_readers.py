"""Camera input with several reader workers: order per camera, failures, the default count.

The reader is a fake here (it stands in for the ONNX models only): a frame's bytes say what it reads, and
each read sleeps a random short time so that the workers finish out of order.  Everything else (the queue,
the workers, the reorder stage, the passage merger, detections, evidence files, dead letters) is the real one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edge.camera
from cedetect.config import CameraSettings, VisionSettings
from cedetect.models import DeadLetter, Detection, DetectionKind
from cedetect.topics import TopicKind
from edge.camera import CameraFrame, CameraInput, Decode, EndOfSource, ReaderLike, reader_count, threads_per_reader
from tests.support import Collected
from vision.passage import edit_distance
from vision.reader import ImageError, Read

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
CONTAINER = "MSCU1234565"


def fake_decode(data: bytes) -> np.ndarray:
    if data == b"BAD":
        raise ImageError("corrupt_image")
    return np.frombuffer(data, dtype=np.uint8)


class Finished:
    """Frame numbers in the order the readers finished them (several threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.order: list[int] = []
        self.by_reader: dict[int, int] = {}

    def add(self, reader: int, frame: int) -> None:
        with self.lock:
            self.order.append(frame)
            self.by_reader[reader] = self.by_reader.get(reader, 0) + 1


class FakeReader:
    """Reads what the frame's JSON says, after a random short sleep; raises on ``{"raise": true}``."""

    def __init__(self, number: int, finished: Finished) -> None:
        self.number = number
        self.finished = finished
        self.rng = random.Random(number)
        self.thread: int | None = None

    def read(self, image_bgr: np.ndarray) -> Sequence[Read]:
        # one reader is used by one thread only (a real reader is not thread-safe)
        assert self.thread in (None, threading.get_ident())
        self.thread = threading.get_ident()
        time.sleep(self.rng.uniform(0.0, 0.02))
        spec = json.loads(bytes(image_bgr))
        self.finished.add(self.number, spec["i"])
        if spec.get("raise"):
            raise RuntimeError(f"reader bug on frame {spec['i']}")
        return [
            Read(kind, text, text.lower(), conf, (1, 2, 30, 40), valid, None, None, False, f"{text}@{conf}".encode())
            for kind, text, conf, valid in spec["reads"]
        ]


def fake_factory(finished: Finished, fail: Callable[[int], bool] = lambda n: False) -> Callable[[], Any]:
    numbers = itertools.count()

    def make() -> tuple[ReaderLike, Decode]:
        number = next(numbers)
        if fail(number):
            raise RuntimeError(f"model {number} missing")
        return FakeReader(number, finished), fake_decode

    return make


def frame(camera_id: str, t: float, spec: dict[str, Any]) -> CameraFrame:
    data = b"BAD" if spec.get("bad") else json.dumps(spec).encode()
    return CameraFrame(camera_id, T0 + timedelta(seconds=t), f"test/{camera_id}", data=data, live=False)


def noisy(text: str, rng: random.Random) -> str:
    """The text with one character misread, sometimes (OCR does not always agree with itself)."""
    if rng.random() < 0.3:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice("0123456789") + text[i + 1 :]
    return text


def scenario(seed: int = 7) -> list[CameraFrame | EndOfSource]:
    """Three cameras' passages, interleaved; bad, empty and failing frames; an end of source in the middle."""
    rng = random.Random(seed)
    numbers = itertools.count()
    per_camera: list[list[CameraFrame | EndOfSource]] = []
    for c, camera_id in enumerate(["gate-1", "gate-2", "lane-3"]):
        items: list[CameraFrame | EndOfSource] = []
        t = 0.0
        for p in range(6):
            text = f"{c}{p}ABC{rng.randrange(100, 999)}"
            for _ in range(rng.randint(1, 5)):
                spec: dict[str, Any] = {"i": next(numbers), "reads": []}
                roll = rng.random()
                if roll < 0.06:
                    spec["bad"] = True
                elif roll < 0.12:
                    spec["raise"] = True
                elif roll > 0.1 and roll < 0.2:
                    pass  # nothing read in this frame
                else:
                    confidence = round(rng.uniform(0.5, 0.99), 3)
                    spec["reads"].append(["plate", noisy(text, rng), confidence, rng.random() < 0.8])
                    if rng.random() < 0.3:
                        spec["reads"].append(["container", CONTAINER, round(rng.uniform(0.5, 0.99), 3), True])
                    if rng.random() < 0.1:
                        spec["reads"].append(["plate", "34abc", 0.9, True])  # unusable: not upper case
                items.append(frame(camera_id, t, spec))
                t += 0.5
            if camera_id == "gate-1" and p == 2:
                # the source ends and starts again: its passages close here, the next frames begin new ones
                items.append(frame(camera_id, t, {"i": next(numbers), "reads": [["plate", text, 0.5, True]]}))
                t += 0.5
                items.append(EndOfSource(camera_id))
                items.append(
                    frame(camera_id, t, {"i": next(numbers), "reads": [["plate", text, 0.625, True]], "restart": True})
                )
            t += rng.choice([1.0, 3.0, 5.0])
        items.append(EndOfSource(camera_id))
        per_camera.append(items)
    merged: list[CameraFrame | EndOfSource] = []
    while any(per_camera):
        merged.append(rng.choice([items for items in per_camera if items]).pop(0))
    return merged


def run(
    tmp_path: Path,
    items: list[CameraFrame | EndOfSource],
    readers: int,
    factory: Callable[[], tuple[ReaderLike, Decode]],
) -> tuple[CameraInput, Collected]:
    collected = Collected()
    camera = CameraInput(
        CameraSettings(enabled=True, mqtt_frames=False, readers=readers, queue_size=4, passage_quiet_s=2.0,
                       evidence_dir=tmp_path / f"evidence-{readers}"),
        None,
        site="site-1",
        agent_id="edge-1",
        publish=collected,
        reader_factory=factory,
    )  # fmt: skip

    def feed() -> None:
        for item in items:
            if isinstance(item, EndOfSource):
                camera.end_of_source(item.camera_id)
            else:
                assert camera.offer(item, block=True)

    async def main() -> None:
        await camera.start()
        try:
            await asyncio.to_thread(feed)
        finally:
            await camera.stop()
        await asyncio.sleep(0.05)

    asyncio.run(main())
    return camera, collected


def outcome(collected: Collected) -> list[tuple[str, str, object]]:
    """Every message in publication order: detections whole, dead letters by reason and bytes."""
    out: list[tuple[str, str, object]] = []
    for kind, device_id, payload in collected.messages:
        if isinstance(payload, Detection):
            out.append((kind.value, device_id, payload.model_dump()))
        else:
            assert isinstance(payload, DeadLetter)
            out.append((kind.value, device_id, (payload.reason, payload.raw, payload.detail)))
    return out


def test_two_readers_give_exactly_what_one_reader_gives(tmp_path: Path) -> None:
    items = scenario()
    one_finished, two_finished = Finished(), Finished()
    one, one_collected = run(tmp_path, items, 1, fake_factory(one_finished))
    two, two_collected = run(tmp_path, items, 2, fake_factory(two_finished))
    frames = [i for i in items if isinstance(i, CameraFrame)]
    read = [f for f in frames if f.data != b"BAD"]
    # the workers did finish out of order, and both did read
    queued = [json.loads(f.data or b"")["i"] for f in read]
    assert one_finished.order == queued
    assert sorted(two_finished.order) == sorted(queued)
    assert two_finished.order != queued
    assert set(two_finished.by_reader) == {0, 1}
    assert (one.readers, two.readers, one.readers_loaded, two.readers_loaded) == (1, 2, 1, 2)
    # ... and yet the same passages, the same ids, frame counts and best reads, published in the same order
    assert outcome(two_collected) == outcome(one_collected)
    detections = two_collected.of(TopicKind.DETECTION)
    assert len(detections) >= 20
    assert len({d.detection_id for d in detections}) == len(detections)
    assert {d.camera_id for d in detections} == {"gate-1", "gate-2", "lane-3"}
    assert any(d.frames > 1 for d in detections)
    # the end of gate-1's source in the middle closed its passages: the same text half a second later (well
    # within passage_quiet_s) is a new passage, not merged into the one before the end
    [restart] = [i for i in items if isinstance(i, CameraFrame) and b'"restart"' in (i.data or b"")]
    [after] = [d for d in detections if d.camera_id == "gate-1" and d.time_utc == restart.time_utc]
    assert after.frames == 1
    [before] = [
        d for d in detections if d.camera_id == "gate-1" and d.kind is DetectionKind.PLATE
        and d.attributes["last_utc"] == (restart.time_utc - timedelta(seconds=0.5)).isoformat()
    ]  # fmt: skip
    assert edit_distance(before.text, after.text) <= 1
    reasons = {letter.reason for letter in two_collected.of(TopicKind.DEADLETTER)}
    assert reasons == {"corrupt_image", "read_error"}
    assert two.snapshot() == one.snapshot()
    counters = two.snapshot()
    assert counters["frames_queued"] == counters["frames_read"] == len(frames)
    assert counters["detections"] == len(detections)
    assert two._pending == one._pending
    assert all(n == 0 for n in two._pending.values())
    assert two._done == {}
    assert sorted(p.name for p in (tmp_path / "evidence-2").iterdir()) == sorted(
        p.name for p in (tmp_path / "evidence-1").iterdir()
    )


def test_a_frame_the_reader_fails_on_loses_only_that_frame(tmp_path: Path) -> None:
    items: list[CameraFrame | EndOfSource] = []
    for i in range(12):
        spec: dict[str, Any] = {"i": i, "reads": [["plate", f"{i:02d}XYZ{i:03d}", 0.9, True]]}
        if i == 5:
            spec["raise"] = True
        items.append(frame("gate-1", i * 10.0, spec))  # 10 s apart: every frame its own passage
    finished = Finished()
    camera, collected = run(tmp_path, items, 2, fake_factory(finished))
    detections = collected.of(TopicKind.DETECTION)
    assert [d.text for d in detections] == [f"{i:02d}XYZ{i:03d}" for i in range(12) if i != 5]
    assert all(d.frames == 1 for d in detections)
    [letter] = collected.of(TopicKind.DEADLETTER)
    assert (letter.reason, letter.device_id) == ("read_error", "gate-1")
    assert "reader bug on frame 5" in letter.detail
    assert camera.snapshot()["frames_read"] == 12
    assert camera.snapshot()["rejected_read_error"] == 1
    assert camera.failed is None


def test_no_reader_loads_in_any_worker_frames_are_counted_as_unread(tmp_path: Path) -> None:
    items: list[CameraFrame | EndOfSource] = [
        frame("gate-1", i, {"i": i, "reads": [["plate", "34ABC123", 0.9, True]]}) for i in range(6)
    ]
    items.append(EndOfSource("gate-1"))
    camera, collected = run(tmp_path, items, 2, fake_factory(Finished(), fail=lambda n: True))
    assert camera.ready.is_set()
    assert isinstance(camera.failed, RuntimeError)
    assert camera.readers_loaded == 0
    assert collected.messages == []
    counters = camera.snapshot()
    assert counters["reader_load_failed"] == 2
    assert counters["frames_unread_reader_unavailable"] == 6
    assert "frames_read" not in counters
    assert camera._pending["gate-1"] == 0


def test_one_reader_failing_to_load_leaves_the_other_to_read_everything(tmp_path: Path) -> None:
    items: list[CameraFrame | EndOfSource] = [
        frame("gate-1", i * 10.0, {"i": i, "reads": [["plate", f"{i:02d}XYZ{i:03d}", 0.9, True]]}) for i in range(6)
    ]
    finished = Finished()
    camera, collected = run(tmp_path, items, 2, fake_factory(finished, fail=lambda n: n == 0))
    assert camera.ready.is_set()
    assert camera.failed is None
    assert camera.readers_loaded == 1
    assert [d.text for d in collected.of(TopicKind.DETECTION)] == [f"{i:02d}XYZ{i:03d}" for i in range(6)]
    assert camera.snapshot()["reader_load_failed"] == 1
    assert camera.snapshot()["frames_read"] == 6
    assert set(finished.by_reader) == {1}


def test_ready_waits_for_every_worker_to_try_loading(tmp_path: Path) -> None:
    release = threading.Event()
    numbers = itertools.count()

    def slow_second() -> tuple[ReaderLike, Decode]:
        if next(numbers) == 1:
            release.wait(10)
        return FakeReader(0, Finished()), fake_decode

    camera = CameraInput(
        CameraSettings(enabled=True, mqtt_frames=False, readers=2, evidence_dir=tmp_path / "ev"),
        None,
        site="site-1",
        agent_id="edge-1",
        publish=Collected(),
        reader_factory=slow_second,
    )

    async def main() -> None:
        await camera.start()
        try:
            await asyncio.sleep(0.3)
            assert not camera.ready.is_set()
            release.set()
            assert await asyncio.to_thread(camera.ready.wait, 10)
            assert camera.readers_loaded == 2
        finally:
            release.set()
            await camera.stop()

    asyncio.run(main())


def test_readers_default_to_one_per_cpu_core(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    assert CameraSettings().readers == 0
    camera = CameraInput(
        CameraSettings(enabled=True, mqtt_frames=False, evidence_dir=tmp_path), None, site="s", agent_id="a",
        publish=Collected(),
    )  # fmt: skip
    assert camera.readers == (os.cpu_count() or 1)
    assert reader_count(CameraSettings(readers=3)) == 3
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert reader_count(CameraSettings()) == 8
    assert [threads_per_reader(n) for n in (1, 2, 3, 8, 16)] == [0, 4, 2, 1, 1]  # 0: ONNX Runtime decides
    with pytest.raises(ValueError, match="readers"):
        CameraSettings(readers=65)
    monkeypatch.setenv("CEDETECT_CAMERA_READERS", "2")
    assert CameraSettings().readers == 2


def test_the_default_reader_gets_the_threads_of_its_share_of_the_cores(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os

    import vision.reader

    built: list[VisionSettings] = []

    class Reader:
        def __init__(self, settings: VisionSettings) -> None:
            built.append(settings)

    monkeypatch.setattr(vision.reader, "Reader", Reader)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.delenv("CEDETECT_VISION_THREADS", raising=False)

    def factory_threads(readers: int) -> int:
        camera = CameraInput(
            CameraSettings(enabled=True, mqtt_frames=False, readers=readers, evidence_dir=tmp_path), None,
            site="s", agent_id="a", publish=Collected(),
        )  # fmt: skip
        _, decode = camera.reader_factory()
        assert decode is vision.reader.decode_image
        return built[-1].threads

    assert factory_threads(2) == 2
    assert factory_threads(4) == 1
    assert factory_threads(1) == 0  # one reader: ONNX Runtime decides, as before
    monkeypatch.setenv("CEDETECT_VISION_THREADS", "3")  # set by the operator: kept
    assert factory_threads(2) == 3
    assert edge.camera.default_reader is not None

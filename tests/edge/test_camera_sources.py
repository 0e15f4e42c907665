"""Camera input without the reader: frame format, evidence files, file and video sources, sampling, overload."""

from __future__ import annotations

import hashlib
import queue
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from cedetect.config import CameraSettings
from cedetect.frames import HEADER_SIZE, FrameError, decode_frame, encode_frame
from cedetect.models import DeadLetter
from cedetect.topics import TopicKind
from edge.camera import CameraFrame, CameraInput, EndOfSource, FileSource, VideoSource, save_evidence

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
CONTAINER = Path("containers/images/alimustoofaa/2009241555062080810.jpg")


# --- frame format ---------------------------------------------------------------------------------


def test_frame_round_trip_keeps_time_to_the_microsecond_and_the_bytes(shared_data: Path) -> None:
    jpeg = (shared_data / CONTAINER).read_bytes()
    t = T0 + timedelta(microseconds=123_456)
    payload = encode_frame(jpeg, t, sequence=2**32 + 5)
    assert len(payload) == HEADER_SIZE + len(jpeg)
    frame = decode_frame(payload, T0 + timedelta(hours=1))
    assert (frame.time_utc, frame.sequence, frame.image) == (t, 5, jpeg)
    before_epoch = decode_frame(encode_frame(jpeg, datetime(1960, 1, 1, tzinfo=UTC)), T0)
    assert before_epoch.time_utc == datetime(1960, 1, 1, tzinfo=UTC)


def test_a_bare_jpeg_or_png_is_taken_at_its_receive_time(shared_data: Path) -> None:
    jpeg = (shared_data / CONTAINER).read_bytes()
    png = (shared_data / "plates/images/fast_alpr/test_image.png").read_bytes()
    for image in (jpeg, png):
        frame = decode_frame(image, T0)
        assert (frame.time_utc, frame.sequence, frame.image) == (T0, None, image)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty_frame"),
        (b"CEF1" + bytes(12), "empty_frame"),
        (b"GIF89a\x01\x00", "unknown_frame_format"),
        (b"CEF1" + (2**62).to_bytes(8, "big") + bytes(4) + b"\xff\xd8\xff", "invalid_time"),
        (b"\xff\xd8\xff" + bytes(100), "frame_too_large"),
    ],
)
def test_bad_frames_have_named_reasons(payload: bytes, reason: str) -> None:
    with pytest.raises(FrameError) as caught:
        decode_frame(payload, T0, max_bytes=64)
    assert caught.value.reason == reason


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        encode_frame(b"\xff\xd8\xff", datetime(2026, 1, 1))  # noqa: DTZ001


# --- evidence -------------------------------------------------------------------------------------


def test_evidence_is_content_addressed_and_written_once(tmp_path: Path, shared_data: Path) -> None:
    data = (shared_data / CONTAINER).read_bytes()
    sha = save_evidence(tmp_path / "evidence", data)
    assert sha == hashlib.sha256(data).hexdigest()
    path = tmp_path / "evidence" / f"{sha}.jpg"
    assert path.read_bytes() == data
    mtime = path.stat().st_mtime_ns
    assert save_evidence(tmp_path / "evidence", data) == sha
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in (tmp_path / "evidence").iterdir()) == [f"{sha}.jpg"]


# --- sources (run in the test thread; the queue is inspected instead of read) -----------------------


class Collected:
    def __init__(self) -> None:
        self.messages: list[tuple[TopicKind, str, object]] = []

    def __call__(self, kind: TopicKind, device_id: str, payload: object) -> None:
        self.messages.append((kind, device_id, payload))


def make_input(tmp_path: Path, **settings: object) -> CameraInput:
    defaults: dict[str, object] = {"enabled": True, "mqtt_frames": False, "evidence_dir": tmp_path / "ev"}
    return CameraInput(
        CameraSettings.model_validate({**defaults, **settings}),
        None,
        site="site-1",
        agent_id="edge-1",
        publish=Collected(),
    )


def drain(camera: CameraInput) -> list[CameraFrame | EndOfSource]:
    items = []
    while True:
        try:
            items.append(camera._queue.get_nowait())
        except queue.Empty:
            return items


def test_file_source_reads_a_folder_in_name_order_and_names_unreadable_files(tmp_path: Path, shared_data: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    jpeg = (shared_data / CONTAINER).read_bytes()
    (folder / "b.jpg").write_bytes(jpeg)
    (folder / "a.jpg").write_bytes(jpeg[:100])  # truncated: read as bytes here, refused by the decoder later
    (folder / "notes.txt").write_text("not an image")
    camera = make_input(tmp_path, queue_size=10, sources=[str(folder), str(tmp_path / "missing.jpg")])
    assert [type(s) for s in camera.sources] == [FileSource, FileSource]
    for source in camera.sources:
        source._guarded()
    items = drain(camera)
    frames = [i for i in items if isinstance(i, CameraFrame)]
    assert [Path(f.source).name for f in frames] == ["a.jpg", "b.jpg"]
    assert [len(f.data or b"") for f in frames] == [100, len(jpeg)]
    assert all(f.camera_id == "cam-1" and not f.live for f in frames)
    assert [i for i in items if isinstance(i, EndOfSource)] == [EndOfSource("cam-1")] * 2
    assert camera.counters["rejected_unreadable_file"] == 1
    assert camera.counters["frames_queued"] == 2


def write_video(path: Path, image: np.ndarray, frames: int, fps: float) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (image.shape[1], image.shape[0]))
    for i in range(frames):
        writer.write(np.roll(image, i * 7, axis=1))
    writer.release()


@pytest.mark.parametrize(
    ("sample_every", "max_fps", "kept_seconds"),
    [
        (1, 0.0, [i / 10 for i in range(20)]),
        (3, 0.0, [0.0, 0.3, 0.6, 0.9, 1.2, 1.5, 1.8]),
        (1, 2.5, [0.0, 0.4, 0.8, 1.2, 1.6]),
        (2, 3.0, [0.0, 0.4, 0.8, 1.2, 1.6]),
    ],
)
def test_video_file_sampling(
    tmp_path: Path, shared_data: Path, sample_every: int, max_fps: float, kept_seconds: list[float]
) -> None:
    video = tmp_path / "gate.avi"
    image = cv2.imread(str(shared_data / CONTAINER))
    assert image is not None
    write_video(video, image, frames=20, fps=10.0)
    camera = make_input(tmp_path, queue_size=100, sources=[str(video)], sample_every=sample_every, max_fps=max_fps)
    [source] = camera.sources
    assert isinstance(source, VideoSource)
    assert not source.live
    source._guarded()
    frames = [i for i in drain(camera) if isinstance(i, CameraFrame)]
    start = frames[0].time_utc
    assert [round((f.time_utc - start).total_seconds(), 3) for f in frames] == kept_seconds
    assert all(f.image is not None and f.image.shape == (540, 960, 3) for f in frames)
    assert camera.counters["frames_received"] == 20
    assert camera.counters["frames_skipped_sampling"] == 20 - len(kept_seconds)


def test_an_unreadable_video_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 1000)
    camera = make_input(tmp_path, sources=[str(bad)])
    camera.sources[0]._guarded()
    assert camera.counters["rejected_unreadable_video"] == 1
    assert drain(camera) == [EndOfSource("cam-1")]


def test_live_frames_are_dropped_and_counted_when_the_reader_is_behind(tmp_path: Path) -> None:
    camera = make_input(tmp_path, queue_size=3)
    results = [camera.offer(CameraFrame("cam-1", T0, "test", data=b"\xff\xd8\xff")) for _ in range(5)]
    assert results == [True, True, True, False, False]
    assert camera.counters["frames_dropped_overload"] == 2
    assert camera._pending["cam-1"] == 3


def test_a_rejected_frame_becomes_a_dead_letter_with_its_first_bytes(tmp_path: Path) -> None:
    import asyncio

    camera = make_input(tmp_path)
    raw = bytes(range(256)) * 1000  # 256 kB

    async def run() -> None:
        camera._loop = asyncio.get_running_loop()
        camera.reject("bad_jpeg", raw, camera_id="cam-1", source="cedetect/v1/site-1/cam-1/frame", detail="x")
        await asyncio.sleep(0.05)

    asyncio.run(run())
    collected = camera.publish
    assert isinstance(collected, Collected)
    [(kind, device_id, letter)] = collected.messages
    assert (kind, device_id) == (TopicKind.DEADLETTER, "cam-1")
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "bad_jpeg"
    assert letter.protocol == "camera"
    assert letter.raw == raw[: 64 * 1024]
    assert "first 65536 of 256000 bytes kept" in letter.detail
    assert camera.counters["rejected_bad_jpeg"] == 1

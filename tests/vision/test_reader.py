"""The reader on real photos it was never trained on: plates from the eval split, the container photos."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from cedetect.config import VisionSettings
from vision.datasets import LabelledImage, load_containers, plate_split
from vision.reader import _PADDING, ImageError, Read, Reader, _crop, load_image


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(VisionSettings(threads=1))


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union else 0.0


def test_reads_are_well_formed(reader: Reader, shared_data: Path) -> None:
    _, evaluation = plate_split(shared_data)
    item = evaluation[0]
    image = load_image(item.path)
    reads = reader.read(image)
    h, w = image.shape[:2]
    for read in reads:
        assert isinstance(read, Read)
        assert read.kind in ("plate", "container")
        assert read.text
        assert read.text.isalnum()
        assert read.text == read.text.upper()
        assert 0.0 <= read.confidence <= 1.0
        x1, y1, x2, y2 = read.box_xyxy
        assert 0 <= x1 < x2 <= w
        assert 0 <= y1 < y2 <= h
        crop = cv2.imdecode(np.frombuffer(read.crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert crop is not None
        assert crop.shape[0] >= y2 - y1
        assert crop.shape[1] >= x2 - x1
        assert len(hashlib.sha256(read.crop_jpeg).hexdigest()) == 64
        if read.kind == "plate":
            assert read.check_digit_ok is None


def test_plates_on_the_eval_split(reader: Reader, shared_data: Path) -> None:
    """Photos training never saw: most plates are found (IoU >= 0.5) and many are read exactly."""
    _, evaluation = plate_split(shared_data)
    scenes = [item for item in evaluation if item.box_xyxy is not None]
    assert len(scenes) >= 25
    found = exact = 0
    for item in scenes:
        assert item.box_xyxy is not None
        plates = [r for r in reader.read(load_image(item.path)) if r.kind == "plate"]
        found += any(_iou(r.box_xyxy, item.box_xyxy) >= 0.5 for r in plates)
        exact += bool(plates) and plates[0].text == item.text
    # measured with the shipped models (bench/vision_accuracy.py): 31/32 found; 31/32 read exactly with either
    # detector (the project recogniser first), 92% of reads when the box moves by up to 2 px
    assert found >= 0.9 * len(scenes), (found, len(scenes))
    assert exact >= 0.85 * len(scenes), (exact, len(scenes))


def test_container_codes_on_real_photos(reader: Reader, shared_data: Path) -> None:
    """Real gate-camera photos; the detector saw only synthetic container markings in training."""
    items = load_containers(shared_data)
    exact = 0
    for item in items:
        containers = [r for r in reader.read(load_image(item.path)) if r.kind == "container"]
        if containers and containers[0].text == item.text:
            exact += 1
            assert containers[0].valid
            assert containers[0].check_digit_ok
            assert containers[0].grammar == "iso6346"
    assert exact >= 9, exact  # measured: 10/10, from the detector's boxes alone as well


def test_frame_with_nothing_to_read(reader: Reader) -> None:
    rng = np.random.default_rng(3)
    grey = np.full((480, 640, 3), 128, np.uint8)
    noise = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    assert reader.read(grey) == []
    assert [r for r in reader.read(noise) if r.valid] == []


def test_bad_arrays_are_refused(reader: Reader) -> None:
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 3), np.float32)):
        with pytest.raises(ImageError) as info:
            reader.read(bad)  # type: ignore[arg-type]
        assert info.value.reason == "bad_array"


def test_tiny_and_odd_shaped_frames_do_not_crash(reader: Reader) -> None:
    for shape in ((1, 1, 3), (3, 2000, 3), (2000, 3, 3), (31, 33, 3), (40, 4000, 3), (4000, 40, 3), (48, 1200, 3)):
        assert isinstance(reader.read(np.zeros(shape, np.uint8)), list)


def _eval_item(shared_data: Path, text: str) -> LabelledImage:
    _, evaluation = plate_split(shared_data)
    return next(item for item in evaluation if item.text == text)


def test_batched_recognition_matches_one_crop_at_a_time(reader: Reader, shared_data: Path) -> None:
    """The recogniser on several plate crops in one call reads each as it does alone."""
    _, evaluation = plate_split(shared_data)
    crops = []
    for item in [item for item in evaluation if item.box_xyxy is not None][:5]:
        crop, _ = _crop(load_image(item.path), np.asarray(item.box_xyxy, np.float32), *_PADDING[0])
        assert crop is not None
        crops.append(crop)
    batched = reader._recognise(crops)
    alone = [reader._recognise([crop])[0] for crop in crops]
    assert [[line.text for line in lines] for lines in batched] == [[line.text for line in lines] for lines in alone]
    assert sum(bool(lines) for lines in batched) >= 4
    assert reader._recognise([]) == []


@pytest.mark.parametrize(
    ("label", "what"),
    [("RK867AD", "the EU band's country letters (SK) read into the text"), ("BZM2227", "a sticker read as a digit")],
)
def test_loose_reads_are_rechecked_with_the_text_detector(
    reader: Reader, shared_data: Path, label: str, what: str
) -> None:
    """A one-line read that fits only a loose format is read again with the text detector, which trims
    what is not part of the plate; the fixed-layout read wins."""
    item = _eval_item(shared_data, label)
    plates = [r for r in reader.read(load_image(item.path)) if r.kind == "plate"]
    assert plates, what
    assert plates[0].text == label, (what, plates[0].raw_text)
    assert plates[0].valid


def test_full_frame_fallback_at_a_bounded_size(shared_data: Path) -> None:
    """A frame the detector finds nothing in: the fallback reads it with the frame scaled to 640 px at most;
    with the fallback off there is no read."""
    item = _eval_item(shared_data, "PVX0095")
    image = load_image(item.path)
    bounded = Reader(VisionSettings(threads=1, full_frame_max_side_px=640))
    assert bounded.detector.detect(image).count == 0  # so the read below comes from the fallback
    assert bounded._ocr_params(crop=False)["Det.limit_side_len"] == 640
    assert [r.text for r in bounded.read(image) if r.kind == "plate" and r.valid] == ["PVX0095"]
    off = Reader(VisionSettings(threads=1, full_frame_fallback=False))
    assert [r for r in off.read(image) if r.valid] == []
    assert "Det.limit_side_len" not in Reader(VisionSettings(threads=1, full_frame_max_side_px=0))._ocr_params(
        crop=False
    )


def test_project_recogniser_reads_first_and_rapidocr_only_when_unsure(reader: Reader, shared_data: Path) -> None:
    """The default reader reads one-line plate crops with the project recogniser; a sure read (a fixed-layout
    format, every character at least ``line_min_prob``) is kept without running rapidocr's recogniser at all;
    the others go on to it.  Over the eval photos both paths are taken and the sure reads are right."""
    assert reader.settings.recogniser == "project"
    assert reader._line is not None
    calls: list[tuple[int, ...]] = []
    run = reader._rec._run

    def counted(batch: np.ndarray) -> np.ndarray:
        calls.append(batch.shape)
        return run(batch)

    reader._rec._run = counted  # type: ignore[method-assign]
    try:
        _, evaluation = plate_split(shared_data)
        sure = right = unsure = 0
        for item in [item for item in evaluation if item.box_xyxy is not None]:
            calls.clear()
            plates = [r for r in reader.read(load_image(item.path)) if r.kind == "plate"]
            if plates and not calls:
                sure += 1
                right += plates[0].text == item.text
                assert plates[0].valid
                assert plates[0].raw_text.isalnum()  # the project recogniser's read: A-Z0-9 only
            elif calls:
                unsure += 1
    finally:
        reader._rec._run = run  # type: ignore[method-assign]
    assert sure >= 8, (sure, unsure)
    assert unsure >= 1, (sure, unsure)
    assert right >= sure - 1, (right, sure)


def test_rapidocr_recogniser_setting(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``CEDETECT_VISION_RECOGNISER=rapidocr`` reads with rapidocr's model alone; an unknown name is refused."""
    monkeypatch.setenv("CEDETECT_VISION_RECOGNISER", "rapidocr")
    only = Reader(VisionSettings(threads=1))
    assert only._line is None
    item = _eval_item(shared_data, "RK867AD")
    assert [r.text for r in only.read(load_image(item.path)) if r.kind == "plate"][:1] == ["RK867AD"]
    monkeypatch.setenv("CEDETECT_VISION_RECOGNISER", "tesseract")
    with pytest.raises(ValueError, match="rapidocr"):
        VisionSettings()

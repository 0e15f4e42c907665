"""Detector backend pieces: letterbox geometry, YOLO head decoding, NMS, the plugin registry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from cedetect.config import VisionSettings
from vision import backends


def test_letterbox_keeps_aspect_and_centres() -> None:
    image = np.zeros((200, 400, 3), np.uint8)
    image[:, :, 2] = 255  # red in BGR
    blob, ratio, pad = backends.letterbox(image, 416)
    assert blob.shape == (1, 3, 416, 416)
    assert blob.dtype == np.float32
    assert ratio == pytest.approx(416 / 400)
    assert pad == (0, (416 - 208) // 2)
    assert blob[0, 0, 208, 208] == pytest.approx(1.0)  # channel 0 is R after BGR -> RGB
    assert blob[0, 2, 208, 208] == pytest.approx(0.0)
    assert blob[0, 0, 5, 5] == pytest.approx(114 / 255)  # grey padding


def test_letterbox_with_a_stride_pads_only_to_its_next_multiple() -> None:
    image = np.zeros((540, 960, 3), np.uint8)
    image[:, :, 0] = 255  # blue in BGR
    blob, ratio, pad = backends.letterbox(image, 416, 32)
    assert ratio == pytest.approx(416 / 960)
    assert blob.shape == (1, 3, 256, 416)  # 416x234 scaled, padded to 256 rows, not 416
    assert pad == (0, (256 - 234) // 2)
    assert blob[0, 2, 128, 200] == pytest.approx(1.0)
    assert blob[0, 0, 128, 200] == pytest.approx(0.0)
    assert blob[0, 0, 5, 5] == pytest.approx(114 / 255)  # the 11 grey rows above
    tall = backends.letterbox(np.zeros((500, 300, 3), np.uint8), 416, 32)[0]
    assert tall.shape == (1, 3, 416, 256)  # 250 -> 256 columns
    exact = backends.letterbox(np.zeros((416, 416, 3), np.uint8), 416, 32)[0]
    assert exact.shape == (1, 3, 416, 416)


def test_shipped_detector_takes_free_sizes_and_finds_the_same_plate(shared_data: Path) -> None:
    """The shipped export has a free input size: a wide frame is padded to 416x256, not 416x416, and the
    plate is found where the square input finds it."""
    from vision.datasets import plate_split
    from vision.reader import load_image

    backend = backends.create(VisionSettings(threads=1))
    assert isinstance(backend, backends.OnnxRuntimeBackend)
    assert backend.stride == 32
    shape = backend.session.get_inputs()[0].shape
    assert not isinstance(shape[2], int)
    assert not isinstance(shape[3], int)
    photo = next(x for x in plate_split(shared_data)[0] if x.box_xyxy)
    image = load_image(photo.path)
    rect = backend.detect(image)
    backend.stride = 0  # the same model, fed the square input of a fixed-size export
    square = backend.detect(image)
    assert rect.count >= 1
    assert square.count >= 1
    assert _iou(rect.boxes[0], square.boxes[0]) > 0.9
    assert photo.box_xyxy is not None
    assert _iou(rect.boxes[0], np.asarray(photo.box_xyxy, np.float32)) > 0.5
    assert abs(float(rect.scores[0]) - float(square.scores[0])) < 0.1


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95], np.float32)
    assert backends.nms(boxes, scores, 0.5) == [3, 2]
    assert backends.nms(boxes, scores, 0.99) == [3, 0, 1, 2]
    assert backends.nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5) == []


def _head(anchors: Sequence[Sequence[float]]) -> np.ndarray:
    """A YOLOv8 output (1, 4 + 2 classes, anchors) from (cx, cy, w, h, plate score, container score) rows."""
    return np.asarray(anchors, np.float32).T[None]


def test_decode_maps_back_to_image_pixels_with_fixed_shapes() -> None:
    image = np.zeros((200, 400, 3), np.uint8)
    _, ratio, pad = backends.letterbox(image, 416)
    # a plate at image (100, 50)-(200, 80): centre (150, 65), 100x30 -> letterbox coordinates
    cx, cy, w, h = 150 * ratio + pad[0], 65 * ratio + pad[1], 100 * ratio, 30 * ratio
    out = _head([(cx, cy, w, h, 0.9, 0.1), (cx + 1, cy, w, h, 0.8, 0.05), (300, 300, 40, 20, 0.02, 0.6),
                 (10, 10, 5, 5, 0.1, 0.1)])  # fmt: skip
    found = backends.decode_yolo(
        out, ratio=ratio, pad=pad, image_shape=(200, 400), score_threshold=0.25, iou_threshold=0.45, max_detections=5
    )
    assert found.boxes.shape == (5, 4)
    assert found.scores.shape == (5,)
    assert found.classes.shape == (5,)
    assert found.count == 2
    np.testing.assert_allclose(found.boxes[0], [100, 50, 200, 80], atol=0.01)
    assert found.classes[:2].tolist() == [0, 1]
    assert found.scores[:2].tolist() == pytest.approx([0.9, 0.6])
    assert not found.boxes[2:].any()
    assert not found.scores[2:].any()


def test_decode_clips_to_the_image_and_caps_detections() -> None:
    rows = [(20.0 * i + 10, 10, 8, 8, 0.5 + i / 100, 0.0) for i in range(10)]
    rows.append((400, 400, 100, 100, 0.99, 0.0))
    found = backends.decode_yolo(
        _head(rows), ratio=1.0, pad=(0, 0), image_shape=(416, 416), score_threshold=0.25, iou_threshold=0.45,
        max_detections=3,
    )  # fmt: skip
    assert found.count == 3
    assert found.boxes[0].tolist() == [350, 350, 416, 416]


def test_unknown_backend_and_missing_model_are_named(tmp_path: Path) -> None:
    with pytest.raises(backends.BackendError) as info:
        backends.create(VisionSettings.model_construct(type="tpu"))  # type: ignore[arg-type]
    assert info.value.reason == "unknown_backend"
    with pytest.raises(backends.BackendError) as info:
        backends.create(VisionSettings(model_path=tmp_path / "nope.onnx"))
    assert info.value.reason == "model_not_found"


def test_type_key_is_validated_by_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEDETECT_VISION_TYPE", "edgetpu")
    with pytest.raises(ValueError, match="onnxruntime"):
        VisionSettings()
    monkeypatch.setenv("CEDETECT_VISION_TYPE", "onnxruntime")
    monkeypatch.setenv("CEDETECT_VISION_PROVIDERS", '["CPUExecutionProvider"]')
    assert VisionSettings().providers == ["CPUExecutionProvider"]
    monkeypatch.setenv("CEDETECT_VISION_PRECISION", "int4")
    with pytest.raises(ValueError, match="fp32"):
        VisionSettings()
    monkeypatch.setenv("CEDETECT_VISION_PRECISION", "fp32")
    assert VisionSettings().precision == "fp32"
    monkeypatch.delenv("CEDETECT_VISION_PRECISION")
    assert VisionSettings().precision == "int8"  # the default


def test_shipped_detector_loads_on_onnx_runtime() -> None:
    backend = backends.create(VisionSettings(threads=1))
    assert isinstance(backend, backends.OnnxRuntimeBackend)
    assert backend.providers[-1] == "CPUExecutionProvider"
    assert backend.input_size == 416
    assert backend.meta["classes"] == list(backends.CLASSES)
    assert backends.DEFAULT_MODEL.stat().st_size < 10_000_000  # a few MB in the repository
    found = backend.detect(np.zeros((300, 500, 3), np.uint8))
    assert found.boxes.shape == (20, 4)
    assert found.count == 0  # nothing in a black frame


def test_per_class_score_thresholds() -> None:
    rows = [(100, 100, 40, 20, 0.20, 0.0), (300, 100, 40, 20, 0.0, 0.15), (200, 300, 40, 20, 0.0, 0.05)]
    found = backends.decode_yolo(
        _head(rows), ratio=1.0, pad=(0, 0), image_shape=(416, 416), score_threshold=(0.25, 0.1),
        iou_threshold=0.45, max_detections=5,
    )  # fmt: skip
    assert found.count == 1  # the plate at 0.20 < 0.25 and the code at 0.05 < 0.1 are dropped
    assert int(found.classes[0]) == 1
    assert found.scores[0] == pytest.approx(0.15)


def test_precision_picks_the_shipped_model() -> None:
    assert backends.model_for("fp32") == backends.DEFAULT_MODEL
    assert backends.model_for("int8") == backends.INT8_MODEL
    assert backends.create(VisionSettings(threads=1)).model_path == backends.INT8_MODEL  # type: ignore[attr-defined]
    fp32 = backends.create(VisionSettings(threads=1, precision="fp32"))
    assert fp32.model_path == backends.DEFAULT_MODEL  # type: ignore[attr-defined]


def test_int8_detector_is_quantised_from_the_shipped_float_model() -> None:
    """Retraining must be followed by ``python -m vision.train.quantize``: the int8 file names its source."""
    meta = json.loads(backends.DEFAULT_MODEL.with_suffix(".json").read_text())
    digest = hashlib.sha256(backends.DEFAULT_MODEL.read_bytes()).hexdigest()
    assert meta["int8"]["source_sha256"] == digest
    assert backends.INT8_MODEL.stat().st_size < backends.DEFAULT_MODEL.stat().st_size / 2


def test_int8_detector_finds_the_same_boxes_as_the_float_one(shared_data: Path) -> None:
    """On real photos of the evaluation split: same boxes (IoU >= 0.8), scores within 0.1."""
    from vision.datasets import load_containers, plate_split
    from vision.reader import load_image

    _train, evaluation = plate_split(shared_data)
    photos = [item.path for item in evaluation if item.kind == "scene"]
    photos += [item.path for item in load_containers(shared_data)]
    fp32 = backends.create(VisionSettings(threads=1, precision="fp32"))
    int8 = backends.create(VisionSettings(threads=1, precision="int8"))
    matched = total = 0
    for path in photos:
        image = load_image(path)
        a, b = fp32.detect(image), int8.detect(image)
        for i in range(a.count):
            if a.scores[i] < 0.35:  # near the threshold a box may fall on either side of it
                continue
            total += 1
            same = [
                j for j in range(b.count)
                if b.classes[j] == a.classes[i] and _iou(a.boxes[i], b.boxes[j]) >= 0.8
                and abs(float(b.scores[j]) - float(a.scores[i])) <= 0.1
            ]  # fmt: skip
            matched += bool(same)
    assert total >= 10
    assert matched == total


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0

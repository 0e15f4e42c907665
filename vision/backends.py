"""Detector backends as plugins, chosen by the ``type`` key of :class:`cedetect.config.VisionSettings`.

Every backend takes a BGR image and returns :class:`Detections`: fixed-shape arrays (``max_detections``
rows; rows past ``count`` are zero), boxes in the input image's pixels.  ``onnxruntime`` runs the shipped
YOLO export (letterbox, one forward pass, decode, per-class NMS in numpy) on the CUDA or OpenVINO
execution provider when present, else on the CPU.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from cedetect.config import VisionSettings

DEFAULT_MODEL = Path(__file__).with_name("models") / "detector.onnx"
#: The same detector quantised to int8 by ``vision.train.quantize`` (about twice as fast on a CPU).
INT8_MODEL = DEFAULT_MODEL.with_name("detector.int8.onnx")
CLASSES = ("plate", "container_code")
#: The YOLO head's largest stride: a free-size input must be a multiple of it.
STRIDE = 32
PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "OpenVINOExecutionProvider", "CPUExecutionProvider")


@dataclass(frozen=True, slots=True)
class Detections:
    boxes: npt.NDArray[np.float32]  # (max_detections, 4) x1 y1 x2 y2 in image pixels
    scores: npt.NDArray[np.float32]  # (max_detections,)
    classes: npt.NDArray[np.int32]  # (max_detections,) 0 plate, 1 container_code
    count: int


class DetectorBackend(Protocol):
    name: str

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Detections: ...


class BackendError(RuntimeError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def letterbox(
    image_bgr: npt.NDArray[np.uint8], size: int, stride: int = 0
) -> tuple[npt.NDArray[np.float32], float, tuple[int, int]]:
    """Resize keeping the aspect ratio so the longer side is ``size``, pad with grey; NCHW RGB in [0, 1].

    ``stride`` 0: pad to ``size``x``size`` (a model with a fixed input).  ``stride`` > 0: pad each side only up
    to the next multiple of ``stride`` (a model with a free input size: a 16:9 frame becomes 416x256, not
    416x416, and costs about 40% less).  Either way the image lies centred in the padding."""
    h, w = image_bgr.shape[:2]
    ratio = min(size / h, size / w)
    new_w, new_h = max(1, round(w * ratio)), max(1, round(h * ratio))
    resized = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR if ratio > 1 else cv2.INTER_AREA)
    if stride > 0:
        out_w, out_h = -(-new_w // stride) * stride, -(-new_h // stride) * stride
    else:
        out_w = out_h = size
    pad_x, pad_y = (out_w - new_w) // 2, (out_h - new_h) // 2
    canvas = np.full((out_h, out_w, 3), 114, np.uint8)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    blob = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(blob), ratio, (pad_x, pad_y)


def nms(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices of the kept boxes, best first."""
    order = np.argsort(-scores)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


def decode_yolo(
    output: npt.NDArray[np.float32],
    *,
    ratio: float,
    pad: tuple[int, int],
    image_shape: tuple[int, int],
    score_threshold: float | Sequence[float],
    iou_threshold: float,
    max_detections: int,
) -> Detections:
    """Decode a YOLOv8 head output ``(1, 4 + classes, anchors)`` into fixed-shape detections.

    ``score_threshold``: one for all classes, or one per class."""
    pred = output[0].T  # (anchors, 4 + classes)
    class_scores = pred[:, 4:]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(classes)), classes]
    if isinstance(score_threshold, int | float):
        mask = scores >= score_threshold
    else:
        mask = scores >= np.asarray(score_threshold, np.float32)[classes]
    pred, classes, scores = pred[mask], classes[mask], scores[mask]
    cx, cy, bw, bh = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    boxes -= np.array([pad[0], pad[1], pad[0], pad[1]], np.float32)
    boxes /= ratio
    h, w = image_shape
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    kept: list[int] = []
    for cls in np.unique(classes):
        idx = np.flatnonzero(classes == cls)
        kept.extend(int(idx[k]) for k in nms(boxes[idx], scores[idx], iou_threshold))
    kept.sort(key=lambda k: -float(scores[k]))
    kept = kept[:max_detections]
    out_boxes = np.zeros((max_detections, 4), np.float32)
    out_scores = np.zeros(max_detections, np.float32)
    out_classes = np.zeros(max_detections, np.int32)
    n = len(kept)
    if n:
        out_boxes[:n] = boxes[kept]
        out_scores[:n] = scores[kept]
        out_classes[:n] = classes[kept]
    return Detections(out_boxes, out_scores, out_classes, n)


def onnx_session(path: Path, threads: int = 0, providers: Sequence[str] = ("CPUExecutionProvider",)) -> Any:
    """An ONNX Runtime session on ``path``: ``threads`` intra-op threads (0: ONNX Runtime decides) and one
    inter-op thread, warnings and below not logged; the detector, both recognisers use it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=list(providers))


def model_for(precision: str) -> Path:
    """The shipped detector file for a ``VisionSettings.precision``."""
    return INT8_MODEL if precision == "int8" else DEFAULT_MODEL


class OnnxRuntimeBackend:
    """The YOLO detector on ONNX Runtime (CUDA / OpenVINO providers first when installed)."""

    name = "onnxruntime"

    def __init__(self, settings: VisionSettings) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        wanted = settings.providers or list(PREFERRED_PROVIDERS)
        providers = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
        path = Path(settings.model_path) if settings.model_path else model_for(settings.precision)
        if not path.is_file():
            raise BackendError("model_not_found", f"detector model {path} does not exist")
        self.session = onnx_session(path, settings.threads, providers)
        self.providers = self.session.get_providers()
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape
        self.model_path = path
        meta_path = DEFAULT_MODEL.with_suffix(".json") if path == INT8_MODEL else path.with_suffix(".json")
        self.meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        # a fixed input (1, 3, 416, 416) is padded square; a free one (1, 3, "height", "width") only up to the
        # next multiple of the model's stride, so wide frames cost less
        fixed = isinstance(shape[2], int) and isinstance(shape[3], int)
        self.input_size = int(shape[2]) if fixed else settings.input_size
        self.stride = 0 if fixed else STRIDE
        self.settings = settings
        self.thresholds = (settings.score_threshold, settings.container_score_threshold)  # per class

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Detections:
        blob, ratio, pad = letterbox(image_bgr, self.input_size, self.stride)
        (output,) = self.session.run(None, {self.input_name: blob})
        return decode_yolo(
            np.asarray(output, np.float32), ratio=ratio, pad=pad, image_shape=image_bgr.shape[:2],
            score_threshold=self.thresholds, iou_threshold=self.settings.iou_threshold,
            max_detections=self.settings.max_detections,
        )  # fmt: skip


_BACKENDS: dict[str, Callable[[VisionSettings], DetectorBackend]] = {"onnxruntime": OnnxRuntimeBackend}


def register(name: str, factory: Callable[[VisionSettings], DetectorBackend]) -> None:
    _BACKENDS[name] = factory


def create(settings: VisionSettings) -> DetectorBackend:
    try:
        factory = _BACKENDS[settings.type]
    except KeyError:
        raise BackendError("unknown_backend", f"{settings.type!r}; known: {', '.join(sorted(_BACKENDS))}") from None
    return factory(settings)

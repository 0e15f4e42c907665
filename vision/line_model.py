"""The project's own small text-line recogniser: one line of a licence plate or of a container code.

    model = LineModel()                       # vision/models/recogniser.onnx, one ONNX Runtime session
    for read in model.read([crop1, crop2]):   # BGR uint8 crops, all in one batched run
        print(read.text, read.score, read.min_prob)

A CNN + BiLSTM trained with CTC by ``vision/train/train_rec.py`` (torch stays in ``vision/train``; this module
needs ONNX Runtime, numpy and OpenCV only).  Every line is fitted to one fixed input size (greyscale, height
:data:`HEIGHT`, width :data:`WIDTH` from the model's json), so a batch of any number of lines is one run.
:func:`fit_line` and :func:`to_input` are the preprocessing; the training code imports them from here, so
training and reading cannot drift apart.  Decoding is greedy CTC (blank = class 0) in numpy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vision.backends import onnx_session

MODEL_PATH = Path(__file__).with_name("models") / "recogniser.onnx"
#: CTC classes after the blank (class 0): the characters a plate or a container code is written in.
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
HEIGHT = 32
WIDTH = 128


@dataclass(frozen=True, slots=True)
class LineRead:
    text: str  # A-Z0-9 only
    score: float  # mean of the read characters' probabilities; 0.0 when nothing was read
    min_prob: float  # the least sure character's probability; 0.0 when nothing was read


def _grey(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if image.dtype != np.uint8 or image.size == 0:
        raise ValueError(f"expected a non-empty uint8 image, got {image.shape} {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    if image.ndim == 3 and image.shape[2] == 3:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY), np.uint8)
    raise ValueError(f"expected an HxW, HxWx1, HxWx3 (BGR) or HxWx4 image, got shape {image.shape}")


def fit_line(image: npt.NDArray[np.uint8], height: int = HEIGHT, width: int = WIDTH) -> npt.NDArray[np.uint8]:
    """One line image (BGR, BGRA or grey uint8) as the model's ``height x width`` grey uint8 input.

    Resized to ``height`` keeping the aspect ratio (squeezed to ``width`` when wider), then padded on the
    right with the median of the resized line's border pixels (its background, not black).
    """
    grey = _grey(image)
    h, w = grey.shape
    new_w = int(min(width, max(1, round(height * w / h))))
    shrink = h > height or w > new_w
    resized = cv2.resize(grey, (new_w, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    resized = np.asarray(resized, np.uint8).reshape(height, new_w)
    if new_w == width:
        return np.ascontiguousarray(resized)
    border = np.concatenate([resized[0], resized[-1], resized[:, 0], resized[:, -1]])
    out = np.empty((height, width), np.uint8)
    out[:, :new_w] = resized
    out[:, new_w:] = np.uint8(np.median(border))
    return out


def to_input(lines: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Fitted lines (N, H, W) uint8 -> the model's input (N, 1, H, W) float32 in [-1, 1]."""
    return np.asarray(lines[:, None, :, :], np.float32) / np.float32(127.5) - np.float32(1.0)


def preprocess(
    images: Sequence[npt.NDArray[np.uint8]], height: int = HEIGHT, width: int = WIDTH
) -> npt.NDArray[np.float32]:
    """Images -> one batch (N, 1, height, width) float32: :func:`fit_line` then :func:`to_input`."""
    if not images:
        return np.zeros((0, 1, height, width), np.float32)
    return to_input(np.stack([fit_line(image, height, width) for image in images]))


def ctc_greedy(probs: npt.NDArray[np.float32], alphabet: str = ALPHABET) -> list[LineRead]:
    """Greedy CTC over (N, T, C) probabilities (class 0 the blank, class k the ``alphabet[k - 1]``): per row,
    the best class per step, repeats merged, blanks dropped."""
    if probs.ndim != 3 or probs.shape[2] != len(alphabet) + 1:
        raise ValueError(f"expected (N, T, {len(alphabet) + 1}) probabilities, got {probs.shape}")
    best = probs.argmax(axis=2)
    prob = probs.max(axis=2)
    keep = best != 0
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    out = []
    for row in range(probs.shape[0]):
        steps = np.flatnonzero(keep[row])
        if steps.size == 0:
            out.append(LineRead("", 0.0, 0.0))
            continue
        text = "".join(alphabet[int(k) - 1] for k in best[row, steps])
        kept = prob[row, steps]
        out.append(LineRead(text, float(kept.mean()), float(kept.min())))
    return out


def load_meta(model: Path) -> dict[str, Any]:
    """The json written beside the ONNX file by the training (alphabet, input size, figures)."""
    meta: dict[str, Any] = json.loads(model.with_suffix(".json").read_text(encoding="utf-8"))
    return meta


class LineModel:
    """One ONNX Runtime session; not thread-safe (one per thread, like :class:`vision.reader.Reader`)."""

    def __init__(self, model: Path | None = None, threads: int = 0) -> None:
        path = model or MODEL_PATH
        self.meta = load_meta(path)
        self.alphabet = str(self.meta["alphabet"])
        self.height = int(self.meta["height"])
        self.width = int(self.meta["width"])
        self.session = onnx_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name

    def probabilities(self, images: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """(N, T, len(alphabet) + 1) per-step class probabilities, all images in one run."""
        batch = preprocess(images, self.height, self.width)
        if batch.shape[0] == 0:
            return np.zeros((0, 0, len(self.alphabet) + 1), np.float32)
        (probs,) = self.session.run(None, {self.input_name: batch})
        return np.asarray(probs, np.float32)

    def read(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[LineRead]:
        """Each image as one line of text, in the order given (an empty list reads as [])."""
        if len(images) == 0:
            return []
        return ctc_greedy(self.probabilities(images), self.alphabet)

"""Text-line recognition on ONNX Runtime with rapidocr's recognition model, and line stitching.

:class:`LineRecogniser` runs the PP-OCR recognition model that ships inside the ``rapidocr`` wheel directly:
the same preprocessing as rapidocr (height 48, aspect kept, normalised to [-1, 1], padded to at least
320 px) and the same greedy CTC decoding, so a single line reads exactly as ``RapidOCR.recognize_txt``
reads it (``tests/vision/test_recogniser.py`` checks this on the real plate crops).

What it adds is :meth:`LineRecogniser.read_stitched`: several short lines of one object (a container code's
owner code, serial, check digit and size/type code) are set side by side, with a gap, in ONE input,
recognised in one pass, and the characters are given back to the line they were read in by their position
along the output sequence.  The model's cost depends on the input width, and every input is at least
320 px wide, so four short lines cost about what one costs, not four times as much.  The model looks along
the whole input, so a line's read can change with its neighbours: the reader stitches container-code lines,
whose check digit catches a changed read, and reads plate lines one by one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from vision.backends import onnx_session

HEIGHT = 48
MIN_WIDTH = 320  # rapidocr's (and PaddleOCR's) rec_img_shape width: narrower inputs read worse
#: Space between stitched lines, as a fraction of the line height: wide enough to read as a word break.
GAP = 0.75
#: Longest stitched input: lines beyond it go to another pass (a busy frame has dozens of lines).
MAX_STITCHED_WIDTH = 1600


def rapidocr_model() -> Path:
    """The recognition model inside the installed rapidocr wheel."""
    import rapidocr

    models = Path(rapidocr.__file__).with_name("models")
    found = sorted(models.glob("*rec*.onnx"))
    if not found:
        raise FileNotFoundError(f"no recognition model (*rec*.onnx) in {models}")
    return found[0]


@dataclass(frozen=True, slots=True)
class LineText:
    text: str
    score: float  # mean probability of the characters read; 0.0 when nothing was read


class LineRecogniser:
    """One ONNX Runtime session; not thread-safe (one per thread, like :class:`vision.reader.Reader`)."""

    def __init__(self, model: Path | None = None, threads: int = 0) -> None:
        path = model or rapidocr_model()
        self.session = onnx_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name
        meta = self.session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ValueError(f"{path}: no character list in the model's metadata")
        # CTC: index 0 is the blank, then the dictionary, then the space (as rapidocr builds it)
        self.characters = ["", *meta["character"].splitlines(), " "]

    # -- preprocessing ------------------------------------------------------------------------------
    @staticmethod
    def _scaled(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """``image`` at height 48 (aspect kept), CHW float in [-1, 1]."""
        h, w = image.shape[:2]
        width = max(1, math.ceil(HEIGHT * w / max(h, 1)))
        resized = cv2.resize(image, (width, HEIGHT)).astype(np.float32)
        return np.asarray(resized.transpose(2, 0, 1) / 127.5 - 1.0, np.float32)

    def _run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        (probs,) = self.session.run(None, {self.input_name: batch})
        return np.asarray(probs, np.float32)

    def _decode(self, probs: npt.NDArray[np.float32]) -> tuple[list[int], list[int], list[float]]:
        """Greedy CTC: (character indices, time steps, probabilities) of the characters read."""
        best = probs.argmax(axis=1)
        prob = probs.max(axis=1)
        keep = np.ones(len(best), bool)
        keep[1:] = best[1:] != best[:-1]
        keep &= best != 0
        steps = np.flatnonzero(keep)
        return [int(best[t]) for t in steps], [int(t) for t in steps], [float(prob[t]) for t in steps]

    # -- reading --------------------------------------------------------------------------------------
    def read(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[LineText]:
        """Each image as one line of text (rapidocr's ``recognize_txt``: one call per image, as it batches
        in sixes padded to the widest, which on a CPU saves nothing)."""
        out = []
        for image in images:
            scaled = self._scaled(image)
            width = max(MIN_WIDTH, scaled.shape[2])
            batch = np.zeros((1, 3, HEIGHT, width), np.float32)
            batch[0, :, :, : scaled.shape[2]] = scaled
            chars, _steps, probs = self._decode(self._run(batch)[0])
            text = "".join(self.characters[c] for c in chars)
            out.append(LineText(text, float(np.mean(probs)) if probs else 0.0))
        return out

    def read_stitched(
        self, images: Sequence[npt.NDArray[np.uint8]], max_width: int = MAX_STITCHED_WIDTH
    ) -> list[LineText]:
        """The lines side by side in one input, or in as few as keep each within ``max_width`` pixels (at
        height 48); each line's own text back (see the module docstring)."""
        parts = [self._scaled(image) for image in images]
        gap = int(HEIGHT * GAP)
        out: list[LineText] = []
        start = 0
        while start < len(parts):
            end, width = start + 1, parts[start].shape[2]
            while end < len(parts) and width + gap + parts[end].shape[2] <= max_width:
                width += gap + parts[end].shape[2]
                end += 1
            out.extend(self._stitched(images[start:end], parts[start:end], gap))
            start = end
        return out

    def _stitched(
        self, images: Sequence[npt.NDArray[np.uint8]], parts: Sequence[npt.NDArray[np.float32]], gap: int
    ) -> list[LineText]:
        spans = []
        x = 0
        for part in parts:
            spans.append((x, x + part.shape[2]))
            x += part.shape[2] + gap
        width = max(MIN_WIDTH, x - gap)
        batch = np.zeros((1, 3, HEIGHT, width), np.float32)
        for part, image, (start, end) in zip(parts, images, spans, strict=True):
            batch[0, :, :, start:end] = part
            if end < width:  # the gap after a line: its own background (border median), not grey padding
                border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.float32)
                fill = np.median(border, axis=0) / 127.5 - 1.0
                batch[0, :, :, end : min(width, end + gap)] = fill[:, None, None]
        probs = self._run(batch)[0]
        step = width / probs.shape[0]  # input pixels per output step
        chars, steps, char_probs = self._decode(probs)
        texts: list[list[str]] = [[] for _ in images]
        scores: list[list[float]] = [[] for _ in images]
        centres = np.array([(a + b) / 2 for a, b in spans], np.float32)
        for c, t, p in zip(chars, steps, char_probs, strict=True):
            x_at = (t + 0.5) * step
            inside = [k for k, (a, b) in enumerate(spans) if a <= x_at < b]
            if self.characters[c] == " ":
                if inside:  # a space within a line ("005154 8"); the break between lines is dropped
                    texts[inside[0]].append(" ")
                continue
            near = [k for k, (a, b) in enumerate(spans) if a - gap / 2 <= x_at < b + gap / 2]
            k = near[0] if near else int(np.argmin(np.abs(centres - x_at)))
            texts[k].append(self.characters[c])
            scores[k].append(p)
        return [
            LineText("".join(t).strip(), float(np.mean(s)) if s else 0.0) for t, s in zip(texts, scores, strict=True)
        ]

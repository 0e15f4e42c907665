"""The direct recogniser: the same reads as rapidocr's own call, and stitched lines read back line by line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from vision.datasets import plate_split
from vision.reader import _PADDING, _crop, load_image
from vision.recogniser import LineRecogniser
from vision.train.synth import find_fonts


@pytest.fixture(scope="module")
def recogniser() -> LineRecogniser:
    return LineRecogniser(threads=1)


def _plate_crops(shared_data: Path, n: int) -> list[np.ndarray]:
    train, _eval = plate_split(shared_data)
    crops = []
    for item in [it for it in train if it.box_xyxy is not None][:n]:
        crop, _box = _crop(load_image(item.path), np.asarray(item.box_xyxy, np.float32), *_PADDING[0])
        assert crop is not None
        crops.append(crop)
    return crops


def test_reads_real_plate_crops_exactly_as_rapidocr(recogniser: LineRecogniser, shared_data: Path) -> None:
    from rapidocr import RapidOCR

    ocr = RapidOCR(params={"Global.log_level": "error", "EngineConfig.onnxruntime.intra_op_num_threads": 1})
    crops = _plate_crops(shared_data, 16)
    ours = recogniser.read(crops)
    for crop, mine in zip(crops, ours, strict=True):
        theirs = ocr.recognize_txt([crop])
        assert theirs.txts is not None
        assert theirs.scores is not None
        assert mine.text == str(theirs.txts[0])
        assert mine.score == pytest.approx(float(theirs.scores[0]), abs=2e-3)


def _line(text: str, height: int = 60, *, ink: int = 235, paper: tuple[int, int, int] = (40, 70, 60)) -> np.ndarray:
    """A clean rendered text line (BGR), light characters on dark paint like a container door."""
    font = ImageFont.truetype(str(find_fonts()[0]), int(height * 0.75))
    probe = ImageDraw.Draw(Image.new("RGB", (4, 4)))
    width = int(probe.textlength(text, font=font)) + height // 2
    image = Image.new("RGB", (width, height), paper)
    ImageDraw.Draw(image).text((height // 4, height // 10), text, font=font, fill=(ink, ink, ink))
    return np.asarray(image)[:, :, ::-1].copy()


def test_stitched_lines_come_back_line_by_line(recogniser: LineRecogniser) -> None:
    texts = ["DFSU", "438255", "9", "42G1"]
    lines = [_line(t) for t in texts]
    separately = [r.text for r in recogniser.read(lines)]
    assert separately == texts
    stitched = recogniser.read_stitched(lines)
    assert [r.text for r in stitched] == texts
    assert all(0.5 < r.score <= 1.0 for r in stitched)
    # the order given is the order returned, whatever it is
    assert [r.text for r in recogniser.read_stitched(lines[::-1])] == texts[::-1]


def test_stitched_reading_keeps_spaces_within_a_line(recogniser: LineRecogniser) -> None:
    stitched = recogniser.read_stitched([_line("CMAU"), _line("005154 8")])
    assert stitched[0].text == "CMAU"
    assert stitched[1].text.replace(" ", "") == "0051548"


def test_empty_inputs(recogniser: LineRecogniser) -> None:
    assert recogniser.read([]) == []
    assert recogniser.read_stitched([]) == []
    blank = recogniser.read([np.full((40, 120, 3), 128, np.uint8)])
    assert blank[0].text == ""
    assert blank[0].score == 0.0

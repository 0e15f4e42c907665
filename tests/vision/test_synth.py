"""Synthetic training scenes are deterministic, and their boxes cover the rendered code."""

from __future__ import annotations

import random

import numpy as np

from vision import iso6346
from vision.train import synth


def test_same_seed_same_scene() -> None:
    fonts = synth.find_fonts()
    a = synth.container_scene(random.Random(7), fonts)
    b = synth.container_scene(random.Random(7), fonts)
    c = synth.container_scene(random.Random(8), fonts)
    assert np.array_equal(a.image, b.image)
    assert a.boxes == b.boxes
    assert not np.array_equal(a.image, c.image)


def test_random_codes_are_valid_iso6346() -> None:
    rng = random.Random(1)
    codes = [synth.random_code(rng) for _ in range(200)]
    assert all(iso6346.is_valid(code) for code in codes)


def test_container_box_lies_in_the_frame_and_holds_ink() -> None:
    fonts = synth.find_fonts()
    for seed in range(5):
        scene = synth.container_scene(random.Random(seed), fonts)
        h, w = scene.image.shape[:2]
        assert len(scene.boxes) == 1
        cls, x1, y1, x2, y2 = scene.boxes[0]
        assert cls == 1
        assert 0 <= x1 < x2 <= w + 1
        assert 0 <= y1 < y2 <= h + 1
        inside = scene.image[int(y1) : int(y2), int(x1) : int(x2)].astype(float)
        assert inside.std() > 5  # characters, not a flat patch


def test_gate_scenes_are_deterministic_with_small_codes_in_the_frame() -> None:
    """Gate-camera frames: same seed, same frame; one code box inside the frame, 8-45% of its width (the
    code sizes of real gate cameras), holding characters; over a photo, the plate stays labelled."""
    fonts = synth.find_fonts()
    a = synth.gate_scene(random.Random(11), fonts)
    b = synth.gate_scene(random.Random(11), fonts)
    assert np.array_equal(a.image, b.image)
    assert a.boxes == b.boxes
    for seed in range(6):
        scene = synth.gate_scene(random.Random(seed), fonts)
        h, w = scene.image.shape[:2]
        assert (w, h) == (960, 540)
        codes = [box for box in scene.boxes if box[0] == 1]
        assert len(codes) == 1
        _, x1, y1, x2, y2 = codes[0]
        assert 0 <= x1 < x2 <= w + 1
        assert 0 <= y1 < y2 <= h + 1
        assert 0.08 * w <= x2 - x1 <= 0.45 * w
        assert scene.image[int(y1) : int(y2), int(x1) : int(x2)].astype(float).std() > 5
    photo = np.full((480, 640, 3), 90, np.uint8)
    photo[300:340, 250:390] = 240  # a bright plate-sized patch
    scene = synth.gate_scene(random.Random(3), fonts, photo, (250.0, 300.0, 390.0, 340.0))
    plates = [box for box in scene.boxes if box[0] == 0]
    assert len(plates) <= 1
    for _, x1, y1, x2, y2 in plates:
        assert 0 <= x1 < x2 <= 961
        assert 0 <= y1 < y2 <= 541

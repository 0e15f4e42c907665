"""``cedetect read``: one JSON line per image, named errors for bad files, the batch goes on."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from vision import cli
from vision.datasets import load_containers, plate_split


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    parser = argparse.ArgumentParser(prog="cedetect")
    subparsers = parser.add_subparsers(dest="command", required=True)
    cli.register(subparsers)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    lines = capsys.readouterr().out.splitlines()
    return code, [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    _, evaluation = plate_split(shared_data)
    jpeg = next(item.path for item in evaluation if item.path.suffix == ".jpg").read_bytes()
    files = {
        "corrupt_image": (root / "corrupt.jpg", jpeg[: len(jpeg) // 2]),
        "empty_file": (root / "empty.jpg", b""),
        "not_an_image": (root / "notes.jpg", b"this is not a picture\n"),
    }
    gif = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(gif, format="GIF")
    files["unsupported_format"] = (root / "frame.gif", gif.getvalue())
    ok, wide = cv2.imencode(".jpg", np.full((30, 20_000, 3), 90, np.uint8))
    assert ok
    files["image_too_large"] = (root / "wide.jpg", bytes(wide))
    out = {}
    for reason, (path, data) in files.items():
        path.write_bytes(data)
        out[reason] = path
    out["unreadable_file"] = root / "does-not-exist.jpg"
    return out


@pytest.fixture(scope="module")
def no_plate_frame(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A real photo's sky/road corner with the plate far away: nothing to read."""
    _, evaluation = plate_split(shared_data)
    item = next(i for i in evaluation if i.box_xyxy is not None and i.box_xyxy[1] > 250)
    image = cv2.imread(str(item.path))
    assert image is not None
    assert item.box_xyxy is not None
    corner = image[: item.box_xyxy[1] - 60, :]
    path = tmp_path_factory.mktemp("noplate") / "no_plate.jpg"
    cv2.imwrite(str(path), corner)
    return path


def test_batch_with_bad_files_goes_on(
    capsys: pytest.CaptureFixture[str], bad_files: dict[str, Path], no_plate_frame: Path, shared_data: Path
) -> None:
    container = load_containers(shared_data)[-1]  # container.jpg, TTNU4172731
    argv = ["read", str(bad_files["corrupt_image"]), str(container.path)]
    argv += [str(p) for reason, p in bad_files.items() if reason != "corrupt_image"]
    argv += [str(no_plate_frame)]
    code, lines = _run(argv, capsys)
    assert code == 1  # some images could not be read
    assert [line["image"] for line in lines] == argv[1:]
    by_image = {line["image"]: line for line in lines}
    for reason, path in bad_files.items():
        assert by_image[str(path)] == {"image": str(path), "error": reason}
    good = by_image[str(container.path)]
    assert set(good) == {"image", "plates", "containers"}
    assert [c["code"] for c in good["containers"] if c["check_digit_ok"]] == ["TTNU4172731"]
    for entry in good["containers"]:
        assert set(entry) == {"code", "check_digit_ok", "confidence", "box_xyxy"}
        assert 0.0 <= entry["confidence"] <= 1.0
        assert len(entry["box_xyxy"]) == 4
    assert by_image[str(no_plate_frame)] == {"image": str(no_plate_frame), "plates": [], "containers": []}


def test_all_good_images_exit_zero(capsys: pytest.CaptureFixture[str], shared_data: Path) -> None:
    _, evaluation = plate_split(shared_data)
    paths = [str(item.path) for item in evaluation[:3]]
    code, lines = _run(["read", "--details", *paths], capsys)
    assert code == 0
    assert [line["image"] for line in lines] == paths
    for line in lines:
        for plate in line["plates"]:
            assert set(plate) == {"text", "confidence", "box_xyxy", "raw_text", "valid", "grammar", "repaired"}
            assert (plate["text"].isalnum() and plate["text"].isupper()) or plate["text"].isdigit()


def test_registered_as_a_cedetect_command() -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="cedetect.commands")}
    assert names["read"] == "vision.cli:register"

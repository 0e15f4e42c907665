"""Bad input gets a named reason: empty, not an image, wrong format, corrupt, too large, unreadable."""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cedetect.config import VisionSettings
from vision.reader import ImageError, decode_image, load_image


@pytest.fixture(scope="module")
def real_jpeg(shared_data: Path) -> bytes:
    records = json.loads((shared_data / "plates" / "labels.json").read_text())
    first = next(r for r in records if r["format"] == "JPEG")
    data: bytes = (shared_data / "plates" / first["file"]).read_bytes()
    return data


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming ``width``x``height``, with one tiny IDAT: cheap to build."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def reason(data: bytes, settings: VisionSettings | None = None) -> str:
    with pytest.raises(ImageError) as info:
        decode_image(data, settings)
    return info.value.reason


def test_real_jpeg_decodes_to_bgr(real_jpeg: bytes, shared_data: Path) -> None:
    image = decode_image(real_jpeg)
    assert image.dtype == np.uint8
    assert image.ndim == 3
    assert image.shape[2] == 3
    import cv2

    reference = cv2.imdecode(np.frombuffer(real_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert reference is not None
    assert image.shape == reference.shape
    assert np.abs(image.astype(int) - reference.astype(int)).mean() < 3  # same channel order (BGR)


def test_rgba_png_and_greyscale_png_decode(shared_data: Path) -> None:
    rgba = decode_image((shared_data / "plates" / "images" / "fast_alpr" / "test_image.png").read_bytes())
    assert rgba.shape == (331, 518, 3)
    grey_files = sorted((shared_data / "plates" / "images" / "fast_plate_ocr").glob("*.png"))
    assert grey_files
    assert decode_image(grey_files[0].read_bytes()).shape[2] == 3


def test_empty(tmp_path: Path) -> None:
    assert reason(b"") == "empty_file"
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError) as info:
        load_image(empty)
    assert info.value.reason == "empty_file"


def test_not_an_image() -> None:
    assert reason(b"%PDF-1.7\n" + b"x" * 100) == "not_an_image"
    assert reason(b"hello, world") == "not_an_image"


def test_unsupported_format() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="GIF")
    assert reason(buf.getvalue()) == "unsupported_format"


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.9])
def test_truncated_jpeg_is_corrupt(real_jpeg: bytes, keep: float) -> None:
    assert reason(real_jpeg[: int(len(real_jpeg) * keep)]) == "corrupt_image"


def test_jpeg_with_garbage_in_the_middle_is_corrupt(real_jpeg: bytes) -> None:
    broken = bytearray(real_jpeg)
    broken[600:4000] = b"\xff" * 3400  # markers everywhere: the decoder must refuse, not crash
    assert reason(bytes(broken)) == "corrupt_image"


def test_header_only_jpeg_is_corrupt(real_jpeg: bytes) -> None:
    assert reason(real_jpeg[:2] + b"\xff\xd9") in {"corrupt_image", "not_an_image"}


def test_twenty_thousand_pixels_wide_is_refused_before_decoding() -> None:
    data = _png_header_only(20_000, 600)
    assert len(data) < 200  # nothing like 36 MB of pixels was ever built
    assert reason(data) == "image_too_large"


def test_huge_area_is_refused() -> None:
    assert reason(_png_header_only(9_000, 9_000)) == "image_too_large"
    assert reason(_png_header_only(60_000, 60_000)) == "image_too_large"  # Pillow's decompression-bomb path


def test_real_twenty_thousand_pixel_jpeg(tmp_path: Path) -> None:
    wide = np.full((40, 20_000, 3), 128, np.uint8)
    import cv2

    ok, buf = cv2.imencode(".jpg", wide)
    assert ok
    path = tmp_path / "wide.jpg"
    path.write_bytes(bytes(buf))
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert info.value.reason == "image_too_large"
    assert load_image(path, VisionSettings(max_side_px=25_000)).shape == (40, 20_000, 3)


def test_limits_come_from_settings(real_jpeg: bytes) -> None:
    assert reason(real_jpeg, VisionSettings(max_file_bytes=100)) == "file_too_large"
    assert reason(real_jpeg, VisionSettings(max_side_px=100)) == "image_too_large"


def test_unreadable_files(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.jpg", tmp_path):
        with pytest.raises(ImageError) as info:
            load_image(path)
        assert info.value.reason == "unreadable_file"

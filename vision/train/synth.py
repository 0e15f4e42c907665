"""Deterministic synthetic training scenes: ISO 6346 container door markings and licence plates.

Everything is drawn from a seeded ``random.Random`` so the same seed gives the same images.  Container
markings follow real door layouts (owner code + category, serial, boxed check digit, size/type code below,
sometimes weight tables) in condensed bold fonts on painted corrugated metal, with locking rods crossing,
then perspective, blur, noise and JPEG artefacts.  The images themselves are not committed.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vision.iso6346 import check_digit

FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts"))
FONT_NAMES = (
    "LiberationSansNarrow-Bold.ttf",
    "LiberationSansNarrow-Regular.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSansCondensed.ttf",
    "LiberationSans-Bold.ttf",
    "LiberationSans-Regular.ttf",
    "DejaVuSans-Bold.ttf",
    "LiberationMono-Bold.ttf",
    "DejaVuSansMono-Bold.ttf",
)
# Painted-steel container colours (BGR-free RGB tuples): Maersk blue-grey, red, green, orange, white, grey...
CONTAINER_COLOURS = (
    (170, 40, 30), (120, 30, 25), (30, 80, 150), (40, 60, 110), (30, 110, 60), (200, 110, 40),
    (150, 75, 40), (225, 225, 220), (140, 145, 150), (90, 95, 100), (160, 170, 180), (20, 110, 120),
    (190, 160, 60), (60, 50, 45),
)  # fmt: skip
SIZE_TYPES = ("22G1", "42G1", "45G1", "22G0", "45R1", "22T6", "L5G1", "25G1", "42R1", "22U1")


def find_fonts() -> list[Path]:
    found: dict[str, Path] = {}
    for root in FONT_DIRS:
        if root.is_dir():
            for path in root.rglob("*.ttf"):
                found.setdefault(path.name, path)
    fonts = [found[name] for name in FONT_NAMES if name in found]
    if not fonts:
        raise RuntimeError("no TrueType fonts found (install fonts-dejavu-core or fonts-liberation)")
    return fonts


def random_code(rng: random.Random) -> str:
    owner = "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
    category = rng.choices("UJZ", weights=(90, 5, 5))[0]
    serial = "".join(rng.choice(string.digits) for _ in range(6))
    head = owner + category + serial
    return head + str(check_digit(head))


@dataclass(frozen=True, slots=True)
class Rendered:
    image: np.ndarray  # BGR uint8
    boxes: list[tuple[int, float, float, float, float]]  # (class, x1, y1, x2, y2) in pixels


def _metal(rng: random.Random, width: int, height: int, colour: tuple[int, int, int]) -> np.ndarray:
    """Painted corrugated steel: base colour, vertical ribs, grime, rust speckles (RGB)."""
    base = np.empty((height, width, 3), np.float32)
    base[:] = colour
    period = rng.uniform(18, 45)
    phase = rng.uniform(0, 6.3)
    xs = np.arange(width, dtype=np.float32)
    rib = np.sin(xs / period * 2 * np.pi + phase)[None, :, None] * rng.uniform(6, 22)
    base += rib
    shade = np.linspace(rng.uniform(-30, 10), rng.uniform(-10, 30), height, dtype=np.float32)[:, None, None]
    base += shade
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    grime = cv2.GaussianBlur(nprng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), rng.uniform(3, 15))
    base += grime[:, :, None] * rng.uniform(5, 25)
    base += nprng.normal(0, rng.uniform(1, 6), base.shape).astype(np.float32)
    return np.clip(base, 0, 255).astype(np.uint8)


def _font(rng: random.Random, fonts: list[Path], size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(rng.choice(fonts[:7] if rng.random() < 0.85 else fonts)), size)


def render_container_patch(
    rng: random.Random, fonts: list[Path], code: str
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A container door (or side) with the code marked on it; returns (RGB patch, code box)."""
    width = rng.randint(520, 900)
    height = int(width * rng.uniform(0.55, 0.9))
    r, g, b = (int(np.clip(c + rng.randint(-20, 20), 0, 255)) for c in rng.choice(CONTAINER_COLOURS))
    colour = (r, g, b)
    img = Image.fromarray(_metal(rng, width, height, colour))
    draw = ImageDraw.Draw(img)
    light = sum(colour) / 3 > 140
    ink = (rng.randint(10, 50),) * 3 if light else (rng.randint(215, 250),) * 3
    layout = rng.random()
    if layout < 0.6:  # one row must fit the width
        size = int(width * rng.uniform(0.05, 0.085))
    elif layout < 0.85:
        size = int(height * rng.uniform(0.07, 0.12))
    else:  # eleven stacked characters must fit the height
        size = int(height * 0.8 / 11.6 * rng.uniform(0.75, 1.0))
    font = _font(rng, fonts, size)
    x = int(width * rng.uniform(0.05, 0.35))
    y = int(height * rng.uniform(0.08, 0.35)) if layout < 0.85 else int(height * rng.uniform(0.02, 0.08))
    gap = size * rng.uniform(0.4, 1.6)
    owner, serial, check = code[:4], code[4:10], code[10]
    if layout < 0.6:  # one row: OWNU 123456 [7], the serial often set lower than the owner code (door style)
        spaced = serial if rng.random() < 0.5 else f"{serial[:3]} {serial[3:]}"
        drop = size * rng.uniform(0.25, 0.75) if layout < 0.35 else 0.0
        row = draw.textlength(owner, font=font) + gap + draw.textlength(spaced, font=font) + size * 1.6
        x = int(max(2, min(x, width * 0.98 - row)))
        parts = [(owner, x, y), (spaced, x + draw.textlength(owner, font=font) + gap, y + drop)]
        check_x = parts[1][1] + draw.textlength(spaced, font=font) + size * rng.uniform(0.3, 0.9)
        check_y = y + drop * rng.uniform(1.0, 1.6)
    elif layout < 0.85:  # two lines: OWNU / 123456 [7]
        parts = [(owner, x, y), (serial, x, y + size * 1.25)]
        check_x = x + draw.textlength(serial, font=font) + size * 0.35
        check_y = y + size * 1.25
    else:  # vertical stack, one character per line
        parts = [(c, x, y + i * size * 1.05) for i, c in enumerate(owner + serial)]
        check_x, check_y = x, y + 10 * size * 1.05
    x1, y1, x2, y2 = float("inf"), float("inf"), 0.0, 0.0
    for text, px, py in parts:
        draw.text((px, py), text, font=font, fill=ink)
        bx1, by1, bx2, by2 = draw.textbbox((px, py), text, font=font)
        x1, y1, x2, y2 = min(x1, bx1), min(y1, by1), max(x2, bx2), max(y2, by2)
    draw.text((check_x, check_y), check, font=font, fill=ink)
    cx1, cy1, cx2, cy2 = draw.textbbox((check_x, check_y), check, font=font)
    if rng.random() < 0.7:  # the boxed check digit
        pad = max(2, size // 10)
        draw.rectangle((cx1 - pad, cy1 - pad, cx2 + pad, cy2 + pad), outline=ink, width=max(1, size // 14))
        cx1, cy1, cx2, cy2 = cx1 - pad, cy1 - pad, cx2 + pad, cy2 + pad
    x1, y1, x2, y2 = min(x1, cx1), min(y1, cy1), max(x2, cx2), max(y2, cy2)
    if layout < 0.85 and rng.random() < 0.8:  # size/type code below
        draw.text((x + rng.uniform(0, width * 0.2), y2 + size * 0.3), rng.choice(SIZE_TYPES), font=font, fill=ink)
    if rng.random() < 0.5:  # weight table: distractor text
        small = _font(rng, fonts, max(10, int(size * 0.6)))
        ty = y2 + size * 2.0
        for label in ("MAX.GROSS", "TARE", "PAYLOAD", "CUB.CAP."):
            if ty > height - size:
                break
            draw.text((x, ty), f"{label} {rng.randint(2000, 32500):,} KGS", font=small, fill=ink)
            ty += size * 0.8
    if rng.random() < 0.4:  # a brand name or logo text elsewhere
        brand = rng.choice(("MAERSK", "TRITON", "TEXTAINER", "CMA CGM", "SEACO", "CAI", "HAPAG-LLOYD", "MSC"))
        draw.text((width * rng.uniform(0.05, 0.6), height * rng.uniform(0.6, 0.85)), brand,
                  font=_font(rng, fonts, int(size * 1.3)), fill=ink)  # fmt: skip
    patch = np.asarray(img).copy()
    for _ in range(rng.randint(0, 4)):  # locking rods crossing the marking
        rx = rng.randint(0, width - 1)
        rod = rng.randint(6, 16)
        grey = rng.randint(150, 230)
        cv2.rectangle(patch, (rx, 0), (rx + rod, height), (grey, grey, grey), -1)
        cv2.line(patch, (rx + rod // 3, 0), (rx + rod // 3, height), (255, 255, 255), 1)
    return patch, (x1, y1, x2, y2)


def _perspective(
    rng: random.Random, patch: np.ndarray, box: tuple[float, float, float, float], strength: float
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    h, w = patch.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    jitter = np.array(
        [[rng.uniform(-1, 1) * w * strength, rng.uniform(-1, 1) * h * strength] for _ in range(4)], np.float32
    )
    dst = src + jitter
    dst -= dst.min(axis=0)
    out_w, out_h = int(dst[:, 0].max()) + 1, int(dst[:, 1].max()) + 1
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(patch, matrix, (out_w, out_h), borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, (out_w, out_h))
    x1, y1, x2, y2 = box
    corners = np.array([[[x1, y1], [x2, y1], [x2, y2], [x1, y2]]], np.float32)
    moved = cv2.perspectiveTransform(corners, matrix)[0]
    new_box = (float(moved[:, 0].min()), float(moved[:, 1].min()), float(moved[:, 0].max()), float(moved[:, 1].max()))
    return np.dstack([warped, mask]), new_box


def degrade(rng: random.Random, image: np.ndarray) -> np.ndarray:
    """Camera artefacts: exposure, blur, sensor noise, JPEG compression (BGR in, BGR out)."""
    out: Any = image.astype(np.float32)
    out = out * rng.uniform(0.45, 1.25) + rng.uniform(-25, 25)
    if rng.random() < 0.5:
        k = rng.choice((3, 5))
        out = cv2.GaussianBlur(out, (k, k), 0)
    if rng.random() < 0.2:
        length = rng.randint(3, 9)
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        out = cv2.filter2D(out, -1, kernel)
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    out += nprng.normal(0, rng.uniform(0, 9), out.shape).astype(np.float32)
    out8 = np.clip(out, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out8, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(35, 92)])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    return np.asarray(decoded if decoded is not None else out8, np.uint8)


def paste_container(
    rng: random.Random,
    fonts: list[Path],
    background: np.ndarray,
    avoid: list[tuple[float, float, float, float]],
    code: str | None = None,
    scale_range: tuple[float, float] = (0.35, 0.95),
) -> tuple[np.ndarray, tuple[float, float, float, float] | None]:
    """Paste a container marking on ``background`` (BGR) away from ``avoid`` boxes; returns the code box."""
    patch_rgb, box = render_container_patch(rng, fonts, code or random_code(rng))
    warped, box = _perspective(rng, patch_rgb[:, :, ::-1].copy(), box, rng.uniform(0.0, 0.18))
    bh, bw = background.shape[:2]
    scale = rng.uniform(*scale_range) * min(bw / warped.shape[1], bh / warped.shape[0])
    warped = cv2.resize(warped, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    box = (box[0] * scale, box[1] * scale, box[2] * scale, box[3] * scale)
    ph, pw = warped.shape[:2]
    for _ in range(30):
        ox, oy = rng.randint(0, max(0, bw - pw)), rng.randint(0, max(0, bh - ph))
        placed = (ox, oy, ox + pw, oy + ph)
        if not any(_overlaps(placed, other) for other in avoid):
            break
    else:
        return background, None
    out = background.copy()
    region = out[oy : oy + ph, ox : ox + pw].astype(np.float32)
    alpha = warped[:, :, 3:4].astype(np.float32) / 255.0
    out[oy : oy + ph, ox : ox + pw] = (warped[:, :, :3] * alpha + region * (1 - alpha)).astype(np.uint8)
    x1, y1, x2, y2 = box
    return out, (x1 + ox, y1 + oy, x2 + ox, y2 + oy)


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def container_scene(rng: random.Random, fonts: list[Path], size: tuple[int, int] = (960, 540)) -> Rendered:
    """A gate-camera-like frame filled mostly by one container door."""
    w, h = size
    colour = rng.choice(CONTAINER_COLOURS)
    background = _metal(rng, w, h, tuple(int(c * rng.uniform(0.3, 0.8)) for c in colour))  # type: ignore[arg-type]
    background = background[:, :, ::-1].copy()
    out, box = paste_container(rng, fonts, background, [], scale_range=(0.75, 1.0))
    boxes = [(1, *box)] if box else []
    return Rendered(degrade(rng, out), boxes)


PLATE_FORMATS = ("LLL9999", "LLL9L99", "99L9999", "LL999LL", "L9LLL", "LL99LLL", "99LL999", "LLL999")


def render_plate(rng: random.Random, fonts: list[Path]) -> np.ndarray:
    """A synthetic plate crop (BGR): white/yellow/grey plate, dark characters, optional blue band."""
    fmt = rng.choice(PLATE_FORMATS)
    text = "".join(rng.choice(string.ascii_uppercase) if c == "L" else rng.choice(string.digits) for c in fmt)
    if rng.random() < 0.5:
        text = text[:2] + " " + text[2:]
    font = ImageFont.truetype(str(rng.choice(fonts)), rng.randint(40, 60))
    probe = ImageDraw.Draw(Image.new("RGB", (4, 4)))
    tw = probe.textlength(text, font=font)
    band = rng.random() < 0.5
    w, h = int(tw + 40 + (28 if band else 0)), rng.randint(62, 80)
    paper = rng.choice(((240, 240, 235), (235, 200, 40), (200, 205, 210), (250, 250, 250)))
    img = Image.new("RGB", (w, h), paper)
    draw = ImageDraw.Draw(img)
    draw.rectangle((1, 1, w - 2, h - 2), outline=(20, 20, 20), width=3)
    if band:
        draw.rectangle((3, 3, 28, h - 4), fill=(20, 50, 160))
    draw.text((20 + (28 if band else 0), (h - font.size) // 2 - 4), text, font=font, fill=(15, 15, 15))
    return np.asarray(img)[:, :, ::-1].copy()


def paste_plate(
    rng: random.Random, fonts: list[Path], background: np.ndarray, avoid: list[tuple[float, float, float, float]]
) -> tuple[np.ndarray, tuple[float, float, float, float] | None]:
    plate = render_plate(rng, fonts)
    bh, bw = background.shape[:2]
    target_w = rng.uniform(0.08, 0.3) * bw
    scale = target_w / plate.shape[1]
    plate = cv2.resize(plate, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    warped, box = _perspective(rng, plate, (0, 0, plate.shape[1], plate.shape[0]), rng.uniform(0, 0.08))
    ph, pw = warped.shape[:2]
    if pw >= bw or ph >= bh:
        return background, None
    for _ in range(30):
        ox, oy = rng.randint(0, bw - pw), rng.randint(0, bh - ph)
        if not any(_overlaps((ox, oy, ox + pw, oy + ph), other) for other in avoid):
            break
    else:
        return background, None
    out = background.copy()
    region = out[oy : oy + ph, ox : ox + pw].astype(np.float32)
    alpha = warped[:, :, 3:4].astype(np.float32) / 255.0
    out[oy : oy + ph, ox : ox + pw] = (warped[:, :, :3] * alpha + region * (1 - alpha)).astype(np.uint8)
    return out, (box[0] + ox, box[1] + oy, box[2] + ox, box[3] + oy)


def jpeg_bytes(image_bgr: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf)

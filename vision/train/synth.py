"""Deterministic synthetic training scenes: ISO 6346 container door markings and licence plates.

Everything is drawn from a seeded ``random.Random`` so the same seed gives the same images.  Container
markings follow real door layouts (owner code + category, serial, boxed check digit, size/type code below,
sometimes weight tables) in condensed bold fonts on painted corrugated metal, with locking rods crossing,
then perspective, blur, noise and JPEG artefacts.  :func:`gate_scene` draws what a gate camera sees: the
back doors of a container at a third to a half of the frame width over a yard or a train-side photo, so the
code is as small as in real frames (characters ~10-32 px high at 960 px), in the staggered door layout, with
locking rods crossing it, dim and low in contrast.  The images themselves are not committed.
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


def font_files() -> dict[str, Path]:
    """Every TrueType file under :data:`FONT_DIRS` by file name (the first found, in path order)."""
    found: dict[str, Path] = {}
    for root in FONT_DIRS:
        if root.is_dir():
            for path in sorted(root.rglob("*.ttf")):
                found.setdefault(path.name, path)
    return found


def find_fonts() -> list[Path]:
    found = font_files()
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
    _blend(out, warped, ox, oy)
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
    _blend(out, warped, ox, oy)
    return out, (box[0] + ox, box[1] + oy, box[2] + ox, box[3] + oy)


def jpeg_bytes(image_bgr: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf)


# --- gate-camera scenes -------------------------------------------------------------------------------------
# An elevated gate camera (960x540) sees the back doors of a container on a truck: the door fills a third to a
# half of the frame and the code is small (characters ~10-32 px high, the code region 10-25% of the frame
# width).  Door paint is mostly dark with light-grey characters, or light with dark ones.

DOOR_PAINTS_DARK = (
    (35, 45, 75), (30, 50, 95), (45, 60, 85), (25, 85, 90), (20, 100, 105), (40, 110, 110), (35, 70, 45),
    (50, 85, 55), (70, 75, 80), (95, 100, 105), (100, 35, 30), (125, 45, 35), (60, 50, 45), (140, 60, 35),
)  # fmt: skip
DOOR_PAINTS_LIGHT = ((205, 205, 200), (220, 220, 215), (185, 190, 195), (200, 185, 150), (170, 175, 170))
BRANDS = ("MAERSK", "TRITON", "TEXTAINER", "CMA CGM", "SEACO", "CAI", "HAPAG-LLOYD", "MSC", "DONG FANG", "COSCO")
CAP_HEIGHT = 0.72  # cap height / font size of the DejaVu and Liberation faces


def _jitter_colour(rng: random.Random, colour: tuple[int, int, int], spread: int) -> tuple[int, int, int]:
    r, g, b = (int(np.clip(c + rng.randint(-spread, spread), 0, 255)) for c in colour)
    return (r, g, b)


def render_gate_door(
    rng: random.Random, fonts: list[Path], code: str, door_w: int, char_h: float
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The back doors of a container, ``door_w`` px wide, code characters ``char_h`` px high (RGB, code box).

    Layouts: staggered door style (owner code + category high on the right leaf, the serial lower and to the
    right, the boxed check digit lower still, the size/type code under the serial) or one row with the size/
    type code below.  The box runs from the owner code to the check digit, whatever lies between.  Drawn at
    twice the size and reduced, so the small characters are anti-aliased like a camera's.
    """
    ss = 2
    width = int(door_w * ss)
    height = int(width * rng.uniform(0.95, 1.2))
    dark = rng.random() < 0.75
    paint = _jitter_colour(rng, rng.choice(DOOR_PAINTS_DARK if dark else DOOR_PAINTS_LIGHT), 15)
    if rng.random() < 0.5:
        metal = _metal(rng, width, height, paint)
    else:  # horizontal ribs
        metal = np.ascontiguousarray(_metal(rng, height, width, paint).transpose(1, 0, 2))
    img = Image.fromarray(metal)
    draw = ImageDraw.Draw(img)
    frame_col = tuple(int(c * rng.uniform(0.45, 0.8)) for c in paint)
    post = int(width * rng.uniform(0.03, 0.06))
    header = int(height * rng.uniform(0.03, 0.07))
    draw.rectangle((0, 0, post, height), fill=frame_col)
    draw.rectangle((width - post, 0, width, height), fill=frame_col)
    draw.rectangle((0, 0, width, header), fill=frame_col)
    seam = int(width * rng.uniform(0.47, 0.53))
    draw.line((seam, header, seam, height), fill=frame_col, width=max(2, width // 150))
    level = rng.randint(150, 235) if dark else rng.randint(15, 70)
    ink = _jitter_colour(rng, (level, level, level), 8)
    if rng.random() < 0.25:  # low contrast: faded paint or dirty characters
        ink = tuple(int(i * 0.7 + p * 0.3) for i, p in zip(ink, paint, strict=True))  # type: ignore[assignment]

    size_px = char_h * ss
    font_path = rng.choice(fonts[:7] if rng.random() < 0.85 else fonts)
    font = ImageFont.truetype(str(font_path), max(8, int(size_px / CAP_HEIGHT)))
    owner, serial, check = code[:4], code[4:10], code[10]
    spaced = f"{serial[:3]} {serial[3:]}" if rng.random() < 0.3 else serial
    gap = size_px * rng.uniform(0.4, 2.0)
    staggered = rng.random() < 0.65
    owner_w = draw.textlength(owner, font=font)
    serial_w = draw.textlength(spaced, font=font)
    check_gap = size_px * rng.uniform(0.3, 1.0)
    total_w = owner_w + gap + serial_w + check_gap + size_px * 1.0
    avail = width - 2 * post - size_px * 0.6
    if total_w > avail:  # the marking must fit on the door: smaller characters
        shrink = avail / total_w
        size_px, gap, check_gap = size_px * shrink, gap * shrink, check_gap * shrink
        font = ImageFont.truetype(str(font_path), max(8, int(size_px / CAP_HEIGHT)))
        owner_w = draw.textlength(owner, font=font)
        serial_w = draw.textlength(spaced, font=font)
        total_w = owner_w + gap + serial_w + check_gap + size_px * 1.0
    x = width * rng.uniform(0.52, 0.64) if rng.random() < 0.8 else width * rng.uniform(0.1, 0.3)
    x = max(post + size_px * 0.3, min(x, width - post - total_w - size_px * 0.3))
    y = header + height * rng.uniform(0.03, 0.22)
    if staggered:
        drop = size_px * rng.uniform(0.5, 1.4)
        check_drop = drop + size_px * rng.uniform(0.1, 0.6)
    else:
        drop = size_px * rng.choice((0.0, 0.0, rng.uniform(0.05, 0.35)))
        check_drop = drop + size_px * rng.uniform(0.0, 0.15)
    serial_x = x + owner_w + gap
    check_x = serial_x + serial_w + check_gap
    parts = [(owner, x, y), (spaced, serial_x, y + drop)]
    x1, y1, x2, y2 = float("inf"), float("inf"), 0.0, 0.0
    for text, px, py in parts:
        draw.text((px, py), text, font=font, fill=ink)
        bx1, by1, bx2, by2 = draw.textbbox((px, py), text, font=font)
        x1, y1, x2, y2 = min(x1, bx1), min(y1, by1), max(x2, bx2), max(y2, by2)
    draw.text((check_x, y + check_drop), check, font=font, fill=ink)
    cx1, cy1, cx2, cy2 = draw.textbbox((check_x, y + check_drop), check, font=font)
    if rng.random() < 0.8:  # the boxed check digit
        pad = max(2, int(size_px * 0.12))
        cx1, cy1, cx2, cy2 = cx1 - pad, cy1 - pad, cx2 + pad, cy2 + pad
        draw.rectangle((cx1, cy1, cx2, cy2), outline=ink, width=max(1, int(size_px / 12)))
    x1, y1, x2, y2 = min(x1, cx1), min(y1, cy1), max(x2, cx2), max(y2, cy2)
    serial_bottom = draw.textbbox((serial_x, y + drop), spaced, font=font)[3]
    if rng.random() < 0.85:  # size/type code under the serial (inside the box when staggered)
        st_x = serial_x + size_px * rng.uniform(-0.3, 0.8) if staggered else x + rng.uniform(0, owner_w + gap)
        draw.text((st_x, serial_bottom + size_px * rng.uniform(0.3, 0.6)), rng.choice(SIZE_TYPES), font=font, fill=ink)
    small = ImageFont.truetype(str(font_path), max(8, int(size_px * rng.uniform(0.45, 0.7) / CAP_HEIGHT)))
    if rng.random() < 0.7:  # weight table lower on the door: distractor text
        ty = y2 + size_px * rng.uniform(2.5, 5.0)
        tx = x + rng.uniform(-0.3, 0.5) * owner_w
        for label in ("MAX. GROSS", "TARE", "PAYLOAD", "CU. CAP."):
            if ty > height - size_px:
                break
            draw.text((tx, ty), label, font=small, fill=ink)
            draw.text((tx + size_px * 6.5, ty), f"{rng.randint(2000, 32500):,} KGS", font=small, fill=ink)
            ty += size_px * rng.uniform(0.9, 1.3)
    if rng.random() < 0.6:  # brand / logo panel on the left leaf
        bx, by = width * rng.uniform(0.08, 0.25), height * rng.uniform(0.15, 0.45)
        if rng.random() < 0.4:
            bw, bh = size_px * rng.uniform(2.5, 4.0), size_px * rng.uniform(3.0, 5.0)
            draw.rectangle((bx, by, bx + bw, by + bh), fill=(235, 235, 230))
        else:
            brand = rng.choice(BRANDS)
            bfont = ImageFont.truetype(str(rng.choice(fonts)), max(8, int(size_px * rng.uniform(0.6, 1.4))))
            fit = (seam - bx - 4) / max(1.0, draw.textlength(brand, font=bfont))
            if fit < 1:
                bfont = ImageFont.truetype(str(bfont.path), max(8, int(bfont.size * fit)))
            draw.text((bx, by), brand, font=bfont, fill=ink)
    if rng.random() < 0.4:  # small stickers / CSC plate
        for _ in range(rng.randint(1, 3)):
            sx, sy = rng.uniform(post, width * 0.45), rng.uniform(header, height * 0.7)
            sw, sh = size_px * rng.uniform(0.6, 2.0), size_px * rng.uniform(0.6, 1.5)
            draw.rectangle((sx, sy, sx + sw, sy + sh), fill=_jitter_colour(rng, rng.choice(CONTAINER_COLOURS), 30))

    patch = np.asarray(img).copy()
    rod_w = max(3, int(width * rng.uniform(0.018, 0.03)))
    rods = [width * f + rng.uniform(-0.03, 0.03) * width for f in (0.12, 0.32, 0.64, 0.84)]
    if rng.random() < 0.6 and gap > rod_w * 1.2:  # a rod between the owner code and the serial
        rods[2] = x + owner_w + (gap - rod_w) / 2
    if rng.random() < 0.3:  # or crossing the serial
        rods[3] = serial_x + serial_w * rng.uniform(0.2, 0.8)
    rod_col = tuple(int(np.clip(c * rng.uniform(0.8, 1.5) + 20, 0, 255)) for c in paint)
    for rx in rods:
        r0 = int(rx)
        cv2.rectangle(patch, (r0, header), (r0 + rod_w, height), rod_col, -1)
        shine = tuple(min(255, c + 50) for c in rod_col)
        cv2.line(patch, (r0 + rod_w // 3, header), (r0 + rod_w // 3, height), shine, 1)
        cv2.line(patch, (r0 + rod_w, header), (r0 + rod_w, height), tuple(c // 2 for c in rod_col), 1)
        for bracket_y in (header + rng.uniform(0.02, 0.08) * height, height * rng.uniform(0.55, 0.75)):
            by0 = int(bracket_y)
            cv2.rectangle(patch, (r0 - rod_w // 2, by0), (r0 + rod_w + rod_w // 2, by0 + rod_w * 2), rod_col, -1)
    if rng.random() < 0.5:  # handles across the lower door
        hy = int(height * rng.uniform(0.6, 0.8))
        for rx in rods:
            end = (int(rx + width * 0.07), hy + int(width * 0.01))
            cv2.line(patch, (int(rx), hy), end, rod_col, max(2, rod_w // 2))
    small_patch = cv2.resize(patch, (door_w, int(height / ss)), interpolation=cv2.INTER_AREA)
    return small_patch, (x1 / ss, y1 / ss, x2 / ss, y2 / ss)


def yard_background(rng: random.Random, size: tuple[int, int]) -> np.ndarray:
    """A synthetic gate lane seen from above: asphalt or concrete, lane paint, fences, blocks (BGR)."""
    w, h = size
    tone = rng.randint(70, 165)
    base = np.full((h, w, 3), tone, np.float32)
    base += np.array([rng.uniform(-10, 10) for _ in range(3)], np.float32)
    base += np.linspace(rng.uniform(-25, 5), rng.uniform(-5, 25), h, dtype=np.float32)[:, None, None]
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    texture = cv2.GaussianBlur(nprng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), rng.uniform(1, 6))
    base += texture[:, :, None] * rng.uniform(4, 14)
    img = np.clip(base, 0, 255).astype(np.uint8)
    for _ in range(rng.randint(0, 3)):  # lane markings
        colour = rng.choice(((40, 170, 210), (220, 220, 220), (30, 140, 200)))
        p1 = (rng.randint(-w // 2, w), rng.randint(0, h))
        p2 = (p1[0] + rng.randint(-w, w), p1[1] + rng.randint(-h, h))
        cv2.line(img, p1, p2, colour, rng.randint(2, 8))
    if rng.random() < 0.6:  # a fence: posts and rails
        top = rng.randint(0, h // 3)
        spacing = rng.randint(40, 140)
        grey = rng.randint(120, 200)
        for px in range(rng.randint(0, spacing), w, spacing):
            cv2.line(img, (px, top), (px, top + rng.randint(60, 200)), (grey, grey, grey), rng.randint(2, 5))
        cv2.line(img, (0, top + 20), (w, top + rng.randint(-30, 60)), (grey, grey, grey), rng.randint(2, 6))
    for _ in range(rng.randint(0, 4)):  # concrete blocks, bins, cones
        bx, by = rng.randint(0, w - 20), rng.randint(0, h - 20)
        bw, bh = rng.randint(20, 90), rng.randint(20, 90)
        grey = rng.randint(60, 220)
        cv2.rectangle(img, (bx, by), (bx + bw, by + bh), (grey, grey, grey + rng.randint(-10, 10)), -1)
    if rng.random() < 0.4:  # striped kerb
        ky = rng.randint(h // 2, h - 20)
        for kx in range(0, w, 50):
            colour = (20, 20, 20) if (kx // 50) % 2 else (30, 190, 220)
            cv2.rectangle(img, (kx, ky), (kx + 50, ky + rng.randint(10, 25)), colour, -1)
    return img


def _fit_background(
    rng: random.Random, image: np.ndarray, box: tuple[float, float, float, float] | None, size: tuple[int, int]
) -> tuple[np.ndarray, tuple[float, float, float, float] | None]:
    """Scale a photo to cover ``size`` and crop it, keeping ``box`` (a plate) inside when it can."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    resized = cv2.resize(image, (max(w, round(iw * scale)), max(h, round(ih * scale))), interpolation=cv2.INTER_AREA)
    rh, rw = resized.shape[:2]
    lo_x, hi_x, lo_y, hi_y = 0, rw - w, 0, rh - h
    if box is not None:
        bx1, by1, bx2, by2 = (v * scale for v in box)
        lo_x, hi_x = max(lo_x, int(np.ceil(bx2)) - w), min(hi_x, int(bx1))
        lo_y, hi_y = max(lo_y, int(np.ceil(by2)) - h), min(hi_y, int(by1))
    if lo_x > hi_x or lo_y > hi_y:
        return resized[:h, :w].copy(), None
    ox, oy = rng.randint(lo_x, hi_x), rng.randint(lo_y, hi_y)
    crop = resized[oy : oy + h, ox : ox + w].copy()
    if box is None:
        return crop, None
    return crop, (bx1 - ox, by1 - oy, bx2 - ox, by2 - oy)


def _blend(out: np.ndarray, patch: np.ndarray, ox: int, oy: int) -> None:
    """Alpha-blend a BGRA ``patch`` into ``out`` at (ox, oy), clipped to the frame."""
    h, w = out.shape[:2]
    ph, pw = patch.shape[:2]
    x0, y0, x1, y1 = max(0, ox), max(0, oy), min(w, ox + pw), min(h, oy + ph)
    if x0 >= x1 or y0 >= y1:
        return
    sub = patch[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    alpha = sub[:, :, 3:4].astype(np.float32) / 255.0
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = (sub[:, :, :3] * alpha + region * (1 - alpha)).astype(np.uint8)


def gate_degrade(rng: random.Random, image: np.ndarray) -> np.ndarray:
    """Gate-camera look: dim, low contrast, colour cast, slight blur, then :func:`degrade` (BGR)."""
    out: Any = image.astype(np.float32)
    mean = out.mean(axis=(0, 1), keepdims=True)
    out = mean + (out - mean) * rng.uniform(0.5, 1.0)
    out = out * np.array([rng.uniform(0.85, 1.12) for _ in range(3)], np.float32) * rng.uniform(0.6, 1.05)
    if rng.random() < 0.7:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.2))
    return degrade(rng, np.clip(out, 0, 255).astype(np.uint8))


def gate_scene(
    rng: random.Random,
    fonts: list[Path],
    background: np.ndarray | None = None,
    plate_box: tuple[float, float, float, float] | None = None,
    size: tuple[int, int] = (960, 540),
) -> Rendered:
    """A gate-camera frame: the back doors of a container (a third to a half of the frame) with a small code.

    ``background`` (BGR, e.g. a train-side plate photo) with its ``plate_box`` keeps the plate labelled when
    the door does not cover it; without one a synthetic yard is drawn.
    """
    w, h = size
    fit_box = None
    if background is not None:
        scene, fit_box = _fit_background(rng, background, plate_box, size)
        if plate_box is not None and fit_box is None:
            scene = yard_background(rng, size)
    else:
        scene = yard_background(rng, size)
    char_h = rng.uniform(10.0, 32.0) * w / 960
    door_w = int(np.clip(char_h / rng.uniform(0.035, 0.065), 0.25 * w, 0.62 * w))
    door, box = render_gate_door(rng, fonts, random_code(rng), door_w, char_h)
    dh, dw = door.shape[:2]
    # the container body behind the doors: its side (to one side) and the truck chassis below
    side_w = int(dw * rng.uniform(0.0, 0.9))
    body_h = dh + int(dh * rng.uniform(0.05, 0.3))
    body = np.zeros((body_h, dw + side_w, 3), np.uint8)
    paint = door[dh // 2, dw // 2].astype(np.float32)
    if side_w:
        side = _metal(rng, side_w, dh, tuple(int(c * rng.uniform(0.55, 0.95)) for c in paint))  # type: ignore[arg-type]
        body[:dh, dw:] = side
    chassis = rng.randint(15, 50)
    body[dh:, :, :3] = chassis
    side_left = rng.random() < 0.3
    if side_left and side_w:
        body = body[:, ::-1].copy()
        body[:dh, side_w:] = door
        box = (box[0] + side_w, box[1], box[2] + side_w, box[3])
    else:
        body[:dh, :dw] = door
    warped, box = _perspective(rng, body[:, :, ::-1].copy(), box, rng.uniform(0.0, 0.06))  # RGB -> BGR(A)
    ph, pw = warped.shape[:2]
    plate = fit_box
    for _ in range(40):
        ox = rng.randint(-pw // 4, max(-pw // 4, w - pw + pw // 4))
        oy = rng.randint(-int(ph * 0.1), max(-int(ph * 0.1), h - int(ph * 0.55)))
        code_box = (box[0] + ox, box[1] + oy, box[2] + ox, box[3] + oy)
        inside = code_box[0] >= 4 and code_box[1] >= 4 and code_box[2] <= w - 4 and code_box[3] <= h - 4
        if inside and (plate is None or not _overlaps((ox, oy, ox + pw, oy + ph), plate)):
            break
    else:  # no place keeps the plate visible: drop the plate, centre the code
        plate = None
        ox = int(w / 2 - (box[0] + box[2]) / 2)
        oy = int(h / 2 - (box[1] + box[3]) / 2)
        code_box = (box[0] + ox, box[1] + oy, box[2] + ox, box[3] + oy)
    _blend(scene, warped, ox, oy)
    boxes: list[tuple[int, float, float, float, float]] = [(1, *code_box)]
    if plate is not None:
        boxes.append((0, *plate))
    return Rendered(gate_degrade(rng, scene), boxes)

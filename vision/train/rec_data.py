"""Deterministic training lines for the small recogniser (``vision.line_model``): real plate crops, rendered
plates and rendered container-code lines, each with its label (A-Z0-9 only).

    python -m vision.train.rec_data --shared ../shared/data --out var/vision/recdata

Real: only the TRAIN side of :func:`vision.datasets.plate_split`; about 10% of those photos (by plate text,
per source folder) are held out for validation (:func:`real_photos`); labels as shared, but for the zero of the
LL 999LL layout that a few labels write as the letter O (:func:`train_label`).  The eval side and the container
photos are never opened here.  Each photo gives :data:`VIEWS_PER_PHOTO` views: the label box jittered (each
edge +-8% of the box size, or +-2..4 px), a small rotation / perspective, then camera artefacts (scale down
and up, blur, noise, exposure, gamma, JPEG 30-95), cropped exactly as the reader crops a plate box
(``vision.reader._placed_crop`` with ``vision.reader._PADDING[0]``).

Synthetic plates: the formats of ``vision.grammars`` (TR, HR, SK, CZ, GB, ES, RO, DE, PL, BR old and
Mercosul, AR old and Mercosul) in the DejaVu / Liberation faces, squeezed to 0.7-1.0 of their width, with the
EU band and its country letters, Brazilian city / BRASIL bands, separators and emblems (none in the label),
screws, border, dirt, shadows, perspective, then the same artefacts and the same crop as the real views.
Letters and digits that OCR confuses (O/D/Q/0, I/1/L, B/8, S/5, Z/2, G/6) are drawn often.

Synthetic container lines: owner code, serial (sometimes ``413 532``), boxed check digit, serial + check
digit, the whole code on one line, size/type codes; light-on-dark and dark-on-light door paint
(``synth.DOOR_PAINTS_*``), corrugation, locking rods, characters 10-30 px high.

Everything comes from ``random.Random(seed)`` / ``np.random.default_rng(seed)`` (seed 6346): one master
stream hands each chunk (a photo, or :data:`CHUNK` rendered lines) its own seed, so the same seed gives the
same bytes whatever the worker count.  What is written: ``lines.npz`` (``images``: the fitted model inputs,
N x 32 x 128 uint8, from :func:`vision.line_model.fit_line`; ``labels``; ``sources``) for training,
``val.npz`` for validation, ``meta.json`` with the counts, and ``sheet_*.png`` contact sheets to look at.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import string
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from vision import iso6346
from vision.datasets import LabelledImage, plate_split, split_by_text
from vision.line_model import fit_line
from vision.reader import _PADDING, _placed_crop, load_image
from vision.train import synth

SEED = 6346
VIEWS_PER_PHOTO = 100
VAL_FRACTION = 0.10
#: Lines per synthetic chunk (each chunk has its own seed from the master stream).
CHUNK = 500
DEFAULT_PLATES = 26_000
DEFAULT_CONTAINER_LINES = 14_000
#: Synthetic validation lines (a different part of the master stream from the training ones).
VAL_PLATES = 400
VAL_CONTAINER_LINES = 200
#: Held-out real views: the exact reader crop and this many crops with the box moved by up to 2 px.
VAL_JITTERS = 5

ImageU8 = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]

#: Confusable characters, drawn far more often than their share.
CONFUSABLE_LETTERS = "ODQILBSZGC"
CONFUSABLE_DIGITS = "0185264"
EXTRA_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSansMono.ttf",
    "LiberationMono-Regular.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "LiberationSansNarrow-Bold.ttf",
)


@dataclass(frozen=True, slots=True)
class Sample:
    image: ImageU8  # the line as the model would be given it (BGR uint8)
    label: str  # A-Z0-9
    source: str  # "real", "plate" or "container"
    photo: Path | None  # the photo a real view was cut from


# -- the real photos ------------------------------------------------------------------------------------
def real_photos(shared: Path, seed: int = SEED) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """(fit, val): the train side of ``plate_split``, with ~10% of each source folder's texts held out."""
    train, evaluation = plate_split(shared)
    banned = {item.path.resolve() for item in evaluation}
    for item in train:
        if item.path.resolve() in banned or "containers" in item.path.parts:
            raise RuntimeError(f"{item.path}: an eval-side or container photo on the train side")
    return split_by_text(train, VAL_FRACTION, min_texts=10, seed=seed)


#: The Slovak and Croatian layout LL 999LL (RK 576AH): three digits between the letter groups.
_LL999LL = re.compile(r"^[A-Z]{2}[0-9O]{3}[A-Z]{2}$")


def train_label(text: str) -> str:
    """The label a real photo is trained with: its shared label, except that a letter O where the LL 999LL
    layout has a digit is the zero.  A few train-side labels write the Slovak plates' zero as the letter O
    (``RKO26AJ``, ``RK3OOAG``) although the glyph is the same zero as in ``RK300AS``; learning both for one
    glyph teaches the model to guess.  Eval-side labels are never changed (they are not read here at all).
    """
    if _LL999LL.match(text):
        return text[:2] + text[2:5].replace("O", "0") + text[5:]
    return text


def _whole_box(image: ImageU8, item: LabelledImage) -> Box:
    if item.box_xyxy is None:  # a plate crop: the whole image is the plate
        h, w = image.shape[:2]
        return (0.0, 0.0, float(w), float(h))
    return tuple(float(v) for v in item.box_xyxy)  # type: ignore[return-value]


def _jitter_box(rng: random.Random, box: Box, limit: tuple[int, int] | None = None) -> Box:
    """Each edge moved by up to 8% of the box size, or (``limit`` px, or sometimes) by 2-4 px only."""
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    if limit is not None or rng.random() < 0.3:
        lo, hi = limit or (2, 4)
        px = rng.uniform(lo, hi)
        d = [rng.uniform(-px, px) for _ in range(4)]
    else:
        d = [rng.uniform(-0.08, 0.08) * s for s in (bw, bh, bw, bh)]
    nx1, ny1, nx2, ny2 = x1 + d[0], y1 + d[1], x2 + d[2], y2 + d[3]
    if nx2 - nx1 < 4 or ny2 - ny1 < 4:
        return box
    return (nx1, ny1, nx2, ny2)


def _warp_region(
    rng: random.Random, image: ImageU8, box: Box, *, rotate: float, perspective: float
) -> tuple[ImageU8, Box]:
    """The region around ``box`` rotated / perspective-warped about the box centre; the box becomes the
    bounding box of its warped corners (as a detector would draw it)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    rx1, ry1 = max(0, int(x1 - 0.6 * bw)), max(0, int(y1 - 1.2 * bh))
    rx2, ry2 = min(w, math.ceil(x2 + 0.6 * bw)), min(h, math.ceil(y2 + 1.2 * bh))
    region = image[ry1:ry2, rx1:rx2]
    local = np.array(
        [[x1 - rx1, y1 - ry1], [x2 - rx1, y1 - ry1], [x2 - rx1, y2 - ry1], [x1 - rx1, y2 - ry1]], np.float32
    )
    cx, cy = local.mean(axis=0)
    angle = math.radians(rng.uniform(-rotate, rotate))
    cos, sin = math.cos(angle), math.sin(angle)
    moved = []
    for px, py in local:
        dx, dy = px - cx, py - cy
        jx = rng.uniform(-perspective, perspective) * bw
        jy = rng.uniform(-perspective, perspective) * bh
        moved.append((cx + dx * cos - dy * sin + jx, cy + dx * sin + dy * cos + jy))
    dst = np.array(moved, np.float32)
    matrix = cv2.getPerspectiveTransform(local, dst)
    warped = cv2.warpPerspective(region, matrix, (region.shape[1], region.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    new_box = (
        float(dst[:, 0].min()) + rx1,
        float(dst[:, 1].min()) + ry1,
        float(dst[:, 0].max()) + rx1,
        float(dst[:, 1].max()) + ry1,
    )
    out = image.copy()
    out[ry1:ry2, rx1:rx2] = warped
    return out, new_box


def _region(image: ImageU8, box: Box, reach: float = 0.5) -> tuple[ImageU8, Box]:
    """A copy of the image around ``box`` (what the crop can reach and more), and the box in it."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    rx1, ry1 = max(0, int(x1 - reach * bw)), max(0, int(y1 - 2 * reach * bh))
    rx2, ry2 = min(w, math.ceil(x2 + reach * bw)), min(h, math.ceil(y2 + 2 * reach * bh))
    return image[ry1:ry2, rx1:rx2].copy(), (x1 - rx1, y1 - ry1, x2 - rx1, y2 - ry1)


#: Scaling down never leaves characters shorter than this (px): below it the label is a guess.
MIN_CHAR_PX = 8.0


def camera(rng: random.Random, nprng: np.random.Generator, image: ImageU8, char_px: float) -> ImageU8:
    """Camera artefacts on a BGR region whose characters are ``char_px`` high: scale down and up, blur,
    exposure, gamma, noise, JPEG 30-95."""
    out: Any = image
    h, w = out.shape[:2]
    low = rng.random() < 0.35 and char_px * 0.7 > MIN_CHAR_PX
    if low:  # low resolution
        f = rng.uniform(max(0.2, MIN_CHAR_PX / char_px), 0.7)
        small = cv2.resize(out, (max(2, round(w * f)), max(2, round(h * f))), interpolation=cv2.INTER_AREA)
        interp = rng.choice((cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST))
        out = cv2.resize(small, (w, h), interpolation=interp)
    out = out.astype(np.float32)
    if rng.random() < (0.12 if low else 0.3):
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.3))
    if rng.random() < 0.08:  # motion blur
        length = rng.randint(3, 6)
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        out = cv2.filter2D(out, -1, kernel)
    if rng.random() < 0.3:  # colour cast
        out = out * np.array([rng.uniform(0.8, 1.2) for _ in range(3)], np.float32)
    mean = float(out.mean())
    out = (out - mean) * rng.uniform(0.5, 1.3) + mean * rng.uniform(0.7, 1.25) + rng.uniform(-20, 20)
    out = np.clip(out, 0, 255)
    if rng.random() < 0.4:
        out = 255.0 * (out / 255.0) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.5:
        out = out + nprng.normal(0, rng.uniform(1.5, 10), out.shape).astype(np.float32)
    out8 = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.75:
        ok, buf = cv2.imencode(".jpg", out8, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(30, 95)])
        if ok:
            out8 = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)
    return np.ascontiguousarray(out8)


def reader_crop(image: ImageU8, box: Box) -> ImageU8 | None:
    """The crop the reader gives the recogniser for a plate box (padding, enlarged to 64 px when short)."""
    crop, _box, _origin, _scale = _placed_crop(image, np.asarray(box, np.float32), *_PADDING[0])
    return crop


def real_views(seed: int, item: LabelledImage, n: int) -> list[Sample]:
    """``n`` augmented views of one train-side photo."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    image = load_image(item.path)
    box = _whole_box(image, item)
    out: list[Sample] = []
    while len(out) < n:
        region, local = _region(image, box, reach=0.8)
        if rng.random() < 0.7:
            region, local = _warp_region(rng, region, local, rotate=4.0, perspective=0.04)
        local = _jitter_box(rng, local)
        if item.box_xyxy is None:  # a plate crop: the crop cannot reach past the image
            rh, rw = region.shape[:2]
            local = (max(0.0, local[0]), max(0.0, local[1]), min(float(rw), local[2]), min(float(rh), local[3]))
        crop = reader_crop(camera(rng, nprng, region, 0.55 * (local[3] - local[1])), local)
        if crop is not None:
            out.append(Sample(crop, train_label(item.text), "real", item.path))
    return out


def real_val_views(item: LabelledImage, seed: int = SEED) -> list[Sample]:
    """A held-out photo as the reader crops it: the exact box, then the box moved by up to 2 px."""
    rng = random.Random(seed)
    image = load_image(item.path)
    box = _whole_box(image, item)
    boxes = [box] + [_jitter_box(rng, box, limit=(0, 2)) for _ in range(VAL_JITTERS)]
    out = []
    for b in boxes:
        crop = reader_crop(image, b)
        if crop is not None:
            out.append(Sample(crop, train_label(item.text), "real", item.path))
    return out


# -- text pickers -----------------------------------------------------------------------------------------
def _letter(rng: random.Random, pool: str = string.ascii_uppercase) -> str:
    confusable = [c for c in CONFUSABLE_LETTERS if c in pool]
    if confusable and rng.random() < 0.4:
        return rng.choice(confusable)
    return rng.choice(pool)


def _digit(rng: random.Random) -> str:
    return rng.choice(CONFUSABLE_DIGITS) if rng.random() < 0.35 else rng.choice(string.digits)


def _letters(rng: random.Random, n: int, pool: str = string.ascii_uppercase) -> str:
    return "".join(_letter(rng, pool) for _ in range(n))


def _digits(rng: random.Random, n: int) -> str:
    return "".join(_digit(rng) for _ in range(n))


_TR_LETTERS = "ABCDEFGHIJKLMNOPRSTUVYZ"
_ES_LETTERS = "BCDFGHJKLMNPRSTVWXYZ"
_CITIES = ("BA-SALVADOR", "SP-SAO PAULO", "RJ-RIO DE JANEIRO", "MG-BELO HORIZONTE", "DF-BRASILIA", "ES-VITORIA",
           "BA-LAURO DE FREITAS", "GO-GOIANIA", "PR-CURITIBA", "BA-CAMACARI", "MG-MONTES CLAROS", "ES-VILA VELHA",
           "RS-PORTO ALEGRE", "PE-RECIFE", "CE-FORTALEZA", "BA-ITABUNA", "SC-JOINVILLE")  # fmt: skip

#: (groups of characters, separators between them: " ", "-", ".", "emblem"), EU band letters or None, style.
PlateText = tuple[list[str], list[str], str | None, str]


def _tr(rng: random.Random) -> PlateText:
    n = rng.choice((1, 2, 3))
    digits = {1: rng.choice((4, 5)), 2: rng.choice((3, 4)), 3: rng.choice((2, 3))}[n]
    groups = [f"{rng.randint(1, 81):02d}", _letters(rng, n, _TR_LETTERS), _digits(rng, digits)]
    return groups, [" ", " "], "TR", "eu"


def _hr(rng: random.Random) -> PlateText:
    groups = [_letters(rng, 2), _digits(rng, rng.choice((3, 4))), _letters(rng, rng.choice((1, 2)))]
    return groups, ["emblem", "-"], "HR", "eu"


def _sk(rng: random.Random) -> PlateText:
    if rng.random() < 0.8:  # RK 576AH
        return [_letters(rng, 2), _digits(rng, 3) + _letters(rng, 2)], ["emblem"], "SK", "eu"
    return [_letters(rng, 2), _digits(rng, 3), _letters(rng, 2)], [rng.choice(("emblem", "-", " ")), " "], "SK", "eu"


def _cz(rng: random.Random) -> PlateText:
    third = _letter(rng) if rng.random() < 0.6 else _digit(rng)
    return [str(rng.randint(1, 9)) + _letter(rng) + third, _digits(rng, 4)], [" "], "CZ", "eu"


def _gb(rng: random.Random) -> PlateText:
    band = rng.choice(("UK", "GB", None))
    return [_letters(rng, 2) + _digits(rng, 2), _letters(rng, 3)], [" "], band, rng.choice(("eu", "yellow"))


def _es(rng: random.Random) -> PlateText:
    return [_digits(rng, 4), _letters(rng, 3, _ES_LETTERS)], [" "], "E", "eu"


def _ro(rng: random.Random) -> PlateText:
    if rng.random() < 0.5:
        return [_letter(rng), _digits(rng, rng.choice((2, 3))), _letters(rng, 3)], [" ", " "], "RO", "eu"
    return [_letters(rng, 2), _digits(rng, 2), _letters(rng, 3)], [" ", " "], "RO", "eu"


def _de(rng: random.Random) -> PlateText:
    district = _letters(rng, rng.choice((1, 1, 2, 2, 3)))
    tail = _digits(rng, rng.randint(1, 4)) + ("E" if rng.random() < 0.05 else "")
    return [district, _letters(rng, rng.choice((1, 2))), tail], ["emblem", " "], "D", "eu"


def _pl(rng: random.Random) -> PlateText:
    form = rng.random()
    if form < 0.4:
        groups = [_letters(rng, 2), _digits(rng, 5)]
    elif form < 0.7:
        groups = [_letters(rng, 2), _digits(rng, 4) + _letter(rng)]
    else:
        groups = [_letters(rng, 3), _digits(rng, rng.choice((4, 3))) + _letters(rng, rng.choice((0, 1)))]
    return groups, [" "], "PL", "eu"


def _br_old(rng: random.Random) -> PlateText:
    return [_letters(rng, 3), _digits(rng, 4)], [rng.choice(("-", ".", ".", " "))], None, "br_old"


def _br_mercosul(rng: random.Random) -> PlateText:
    return [_letters(rng, 3) + _digit(rng) + _letter(rng) + _digits(rng, 2)], [], None, "mercosul_br"


def _ar_old(rng: random.Random) -> PlateText:
    return [_letters(rng, 3), _digits(rng, 3)], [" "], None, "ar_old"


def _ar_mercosul(rng: random.Random) -> PlateText:
    return [_letters(rng, 2), _digits(rng, 3), _letters(rng, 2)], [" ", " "], None, "mercosul_ar"


PLATE_FORMATS: tuple[tuple[Callable[[random.Random], PlateText], float], ...] = (
    (_br_old, 0.17), (_sk, 0.13), (_hr, 0.08), (_cz, 0.07), (_tr, 0.09), (_gb, 0.06), (_es, 0.06),
    (_ro, 0.06), (_de, 0.07), (_pl, 0.07), (_br_mercosul, 0.08), (_ar_old, 0.03), (_ar_mercosul, 0.03),
)  # fmt: skip


# -- fonts ------------------------------------------------------------------------------------------------
@cache
def fonts() -> tuple[Path, ...]:
    """The synthetic-scene faces, then a few more plain ones (condensed, bold, mono)."""
    found = synth.font_files()
    out = list(synth.find_fonts())
    out += [found[name] for name in EXTRA_FONTS if name in found and found[name] not in out]
    return tuple(out)


@cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def _text_strip(
    rng: random.Random,
    groups: Sequence[str],
    seps: Sequence[str],
    font: ImageFont.FreeTypeFont,
    ink: tuple[int, int, int],
    paper: tuple[int, int, int],
    cap: float,
) -> Image.Image:
    """The plate's characters and separators on ``paper`` (RGB), tight around the cap height."""
    probe = ImageDraw.Draw(Image.new("RGB", (4, 4)))
    pieces: list[tuple[str, float]] = []  # ("text"|sep, width)
    spacing = cap * rng.uniform(-0.02, 0.06)
    for i, group in enumerate(groups):
        width = sum(probe.textlength(c, font=font) for c in group) + spacing * (len(group) - 1)
        pieces.append((group, width))
        if i < len(seps):
            sep = seps[i]
            sep_w = {"emblem": 0.75, "-": 0.55, ".": 0.4, " ": rng.uniform(0.25, 0.6)}[sep] * cap
            pieces.append(("\0" + sep, sep_w))
    total = sum(w for _, w in pieces)
    pad = cap * 0.12
    strip = Image.new("RGB", (int(total + 2 * pad) + 2, int(cap * 1.5)), paper)
    draw = ImageDraw.Draw(strip)
    top = cap * 0.25
    bbox = font.getbbox("H")
    y = top - bbox[1]  # the cap top at ``top``
    x = pad
    for text, width in pieces:
        if text.startswith("\0"):
            sep = text[1:]
            cx, cy = x + width / 2, top + cap / 2
            if sep == "-":
                draw.rectangle((cx - cap * 0.17, cy - cap * 0.05, cx + cap * 0.17, cy + cap * 0.05), fill=ink)
            elif sep == ".":
                r = cap * 0.06
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=ink)
            elif sep == "emblem":
                _emblem(rng, draw, cx, cy, cap)
        else:
            for c in text:
                draw.text((x, y), c, font=font, fill=ink)
                x += probe.textlength(c, font=font) + spacing
            x -= spacing
            continue
        x += width
    return strip


def _emblem(rng: random.Random, draw: ImageDraw.ImageDraw, cx: float, cy: float, cap: float) -> None:
    """A coat of arms, a registration sticker or two round seals between character groups."""
    kind = rng.random()
    r = cap * rng.uniform(0.22, 0.32)
    if kind < 0.45:  # shield: red / blue with a white cross or chequers
        colour = rng.choice(((200, 30, 40), (30, 60, 160), (220, 220, 220)))
        draw.polygon([(cx - r, cy - r * 1.2), (cx + r, cy - r * 1.2), (cx + r, cy + r * 0.2), (cx, cy + r * 1.3),
                      (cx - r, cy + r * 0.2)], fill=colour, outline=(30, 30, 30))  # fmt: skip
        draw.line((cx, cy - r, cx, cy + r), fill=(240, 240, 240), width=max(1, int(r / 4)))
        draw.line(
            (cx - r * 0.7, cy - r * 0.3, cx + r * 0.7, cy - r * 0.3), fill=(240, 240, 240), width=max(1, int(r / 4))
        )
    elif kind < 0.8:  # two round seals, one above the other
        for dy, colour in ((-r * 1.1, (60, 120, 60)), (r * 1.1, rng.choice(((200, 60, 40), (90, 90, 160))))):
            draw.ellipse((cx - r * 0.9, cy + dy - r * 0.9, cx + r * 0.9, cy + dy + r * 0.9), fill=colour,
                         outline=(40, 40, 40))  # fmt: skip
    else:  # a round coloured sticker
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rng.choice(((40, 140, 60), (200, 60, 60), (230, 200, 50))))


def _grey3(level: int) -> tuple[int, int, int]:
    return (level, level, level)


def render_plate(rng: random.Random, nprng: np.random.Generator) -> tuple[ImageU8, Box, str]:
    """A synthetic plate in a small scene (BGR), its box, and its label."""
    maker = rng.choices([f for f, _ in PLATE_FORMATS], weights=[w for _, w in PLATE_FORMATS])[0]
    groups, seps, band_text, style = maker(rng)
    label = "".join(groups)
    face = rng.choice(fonts()[:8] if rng.random() < 0.85 else fonts())
    cap = 64.0
    font = _font(face, int(cap / synth.CAP_HEIGHT))
    paper = _grey3(rng.randint(225, 252))
    ink = _grey3(rng.randint(5, 45))
    if style == "yellow":
        paper = (rng.randint(225, 250), rng.randint(190, 215), rng.randint(20, 70))
    elif style == "br_old":
        shade = rng.random()
        if shade < 0.55:
            paper = _grey3(rng.randint(170, 215))
        elif shade < 0.7:  # commercial: red plate, white characters
            paper, ink = (rng.randint(150, 200), rng.randint(20, 50), rng.randint(20, 50)), (235, 235, 235)
    elif style == "ar_old":
        paper, ink = _grey3(rng.randint(10, 40)), _grey3(rng.randint(200, 245))
    strip = _text_strip(rng, groups, seps, font, ink, paper, cap)
    squeeze = rng.uniform(0.7, 1.0)
    strip = strip.resize((max(1, int(strip.width * squeeze)), strip.height), Image.Resampling.BICUBIC)

    height = int(cap * rng.uniform(1.55, 1.9))
    band_w = int(cap * rng.uniform(0.55, 0.7)) if style == "eu" and band_text else 0
    top_band = int(height * rng.uniform(0.2, 0.26)) if style in ("br_old", "mercosul_br", "mercosul_ar") else 0
    if top_band:
        height += top_band // 2
    margin = int(cap * rng.uniform(0.15, 0.45))
    width = band_w + strip.width + 2 * margin
    plate = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(plate)
    if band_w:
        draw.rectangle((0, 0, band_w, height), fill=(rng.randint(0, 30), rng.randint(40, 70), rng.randint(140, 180)))
        for k in range(12):  # the ring of stars
            a = k / 12 * 2 * math.pi
            sx, sy = band_w / 2 + math.cos(a) * band_w * 0.28, height * 0.3 + math.sin(a) * band_w * 0.28
            draw.ellipse((sx - 1.5, sy - 1.5, sx + 1.5, sy + 1.5), fill=(240, 200, 20))
        small = _font(face, max(8, int(band_w * (0.55 if len(band_text or "") > 1 else 0.8))))
        tw = draw.textlength(band_text or "", font=small)
        draw.text(((band_w - tw) / 2, height * 0.58), band_text or "", font=small, fill=(240, 240, 240))
    if style == "br_old":
        city = rng.choice(_CITIES)
        small = _font(face, max(8, int(top_band * 0.8)))
        tw = draw.textlength(city, font=small)
        draw.text(((width - tw) / 2, top_band * 0.1), city, font=small, fill=ink)
        draw.line((margin, top_band, width - margin, top_band), fill=ink, width=2)
    elif style in ("mercosul_br", "mercosul_ar"):
        draw.rectangle((0, 0, width, top_band), fill=(rng.randint(0, 30), rng.randint(50, 80), rng.randint(150, 190)))
        title = "BRASIL" if style == "mercosul_br" else "REPUBLICA ARGENTINA"
        small = _font(face, max(8, int(top_band * 0.7)))
        tw = draw.textlength(title, font=small)
        draw.text(((width - tw) / 2, top_band * 0.1), title, font=small, fill=(240, 240, 240))
    y = top_band + (height - top_band - strip.height) // 2 + rng.randint(-4, 4)
    plate.paste(strip, (band_w + margin, max(top_band, y)))
    border = rng.random()
    if border < 0.75:
        edge = ink if border < 0.5 else _grey3(rng.randint(90, 160))
        draw.rounded_rectangle((1, 1, width - 2, height - 2), radius=int(cap * 0.15), outline=edge,
                               width=rng.randint(2, 5))  # fmt: skip
    if rng.random() < 0.5:  # screws
        screw_rows = [rng.uniform(0.08, 0.2) * height] + (
            [height - rng.uniform(0.08, 0.2) * height] if rng.random() < 0.4 else []
        )
        for yy in screw_rows:
            for xx in (width * rng.uniform(0.15, 0.3), width * rng.uniform(0.7, 0.85)):
                r = cap * rng.uniform(0.06, 0.12)
                grey = rng.randint(90, 220)
                draw.ellipse((xx - r, yy - r, xx + r, yy + r), fill=(grey, grey, grey), outline=(40, 40, 40))
    arr = np.asarray(plate, np.float32)[:, :, ::-1]
    if rng.random() < 0.4:  # dirt
        blot = cv2.GaussianBlur(nprng.random((height, width)).astype(np.float32), (0, 0), rng.uniform(2, 10))
        blot = (blot - blot.min()) / max(1e-6, float(np.ptp(blot)))
        arr = arr * (1.0 - rng.uniform(0.1, 0.45) * blot[:, :, None])
    return _in_scene(rng, nprng, np.clip(arr, 0, 255).astype(np.uint8), label)


def _in_scene(rng: random.Random, nprng: np.random.Generator, plate: ImageU8, label: str) -> tuple[ImageU8, Box, str]:
    """The plate on a car-like background at a camera's size, warped; (scene BGR, plate box, label)."""
    ph, pw = plate.shape[:2]
    sw, sh = int(pw * 1.6), int(ph * 3.2)
    colour = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
    canvas = np.empty((sh, sw, 3), np.float32)
    canvas[:] = colour
    canvas += np.linspace(rng.uniform(-60, 20), rng.uniform(-20, 60), sh, dtype=np.float32)[:, None, None]
    texture = cv2.GaussianBlur(nprng.normal(0, 1, (sh, sw)).astype(np.float32), (0, 0), rng.uniform(1, 8))
    canvas += texture[:, :, None] * rng.uniform(3, 25)
    if rng.random() < 0.5:  # a bumper edge or grille bars
        y0 = rng.randint(0, sh - 1)
        cv2.rectangle(canvas, (0, y0), (sw, y0 + rng.randint(4, 30)), (rng.randint(0, 80),) * 3, -1)
    scene = np.clip(canvas, 0, 255).astype(np.uint8)
    ox, oy = (sw - pw) // 2, (sh - ph) // 2
    scene[oy : oy + ph, ox : ox + pw] = plate
    if rng.random() < 0.3:  # a hard shadow across the plate
        mask = np.zeros((sh, sw), np.float32)
        x0 = rng.randint(0, sw)
        pts = np.array([[x0, 0], [x0 + rng.randint(-sw, sw), sh], [sw * 2, sh], [sw * 2, 0]], np.int32)
        cv2.fillPoly(mask, [pts], 1.0)
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), rng.uniform(1, 6)), np.float32)
        scene = np.asarray(scene.astype(np.float32) * (1 - rng.uniform(0.25, 0.6) * mask[:, :, None]), np.uint8)
    box: Box = (float(ox), float(oy), float(ox + pw), float(oy + ph))
    warped, box = _warp_region(rng, scene, box, rotate=5.0, perspective=0.06)
    # the plate's height in the camera: 18-110 px (the reader enlarges crops under 64 px)
    target = rng.uniform(18, 110) if rng.random() < 0.7 else rng.uniform(25, 70)
    f = target / (box[3] - box[1])
    if f < 1:
        warped = np.asarray(cv2.resize(warped, None, fx=f, fy=f, interpolation=cv2.INTER_AREA), np.uint8)
        box = (box[0] * f, box[1] * f, box[2] * f, box[3] * f)
    return np.ascontiguousarray(warped), box, label


def plate_lines(seed: int, n: int) -> list[Sample]:
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    out: list[Sample] = []
    while len(out) < n:
        scene, box, label = render_plate(rng, nprng)
        region, local = _region(scene, box)
        crop = reader_crop(camera(rng, nprng, region, 0.5 * (local[3] - local[1])), _jitter_box(rng, local))
        if crop is not None:
            out.append(Sample(crop, label, "plate", None))
    return out


# -- container lines --------------------------------------------------------------------------------------
def _owner(rng: random.Random) -> str:
    return _letters(rng, 3) + rng.choices("UJZ", weights=(90, 5, 5))[0]


def container_text(rng: random.Random) -> tuple[list[str], bool]:
    """(the line's pieces as drawn, whether the last piece is a boxed check digit)."""
    owner = _owner(rng)
    serial = _digits(rng, 6)
    check = str(iso6346.check_digit(owner + serial))
    spaced = f"{serial[:3]} {serial[3:]}" if rng.random() < 0.3 else serial
    kind = rng.random()
    boxed = rng.random() < 0.75
    if kind < 0.2:
        return [owner], False
    if kind < 0.4:
        return [spaced], False
    if kind < 0.5:
        return [check], True
    if kind < 0.7:
        return ([spaced, check], boxed) if boxed or rng.random() < 0.5 else ([serial + check], False)
    if kind < 0.9:
        return [owner, spaced, check], boxed
    return [rng.choice(synth.SIZE_TYPES) if rng.random() < 0.6 else _digits(rng, 2) + _letter(rng) + _digit(rng)], False


def render_container_line(rng: random.Random, nprng: np.random.Generator) -> tuple[ImageU8, str]:
    """One line of a container door marking (BGR, tight-ish like a text detector's line) and its label."""
    pieces, boxed = container_text(rng)
    label = "".join(p.replace(" ", "") for p in pieces)
    dark = rng.random() < 0.7
    paint = synth._jitter_colour(rng, rng.choice(synth.DOOR_PAINTS_DARK if dark else synth.DOOR_PAINTS_LIGHT), 15)
    level = rng.randint(150, 240) if dark else rng.randint(15, 70)
    ink = synth._jitter_colour(rng, (level, level, level), 8)
    if rng.random() < 0.25:  # faded paint, dirty characters
        ink = tuple(int(i * 0.7 + p * 0.3) for i, p in zip(ink, paint, strict=True))  # type: ignore[assignment]
    cap = 48.0
    face = rng.choice(fonts()[:7] if rng.random() < 0.85 else fonts())
    font = _font(face, int(cap / synth.CAP_HEIGHT))
    probe = ImageDraw.Draw(Image.new("RGB", (4, 4)))
    gaps = [cap * rng.uniform(0.4, 1.2) for _ in pieces]
    widths = [probe.textlength(p, font=font) for p in pieces]
    margin_x, margin_y = cap * rng.uniform(0.15, 0.7), cap * rng.uniform(0.12, 0.45)
    width = int(sum(widths) + sum(gaps[:-1]) + 2 * margin_x + (cap * 0.3 if boxed else 0)) + 2
    height = int(cap + 2 * margin_y) + 2
    if rng.random() < 0.5:
        metal = synth._metal(rng, width, height, paint)
    else:  # horizontal ribs
        metal = np.ascontiguousarray(synth._metal(rng, height, width, paint).transpose(1, 0, 2))
    img = Image.fromarray(metal)
    draw = ImageDraw.Draw(img)
    top = margin_y - font.getbbox("H")[1]
    x = margin_x
    if rng.random() < 0.15:  # the line above or below, cut by the crop
        other = "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(8))
        dy = -cap * rng.uniform(1.1, 1.3) if rng.random() < 0.5 else cap * rng.uniform(1.1, 1.3)
        draw.text((x + rng.uniform(-cap, cap), top + dy), other, font=font, fill=ink)
    for i, (piece, w) in enumerate(zip(pieces, widths, strict=True)):
        is_check = boxed and i == len(pieces) - 1
        drop = cap * rng.uniform(-0.08, 0.08) if len(pieces) > 1 else 0.0
        if is_check:
            x += cap * 0.15
        draw.text((x, top + drop), piece, font=font, fill=ink)
        if is_check:
            pad = cap * rng.uniform(0.08, 0.15)
            x1, y1, x2, y2 = draw.textbbox((x, top + drop), piece, font=font)
            draw.rectangle((x1 - pad, y1 - pad, x2 + pad, y2 + pad), outline=ink, width=max(2, int(cap / 12)))
        x += w + gaps[i]
    arr = np.asarray(img).copy()
    for _ in range(rng.choice((0, 0, 0, 0, 1))):  # a locking rod crossing the line
        rod = int(cap * rng.uniform(0.12, 0.3))
        rx = rng.randint(0, max(0, width - rod))
        col = tuple(int(np.clip(c * rng.uniform(0.8, 1.5) + 20, 0, 255)) for c in paint)
        cv2.rectangle(arr, (rx, 0), (rx + rod, height), col, -1)
        cv2.line(arr, (rx + rod // 3, 0), (rx + rod // 3, height), tuple(min(255, c + 50) for c in col), 1)
    bgr = np.ascontiguousarray(arr[:, :, ::-1])
    h, w = bgr.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = src + np.array([[rng.uniform(-1, 1) * 0.02 * w, rng.uniform(-1, 1) * 0.08 * h] for _ in range(4)], np.float32)
    bgr = cv2.warpPerspective(bgr, cv2.getPerspectiveTransform(src, dst), (w, h), borderMode=cv2.BORDER_REPLICATE)
    char_h = rng.uniform(10, 30)  # the characters' height in the camera
    f = char_h / cap
    small = cv2.resize(bgr, (max(4, round(w * f)), max(4, round(h * f))), interpolation=cv2.INTER_AREA)
    return camera(rng, nprng, np.asarray(small, np.uint8), char_h), label


def container_lines(seed: int, n: int) -> list[Sample]:
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        image, label = render_container_line(rng, nprng)
        out.append(Sample(image, label, "container", None))
    return out


# -- the whole set ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Job:
    kind: str  # "real", "real_val", "plate", "container"
    seed: int
    count: int
    item: LabelledImage | None = None


def plan(
    shared: Path,
    seed: int = SEED,
    *,
    views: int = VIEWS_PER_PHOTO,
    plates: int = DEFAULT_PLATES,
    containers: int = DEFAULT_CONTAINER_LINES,
) -> tuple[list[Job], list[Job]]:
    """(training jobs, validation jobs), each with its own seed drawn from the master stream in a fixed order."""
    master = random.Random(seed)
    fit, val = real_photos(shared, seed)
    train_jobs = [Job("real", master.randrange(1 << 31), views, item) for item in fit]
    train_jobs += [Job("plate", master.randrange(1 << 31), min(CHUNK, plates - k)) for k in range(0, plates, CHUNK)]
    train_jobs += [
        Job("container", master.randrange(1 << 31), min(CHUNK, containers - k)) for k in range(0, containers, CHUNK)
    ]
    val_jobs = [Job("real_val", master.randrange(1 << 31), 0, item) for item in val]
    val_jobs += [
        Job("plate", master.randrange(1 << 31), VAL_PLATES),
        Job("container", master.randrange(1 << 31), VAL_CONTAINER_LINES),
    ]
    return train_jobs, val_jobs


def run_job(job: Job) -> list[Sample]:
    if job.kind == "real":
        assert job.item is not None
        return real_views(job.seed, job.item, job.count)
    if job.kind == "real_val":
        assert job.item is not None
        return real_val_views(job.item, job.seed)
    if job.kind == "plate":
        return plate_lines(job.seed, job.count)
    return container_lines(job.seed, job.count)


def generate(jobs: Sequence[Job], workers: int = 1) -> Iterator[Sample]:
    """The jobs' samples in job order (the same whatever ``workers`` is)."""
    if workers <= 1:
        for job in jobs:
            yield from run_job(job)
        return
    with ProcessPoolExecutor(workers) as pool:
        for samples in pool.map(run_job, jobs):
            yield from samples


def _fitted(samples: Sequence[Sample]) -> dict[str, Any]:
    return {
        "images": np.stack([fit_line(s.image) for s in samples]),
        "labels": np.array([s.label for s in samples]),
        "sources": np.array([s.source for s in samples]),
    }


def contact_sheet(samples: Sequence[Sample], path: Path, n: int = 48) -> None:
    """The first ``n`` fitted lines with their labels, to look at."""
    tiles = []
    for s in samples[:n]:
        tile = cv2.cvtColor(cv2.resize(fit_line(s.image), None, fx=2, fy=2), cv2.COLOR_GRAY2BGR)
        label = np.full((14, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(label, s.label, (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 200), 1)
        tiles.append(np.vstack([tile, label]))
    rows = [np.hstack(tiles[i : i + 4]) for i in range(0, len(tiles) - len(tiles) % 4, 4)]
    if rows:
        cv2.imwrite(str(path), np.vstack(rows))


def build(shared: Path, out: Path, seed: int = SEED, workers: int = 1, **counts: int) -> dict[str, Any]:
    started = time.monotonic()
    train_jobs, val_jobs = plan(shared, seed, **counts)
    out.mkdir(parents=True, exist_ok=True)
    train = list(generate(train_jobs, workers))
    val = list(generate(val_jobs, workers))
    np.savez_compressed(out / "lines.npz", **_fitted(train))
    np.savez_compressed(out / "val.npz", **_fitted(val))
    for source in ("real", "plate", "container"):
        chosen = [s for s in train if s.source == source]
        random.Random(seed).shuffle(chosen)
        contact_sheet(chosen, out / f"sheet_{source}.png")
    fit, held = real_photos(shared, seed)
    meta = {
        "seed": seed,
        "train": dict(Counter(s.source for s in train)),
        "val": dict(Counter(s.source for s in val)),
        "fit_photos": len(fit),
        "val_photos": len(held),
        "val_photo_files": sorted(str(item.path.relative_to(shared)) for item in held),
        "views_per_photo": counts.get("views", VIEWS_PER_PHOTO),
        "seconds": round(time.monotonic() - started, 1),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("var/vision/recdata"))
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--views", type=int, default=VIEWS_PER_PHOTO, help="augmented views per real photo")
    parser.add_argument("--plates", type=int, default=DEFAULT_PLATES)
    parser.add_argument("--containers", type=int, default=DEFAULT_CONTAINER_LINES)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    meta = build(
        args.shared, args.out, args.seed, args.workers, views=args.views, plates=args.plates,
        containers=args.containers,
    )  # fmt: skip
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

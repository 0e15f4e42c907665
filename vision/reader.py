"""Read licence plates and ISO 6346 container codes in a camera frame.

    reader = Reader()                        # loads the detector and the recogniser once
    for read in reader.read(load_image("frame.jpg")):
        print(read.kind, read.text, read.valid, read.confidence)

Pipeline: the detector backend (``vision.backends``, ONNX Runtime) finds plate and container-code boxes; each
box is cropped and read by rapidocr (its models ship in its wheel); plate text is normalised and checked by
the plate grammars (``vision.grammars``), container codes by the ISO 6346 check digit, which also repairs
single-character confusions (``vision.iso6346``).  Bad images raise :class:`ImageError` with a named reason.
A :class:`Reader` is not thread-safe; use one per thread.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from cedetect.config import VisionSettings
from vision import backends, grammars, iso6346
from vision.line_model import LineModel, LineRead
from vision.recogniser import LineRecogniser

SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "BMP", "WEBP", "TIFF", "PPM"})
#: Crop padding (fraction of the box width, height) per class, so the recogniser sees whole characters.
_PADDING = {0: (0.06, 0.18), 1: (0.04, 0.15)}
_MIN_CROP_HEIGHT = 64
_MIN_TEXT = 4  # fewer characters is a fragment, not a plate or a code
_MIN_LINE_SCORE = 0.3  # a detected line read less surely than this is dropped (rapidocr's text_score)
_MIN_FRAME_LINE_PX = 8  # the whole-frame fallback reads no line less tall than this (in frame pixels)


class ImageError(ValueError):
    """An image that cannot be read; ``reason`` is a short snake_case name."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def decode_image(data: bytes, settings: VisionSettings | None = None) -> npt.NDArray[np.uint8]:
    """Decode encoded image bytes to BGR uint8 ``HxWx3``; size is checked from the header before decoding.

    Reasons: ``empty_file``, ``file_too_large``, ``not_an_image``, ``unsupported_format``, ``image_too_large``,
    ``corrupt_image``.
    """
    limits = settings or _default_settings()
    if not data:
        raise ImageError("empty_file", "0 bytes")
    if len(data) > limits.max_file_bytes:
        raise ImageError("file_too_large", f"{len(data)} bytes > {limits.max_file_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError("not_an_image", "not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError("image_too_large", str(exc)) from None
    except Exception as exc:  # Pillow raises several types on malformed headers
        raise ImageError("corrupt_image", f"{type(exc).__name__}: {exc}") from None
    with image:
        if image.format not in SUPPORTED_FORMATS:
            raise ImageError("unsupported_format", f"{image.format}; supported: {', '.join(sorted(SUPPORTED_FORMATS))}")
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageError("corrupt_image", f"size {width}x{height}")
        if width > limits.max_side_px or height > limits.max_side_px or width * height > limits.max_pixels:
            raise ImageError(
                "image_too_large",
                f"{width}x{height} px; limits {limits.max_side_px} px a side, {limits.max_pixels} px in all",
            )
        try:
            image.load()  # a full decode: truncated or damaged data fails here
            oriented = ImageOps.exif_transpose(image) or image
            rgb = np.asarray(oriented.convert("RGB"))
        except Exception as exc:
            raise ImageError("corrupt_image", f"{type(exc).__name__}: {exc}") from None
    return np.ascontiguousarray(rgb[:, :, ::-1])


def load_image(path: str | os.PathLike[str], settings: VisionSettings | None = None) -> npt.NDArray[np.uint8]:
    """Read and decode an image file; :class:`ImageError` (also ``unreadable_file``) when it cannot be."""
    limits = settings or _default_settings()
    try:
        size = os.path.getsize(path)
        if size > limits.max_file_bytes:
            raise ImageError("file_too_large", f"{size} bytes > {limits.max_file_bytes}")
        with open(path, "rb") as fh:
            data = fh.read()
    except ImageError:
        raise
    except IsADirectoryError:
        raise ImageError("unreadable_file", "is a directory") from None
    except OSError as exc:
        raise ImageError("unreadable_file", exc.strerror or str(exc)) from None
    return decode_image(data, limits)


_DEFAULTS: VisionSettings | None = None


def _default_settings() -> VisionSettings:
    global _DEFAULTS
    if _DEFAULTS is None:
        _DEFAULTS = VisionSettings()
    return _DEFAULTS


@dataclass(frozen=True, slots=True)
class Read:
    kind: Literal["plate", "container"]
    text: str  # normalised A-Z0-9 (container: 11 characters when complete)
    raw_text: str  # what the recogniser returned
    confidence: float  # [0, 1]: detector score times recogniser score
    box_xyxy: tuple[int, int, int, int]
    valid: bool  # a plate grammar accepted it / the ISO 6346 check digit is right
    grammar: str | None  # "TR", "HR", "BR", ..., "iso6346"
    check_digit_ok: bool | None  # containers only
    repaired: bool  # characters were changed to fit the grammar or the check digit
    crop_jpeg: bytes  # the crop as JPEG (evidence; name it by the SHA-256 of these bytes)


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    score: float
    box: tuple[float, float, float, float]  # in crop pixels


class Reader:
    """Detector + recogniser + grammars; construct once and reuse (loading takes about a second)."""

    def __init__(self, settings: VisionSettings | None = None) -> None:
        self.settings = settings or VisionSettings()
        self.detector = backends.create(self.settings)
        from rapidocr import RapidOCR

        self._ocr = RapidOCR(params=self._ocr_params(crop=True))  # its text detector, for crops
        self._rec = LineRecogniser(threads=self.settings.threads)  # its recognition model, run directly
        # the project's small recogniser, read first; rapidocr's model only where its read is unsure
        self._line = LineModel(threads=self.settings.threads) if self.settings.recogniser == "project" else None
        self._frame_ocr: Any = None  # the whole-frame fallback engine, built on first use
        self.grammar_order: tuple[str, ...] = tuple(self.settings.plate_grammars)
        for name in self.grammar_order:
            grammars.get(name)  # an unknown grammar name fails here, with the known ones

    def _ocr_params(self, *, crop: bool) -> dict[str, Any]:
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.text_score": 0.3,
            "EngineConfig.onnxruntime.intra_op_num_threads": self.settings.threads or -1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        if crop:  # crops are small: text detection at their own size (at most 640 px), not enlarged to 736
            params |= {"Det.limit_type": "max", "Det.limit_side_len": 640}
        elif self.settings.full_frame_max_side_px:  # the whole frame, scaled down: cost grows with the area
            params |= {"Det.limit_type": "max", "Det.limit_side_len": self.settings.full_frame_max_side_px}
        return params

    def read(self, image_bgr: npt.NDArray[np.uint8]) -> list[Read]:
        """Every plate and container code the detector finds in the frame, best first."""
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise ImageError("bad_array", f"expected HxWx3 uint8 BGR, got {image_bgr.shape} {image_bgr.dtype}")
        found = self.detector.detect(image_bgr)
        reads: list[Read] = []
        plates = []  # (crop, box, detector score) of every plate box
        for i in range(found.count):
            if int(found.classes[i]) == 0:
                crop, box = _crop(image_bgr, found.boxes[i], *_PADDING[0])
                if crop is not None:
                    plates.append((crop, box, float(found.scores[i])))
        # one-line plate crops: the project recogniser reads them all in one batch; a sure read that fits a
        # fixed-layout format is kept as it is, the others go to rapidocr's recogniser (batched too)
        one_line = [k for k, (crop, _, _) in enumerate(plates) if _one_line(crop)]
        sure: dict[int, Read] = {}
        if self._line is not None and one_line:
            for k, line in zip(one_line, self._line.read([plates[k][0] for k in one_line]), strict=True):
                if (read := self._sure_plate(line, *plates[k])) is not None:
                    sure[k] = read
        unsure = [k for k in one_line if k not in sure]
        recognised = dict(zip(unsure, self._recognise([plates[k][0] for k in unsure]), strict=True))
        for k, (crop, box, det_score) in enumerate(plates):
            plate = sure.get(k) or self._read_plate(crop, box, det_score, recognised.get(k))
            if plate is not None:
                reads.append(plate)
        for i in range(found.count):
            if int(found.classes[i]) != 1:
                continue
            # a detection may hold only part of a code (owner code and serial are often apart, split by
            # locking rods): read a generous region around it; the check digit picks the code out
            x1, y1, x2, y2 = (float(v) for v in found.boxes[i])
            reach = max(0.3, 4.0 * (y2 - y1) / max(x2 - x1, 1.0))
            crop, box, (cx1, cy1), scale = _placed_crop(image_bgr, found.boxes[i], reach, 1.0)
            if crop is None:
                continue
            # where the detector's box lies in the crop (the crop may have been enlarged)
            inner = ((x1 - cx1) * scale, (y1 - cy1) * scale, (x2 - cx1) * scale, (y2 - cy1) * scale)
            read = self._read_container(crop, box, float(found.scores[i]), inner)
            if read is not None:
                reads.append(read)
        h, w = image_bgr.shape[:2]
        # rapidocr's default frame scaling enlarges the short side to 736 px: not for slivers, which would
        # explode in size (a bounded longer side, ``full_frame_max_side_px``, never enlarges)
        frame_ok = min(h, w) >= 32 and (self.settings.full_frame_max_side_px > 0 or max(h, w) <= 8 * min(h, w))
        if self.settings.full_frame_fallback and frame_ok and not any(r.valid for r in reads):
            reads.extend(self._read_full_frame(image_bgr, plates=True, containers=True))
        best: dict[tuple[str, str], Read] = {}
        for read in reads:  # the same text from overlapping regions: keep the most confident read
            key = (read.kind, read.text)
            if key not in best or (read.valid, read.confidence) > (best[key].valid, best[key].confidence):
                best[key] = read
        return sorted(best.values(), key=lambda r: (not r.valid, -r.confidence))

    def _read_full_frame(self, image: npt.NDArray[np.uint8], *, plates: bool, containers: bool) -> list[Read]:
        """The text detector over the whole frame; only strict matches are kept (see ``full_frame_fallback``)."""
        if self._frame_ocr is None:
            from rapidocr import RapidOCR

            self._frame_ocr = RapidOCR(params=self._ocr_params(crop=False))
        quads = self._detect_quads(image, self._frame_ocr)
        # lines too small to hold a plate's or a code's characters are not read
        heights = _quad_heights(quads)
        chosen = [k for k in range(len(quads)) if heights[k] >= _MIN_FRAME_LINE_PX]
        lines = self._recognise_quads(image, quads, chosen)
        out: list[Read] = []
        if plates:
            for line in lines:
                plate = grammars.validate(line.text, self.grammar_order)
                if plate.valid and _specificity(plate) and len(plate.text) >= 5:
                    crop, box = _crop(image, np.asarray(line.box, np.float32), *_PADDING[0])
                    if crop is not None:
                        out.append(Read(
                            kind="plate", text=plate.text, raw_text=line.text, confidence=_clip01(line.score * 0.8),
                            box_xyxy=box, valid=True, grammar=plate.grammar, check_digit_ok=None,
                            repaired=plate.repaired, crop_jpeg=_jpeg(crop),
                        ))  # fmt: skip
        if containers:
            ordered = _reading_order(lines)
            code = _find_container_code(ordered)
            if code is not None and code.check_digit_ok:
                parts = [ln for ln in ordered if grammars.normalise(ln.text) in code.code] or ordered
                union = np.array([min(p.box[0] for p in parts), min(p.box[1] for p in parts),
                                  max(p.box[2] for p in parts), max(p.box[3] for p in parts)], np.float32)  # fmt: skip
                crop, box = _crop(image, union, *_PADDING[1])
                score = float(np.mean([p.score for p in parts]))
                if crop is not None:
                    out.append(Read(
                        kind="container", text=code.code, raw_text=" ".join(p.text for p in parts)[:128],
                        confidence=_clip01(score * 0.8), box_xyxy=box, valid=True, grammar="iso6346",
                        check_digit_ok=True, repaired=code.repaired, crop_jpeg=_jpeg(crop),
                    ))  # fmt: skip
        return out

    # -- recognition -------------------------------------------------------------------------------------
    def _lines(self, crop: npt.NDArray[np.uint8], *, detect: bool) -> list[_Line]:
        """The crop's text lines in reading order: the text detector's lines, each recognised on its own
        (``detect``), or the whole crop as one line."""
        if not detect:
            return self._recognise([crop])[0]
        quads = self._detect_quads(crop)
        return self._recognise_quads(crop, quads, list(range(len(quads))))

    def _detect_quads(self, crop: npt.NDArray[np.uint8], engine: Any = None) -> npt.NDArray[np.float32]:
        """Text-line quadrilaterals (N, 4, 2) from rapidocr's text detector, in crop pixels."""
        result: Any = (engine or self._ocr)(crop, use_det=True, use_cls=False, use_rec=False)
        quads = getattr(result, "boxes", None)
        if quads is None or len(quads) == 0:
            return np.zeros((0, 4, 2), np.float32)
        return np.asarray(quads, np.float32).reshape(-1, 4, 2)

    def _recognise_quads(
        self,
        crop: npt.NDArray[np.uint8],
        quads: npt.NDArray[np.float32],
        chosen: Sequence[int],
        *,
        stitched: bool = False,
    ) -> list[_Line]:
        """The chosen lines, straightened and recognised, in reading order: each on its own, or side by side
        in one pass (``stitched``: far cheaper, but a line's read can change with its neighbours, as the
        model looks along the whole input; used for container codes, whose check digit catches that)."""
        boxes = [
            (float(quads[k][:, 0].min()), float(quads[k][:, 1].min()),
             float(quads[k][:, 0].max()), float(quads[k][:, 1].max()))
            for k in chosen
        ]  # fmt: skip
        order = _reading_order_of(boxes)
        if not order:
            return []
        images = [_quad_crop(crop, quads[chosen[i]]) for i in order]
        texts = self._rec.read_stitched(images) if stitched else self._rec.read(images)
        lines = []
        for i, read in zip(order, texts, strict=True):
            if read.text and grammars.normalise(read.text) and read.score >= _MIN_LINE_SCORE:
                lines.append(_Line(read.text, read.score, boxes[i]))
        return lines

    def _recognise(self, crops: Sequence[npt.NDArray[np.uint8]]) -> list[list[_Line]]:
        """The recognition model alone (no text detector, no classifier) on whole crops, batched."""
        out: list[list[_Line]] = []
        for crop, read in zip(crops, self._rec.read(crops), strict=True):
            if not grammars.normalise(read.text):
                out.append([])
                continue
            h, w = crop.shape[:2]
            out.append([_Line(read.text, read.score, (0.0, 0.0, float(w), float(h)))])
        return out

    def _sure_plate(
        self,
        line: LineRead,
        crop: npt.NDArray[np.uint8],
        box: tuple[int, int, int, int],
        det_score: float,
    ) -> Read | None:
        """The project recogniser's plate read when it can stand alone: it fits a fixed-layout format as read
        or after at most the grammar's letter/digit repairs, and no character is less sure than
        ``line_min_prob``; otherwise None (rapidocr's recogniser reads the crop)."""
        if line.min_prob < self.settings.line_min_prob or len(line.text) < _MIN_TEXT:
            return None
        plate = grammars.validate(line.text, self.grammar_order)
        if not plate.fixed_layout:
            return None
        return Read(
            kind="plate", text=plate.text, raw_text=line.text, confidence=_clip01(det_score * line.score),
            box_xyxy=box, valid=True, grammar=plate.grammar, check_digit_ok=None, repaired=plate.repaired,
            crop_jpeg=_jpeg(crop),
        )  # fmt: skip

    def _read_plate(
        self,
        crop: npt.NDArray[np.uint8],
        box: tuple[int, int, int, int],
        det_score: float,
        recognised: list[_Line] | None = None,
    ) -> Read | None:
        """A one-line crop is read by the project recogniser first, and its read kept when sure
        (:meth:`_sure_plate`); otherwise by rapidocr's recogniser and, where needed, its text detector.
        ``recognised``: rapidocr's lines for the crop, already run (batched) because the project recogniser
        was unsure of it."""
        if recognised is None and self._line is not None and _one_line(crop):
            sure = self._sure_plate(self._line.read([crop])[0], crop, box, det_score)
            if sure is not None:
                return sure
        candidates: list[tuple[grammars.PlateText, str, float]] = []
        if recognised is None and _one_line(crop):  # one-line plate: the recogniser alone
            recognised = self._recognise([crop])[0]
        for line in recognised or ():
            candidates.append((grammars.validate(line.text, self.grammar_order), line.text, line.score))
        # Two-line plates, and one-line reads that fit only a loose format: the text detector as well, which
        # trims what the recogniser alone reads into the text (the EU band's country letters, emblems and
        # stickers between the character groups); a fixed-layout read from either path then wins.
        if not any(c[0].valid and _specificity(c[0]) for c in candidates):
            lines = _reading_order(self._lines(crop, detect=True))
            for line in lines:
                candidates.append((grammars.validate(line.text, self.grammar_order), line.text, line.score))
            if len(lines) > 1:  # two-line plates, or one plate split into parts
                joined = " ".join(line.text for line in lines)
                score = float(np.mean([line.score for line in lines]))
                candidates.append((grammars.validate(joined, self.grammar_order), joined, score))
        candidates = [c for c in candidates if len(c[0].text) >= _MIN_TEXT]
        if not candidates:
            return None
        best = max(candidates, key=lambda c: (c[0].valid, _specificity(c[0]), c[2]))
        plate, raw, ocr_score = best
        return Read(
            kind="plate", text=plate.text, raw_text=raw, confidence=_clip01(det_score * ocr_score), box_xyxy=box,
            valid=plate.valid, grammar=plate.grammar, check_digit_ok=None, repaired=plate.repaired,
            crop_jpeg=_jpeg(crop),
        )  # fmt: skip

    def _code_lines(
        self, crop: npt.NDArray[np.uint8], inner: tuple[float, float, float, float], factor: float
    ) -> list[_Line]:
        """Text lines of a container crop that can be part of its code, recognised in one batch.

        The text detector finds every line on the door (brand names, web addresses, weight tables); only
        lines as tall as the characters inside the detector's box (``inner``, crop pixels; ``factor``: how
        much this variant of the crop was enlarged) and near it are recognised: half to twice that height,
        the boxed check digit included, logos and small print left out.  Recognition is most of the cost.
        """
        quads = self._detect_quads(crop)
        if len(quads) == 0:
            return self._lines(crop, detect=False)
        heights = _quad_heights(quads)
        x1, y1, x2, y2 = (v * factor for v in inner)
        centres = quads.mean(axis=1)
        inside = (centres[:, 0] >= x1) & (centres[:, 0] <= x2) & (centres[:, 1] >= y1) & (centres[:, 1] <= y2)
        ref = float(np.median(heights[inside])) if inside.any() else float(np.median(heights))
        reach = 4.0 * ref
        near = (
            (centres[:, 0] >= x1 - reach) & (centres[:, 0] <= x2 + reach)
            & (centres[:, 1] >= y1 - reach) & (centres[:, 1] <= y2 + reach)
        )  # fmt: skip
        chosen = [k for k in range(len(quads)) if near[k] and 0.5 * ref <= heights[k] <= 2.0 * ref]
        return self._recognise_quads(crop, quads, chosen, stitched=True)

    def _read_container(
        self,
        crop: npt.NDArray[np.uint8],
        box: tuple[int, int, int, int],
        det_score: float,
        inner: tuple[float, float, float, float],
    ) -> Read | None:
        # The crop as it is first; when that gives no clean code, contrast-equalised variants (door markings
        # are often faint, dirty or dark), keeping the best: check digit right, then unrepaired, then score.
        # (rapidocr's recogniser, not the project's: see vision/README.md, "The project recogniser")
        best: tuple[tuple[bool, bool, float], list[_Line], iso6346.ContainerCode | None] | None = None
        for variant, factor in _container_variants(crop):
            lines = self._code_lines(variant, inner, factor)
            if not lines:
                continue
            code = _find_container_code(lines)
            score = float(np.mean([line.score for line in lines]))
            rank = (code is not None and code.check_digit_ok, code is not None and not code.repaired, score)
            if best is None or rank > best[0]:
                best = (rank, lines, code)
            if rank[0] and rank[1]:
                break
            if code is None and not _CODE_PART.search(" ".join(grammars.normalise(ln.text) for ln in lines)):
                break  # legible, and nothing like a code: not a container code (the other variants cost)
        if best is None:
            return None
        _, lines, found = best
        raw = " ".join(line.text for line in lines)
        ocr_score = float(np.mean([line.score for line in lines]))
        if found is None:
            text = grammars.normalise(raw)[:32]
            if len(text) < _MIN_TEXT:
                return None
            return Read(
                kind="container", text=text, raw_text=raw[:128], confidence=_clip01(det_score * ocr_score),
                box_xyxy=box, valid=False, grammar=None, check_digit_ok=False, repaired=False, crop_jpeg=_jpeg(crop),
            )  # fmt: skip
        return Read(
            kind="container", text=found.code, raw_text=raw[:128], confidence=_clip01(det_score * ocr_score),
            box_xyxy=box, valid=found.check_digit_ok, grammar="iso6346", check_digit_ok=found.check_digit_ok,
            repaired=found.repaired, crop_jpeg=_jpeg(crop),
        )  # fmt: skip


#: Part of a container code in a line: an owner code with its category letter, or a six-digit serial.
_CODE_PART = re.compile(r"\b[A-Z]{3}[UJZ]|[0-9]{6}")

#: An ISO 6346 size/type code printed under the serial (22G1, 45R1, L5G1): not part of the container code.
_SIZE_TYPE = re.compile(r"^[0-9L][0-9][A-Z0-9][0-9]$")


def _find_container_code(lines: Sequence[_Line]) -> iso6346.ContainerCode | None:
    """The code among the lines: size/type tokens dropped first (a boxed check digit often sits lower than
    the serial, level with the size/type code), then all tokens as read, then each line on its own."""
    tokens = [tok for line in lines for tok in line.text.split()]
    kept = [tok for tok in tokens if not _SIZE_TYPE.match(grammars.normalise(tok))]
    candidates = [" ".join(kept), " ".join(tokens), *(line.text for line in lines)]
    fallback = None
    for text in candidates:
        found = iso6346.find_code(text)
        if found is not None and found.check_digit_ok:
            return found
        fallback = fallback or found
    return fallback


def _container_variants(crop: npt.NDArray[np.uint8]) -> Iterator[tuple[npt.NDArray[np.uint8], float]]:
    """(variant, how much it is enlarged): the crop, then contrast-equalised and inverted, then enlarged."""
    yield crop, 1.0
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    equalised = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4)).apply(grey)
    yield np.ascontiguousarray(255 - cv2.cvtColor(equalised, cv2.COLOR_GRAY2BGR)), 1.0
    enlarged = cv2.resize(equalised, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    yield np.ascontiguousarray(cv2.cvtColor(enlarged, cv2.COLOR_GRAY2BGR)), 2.0


def _quad_crop(image: npt.NDArray[np.uint8], quad: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """The text line inside a detected quadrilateral, straightened (top-left, top-right, bottom-right,
    bottom-left corners), as the recogniser expects it."""
    width = max(1, int(max(float(np.linalg.norm(quad[0] - quad[1])), float(np.linalg.norm(quad[2] - quad[3])))))
    height = max(1, int(max(float(np.linalg.norm(quad[0] - quad[3])), float(np.linalg.norm(quad[1] - quad[2])))))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    line = cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return np.asarray(line, np.uint8)


def _one_line(crop: npt.NDArray[np.uint8]) -> bool:
    """A crop wide enough to hold one line of text (a two-line plate or code needs the text detector)."""
    h, w = crop.shape[:2]
    return bool(h / max(w, 1) < 0.5)


def _specificity(plate: grammars.PlateText) -> int:
    """Prefer a fixed-layout country format over the loose catch-all ones."""
    return int(plate.fixed_layout)


def _reading_order(lines: Sequence[_Line]) -> list[_Line]:
    """Top-to-bottom rows (lines whose vertical centres are within half a line height), left to right."""
    return [lines[i] for i in _reading_order_of([ln.box for ln in lines])]


def _reading_order_of(boxes: Sequence[tuple[float, float, float, float]]) -> list[int]:
    """Indices of ``boxes`` (x1, y1, x2, y2) in reading order (see :func:`_reading_order`)."""
    if not boxes:
        return []
    height = float(np.median([b[3] - b[1] for b in boxes])) or 1.0
    return sorted(
        range(len(boxes)), key=lambda i: (round(((boxes[i][1] + boxes[i][3]) / 2) / (height * 0.8)), boxes[i][0])
    )


def _quad_heights(quads: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Height of each text-line quadrilateral (N, 4, 2): the longer of its two sides."""
    heights = np.maximum(
        np.linalg.norm(quads[:, 0] - quads[:, 3], axis=1), np.linalg.norm(quads[:, 1] - quads[:, 2], axis=1)
    )
    return np.asarray(heights, np.float32)


def _crop(
    image: npt.NDArray[np.uint8], box: npt.NDArray[np.float32], pad_x: float, pad_y: float
) -> tuple[npt.NDArray[np.uint8] | None, tuple[int, int, int, int]]:
    crop, out_box, _origin, _scale = _placed_crop(image, box, pad_x, pad_y)
    return crop, out_box


def _placed_crop(
    image: npt.NDArray[np.uint8], box: npt.NDArray[np.float32], pad_x: float, pad_y: float
) -> tuple[npt.NDArray[np.uint8] | None, tuple[int, int, int, int], tuple[int, int], float]:
    """The padded crop (enlarged when short), the box in image pixels, and where the crop lies: its top-left
    corner in the image and its scale (crop pixels per image pixel)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    ix1, iy1 = max(0, int(x1 - bw * pad_x)), max(0, int(y1 - bh * pad_y))
    ix2, iy2 = min(w, int(np.ceil(x2 + bw * pad_x))), min(h, int(np.ceil(y2 + bh * pad_y)))
    out_box = (max(0, int(x1)), max(0, int(y1)), min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2))))
    if ix2 - ix1 < 4 or iy2 - iy1 < 4:
        return None, out_box, (ix1, iy1), 1.0
    crop = image[iy1:iy2, ix1:ix2]
    if crop.shape[0] < _MIN_CROP_HEIGHT:  # the recogniser reads small characters better enlarged
        scale = min(_MIN_CROP_HEIGHT / crop.shape[0], 4.0)
        crop = np.asarray(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC), np.uint8)
    return np.ascontiguousarray(crop), out_box, (ix1, iy1), crop.shape[0] / (iy2 - iy1)


def _jpeg(crop: npt.NDArray[np.uint8]) -> bytes:
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return bytes(buf) if ok else b""


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))

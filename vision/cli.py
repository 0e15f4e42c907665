"""``cedetect read IMAGE [IMAGE...]``: one JSON line per image with the plates and container codes read.

    {"image": PATH, "plates": [{"text", "confidence", "box_xyxy"}],
     "containers": [{"code", "check_digit_ok", "confidence", "box_xyxy"}]}

A file that cannot be read gives ``{"image": PATH, "error": REASON}`` (``empty_file``, ``not_an_image``,
``corrupt_image``, ``image_too_large``, ``unsupported_format``, ``unreadable_file``, ...) and the rest go on.
The exit code is 0 when every image was read (even with nothing on it), 1 when some could not be.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "read", help="read licence plates and ISO 6346 container codes in images (one JSON line per image)"
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, BMP, WebP, TIFF)")
    parser.add_argument(
        "--valid-only", action="store_true", help="leave out reads no plate grammar or check digit accepts"
    )
    parser.add_argument("--details", action="store_true", help="add raw_text, valid, grammar and repaired")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from cedetect.config import VisionSettings
    from vision.reader import ImageError, Reader, load_image

    settings = VisionSettings()
    reader = Reader(settings)
    failures = 0
    for name in args.images:
        try:
            image = load_image(Path(name), settings)
            reads = reader.read(image)
        except ImageError as exc:
            failures += 1
            print(json.dumps({"image": name, "error": exc.reason}), flush=True)
            continue
        except Exception as exc:  # one image must never stop the batch
            failures += 1
            print(json.dumps({"image": name, "error": "read_failed", "detail": f"{type(exc).__name__}: {exc}"}))
            continue
        plates, containers = [], []
        for read in reads:
            if args.valid_only and not read.valid:
                continue
            entry: dict[str, Any] = {"confidence": round(read.confidence, 4), "box_xyxy": list(read.box_xyxy)}
            if args.details:
                entry |= {"raw_text": read.raw_text, "valid": read.valid, "grammar": read.grammar,
                          "repaired": read.repaired}  # fmt: skip
            if read.kind == "plate":
                plates.append({"text": read.text, **entry})
            else:
                containers.append({"code": read.text, "check_digit_ok": bool(read.check_digit_ok), **entry})
        print(json.dumps({"image": name, "plates": plates, "containers": containers}), flush=True)
    sys.stdout.flush()
    return 1 if failures else 0

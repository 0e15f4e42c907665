"""Build the YOLO detection dataset (plate = class 0, container_code = class 1) from the shared photos.

Real photos: only the *train* side of :func:`vision.datasets.plate_split` (seed 6346); the eval side and
the container photos are never written here.  Synthetic: container door markings (full frames and pasted
onto the train photos away from their plates) and a few synthetic plates, all from ``random.Random(seed)``.

    python -m vision.train.build_dataset --shared ../shared/data --out var/vision/dataset
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

import cv2
import numpy as np

from vision.datasets import plate_split
from vision.train import synth

CLASSES = ("plate", "container_code")
SEED = 6346


def _yolo_line(cls: int, box: tuple[float, float, float, float], width: int, height: int) -> str | None:
    x1, y1, x2, y2 = (max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3]))
    if x2 - x1 < 4 or y2 - y1 < 3:
        return None
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    return f"{cls} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"


Box = tuple[int, float, float, float, float]


def _write(out: Path, split: str, name: str, image: np.ndarray, boxes: list[Box]) -> None:
    h, w = image.shape[:2]
    cv2.imwrite(str(out / "images" / split / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    lines = [line for cls, *box in boxes if (line := _yolo_line(cls, tuple(box), w, h))]  # type: ignore[arg-type]
    (out / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))


def build(
    shared: Path,
    out: Path,
    *,
    synthetic_scenes: int,
    pasted_per_photo: int,
    gate_scenes: int = 0,
    gate_photo_fraction: float = 0.5,
    seed: int = SEED,
) -> dict[str, int]:
    rng = random.Random(seed)
    fonts = synth.find_fonts()
    if out.exists():
        shutil.rmtree(out)
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True)
        (out / "labels" / split).mkdir(parents=True)
    train, _eval = plate_split(shared)
    photos = [item for item in train if item.box_xyxy is not None and item.kind == "scene"]
    rng.shuffle(photos)
    n_val = max(4, len(photos) // 10)  # a validation slice of the TRAIN side, for early stopping only
    counts = {"real_train": 0, "real_val": 0, "pasted": 0, "container_scenes": 0, "gate_scenes": 0}
    backgrounds: list[tuple[np.ndarray, tuple[float, float, float, float]]] = []  # train photos, not the val slice
    for i, item in enumerate(photos):
        image = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        assert item.box_xyxy is not None
        px1, py1, px2, py2 = (float(v) for v in item.box_xyxy)
        plate_box = (px1, py1, px2, py2)
        split = "val" if i < n_val else "train"
        _write(out, split, f"real_{i:03d}", image, [(0, px1, py1, px2, py2)])
        counts[f"real_{split}"] += 1
        if split == "val":
            continue
        if gate_scenes:
            backgrounds.append((image, plate_box))
        for k in range(pasted_per_photo):
            scene, box = synth.paste_container(rng, fonts, image, [plate_box])
            if box is None:
                continue
            boxes: list[Box] = [(0, px1, py1, px2, py2), (1, box[0], box[1], box[2], box[3])]
            _write(out, "train", f"pasted_{i:03d}_{k}", synth.degrade(rng, scene), boxes)
            counts["pasted"] += 1
    for j in range(synthetic_scenes):
        rendered = synth.container_scene(rng, fonts)
        image = rendered.image
        boxes = [(int(b[0]), float(b[1]), float(b[2]), float(b[3]), float(b[4])) for b in rendered.boxes]
        if rng.random() < 0.3:  # a truck plate in the frame too
            image, pbox = synth.paste_plate(rng, fonts, image, [(b[1], b[2], b[3], b[4]) for b in boxes])
            if pbox is not None:
                boxes.append((0, pbox[0], pbox[1], pbox[2], pbox[3]))
        split = "val" if j % 10 == 0 else "train"
        _write(out, split, f"container_{j:04d}", image, boxes)
        counts["container_scenes"] += 1
    # gate-camera frames (after the older kinds, so gate_scenes=0 reproduces the earlier builds exactly)
    for j in range(gate_scenes):
        if backgrounds and rng.random() < gate_photo_fraction:
            photo, pbox = rng.choice(backgrounds)
            rendered = synth.gate_scene(rng, fonts, photo, pbox)
        else:
            rendered = synth.gate_scene(rng, fonts)
            if rng.random() < 0.3:  # the trailer's plate below the doors, or a truck in the next lane
                avoid = [(b[1], b[2], b[3], b[4]) for b in rendered.boxes]
                image, plate = synth.paste_plate(rng, fonts, rendered.image, avoid)
                if plate is not None:
                    rendered = synth.Rendered(image, [*rendered.boxes, (0, *plate)])
        boxes = [(int(b[0]), float(b[1]), float(b[2]), float(b[3]), float(b[4])) for b in rendered.boxes]
        split = "val" if j % 10 == 0 else "train"
        _write(out, split, f"gate_{j:04d}", rendered.image, boxes)
        counts["gate_scenes"] += 1
    (out / "data.yaml").write_text(
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\nnames:\n"
        + "".join(f"  {i}: {name}\n" for i, name in enumerate(CLASSES))
    )
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("var/vision/dataset"))
    parser.add_argument("--synthetic-scenes", type=int, default=600)
    parser.add_argument("--pasted-per-photo", type=int, default=3)
    parser.add_argument(
        "--gate-scenes", type=int, default=0, help="gate-camera frames: a small container door in a scene (0: none)"
    )
    parser.add_argument(
        "--gate-photo-fraction", type=float, default=0.5,
        help="share of gate frames drawn over train-side plate photos (the rest over synthetic yards)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    counts = build(
        args.shared, args.out, synthetic_scenes=args.synthetic_scenes, pasted_per_photo=args.pasted_per_photo,
        gate_scenes=args.gate_scenes, gate_photo_fraction=args.gate_photo_fraction, seed=args.seed,
    )  # fmt: skip
    print(counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

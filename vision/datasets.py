"""The labelled shared photos and the project's fixed train/eval split of them (no torch here).

Training (``vision/train``) and the benchmark (``bench/vision_accuracy.py``) both call :func:`plate_split`, so
the evaluation photos are never trained on.  Photos that show the same plate text always land on the same
side; the split is stratified by source folder and seeded (:data:`SPLIT_SEED`).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

SPLIT_SEED = 6346
EVAL_FRACTION = 0.25
#: Hand-drawn container-code boxes for the shared container photos (evaluation only).
CONTAINER_BOXES_PATH = Path(__file__).with_name("eval_labels") / "container_boxes.json"


@dataclass(frozen=True, slots=True)
class LabelledImage:
    path: Path
    text: str
    box_xyxy: tuple[int, int, int, int] | None
    group: str  # source folder (plates) or "containers"
    kind: str  # "scene" or "plate_crop"


def load_plates(shared_data: Path) -> list[LabelledImage]:
    root = shared_data / "plates"
    records = json.loads((root / "labels.json").read_text(encoding="utf-8"))
    out = []
    for rec in records:
        box = rec.get("box_xyxy")
        out.append(
            LabelledImage(
                path=root / rec["file"],
                text=str(rec["plate_text"]),
                box_xyxy=tuple(int(v) for v in box) if box else None,  # type: ignore[arg-type]
                group=Path(rec["file"]).parent.name,
                kind=str(rec.get("kind", "scene")),
            )
        )
    return out


def plate_split(shared_data: Path) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """(train, eval): per source folder, round(25%) of the plate texts go to eval, seed 6346."""
    return split_by_text(load_plates(shared_data), EVAL_FRACTION, min_texts=4, seed=SPLIT_SEED)


def split_by_text(
    items: list[LabelledImage], fraction: float, *, min_texts: int, seed: int
) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """(kept, held out): per source folder with at least ``min_texts`` plate texts, round(``fraction``) of its
    texts are held out, drawn by one ``random.Random(seed)`` over the folders in name order; photos with the
    same text always end up on the same side."""
    by_group: dict[str, dict[str, list[LabelledImage]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        by_group[item.group][item.text].append(item)
    rng = random.Random(seed)
    kept: list[LabelledImage] = []
    held: list[LabelledImage] = []
    for group in sorted(by_group):
        texts = sorted(by_group[group])
        rng.shuffle(texts)
        n_held = round(len(texts) * fraction) if len(texts) >= min_texts else 0
        for i, text in enumerate(texts):
            (held if i < n_held else kept).extend(by_group[group][text])
    return kept, held


def load_containers(shared_data: Path) -> list[LabelledImage]:
    """The shared container photos (evaluation only), with the project's hand-drawn boxes where drawn."""
    root = shared_data / "containers"
    records = json.loads((root / "labels.json").read_text(encoding="utf-8"))
    boxes: dict[str, list[int]] = {}
    if CONTAINER_BOXES_PATH.is_file():
        boxes = json.loads(CONTAINER_BOXES_PATH.read_text(encoding="utf-8"))["boxes"]
    out = []
    for rec in records:
        box = boxes.get(rec["file"])
        out.append(
            LabelledImage(
                path=root / rec["file"],
                text=str(rec["container_code"]),
                box_xyxy=(box[0], box[1], box[2], box[3]) if box else None,
                group="containers",
                kind="scene",
            )
        )
    return out

"""Train the plate / container-code detector from scratch and export it to ONNX.

Needs the ``train`` extra (torch==2.13.0 CPU build, ultralytics).  Only this folder imports torch.

    python -m vision.train.build_dataset --shared ../shared/data --out var/vision/dataset
    python -m vision.train.train --data var/vision/dataset/data.yaml --epochs 30 --imgsz 416
    # -> var/vision/runs/detector/weights/best.pt and vision/models/detector.onnx

The PyPI torchvision wheels link CUDA libraries, which the CPU torch build lacks; when its compiled ops
cannot load, :func:`_torchvision_fallback` provides the one op detection training uses (``ops.nms``) in
plain torch, so no CUDA packages are needed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import json
import shutil
import sys
import time
import types
from pathlib import Path
from typing import Any

SEED = 6346
MODEL_YAML = Path(__file__).with_name("detector.yaml")
ONNX_OUT = Path(__file__).resolve().parents[1] / "models" / "detector.onnx"


def _torchvision_fallback() -> None:
    try:
        importlib.import_module("torchvision")
        return
    except (OSError, RuntimeError):
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    import torch

    def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
        order = scores.argsort(descending=True)
        keep = []
        x1, y1, x2, y2 = boxes.unbind(1)
        areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
        while order.numel() > 0:
            i = order[0]
            keep.append(i)
            if order.numel() == 1:
                break
            rest = order[1:]
            w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
            h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
            inter = w * h
            iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
            order = rest[iou <= iou_threshold]
        return torch.stack(keep) if keep else torch.empty(0, dtype=torch.long)

    module = types.ModuleType("torchvision")
    module.__spec__ = importlib.machinery.ModuleSpec("torchvision", None)
    module.__version__ = "0.28.0"  # type: ignore[attr-defined]
    ops = types.ModuleType("torchvision.ops")
    ops.nms = nms  # type: ignore[attr-defined]
    module.ops = ops  # type: ignore[attr-defined]
    sys.modules["torchvision"] = module
    sys.modules["torchvision.ops"] = ops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("var/vision/dataset/data.yaml"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--time-h", type=float, default=0.7, help="hard time budget in hours (ultralytics 'time')")
    parser.add_argument("--project", type=Path, default=Path("var/vision/runs"))
    parser.add_argument("--name", default="detector")
    parser.add_argument("--onnx-out", type=Path, default=ONNX_OUT)
    parser.add_argument("--opset", type=int, default=12)
    parser.add_argument("--export-only", type=Path, metavar="WEIGHTS", help="only export these .pt weights")
    parser.add_argument(
        "--init", type=Path, metavar="WEIGHTS", help="start from these weights (an earlier run of this script)"
    )
    parser.add_argument("--lr0", type=float, default=0.01)
    parser.add_argument("--warmup-epochs", type=float, default=3.0)
    args = parser.parse_args(argv)

    _torchvision_fallback()
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(2)
    if args.export_only:
        _export(YOLO, args.export_only, args, {"partial": True, "torch": torch.__version__})
        return 0
    started = time.monotonic()
    # --init continues from an earlier run's checkpoint (same detector.yaml layout), otherwise from scratch
    model = YOLO(str(args.init), task="detect") if args.init else YOLO(str(MODEL_YAML), task="detect")
    model.train(
        data=str(args.data.resolve()), epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, device="cpu",
        workers=args.workers, seed=SEED, deterministic=True, pretrained=bool(args.init), amp=False, plots=False,
        project=str(args.project.resolve()), name=args.name, exist_ok=True, time=args.time_h, patience=100,
        lr0=args.lr0, warmup_epochs=args.warmup_epochs, mosaic=1.0, close_mosaic=3, fliplr=0.0, degrees=3.0,
        scale=0.5, translate=0.1, hsv_h=0.02, verbose=True,
    )  # fmt: skip
    trained_s = time.monotonic() - started
    best = args.project.resolve() / args.name / "weights" / "best.pt"
    extra: dict[str, Any] = {"train_seconds": round(trained_s, 1), "torch": torch.__version__}
    if args.init:
        extra["init"] = str(args.init)
    _export(YOLO, best, args, extra)
    return 0


def _export(yolo: Any, weights: Path, args: argparse.Namespace, extra: dict[str, Any]) -> None:
    model = yolo(str(weights))
    epoch = None
    try:
        import torch

        epoch = int(torch.load(str(weights), map_location="cpu", weights_only=False).get("epoch", -1)) + 1
    except Exception as exc:  # the epoch is only metadata
        print(f"could not read the epoch from {weights}: {exc}")
    results = weights.parent.parent / "results.csv"  # one row per finished epoch
    if (epoch is None or epoch <= 0) and results.is_file():
        epoch = max(0, len(results.read_text().strip().splitlines()) - 1)
    # free height and width: the backend pads frames only to the next multiple of 32 (a 16:9 frame: 416x256)
    exported = model.export(format="onnx", imgsz=args.imgsz, opset=args.opset, simplify=True, dynamic=True)
    args.onnx_out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(exported, args.onnx_out)
    meta = {
        "classes": ["plate", "container_code"],
        "imgsz": args.imgsz,
        "epochs_trained": epoch,
        "seed": SEED,
        "opset": args.opset,
        "model_yaml": MODEL_YAML.name,
        "dataset": "python -m vision.train.build_dataset (seed 6346; plate_split train side + synthetic)",
        **extra,
    }
    args.onnx_out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps({"onnx": str(args.onnx_out), **meta}))


if __name__ == "__main__":
    raise SystemExit(main())

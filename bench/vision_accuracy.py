"""Plate and container-code reading: accuracy on photos training never saw, and speed on this machine.

    python -m bench.vision_accuracy [--shared ../shared/data] [--speed-rounds 3] [--threads N] [--json OUT]

Accuracy, each beside a baseline measured in the same run (rapidocr on the whole image, no detector, its
lines checked by the same plate grammars and ISO 6346 repair):
- plate text exact: the reader's best plate read equals the label, on the eval side of
  ``vision.datasets.plate_split`` (seed 6346; identical plate texts never straddle the split).  Also shown
  "exact up to O/0", because some source labels write the letter O where the plate has a zero;
- container code exact: the best container read equals the label, on the 10 shared container photos (no
  container photo is used in training; the detector saw only synthetic container markings);
- detection recall at IoU 0.5: a detector box of the right class overlaps the labelled box (plates: source
  boxes; containers: the project's hand-drawn boxes in ``vision/eval_labels``).
Also: the same with the other detector precision (fp32 beside the default int8) and with the other recogniser
setting (rapidocr's recogniser alone beside the project recogniser first), and plate text exact with
the reader's plate box moved by up to 2 px (6 seeded tries per photo): the recogniser's read of a character
it hesitates over (O or D) can turn on one pixel, so this figure is steadier than one box per photo.
Speed: frames/s and reads/s over the eval photos (plate and container frames also apart), one frame at a
time for: the reader, the reader with the other precision, with the other recogniser setting, the detector's
boxes only (no fallback), and the baseline (rapidocr on the whole frame), taking turns within each round so
the machine's load falls on all alike; then the reader with one reader per CPU core in parallel, one ONNX
Runtime thread each (the edge camera's default).  Ratios are against the baseline in the same run.  Goals:
plate exact >= 95%, container exact >= 97%, >= 30 reads/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cedetect.config import VisionSettings
from vision import grammars, iso6346
from vision.datasets import LabelledImage, load_containers, plate_split
from vision.reader import _PADDING, Reader, _crop, load_image

GOALS = {"plate_exact": 0.95, "container_exact": 0.97, "reads_per_s": 30.0}


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _o0(text: str) -> str:
    return text.replace("O", "0")


def baseline_read(ocr: Any, image: np.ndarray, order: tuple[str, ...]) -> tuple[str | None, str | None]:
    """rapidocr on the whole image: (best plate text, best container code) by the same grammars."""
    result = ocr(image, use_det=True, use_cls=False, use_rec=True)
    texts = [str(t) for t in (getattr(result, "txts", None) or ())]
    scores = [float(s) for s in (getattr(result, "scores", None) or ())]
    plates = []
    for text, score in zip(texts, scores, strict=False):
        checked = grammars.validate(text, order)
        if checked.valid and len(checked.text) >= 5:
            specific = int(checked.fixed_layout)
            plates.append((specific, score, checked.text))
    plate = max(plates)[2] if plates else None
    code = None
    for candidate in [*texts, " ".join(texts)]:
        found = iso6346.find_code(candidate)
        if found is not None and found.check_digit_ok:
            code = found.code
            break
    return plate, code


def evaluate(reader: Reader, detector_only: Reader, items: list[LabelledImage], kind: str, ocr: Any) -> dict[str, Any]:
    cls = 0 if kind == "plate" else 1
    exact = exact_o0 = base_exact = base_o0 = recall_hits = with_box = det_exact = det_o0 = 0
    misses = []
    for item in items:
        image = load_image(item.path)
        reads = [r for r in reader.read(image) if r.kind == kind]
        best = reads[0].text if reads else None
        exact += best == item.text
        exact_o0 += best is not None and _o0(best) == _o0(item.text)
        if best != item.text:
            misses.append({"image": item.path.name, "label": item.text, "read": best})
        only = [r for r in detector_only.read(image) if r.kind == kind]
        det_best = only[0].text if only else None
        det_exact += det_best == item.text
        det_o0 += det_best is not None and _o0(det_best) == _o0(item.text)
        plate, code = baseline_read(ocr, image, reader.grammar_order)
        base = plate if kind == "plate" else code
        base_exact += base == item.text
        base_o0 += base is not None and _o0(base) == _o0(item.text)
        if item.box_xyxy is not None:
            with_box += 1
            found = reader.detector.detect(image)
            boxes = [tuple(found.boxes[i]) for i in range(found.count) if found.classes[i] == cls]
            recall_hits += any(iou(b, item.box_xyxy) >= 0.5 for b in boxes)
    n = len(items)
    return {
        "images": n,
        "exact": exact / n,
        "exact_o0": exact_o0 / n,
        "detector_only_exact": det_exact / n,
        "detector_only_exact_o0": det_o0 / n,
        "baseline_exact": base_exact / n,
        "baseline_exact_o0": base_o0 / n,
        "recall_iou50": recall_hits / with_box if with_box else None,
        "boxes": with_box,
        "misses": misses,
    }


def jitter_exact(reader: Reader, items: list[LabelledImage], trials: int, px: float, seed: int = 6346) -> float:
    """Plate text exact when the reader's own plate box is moved by up to ``px`` pixels per side (uniform,
    seeded), ``trials`` times per photo: a steadier figure than one box per photo, since the recogniser's
    read of a character it hesitates over (O or D, 0 or O) can turn on one pixel of the crop."""
    rng = random.Random(seed)
    hits = tries = 0
    for item in items:
        image = load_image(item.path)
        found = reader.detector.detect(image)
        plates = [k for k in range(found.count) if int(found.classes[k]) == 0]
        for _ in range(trials):
            tries += 1
            if not plates:
                continue
            box = found.boxes[plates[0]] + np.array([rng.uniform(-px, px) for _ in range(4)], np.float32)
            crop, out_box = _crop(image, box, *_PADDING[0])  # the reader's own plate crop
            read = reader._read_plate(crop, out_box, float(found.scores[plates[0]])) if crop is not None else None
            hits += read is not None and read.text == item.text
    return hits / tries if tries else 0.0


def speed(
    readers: dict[str, Reader], items: list[LabelledImage], rounds: int, baseline: Callable[[np.ndarray], int]
) -> dict[str, dict[str, float]]:
    """Frames/s and reads/s of each reader over the same frames, one frame at a time; the readers take turns
    within every round, so a change in the machine's load (other jobs share it) falls on all of them alike.
    Plate frames and container frames are also timed apart."""
    images = [load_image(item.path) for item in items]
    kinds = ["container" if item.group == "containers" else "plate" for item in items]
    elapsed = {name: {"plate": 0.0, "container": 0.0} for name in readers}
    reads = {name: {"plate": 0, "container": 0} for name in readers}
    detector_s = 0.0
    first = next(iter(readers.values()))
    runs: dict[str, Callable[[np.ndarray], int]] = {name: _count(reader) for name, reader in readers.items()}
    runs[BASELINE] = baseline
    elapsed[BASELINE] = {"plate": 0.0, "container": 0.0}
    reads[BASELINE] = {"plate": 0, "container": 0}
    for run in runs.values():
        run(images[0])  # warm-up
    for _ in range(rounds):
        for name, run in runs.items():
            for image, kind in zip(images, kinds, strict=True):
                started = time.perf_counter()
                reads[name][kind] += run(image)
                elapsed[name][kind] += time.perf_counter() - started
        started = time.perf_counter()
        for image in images:
            first.detector.detect(image)
        detector_s += time.perf_counter() - started
    n = {kind: rounds * kinds.count(kind) for kind in ("plate", "container")}
    out = {}
    for name in runs:
        total_s = sum(elapsed[name].values())
        total_reads = sum(reads[name].values())
        frames = sum(n.values())
        out[name] = {
            "frames_per_s": frames / total_s,
            "reads_per_s": total_reads / total_s,
            "reads_per_frame": total_reads / frames,
            "detector_ms": 1000 * detector_s / frames,
            "read_ms": 1000 * total_s / frames,
            "plate_frames_per_s": n["plate"] / elapsed[name]["plate"] if n["plate"] else 0.0,
            "container_frames_per_s": n["container"] / elapsed[name]["container"] if n["container"] else 0.0,
        }
    return out


BASELINE = "baseline: rapidocr on the whole frame"


def _count(reader: Reader) -> Callable[[np.ndarray], int]:
    return lambda image: len(reader.read(image))


def parallel_speed(settings: VisionSettings, items: list[LabelledImage], rounds: int, workers: int) -> dict[str, float]:
    """Frames/s and reads/s of ``workers`` readers reading at the same time, one thread each with one ONNX
    Runtime thread (as the edge agent's camera runs them, ``CameraSettings.readers``): the frames are dealt
    out in turn, the clock runs from when all readers are loaded until the last frame is read."""
    images = [load_image(item.path) for item in items] * rounds
    one_thread = settings.model_copy(update={"threads": 1})
    barrier = threading.Barrier(workers + 1)
    counts = [0] * workers

    def work(k: int) -> None:
        reader = Reader(one_thread)
        reader.read(images[0])  # warm-up
        barrier.wait()
        for image in images[k::workers]:
            counts[k] += len(reader.read(image))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - started
    return {
        "workers": workers,
        "frames_per_s": len(images) / took,
        "reads_per_s": sum(counts) / took,
        "reads_per_frame": sum(counts) / len(images),
        "read_ms": 1000 * took / len(images),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--speed-rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads (default: CEDETECT_VISION_THREADS)")
    parser.add_argument("--workers", type=int, help="readers in parallel (default: one per CPU)")
    args = parser.parse_args(argv)

    settings = VisionSettings() if args.threads is None else VisionSettings(threads=args.threads)
    reader = Reader(settings)
    detector_only = Reader(settings.model_copy(update={"full_frame_fallback": False}))
    from rapidocr import RapidOCR

    ocr = RapidOCR(
        params={
            "Global.log_level": "error",
            "Global.text_score": 0.3,
            "EngineConfig.onnxruntime.intra_op_num_threads": settings.threads or -1,
        }
    )
    _train, plate_eval = plate_split(args.shared)
    plate_eval = [item for item in plate_eval if item.kind == "scene"]
    containers = load_containers(args.shared)
    plates = evaluate(reader, detector_only, plate_eval, "plate", ocr)
    conts = evaluate(reader, detector_only, containers, "container", ocr)
    other = "int8" if settings.precision == "fp32" else "fp32"
    other_reader = Reader(settings.model_copy(update={"precision": other}))
    other_plates = evaluate(other_reader, detector_only, plate_eval, "plate", ocr)
    other_conts = evaluate(other_reader, detector_only, containers, "container", ocr)
    # the other recogniser setting: rapidocr's model alone (the reader before the project recogniser), or the
    # project recogniser first when rapidocr's is the setting
    other_rec = "rapidocr" if settings.recogniser == "project" else "project"
    rec_settings = settings.model_copy(update={"recogniser": other_rec})
    rec_reader = Reader(rec_settings)
    rec_plates = evaluate(rec_reader, detector_only, plate_eval, "plate", ocr)
    rec_conts = evaluate(rec_reader, detector_only, containers, "container", ocr)
    rec_label = f"reader, {other_rec} recogniser" + (" only" if other_rec == "rapidocr" else " first")
    jitter = {
        "trials": 6,
        "px": 2.0,
        "reader": jitter_exact(reader, plate_eval, 6, 2.0),
        f"{other}_reader": jitter_exact(other_reader, plate_eval, 6, 2.0),
        f"{other_rec}_recogniser_reader": jitter_exact(rec_reader, plate_eval, 6, 2.0),
    }
    load_before = os.getloadavg()
    speeds = speed(
        {
            "reader": reader,
            f"reader, {other} detector": other_reader,
            rec_label: rec_reader,
            "detector boxes only (no fallback)": detector_only,
        },
        plate_eval + containers,
        args.speed_rounds,
        lambda image: sum(r is not None for r in baseline_read(ocr, image, reader.grammar_order)),
    )
    workers = args.workers or os.cpu_count() or 1
    parallel = {
        "reader": parallel_speed(settings, plate_eval + containers, args.speed_rounds, workers),
        f"reader, {other} detector": parallel_speed(
            settings.model_copy(update={"precision": other}), plate_eval + containers, args.speed_rounds, workers
        ),
        rec_label: parallel_speed(rec_settings, plate_eval + containers, args.speed_rounds, workers),
        "detector boxes only (no fallback)": parallel_speed(
            settings.model_copy(update={"full_frame_fallback": False}), plate_eval + containers,
            args.speed_rounds, workers,
        ),
    }  # fmt: skip
    load_after = os.getloadavg()
    meta_path = settings.model_path or Path(__file__).resolve().parents[1] / "vision" / "models" / "detector.onnx"
    meta_file = meta_path.with_suffix(".json")
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "providers": getattr(reader.detector, "providers", None),
        "detector": json.loads(meta_file.read_text()) if meta_file.is_file() else {},
        "input_size": getattr(reader.detector, "input_size", None),
        "plates": plates,
        "containers": conts,
        "precision": settings.precision,
        f"{other}_detector": {"plates": other_plates, "containers": other_conts},
        "recogniser": settings.recogniser,
        "line_min_prob": settings.line_min_prob,
        f"{other_rec}_recogniser": {"plates": rec_plates, "containers": rec_conts},
        "plate_exact_box_jitter": jitter,
        "threads": settings.threads,
        "full_frame_max_side_px": settings.full_frame_max_side_px,
        "load_average_1min": [load_before[0], load_after[0]],
        "cpus": os.cpu_count(),
        "speed": speeds,
        "parallel": parallel,
        "goals": GOALS,
    }

    def pct(v: float | None) -> str:
        return "   n/a" if v is None else f"{100 * v:5.1f}%"

    print("                    reader   detector only   baseline (rapidocr, whole frame)")
    print(f"plates (eval split, {plates['images']} photos, seed 6346), goal 95%:")
    for label, key in (("text exact", "exact"), ("exact up to O/0", "exact_o0")):
        print(f"  {label:17s} {pct(plates[key])}   {pct(plates['detector_only_' + key])}"
              f"          {pct(plates['baseline_' + key])}")  # fmt: skip
    print(f"  recall IoU 0.5    {pct(plates['recall_iou50'])} of {plates['boxes']} boxes (detector)")
    print(f"  with the {other} detector: text exact {pct(other_plates['exact'])}, recall "
          f"{pct(other_plates['recall_iou50'])}")  # fmt: skip
    print(f"  with the {other_rec} recogniser{' only' if other_rec == 'rapidocr' else ' first'}: text exact "
          f"{pct(rec_plates['exact'])}")  # fmt: skip
    print(f"  text exact with the plate box moved up to 2 px (6 tries per photo, no fallback): reader "
          f"{pct(jitter['reader'])}, {other} detector {pct(jitter[other + '_reader'])}, {other_rec} recogniser "
          f"{pct(jitter[other_rec + '_recogniser_reader'])}")  # fmt: skip
    print(f"containers ({conts['images']} photos, never trained on), goal 97%:")
    print(f"  code exact        {pct(conts['exact'])}   {pct(conts['detector_only_exact'])}"
          f"          {pct(conts['baseline_exact'])}")  # fmt: skip
    print(f"  recall IoU 0.5    {pct(conts['recall_iou50'])} of {conts['boxes']} hand-drawn boxes (detector)")
    print(f"  with the {other} detector: code exact {pct(other_conts['exact'])}, recall "
          f"{pct(other_conts['recall_iou50'])}")  # fmt: skip
    print(f"  with the {other_rec} recogniser: code exact {pct(rec_conts['exact'])}")
    print(
        f"speed ({settings.precision} detector, {settings.recogniser} recogniser; "
        f"{settings.threads or 'default'} ONNX Runtime threads, {os.cpu_count()} CPUs, 1-min load average "
        f"{load_before[0]:.1f} -> {load_after[0]:.1f}, detector input {result['input_size']} px, "
        f"detector alone {next(iter(speeds.values()))['detector_ms']:.1f} ms/frame); goal 30 reads/s:"
    )
    base = speeds[BASELINE]["read_ms"]
    print("  one reader at a time:")
    for label, sp in speeds.items():
        print(
            f"  {label:34s} {sp['frames_per_s']:5.1f} frames/s {sp['reads_per_s']:5.1f} reads/s "
            f"({sp['reads_per_frame']:.2f} reads/frame), {sp['read_ms']:6.1f} ms/frame, "
            f"x{base / sp['read_ms']:.2f} vs baseline; plate frames {sp['plate_frames_per_s']:.1f}/s, "
            f"container frames {sp['container_frames_per_s']:.1f}/s"
        )
    print(f"  {workers} readers in parallel, one ONNX Runtime thread each (the edge camera's default):")
    for label, sp in parallel.items():
        print(
            f"  {label:34s} {sp['frames_per_s']:5.1f} frames/s {sp['reads_per_s']:5.1f} reads/s "
            f"({sp['reads_per_frame']:.2f} reads/frame), {sp['read_ms']:6.1f} ms/frame, "
            f"x{base / sp['read_ms']:.2f} vs baseline (one at a time)"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

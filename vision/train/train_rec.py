"""Train the small text-line recogniser (CNN + BiLSTM, CTC) and export it to ONNX for ``vision.line_model``.

    python -m vision.train.rec_data --shared ../shared/data --out var/vision/recdata --workers 2
    /work/train-venv/bin/python -m vision.train.train_rec --data var/vision/recdata --time-min 38
    # -> vision/models/recogniser.onnx + recogniser.json (best checkpoint by the held-out train-side photos)
    .venv/bin/python -m vision.train.train_rec --evaluate   # eval-side figures beside rapidocr, into the json

Input: one grey line, 32 x 128, fitted by :func:`vision.line_model.fit_line` and scaled by
:func:`vision.line_model.to_input` (the runtime's own functions, imported here).  Output: per-step class
probabilities [batch, 32, 37] (blank = 0, then 0-9A-Z), softmax inside the graph.  Torch is imported only
inside the functions that train or export, so ``--evaluate`` runs where ONNX Runtime and rapidocr are
installed and torch is not.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vision.line_model import ALPHABET, HEIGHT, WIDTH, ctc_greedy, to_input

SEED = 6346
ONNX_OUT = Path(__file__).resolve().parents[1] / "models" / "recogniser.onnx"
RUNS = Path("var/vision/rec_runs")
OPSET = 17
#: Convolution widths (stride-2 stem, then three stages) and the BiLSTM's units per direction.
CHANNELS = (32, 64, 96, 160)
HIDDEN = 96
BATCH = 128
MAX_LR = 3e-3
WEIGHT_DECAY = 0.01
WARMUP = 0.05  # fraction of the steps with a rising learning rate


def make_model() -> Any:
    """The recogniser as a torch module (built here so that importing this file needs no torch)."""
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    class LineNet(nn.Module):  # type: ignore[misc]  # torch is not installed where mypy runs
        def __init__(self) -> None:
            super().__init__()
            c1, c2, c3, c4 = CHANNELS
            self.cnn = nn.Sequential(
                *block(1, c1, 2),  # 16 x 64
                *block(c1, c2),
                nn.MaxPool2d(2),  # 8 x 32
                *block(c2, c3),
                *block(c3, c3),
                nn.MaxPool2d((2, 1)),  # 4 x 32
                *block(c3, c4),
                nn.MaxPool2d((2, 1)),  # 2 x 32
                *block(c4, c4),
            )
            self.rnn = nn.LSTM(c4, HIDDEN, bidirectional=True, batch_first=True)
            self.drop = nn.Dropout(0.1)
            self.fc = nn.Linear(2 * HIDDEN, len(ALPHABET) + 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """(N, 1, 32, 128) -> logits (N, T=32, classes)."""
            f = self.cnn(x).amax(dim=2).permute(0, 2, 1)
            f, _ = self.rnn(f)
            out: torch.Tensor = self.fc(self.drop(f))
            return out

    return LineNet()


def encode(labels: Sequence[str]) -> tuple[list[int], list[int]]:
    """CTC targets: the labels' class indices concatenated, and each label's length."""
    index = {c: i + 1 for i, c in enumerate(ALPHABET)}
    flat = [index[c] for label in labels for c in label]
    return flat, [len(label) for label in labels]


def _load(path: Path) -> tuple[npt.NDArray[np.uint8], list[str], list[str]]:
    with np.load(path) as data:
        return data["images"], [str(s) for s in data["labels"]], [str(s) for s in data["sources"]]


def augment(lines: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """A fresh look at stored lines each time they are drawn (the stored set is seen about a dozen times):
    per-line contrast and brightness, and sensor noise on half of them.  Geometry is left alone: the stored
    lines already carry the crop jitter, and a character's width tells O from 0."""
    x = lines.astype(np.float32)
    n = len(x)
    mean = x.mean(axis=(1, 2), keepdims=True)
    x = (x - mean) * rng.uniform(0.7, 1.25, (n, 1, 1)) + mean + rng.uniform(-20, 20, (n, 1, 1))
    sigma = rng.uniform(0, 8, (n, 1, 1)) * (rng.random((n, 1, 1)) < 0.5)
    x += rng.standard_normal(x.shape, dtype=np.float32) * sigma.astype(np.float32)
    return np.asarray(np.clip(np.rint(x), 0, 255), np.uint8)


def lr_at(step: int, total: int) -> float:
    """Linear warm-up, then cosine down to 1% of the peak."""
    warm = max(1, int(total * WARMUP))
    if step < warm:
        return MAX_LR * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, total - warm))
    return MAX_LR * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def _predict(model: Any, images: npt.NDArray[np.uint8], batch: int = 256) -> npt.NDArray[np.float32]:
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for k in range(0, len(images), batch):
            x = torch.from_numpy(to_input(images[k : k + batch]))
            out.append(torch.softmax(model(x), dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, WIDTH // 4, len(ALPHABET) + 1), np.float32)


def validate_model(
    model: Any, images: npt.NDArray[np.uint8], labels: Sequence[str], sources: Sequence[str]
) -> dict[str, Any]:
    """Exact-text rates per source of the validation lines (greedy CTC, as the runtime decodes)."""
    reads = ctc_greedy(_predict(model, images))
    figures: dict[str, Any] = {}
    for source in sorted(set(sources)):
        idx = [i for i, s in enumerate(sources) if s == source]
        right = sum(reads[i].text == labels[i] for i in idx)
        figures[source] = {"right": right, "n": len(idx), "exact": round(right / max(1, len(idx)), 4)}
    return figures


def train(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from torch import nn

    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(SEED)
    images, labels, sources = _load(args.data / "lines.npz")
    val_images, val_labels, val_sources = _load(args.data / "val.npz")
    if images.shape[1:] != (HEIGHT, WIDTH):
        raise ValueError(f"{args.data}: lines are {images.shape[1:]}, the model takes {(HEIGHT, WIDTH)}")
    model = make_model().to(memory_format=torch.channels_last)  # about 20% faster convolutions on a CPU
    params = sum(p.numel() for p in model.parameters())
    print(f"{len(images)} training lines, {len(val_images)} validation lines, {params} parameters", flush=True)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimiser = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}], lr=MAX_LR
    )
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    steps_per_epoch = len(images) // BATCH
    total = args.epochs * steps_per_epoch
    budget_s = args.time_min * 60.0
    started = time.monotonic()
    step = 0
    best: tuple[tuple[float, ...], int, dict[str, Any]] | None = None
    history = []
    args.runs.mkdir(parents=True, exist_ok=True)
    best_path = args.runs / "best.pt"
    epoch = 0
    timed_out = False
    mark = (started, 0)  # (time, step) the pace is measured from
    while epoch < args.epochs and not timed_out:
        order = rng.permutation(len(images))
        model.train()
        losses = []
        for k in range(steps_per_epoch):
            if args.time_min > 0 and (step == 50 or (k == 0 and step > 0)):
                # the schedule's length: the epochs asked for, or the steps the time budget holds at the recent
                # pace (measured after the first 10 steps; re-measured each epoch, as the shared CPU's load moves)
                now = time.monotonic()
                per_step = (now - mark[0]) / max(1, step - mark[1])
                fits = int(step + (budget_s * 0.97 - (now - started)) / per_step)
                total = max(step + 1, min(args.epochs * steps_per_epoch, fits))
                mark = (now, step)
                print(f"time budget {args.time_min} min: {total} steps ({per_step:.3f} s/step)", flush=True)
            if step == 10:
                mark = (time.monotonic(), step)
            idx = order[k * BATCH : (k + 1) * BATCH]
            x = torch.from_numpy(to_input(augment(images[idx], rng))).to(memory_format=torch.channels_last)
            flat, lengths = encode([labels[i] for i in idx])
            logits = model(x)
            log_probs = logits.log_softmax(2).permute(1, 0, 2)  # (T, N, C)
            steps_t = torch.full((len(idx),), log_probs.shape[0], dtype=torch.long)
            loss = ctc(
                log_probs, torch.tensor(flat, dtype=torch.long), steps_t, torch.tensor(lengths, dtype=torch.long)
            )
            for group in optimiser.param_groups:
                group["lr"] = lr_at(step, total)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            losses.append(loss.item())
            step += 1
            if step >= total or (args.time_min > 0 and time.monotonic() - started > budget_s):
                timed_out = True
                break
        epoch += 1
        figures = validate_model(model, val_images, val_labels, val_sources)
        elapsed = time.monotonic() - started
        real = figures.get("real", {"right": 0, "n": 0})
        synthetic = sum(f["right"] for s, f in figures.items() if s != "real") / max(
            1, sum(f["n"] for s, f in figures.items() if s != "real")
        )
        key = (real["right"] / max(1, real["n"]) + synthetic,)
        row = {"epoch": epoch, "steps": step, "loss": round(float(np.mean(losses)), 4), "val": figures,
               "elapsed_s": round(elapsed, 1)}  # fmt: skip
        history.append(row)
        print(
            f"epoch {epoch} steps {step}/{total} loss {row['loss']:.4f} lr {lr_at(step - 1, total):.2e} "
            f"val real {real['right']}/{real['n']} synthetic {synthetic:.4f} "
            + " ".join(f"{s} {f['exact']:.3f}" for s, f in figures.items())
            + f" elapsed {elapsed:.0f}s",
            flush=True,
        )
        if best is None or key >= best[0]:  # later epochs win ties (lower learning rate)
            best = (key, epoch, figures)
            torch.save(model.state_dict(), best_path)
        if step >= total:
            break
    assert best is not None
    trained_s = time.monotonic() - started
    model.load_state_dict(torch.load(best_path, weights_only=True))
    model = model.to(memory_format=torch.contiguous_format)
    summary = {
        "epochs": epoch,
        "steps": step,
        "batch": BATCH,
        "best_epoch": best[1],
        "train_seconds": round(trained_s, 1),
        "params": params,
        "samples": {"train": dict(sorted(_count(sources).items())), "val": dict(sorted(_count(val_sources).items()))},
        "validation": best[2],
        "augment": "rec_data's views, then per draw: contrast x0.7-1.25, brightness +-20, noise sigma 0-8 on half",
        "data": json.loads((args.data / "meta.json").read_text()) if (args.data / "meta.json").is_file() else {},
        "label_fixes": label_fixes(args.shared),
        "history": history,
    }
    export(model, args.out, val_images[:8], summary)
    return summary


def label_fixes(shared: Path) -> dict[str, str]:
    """Train-side labels that ``rec_data.train_label`` trains differently (the LL 999LL zero written as O)."""
    from vision.train.rec_data import real_photos, train_label

    fit, held = real_photos(shared)
    return {item.text: train_label(item.text) for item in fit + held if train_label(item.text) != item.text}


def _count(values: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def export(model: Any, out: Path, probe: npt.NDArray[np.uint8], summary: dict[str, Any]) -> None:
    """ONNX (softmax inside, dynamic batch), checked against torch with ONNX Runtime, and its json."""
    import onnxruntime as ort
    import torch
    from torch import nn

    class WithSoftmax(nn.Module):  # type: ignore[misc]
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.inner(x), dim=-1)

    wrapped = WithSoftmax(model).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.from_numpy(to_input(probe[:1]))
    torch.onnx.export(
        wrapped, (dummy,), str(out), opset_version=OPSET, input_names=["lines"], output_names=["probs"],
        dynamic_axes={"lines": {0: "batch"}, "probs": {0: "batch"}}, dynamo=False,
    )  # fmt: skip
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = to_input(probe)
    with torch.no_grad():
        expected = wrapped(torch.from_numpy(x)).numpy()
    (got,) = session.run(None, {"lines": x})
    diff = float(np.abs(np.asarray(got) - expected).max())
    if diff >= 1e-4:
        raise RuntimeError(f"ONNX Runtime and torch differ by {diff}")
    meta = {
        "alphabet": ALPHABET,
        "blank": 0,
        "height": HEIGHT,
        "width": WIDTH,
        "channels": 1,
        "input": "grey, vision.line_model.fit_line + to_input, [-1, 1]",
        "output": f"probs [batch, {got.shape[1]}, {len(ALPHABET) + 1}] (softmax)",
        "architecture": {"channels": list(CHANNELS), "lstm_hidden": HIDDEN},
        "opset": OPSET,
        "seed": SEED,
        "torch": torch.__version__,
        "onnx_vs_torch_max_abs_diff": diff,
        "file_bytes": out.stat().st_size,
        **summary,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps({k: v for k, v in meta.items() if k != "history"}))


# -- evaluation on the eval side (no torch: ONNX Runtime and rapidocr) -------------------------------------
def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000.0


def timings(ours: Any, theirs: Any, crops: Sequence[np.ndarray]) -> dict[str, Any]:
    """Mean over the crops of the median time of a read: one crop a call, four crops a call (per line),
    and rapidocr's LineRecogniser one crop a call; both on one ONNX Runtime thread."""

    def read_ours(batch: list[np.ndarray]) -> Callable[[], object]:
        return lambda: ours.read(batch)

    def read_theirs(crop: np.ndarray) -> Callable[[], object]:
        return lambda: theirs.read([crop])

    k = len(crops)
    fours = [[crops[(i + j) % k] for j in range(4)] for i in range(k)]
    return {
        "line_model_batch1": round(statistics.mean(_median_ms(read_ours([c]), 30) for c in crops), 3),
        "line_model_batch4": round(statistics.mean(_median_ms(read_ours(f), 30) / 4 for f in fours), 3),
        "rapidocr_line_recogniser": round(statistics.mean(_median_ms(read_theirs(c), 5) for c in crops), 3),
        "threads": 1,
    }


def evaluate(shared: Path, model_path: Path, jitters: int = 6, jitter_px: float = 2.0) -> dict[str, Any]:
    """LineModel beside rapidocr's LineRecogniser on the EVAL side crops (exact boxes, then boxes moved by up
    to ``jitter_px``), raw and through ``grammars.validate``; min_prob gate; ms per line on one thread."""
    from vision import grammars
    from vision.datasets import plate_split
    from vision.line_model import LineModel
    from vision.reader import _crop, load_image
    from vision.recogniser import LineRecogniser

    _train, evaluation = plate_split(shared)
    ours = LineModel(model_path, threads=1)
    theirs = LineRecogniser(threads=1)
    order = ("TR", "EU", "BR", "AR")
    rng = random.Random(SEED)
    sets: dict[str, list[tuple[np.ndarray, str]]] = {"exact": [], "jitter": []}
    for item in evaluation:
        image = load_image(item.path)
        if item.box_xyxy is None:
            sets["exact"].append((image, item.text))
            sets["jitter"].extend((image, item.text) for _ in range(jitters))
            continue
        box = np.asarray(item.box_xyxy, np.float32)
        crop, _ = _crop(image, box, 0.06, 0.18)
        assert crop is not None
        sets["exact"].append((crop, item.text))
        for _ in range(jitters):
            moved = box + np.array([rng.uniform(-jitter_px, jitter_px) for _ in range(4)], np.float32)
            crop, _ = _crop(image, moved, 0.06, 0.18)
            assert crop is not None
            sets["jitter"].append((crop, item.text))
    figures: dict[str, Any] = {}
    for name, pairs in sets.items():
        crops = [c for c, _ in pairs]
        truth = [t for _, t in pairs]
        mine = ours.read(crops)
        rapid = theirs.read(crops)
        row: dict[str, Any] = {"n": len(pairs)}
        for who, texts in (("line_model", [r.text for r in mine]), ("rapidocr", [r.text for r in rapid])):
            raw = sum(grammars.normalise(t) == truth[i] for i, t in enumerate(texts))
            valid = sum(grammars.validate(t, order).text == truth[i] for i, t in enumerate(texts))
            row[who] = {"raw": raw, "validated": valid}
            row[who + "_misses"] = sorted(
                {f"{truth[i]}->{grammars.validate(t, order).text}" for i, t in enumerate(texts)
                 if grammars.validate(t, order).text != truth[i]}
            )  # fmt: skip
        sure = [i for i, r in enumerate(mine) if r.min_prob >= 0.9]
        row["gate_min_prob_0.9"] = {
            "passed": len(sure),
            "fraction": round(len(sure) / max(1, len(pairs)), 4),
            "wrong_raw": sum(mine[i].text != truth[i] for i in sure),
            "wrong_validated": sum(grammars.validate(mine[i].text, order).text != truth[i] for i in sure),
        }
        # the gate as a reader would use it: sure, and a fixed-layout format (as read or repaired)
        fixed = [i for i in sure if grammars.validate(mine[i].text, order).fixed_layout]
        row["gate_min_prob_0.9_fixed_layout"] = {
            "passed": len(fixed),
            "fraction": round(len(fixed) / max(1, len(pairs)), 4),
            "wrong_validated": sum(grammars.validate(mine[i].text, order).text != truth[i] for i in fixed),
        }
        figures[name] = row
    figures["ms_per_line"] = timings(ours, theirs, [c for c, _ in sets["exact"]])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("var/vision/recdata"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--time-min", type=float, default=35.0, help="wall-clock training bound in minutes (0: none)")
    parser.add_argument("--out", type=Path, default=ONNX_OUT, help="the ONNX file; its json goes beside it")
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the best checkpoint is kept")
    parser.add_argument("--evaluate", action="store_true", help="only measure the shipped model on the eval side")
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    args = parser.parse_args(argv)
    if args.evaluate:
        figures = evaluate(args.shared, args.out)
        meta_path = args.out.with_suffix(".json")
        meta = json.loads(meta_path.read_text())
        meta["eval_side"] = figures
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
        print(json.dumps(figures, indent=2))
        return 0
    train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The project's small line recogniser: the shipped model, its CTC decoding and its preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from vision import line_model
from vision.datasets import plate_split
from vision.line_model import ALPHABET, MODEL_PATH, LineModel, LineRead, ctc_greedy, fit_line, load_meta, to_input
from vision.reader import _PADDING, _crop, load_image

#: Train-side plate photos (``plate_split``'s first list) the shipped model reads exactly.
TRAIN_SIDE_READS = ("OCX4764", "PJX5721", "JSP7678", "OLC4728", "RK576AH", "RK069AV")


@pytest.fixture(scope="module")
def model() -> LineModel:
    return LineModel(threads=1)


def test_shipped_model_loads_with_one_class_per_character_and_a_blank(model: LineModel) -> None:
    meta = load_meta(MODEL_PATH)
    assert meta["alphabet"] == ALPHABET
    assert (meta["height"], meta["width"], meta["channels"]) == (line_model.HEIGHT, line_model.WIDTH, 1)
    output = model.session.get_outputs()[0]
    assert output.shape[2] == len(meta["alphabet"]) + 1
    probs = model.probabilities([np.full((40, 120, 3), 200, np.uint8), np.zeros((30, 90, 3), np.uint8)])
    assert probs.shape[0] == 2
    assert probs.shape[2] == len(meta["alphabet"]) + 1
    np.testing.assert_allclose(probs.sum(axis=2), 1.0, atol=1e-4)  # the softmax is inside the graph


def _naive_decode(probs: npt.NDArray[np.float32], alphabet: str) -> LineRead:
    text, kept = "", []
    previous = -1
    for t in range(probs.shape[0]):
        best, best_p = 0, -1.0
        for k in range(probs.shape[1]):
            if float(probs[t, k]) > best_p:
                best, best_p = k, float(probs[t, k])
        if best != 0 and best != previous:
            text += alphabet[best - 1]
            kept.append(best_p)
        previous = best
    if not kept:
        return LineRead("", 0.0, 0.0)
    return LineRead(text, sum(kept) / len(kept), min(kept))


def test_ctc_decode_equals_a_naive_loop() -> None:
    rng = np.random.default_rng(6346)
    classes = len(ALPHABET) + 1
    for _ in range(60):
        n, steps = int(rng.integers(1, 5)), int(rng.integers(1, 40))
        # peaked rows from a random path with runs of repeats and blanks, and flat noisy rows
        path = rng.choice(classes, size=(n, steps), p=[0.5] + [0.5 / (classes - 1)] * (classes - 1))
        path = np.where(rng.random((n, steps)) < 0.4, np.roll(path, 1, axis=1), path)
        logits = rng.normal(0, rng.uniform(0.2, 2.0), (n, steps, classes))
        logits += np.eye(classes)[path] * rng.uniform(0, 6)
        probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
        probs = probs.astype(np.float32)
        got = ctc_greedy(probs)
        for row in range(n):
            want = _naive_decode(probs[row], ALPHABET)
            assert got[row].text == want.text
            assert got[row].score == pytest.approx(want.score, abs=1e-6)
            assert got[row].min_prob == pytest.approx(want.min_prob, abs=1e-6)
    with pytest.raises(ValueError, match="probabilities"):
        ctc_greedy(np.zeros((1, 5, 3), np.float32))


def test_reads_train_side_plate_crops(model: LineModel, shared_data: Path) -> None:
    train, evaluation = plate_split(shared_data)
    by_text = {item.text: item for item in train if item.box_xyxy is not None}
    assert not set(TRAIN_SIDE_READS) & {item.text for item in evaluation}
    crops = []
    for text in TRAIN_SIDE_READS:
        item = by_text[text]
        crop, _box = _crop(load_image(item.path), np.asarray(item.box_xyxy, np.float32), *_PADDING[0])
        assert crop is not None
        crops.append(crop)
    reads = model.read(crops)
    assert [r.text for r in reads] == list(TRAIN_SIDE_READS)
    for read in reads:
        assert 0.0 < read.min_prob <= read.score <= 1.0
    # one batched run reads each crop as it reads alone
    assert [model.read([crop])[0].text for crop in crops] == list(TRAIN_SIDE_READS)


def test_empty_list_tiny_and_bad_images(model: LineModel) -> None:
    assert model.read([]) == []
    tiny = model.read([np.zeros((1, 1, 3), np.uint8)])
    assert len(tiny) == 1
    assert set(tiny[0].text) <= set(ALPHABET)
    if not tiny[0].text:
        assert (tiny[0].score, tiny[0].min_prob) == (0.0, 0.0)
    # grey, BGRA and very wide or very tall lines are fitted to the one input size
    odd = [np.full((20, 60), 90, np.uint8), np.zeros((20, 60, 4), np.uint8), np.zeros((10, 3000, 3), np.uint8),
           np.zeros((500, 7, 3), np.uint8)]  # fmt: skip
    assert len(model.read(odd)) == 4
    with pytest.raises(ValueError, match="non-empty uint8"):
        model.read([np.zeros((0, 10, 3), np.uint8)])
    with pytest.raises(ValueError, match="non-empty uint8"):
        model.read([np.zeros((10, 10, 3), np.float32)])
    with pytest.raises(ValueError, match="image"):
        model.read([np.zeros((10, 10, 2), np.uint8)])


def test_fit_line_pads_with_the_border_not_black() -> None:
    line = np.full((64, 100, 3), 180, np.uint8)
    line[20:44, 10:90] = 20  # dark characters on light paper
    fitted = fit_line(line)
    assert fitted.shape == (line_model.HEIGHT, line_model.WIDTH)
    assert fitted.dtype == np.uint8
    assert (fitted[:, 60:] == 180).all()  # 100 px at height 64 -> 50 px at 32; the rest is the paper's grey
    wide = fit_line(np.full((32, 400, 3), 77, np.uint8))
    assert wide.shape == (line_model.HEIGHT, line_model.WIDTH)  # squeezed, not cut
    batch = to_input(np.stack([fitted, wide]))
    assert batch.shape == (2, 1, line_model.HEIGHT, line_model.WIDTH)
    assert batch.dtype == np.float32
    assert float(batch.min()) >= -1.0
    assert float(batch.max()) <= 1.0


def test_training_uses_the_runtime_preprocessing(shared_data: Path) -> None:
    from vision.train import rec_data, train_rec

    assert vars(rec_data)["fit_line"] is line_model.fit_line
    assert vars(train_rec)["to_input"] is line_model.to_input
    assert vars(train_rec)["ctc_greedy"] is line_model.ctc_greedy
    jobs, _val = rec_data.plan(shared_data, plates=2, containers=2)
    samples = list(rec_data.generate([next(job for job in jobs if job.kind == "plate")]))
    images = [s.image for s in samples]
    # what training feeds the network (rec_data stores fit_line's lines, train_rec scales them with
    # to_input) is exactly what the runtime feeds ONNX Runtime
    trained_on = to_input(np.stack([vars(rec_data)["fit_line"](image) for image in images]))
    np.testing.assert_array_equal(trained_on, line_model.preprocess(images))

"""The recogniser's training lines: deterministic, and cut only from train-side plate photos."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from vision.datasets import plate_split
from vision.reader import load_image
from vision.train import rec_data


def _small(jobs: list[rec_data.Job], kind: str, count: int) -> rec_data.Job:
    return dataclasses.replace(next(job for job in jobs if job.kind == kind), count=count)


def test_same_seed_same_bytes(shared_data: Path) -> None:
    jobs, _val = rec_data.plan(shared_data, plates=20, containers=20)
    chosen = [_small(jobs, "real", 3), _small(jobs, "plate", 3), _small(jobs, "container", 3)]
    first = list(rec_data.generate(chosen))
    again = list(rec_data.generate(chosen))
    assert [s.source for s in first] == ["real"] * 3 + ["plate"] * 3 + ["container"] * 3
    for a, b in zip(first, again, strict=True):
        assert a.label == b.label
        assert a.image.tobytes() == b.image.tobytes()
    other_jobs, _ = rec_data.plan(shared_data, seed=rec_data.SEED + 1, plates=20, containers=20)
    other = list(rec_data.generate([_small(other_jobs, "plate", 3)]))
    assert [s.image.tobytes() for s in other] != [s.image.tobytes() for s in first[3:6]]


def test_labels_are_plain_characters(shared_data: Path) -> None:
    jobs, _val = rec_data.plan(shared_data, plates=20, containers=20)
    samples = list(rec_data.generate([_small(jobs, "plate", 20), _small(jobs, "container", 20)]))
    for sample in samples:
        assert sample.label
        assert set(sample.label) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        assert sample.image.dtype == np.uint8
        assert sample.image.ndim == 3
        assert sample.image.shape[2] == 3


def test_never_an_eval_side_or_container_photo(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, evaluation = plate_split(shared_data)
    eval_paths = {item.path.resolve() for item in evaluation}
    train_paths = {item.path.resolve() for item in train}
    fit, held = rec_data.real_photos(shared_data)
    used = {item.path.resolve() for item in fit + held}
    assert used <= train_paths
    assert not used & eval_paths
    assert not {item.path for item in fit} & {item.path for item in held}
    # every photo the generator opens, for every real job (one view each)
    opened: list[Path] = []

    def spy(path: Path) -> np.ndarray:
        opened.append(Path(path).resolve())
        return load_image(path)

    monkeypatch.setattr(rec_data, "load_image", spy)
    jobs, val_jobs = rec_data.plan(shared_data, plates=0, containers=0)
    real_jobs = [dataclasses.replace(job, count=1) for job in jobs + val_jobs if job.kind.startswith("real")]
    assert len(real_jobs) == len(fit) + len(held)
    samples = list(rec_data.generate(real_jobs))
    assert samples
    assert set(opened) == used
    containers = (shared_data / "containers").resolve()
    for path in opened + [s.photo.resolve() for s in samples if s.photo is not None]:
        assert path not in eval_paths
        assert containers not in path.parents


def test_train_label_reads_the_ll999ll_zero_as_a_digit() -> None:
    assert rec_data.train_label("RKO26AJ") == "RK026AJ"
    assert rec_data.train_label("RK3OOAG") == "RK300AG"
    # letters stay letters, and other layouts are left as labelled
    assert rec_data.train_label("RK550AO") == "RK550AO"
    assert rec_data.train_label("BA302OZ") == "BA302OZ"
    assert rec_data.train_label("OLC4728") == "OLC4728"
    assert rec_data.train_label("4BO4979") == "4BO4979"

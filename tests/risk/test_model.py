"""Train -> save -> load -> score on a small real slice; model files, metadata and refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from risk.features import fingerprint, read_frame
from risk.model import DEFAULT_MODEL_DIR, ModelError, RiskModel, precision_at, recall_at, train_model
from tests.risk.slices import TRAIN, VALID, head_lines


@pytest.fixture(scope="module")
def slices(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("slices")
    return (
        head_lines(shared_data / TRAIN, folder / "train.csv", 3000, step=4),
        head_lines(shared_data / VALID, folder / "valid.csv", 800, step=3),
    )


def test_precision_and_recall_at_n_percent() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    labels = np.array([1, 0, 1, 1, 0, 0, 0, 0, 1, 0])
    assert precision_at(scores, labels, 10) == 1.0  # top 1 of 10
    assert precision_at(scores, labels, 20) == 0.5
    assert precision_at(scores, labels, 40) == 0.75
    assert recall_at(scores, labels, 40) == 0.75  # 3 of the 4 positives
    assert np.isnan(recall_at(scores, np.zeros(10), 10))


def test_train_save_load_score_round_trip(slices: tuple[Path, Path], tmp_path: Path) -> None:
    train_path, valid_path = slices
    train, valid = read_frame(train_path), read_frame(valid_path)
    model = train_model(
        train, valid, rounds=8, critical_rounds=4, seed=3, fingerprint=fingerprint([train_path]), sources=["train.csv"]
    )
    scores = model.score(valid)
    assert scores.shape == (len(valid),)
    assert scores.min() >= 0.0
    assert scores.max() <= 1.0
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "critical.txt", "encoder.json", "fraud.txt", "history.json", "metadata.json",
    ]  # fmt: skip
    loaded = RiskModel.load(tmp_path / "m")
    assert np.array_equal(loaded.score(valid), scores)
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["training_fingerprint_sha256"] == hashlib.sha256(train_path.read_bytes()).hexdigest()
    assert meta["version"].endswith(meta["training_fingerprint_sha256"][:12])
    assert meta["seed"] == 3
    assert meta["rounds"] == 8
    assert meta["params"]["seed"] == 3
    assert meta["features"] == loaded.encoder.feature_names
    assert meta["training_rows"] == 3000
    assert meta["validation_rows"] == 800
    assert set(meta["metrics"]) == {f"{m}@{n}%" for m in ("precision", "critical_recall") for n in (1, 2, 5, 10)}
    assert meta["lane_thresholds"]["red"] >= meta["lane_thresholds"]["yellow"] >= meta["lane_thresholds"]["blue"]
    # a model trained on the 2020 slice ranks the 2021 slice far better than chance (fraud rate ~0.21)
    assert meta["metrics"]["precision@10%"] > 0.35


def test_unusable_model_directories_are_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as missing:
        RiskModel.load(tmp_path)
    assert missing.value.reason == "model_not_found"
    (tmp_path / "metadata.json").write_text('{"format": "other/9"}')
    with pytest.raises(ModelError) as other:
        RiskModel.load(tmp_path)
    assert other.value.reason == "unsupported_model_format"


def test_the_shipped_model_is_versioned_with_its_metrics_and_fingerprint(shared_data: Path) -> None:
    meta = json.loads((DEFAULT_MODEL_DIR / "metadata.json").read_text())
    assert meta["training_fingerprint_sha256"] == fingerprint([shared_data / TRAIN])  # the shared train file only
    assert meta["training_dates"] == ["2020-01-01", "2020-12-31"]
    assert meta["validation_dates"] == ["2021-01-01", "2021-03-31"]
    assert meta["metrics"]["precision@5%"] >= 0.95
    assert meta["metrics"]["precision@10%"] >= 0.9
    assert sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir()) < 8_000_000
    model = RiskModel.load(DEFAULT_MODEL_DIR)
    assert model.version == meta["version"]


def test_training_refuses_unlabelled_rows(slices: tuple[Path, Path]) -> None:
    train = read_frame(slices[0])
    train.loc[5, "fraud"] = np.nan
    with pytest.raises(ValueError, match="unlabelled_rows"):
        train_model(train, rounds=2, critical_rounds=2)

"""The learned risk model: two LightGBM boosters (fraud, critical fraud) over :mod:`risk.features`.

A model directory holds one version::

    fraud.txt  critical.txt   LightGBM model text files
    encoder.json              fitted encodings (label codes, frequency and target tables)
    history.json              the training history (HS value per kg, entities' inspection records)
    metadata.json             version, created_utc, training-data fingerprint (sha256), rows, features,
                              params, seed, rounds, metrics on the validation rows, lane thresholds

``train_model`` fits on labelled frames and, given validation rows, measures precision@n% and the
recall of critical fraud@n% there; lane thresholds are the validation score quantiles (top 5% red,
next 5% yellow, next 10% blue).  ``RiskModel.load(dir)`` reads a version back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from risk.features import DEFAULT_FREQ_KEYS, DEFAULT_TE_KEYS, Encoder, TeMode
from risk.history import History

FORMAT = "cedetect.risk.model/1"
DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "default"
INSPECTION_RATES_PCT: tuple[int, ...] = (1, 2, 5, 10)
#: Share of the ranked declarations per lane, from the top: red, yellow, blue; the rest is green.
LANE_SHARES: dict[str, float] = {"red": 0.05, "yellow": 0.05, "blue": 0.10}

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.15,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "verbose": -1,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
}
DEFAULT_ROUNDS = 80
DEFAULT_CRITICAL_ROUNDS = 40
#: Weight of the critical-fraud probability in the risk score (chosen on the shared validation months).
DEFAULT_CRITICAL_WEIGHT = 0.5


#: Below this many rows one thread predicts faster: starting LightGBM's threads costs milliseconds.
MULTITHREAD_MIN_ROWS = 20_000


def predict_threads(rows: int) -> int:
    return int(DEFAULT_PARAMS["num_threads"]) if rows >= MULTITHREAD_MIN_ROWS else 1


class ModelError(ValueError):
    """A model directory that cannot be used; ``reason`` is a named snake_case reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def precision_at(scores: npt.ArrayLike, labels: npt.ArrayLike, pct: float) -> float:
    """Share of frauds among the top ``pct`` % by score (ties broken by row order)."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=float)
    k = max(1, round(len(s) * pct / 100))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean())


def recall_at(scores: npt.ArrayLike, positives: npt.ArrayLike, pct: float) -> float:
    """Share of all positives (e.g. critical frauds) found in the top ``pct`` % by score."""
    s, y = np.asarray(scores, dtype=float), np.asarray(positives, dtype=float)
    total = y.sum()
    if total == 0:
        return float("nan")
    k = max(1, round(len(s) * pct / 100))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].sum() / total)


def evaluate_scores(scores: npt.ArrayLike, frame: pd.DataFrame) -> dict[str, float]:
    fraud = frame["fraud"].to_numpy(dtype=float)
    critical = (frame["critical_fraud"].to_numpy(dtype=float) == 2).astype(float)
    metrics: dict[str, float] = {}
    for pct in INSPECTION_RATES_PCT:
        metrics[f"precision@{pct}%"] = round(precision_at(scores, fraud, pct), 4)
    for pct in INSPECTION_RATES_PCT:
        metrics[f"critical_recall@{pct}%"] = round(recall_at(scores, critical, pct), 4)
    return metrics


@dataclass
class RiskModel:
    fraud: lgb.Booster
    critical: lgb.Booster
    encoder: Encoder
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Weight of the critical-fraud probability in the ranking score (see :meth:`combine`).
    critical_weight: float = 0.0

    @property
    def history(self) -> History:
        assert self.encoder.history is not None
        return self.encoder.history

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unknown"))

    @property
    def lane_thresholds(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.metadata.get("lane_thresholds", {}).items()}

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.encoder.transform(frame)

    def predict(self, frame: pd.DataFrame) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(fraud probability, critical-fraud probability) per row."""
        features = self.features(frame)
        return self.predict_features(features)

    def predict_features(self, features: pd.DataFrame) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        return self.predict_values(features.to_numpy(dtype=np.float64))

    def predict_values(
        self, values: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(fraud, critical) probabilities of a 2-D float64 feature matrix (``Encoder.transform_one`` rows too)."""
        threads = predict_threads(len(values))
        fraud = np.asarray(self.fraud.predict(values, num_threads=threads), dtype=np.float64)
        critical = np.asarray(self.critical.predict(values, num_threads=threads), dtype=np.float64)
        return fraud, critical

    def combine(self, fraud: npt.NDArray[np.float64], critical: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The risk score in [0, 1]: fraud probability, lifted by the critical-fraud probability."""
        w = self.critical_weight
        return np.clip((fraud + w * critical) / (1.0 + w), 0.0, 1.0)

    def score(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        return self.combine(*self.predict(frame))

    def contributions(self, features: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Per-feature contributions (log-odds, TreeSHAP) of the fraud booster; last column is the bias."""
        return self.contributions_values(features.to_numpy(dtype=np.float64))

    def contributions_values(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """:meth:`contributions` of a 2-D float64 feature matrix."""
        threads = predict_threads(len(values) * 20)  # TreeSHAP costs about 20 predictions per row
        return np.asarray(self.fraud.predict(values, pred_contrib=True, num_threads=threads), dtype=np.float64)

    # --- persistence -----------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.fraud.save_model(str(directory / "fraud.txt"))
        self.critical.save_model(str(directory / "critical.txt"))
        (directory / "encoder.json").write_text(json.dumps(self.encoder.to_json(), separators=(",", ":")), "utf-8")
        self.history.save(directory / "history.json")
        (directory / "metadata.json").write_text(json.dumps(self.metadata, indent=2, sort_keys=True) + "\n", "utf-8")

    @classmethod
    def load(cls, directory: Path | str) -> RiskModel:
        directory = Path(directory)
        meta_path = directory / "metadata.json"
        if not meta_path.is_file():
            raise ModelError("model_not_found", f"no metadata.json in {directory}")
        metadata = json.loads(meta_path.read_text("utf-8"))
        if metadata.get("format") != FORMAT:
            raise ModelError("unsupported_model_format", f"{metadata.get('format')!r} in {meta_path}")
        history = History.load(directory / "history.json")
        encoder = Encoder.from_json(json.loads((directory / "encoder.json").read_text("utf-8")), history)
        fraud = lgb.Booster(model_file=str(directory / "fraud.txt"))
        critical = lgb.Booster(model_file=str(directory / "critical.txt"))
        if fraud.feature_name() != encoder.feature_names:
            raise ModelError("feature_mismatch", "the booster's features differ from the encoder's")
        return cls(fraud, critical, encoder, metadata, float(metadata.get("critical_weight", 0.0)))


def train_model(
    train: pd.DataFrame,
    valid: pd.DataFrame | None = None,
    *,
    te_mode: TeMode = "oof",
    use_value_ratio: bool = True,
    freq_keys: Sequence[tuple[str, ...]] = DEFAULT_FREQ_KEYS,
    te_keys: Sequence[tuple[str, ...]] = DEFAULT_TE_KEYS,
    smoothing: float = 1.0,
    params: dict[str, Any] | None = None,
    rounds: int = DEFAULT_ROUNDS,
    critical_rounds: int = DEFAULT_CRITICAL_ROUNDS,
    critical_weight: float = DEFAULT_CRITICAL_WEIGHT,
    seed: int = 7,
    fingerprint: str = "",
    sources: Sequence[str] = (),
) -> RiskModel:
    """Fit the encoder and both boosters on labelled rows; measure on ``valid`` when given."""
    encoder = Encoder(
        te_mode=te_mode,
        use_value_ratio=use_value_ratio,
        freq_keys=tuple(tuple(k) for k in freq_keys),
        te_keys=tuple(tuple(k) for k in te_keys),
        smoothing=smoothing,
        seed=seed,
    )
    features = encoder.fit_transform(train)
    merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    y_fraud = train["fraud"].to_numpy(dtype=float)
    y_critical = (train["critical_fraud"].to_numpy(dtype=float) == 2).astype(float)
    values = features.to_numpy(dtype=np.float64)
    names = list(features.columns)
    fraud = lgb.train(merged, lgb.Dataset(values, y_fraud, feature_name=names, free_raw_data=True), rounds)
    critical_params = {**merged, "scale_pos_weight": 5.0, "num_leaves": 15, "min_data_in_leaf": 40}
    critical = lgb.train(critical_params, lgb.Dataset(values, y_critical, feature_name=names), critical_rounds)
    dates = train["date"].astype(str)
    metadata: dict[str, Any] = {
        "format": FORMAT,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_rows": len(train),
        "training_dates": [str(dates.min()), str(dates.max())],
        "training_fingerprint_sha256": fingerprint,
        "training_sources": list(sources),
        "features": names,
        "params": merged,
        "critical_params": critical_params,
        "rounds": rounds,
        "critical_rounds": critical_rounds,
        "critical_weight": critical_weight,
        "seed": seed,
        "encoder": {
            "te_mode": te_mode,
            "use_value_ratio": use_value_ratio,
            "freq_keys": [list(k) for k in encoder.freq_keys],
            "te_keys": [list(k) for k in encoder.te_keys],
            "smoothing": encoder.smoothing,
            "folds": encoder.folds,
        },
    }
    model = RiskModel(fraud, critical, encoder, metadata, critical_weight)
    reference = valid if valid is not None and len(valid) else train
    scores = model.score(reference)
    if valid is not None and len(valid):
        vdates = valid["date"].astype(str)
        metadata["validation_rows"] = len(valid)
        metadata["validation_dates"] = [str(vdates.min()), str(vdates.max())]
        metadata["metrics"] = evaluate_scores(scores, valid)
    metadata["lane_thresholds"] = lane_thresholds(scores)
    metadata["lane_thresholds_from"] = "validation" if reference is valid else "training (in-sample)"
    metadata["version"] = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{(fingerprint or 'nofp')[:12]}"
    return model


def lane_thresholds(scores: npt.NDArray[np.float64]) -> dict[str, float]:
    """Score cut-offs so that the top LANE_SHARES go red, yellow and blue."""
    cumulative = 0.0
    cuts: dict[str, float] = {}
    for lane in ("red", "yellow", "blue"):
        cumulative += LANE_SHARES[lane]
        cuts[lane] = round(float(np.quantile(scores, 1.0 - cumulative)), 6) if len(scores) else 1.0
    return cuts

"""Evaluation in the protocol of the dataset's paper and of DATE (KDD 2020): precision@n% and critical recall@n%.

Train on the shared 2020 file, rank the shared validation months (2021-01..03), inspect the top n%:
precision@n% is the share of frauds among them, critical recall@n% the share of all critical frauds they
catch.  Printed in one run beside the baselines: the starter profiles alone (rules), and a plain
LightGBM on label-encoded raw columns plus value per kg (as in the paper).  ``--ablation`` adds one row
per feature group removed or encoding changed.  The newest three months are held back and never read.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from risk.features import ENTITY_KEYS, plain_features, read_frame
from risk.history import History
from risk.lanes import LANE_ORDER
from risk.model import DEFAULT_PARAMS, evaluate_scores, train_model
from risk.profiles import ProfileSet, starter_profiles

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "customs"
TRAIN_FILE = SHARED / "df_syn_train_eng.csv"
VALID_FILE = SHARED / "df_syn_valid_eng.csv"
PLAIN_PARAMS: dict[str, Any] = {**DEFAULT_PARAMS, "num_leaves": 63, "learning_rate": 0.05}
PLAIN_ROUNDS = 500


def rules_scores(train: pd.DataFrame, valid: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Rank by the starter profiles alone: heaviest lane hit, then the number of profiles that hit."""
    profiles = ProfileSet(starter_profiles(), history=History.fit(train))
    severity = np.zeros(len(valid))
    count = np.zeros(len(valid))
    for result in profiles.evaluate_frame(valid):
        hit = result.hit
        severity = np.maximum(severity, np.where(hit, LANE_ORDER.index(result.profile.lane), 0))
        count += hit
    return severity * 10 + count


def plain_scores(train: pd.DataFrame, valid: pd.DataFrame, seed: int) -> npt.NDArray[np.float64]:
    x_train, x_valid = plain_features(train, valid)
    booster = lgb.train(
        {**PLAIN_PARAMS, "seed": seed}, lgb.Dataset(x_train, train["fraud"].to_numpy(float)), PLAIN_ROUNDS
    )
    return np.asarray(booster.predict(x_valid), dtype=np.float64)


@dataclass
class Variant:
    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


#: The model as shipped, then one change at a time.
ABLATION: tuple[Variant, ...] = (
    Variant("no consignment-key target encoding", {"te_mode": "none"}),
    Variant("consignment key: time-ordered instead of out-of-fold", {"te_mode": "time"}),
    Variant("consignment key: smoothing 20 instead of 1", {"smoothing": 20.0}),
    Variant("+ target encodings of importer, declarant, seller, HS6, office, pairs", {"te_keys": ENTITY_KEYS}),
    Variant("+ frequency encodings of importer, declarant, seller, HS6, office, pairs", {"freq_keys": ENTITY_KEYS}),
    Variant(
        "+ both of them (every key frequency- and target-encoded)", {"te_keys": ENTITY_KEYS, "freq_keys": ENTITY_KEYS}
    ),
    Variant("no frequency encoding of the consignment key", {"freq_keys": ()}),
    Variant("no value-per-kg ratio to HS history", {"use_value_ratio": False}),
    Variant("no critical-fraud model in the score (critical_weight 0)", {"critical_weight": 0.0}),
    Variant("no target, no frequency encodings (codes and numbers only)", {"te_mode": "none", "freq_keys": ()}),
)


def _row(name: str, metrics: dict[str, float], seconds: float | None = None) -> str:
    cells = " ".join(f"{metrics[k]:>7.3f}" for k in metrics)
    extra = f"  ({seconds:.0f} s)" if seconds is not None else ""
    return f"{name:<72} {cells}{extra}"


def _header() -> str:
    p = " ".join(f"{'p@' + str(n) + '%':>7}" for n in (1, 2, 5, 10))
    r = " ".join(f"{'cr@' + str(n) + '%':>7}" for n in (1, 2, 5, 10))
    return f"{'model (p = precision of fraud, cr = recall of critical fraud)':<72} {p} {r}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="risk-evaluate", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--train", type=Path, nargs="+", default=[TRAIN_FILE])
    parser.add_argument("--valid", type=Path, default=VALID_FILE)
    parser.add_argument("--ablation", action="store_true", help="also train and score the ablation variants")
    parser.add_argument("--seeds", type=int, default=1, help="average the learned models over this many seeds")
    args = parser.parse_args(argv)

    train = pd.concat([read_frame(p) for p in args.train], ignore_index=True)
    valid = read_frame(args.valid)
    print(
        f"train: {len(train)} rows {train['date'].min()}..{train['date'].max()}; "
        f"valid: {len(valid)} rows {valid['date'].min()}..{valid['date'].max()}, "
        f"fraud {valid['fraud'].mean():.3f}, critical {(valid['critical_fraud'] == 2).sum()}"
    )
    print(_header())
    seeds = list(range(1, args.seeds + 1))

    def averaged(name: str, scorer: Any) -> dict[str, float]:
        started = time.perf_counter()
        runs = [evaluate_scores(scorer(seed), valid) for seed in seeds]
        metrics = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        print(_row(name, metrics, time.perf_counter() - started), flush=True)
        return metrics

    averaged("rules alone (starter profiles, history = training rows)", lambda _seed: rules_scores(train, valid))
    plain = averaged(
        "plain LightGBM: label-encoded raw columns + value per kg", lambda s: plain_scores(train, valid, s)
    )
    ours = averaged("CEDetect model (as shipped)", lambda s: train_model(train, seed=s).score(valid))
    if args.ablation:
        print("ablation: one change to the shipped model per row")
        for variant in ABLATION:
            averaged(f"  {variant.name}", lambda s, v=variant: train_model(train, seed=s, **v.kwargs).score(valid))
    print(
        "margin over the plain model: "
        + ", ".join(f"{k} {ours[k] - plain[k]:+.3f}" for k in ours if k.startswith("precision"))
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

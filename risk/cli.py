"""``cedetect risk``: train a model version, score declarations, evaluate, load declarations into the database.

* ``cedetect risk train DATA.csv [DATA.csv ...] --out MODEL_DIR [--valid VALID.csv]``
* ``cedetect risk score DATA.csv --out SCORES.csv [--model MODEL_DIR] [--profiles FILE]``: every input row's
  Declaration ID with risk_score, lane and the top reasons (the shipped model when no ``--model``); a
  rejected row is written with its line's named reason in ``error`` and reported on stderr.
* ``cedetect risk evaluate --train T.csv --valid V.csv``: precision@n% and critical-fraud recall@n% of the
  model beside the baselines (rules alone, a plain LightGBM on label-encoded raw columns).
* ``cedetect risk load FILE.csv [--database-url URL]``: bulk load (``risk.load``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Hashable
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "risk", help="declaration risk: train, score, evaluate, load declarations"
    )
    verbs = parser.add_subparsers(dest="risk_command", metavar="VERB")
    verbs.required = True

    train = verbs.add_parser("train", help="train a model version on labelled declaration CSV files")
    train.add_argument(
        "data", nargs="+", type=Path, help="labelled declaration CSV files (dataset or snake_case header)"
    )
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument("--valid", type=Path, help="labelled CSV to measure on and to set the lane thresholds")
    train.add_argument("--rounds", type=int, default=None, help="boosting rounds of the fraud model")
    train.add_argument("--seed", type=int, default=7)
    train.set_defaults(func=_train)

    score = verbs.add_parser("score", help="score a declaration CSV file")
    score.add_argument("data", type=Path, help="declaration CSV file")
    score.add_argument("--out", type=Path, required=True, help="scores CSV to write")
    score.add_argument(
        "--model", type=Path, help="model directory (default: CEDETECT_RISK_MODEL_DIR or the shipped one)"
    )
    score.add_argument(
        "--profiles", type=Path, help="profiles YAML/JSON (default: CEDETECT_RISK_PROFILES_PATH or starter)"
    )
    score.add_argument("--random-rate", type=float, default=None, help="share sent to red at random (default 0.01)")
    score.set_defaults(func=_score)

    evaluate = verbs.add_parser("evaluate", help="precision@n%% of the model beside the baselines")
    evaluate.add_argument("--train", type=Path, nargs="+", help="training CSV files (default: the shared train file)")
    evaluate.add_argument("--valid", type=Path, help="validation CSV (default: the shared validation file)")
    evaluate.add_argument("--ablation", action="store_true", help="also print the ablation table")
    evaluate.set_defaults(func=_evaluate)

    load = verbs.add_parser("load", help="bulk-load a declaration CSV file into the database")
    load.add_argument("data", type=Path, help="declaration CSV file")
    load.add_argument("--database-url", help="PostgreSQL URL (default: CEDETECT_DATABASE_URL)")
    load.set_defaults(func=_load)


def _train(args: argparse.Namespace) -> int:
    import pandas as pd

    from risk.features import fingerprint, read_frame
    from risk.model import DEFAULT_ROUNDS, train_model

    frames = [read_frame(path) for path in args.data]
    train = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    unlabelled = int(train["fraud"].isna().sum())
    if unlabelled:
        print(f"cedetect risk train: unlabelled_rows: {unlabelled} rows have no Fraud label", file=sys.stderr)
        return 2
    valid = read_frame(args.valid) if args.valid else None
    model = train_model(
        train,
        valid,
        rounds=args.rounds or DEFAULT_ROUNDS,
        seed=args.seed,
        fingerprint=fingerprint(args.data),
        sources=[p.name for p in args.data],
    )
    model.save(args.out)
    summary = {k: model.metadata.get(k) for k in ("version", "training_rows", "metrics", "lane_thresholds")}
    print(json.dumps(summary, indent=2))
    return 0


def _score(args: argparse.Namespace) -> int:
    from cedetect.config import RiskSettings
    from cedetect.declarations import RowError, iter_declarations_csv
    from risk.features import to_frame
    from risk.profiles import ProfileSet, load_profiles
    from risk.scoring import Scorer

    settings = RiskSettings()
    overrides: dict[str, Any] = {}
    if args.model is not None:
        overrides["model_dir"] = args.model
    if args.random_rate is not None:
        overrides["random_rate"] = args.random_rate
    settings = RiskSettings.model_validate({**settings.model_dump(), **overrides})
    profiles = ProfileSet(load_profiles(args.profiles)) if args.profiles else None
    scorer = Scorer.from_settings(settings, profiles)
    items = list(iter_declarations_csv(args.data))
    declarations = [item for _, item in items if not isinstance(item, RowError)]
    table = scorer.score_frame(to_frame(declarations), explain="all")
    by_id: dict[str, dict[Hashable, Any]] = {str(r["declaration_id"]): r for r in table.to_dict("records")}
    rejected = 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["declaration_id", "risk_score", "critical_score", "lane", "reasons", "line", "error"])
        for line, item in items:
            if isinstance(item, RowError):
                rejected += 1
                print(f"{args.data}:{item.line}: {item.reason}: {item.detail}", file=sys.stderr)
                writer.writerow([_raw_id(args.data, item.line), "", "", "", "", item.line, item.reason])
                continue
            row = by_id[item.declaration_id]
            writer.writerow(
                [row["declaration_id"], f"{row['risk_score']:.6f}", f"{row['critical_score']:.6f}", row["lane"],
                 "; ".join(row["reasons"]), line, ""]
            )  # fmt: skip
    lanes = table["lane"].value_counts().to_dict() if len(table) else {}
    print(
        f"scored {len(declarations)} declarations with model {scorer.model.version} "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(lanes.items()))}); {rejected} rows rejected",
        file=sys.stderr,
    )
    return 0 if declarations or not rejected else 1


def _raw_id(path: Path, line: int) -> str:
    """The first cell of a rejected row (its Declaration ID as written), best effort."""
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            for number, text in enumerate(handle, start=1):
                if number == line:
                    return next(csv.reader([text]), [""])[0][:64]
    except OSError:
        pass
    return ""


def _evaluate(args: argparse.Namespace) -> int:
    from risk.evaluate import main as evaluate_main

    argv: list[str] = []
    if args.train:
        argv += ["--train", *map(str, args.train)]
    if args.valid:
        argv += ["--valid", str(args.valid)]
    if args.ablation:
        argv.append("--ablation")
    return evaluate_main(argv)


def _load(args: argparse.Namespace) -> int:
    import importlib

    try:
        load = importlib.import_module("risk.load")
    except ImportError as exc:
        print(f"cedetect risk load: unavailable: {exc}", file=sys.stderr)
        return 2
    result: int = load.main(args.data, args.database_url)
    return result

"""Batch scoring speed of ``risk.scoring.Scorer`` (goal: >= 100,000 declarations/s), beside baselines.

    python -m bench.risk_speed [--rows 100000] [--repeat 3]

Real declarations: the shared validation months, repeated to ``--rows``.  Measured in the same run:

* ``Scorer.score_frame`` without explanations (model + profiles + lanes) and with the model's reasons
  for the rows outside the green lane (LightGBM ``pred_contrib``);
* baseline 1: the paper's plain LightGBM (label-encoded raw columns + value per kg, 500 trees of 63
  leaves, trained here on the shared 2020 file): its feature building and prediction on the same rows;
* baseline 2: ``Scorer.score`` one declaration at a time (what an API call does: the single-declaration
  path, no frame), on 300 rows.

Prints declarations/s for each, and the ratio of the batch path to each baseline.  Best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from cedetect.declarations import read_declarations_csv
from risk.evaluate import PLAIN_PARAMS, PLAIN_ROUNDS, TRAIN_FILE, VALID_FILE
from risk.features import plain_features, read_frame
from risk.scoring import Scorer

GOAL_PER_S = 100_000


def best_rate(rows: int, call: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return rows / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the shipped one)")
    args = parser.parse_args()

    valid = read_frame(VALID_FILE)
    copies = -(-args.rows // len(valid))
    frame = pd.concat([valid] * copies, ignore_index=True).iloc[: args.rows].reset_index(drop=True)
    scorer = Scorer(args.model)
    scorer.score_frame(frame.iloc[:1000], explain="none")  # warm-up

    rate = best_rate(len(frame), lambda: scorer.score_frame(frame, explain="none"), args.repeat)
    explained = best_rate(len(frame), lambda: scorer.score_frame(frame, explain="flagged"), 1)

    train = read_frame(TRAIN_FILE)
    x_train, _ = plain_features(train, valid.iloc[:10])
    plain = lgb.train(PLAIN_PARAMS, lgb.Dataset(x_train, train["fraud"].to_numpy(float)), PLAIN_ROUNDS)
    plain_rate = best_rate(
        len(frame), lambda: plain.predict(plain_features(train, frame)[1], num_threads=2), args.repeat
    )

    declarations, _ = read_declarations_csv(VALID_FILE)
    sample = declarations[:300]
    single_rate = best_rate(len(sample), lambda: [scorer.score([d]) for d in sample], 1)

    print(f"{len(frame)} real declarations (the shared validation months, repeated), model {scorer.model.version}")
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'Scorer.score_frame, no explanations':<58} {rate:>12,.0f} /s   goal {GOAL_PER_S:,} /s")
    print(f"{'Scorer.score_frame, reasons for non-green rows':<58} {explained:>12,.0f} /s")
    print(f"{'baseline: plain LightGBM (label encoding + predict)':<58} {plain_rate:>12,.0f} /s")
    print(f"{'baseline: Scorer.score one declaration at a time':<58} {single_rate:>12,.0f} /s")
    print(f"ratio batch / plain LightGBM: x{rate / plain_rate:.2f};  batch / one at a time: x{rate / single_rate:.0f}")
    return 0 if rate >= GOAL_PER_S else 1


if __name__ == "__main__":
    raise SystemExit(main())

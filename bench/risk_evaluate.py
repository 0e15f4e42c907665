"""Precision@n% and critical-fraud recall@n% of the risk model beside the baselines, on the shared months.

    python -m bench.risk_evaluate [--ablation] [--seeds N] [--train T.csv ...] [--valid V.csv]

Trains on the shared 2020 file and ranks the three shared validation months (2021-01..03), as the
dataset's paper and DATE (KDD 2020) do; prints, in one run, the starter profiles alone, the paper's plain
LightGBM (label-encoded raw columns + value per kg) and the CEDetect model, and with ``--ablation`` one
row per feature group removed or encoding changed.  The held-back months are never read.
"""

from __future__ import annotations

import sys

from risk.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Latency of scoring one declaration through the API, beside the scorer called directly in the same run.

    python -m bench.risk_api [--requests 2000] [--data ../shared/data/customs/df_syn_valid_eng.csv]

Real declarations from the customs dataset, one per request, sent one at a time to the FastAPI app
in-process (httpx ASGI transport, with the app's lifespan: pool, listener, fusion worker) on a fresh
database of the PostgreSQL that ``scripts/test.sh`` starts (CEDETECT_TEST_DATABASE_URL):

* baseline: ``Scorer.score([declaration])`` called directly (the model and profile work alone: the
  single-declaration path, no frame);
* the same declaration through the frame path (``Scorer.score_frame(to_frame([declaration]))``, what
  ``Scorer.score`` did for one declaration before the single path), for comparison;
* ``POST /api/v1/risk/score``: validation, scoring and JSON, nothing stored;
* ``POST /api/v1/declarations``: the same plus the upsert of the declaration and its score.

Prints p50 / p99 / max in milliseconds for each, and the p99 ratio against the baseline.  Goal: p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import psycopg

from cedetect.declarations import Declaration, read_declarations_csv

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "customs" / "df_syn_valid_eng.csv"
GOAL_P99_MS = 20.0


def _percentiles(samples_s: list[float]) -> tuple[float, float, float]:
    ms = np.asarray(samples_s) * 1000.0
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.max())


def _line(name: str, samples_s: list[float], base_p99: float | None = None) -> str:
    p50, p99, worst = _percentiles(samples_s)
    ratio = "" if base_p99 is None else f"   p99 x{p99 / base_p99:.2f} baseline"
    return f"{name:<42} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   max {worst:7.2f} ms{ratio}"


async def _timed(n: int, call: Callable[[int], Awaitable[None]]) -> list[float]:
    samples: list[float] = []
    for i in range(n):
        start = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - start)
    return samples


async def run(url: str, declarations: list[Declaration], warmup: int) -> dict[str, list[float]]:
    from risk.features import to_frame
    from risk.scoring import Scorer
    from server.app import create_app

    scorer = Scorer()
    bodies: list[dict[str, Any]] = [d.model_dump(mode="json") for d in declarations]
    n = len(declarations)

    async def direct(i: int) -> None:
        scorer.score([declarations[i]])

    async def framed(i: int) -> None:
        scorer.score_frame(to_frame(declarations[i : i + 1]), explain="all", declarations=declarations[i : i + 1])

    for i in range(min(warmup, n)):
        await direct(i)
        await framed(i)
    results = {
        "baseline: Scorer.score([one]) directly": await _timed(n, direct),
        "frame path: score_frame(to_frame([one]))": await _timed(n, framed),
    }

    app = create_app(url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def score(i: int) -> None:
                response = await client.post("/api/v1/risk/score", json=bodies[i])
                assert response.status_code == 200, response.text

            async def store(i: int) -> None:
                response = await client.post("/api/v1/declarations", json=bodies[i])
                assert response.status_code in (200, 201), response.text

            for i in range(min(warmup, n)):
                await score(i)
            results["POST /api/v1/risk/score"] = await _timed(n, score)
            results["POST /api/v1/declarations (+ store)"] = await _timed(n, store)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    declarations, errors = read_declarations_csv(args.data)
    if errors:
        print(f"{len(errors)} rows of {args.data} rejected (first: {errors[0]})")
    declarations = declarations[: args.requests]
    admin = os.environ.get("CEDETECT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:55432/postgres")
    name = f"cedetect_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(admin)._replace(path="/" + name))
    try:
        results = asyncio.run(run(url, declarations, args.warmup))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"{len(declarations)} real declarations, one per request, sequential")
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    names = list(results)
    base_p99 = _percentiles(results[names[0]])[1]
    print(_line(names[0], results[names[0]]))
    for name_ in names[1:]:
        print(_line(name_, results[name_], base_p99))
    api_p99 = _percentiles(results["POST /api/v1/risk/score"])[1]
    print(f"goal p99 < {GOAL_P99_MS:.0f} ms through the API: {'met' if api_p99 < GOAL_P99_MS else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``cedetect risk load FILE.csv``: bulk load of declarations into PostgreSQL, and their scores.

The file is read with :func:`cedetect.declarations.iter_declarations_csv` (the dataset's header or the
snake_case one).  Valid rows go in chunks through ``COPY`` into a temporary table and from there into
``declarations`` with ``INSERT ... ON CONFLICT (declaration_id) DO UPDATE``, so loading the same file
twice changes nothing.  Each chunk commits on its own: a bad row never blocks the good ones, and a
database failure half-way keeps what was committed (the summary says how much).  When the risk scorer
can be built, the loaded declarations are scored with the active profile versions and the scores stored
(reasons: profile hits and random selection for all, the model's strongest contributions for the
declarations outside the green lane).

Output: one JSON line per rejected row on **stderr** (``{"line": N, "reason": NAME, "detail": ...}``)
and a JSON summary on **stdout**.  Exit status: **0** every row loaded; **1** some rows were rejected
(all the others are loaded and committed); **2** nothing could be loaded (file missing or unreadable,
header unusable, database unreachable).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg import sql

from cedetect.config import DatabaseSettings
from cedetect.declarations import Declaration, RowError, iter_declarations_csv
from cedetect.storage import connect_with_retry, migrate
from risk.store import DECLARATION_COLUMNS, declaration_values, score_values, store_scores, upsert_declarations_from

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_SOME_REJECTED = 1
EXIT_FAILED = 2

CHUNK_ROWS = 20_000
SOURCE = "csv"

#: Scores a chunk of declarations: returns (model_version, [(declaration_id, risk_score, lane, reasons)]).
ScoreFn = Callable[[Sequence[Declaration]], tuple[str, list[tuple[str, float, str, list[Any]]]]]

_TEMP = sql.Identifier("declarations_load")

#: Reasons that concern the whole file (its header or its encoding) rather than one row.
FILE_REASONS = frozenset(
    {"empty_file", "unknown_column", "duplicate_column", "missing_column", "not_utf8", "malformed_csv"}
)


def copy_declarations(
    conn: psycopg.Connection, declarations: Sequence[Declaration], source: str = SOURCE
) -> tuple[int, int]:
    """COPY ``declarations`` into a temporary table and upsert them, in the caller's transaction.

    Returns (inserted, updated).  Declaration ids must be unique within the call.
    """
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE declarations INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        ).format(_TEMP)
    )
    conn.execute(sql.SQL("TRUNCATE {}").format(_TEMP))
    columns = sql.SQL(", ").join(map(sql.Identifier, DECLARATION_COLUMNS))
    with conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(_TEMP, columns)) as copy:
            for decl in declarations:
                copy.write_row(declaration_values(decl, source))
        cur.execute(upsert_declarations_from(_TEMP))
        flags = [row[0] for row in cur.fetchall()]
    inserted = sum(1 for f in flags if f)
    return inserted, len(flags) - inserted


def default_score_fn(conn: psycopg.Connection) -> tuple[ScoreFn | None, str | None]:
    """A scorer using the shipped model and the active profile versions in the database (or the starter
    set when the table is empty); ``(None, why)`` when it cannot be built."""
    try:
        from risk.features import to_frame
        from risk.profiles import Profile, ProfileSet
        from risk.scoring import Scorer

        rows = conn.execute("SELECT body FROM risk_profiles WHERE active ORDER BY profile_id").fetchall()
        profiles = ProfileSet([Profile.model_validate(row[0]) for row in rows]) if rows else None
        scorer = Scorer(profiles=profiles)
    except Exception as exc:  # an absent or broken model must not block loading declarations
        return None, f"{type(exc).__name__}: {exc}"
    version = scorer.model.version

    def score(declarations: Sequence[Declaration]) -> tuple[str, list[tuple[str, float, str, list[Any]]]]:
        # Vectorised; the model's feature contributions are explained for the flagged lanes only (explaining
        # every row costs 2-3 times the whole load), profile hits and random selection are always named.
        table = scorer.score_frame(to_frame(list(declarations)), explain="flagged")
        return version, [
            (str(i), float(score), str(lane), list(reasons))
            for i, score, lane, reasons in zip(
                table["declaration_id"], table["risk_score"], table["lane"], table["reasons"], strict=True
            )
        ]

    return score, None


def load_file(
    conn: psycopg.Connection,
    path: Path,
    *,
    errors_out: TextIO,
    score_fn: ScoreFn | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, Any]:
    """Load one file on ``conn`` (not in autocommit); rejected rows are written to ``errors_out``."""
    started = time.perf_counter()
    reasons: Counter[str] = Counter()
    totals = {"rows": 0, "inserted": 0, "updated": 0, "scored": 0}
    header_failed = False
    model_version: str | None = None
    chunk: list[Declaration] = []

    def flush() -> None:
        nonlocal model_version
        if not chunk:
            return
        with conn.transaction():
            inserted, updated = copy_declarations(conn, chunk)
        totals["inserted"] += inserted
        totals["updated"] += updated
        if score_fn is not None:
            version, results = score_fn(chunk)
            model_version = version
            now = datetime.now(UTC)
            with conn.transaction():
                totals["scored"] += store_scores(
                    conn, (score_values(d, version, s, lane, why, now) for d, s, lane, why in results)
                )
        chunk.clear()

    for _, item in iter_declarations_csv(path):
        if isinstance(item, RowError):
            if item.reason in FILE_REASONS:
                header_failed = header_failed or totals["rows"] == 0
            else:
                totals["rows"] += 1
            reasons[item.reason] += 1
            errors_out.write(json.dumps({"line": item.line, "reason": item.reason, "detail": item.detail}) + "\n")
            continue
        totals["rows"] += 1
        chunk.append(item)
        if len(chunk) >= chunk_rows:
            flush()
    flush()
    rejected = sum(reasons.values())
    return {
        "file": str(path),
        "rows": totals["rows"],
        "loaded": totals["inserted"] + totals["updated"],
        "inserted": totals["inserted"],
        "updated": totals["updated"],
        "rejected": rejected,
        "rejected_by_reason": dict(sorted(reasons.items())),
        "header_failed": header_failed,
        "scored": totals["scored"],
        "model_version": model_version,
        "elapsed_s": round(time.perf_counter() - started, 3),
    }


def main(path: Path, database_url: str | None = None, *, score: bool = True, connect_timeout_s: float = 10.0) -> int:
    """Entry point of ``cedetect risk load``; see the module docstring for the output and exit status."""
    if not path.is_file():
        print(json.dumps({"error": "file_not_found", "detail": str(path)}), file=sys.stderr)
        return EXIT_FAILED
    url = database_url or DatabaseSettings().url.get_secret_value()
    try:
        conn = connect_with_retry(url, timeout_s=connect_timeout_s)
    except psycopg.OperationalError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(json.dumps({"error": "database_unavailable", "detail": detail}), file=sys.stderr)
        return EXIT_FAILED
    try:
        migrate(conn)
        score_fn: ScoreFn | None = None
        scoring_note: str | None = None
        if score:
            score_fn, scoring_note = default_score_fn(conn)
            conn.rollback()
        summary = load_file(conn, path, errors_out=sys.stderr, score_fn=score_fn)
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(json.dumps({"error": "database_error", "detail": detail}), file=sys.stderr)
        return EXIT_FAILED
    finally:
        conn.close()
    if scoring_note:
        summary["scoring_unavailable"] = scoring_note
    print(json.dumps(summary))
    if summary["header_failed"] or (summary["loaded"] == 0 and summary["rejected"] > 0):
        return EXIT_FAILED
    return EXIT_SOME_REJECTED if summary["rejected"] else EXIT_OK

"""``risk.load``: bulk load of a real slice of the customs dataset, with hand-broken rows, into PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg
import pytest

from cedetect.declarations import read_declarations_csv
from cedetect.storage import migrate
from risk import load
from risk.store import fetch_declaration

pytestmark = pytest.mark.postgres

SLICE_ROWS = 400


def _slice(shared_data: Path, tmp_path: Path, rows: int = SLICE_ROWS) -> tuple[Path, list[str], list[list[str]]]:
    source = shared_data / "customs" / "df_syn_valid_eng.csv"
    with open(source, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        body = [row for _, row in zip(range(rows), reader, strict=False)]
    path = tmp_path / "slice.csv"
    _write(path, header, body)
    return path, header, body


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM declarations").fetchone()
        assert row is not None
        return int(row[0])


def _errors(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_a_real_slice_loads_every_row_and_a_rerun_changes_nothing(
    shared_data: Path, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, header, body = _slice(shared_data, tmp_path)
    assert load.main(path, database_url, score=False) == load.EXIT_OK
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["rows"] == SLICE_ROWS
    assert summary["inserted"] == SLICE_ROWS
    assert summary["rejected"] == 0
    assert _errors(err) == []
    assert _count(database_url) == SLICE_ROWS

    # What is stored reads back as the same Declaration the file gives.
    expected, _ = read_declarations_csv(path)
    with psycopg.connect(database_url) as conn:
        for decl in (expected[0], expected[len(expected) // 2], expected[-1]):
            assert fetch_declaration(conn, decl.declaration_id) == decl
        first = dict(zip(header, body[0], strict=True))
        row = conn.execute(
            "SELECT hs6_code, net_mass_kg, item_price_krw, fraud FROM declarations WHERE declaration_id = %s",
            (first["Declaration ID"],),
        ).fetchone()
    assert row == (first["HS6 Code"], float(first["Net Mass"]), float(first["Item Price"]), int(first["Fraud"]))

    assert load.main(path, database_url, score=False) == load.EXIT_OK
    again = json.loads(capsys.readouterr().out)
    assert (again["inserted"], again["updated"]) == (0, SLICE_ROWS)
    assert _count(database_url) == SLICE_ROWS


def test_bad_rows_are_reported_with_line_and_reason_and_do_not_block_the_good_ones(
    shared_data: Path, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, header, body = _slice(shared_data, tmp_path, rows=60)
    col = {name: i for i, name in enumerate(header)}
    rows = [list(r) for r in body]
    rows[3][col["HS6 Code"]] = "12AB56"  # file line 5
    rows[10][col["Office ID"]] = ""  # line 12
    rows[20] = rows[20][:-2]  # line 22
    rows[30][col["Declaration ID"]] = rows[29][col["Declaration ID"]]  # line 32: duplicate id
    rows[40][col["Fraud"]], rows[40][col["Critical Fraud"]] = "0", "2"  # line 42: labels disagree
    rows[50][col["Net Mass"]] = "-5"  # line 52
    rows[55][col["Date"]] = "2021-02-30"  # line 57
    path = tmp_path / "broken.csv"
    _write(path, header, rows)

    assert load.main(path, database_url, score=False) == load.EXIT_SOME_REJECTED
    out, err = capsys.readouterr()
    errors = {e["line"]: e["reason"] for e in _errors(err)}
    assert errors == {
        5: "invalid_hs6_code",
        12: "missing_office_id",
        22: "wrong_column_count",
        32: "duplicate_declaration_id",
        42: "label_mismatch",
        52: "invalid_net_mass_kg",
        57: "invalid_date",
    }
    summary = json.loads(out)
    assert summary["rejected"] == 7
    assert summary["loaded"] == 53
    assert summary["rejected_by_reason"]["wrong_column_count"] == 1
    assert _count(database_url) == 53


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty_file"),
        ("Declaration ID,Date,Colour\n1,2021-01-01,red\n", "unknown_column"),
        ("Declaration ID,Date\n1,2021-01-01\n", "missing_column"),
    ],
)
def test_an_unusable_file_loads_nothing_and_exits_2(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str], text: str, reason: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    assert load.main(path, database_url, score=False) == load.EXIT_FAILED
    _, err = capsys.readouterr()
    assert [e["reason"] for e in _errors(err)] == [reason]
    assert _count(database_url) == 0


def test_a_missing_file_or_database_is_a_named_failure(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load.main(tmp_path / "nope.csv", database_url) == load.EXIT_FAILED
    assert json.loads(capsys.readouterr().err)["error"] == "file_not_found"
    path = tmp_path / "x.csv"
    path.write_text("Declaration ID\n", encoding="utf-8")
    dead = "postgresql://nobody:nothing@127.0.0.1:1/none"
    assert load.main(path, dead, connect_timeout_s=0.2) == load.EXIT_FAILED
    assert json.loads(capsys.readouterr().err)["error"] == "database_unavailable"


def test_loading_scores_each_declaration_when_the_scorer_is_available(
    shared_data: Path, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(database_url) as conn:
        migrate(conn)
        _, unavailable = load.default_score_fn(conn)
    if unavailable is not None and "model_not_found" in unavailable:
        pytest.skip(f"no shipped risk model in this checkout: {unavailable}")
    path, _, _ = _slice(shared_data, tmp_path, rows=200)
    assert load.main(path, database_url) == load.EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert "scoring_unavailable" not in summary, summary.get("scoring_unavailable")
    assert summary["scored"] == 200
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT risk_score, lane, reasons FROM risk_scores").fetchall()
    assert len(rows) == 200
    assert all(0.0 <= score <= 1.0 for score, _, _ in rows)
    assert {lane for _, lane, _ in rows} <= {"red", "yellow", "blue", "green"}

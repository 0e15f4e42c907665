"""``cedetect risk score`` with the shipped model on a real slice, ``risk train`` (tiny), and the ``load`` verb."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cedetect.cli import build_parser, main
from risk.model import RiskModel
from tests.risk.slices import TRAIN, VALID, head_lines


def test_score_writes_every_input_row_with_the_shipped_model(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = head_lines(shared_data / VALID, tmp_path / "valid.csv", 300, step=5)
    lines = source.read_text().splitlines()
    broken = lines[7].split(",")
    broken[12] = "ABCDEF"  # HS6 code not digits, line 302
    source.write_text("\n".join([*lines, ",".join(broken)]) + "\n")
    out = tmp_path / "scores.csv"
    assert main(["risk", "score", str(source), "--out", str(out)]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["declaration_id"] for r in rows] == [line.split(",")[0] for line in lines[1:]] + [broken[0]]
    good, bad = rows[:-1], rows[-1]
    assert all(0.0 <= float(r["risk_score"]) <= 1.0 for r in good)
    assert {r["lane"] for r in good} <= {"red", "yellow", "blue", "green"}
    assert "red" in {r["lane"] for r in good}
    assert all(r["reasons"] for r in good if r["lane"] != "green")
    assert any("profile:" in r["reasons"] for r in good)
    assert any("model:" in r["reasons"] for r in good)
    assert [r["line"] for r in good[:3]] == ["2", "3", "4"]
    assert (bad["line"], bad["error"], bad["risk_score"], bad["lane"]) == ("302", "invalid_hs6_code", "", "")
    err = capsys.readouterr().err
    assert f"{source}:302: invalid_hs6_code" in err
    assert "300 declarations" in err
    assert "1 rows rejected" in err


def test_train_writes_a_loadable_model_version(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = head_lines(shared_data / TRAIN, tmp_path / "train.csv", 1500, step=7)
    valid = head_lines(shared_data / VALID, tmp_path / "valid.csv", 300)
    out = tmp_path / "model"
    assert main(["risk", "train", str(train), "--valid", str(valid), "--out", str(out), "--rounds", "5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    model = RiskModel.load(out)
    assert summary["version"] == model.version
    assert summary["training_rows"] == 1500
    scores = tmp_path / "scores.csv"
    assert main(["risk", "score", str(valid), "--out", str(scores), "--model", str(out), "--random-rate", "0"]) == 0
    assert len(scores.read_text().splitlines()) == 301


def test_train_refuses_unlabelled_files(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = head_lines(shared_data / TRAIN, tmp_path / "train.csv", 50)
    lines = source.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 2)[0] + ",,"
    source.write_text("\n".join(lines) + "\n")
    assert main(["risk", "train", str(source), "--out", str(tmp_path / "m")]) == 2
    assert "unlabelled_rows" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_the_load_verb_is_registered_with_its_options() -> None:
    args = build_parser().parse_args(["risk", "load", "decl.csv", "--database-url", "postgresql://x@h/db"])
    assert (args.data, args.database_url) == (Path("decl.csv"), "postgresql://x@h/db")
    args = build_parser().parse_args(["risk", "load", "decl.csv"])
    assert args.database_url is None
    assert callable(args.func)

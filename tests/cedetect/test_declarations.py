"""The Declaration contract and the CSV reader: real rows, bad rows with line numbers and named reasons."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from cedetect.declarations import (
    CSV_COLUMNS,
    FIELDS,
    Declaration,
    RowError,
    declaration_to_row,
    read_declarations_csv,
)
from tests.risk.slices import TRAIN, VALID, declaration, head_lines

DATASET_HEADER = ",".join(CSV_COLUMNS)


def test_the_real_files_parse_completely(shared_data: Path) -> None:
    train, train_errors = read_declarations_csv(shared_data / TRAIN)
    valid, valid_errors = read_declarations_csv(shared_data / VALID)
    assert (len(train), len(valid)) == (37_385, 8_134)  # the counts in the dataset's README
    assert train_errors == valid_errors == []
    first = train[0]
    assert first.declaration_id == "97061800"
    assert first.date == date(2020, 1, 1)
    assert (first.hs6_code, first.net_mass_kg, first.item_price_krw) == ("440890", 108.0, 372254.4)
    assert (first.seller_id, first.courier_id, first.fraud, first.critical_fraud) == ("0VKY2BR", None, 0, 0)
    assert sum(d.fraud == 1 for d in train) == 8_114
    assert sum(d.critical_fraud == 2 for d in valid) == 78
    assert sum(d.seller_id is None for d in train) == 3_715


def test_bad_rows_are_reported_with_their_line_and_a_named_reason(shared_data: Path, tmp_path: Path) -> None:
    good = head_lines(shared_data / TRAIN, tmp_path / "good.csv", 3).read_text().splitlines()
    row = good[1].split(",")

    def variant(index: int, value: str) -> str:
        cells = list(row)
        cells[index] = value
        cells[0] = str(90000000 + index)
        return ",".join(cells)

    lines = [
        DATASET_HEADER,  # 1
        good[1],  # 2 good
        variant(1, "2020-13-01"),  # 3 bad date
        variant(12, "44089"),  # 4 HS6 with five digits
        variant(9, ""),  # 5 no importer
        ",".join(row[:5]),  # 6 too few cells
        good[1],  # 7 the same Declaration ID again
        variant(18, "-3.0"),  # 8 negative mass
        variant(20, "0").rsplit(",", 1)[0] + ",2",  # 9 fraud 0 with critical fraud 2
        variant(13, "china"),  # 10 not a country code
        "",  # 11 blank line, skipped
        good[2],  # 12 good
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    declarations, errors = read_declarations_csv(path)
    assert [d.declaration_id for d in declarations] == [good[1].split(",")[0], good[2].split(",")[0]]
    assert [(e.line, e.reason) for e in errors] == [
        (3, "invalid_date"),
        (4, "invalid_hs6_code"),
        (5, "missing_importer_id"),
        (6, "wrong_column_count"),
        (7, "duplicate_declaration_id"),
        (8, "invalid_net_mass_kg"),
        (9, "label_mismatch"),
        (10, "invalid_country_of_departure"),
    ]
    assert all(e.detail for e in errors)


def test_a_quoted_multi_line_cell_keeps_the_following_line_numbers_right(tmp_path: Path) -> None:
    row = declaration_to_row(declaration())
    with open(tmp_path / "multi.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerow({**row, "expected_post": "POST\nTWO"})  # lines 2-3, a bad expected_post
        writer.writerow({**row, "declaration_id": "10000002"})  # line 4
        writer.writerow({**row, "declaration_id": "10000003", "hs6_code": "x"})  # line 5
    declarations, errors = read_declarations_csv(tmp_path / "multi.csv")
    assert [d.declaration_id for d in declarations] == ["10000002"]
    assert [(e.line, e.reason) for e in errors] == [(2, "invalid_expected_post"), (5, "invalid_hs6_code")]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "empty_file"),
        (DATASET_HEADER + ",Colour\n", "unknown_column"),
        (DATASET_HEADER.replace("Importer ID,", "") + "\n", "missing_column"),
        (DATASET_HEADER + ",importer_id\n", "duplicate_column"),
    ],
)
def test_an_unusable_header_is_one_error_on_line_1(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "h.csv"
    path.write_text(content, encoding="utf-8")
    assert read_declarations_csv(path) == ([], [RowError(1, reason, read_declarations_csv(path)[1][0].detail)])


def test_a_line_that_is_not_utf8_is_reported_and_the_next_one_read(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    good = declaration_to_row(declaration())
    path.write_bytes(
        (",".join(FIELDS) + "\n").encode() + b"10000009,\xff\xfegarbage\n" + (",".join(good.values()) + "\n").encode()
    )
    declarations, errors = read_declarations_csv(path)
    assert declarations == [declaration()]
    assert [(e.line, e.reason) for e in errors] == [(2, "not_utf8")]


def test_the_snake_case_header_with_transit_columns_round_trips(tmp_path: Path) -> None:
    original = declaration(
        vehicle_plate=" 34 abc 123 ",
        trailer_plate="34 XY 99",
        container_codes="MSCU1234565; tgHU7654321",
        corridor_id="TR-IQ-1",
        route=[[42.1, 37.1], [42.4, 37.2], [43.0, 36.9]],
        expected_post="habur",
        expected_from_utc=datetime(2021, 2, 2, 6, tzinfo=UTC),
        expected_until_utc="2021-02-02T18:00:00+03:00",
        fraud=1,
        critical_fraud=2,
    )
    assert original.vehicle_plate == "34 ABC 123"
    assert original.container_codes == ("MSCU1234565", "TGHU7654321")
    assert original.expected_until_utc == datetime(2021, 2, 2, 15, tzinfo=UTC)
    path = tmp_path / "transit.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerow(declaration_to_row(original))
    declarations, errors = read_declarations_csv(path)
    assert errors == []
    assert declarations == [original]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"container_codes": ["MSCU123"]}, "container_codes"),
        ({"route": [[42.0, 37.0]]}, "route"),
        ({"route": [[200.0, 37.0], [42.0, 37.0]]}, "route"),
        ({"expected_from_utc": datetime(2021, 2, 2, 6)}, "expected_from_utc"),  # naive time  # noqa: DTZ001 - the naive time under test
        ({"critical_fraud": 3}, "critical_fraud"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_the_contract_refuses_bad_transit_and_label_values(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        declaration(**overrides)
    assert str(caught.value.errors()[0]["loc"][0]) == field


def test_the_time_window_must_be_ordered_and_value_per_kg_handles_zero_mass() -> None:
    with pytest.raises(ValidationError, match="bad_time_window"):
        declaration(
            expected_from_utc=datetime(2021, 2, 2, 18, tzinfo=UTC),
            expected_until_utc=datetime(2021, 2, 2, 6, tzinfo=UTC),
        )
    assert declaration(net_mass_kg=0.0).value_per_kg_krw is None
    assert declaration(net_mass_kg=4.0, item_price_krw=10.0).value_per_kg_krw == 2.5
    assert Declaration.model_validate_json(declaration().model_dump_json()) == declaration()

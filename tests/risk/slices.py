"""Small real slices of the public customs dataset (../shared/data/customs) for the risk tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from cedetect.declarations import Declaration

TRAIN = "customs/df_syn_train_eng.csv"
VALID = "customs/df_syn_valid_eng.csv"


def head_lines(source: Path, target: Path, rows: int, *, step: int = 1) -> Path:
    """Copy the header and ``rows`` data lines (every ``step``-th line) of a CSV file, byte for byte."""
    with open(source, encoding="utf-8", newline="") as handle:
        header = handle.readline()
        lines = []
        for number, line in enumerate(handle):
            if number % step == 0:
                lines.append(line)
            if len(lines) == rows:
                break
    target.write_text(header + "".join(lines), encoding="utf-8", newline="")
    return target


def declaration(**overrides: Any) -> Declaration:
    """A hand-built declaration (values in the dataset's style); override any field."""
    values: dict[str, Any] = {
        "declaration_id": "10000001",
        "date": date(2021, 2, 1),
        "office_id": "30",
        "process_type": "B",
        "import_type": "11",
        "import_use": "21",
        "payment_type": "11",
        "mode_of_transport": "10",
        "declarant_id": "DECL001",
        "importer_id": "IMP0001",
        "seller_id": "SELL001",
        "courier_id": None,
        "hs6_code": "847130",
        "country_of_departure": "CN",
        "country_of_origin": "CN",
        "tax_rate_pct": 8.0,
        "tax_type": "A",
        "country_of_origin_indicator": "Y",
        "net_mass_kg": 100.0,
        "item_price_krw": 1_000_000.0,
    }
    values.update(overrides)
    return Declaration.model_validate(values)

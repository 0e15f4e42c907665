"""The Declaration wire contract: an import or transit declaration, one goods item per record.

The reference schema is the public customs dataset's 22 columns (``../shared/data/customs``), renamed
to snake_case with units in the names, plus what transit needs: vehicle and trailer plates, container
codes, the approved route (a corridor id or a GeoJSON LineString's coordinates), the expected border
post and the expected time window.  All transit fields are optional.

:func:`read_declarations_csv` reads a CSV file with either the dataset's own header or the snake_case
one (field names, including the transit columns).  A bad row never stops the file: it is reported as a
:class:`RowError` with its 1-based file line and a named reason, and the other rows are kept.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date as Date  # noqa: N812 - the field is called ``date``
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cedetect.models import UtcDatetime

SCHEMA_VERSION: Literal[1] = 1

#: Codes and anonymised ids of the dataset: letters and digits (a few codes carry ``.`` ``-`` ``_``).
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
#: ISO 6346 container code: owner (3 letters) + category (U, J or Z) + 6-digit serial + check digit.
ContainerCode = Annotated[str, Field(pattern=r"^[A-Z]{3}[UJZ][0-9]{7}$")]
Plate = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9 -]{0,15}$")]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0)]
Latitude = Annotated[float, Field(ge=-90.0, le=90.0)]


class Declaration(BaseModel):
    """One declared goods item.  Labels (``fraud``, ``critical_fraud``) are present only on inspected items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    declaration_id: Code
    date: Date
    office_id: Code
    process_type: Code
    import_type: Code
    import_use: Code
    payment_type: Code
    mode_of_transport: Code
    declarant_id: Code
    importer_id: Code
    #: Empty in about 10% of the dataset's rows.
    seller_id: Code | None = None
    courier_id: Code | None = None
    hs6_code: Annotated[str, Field(pattern=r"^[0-9]{6}$")]
    country_of_departure: CountryCode
    country_of_origin: CountryCode
    tax_rate_pct: float = Field(ge=0.0, le=10_000.0, allow_inf_nan=False)
    tax_type: Code
    country_of_origin_indicator: Code
    net_mass_kg: float = Field(ge=0.0, allow_inf_nan=False)
    item_price_krw: float = Field(ge=0.0, allow_inf_nan=False)
    #: 0/1, present when the item was inspected.
    fraud: Literal[0, 1] | None = None
    #: 0 = none, 1 = fraud, 2 = critical fraud; present when the item was inspected.
    critical_fraud: Literal[0, 1, 2] | None = None
    # --- transit extension ---------------------------------------------------------------------
    vehicle_plate: Plate | None = None
    trailer_plate: Plate | None = None
    container_codes: tuple[ContainerCode, ...] = ()
    corridor_id: Code | None = None
    #: Approved route: the coordinates of a GeoJSON LineString, ``[[lon, lat], ...]`` (WGS 84).
    route: tuple[tuple[Longitude, Latitude], ...] | None = None
    #: The border-post zone id where the truck is expected.
    expected_post: Code | None = None
    expected_from_utc: UtcDatetime | None = None
    expected_until_utc: UtcDatetime | None = None
    #: The GPS tracker or e-seal fitted for the transit: links the declaration to that device's anomalies.
    tracker_device_id: Code | None = None

    @field_validator("vehicle_plate", "trailer_plate", mode="before")
    @classmethod
    def _normalise_plate(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("container_codes", mode="before")
    @classmethod
    def _normalise_containers(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in re.split(r"[\s;,|]+", value) if part]
        if isinstance(value, list | tuple):
            return tuple(v.strip().upper() if isinstance(v, str) else v for v in value)
        return value

    @field_validator("route")
    @classmethod
    def _route_is_a_line(cls, value: tuple[tuple[float, float], ...] | None) -> tuple[tuple[float, float], ...] | None:
        if value is not None and len(value) < 2:
            raise ValueError("a route needs at least two points")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Declaration:
        if (
            self.fraud is not None
            and self.critical_fraud is not None
            and (self.fraud == 0) != (self.critical_fraud == 0)
        ):
            raise ValueError("label_mismatch: fraud and critical_fraud disagree")
        if (
            self.expected_from_utc is not None
            and self.expected_until_utc is not None
            and self.expected_until_utc < self.expected_from_utc
        ):
            raise ValueError("bad_time_window: expected_until_utc is before expected_from_utc")
        return self

    @property
    def value_per_kg_krw(self) -> float | None:
        """Declared value per kilogram, ``None`` when the net mass is zero."""
        return self.item_price_krw / self.net_mass_kg if self.net_mass_kg > 0 else None


#: The dataset's header → Declaration field, in the dataset's column order.
CSV_COLUMNS: dict[str, str] = {
    "Declaration ID": "declaration_id",
    "Date": "date",
    "Office ID": "office_id",
    "Process Type": "process_type",
    "Import Type": "import_type",
    "Import Use": "import_use",
    "Payment Type": "payment_type",
    "Mode of Transport": "mode_of_transport",
    "Declarant ID": "declarant_id",
    "Importer ID": "importer_id",
    "Seller ID": "seller_id",
    "Courier ID": "courier_id",
    "HS6 Code": "hs6_code",
    "Country of Departure": "country_of_departure",
    "Country of Origin": "country_of_origin",
    "Tax Rate": "tax_rate_pct",
    "Tax Type": "tax_type",
    "Country of Origin Indicator": "country_of_origin_indicator",
    "Net Mass": "net_mass_kg",
    "Item Price": "item_price_krw",
    "Fraud": "fraud",
    "Critical Fraud": "critical_fraud",
}

#: Columns of the transit extension (snake_case header only).
TRANSIT_COLUMNS: tuple[str, ...] = (
    "vehicle_plate",
    "trailer_plate",
    "container_codes",
    "corridor_id",
    "route",
    "expected_post",
    "expected_from_utc",
    "expected_until_utc",
    "tracker_device_id",
)

#: Every CSV column a file may carry, as Declaration field names, in the snake_case header's order.
FIELDS: tuple[str, ...] = (*CSV_COLUMNS.values(), *TRANSIT_COLUMNS)
OPTIONAL_FIELDS: frozenset[str] = frozenset({"seller_id", "courier_id", "fraud", "critical_fraud", *TRANSIT_COLUMNS})
REQUIRED_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f not in OPTIONAL_FIELDS)


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row: its 1-based line in the file, a named reason (snake_case) and a human detail."""

    line: int
    reason: str
    detail: str


class HeaderError(ValueError):
    """The file's header is not one this reader knows."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def header_fields(header: Iterable[str]) -> list[str]:
    """Map a CSV header (the dataset's or snake_case) to field names; raise :class:`HeaderError` if unusable."""
    names = [h.strip().lstrip("\ufeff") for h in header]
    fields = [CSV_COLUMNS.get(name, name) for name in names]
    unknown = [name for name, field in zip(names, fields, strict=True) if field not in FIELDS]
    if unknown:
        raise HeaderError("unknown_column", f"unknown column(s): {', '.join(unknown)}")
    duplicated = sorted({f for f in fields if fields.count(f) > 1})
    if duplicated:
        raise HeaderError("duplicate_column", f"column(s) given twice: {', '.join(duplicated)}")
    missing = [f for f in REQUIRED_FIELDS if f not in fields]
    if missing:
        raise HeaderError("missing_column", f"missing column(s): {', '.join(missing)}")
    return fields


def _cell(field: str, text: str) -> Any:
    text = text.strip()
    if text == "":
        return () if field == "container_codes" else None
    if field in ("fraud", "critical_fraud"):
        try:
            return int(float(text))
        except ValueError:
            return text
    if field == "route":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _reason(exc: ValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    loc = first.get("loc") or ()
    field = str(loc[0]) if loc else ""
    message = str(first.get("msg", ""))
    detail = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors())
    if not field:  # model-level check: the message starts with its named reason
        match = re.search(r"([a-z][a-z0-9_]+):", message)
        return (match.group(1) if match else "invalid_declaration"), detail
    if first.get("type") == "missing" or (first.get("input") is None and field in REQUIRED_FIELDS):
        return f"missing_{field}", detail
    return f"invalid_{field}", detail


def declaration_from_row(row: Mapping[str, str]) -> Declaration:
    """Build a Declaration from one CSV row keyed by field name (raises ``ValidationError``)."""
    values = {field: _cell(field, text) for field, text in row.items()}
    return Declaration.model_validate({k: v for k, v in values.items() if v is not None})


def _decoded_lines(handle: BinaryIO, undecodable: set[int]) -> Iterator[str]:
    """Each physical line as text; a line that is not UTF-8 is decoded with replacement and noted."""
    for number, raw in enumerate(handle, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            undecodable.add(number)
            text = raw.decode("utf-8", errors="replace")
        yield text.removeprefix("\ufeff") if number == 1 else text


def iter_declarations_csv(path: Path | str) -> Iterator[tuple[int, Declaration | RowError]]:
    """Yield ``(line, Declaration or RowError)`` for each data row of a CSV file, in file order.

    ``line`` is the 1-based physical line where the row starts.  A header that cannot be used yields a
    single RowError for line 1 and nothing else; any other bad row is reported and the next one read.
    """
    seen: set[str] = set()
    undecodable: set[int] = set()
    line = 1
    with open(path, "rb") as handle:
        reader = csv.reader(_decoded_lines(handle, undecodable))
        try:
            header = next(reader)
        except StopIteration:
            yield 1, RowError(1, "empty_file", "the file has no header row")
            return
        except csv.Error as exc:
            yield 1, RowError(1, "malformed_csv", str(exc))
            return
        if 1 in undecodable:
            yield 1, RowError(1, "not_utf8", "the header is not UTF-8 text")
            return
        try:
            fields = header_fields(header)
        except HeaderError as exc:
            yield 1, RowError(1, exc.reason, exc.detail)
            return
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a NUL byte: the row is lost, the reader goes on
                start, line = line + 1, reader.line_num
                yield start, RowError(start, "malformed_csv", str(exc))
                continue
            start, line = line + 1, reader.line_num
            if any(number in undecodable for number in range(start, line + 1)):
                yield start, RowError(start, "not_utf8", f"line {start} is not UTF-8 text")
                continue
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(fields):
                yield start, RowError(start, "wrong_column_count", f"{len(cells)} cells, header has {len(fields)}")
                continue
            try:
                decl = declaration_from_row(dict(zip(fields, cells, strict=True)))
            except ValidationError as exc:
                reason, detail = _reason(exc)
                yield start, RowError(start, reason, detail)
                continue
            if decl.declaration_id in seen:
                yield start, RowError(start, "duplicate_declaration_id", f"{decl.declaration_id} appears earlier")
                continue
            seen.add(decl.declaration_id)
            yield start, decl


def read_declarations_csv(path: Path | str) -> tuple[list[Declaration], list[RowError]]:
    """Read every row of a declarations CSV: the valid declarations and the rejected rows (line, reason)."""
    declarations: list[Declaration] = []
    errors: list[RowError] = []
    for _, item in iter_declarations_csv(path):
        if isinstance(item, RowError):
            errors.append(item)
        else:
            declarations.append(item)
    return declarations, errors


def declaration_to_row(decl: Declaration) -> dict[str, str]:
    """The snake_case CSV row of a declaration (inverse of :func:`declaration_from_row`)."""
    data = decl.model_dump(mode="json", exclude={"schema_version"})
    row: dict[str, str] = {}
    for field in FIELDS:
        value = data.get(field)
        if value is None:
            row[field] = ""
        elif field == "container_codes":
            row[field] = " ".join(value)
        elif field == "route":
            row[field] = json.dumps(value, separators=(",", ":"))
        else:
            row[field] = str(value)
    return row

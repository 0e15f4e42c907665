"""Officers' outcomes: POST /outcomes, GET /outcomes, and GET /outcomes/labels.csv for the next training run.

An outcome names an alert and/or a declaration (an alert raised by fusion gives its declaration).
Posting the same report twice stores it once (its id is derived from its content).  Outcomes that
carry a label (``seizure`` → Fraud 1 / Critical Fraud 2, ``documents_irregular`` and
``duty_reassessed`` → 1 / 1, ``nothing_found`` → 0 / 0) make ``labels.csv``: every labelled
declaration in the customs dataset's own 22-column format, its ``Fraud`` and ``Critical Fraud`` set
from the latest such outcome, so the file can be given as it is to ``cedetect risk train``
(next to the dataset's files).  ``released`` and ``referred`` carry no label.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cedetect.declarations import CSV_COLUMNS, declaration_to_row
from cedetect.models import UtcDatetime
from risk.store import (
    OUTCOME_LABELS,
    Outcome,
    aalert_declaration_id,
    adeclaration_exists,
    ainsert_outcome,
    alabelled_declarations,
    alist_outcomes,
    outcome_id_for,
)
from server.deps import DbDep
from server.errors import ERROR_RESPONSES, ApiError

router = APIRouter(tags=["outcomes"])

MAX_LIMIT = 1000


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_id: uuid.UUID | None = None
    declaration_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")] | None = None
    outcome: Outcome
    officer: str = Field(min_length=1, max_length=100)
    notes: str = Field(default="", max_length=5000)
    time_utc: UtcDatetime

    @model_validator(mode="after")
    def _names_something(self) -> OutcomeIn:
        if self.alert_id is None and self.declaration_id is None:
            raise ValueError("missing_reference: give an alert_id, a declaration_id or both")
        return self


class OutcomeOut(BaseModel):
    outcome_id: uuid.UUID
    alert_id: uuid.UUID | None
    declaration_id: str | None
    outcome: Outcome
    officer: str
    notes: str
    time_utc: datetime
    recorded_utc: datetime
    #: (Fraud, Critical Fraud) this outcome gives the declaration, None when it carries no label.
    label: tuple[int, int] | None = None


def _out(row: dict[str, Any]) -> OutcomeOut:
    outcome = Outcome(row["outcome"])
    return OutcomeOut(**row, label=OUTCOME_LABELS.get(outcome))


@router.post("/outcomes", response_model=OutcomeOut, status_code=201, responses=ERROR_RESPONSES)
async def post_outcome(db: DbDep, body: OutcomeIn, response: Response) -> OutcomeOut:
    """Record what officers found (201; 200 when the same report was already recorded)."""
    declaration_id = body.declaration_id
    if body.alert_id is not None:
        exists, alert_declaration = await aalert_declaration_id(db, body.alert_id)
        if not exists:
            raise ApiError(422, "unknown_alert", f"alert {body.alert_id} not found")
        if declaration_id is None:
            declaration_id = alert_declaration
        elif alert_declaration is not None and alert_declaration != declaration_id:
            raise ApiError(
                422, "declaration_mismatch", f"alert {body.alert_id} is about declaration {alert_declaration}"
            )
    if declaration_id is not None and not await adeclaration_exists(db, declaration_id):
        raise ApiError(422, "unknown_declaration", f"declaration {declaration_id} not found")
    outcome_id = outcome_id_for(body.alert_id, declaration_id, body.outcome.value, body.officer, body.time_utc)
    row, new = await ainsert_outcome(
        db,
        outcome_id=outcome_id,
        alert_id=body.alert_id,
        declaration_id=declaration_id,
        outcome=body.outcome.value,
        officer=body.officer,
        notes=body.notes,
        time_utc=body.time_utc,
    )
    if not new:
        response.status_code = 200
    return _out(row)


@router.get("/outcomes", response_model=list[OutcomeOut], responses=ERROR_RESPONSES)
async def list_outcomes(
    db: DbDep,
    declaration_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")] = None,
    alert_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[OutcomeOut]:
    """Outcomes, newest first."""
    rows = await alist_outcomes(db, declaration_id=declaration_id, alert_id=alert_id, limit=limit)
    return [_out(row) for row in rows]


@router.get(
    "/outcomes/labels.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "labelled declarations, dataset format"}},
)
async def labels_csv(db: DbDep) -> Response:
    """Labelled declarations in the dataset's 22-column format (``Fraud``/``Critical Fraud`` from outcomes)."""
    labelled = await alabelled_declarations(db)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS.keys())
    for decl, _ in labelled:
        row = declaration_to_row(decl)
        writer.writerow(row[field] for field in CSV_COLUMNS.values())
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="labels.csv"'},
    )

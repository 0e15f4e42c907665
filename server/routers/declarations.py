"""Declarations and their risk: POST/GET /declarations, GET /declarations/{id}, POST /risk/score.

``POST /declarations`` validates one :class:`cedetect.declarations.Declaration`, scores it with the
shipped model and the active profile versions, and stores both (201 when new, 200 when it replaced
the stored one).  When the model cannot be loaded the declaration is still stored, without a score,
and the answer says ``score_error: model_unavailable``.  ``GET /declarations/{id}`` gives the
declaration with its latest score, the reads and anomalies fusion linked to it, the alerts raised
on it and the officers' outcomes.  ``POST /risk/score`` scores without storing.  Scoring runs in a
worker thread so that a slow model never holds up the event loop (live alerts, other requests).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from cedetect.declarations import Declaration
from cedetect.models import Alert
from cedetect.storage import ALERT_COLUMNS
from risk.store import (
    afetch_declaration,
    afetch_evidence,
    afetch_latest_score,
    alist_declarations,
    alist_outcomes,
    astore_score,
    aupsert_declaration,
    declaration_from_record,
    score_values,
)
from server.db import alerts_from_rows
from server.deps import DbDep
from server.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, ApiError, NotFoundError
from server.routers.profiles import RiskScoringDep, ScoringFailedError, ScoringUnavailableError, score_declarations

router = APIRouter(tags=["declarations"])

DeclarationId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
LaneName = Annotated[str | None, Query(pattern=r"^(red|yellow|blue|green)$")]
MAX_LIMIT = 1000
MAX_BATCH = 10_000


class Score(BaseModel):
    model_config = ConfigDict(frozen=True)

    risk_score: float
    lane: str
    reasons: list[Any]
    model_version: str
    scored_utc: datetime | None = None
    critical_score: float | None = None
    profiles: list[str] | None = None


class DeclarationScored(BaseModel):
    declaration: Declaration
    score: Score | None
    score_error: str | None = None


class DeclarationDetail(DeclarationScored):
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)
    outcomes: list[dict[str, Any]] = Field(default_factory=list)


def _score_from_row(row: dict[str, Any] | None) -> Score | None:
    if row is None or row.get("risk_score") is None:
        return None
    return Score(
        risk_score=row["risk_score"],
        lane=row["lane"],
        reasons=list(row["reasons"] or []),
        model_version=row["model_version"],
        scored_utc=row["scored_utc"],
    )


def _score_from_result(result: Any, scored_utc: datetime | None = None) -> Score:
    return Score(
        risk_score=result.risk_score,
        lane=result.lane.value,
        reasons=list(result.reasons),
        model_version=result.model_version,
        scored_utc=scored_utc,
        critical_score=result.critical_score,
        profiles=list(result.profiles),
    )


@router.post(
    "/declarations",
    response_model=DeclarationScored,
    status_code=201,
    responses={**ERROR_RESPONSES, 200: {"model": DeclarationScored, "description": "replaced a stored declaration"}},
)
async def post_declaration(
    db: DbDep, scoring: RiskScoringDep, declaration: Declaration, response: Response
) -> DeclarationScored:
    """Validate, score and store one declaration (an existing id is replaced and re-scored)."""
    score: Score | None = None
    error: str | None = None
    result: Any = None
    try:
        scorer = await scoring.scorer(db)
        result = (await asyncio.to_thread(score_declarations, scorer, [declaration]))[0]
    except (ScoringUnavailableError, ScoringFailedError) as exc:
        error = exc.error
    async with db.transaction():
        new = await aupsert_declaration(db, declaration, source="api")
        if result is not None:
            scored = datetime.now(UTC)
            values = score_values(
                declaration.declaration_id,
                result.model_version,
                result.risk_score,
                result.lane.value,
                result.reasons,
                scored,
            )
            await astore_score(db, values)
            score = _score_from_result(result, scored)
    if not new:
        response.status_code = 200
    return DeclarationScored(declaration=declaration, score=score, score_error=error)


@router.get("/declarations", response_model=list[DeclarationScored], responses=ERROR_RESPONSES)
async def list_declarations(
    db: DbDep,
    lane: LaneName = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    since: Annotated[date | None, Query(description="declaration date from (inclusive)")] = None,
    until: Annotated[date | None, Query(description="declaration date to (inclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[DeclarationScored]:
    """Declarations with their latest score, highest risk first; filter by lane and minimum score."""
    if since is not None and until is not None and since > until:
        raise ApiError(422, "invalid_request", "'since' must not be later than 'until'")
    rows = await alist_declarations(db, lane=lane, min_score=min_score, since=since, until=until, limit=limit)
    return [DeclarationScored(declaration=declaration_from_record(row), score=_score_from_row(row)) for row in rows]


@router.get(
    "/declarations/{declaration_id}",
    response_model=DeclarationDetail,
    responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSE},
)
async def get_declaration(db: DbDep, declaration_id: DeclarationId) -> DeclarationDetail:
    """One declaration with its latest score, linked evidence, alerts and outcomes."""
    declaration = await afetch_declaration(db, declaration_id)
    if declaration is None:
        raise NotFoundError(f"declaration {declaration_id} not found")
    score = _score_from_row(await afetch_latest_score(db, declaration_id))
    evidence = await afetch_evidence(db, declaration_id)
    cur = await db.execute(
        "SELECT " + ", ".join(ALERT_COLUMNS) + " FROM alerts WHERE details->>'declaration_id' = %s"
        " ORDER BY created_utc DESC LIMIT 100",
        (declaration_id,),
    )
    alerts = alerts_from_rows(await cur.fetchall())
    outcomes = await alist_outcomes(db, declaration_id=declaration_id)
    return DeclarationDetail(declaration=declaration, score=score, evidence=evidence, alerts=alerts, outcomes=outcomes)


class RiskResultOut(BaseModel):
    declaration_id: str
    risk_score: float
    critical_score: float
    lane: str
    reasons: list[str]
    profiles: list[str]
    model_version: str


def _result_out(result: Any) -> RiskResultOut:
    return RiskResultOut(
        declaration_id=result.declaration_id,
        risk_score=result.risk_score,
        critical_score=result.critical_score,
        lane=result.lane.value,
        reasons=list(result.reasons),
        profiles=list(result.profiles),
        model_version=result.model_version,
    )


@router.post("/risk/score", response_model=RiskResultOut, responses=ERROR_RESPONSES)
async def score_one(db: DbDep, scoring: RiskScoringDep, declaration: Declaration) -> RiskResultOut:
    """Score one declaration without storing it."""
    scorer = await scoring.scorer(db)
    return _result_out((await asyncio.to_thread(score_declarations, scorer, [declaration]))[0])


@router.post("/risk/score/batch", response_model=list[RiskResultOut], responses=ERROR_RESPONSES)
async def score_batch(db: DbDep, scoring: RiskScoringDep, declarations: list[Declaration]) -> list[RiskResultOut]:
    """Score up to 10,000 declarations without storing them (input order kept)."""
    if len(declarations) > MAX_BATCH:
        raise ApiError(422, "batch_too_large", f"{len(declarations)} declarations, at most {MAX_BATCH} per request")
    scorer = await scoring.scorer(db)
    return [_result_out(r) for r in await asyncio.to_thread(score_declarations, scorer, declarations)]

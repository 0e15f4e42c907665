"""Risk profiles, versioned in the database: GET /profiles, GET /profiles/{id} (with history), PUT /profiles/{id}.

A PUT stores a new version (validated as a :class:`risk.profiles.Profile`; ``changed_by`` and ``comment``
are required) and makes it the active one; the version before stays in the history.  The scorer every
request uses (:class:`RiskScoring`) follows the active versions: it is refreshed at once after a PUT
here and within ``refresh_s`` after a change made by another server.  An empty table is seeded with the
starter set (version 1, changed by ``cedetect``).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import HTTPConnection

from risk.profiles import Profile, ProfileSet, starter_profiles
from risk.store import aactive_profiles, aprofile_history, aprofiles_revision, aput_profile_version
from server.db import Connection
from server.deps import DbDep
from server.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, ApiError, ErrorBody, NotFoundError

log = logging.getLogger(__name__)

router = APIRouter(tags=["risk profiles"])

ProfileId = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
SEED_AUTHOR = "cedetect"
SEED_COMMENT = "starter set shipped with CEDetect"


class ProfileVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    profile_id: str
    version: int
    active: bool
    profile: dict[str, Any]
    valid_from: date | None = None
    valid_until: date | None = None
    changed_by: str
    changed_utc: datetime
    comment: str


class ProfileDetail(BaseModel):
    active: ProfileVersion | None
    history: list[ProfileVersion]


class ProfileChange(BaseModel):
    """A new version of a profile: the profile document, who changes it and why."""

    model_config = ConfigDict(extra="forbid")

    profile: dict[str, Any]
    changed_by: str = Field(min_length=1, max_length=100)
    comment: str = Field(min_length=1, max_length=2000)


def _version(row: dict[str, Any]) -> ProfileVersion:
    return ProfileVersion(
        profile_id=row["profile_id"],
        version=row["version"],
        active=row["active"],
        profile=row["body"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        changed_by=row["changed_by"],
        changed_utc=row["changed_utc"],
        comment=row["comment"],
    )


class ScoringUnavailableError(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(503, "model_unavailable", detail)


class ScoringFailedError(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(503, "scoring_failed", detail)


def score_declarations(scorer: Any, declarations: list[Any]) -> list[Any]:
    """``scorer.score`` with any failure of the model turned into a named 503 (never a 500)."""
    try:
        return list(scorer.score(declarations))
    except Exception as exc:
        log.exception("scoring failed")
        raise ScoringFailedError(f"{type(exc).__name__}: {exc}") from exc


class RiskScoring:
    """The scorer (shipped model) with the active profile versions; one per app."""

    def __init__(self, refresh_s: float = 5.0, retry_s: float = 30.0) -> None:
        self.refresh_s = refresh_s
        self.retry_s = retry_s
        self._failed = 0.0
        self._base: Any = None  # risk.scoring.Scorer, built once (loading the model takes a while)
        self._scorer: Any = None
        self._revision: tuple[int, datetime | None] | None = None
        self._checked = 0.0
        self._lock = asyncio.Lock()
        self.error: str | None = None

    async def scorer(self, conn: Connection) -> Any:
        """The current scorer; raises :class:`ScoringUnavailableError` when the model cannot be loaded."""
        if self._scorer is not None and time.monotonic() - self._checked < self.refresh_s:
            return self._scorer
        async with self._lock:
            if self._scorer is not None and time.monotonic() - self._checked < self.refresh_s:
                return self._scorer
            revision = await aprofiles_revision(conn)
            if revision[0] == 0:
                await seed_starter_profiles(conn)
                revision = await aprofiles_revision(conn)
            if self._scorer is None or revision != self._revision:
                await self._rebuild(conn)
                self._revision = revision
            self._checked = time.monotonic()
            return self._scorer

    def invalidate(self) -> None:
        self._checked = 0.0

    async def _rebuild(self, conn: Connection) -> None:
        rows = await aactive_profiles(conn)
        profiles = []
        for row in rows:
            try:
                profiles.append(Profile.model_validate(row["body"]))
            except ValidationError as exc:  # a stored version that no longer validates is skipped, not fatal
                log.error("skipping profile %s v%s: %s", row["profile_id"], row["version"], exc)
        if self._base is None:
            if self.error is not None and time.monotonic() - self._failed < self.retry_s:
                raise ScoringUnavailableError(self.error)
            try:
                from risk.scoring import Scorer

                self._base = await asyncio.to_thread(Scorer)
            except Exception as exc:  # a missing or unreadable model: answer 503, retry later
                self.error = f"{type(exc).__name__}: {exc}"
                self._failed = time.monotonic()
                log.error("the risk model cannot be loaded: %s", self.error)
                raise ScoringUnavailableError(self.error) from exc
        scorer = copy.copy(self._base)
        scorer.profiles = ProfileSet(profiles, history=self._base.model.history)
        self._scorer = scorer
        self.error = None


async def seed_starter_profiles(conn: Connection) -> int:
    """Store the starter profiles as version 1 when the table is empty; returns how many were stored."""
    stored = 0
    async with conn.transaction():
        await conn.execute("LOCK TABLE risk_profiles IN SHARE ROW EXCLUSIVE MODE")
        cur = await conn.execute("SELECT count(*) FROM risk_profiles")
        row = await cur.fetchone()
        if row is not None and row[0]:
            return 0
        for profile in starter_profiles():
            await conn.execute(
                "INSERT INTO risk_profiles (profile_id, version, body, valid_from, valid_until, active, changed_by,"
                " comment) VALUES (%s, 1, %s, %s, %s, true, %s, %s) ON CONFLICT DO NOTHING",
                (
                    profile.id,
                    Jsonb(profile.model_dump(mode="json")),
                    profile.valid_from,
                    profile.valid_until,
                    SEED_AUTHOR,
                    SEED_COMMENT,
                ),
            )
            stored += 1
    return stored


def get_risk_scoring(connection: HTTPConnection) -> RiskScoring:
    state = connection.app.state
    scoring = getattr(state, "risk_scoring", None)
    if not isinstance(scoring, RiskScoring):
        scoring = RiskScoring()
        state.risk_scoring = scoring
    return scoring


RiskScoringDep = Annotated[RiskScoring, Depends(get_risk_scoring)]


async def _ensure_seeded(db: Connection) -> None:
    count, _ = await aprofiles_revision(db)
    if count == 0:
        await seed_starter_profiles(db)


@router.get("/profiles", response_model=list[ProfileVersion], responses=ERROR_RESPONSES)
async def list_profiles(db: DbDep) -> list[ProfileVersion]:
    """The active version of every profile."""
    await _ensure_seeded(db)
    return [_version(row) for row in await aactive_profiles(db)]


@router.get("/profiles/{profile_id}", response_model=ProfileDetail, responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSE})
async def get_profile(db: DbDep, profile_id: ProfileId) -> ProfileDetail:
    """The active version and the whole history (newest first) of one profile."""
    await _ensure_seeded(db)
    history = [_version(row) for row in await aprofile_history(db, profile_id)]
    if not history:
        raise NotFoundError(f"profile {profile_id} not found")
    return ProfileDetail(active=next((v for v in history if v.active), None), history=history)


@router.put(
    "/profiles/{profile_id}",
    response_model=ProfileVersion,
    responses={**ERROR_RESPONSES, 503: {"model": ErrorBody, "description": "database_unavailable"}},
)
async def put_profile(
    db: DbDep, scoring: RiskScoringDep, profile_id: ProfileId, change: ProfileChange
) -> ProfileVersion:
    """Store a new version of a profile (created if new) and make it active; the scorer picks it up."""
    try:
        profile = Profile.model_validate(change.profile)
    except ValidationError as exc:
        raise ApiError(422, "invalid_profile", exc.errors(include_url=False, include_context=False)) from exc
    if profile.id != profile_id:
        raise ApiError(422, "profile_id_mismatch", f"the document's id {profile.id!r} is not {profile_id!r}")
    await _ensure_seeded(db)
    row = await aput_profile_version(
        db,
        profile_id,
        profile.model_dump(mode="json"),
        valid_from=profile.valid_from,
        valid_until=profile.valid_until,
        changed_by=change.changed_by,
        comment=change.comment,
    )
    scoring.invalidate()
    return _version(row)

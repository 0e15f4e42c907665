"""GET /detections (plate and container-code reads, newest first) and GET /evidence/{sha256} (the crops)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from cedetect.models import ID_PATTERN, AttributeValue, DetectionKind
from cedetect.storage import where_filters
from server.deps import DbDep
from server.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, NotFoundError
from server.routers.params import Since, Until, check_range

router = APIRouter(tags=["detections"])

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class DetectionRecord(BaseModel):
    """A stored read; ``crop_url`` serves the crop when the server holds it (``null`` when only the edge does)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    detection_id: uuid.UUID
    stored_utc: datetime
    camera_id: str
    site: str
    kind: DetectionKind
    time_utc: datetime
    text: str
    raw_text: str
    confidence: float
    box_xyxy: tuple[int, int, int, int]
    valid: bool
    grammar: str | None
    check_digit_ok: bool | None
    repaired: bool
    frames: int
    crop_sha256: str
    crop_url: str | None
    attributes: dict[str, AttributeValue]


_COLUMNS = (
    "detection_id", "stored_utc", "camera_id", "site", "kind", "time_utc", "text", "raw_text", "confidence",
    "box_xyxy", "valid", "grammar", "check_digit_ok", "repaired", "frames", "crop_sha256", "attributes",
)  # fmt: skip


@router.get("/detections", response_model=list[DetectionRecord], responses=ERROR_RESPONSES)
async def list_detections(
    db: DbDep,
    request: Request,
    since: Since = None,
    until: Until = None,
    kind: DetectionKind | None = None,
    text: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{1,32}$", description="exact text (any case)")] = None,
    camera_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    site: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    valid: Annotated[bool | None, Query(description="reads the grammar or check digit accepts (true) or not")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> list[DetectionRecord]:
    """Reads whose capture time (``time_utc``) is in ``[since, until)``, newest first."""
    check_range(since, until)
    where, params = where_filters(
        ("d.kind = %s", kind.value if kind is not None else None),
        ("d.text = %s", text.upper() if text is not None else None),
        ("d.camera_id = %s", camera_id),
        ("d.site = %s", site),
        ("d.valid = %s", valid),
        ("d.time_utc >= %s", since),
        ("d.time_utc < %s", until),
    )
    query = sql.SQL("SELECT {}, (b.sha256 IS NOT NULL) AS has_crop FROM detections d").format(
        sql.SQL(", ").join(sql.Identifier("d", c) for c in _COLUMNS)
    ) + sql.SQL(" LEFT JOIN evidence_blobs b ON b.sha256 = d.crop_sha256")
    query += where
    query += sql.SQL(" ORDER BY d.time_utc DESC, d.stored_seq DESC LIMIT %s")
    params.append(limit)
    async with db.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows: list[dict[str, Any]] = await cur.fetchall()
    out = []
    for row in rows:
        has_crop = row.pop("has_crop")
        row["crop_url"] = str(request.app.url_path_for("get_evidence", sha256=row["crop_sha256"])) if has_crop else None
        out.append(DetectionRecord.model_validate(row))
    return out


@router.get(
    "/evidence/{sha256}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "the evidence bytes"}, **NOT_FOUND_RESPONSE},
)
async def get_evidence(
    db: DbDep, sha256: Annotated[str, Path(pattern=SHA256_PATTERN, description="SHA-256 of the bytes (hex)")]
) -> Response:
    """An evidence crop by the SHA-256 of its bytes; content-addressed, so it never changes."""
    cur = await db.execute("SELECT media_type, data FROM evidence_blobs WHERE sha256 = %s", (sha256,))
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"no evidence with sha256 {sha256}")
    media_type, data = row
    assert isinstance(media_type, str)
    return Response(
        content=bytes(data),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{sha256}"'},
    )

"""Error bodies with a named reason: ``{"error": NAME, "detail": ...}``.

Validation errors keep FastAPI's ``detail`` list and add ``"error": "invalid_request"``; HTTP
errors are named after their status (``not_found``, ``method_not_allowed``...); a database that
cannot be reached answers 503 ``database_unavailable``.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

INVALID_REQUEST = "invalid_request"
NOT_FOUND = "not_found"
DATABASE_UNAVAILABLE = "database_unavailable"

#: Seconds a client is told to wait before retrying when the database is unavailable.
RETRY_AFTER_S = 5


class ErrorBody(BaseModel):
    error: str
    detail: Any = None


class ApiError(Exception):
    """Raised by a route to answer ``status_code`` with a named ``error`` and a ``detail``."""

    def __init__(self, status_code: int, error: str, detail: Any = None) -> None:
        super().__init__(f"{status_code} {error}: {detail}")
        self.status_code = status_code
        self.error = error
        self.detail = detail


class NotFoundError(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(404, NOT_FOUND, detail)


def error_response(status_code: int, error: str, detail: Any, headers: dict[str, str] | None = None) -> Response:
    body = ErrorBody(error=error, detail=jsonable_encoder(detail)).model_dump(mode="json")
    return JSONResponse(body, status_code=status_code, headers=headers)


def _status_name(status_code: int) -> str:
    if status_code == 404:
        return NOT_FOUND
    if status_code == 422:
        return INVALID_REQUEST
    try:
        return HTTPStatus(status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return f"http_{status_code}"


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.error, exc.detail)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, INVALID_REQUEST, exc.errors())


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (204, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return error_response(exc.status_code, _status_name(exc.status_code), exc.detail, dict(exc.headers or {}))


async def _database_error(request: Request, exc: Exception) -> Response:
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    log.warning("database unavailable for %s %s: %s", request.method, request.url.path, reason)
    return error_response(
        503, DATABASE_UNAVAILABLE, "the database cannot be reached; retry later", {"Retry-After": str(RETRY_AFTER_S)}
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Connection failures, pool timeouts (psycopg_pool.PoolTimeout) and server shutdowns.
    app.add_exception_handler(psycopg.OperationalError, _database_error)


#: OpenAPI documentation of the error bodies, for the routers' ``responses=``.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "invalid_request: a parameter failed validation"},
    503: {"model": ErrorBody, "description": "database_unavailable"},
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "not_found"}}

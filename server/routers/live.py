"""WebSocket /alerts/live: stored alerts since ``?since=`` first, then every new alert as it commits.

Each message is ``{"type": "alert", "alert": <Alert JSON>}``.  ``since`` is compared with the
alerts' ``created_utc`` and is inclusive (a client resuming with the ``created_utc`` of the last
alert it saw gets that alert again and should ignore ids it already has).  A bad ``since`` gets
``{"type": "error", "error": "invalid_request", ...}`` and close code 1008; a client too slow to
keep up is closed with 1013 ``slow_consumer`` and should reconnect with ``since``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Any

import psycopg
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import TypeAdapter, ValidationError

from cedetect.models import Alert
from server.db import fetch_alerts_created_since
from server.deps import StateDep
from server.errors import DATABASE_UNAVAILABLE, INVALID_REQUEST
from server.hub import SLOW_CONSUMER, Subscription
from server.routers.params import AwareUtc

log = logging.getLogger(__name__)

router = APIRouter(tags=["alerts"])

#: At most this many stored alerts are replayed on connect (the most recent ones).
REPLAY_LIMIT = 1000

CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012
CLOSE_TRY_AGAIN_LATER = 1013

_SINCE: TypeAdapter[datetime] = TypeAdapter(AwareUtc)


def alert_message(alert: Alert) -> dict[str, Any]:
    return {"type": "alert", "alert": alert.model_dump(mode="json")}


@router.websocket("/alerts/live")
async def live_alerts(websocket: WebSocket, state: StateDep) -> None:
    await websocket.accept()
    since: datetime | None = None
    raw_since = websocket.query_params.get("since")
    if raw_since is not None:
        try:
            since = _SINCE.validate_python(raw_since)
        except ValidationError as exc:
            detail = [{"loc": ["query", "since"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            await _refuse(websocket, INVALID_REQUEST, detail, CLOSE_POLICY_VIOLATION)
            return
    # Subscribe before reading the table so that nothing committed in between is missed; what
    # both the replay and the stream deliver is sent once.
    subscription = state.hub.subscribe()
    try:
        replayed: set[uuid.UUID] = set()
        if since is not None:
            try:
                async with state.pool.connection(timeout=state.pool_timeout_s) as conn:
                    stored = await fetch_alerts_created_since(conn, since, REPLAY_LIMIT)
            except psycopg.OperationalError:
                await _refuse(websocket, DATABASE_UNAVAILABLE, "cannot replay stored alerts", CLOSE_TRY_AGAIN_LATER)
                return
            for alert in stored:
                await websocket.send_json(alert_message(alert))
                replayed.add(alert.alert_id)
        await _stream(websocket, subscription, replayed)
    except WebSocketDisconnect:
        pass
    finally:
        state.hub.unsubscribe(subscription)


async def _stream(websocket: WebSocket, subscription: Subscription, skip: set[uuid.UUID]) -> None:
    disconnected = asyncio.create_task(_wait_for_disconnect(websocket))
    try:
        while True:
            next_alert = asyncio.create_task(subscription.next())
            done, _ = await asyncio.wait({next_alert, disconnected}, return_when=asyncio.FIRST_COMPLETED)
            if disconnected in done:
                next_alert.cancel()
                return
            alert = next_alert.result()
            if alert is None:
                reason = subscription.ended_reason or "closed"
                code = CLOSE_TRY_AGAIN_LATER if reason == SLOW_CONSUMER else CLOSE_SERVICE_RESTART
                await websocket.close(code=code, reason=reason)
                return
            if alert.alert_id in skip:
                continue
            await websocket.send_json(alert_message(alert))
    finally:
        disconnected.cancel()


async def _wait_for_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _refuse(websocket: WebSocket, error: str, detail: Any, code: int) -> None:
    await websocket.send_json({"type": "error", "error": error, "detail": detail})
    await websocket.close(code=code, reason=error)

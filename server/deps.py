"""Request dependencies, as ``Annotated`` aliases for the routers (``DbDep``, ``StateDep``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from psycopg_pool import AsyncConnectionPool
from starlette.requests import HTTPConnection

from server.db import Connection
from server.hub import AlertHub
from server.listener import AlertListener

Pool = AsyncConnectionPool[Connection]


@dataclass(frozen=True)
class ServerState:
    """What the lifespan opened: the pool, the live-alert hub and the listener feeding it."""

    pool: Pool
    hub: AlertHub
    listener: AlertListener
    #: Seconds a request waits for a pooled connection before answering 503 database_unavailable.
    pool_timeout_s: float


def get_state(connection: HTTPConnection) -> ServerState:
    state = getattr(connection.app.state, "cedetect", None)
    if not isinstance(state, ServerState):
        raise RuntimeError("the CEDetect server state is missing: the app was not started through its lifespan")
    return state


StateDep = Annotated[ServerState, Depends(get_state)]


async def get_db(state: StateDep) -> AsyncIterator[Connection]:
    """A pooled autocommit connection for the duration of the request."""
    async with state.pool.connection(timeout=state.pool_timeout_s) as conn:
        yield conn


DbDep = Annotated[Connection, Depends(get_db)]

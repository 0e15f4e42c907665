"""The FastAPI application: REST API under ``/api/v1``, the live alert WebSocket and the page at ``/``.

Start-up waits for the database (services start before it does), applies the migrations, opens
a connection pool and starts the :class:`~server.listener.AlertListener` that feeds the
:class:`~server.hub.AlertHub`.  Shutdown ends the live streams, stops the listener and closes the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from cedetect import __version__
from cedetect.config import AppSettings, DatabaseSettings, IngestSettings, ServerSettings, check_production
from cedetect.storage import connect_with_retry, migrate
from server.db import Connection
from server.deps import ServerState
from server.errors import install_error_handlers
from server.fusion_worker import FusionWorker
from server.geo import load_geo_layers
from server.hub import AlertHub
from server.listener import AlertListener
from server.routers import api_router

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: The page runs only this server's own scripts and styles and talks only to this server.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(
    database_url: str | None = None,
    *,
    app_settings: AppSettings | None = None,
    database_settings: DatabaseSettings | None = None,
    server_settings: ServerSettings | None = None,
    zones_path: Path | None = None,
    pool_max_size: int = 10,
    pool_timeout_s: float = 5.0,
    live_queue_size: int = 256,
) -> FastAPI:
    """Build the app.  Settings come from the environment unless given; ``database_url`` overrides
    ``CEDETECT_DATABASE_URL``.  Raises :class:`cedetect.config.UnsafeSettingsError` in production
    mode when a setting is unsafe.  Zones come from ``zones_path``, else ``CEDETECT_INGEST_ZONES_PATH``
    (the zones ingest evaluates), else the shipped defaults."""
    app_settings = app_settings or AppSettings()
    if database_settings is None:
        database_settings = DatabaseSettings()
    if database_url is not None:
        database_settings = database_settings.model_copy(update={"url": SecretStr(database_url)})
    server_settings = server_settings or ServerSettings()
    check_production(app_settings, database=database_settings, server=server_settings)
    if zones_path is None:
        zones_path = IngestSettings().zones_path
    url = database_settings.url.get_secret_value()
    db_settings = database_settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        versions = await asyncio.to_thread(_wait_and_migrate, url, db_settings)
        if versions:
            log.info("applied migrations %s", versions)
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_max_size,
            kwargs={"autocommit": True, "application_name": "cedetect-server"},
            check=AsyncConnectionPool.check_connection,
            name="cedetect-server",
            open=False,
        )
        await pool.open(wait=True, timeout=db_settings.connect_timeout_s)
        hub = AlertHub(queue_size=live_queue_size)
        listener = AlertListener(url, hub)
        listener_task = asyncio.create_task(listener.run(), name="cedetect-alert-listener")
        app.state.fusion_worker = fusion = FusionWorker(url)
        fusion_task = asyncio.create_task(fusion.run(), name="cedetect-fusion-worker")
        app.state.cedetect = ServerState(pool=pool, hub=hub, listener=listener, pool_timeout_s=pool_timeout_s)
        try:
            yield
        finally:
            hub.close()
            listener_task.cancel()
            fusion_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener_task
            with contextlib.suppress(asyncio.CancelledError):
                await fusion_task
            await pool.close()
            log.info("server stopped")

    app = FastAPI(
        title="CEDetect command centre",
        version=__version__,
        description="Positions, devices, alerts and map layers for the customs-enforcement command centre.",
        lifespan=lifespan,
        # The interactive docs load their scripts from a CDN, which an offline operations room
        # cannot reach (and should not contact); the schema itself is served.
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.geo_layers = load_geo_layers(zones_path)
    install_error_handlers(app)
    app.include_router(api_router())
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    return app


def _wait_and_migrate(url: str, settings: DatabaseSettings) -> list[int]:
    conn = connect_with_retry(url, timeout_s=settings.connect_timeout_s)
    try:
        return migrate(conn, months_ahead=settings.partition_months_ahead)
    finally:
        conn.close()

"""``cedetect server``: run the API and the command-centre page with uvicorn."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import threading
from types import FrameType
from typing import Any

import uvicorn

from cedetect.config import AppSettings, DatabaseSettings, ServerSettings, UnsafeSettingsError, check_production

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "server",
        help="run the command-centre server (REST API, live alerts, map page)",
        description="Serve the REST API under /api/v1, the live alert WebSocket and the command-centre page. "
        "Settings come from CEDETECT_SERVER_* and CEDETECT_DATABASE_* environment variables.",
    )
    parser.add_argument("--host", help="address to bind (default: CEDETECT_SERVER_HOST or 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="port to bind, 0 for any free one (default: CEDETECT_SERVER_PORT or 8000)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    try:
        server_settings = ServerSettings(**overrides)
        app_settings = AppSettings()
        database_settings = DatabaseSettings()
        check_production(app_settings, database=database_settings, server=server_settings)
    except (UnsafeSettingsError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    if (server_settings.tls_certfile is None) != (server_settings.tls_keyfile is None):
        log.error("TLS needs both CEDETECT_SERVER_TLS_CERTFILE and CEDETECT_SERVER_TLS_KEYFILE")
        return 2

    from server.app import create_app

    app = create_app(app_settings=app_settings, database_settings=database_settings, server_settings=server_settings)
    config = uvicorn.Config(
        app,
        host=server_settings.host,
        port=server_settings.port,
        ssl_certfile=server_settings.tls_certfile,
        ssl_keyfile=server_settings.tls_keyfile,
        log_config=None,
        proxy_headers=False,
    )
    scheme = "https" if server_settings.tls_certfile is not None else "http"
    server = _Server(config, scheme)
    _run_until_stopped(server)
    return 0 if server.started else 1


def _run_until_stopped(server: uvicorn.Server) -> None:
    """Run the server; SIGTERM and SIGINT stop it gracefully and the command then exits with 0.

    uvicorn re-raises the signal that stopped it once it has shut down, under the handler that
    was in place before it started: ours only notes it, so a requested stop is a clean exit.
    """
    if threading.current_thread() is not threading.main_thread():
        server.run()
        return
    stops: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        stops.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stops:
        log.info("stopped by %s", signal.Signals(stops[0]).name)


class _Server(uvicorn.Server):
    """Logs the page's URL once the sockets listen (with the real port when 0 was asked for)."""

    def __init__(self, config: uvicorn.Config, scheme: str) -> None:
        super().__init__(config)
        self._scheme = scheme

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            for url in page_urls(self, self._scheme):
                log.info("command centre at %s", url)


def page_urls(server: uvicorn.Server, scheme: str) -> list[str]:
    """The page's URL for each listening socket of a started server."""
    urls: list[str] = []
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            if sock.family == socket.AF_INET6:
                host = f"[{host}]"
            if host in ("0.0.0.0", "[::]"):
                host = socket.gethostname()
            urls.append(f"{scheme}://{host}:{port}/")
    return urls

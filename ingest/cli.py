"""``cedetect ingest``: run the ingest service."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from cedetect.config import AppSettings, DatabaseSettings, IngestSettings, MqttSettings, check_production


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ingest", help="run the ingest service (MQTT -> PostgreSQL, live rules)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    mqtt, database = MqttSettings(), DatabaseSettings()
    check_production(AppSettings(), mqtt=mqtt, database=database)
    from ingest.service import IngestService

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    IngestService(IngestSettings(), mqtt, database).run(stop)
    return 0

"""``cedetect edge``: run an edge agent."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cedetect.config import AppSettings, EdgeSettings, MqttSettings, check_production


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "edge", help="run an edge agent (tracker servers, durable outbox, MQTT)"
    )
    parser.add_argument("--site", help="site id (default: CEDETECT_EDGE_SITE)")
    parser.add_argument("--agent-id", help="agent id (default: CEDETECT_EDGE_AGENT_ID)")
    parser.add_argument("--gt06-port", type=int, help="GT06 TCP port (default: CEDETECT_EDGE_GT06_PORT or 5023)")
    parser.add_argument("--outbox", type=Path, help="outbox SQLite path (default: CEDETECT_EDGE_OUTBOX_PATH)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    overrides = {
        key: value
        for key, value in (
            ("site", args.site),
            ("agent_id", args.agent_id),
            ("gt06_port", args.gt06_port),
            ("outbox_path", args.outbox),
        )
        if value is not None
    }
    edge = EdgeSettings(**overrides)
    mqtt = MqttSettings()
    check_production(AppSettings(), mqtt=mqtt)
    from edge.agent import run_agent

    return run_agent(edge, mqtt)

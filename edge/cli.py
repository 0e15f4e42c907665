"""``cedetect edge``: run an edge agent."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cedetect.config import AppSettings, EdgeSettings, MqttSettings, check_production


def _port(text: str) -> tuple[str, int]:
    name, _, port = text.partition("=")
    try:
        return name.strip().lower(), int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=PORT, got {text!r}") from None


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "edge", help="run an edge agent (tracker servers, durable outbox, MQTT)"
    )
    parser.add_argument("--site", help="site id (default: CEDETECT_EDGE_SITE)")
    parser.add_argument("--agent-id", help="agent id (default: CEDETECT_EDGE_AGENT_ID)")
    parser.add_argument(
        "--protocol", action="append", dest="protocols", metavar="NAME",
        help="a tracker protocol to listen for (repeat; default: CEDETECT_EDGE_PROTOCOLS or gt06)",
    )  # fmt: skip
    parser.add_argument(
        "--port", action="append", type=_port, dest="ports", metavar="NAME=PORT",
        help="port of a protocol (repeat; default: CEDETECT_EDGE_PORTS or the protocol's own)",
    )  # fmt: skip
    parser.add_argument("--outbox", type=Path, help="outbox SQLite path (default: CEDETECT_EDGE_OUTBOX_PATH)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    defaults = EdgeSettings()
    overrides: dict[str, Any] = {
        key: value
        for key, value in (("site", args.site), ("agent_id", args.agent_id), ("outbox_path", args.outbox))
        if value is not None
    }
    if args.protocols:
        overrides["protocols"] = args.protocols
    if args.ports:
        overrides["ports"] = {**defaults.ports, **dict(args.ports)}
    edge = defaults.model_copy(update=overrides)
    edge = EdgeSettings.model_validate(edge.model_dump())
    mqtt = MqttSettings()
    check_production(AppSettings(), mqtt=mqtt)
    from cedetect import protocols
    from edge.agent import run_agent

    for name in edge.protocols:
        protocols.get(name)  # an unknown name stops here with the list of known ones
    return run_agent(edge, mqtt)

"""The ``cedetect`` console script.

``decode`` and ``demo`` live here; ``edge``, ``ingest``, ``server`` and ``sim`` are contributed by
their packages through the ``cedetect.commands`` entry-point group, so that this shared core
imports none of them.  Each contributor exposes ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from cedetect import __version__

Handler = Callable[[argparse.Namespace], int]
ENTRY_POINT_GROUP = "cedetect.commands"


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cedetect", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"cedetect {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True

    from cedetect import decode_cli, demo

    decode_cli.register(subparsers)
    demo.register(subparsers)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        # One contributor that cannot load (an optional extra not installed, a broken module) must
        # not take every other command down with it: say so and go on without it.
        try:
            register: Callable[[Any], None] = ep.load()
            register(subparsers)
        except Exception as exc:
            print(f"cedetect: command {ep.name!r} unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    handler: Handler = args.func
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

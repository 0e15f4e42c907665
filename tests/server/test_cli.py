"""``cedetect server``: options, production refusals, and a real run that logs the page's URL."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from server import cli
from tests.support import wait_for


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cedetect")
    cli.register(parser.add_subparsers(dest="command"))
    return parser


def test_register_adds_the_server_command() -> None:
    args = _parser().parse_args(["server", "--host", "127.0.0.2", "--port", "9001"])
    assert args.func is cli.run
    assert (args.host, args.port) == ("127.0.0.2", 9001)
    defaults = _parser().parse_args(["server"])
    assert (defaults.host, defaults.port) == (None, None)


def test_production_refuses_unsafe_settings(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("CEDETECT_MODE", "production")
    monkeypatch.setenv("CEDETECT_DATABASE_URL", "postgresql://cedetect:cedetect@127.0.0.1:5432/cedetect")
    args = _parser().parse_args(["server", "--host", "0.0.0.0"])
    assert cli.run(args) == 2
    assert "server binds all interfaces without TLS" in caplog.text
    assert "database password is empty or a default one" in caplog.text


def test_tls_needs_both_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CEDETECT_SERVER_TLS_CERTFILE", str(tmp_path / "cert.pem"))
    monkeypatch.delenv("CEDETECT_SERVER_TLS_KEYFILE", raising=False)
    assert cli.run(_parser().parse_args(["server"])) == 2


_RUN = """
import argparse, sys
from cedetect.cli import configure_logging
from server import cli
configure_logging("INFO")
parser = argparse.ArgumentParser()
cli.register(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


@pytest.mark.postgres
def test_the_command_serves_the_page_and_stops_cleanly(database_url: str, tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    env = {"PATH": "/usr/bin:/bin", "CEDETECT_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _RUN, "server", "--port", "0"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        url = wait_for(
            lambda: (m := re.search(r"command centre at (http://\S+)", log_path.read_text())) and m.group(1),
            timeout_s=60,
        )
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b'<svg id="map"' in response.read()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    output = log_path.read_text()
    assert code == 0, output
    assert "server stopped" in output

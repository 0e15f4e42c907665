"""Run CEDetect services as real child processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import wait_for


class Service:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cedetect", *args], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 20.0, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def service_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEDETECT_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


def wait_ready(service: Service, probe: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``probe`` until it holds; fail at once with the log if the service has exited."""

    def check() -> bool:
        if not service.alive():
            pytest.fail(f"{service.name} exited with {service.process.returncode}:\n{service.log()[-3000:]}")
        return probe()

    wait_for(check, timeout_s=timeout_s)

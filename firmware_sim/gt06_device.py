"""A GT06 (Concox) tracker over TCP: :class:`firmware_sim.device.Device` with the GT06 encoder.

Kept for the callers of the GT06-only simulator; the behaviour (login and its ack, location frames,
status heartbeats confirming what was sent before them, reconnection with backoff, at-least-once
delivery, faults) is :class:`~firmware_sim.device.Device`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cedetect.protocols.gt06 import Gt06Encoder
from firmware_sim.device import DEFAULT_BUFFER_FIXES, Device, DeviceStats
from firmware_sim.faults import Faults, FaultSchedule
from firmware_sim.imei import imei_for, luhn_check_digit, luhn_valid
from firmware_sim.truck import Fix

__all__ = [
    "DEFAULT_BUFFER_FIXES",
    "DeviceStats",
    "FaultSchedule",
    "Faults",
    "Gt06Device",
    "imei_for",
    "luhn_check_digit",
    "luhn_valid",
]


class Gt06Device(Device):
    """Sends ``fixes`` to a GT06 server as device ``imei`` (15 digits); options as :class:`Device`'s."""

    def __init__(
        self, imei: str, fixes: Iterable[Fix], *, port: int = 5023, battery_level: int = 100, **options: Any
    ) -> None:
        if not (imei.isdigit() and len(imei) == 15):
            raise ValueError(f"IMEI must be 15 digits, got {imei!r}")
        super().__init__(Gt06Encoder(imei, battery_level=battery_level), fixes, transport="tcp", port=port, **options)

    @property
    def imei(self) -> str:
        return self.device_id

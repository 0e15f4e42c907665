"""Deterministic, Luhn-valid IMEIs for the simulated fleet."""

from __future__ import annotations


def luhn_check_digit(body: str) -> int:
    """The Luhn digit that completes ``body`` (as IMEIs use)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_check_digit(number[:-1]) == int(number[-1])


def imei_for(seed: int, index: int) -> str:
    """A deterministic, Luhn-valid 15-digit IMEI for truck ``index`` of the fleet seeded ``seed``.

    Layout: ``35`` + 4 seed digits + ``00`` + 6 truck digits + Luhn digit.  The leading ``35`` is
    a common TAC prefix; the rest is made up.  The trailing digits tell the trucks apart, so an id cut
    from the end of the IMEI (see :func:`firmware_sim.wire.device_id_for`) stays unique in a fleet.
    """
    if not 0 <= index < 1_000_000:
        raise ValueError("index must be in [0, 1000000)")
    body = f"35{seed % 10_000:04d}00{index:06d}"
    return body + str(luhn_check_digit(body))

"""Small helpers that several protocol modules share word for word.

Only helpers whose behaviour is the same for every user live here; a protocol whose variant differs
(another error reason, another range, traccar's own quirk) keeps its own.
"""

from __future__ import annotations

import binascii
from datetime import UTC, datetime

from cedetect.protocols.base import DecodeError, DecodeReason

#: Each byte value with its bits in reverse order (0x01 -> 0x80).
BIT_REVERSED_BYTES = bytes(int(f"{value:08b}"[::-1], 2) for value in range(256))


def crc16_x25_c(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X-25 (GT06's CRC-ITU) at C speed; equal to :func:`cedetect.protocols.crc.crc16_x25`.

    ``binascii.crc_hqx`` is the same polynomial (0x1021) processed most significant bit first.  X-25
    processes each byte least significant bit first and reflects the result, so: reverse the bits of
    every byte, run ``crc_hqx`` from 0xFFFF, reverse the 16 result bits, XOR 0xFFFF.
    """
    crc = binascii.crc_hqx(bytes(data).translate(BIT_REVERSED_BYTES), 0xFFFF)
    return (BIT_REVERSED_BYTES[crc & 0xFF] << 8 | BIT_REVERSED_BYTES[crc >> 8]) ^ 0xFFFF


def iso_utc(value: datetime) -> str:
    """ISO 8601 text of an aware time, in UTC (``+00:00``)."""
    return value.astimezone(UTC).isoformat()


def bit_set(value: int, bit: int) -> bool:
    """Whether bit ``bit`` (0 = least significant) of ``value`` is set."""
    return bool(value >> bit & 1)


# -- text fields --------------------------------------------------------------------------------------


def parse_int(text: str, what: str, base: int = 10) -> int:
    """An integer field (surrounding blanks allowed); ``malformed`` naming ``what`` when it is none."""
    try:
        return int(text.strip(), base)
    except ValueError:
        raise DecodeError(DecodeReason.MALFORMED, f"{what}: {text!r} is not a number") from None


def parse_float(text: str, what: str) -> float:
    """A decimal field (surrounding blanks allowed); ``malformed`` naming ``what`` when it is none."""
    try:
        return float(text.strip())
    except ValueError:
        raise DecodeError(DecodeReason.MALFORMED, f"{what}: {text!r} is not a number") from None


def datetime_2000(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """UTC time from a two-digit year (20yy); ``invalid_time`` for an impossible date or time."""
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise DecodeError(
            DecodeReason.INVALID_TIME, f"20{year:02d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}: {exc}"
        ) from None


def ddmm_minutes(value: float, degree_digits: int) -> str:
    """``DDMM.MMMM`` (``DDDMM.MMMM`` for three degree digits) of an absolute coordinate."""
    total = round(abs(value) * 60 * 10_000)
    degrees, rest = divmod(total, 60 * 10_000)
    return f"{degrees:0{degree_digits}d}{rest // 10_000:02d}.{rest % 10_000:04d}"

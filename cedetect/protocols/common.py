"""Small helpers that several protocol modules share word for word.

Only helpers whose behaviour is the same for every user live here; a protocol whose variant differs
(another error reason, another range, traccar's own quirk) keeps its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cedetect.protocols.base import DecodeError, DecodeReason


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

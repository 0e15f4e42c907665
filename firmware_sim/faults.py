"""Faults a simulated device injects on demand, by 0-based fix index over the whole run.

Every fault hits a fix's first transmission only (a resend after a reconnect goes out clean):

* ``disconnect_after=N``: end the session after every N new location frames (after confirming what was
  sent, where the protocol allows), then reconnect and log in again;
* ``duplicate=I``: send the fix's frame twice (byte-identical);
* ``out_of_order=I``: send fix I after fix I+1;
* ``corrupt=I`` (alias ``bad_crc``): send the fix's frame with one byte damaged so that the protocol's own
  decoder refuses it (``bad_checksum`` where the protocol has a checksum, a broken value otherwise), then
  the intact frame, as a device repeats a transmission that went wrong on the line;
* ``garbage=I``: junk bytes before the fix's frame (TCP), or a junk datagram (UDP); ``garbage_bytes=N``;
* ``offline=I``: the device loses its connection before fix I, keeps ``offline_fixes=N`` fixes (default
  5) in its memory while offline, then reconnects and sends the buffered history in one burst.

Each of the per-fix keys takes a fix index (repeatable) or, as ``KEY_every=N``, every N-th fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


class FaultSchedule:
    """Which fix indices a fault hits: listed indices, and/or every ``every``-th fix (index ``every-1``, ...)."""

    def __init__(self, at: Iterable[int] = (), every: int | None = None) -> None:
        if every is not None and every < 1:
            raise ValueError("every must be >= 1")
        self.at = frozenset(at)
        self.every = every

    def hits(self, index: int) -> bool:
        return index in self.at or (self.every is not None and (index + 1) % self.every == 0)

    def __bool__(self) -> bool:
        return bool(self.at) or self.every is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FaultSchedule) and (self.at, self.every) == (other.at, other.every)

    def __hash__(self) -> int:
        return hash((self.at, self.every))

    def __repr__(self) -> str:
        return f"FaultSchedule(at={sorted(self.at)}, every={self.every})"


_SCHEDULED = ("duplicate", "corrupt", "garbage", "out_of_order", "offline")
_ALIASES = {"bad_crc": "corrupt"}
_DEFAULT_GARBAGE_BYTES = 16
_DEFAULT_OFFLINE_FIXES = 5
_COUNTS: dict[str, int | None] = {
    "disconnect_after": None,
    "garbage_bytes": _DEFAULT_GARBAGE_BYTES,
    "offline_fixes": _DEFAULT_OFFLINE_FIXES,
}


@dataclass(frozen=True)
class Faults:
    disconnect_after_frames: int | None = None
    duplicate: FaultSchedule = field(default_factory=FaultSchedule)
    corrupt: FaultSchedule = field(default_factory=FaultSchedule)
    garbage: FaultSchedule = field(default_factory=FaultSchedule)
    garbage_bytes: int = _DEFAULT_GARBAGE_BYTES
    out_of_order: FaultSchedule = field(default_factory=FaultSchedule)
    offline: FaultSchedule = field(default_factory=FaultSchedule)
    offline_fixes: int = _DEFAULT_OFFLINE_FIXES

    def __post_init__(self) -> None:
        if self.disconnect_after_frames is not None and self.disconnect_after_frames < 1:
            raise ValueError("disconnect_after_frames must be >= 1")
        if self.garbage_bytes < 1 or self.offline_fixes < 1:
            raise ValueError("garbage_bytes and offline_fixes must be >= 1")

    @classmethod
    def parse(cls, text: str) -> Faults:
        """``"disconnect_after=20,duplicate=5,corrupt=7,corrupt=9,garbage_every=50,garbage_bytes=8"``.

        Keys: ``disconnect_after`` (frames per session), ``garbage_bytes``, ``offline_fixes``, and the per-fix
        ``duplicate``/``corrupt`` (or ``bad_crc``)/``garbage``/``out_of_order``/``offline`` (a fix index,
        repeatable) with their ``_every`` forms (every N-th fix).
        """
        at: dict[str, set[int]] = {name: set() for name in _SCHEDULED}
        every: dict[str, int | None] = dict.fromkeys(_SCHEDULED)
        counts: dict[str, int | None] = dict(_COUNTS)
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep:
                raise ValueError(f"fault {item!r} is not key=value")
            try:
                number = int(value)
            except ValueError:
                raise ValueError(f"fault {key!r} needs an integer, got {value!r}") from None
            base = key.removesuffix("_every")
            base = _ALIASES.get(base, base)
            if number < (1 if key in _COUNTS or key.endswith("_every") else 0):
                raise ValueError(f"fault {key}={number} is out of range")
            if key in _COUNTS:
                counts[key] = number
            elif base in at and key.endswith("_every"):
                every[base] = number
            elif base in at:
                at[base].add(number)
            else:
                raise ValueError(f"unknown fault {key!r}")
        schedule = {name: FaultSchedule(at[name], every[name]) for name in _SCHEDULED}
        return cls(
            disconnect_after_frames=counts["disconnect_after"],
            duplicate=schedule["duplicate"],
            corrupt=schedule["corrupt"],
            garbage=schedule["garbage"],
            garbage_bytes=counts["garbage_bytes"] or _DEFAULT_GARBAGE_BYTES,
            out_of_order=schedule["out_of_order"],
            offline=schedule["offline"],
            offline_fixes=counts["offline_fixes"] or _DEFAULT_OFFLINE_FIXES,
        )

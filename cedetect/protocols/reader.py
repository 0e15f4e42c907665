"""Bounds-checked reads over the bytes of a frame, shared by the binary protocol decoders.

A :class:`ByteReader` walks ``data[pos:limit]`` (the whole of ``data`` by default) without copying
it; every read past ``limit`` raises ``DecodeError(TRUNCATED)`` and leaves the position where it
was.  Integers are big-endian unless the method name ends in ``_le``.
"""

from __future__ import annotations

import struct
from typing import ClassVar, NoReturn, Self

from cedetect.protocols.base import DecodeError, DecodeReason

_F32 = struct.Struct(">f")


class ByteReader:
    """Bounds-checked reads over ``data[pos:limit]``, big-endian by default."""

    __slots__ = ("_data", "limit", "pos")

    #: Prefix of the detail text of a truncation (``"record "``: "record needs 4 more bytes ...").
    subject: ClassVar[str] = ""

    def __init__(self, data: bytes, pos: int = 0, limit: int | None = None) -> None:
        self._data = data
        self.pos = pos
        self.limit = max(len(data) if limit is None else min(limit, len(data)), pos)

    @property
    def remaining(self) -> int:
        return self.limit - self.pos

    def _truncated(self, count: int) -> NoReturn:
        raise DecodeError(
            DecodeReason.TRUNCATED,
            f"{self.subject}needs {count} more bytes at offset {self.pos}, has {self.remaining}",
        )

    # -- bytes ------------------------------------------------------------------------------------

    def take(self, count: int) -> bytes:
        pos = self.pos
        end = pos + count
        if count < 0 or end > self.limit:
            self._truncated(count)
        self.pos = end
        return self._data[pos:end]

    def skip(self, count: int) -> None:
        self.take(count)

    def rest(self) -> bytes:
        return self.take(self.limit - self.pos)

    def sub(self, count: int) -> Self:
        """A reader over the next ``count`` bytes, which this one skips."""
        return type(self)(self.take(count))

    def peek(self, offset: int = 0) -> int:
        """The byte ``offset`` bytes ahead, without moving."""
        index = self.pos + offset
        if index >= self.limit:
            raise DecodeError(DecodeReason.TRUNCATED, f"{self.subject}ends before offset {index}")
        return self._data[index]

    def peek_u16(self) -> int:
        pos = self.pos
        if self.limit - pos < 2:
            raise DecodeError(DecodeReason.TRUNCATED, f"{self.subject}needs 2 bytes to peek")
        return int.from_bytes(self._data[pos : pos + 2])

    def window(self, start: int, stop: int) -> bytes:
        """The bytes ``start`` to ``stop`` ahead (fewer where the data ends first), without moving."""
        pos = self.pos
        return self._data[pos + start : min(pos + stop, self.limit)]

    def text(self, count: int) -> str:
        """``count`` bytes as text, one byte one character (Netty's ASCII reads keep bytes > 127)."""
        return self.take(count).decode("latin-1")

    def hex(self, count: int) -> str:
        return self.take(count).hex()

    # -- big-endian numbers -----------------------------------------------------------------------

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size))

    def sint(self, size: int) -> int:
        return int.from_bytes(self.take(size), signed=True)

    def u8(self) -> int:
        pos = self.pos
        if pos >= self.limit:
            self._truncated(1)
        self.pos = pos + 1
        return self._data[pos]

    def u16(self) -> int:
        return int.from_bytes(self.take(2))

    def u24(self) -> int:
        return int.from_bytes(self.take(3))

    def u32(self) -> int:
        return int.from_bytes(self.take(4))

    def s8(self) -> int:
        return int.from_bytes(self.take(1), signed=True)

    def s16(self) -> int:
        return int.from_bytes(self.take(2), signed=True)

    def s32(self) -> int:
        return int.from_bytes(self.take(4), signed=True)

    def f32(self) -> float:
        value: float = _F32.unpack(self.take(4))[0]
        return value

    # -- little-endian numbers --------------------------------------------------------------------

    def uint_le(self, size: int) -> int:
        return int.from_bytes(self.take(size), "little")

    def sint_le(self, size: int) -> int:
        return int.from_bytes(self.take(size), "little", signed=True)

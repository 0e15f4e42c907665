"""Checksums used by tracker protocols.

``crc16_x25`` is the CRC-ITU that GT06 puts after each frame: CRC-16/X-25, i.e. polynomial 0x1021
processed bit-reflected (0x8408), initial value 0xFFFF, output XOR 0xFFFF.  Its check value over
``b"123456789"`` is 0x906E.
"""

from __future__ import annotations

from collections.abc import Iterable


def _reflected_table(poly: int) -> tuple[int, ...]:
    table: list[int] = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_X25_TABLE = _reflected_table(0x8408)


def crc16_x25(data: bytes | bytearray | memoryview | Iterable[int]) -> int:
    """CRC-16/X-25 (CRC-ITU as used by GT06) of ``data``."""
    crc = 0xFFFF
    table = _X25_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


#: GT06 documentation calls it CRC-ITU.
crc_itu = crc16_x25

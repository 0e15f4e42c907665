"""Stream framers: cut a TCP byte stream into protocol frames.

GT06 (:class:`Gt06Framer`)
--------------------------
A frame is ``78 78`` + 1-byte length, or ``79 79`` + 2-byte length, then ``length`` bytes (type,
content, 2-byte serial, 2-byte CRC-ITU) and the stop bytes ``0D 0A``: total = start (2) + length
field (1 or 2) + length + 2.  The length counts at least type + serial + CRC, i.e. 5.

The framer takes a candidate at a start marker when the stop bytes sit where the length says and
the CRC-ITU matches.  Otherwise it resynchronises:

* bytes before a start marker are reported as ``FramingError("garbage")``;
* a length below 5, a frame longer than ``max_frame_size`` (``frame_too_long``) or missing stop
  bytes (``bad_stop_bytes``): the bytes up to the next start marker (searched from the byte after
  the current one) are reported with that reason;
* a candidate with a wrong CRC is still handed on (the decoder then refuses it as
  ``bad_checksum``, keeping the bytes) unless a complete, CRC-valid frame starts inside it, in
  which case the bytes before that frame are reported as garbage;
* while waiting for the rest of a long candidate, a complete CRC-valid frame that starts after
  the candidate's start marker shows that the candidate was garbage (a start marker inside junk):
  it is dropped at once instead of holding up the real frames behind it.

So one bogus start marker in the garbage costs at most the frame it overlaps (and, in practice,
none), and the buffer never holds more than ``max_frame_size`` bytes between calls.
"""

from __future__ import annotations

from enum import Enum, auto

from cedetect.protocols.base import FramingError, StepFramer
from cedetect.protocols.common import crc16_x25_c

GT06_START_SHORT = b"\x78\x78"
GT06_START_LONG = b"\x79\x79"
GT06_STOP = b"\r\n"
#: type (1) + serial (2) + CRC (2): the smallest value of the length field.
GT06_MIN_LENGTH = 5
#: The longest frame accepted by default: photo chunks and GPS-modular records stay well below it.
GT06_DEFAULT_MAX_FRAME_SIZE = 4096
_GT06_MIN_FRAME = 2 + 1 + GT06_MIN_LENGTH + 2


class _Probe(Enum):
    OK = auto()
    NEED_MORE = auto()
    BAD_LENGTH = auto()
    TOO_LONG = auto()
    BAD_STOP = auto()
    BAD_CRC = auto()


_SKIP_REASON = {
    _Probe.BAD_LENGTH: "bad_length",
    _Probe.TOO_LONG: "frame_too_long",
    _Probe.BAD_STOP: "bad_stop_bytes",
}


def _find_gt06_start(buf: bytearray, start: int) -> int:
    """Offset of the first start marker at or after ``start``, or -1.

    Checks the head first and bounds the second search by the first hit, so that cutting a stream of
    back-to-back frames costs O(frame) per frame, not a scan of the whole buffer.
    """
    head = buf[start : start + 2]
    if head in (GT06_START_SHORT, GT06_START_LONG):
        return start
    short = buf.find(GT06_START_SHORT, start)
    long = buf.find(GT06_START_LONG, start, short + 1 if short >= 0 else len(buf))
    if long < 0:
        return short
    return long if short < 0 else min(short, long)


def _probe_gt06(buf: bytearray, at: int, max_frame_size: int) -> tuple[_Probe, int]:
    """Judge the candidate frame at ``buf[at:]``, which starts with a start marker."""
    available = len(buf) - at
    extended = buf[at] == 0x79
    header = 4 if extended else 3
    if available < header:
        return _Probe.NEED_MORE, 0
    length = int.from_bytes(buf[at + 2 : at + 4]) if extended else buf[at + 2]
    if length < GT06_MIN_LENGTH:
        return _Probe.BAD_LENGTH, 0
    total = header + length + 2
    if total > max_frame_size:
        return _Probe.TOO_LONG, total
    if available < total:
        return _Probe.NEED_MORE, total
    end = at + total
    if buf[end - 2 : end] != GT06_STOP:
        return _Probe.BAD_STOP, total
    if crc16_x25_c(memoryview(buf)[at + 2 : end - 4]) != int.from_bytes(buf[end - 4 : end - 2]):
        return _Probe.BAD_CRC, total
    return _Probe.OK, total


class Gt06Framer(StepFramer):
    """Frames ``7878``/``7979`` GT06 packets out of a TCP stream (see the module docstring)."""

    def __init__(self, *, max_frame_size: int = GT06_DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size=max(max_frame_size, _GT06_MIN_FRAME))

    def _valid_frame_inside(self, limit: int) -> int:
        """Offset in ``[1, limit)`` of the first complete, CRC-valid frame in the buffer, or -1."""
        buf = self._buffer
        at = _find_gt06_start(buf, 1)
        while 0 <= at < limit:
            if _probe_gt06(buf, at, self.max_frame_size)[0] is _Probe.OK:
                return at
            at = _find_gt06_start(buf, at + 1)
        return -1

    def _step(self, out: list[bytes | FramingError]) -> bool:
        """Handle the head of the buffer; True while there may be more to do."""
        buf = self._buffer
        if not buf:
            return False
        start = _find_gt06_start(buf, 0)
        if start < 0:
            keep = 1 if buf[-1] in (0x78, 0x79) else 0  # maybe the first half of a start marker
            self._emit_skip(out, len(buf) - keep, "garbage", "no start marker")
            return False
        if start > 0:
            self._emit_skip(out, start, "garbage", "bytes before a start marker")
        verdict, total = _probe_gt06(buf, 0, self.max_frame_size)
        if verdict is _Probe.OK:
            out.append(bytes(buf[:total]))
            del buf[:total]
            return True
        if verdict in _SKIP_REASON:
            following = _find_gt06_start(buf, 1)
            skip = following if following > 0 else len(buf) - (1 if buf[-1] in (0x78, 0x79) else 0)
            detail = f"length field gives {total} bytes" if total else "length field below minimum"
            self._emit_skip(out, max(skip, 1), _SKIP_REASON[verdict], detail)
            return True
        inside = self._valid_frame_inside(total)  # total > len(buf) while waiting for more
        if inside > 0:
            self._emit_skip(out, inside, "garbage", "start marker without a valid frame")
            return True
        if verdict is _Probe.BAD_CRC:
            # A damaged frame: hand it on so that the decoder refuses it with its bytes kept.
            out.append(bytes(buf[:total]))
            del buf[:total]
            return True
        return False  # NEED_MORE

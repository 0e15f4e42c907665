"""Camera frames over MQTT: the payload of ``cedetect/v1/{site}/{camera_id}/frame`` (QoS 1).

The services speak MQTT 3.1.1 (no v5 user properties), so the capture time travels in a 16-byte header
in front of the image bytes, nothing else (no base64, no JSON: a frame is large and frequent)::

    offset  size  field
    0       4     magic  b"CEF1"  (CEDetect frame, version 1)
    4       8     capture time, microseconds since the Unix epoch, UTC, signed big-endian
    12      4     frame sequence number of the camera, unsigned big-endian (wraps)
    16      ...   the image: JPEG (or PNG) bytes

A payload that starts with the JPEG or PNG signature instead of the magic is taken as a bare image from
a camera that cannot add the header; its capture time is the time it was received.  Anything else is
refused with a named reason (:class:`FrameError`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAGIC = b"CEF1"
_HEADER = struct.Struct(">4sqI")
HEADER_SIZE = _HEADER.size  # 16
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JPEG_SIGNATURE = b"\xff\xd8\xff"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class FrameError(ValueError):
    """A frame payload that cannot be taken; ``reason`` names why."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Frame:
    time_utc: datetime
    sequence: int | None  # None for a bare image
    image: bytes


def encode_frame(image: bytes, time_utc: datetime, sequence: int = 0) -> bytes:
    if time_utc.tzinfo is None:
        raise ValueError("time_utc must be timezone-aware")
    delta = time_utc.astimezone(UTC) - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return _HEADER.pack(MAGIC, micros, sequence & 0xFFFFFFFF) + image


def decode_frame(payload: bytes, received_utc: datetime, *, max_bytes: int | None = None) -> Frame:
    """The frame in ``payload``; the image bytes are not decoded here (a corrupt JPEG is found by the reader)."""
    if max_bytes is not None and len(payload) > max_bytes:
        raise FrameError("frame_too_large", f"{len(payload)} bytes > {max_bytes}")
    if payload.startswith(MAGIC):
        if len(payload) <= HEADER_SIZE:
            raise FrameError("empty_frame", f"{len(payload)} bytes: a header without an image")
        _, micros, sequence = _HEADER.unpack_from(payload)
        try:
            time_utc = _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            raise FrameError("invalid_time", f"{micros} us since the epoch") from None
        return Frame(time_utc, sequence, payload[HEADER_SIZE:])
    if payload.startswith(JPEG_SIGNATURE) or payload.startswith(PNG_SIGNATURE):
        return Frame(received_utc, None, payload)
    if not payload:
        raise FrameError("empty_frame", "0 bytes")
    raise FrameError("unknown_frame_format", f"starts with {payload[:8].hex()}")

"""Tracker protocols: a registry of what the edge agent can listen for.

Each protocol registers a :class:`ProtocolSpec`: its name, the port traccar uses for it, the
transport, and factories for the per-connection decoder and stream framer.  A new protocol adds a
module with a :class:`~cedetect.protocols.base.ProtocolDecoder` and a
:class:`~cedetect.protocols.base.StreamFramer` and one entry in :data:`PROTOCOLS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    DecodeReason,
    FramingError,
    ProtocolDecoder,
    StreamFramer,
    check_position_invariants,
)
from cedetect.protocols.framing import Gt06Framer
from cedetect.protocols.gt06 import Gt06Decoder


class DecoderFactory(Protocol):
    """Makes the decoder for one connection; ``device_id`` presets the identity, ``model`` quirks."""

    def __call__(self, *, device_id: str | None = None, model: str | None = None) -> ProtocolDecoder: ...


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    default_port: int
    transport: Literal["tcp", "udp"]
    decoder_factory: DecoderFactory
    framer_factory: Callable[[], StreamFramer]
    #: ``binary`` frames are given as hex on the command line; ``text`` frames as text.
    payload: Literal["binary", "text"] = "binary"


PROTOCOLS: dict[str, ProtocolSpec] = {
    "gt06": ProtocolSpec(
        name="gt06",
        default_port=5023,
        transport="tcp",
        decoder_factory=Gt06Decoder,
        framer_factory=Gt06Framer,
    ),
}


def get(name: str) -> ProtocolSpec:
    """The spec registered as ``name`` (case-insensitive); KeyError naming the known ones if none."""
    try:
        return PROTOCOLS[name.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(PROTOCOLS))
        raise KeyError(f"unknown tracker protocol {name!r}; known protocols: {known}") from None


__all__ = [
    "PROTOCOLS",
    "DecodeError",
    "DecodeReason",
    "DecodedMessage",
    "DecoderFactory",
    "FramingError",
    "ProtocolDecoder",
    "ProtocolSpec",
    "StreamFramer",
    "check_position_invariants",
    "get",
]

"""Tracker protocols: a registry of what the edge agent can listen for.

Each protocol is one module of this package that defines ``SPEC``, a
:class:`~cedetect.protocols.base.ProtocolSpec`: its name, the port traccar uses for it, its transports,
and factories for the per-connection decoder, the TCP stream framer and the simulator's device
encoder.  The registry finds the modules itself, so adding a protocol touches no shared file.
"""

from __future__ import annotations

import importlib
import pkgutil

from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    DecodeReason,
    DecoderFactory,
    DeviceEncoder,
    FixToSend,
    FramingError,
    ProtocolDecoder,
    ProtocolSpec,
    StreamFramer,
    Transport,
    check_position_invariants,
)


def _discover() -> dict[str, ProtocolSpec]:
    found: dict[str, ProtocolSpec] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, ProtocolSpec):
            if spec.name in found:
                raise RuntimeError(f"protocol {spec.name!r} is defined twice")
            found[spec.name] = spec
    return found


PROTOCOLS: dict[str, ProtocolSpec] = _discover()


_ALIASES: dict[str, str] = {alias: spec.name for spec in PROTOCOLS.values() for alias in spec.aliases}


def get(name: str) -> ProtocolSpec:
    """The spec registered as ``name`` or one of its aliases (case-insensitive); KeyError naming the known ones."""
    key = name.strip().lower()
    try:
        return PROTOCOLS[_ALIASES.get(key, key)]
    except KeyError:
        known = ", ".join(sorted(PROTOCOLS))
        raise KeyError(f"unknown tracker protocol {name!r}; known protocols: {known}") from None


__all__ = [
    "PROTOCOLS",
    "DecodeError",
    "DecodeReason",
    "DecodedMessage",
    "DecoderFactory",
    "DeviceEncoder",
    "FixToSend",
    "FramingError",
    "ProtocolDecoder",
    "ProtocolSpec",
    "StreamFramer",
    "Transport",
    "check_position_invariants",
    "get",
]

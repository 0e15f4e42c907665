"""``cedetect decode``: decode tracker frames given on the command line or in a file.

All inputs of one invocation are one connection, decoded in command-line order: a login frame
gives its device id to the frames after it.  ``--device-id`` presets that id instead, for data
frames captured without their login (traccar's test vectors, for instance).

Each decoded message is one JSON line on stdout: for a message with a fix, the Position fields
(``model_dump(mode="json")``) plus ``kind``; otherwise ``{"kind", "device_id", "attributes"}``.
``response_hex`` is added when the protocol expects an acknowledgement.  A frame that cannot be
decoded prints ``{"error": REASON, "detail": ..., "raw_hex": ...}`` and decoding goes on with the
next frame; the exit status is then 1.  Usage errors (unknown protocol, no input, an invalid
``--device-id``) exit with 2.

Inputs: ``--hex HEX`` (one frame; spaces and colons are ignored), ``--text TEXT`` (one frame of a
text protocol; refused for binary ones such as gt06), ``--file FILE`` (one frame per line, hex for
binary protocols, blank lines and ``#`` comments skipped).  With ``--stream`` every input is
treated as a piece of the TCP stream and cut into frames by the protocol's framer, which reports
skipped bytes as errors too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cedetect import protocols
from cedetect.protocols.base import DecodedMessage, DecodeError, FramingError, ProtocolDecoder, StreamFramer

_INPUTS = "inputs"


class _AppendInput(argparse.Action):
    """Collects --hex/--text/--file values in one list, keeping their command-line order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        items: list[tuple[str, str]] = list(getattr(namespace, _INPUTS, None) or [])
        items.append((str(self.const), str(values)))
        setattr(namespace, _INPUTS, items)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "decode",
        help="decode tracker frames (hex/text/file) to JSON lines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--protocol", required=True, metavar="NAME", help=f"one of: {', '.join(sorted(protocols.PROTOCOLS))}"
    )
    parser.add_argument("--hex", action=_AppendInput, const="hex", dest=_INPUTS, metavar="HEX", help="a frame in hex")
    parser.add_argument("--text", action=_AppendInput, const="text", dest=_INPUTS, metavar="TEXT", help="a text frame")
    parser.add_argument(
        "--file", action=_AppendInput, const="file", dest=_INPUTS, metavar="FILE", help="one frame per line"
    )
    parser.add_argument(
        "--device-id",
        metavar="ID",
        help="preset the connection's device id, as if its login had been seen (frames captured without login)",
    )
    parser.add_argument("--model", metavar="MODEL", help="device model, for protocols with model-specific layouts")
    parser.add_argument(
        "--stream", action="store_true", help="treat the inputs as a TCP byte stream and cut it with the framer"
    )
    parser.add_argument(
        "--received-utc",
        metavar="ISO",
        type=_parse_utc,
        help="receive time to stamp on the fixes (default: now, UTC)",
    )
    parser.set_defaults(func=run, **{_INPUTS: None})


def _parse_utc(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("the time needs an offset, e.g. 2024-01-01T00:00:00+00:00")
    return parsed.astimezone(UTC)


def message_to_dict(message: DecodedMessage) -> dict[str, Any]:
    """The JSON object printed for a decoded message."""
    if message.position is not None:
        out: dict[str, Any] = {"kind": message.kind, **message.position.model_dump(mode="json")}
    else:
        out = {"kind": message.kind, "device_id": message.device_id, "attributes": dict(message.attributes)}
    if message.response is not None:
        out["response_hex"] = message.response.hex()
    return out


def error_to_dict(reason: str, detail: str, raw: bytes = b"", **extra: Any) -> dict[str, Any]:
    """The JSON object printed for a frame (or input) that could not be decoded."""
    return {"error": reason, "detail": detail, "raw_hex": raw.hex(), **extra}


class _Session:
    """One connection: a decoder, maybe a framer, and whether anything failed."""

    def __init__(
        self, decoder: ProtocolDecoder, framer: StreamFramer | None, received_utc: datetime | None, out: TextIO
    ) -> None:
        self.decoder = decoder
        self.framer = framer
        self.received_utc = received_utc
        self.out = out
        self.failed = False

    def emit(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj) + "\n")

    def fail(self, obj: dict[str, Any]) -> None:
        self.failed = True
        self.emit(obj)

    def frame(self, data: bytes) -> None:
        if self.framer is None:
            self._decode(data)
            return
        for item in self.framer.feed(data):
            self._framed(item)

    def finish(self) -> None:
        if self.framer is not None:
            for item in self.framer.flush():
                self._framed(item)

    def _framed(self, item: bytes | FramingError) -> None:
        if isinstance(item, FramingError):
            self.fail(error_to_dict(item.reason, item.detail, item.raw))
        else:
            self._decode(item)

    def _decode(self, data: bytes) -> None:
        received = self.received_utc or datetime.now(UTC)
        try:
            messages = self.decoder.decode(data, received)
        except DecodeError as exc:
            self.fail(error_to_dict(exc.reason, exc.detail, exc.raw or data))
            return
        for message in messages:
            self.emit(message_to_dict(message))


def _hex_frame(value: str) -> bytes:
    cleaned = "".join(value.split()).replace(":", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    return bytes.fromhex(cleaned)


def _frames(session: _Session, source: str, value: str, payload: str, protocol: str) -> Iterator[bytes]:
    """The frames of one input; input-level problems are reported on the session."""
    if source == "file":
        try:
            lines = Path(value).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            session.fail(error_to_dict("file_error", f"{value}: {exc}", file=value))
            return
        line_source = "hex" if payload == "binary" else "text"
        for number, line in enumerate(lines, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            frame = _frame_from(session, line_source, stripped, payload, protocol, file=value, line=number)
            if frame is not None:
                yield frame
        return
    frame = _frame_from(session, source, value, payload, protocol)
    if frame is not None:
        yield frame


def _frame_from(
    session: _Session, source: str, value: str, payload: str, protocol: str, **context: Any
) -> bytes | None:
    if source == "hex":
        try:
            return _hex_frame(value)
        except ValueError as exc:
            session.fail(error_to_dict("bad_hex", str(exc), input=value, **context))
            return None
    # --text works for every protocol: several binary protocols (GL200, Meitrack) also speak text frames.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError as exc:
        session.fail(error_to_dict("bad_text", str(exc), input=value, **context))
        return None


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    stream = out if out is not None else sys.stdout
    try:
        spec = protocols.get(args.protocol)
    except KeyError as exc:
        stream.write(json.dumps(error_to_dict("unknown_protocol", str(exc.args[0]))) + "\n")
        return 2
    inputs: list[tuple[str, str]] = getattr(args, _INPUTS, None) or []
    if not inputs:
        stream.write(json.dumps(error_to_dict("no_input", "give at least one --hex, --text or --file")) + "\n")
        return 2
    try:
        decoder = spec.decoder_factory(device_id=args.device_id, model=args.model)
    except ValueError as exc:
        stream.write(json.dumps(error_to_dict("invalid_device_id", str(exc))) + "\n")
        return 2
    framer = spec.framer_factory() if args.stream and spec.framer_factory is not None else None
    session = _Session(decoder, framer, args.received_utc, stream)
    for source, value in inputs:
        for frame in _frames(session, source, value, spec.payload, spec.name):
            session.frame(frame)
    session.finish()
    return 1 if session.failed else 0

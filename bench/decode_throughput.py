"""Decode throughput per protocol, frames per second on one core, beside a baseline from the same run.

    python -m bench.decode_throughput [--frames 20000] [--protocol NAME ...]

For every registered protocol with a device encoder, location frames built by that encoder (varying
fixes, real checksums) are decoded by a fresh per-connection decoder preset with the device id, one
``decode`` call per frame.  Baseline: the same frames cut out of one byte stream by the protocol's
framer (for TCP protocols) - the least work any frame needs before decoding; for framer-less protocols,
``bytes.decode`` of the same payloads.  The goal for GT06 and Teltonika location frames is 200,000
frames/s/core.

Times are CPU seconds of this process (``time.process_time``: one core, whatever else the machine
runs), the best of five runs, after an untimed warm-up pass as a long-running edge agent has had (it
loads what decoders load lazily, such as the compiled Teltonika CRC kernel).  A last line gives
Teltonika records per second in packets of several records (buffered history: one ``decode`` call
per packet), which is a different measure from frames per second.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cedetect import protocols
from cedetect.protocols.base import FixToSend
from cedetect.protocols.teltonika import (
    CODEC_8_EXT,
    TeltonikaDecoder,
    TeltonikaEncoder,
    build_avl_packet,
    encode_record,
)

GOAL_FRAMES_PER_S = 200_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _frames(name: str, count: int) -> tuple[str, list[bytes]]:
    spec = protocols.get(name)
    assert spec.encoder_factory is not None
    try:
        encoder = spec.encoder_factory("490154203237518")  # a Luhn-valid IMEI
    except ValueError:
        encoder = spec.encoder_factory("13912345678")  # a JT/T 808 phone number
    frames = [
        encoder.location(
            FixToSend(
                time_utc=T0 + timedelta(seconds=10 * i),
                latitude=41.0 + i * 1e-5,
                longitude=26.0 + i * 1e-5,
                speed_kmh=60.0 + i % 20,
                heading_deg=float(i % 360),
            )
        )
        for i in range(count)
    ]
    return encoder.device_id, frames


WARM_UP_DECODES = 2_000
RECORDS_PER_PACKET = 10


def _rate(work: Callable[[], None], count: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return count / best


def measure(name: str, count: int) -> tuple[float, float, str]:
    spec = protocols.get(name)
    device_id, frames = _frames(name, count)
    received = datetime.now(UTC)

    def decode() -> None:
        decoder = spec.decoder_factory(device_id=device_id)
        for frame in frames:
            decoder.decode(frame, received)

    for _ in range(-(-WARM_UP_DECODES // len(frames))):
        decode()

    if spec.framer_factory is not None:
        stream = b"".join(frames)
        make_framer = spec.framer_factory

        def baseline() -> None:
            framer = make_framer()
            for i in range(0, len(stream), 65536):
                framer.feed(stream[i : i + 65536])

        what = "framer only"
    else:

        def baseline() -> None:
            for frame in frames:
                frame.decode("latin-1")

        what = "bytes.decode only"
    return _rate(decode, count), _rate(baseline, count), what


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--protocol", action="append", dest="names")
    args = parser.parse_args()
    names = args.names or sorted(n for n, s in protocols.PROTOCOLS.items() if s.encoder_factory is not None)
    print(f"{'protocol':<12}{'decode frames/s':>18}{'baseline frames/s':>20}  {'ratio':>7}  baseline")
    rates: dict[str, float] = {}
    for name in names:
        decoded, base, what = measure(name, args.frames)
        rates[name] = decoded
        print(f"{name:<12}{decoded:>18,.0f}{base:>20,.0f}  {decoded / base:>7.3f}  {what}", flush=True)
    print(f"goal for gt06 and teltonika location frames: {GOAL_FRAMES_PER_S:,} frames/s/core")
    if "teltonika" in rates:
        per_frame = rates["teltonika"]
        per_record = measure_teltonika_packets(args.frames)
        print(
            f"teltonika, {RECORDS_PER_PACKET} records per packet: {per_record:,.0f} records/s "
            f"({per_record / per_frame:.2f} x one-record frames/s)"
        )
    return 0


def measure_teltonika_packets(count: int) -> float:
    """Records per second when the records come ``RECORDS_PER_PACKET`` to a packet (buffered history)."""
    encoder = TeltonikaEncoder("490154203237518")
    records = [
        encode_record(
            CODEC_8_EXT,
            encoder.record(
                FixToSend(
                    time_utc=T0 + timedelta(seconds=10 * i),
                    latitude=41.0 + i * 1e-5,
                    longitude=26.0 + i * 1e-5,
                    speed_kmh=60.0 + i % 20,
                    heading_deg=float(i % 360),
                )
            ),
        )
        for i in range(count)
    ]
    packets = [
        build_avl_packet(CODEC_8_EXT, records[i : i + RECORDS_PER_PACKET]) for i in range(0, count, RECORDS_PER_PACKET)
    ]
    received = datetime.now(UTC)

    def decode() -> None:
        decoder = TeltonikaDecoder(device_id=encoder.device_id)
        for packet in packets:
            decoder.decode(packet, received)

    decode()
    return _rate(decode, count)


if __name__ == "__main__":
    raise SystemExit(main())

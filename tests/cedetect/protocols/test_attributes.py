"""Every registered protocol decodes the shared vectors into attributes of the one naming scheme."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cedetect import protocols
from cedetect.protocols.attributes import ATTRIBUTE_KEY, Alarm, alarm_values, join_alarms
from cedetect.protocols.base import DecodeError, FixToSend

RECEIVED = datetime(2026, 11, 25, tzinfo=UTC)


def _vectors(shared_data: Path, name: str) -> list[dict[str, object]]:
    document = json.loads((shared_data / "tracker_vectors" / "tracker_vectors.json").read_text())
    spec = protocols.get(name)
    for key in (spec.name, *spec.aliases):
        if key in document["protocols"]:
            vectors: list[dict[str, object]] = document["protocols"][key]
            return vectors
    return []


def _corpus(shared_data: Path, name: str) -> list[tuple[bytes, str | None]]:
    """The protocol's shared vectors, or, for a protocol with none, what its device encoder sends."""
    corpus: list[tuple[bytes, str | None]] = []
    for vector in _vectors(shared_data, name):
        config = vector.get("config") or {}
        assert isinstance(config, dict)
        payload = str(vector["payload"])
        frame = bytes.fromhex(payload) if vector["encoding"] == "hex" else payload.encode("latin-1")
        corpus.append((frame, config.get("model")))
    spec = protocols.get(name)
    if not corpus and spec.encoder_factory is not None:
        encoder = spec.encoder_factory("123456789012345")
        for alarm in (None, "power_cut"):
            fix = FixToSend(time_utc=RECEIVED, latitude=41.0, longitude=26.0, odometer_km=12.5, alarm=alarm)
            corpus.append((encoder.location(fix), None))
    return corpus


@pytest.mark.parametrize("name", sorted(protocols.PROTOCOLS))
def test_attribute_keys_and_alarms_follow_the_scheme(name: str, shared_data: Path) -> None:
    spec = protocols.get(name)
    seen: set[str] = set()
    for frame, model in _corpus(shared_data, name):
        decoder = spec.decoder_factory(device_id="123456789012345", model=model)
        try:
            messages = decoder.decode(frame, RECEIVED)
        except DecodeError:
            continue
        for message in messages:
            attributes = dict(message.attributes)
            if message.position is not None:
                attributes.update(message.position.attributes)
            for key, value in attributes.items():
                seen.add(key)
                assert ATTRIBUTE_KEY.match(key), f"{frame!r}: attribute {key!r} is not snake_case"
                if key == "alarm":
                    assert isinstance(value, str)
                    for alarm in alarm_values(value):
                        Alarm(alarm)  # raises on a name outside the scheme
    assert seen, f"no attributes decoded for {name}"


def test_join_alarms() -> None:
    assert join_alarms("sos", Alarm.POWER_CUT, "sos") == "sos,power_cut"
    with pytest.raises(ValueError, match="not_an_alarm"):
        join_alarms("not_an_alarm")

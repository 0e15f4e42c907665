"""What the simulator learns from a protocol's own framer and decoder: device ids, corrupt frames, garbage."""

from __future__ import annotations

import dataclasses
import random

import pytest

from cedetect import protocols
from cedetect.protocols.base import Transport
from cedetect.protocols.gt06 import Gt06Encoder
from firmware_sim.imei import imei_for
from firmware_sim.wire import (
    ServerView,
    Tamper,
    check_wire,
    device_id_for,
    encoder_factory_for,
    id_candidates,
    sample_fix,
)
from tests.firmware_sim.support import pairs

IMEI = imei_for(1, 0)


class TwelveDigitEncoder(Gt06Encoder):
    """A GT06 encoder that, like a JT/T 808 terminal, only takes a 12-digit id."""

    def __init__(self, device_id: str) -> None:
        if len(device_id) != 12:
            raise ValueError("the id is a 12-digit phone number")
        super().__init__(device_id)


def test_id_candidates_keep_the_trucks_apart() -> None:
    candidates = list(id_candidates(IMEI))
    assert candidates[0] == IMEI
    assert [len(c) for c in candidates] == [15, *range(14, 6, -1)]
    for length in range(7, 16):
        ids = {next(c for c in id_candidates(imei_for(1, i)) if len(c) == length) for i in range(200)}
        assert len(ids) == 200


def test_device_id_is_the_imei_where_the_encoder_takes_it() -> None:
    assert device_id_for(protocols.get("gt06"), "tcp", IMEI) == IMEI


def test_device_id_falls_back_to_the_trailing_digits_the_encoder_takes() -> None:
    spec = dataclasses.replace(protocols.get("gt06"), encoder_factory=TwelveDigitEncoder)
    device_id = device_id_for(spec, "tcp", IMEI)
    assert device_id == IMEI[-12:]
    assert device_id_for(spec, "tcp", imei_for(1, 1)) != device_id
    check = check_wire(spec, "tcp", device_id)
    assert check.encoder_error is None
    # No shorter id decodes back to itself here (GT06 pads the BCD id to 15 digits): the first one taken wins.
    assert check.problems == [f"the location decodes as device {device_id.rjust(15, '0')!r}"]


def test_device_id_refused_by_every_candidate() -> None:
    spec = dataclasses.replace(protocols.get("gt06"), encoder_factory=TwelveDigitEncoder)
    with pytest.raises(ValueError, match="takes none of the ids"):
        device_id_for(spec, "tcp", "123456")


def test_check_wire_reports_what_the_server_answers() -> None:
    check = check_wire(protocols.get("gt06"), "tcp", IMEI)
    assert check.ok, check.summary()
    assert check.sent == ["login", "location", "heartbeat"]
    assert check.answered == {"login": True, "location": True, "heartbeat": True}
    wrong = check_wire(protocols.get("gt06"), "udp", IMEI)
    assert not wrong.ok
    assert "not carried over udp" in wrong.summary()


@pytest.mark.parametrize(("name", "transport"), pairs(mqtt=False) + pairs(mqtt=True))
def test_corrupt_frames_are_refused_and_differ_in_one_byte(name: str, transport: Transport) -> None:
    spec = protocols.get(name)
    device_id = device_id_for(spec, transport, IMEI)
    encoder = encoder_factory_for(spec, transport)(device_id)
    encoder.login()
    frame = encoder.location(sample_fix())
    damaged = Tamper(spec, transport, device_id).corrupt(frame)
    assert damaged is not None
    assert len(damaged) == len(frame)
    assert sum(a != b for a, b in zip(damaged, frame, strict=True)) == 1
    judgements = ServerView(spec, transport, device_id).judge(damaged + frame if transport == "tcp" else damaged)
    assert [j.outcome == "frame" for j in judgements][-1] is (transport == "tcp")
    assert all(j.outcome != "frame" for j in judgements[:-1])


@pytest.mark.parametrize(("name", "transport"), pairs(mqtt=False))
def test_garbage_is_skipped_where_it_can_travel(name: str, transport: Transport) -> None:
    spec = protocols.get(name)
    device_id = device_id_for(spec, transport, IMEI)
    encoder = encoder_factory_for(spec, transport)(device_id)
    frame = encoder.location(sample_fix())
    junk = Tamper(spec, transport, device_id).garbage(12, random.Random(7), frame)
    if transport not in ("tcp", "udp"):
        assert junk is None
        return
    assert junk is not None
    assert len(junk) == 12
    view = ServerView(spec, transport, device_id)
    judgements = view.judge(junk) + view.judge(frame)
    assert [j.outcome for j in judgements if j.outcome != "framing_error"][-1] == "frame"
    assert all(j.outcome != "frame" for j in judgements[:-1])


def test_tamper_without_a_spec_damages_blindly() -> None:
    tamper = Tamper(None, "tcp", IMEI)
    assert tamper.corrupt(b"\x01\x02\x03") == b"\x01\xfd\x03"
    assert tamper.corrupt(b"") is None
    junk = tamper.garbage(5, random.Random(1), b"")
    assert junk is not None
    assert len(junk) == 5

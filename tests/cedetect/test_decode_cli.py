"""``cedetect decode``: JSON lines and exit codes on real GT06 frames."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from cedetect import decode_cli
from cedetect.protocols.gt06 import build_frame

LOGIN = "78780D01086471700328358100093F040D0A"  # IMEI 864717003283581, serial 9
LOCATION = "787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A"
HEARTBEAT = "78780a13440604000201baaf540d0a"
BAD_CRC = "78781F120B081D112E10CC027AC7EB0C46584900148F01CC00287D001FB8000380810D0A"  # traccar gt06-146
IMEI = "864717003283581"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    parser = argparse.ArgumentParser(prog="cedetect")
    subparsers = parser.add_subparsers(dest="command", required=True)
    decode_cli.register(subparsers)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    lines = capsys.readouterr().out.splitlines()
    return code, [json.loads(line) for line in lines]


def test_login_then_location_gives_the_device_id(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(["decode", "--protocol", "gt06", "--hex", LOGIN, "--hex", LOCATION], capsys)
    assert code == 0
    login, location = lines
    assert login == {
        "kind": "login",
        "device_id": IMEI,
        "attributes": {"message_type": 1},
        "response_hex": build_frame(0x01, b"", 0x0009).hex(),
    }
    assert location["kind"] == "location"
    assert location["device_id"] == IMEI
    assert location["protocol"] == "gt06"
    assert location["time_utc"] == "2015-12-29T02:51:05Z"
    assert location["latitude"] == pytest.approx(23.111693, abs=1e-5)
    assert location["longitude"] == pytest.approx(114.409297, abs=1e-5)
    assert location["valid"] is True
    assert location["flags"] == []
    assert location["attributes"]["mcc"] == 460
    assert location["received_utc"].endswith("Z")
    assert location["response_hex"].startswith("7878052200")


def test_location_without_login_fails_unless_device_id_is_preset(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(["decode", "--protocol", "gt06", "--hex", LOCATION], capsys)
    assert code == 1
    assert lines == [
        {
            "error": "no_device_id",
            "detail": "data frame before a login on this connection",
            "raw_hex": LOCATION.lower(),
        }
    ]
    code, lines = _run(["decode", "--protocol", "gt06", "--device-id", "tracker-7", "--hex", LOCATION], capsys)
    assert code == 0
    assert lines[0]["device_id"] == "tracker-7"


def test_bad_checksum_is_reported_and_decoding_goes_on(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["decode", "--protocol", "gt06", "--device-id", IMEI, "--hex", BAD_CRC, "--hex", HEARTBEAT]
    code, lines = _run(argv, capsys)
    assert code == 1
    error, heartbeat = lines
    assert error["error"] == "bad_checksum"
    assert error["raw_hex"] == BAD_CRC.lower()
    assert "computed" in error["detail"]
    assert heartbeat["kind"] == "heartbeat"
    assert heartbeat["attributes"]["battery_level"] == 100


def test_bad_hex(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(["decode", "--protocol", "gt06", "--hex", "78780zz", "--hex", LOGIN], capsys)
    assert code == 1
    assert lines[0]["error"] == "bad_hex"
    assert lines[0]["input"] == "78780zz"
    assert lines[1]["kind"] == "login"


def test_hex_with_spaces_and_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    spaced = "0x" + " ".join(LOGIN[i : i + 2] for i in range(0, len(LOGIN), 2))
    code, lines = _run(["decode", "--protocol", "gt06", "--hex", spaced], capsys)
    assert code == 0
    assert lines[0]["device_id"] == IMEI


def test_text_that_is_not_a_frame_of_a_binary_protocol_gets_a_named_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(["decode", "--protocol", "gt06", "--text", "*HQ,1,V1#"], capsys)
    assert code == 1
    assert lines[0]["error"] == "bad_start_bytes"


def test_text_frames_of_protocols_that_mix_text_and_binary(capsys: pytest.CaptureFixture[str]) -> None:
    frame = (  # traccar's Gl200TextProtocolDecoderTest
        "+RESP:GTFRI,DF0200,868487004353181,cv100,14051,10,1,0,0.0,0,264.1,114.015515,22.537178,"
        "20210608064328,0460,0001,25F8,061A7D02,,0.0,,,,100,21,,,,20210608144354,32DB$"
    )
    code, lines = _run(["decode", "--protocol", "gl200", "--text", frame], capsys)
    assert code == 0
    assert (lines[0]["device_id"], lines[0]["latitude"], lines[0]["longitude"]) == (
        "868487004353181",
        22.537178,
        114.015515,
    )


def test_file_skips_comments_and_continues_past_bad_lines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    frames = tmp_path / "frames.txt"
    frames.write_text(f"# a capture\n\n{LOGIN}\nnot hex\n  {BAD_CRC}  \n{LOCATION}\n", encoding="utf-8")
    code, lines = _run(["decode", "--protocol", "gt06", "--file", str(frames)], capsys)
    assert code == 1
    assert [line.get("kind", line.get("error")) for line in lines] == ["login", "bad_hex", "bad_checksum", "location"]
    assert lines[1]["line"] == 4
    assert lines[3]["device_id"] == IMEI


def test_inputs_keep_command_line_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    frames = tmp_path / "location.txt"
    frames.write_text(LOCATION + "\n", encoding="utf-8")
    code, lines = _run(["decode", "--protocol", "gt06", "--hex", LOGIN, "--file", str(frames)], capsys)
    assert code == 0
    assert [line["kind"] for line in lines] == ["login", "location"]


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, lines = _run(["decode", "--protocol", "gt06", "--file", str(tmp_path / "nope.txt")], capsys)
    assert code == 1
    assert lines[0]["error"] == "file_error"


def test_stream_mode_splits_frames_and_reports_garbage(capsys: pytest.CaptureFixture[str]) -> None:
    stream = "0011" + LOGIN + LOCATION[:30]
    argv = ["decode", "--protocol", "gt06", "--stream", "--hex", stream, "--hex", LOCATION[30:] + "78"]
    code, lines = _run(argv, capsys)
    assert code == 1
    assert [line.get("kind", line.get("error")) for line in lines] == ["garbage", "login", "location", "truncated"]
    assert lines[0]["raw_hex"] == "0011"
    assert lines[3]["raw_hex"] == "78"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(["decode", "--protocol", "nope", "--hex", LOGIN], capsys)
    assert code == 2
    assert lines[0]["error"] == "unknown_protocol"
    assert "gt06" in lines[0]["detail"]
    code, lines = _run(["decode", "--protocol", "gt06"], capsys)
    assert code == 2
    assert lines[0]["error"] == "no_input"
    code, lines = _run(["decode", "--protocol", "gt06", "--device-id", "bad id", "--hex", LOGIN], capsys)
    assert code == 2
    assert lines[0]["error"] == "invalid_device_id"


def test_received_utc_option(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["decode", "--protocol", "gt06", "--device-id", IMEI, "--received-utc", "2016-01-01T08:00:00+08:00"]
    code, lines = _run([*argv, "--hex", LOCATION], capsys)
    assert code == 0
    assert lines[0]["received_utc"] == "2016-01-01T00:00:00Z"


def test_through_the_cedetect_console_script(capsys: pytest.CaptureFixture[str]) -> None:
    """The real ``cedetect`` entry point, once the other subcommand modules it imports exist."""
    if importlib.util.find_spec("cedetect.demo") is None:
        pytest.skip("cedetect.demo (imported by cedetect.cli) does not exist yet")
    from cedetect import cli

    try:
        parser = cli.build_parser()
    except ImportError as exc:  # an entry-point module of another package not written yet
        pytest.skip(f"cedetect CLI cannot be built yet: {exc}")
    args = parser.parse_args(["decode", "--protocol", "gt06", "--hex", LOGIN, "--hex", LOCATION])
    assert args.func(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["kind"] for line in lines] == ["login", "location"]
    assert cli.main(["decode", "--protocol", "gt06", "--hex", BAD_CRC]) == 1

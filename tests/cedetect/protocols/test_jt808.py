"""JT/T 808: traccar's real vectors (key ``huabao``), answers, integrity, framer, fuzzing, simulated device.

The vectors come from ``shared/data/tracker_vectors`` (traccar's Jt808ProtocolDecoderTest, see its
README).  Each is decoded on a fresh decoder preset with a device id (every binary frame names its
terminal; the text sentences need an identified connection) and the vector's ``config.model``; one
more test replays them all on one decoder in test order, as traccar does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cedetect import protocols
from cedetect.protocols import jt808
from cedetect.protocols.attributes import Alarm
from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    DecodeReason,
    FixToSend,
    FramingError,
)
from cedetect.protocols.jt808 import (
    Jt808Decoder,
    Jt808Encoder,
    Jt808Framer,
    build_frame,
    encode_location_body,
    encode_terminal_id,
    escape,
    parse_frame,
    terminal_device_id,
    terminal_id_text,
    unescape,
    xor_checksum,
)
from tests.cedetect.protocols.vectors import (
    DEVICE_ID,
    LATITUDES,
    LONGITUDES,
    RECEIVED,
    VECTORS_FILE,
    Mapped,
    accounted,
    alarm_set,
    assert_every_byte_accounted,
    assert_frame_checks_agree,
    assert_position_invariants,
    assert_refused,
    assert_resyncs_after_garbage,
    assert_split_at_every_byte,
    assert_tables_name_vectors,
    by_test_method,
    check_attributes,
    check_fix,
    chunked,
    errors_of,
    feed_all,
    frame_check_failed,
    frames_of,
    fuzz_decode,
    garbage_stream,
    load_vectors,
    mutated,
    numbered_lookup,
    parametrize_vectors,
    payload_bytes,
    positions_of,
    same,
    utc_times,
    vector_model,
)

PROTOCOL = "jt808"
PHONE = bytes.fromhex("013511221122")


# -- traccar attribute names -> ours ----------------------------------------------------------------


def _metres_to_km(value: Any) -> float:
    return float(value) / 1000


def _m(*names: str, convert: Callable[[Any], Any] = same, field: str | None = None) -> Mapped:
    """Our attribute(s) for a traccar one: the first present is compared (traccar reuses a few names for
    values of different units)."""
    return Mapped(names[0], convert, field, fallbacks=names[1:])


#: traccar attribute -> ours (the attribute table is in the docstring of cedetect.protocols.jt808).
ATTRIBUTE_MAP: dict[str, Mapped] = {
    "alarm": _m("alarm", convert=alarm_set),  # camelCase alarm names -> snake_case, compared as sets
    "status": _m("raw_status"),
    "ignition": _m("ignition"),
    "motion": _m("motion"),
    "blocked": _m("blocked"),
    "door": _m("door"),
    "charge": _m("charge"),
    "archive": _m("archive"),
    "buffered": _m("archive"),
    "odometer": _m("odometer_km", convert=_metres_to_km),  # traccar: metres
    "tripOdometer": _m("trip_odometer_km", convert=_metres_to_km),
    "obdOdometer": _m("obd_odometer_km", convert=_metres_to_km),
    "fuel": _m("fuel_level", convert=float),
    "fuel1": _m("fuel1_level", convert=float),
    "fuel2": _m("fuel2_level", convert=float),
    "batteryLevel": _m("battery_level"),
    "battery": _m("battery_v", convert=float),
    "power": _m("power_v", convert=float),
    "rssi": _m("rssi"),
    "sat": _m("satellites", field="satellites"),
    "hdop": _m("hdop", convert=float, field="hdop"),
    "input": _m("input"),
    "event": _m("event"),
    "mode": _m("mode"),
    "result": _m("result"),
    "iccid": _m("iccid"),
    "imei": _m("imei"),
    "vin": _m("vin"),
    "dtcs": _m("dtcs"),
    "obdSpeed": _m("obd_speed_kmh", convert=float),
    "rpm": _m("obd_rpm"),
    "throttle": _m("throttle_pct"),
    "engineLoad": _m("engine_load_pct"),
    "coolantTemp": _m("obd_coolant_temp_c"),
    "fuelConsumption": _m("fuel_consumption"),
    "fuelUsed": _m("obd_fuel_used", convert=float),
    "tripFuelUsed": _m("trip_fuel_used", convert=float),
    "tripFuel": _m("trip_fuel", convert=float),
    "intakeTemp": _m("intake_temp_c"),
    "intakeFlow": _m("intake_flow"),
    "intakePressure": _m("intake_pressure"),
    "cvn": _m("cvn"),
    "calid": _m("calid"),
    "hardAccelerationCount": _m("hard_acceleration_count"),
    "hardDecelerationCount": _m("hard_deceleration_count"),
    "hardCorneringCount": _m("hard_cornering_count"),
    "driverUniqueId": _m("driver_id"),
    "driver": _m("driver_name"),
    "card": _m("card"),
    "cardStatus": _m("card_status"),
    "cardResult": _m("card_result"),
    "cardCode": _m("card_code"),
    "cardAgency": _m("card_agency"),
    "cardValidity": _m("card_validity"),
    "videoAlarm": _m("video_alarm"),
    "adasAlarm": _m("adas_alarm"),
    "dmsAlarm": _m("dms_alarm"),
    "alarmLabel": _m("alarm_label"),
    "lockCommand": _m("lock_command"),
    "lockCard": _m("lock_card"),
    "lockPassword": _m("lock_password"),
    "unlockResult": _m("unlock_result"),
    "lockStatus": _m("lock_status"),
    "string": _m("lock_string"),
    "cover": _m("cover"),
    "password": _m("password"),
    "timezone": _m("timezone"),
    "versionFw": _m("firmware_version"),
    "container": _m("container"),
    "geofence": _m("geofence_id"),
    "steps": _m("steps"),
    "gSensor": _m("g_sensor"),
    "tilt": _m("tilt"),
    "wakeSource": _m("wake_source"),
    "uploadMode": _m("upload_mode"),
    "dataUsage": _m("data_usage"),
    "humidity": _m("humidity_pct", convert=float),
    "deviceTemp": _m("device_temp_c", convert=float),
    "airPressure": _m("air_pressure"),
    "illuminance": _m("illuminance_lux"),
    "lightSensor": _m("light_sensor"),
    "externalAlarms": _m("external_alarms"),
    "alarmThresholdType": _m("alarm_threshold_type"),
    "externalIlluminance": _m("external_illuminance_lux"),
    "externalAirPressure": _m("external_air_pressure"),
    "externalHumidity": _m("external_humidity_pct", convert=float),
    "externalTemp": _m("external_temp_c", convert=float),
    "batteryAlarm": _m("battery_alarm"),
    "collision": _m("collision", convert=float),
    "tripNumber": _m("trip_number"),
    "idlingCount": _m("idling_count"),
    "idlingTime": _m("idling_time"),
    "fuelTemp": _m("fuel_temp_c"),
    "oilLevel": _m("oil_level", convert=float),
    "airTemp": _m("air_temp_c"),
    "liquidLevel": _m("liquid_level"),
    "data": _m("transparent_text"),
    "heartbeatInterval": _m("heartbeat_interval_s"),
    "apn": _m("apn"),
    "server": _m("server"),
    "port": _m("port"),
    "sleepReportInterval": _m("sleep_report_interval_s"),
    "emergencyReportInterval": _m("emergency_report_interval_s"),
    "defaultReportInterval": _m("default_report_interval_s"),
    "overspeedThreshold": _m("overspeed_threshold_kmh"),
    "speedLimitDuration": _m("speed_limit_duration_s"),
    "plateNumber": _m("plate_number"),
}

#: Numbered traccar attributes (temp1, lock2Battery, tire1Pressure ...): pattern -> our names.
NUMBERED_MAP: tuple[tuple[re.Pattern[str], Callable[[str], Mapped]], ...] = (
    (re.compile(r"temp(\d+)"), lambda n: _m(f"temp{n}_c", convert=float)),
    (re.compile(r"humidity(\d+)"), lambda n: _m(f"humidity{n}_pct", convert=float)),
    (re.compile(r"adc(\d+)"), lambda n: _m(f"adc{n}_v", convert=float)),
    (re.compile(r"io(\d+)"), lambda n: _m(f"io{n}")),
    (re.compile(r"tire(\d+)SensorId"), lambda n: _m(f"tire{n}_sensor_id")),
    (re.compile(r"tire(\d+)Pressure"), lambda n: _m(f"tire{n}_pressure_bar", convert=float)),
    (re.compile(r"tire(\d+)Temp"), lambda n: _m(f"tire{n}_temp_c")),
    (re.compile(r"tire(\d+)Status"), lambda n: _m(f"tire{n}_status")),
    (re.compile(r"lock(\d+)Id"), lambda n: _m(f"lock{n}_id")),
    (re.compile(r"lock(\d+)Battery"), lambda n: _m(f"lock{n}_battery_v", f"lock{n}_battery_level")),
    (re.compile(r"lock(\d+)Seal"), lambda n: _m(f"lock{n}_seal")),
    (re.compile(r"lock(\d+)Card"), lambda n: _m(f"lock{n}_card")),
    (re.compile(r"lock(\d+)Locked"), lambda n: _m(f"lock{n}_locked")),
    (re.compile(r"tag(\d+)Mac"), lambda n: _m(f"tag{n}_mac")),
    (re.compile(r"tag(\d+)Rssi"), lambda n: _m(f"tag{n}_rssi")),
    (re.compile(r"tag(\d+)Name"), lambda n: _m(f"tag{n}_name")),
    (re.compile(r"tag(\d+)Battery"), lambda n: _m(f"tag{n}_battery_v", convert=float)),
    (re.compile(r"tag(\d+)Temp"), lambda n: _m(f"tag{n}_temp_c", convert=float)),
    (re.compile(r"tag(\d+)Humidity"), lambda n: _m(f"tag{n}_humidity_pct", convert=float)),
    (re.compile(r"tag(\d+)Data"), lambda n: _m(f"tag{n}_data")),
)

#: traccar attributes this decoder does not produce, with the reason.  An asserted attribute that is
#: neither here nor mapped fails the test.  (None today: traccar's cells and WiFi access points are
#: not attributes; they are summarised as mcc/mnc/lac/cell_id, cell_count and wifi_count.)
UNSUPPORTED: dict[str, str] = {}

#: Vectors we cannot decode, with the reason (keep this small).
SKIPS: dict[str, str] = {}

#: no_position vectors that traccar drops, which we refuse with a named reason.
TRACCAR_DROPS: dict[str, tuple[str, str]] = {}


_mapped = numbered_lookup(ATTRIBUTE_MAP, NUMBERED_MAP)

VECTORS = load_vectors("huabao")


def test_vectors_are_present() -> None:
    assert VECTORS_FILE.is_file(), f"missing {VECTORS_FILE}"
    assert len(VECTORS) > 90


@parametrize_vectors(VECTORS)
def test_traccar_vector(vector: dict[str, Any]) -> None:
    vid = vector["id"]
    raw = payload_bytes(vector)
    if vid in SKIPS:
        pytest.skip(SKIPS[vid])
    decoder = Jt808Decoder(device_id=DEVICE_ID, model=vector_model(vector))

    if frame_check_failed(vector):
        assert_refused(decoder, raw, DecodeReason.BAD_CHECKSUM)
        return
    if vid in TRACCAR_DROPS:
        assert vector["expect"] == "no_position", "only dropped frames may be refused"
        reason, _why = TRACCAR_DROPS[vid]
        assert_refused(decoder, raw, reason)
        return

    _verify(vector, raw, decoder.decode(raw, RECEIVED))


def _verify(vector: dict[str, Any], raw: bytes, messages: list[DecodedMessage]) -> None:
    """Everything traccar asserts for ``vector``, plus our invariants, on the messages of ``raw``."""
    assert messages, "an intact frame decodes to at least one message"
    binary = raw[:1] == b"\x7e"
    expected_id = terminal_device_id(parse_frame(raw).terminal_id) if binary else DEVICE_ID
    for index, message in enumerate(messages):
        assert message.raw == raw
        assert message.device_id == expected_id
        assert_position_invariants(message, PROTOCOL)
        if index > 0:
            assert message.response is None, "a batch is answered once"
        if message.response is not None and binary:
            _check_answer(parse_frame(raw), message.response)

    positions = positions_of(messages)
    expect = vector["expect"]
    if expect == "no_position":
        assert not positions
    elif expect in ("position", "positions"):
        assert positions, "traccar decodes a fix from this frame"
    elif expect == "attributes":
        assert any(m.attributes.keys() - {"message_type"} for m in messages)

    checks = dict(vector.get("checks") or {})
    check_fix(checks, positions)
    # traccar's verifyAttribute(s) looks at the first position of a list
    check_attributes(checks.get("attributes") or {}, messages[:1], _mapped, unsupported=UNSUPPORTED)


def _escaped_form(vector: dict[str, Any]) -> bytes | None:
    """The wire form of a vector written unescaped whose raw bytes hold 7D 01/02 as data, if its XOR fits."""
    raw = payload_bytes(vector)
    inner = raw[1:-1]
    if raw[:1] != b"\x7e" or xor_checksum(inner[:-1]) != inner[-1]:
        return None
    return b"\x7e" + escape(inner) + b"\x7e"


UNESCAPED_VECTORS = [v for v in VECTORS if frame_check_failed(v) and _escaped_form(v) is not None]


@parametrize_vectors(UNESCAPED_VECTORS)
def test_bad_checksum_vectors_written_unescaped_decode_once_escaped(vector: dict[str, Any]) -> None:
    """huabao-040 and the JC371 samples fail the XOR only because traccar's test holds them unescaped
    (7D 01 there is data); escaped as a device sends them, they decode to what traccar asserts."""
    frame = _escaped_form(vector)
    assert frame is not None
    _verify(vector, frame, Jt808Decoder(device_id=DEVICE_ID, model=vector_model(vector)).decode(frame, RECEIVED))


def test_unescaped_vectors_are_the_expected_ones() -> None:
    assert {v["id"] for v in UNESCAPED_VECTORS} == {"huabao-040", "huabao-106", "huabao-107", "huabao-108"}


def _check_answer(frame: jt808.Jt808Frame, response: bytes) -> None:
    answer = parse_frame(response)  # well formed, XOR valid
    assert answer.terminal_id == frame.terminal_id
    assert answer.version == frame.version
    if answer.type == 0x8001:
        assert answer.body == frame.serial.to_bytes(2) + frame.type.to_bytes(2) + b"\x00"
    elif answer.type == 0x8100:
        assert answer.body[:3] == frame.serial.to_bytes(2) + b"\x00"
        assert answer.body[3:].decode("ascii") == terminal_id_text(frame.terminal_id)
    elif answer.type == 0x4401:
        assert answer.body == frame.type.to_bytes(2) + b"\x00"
    else:
        assert answer.type == 0x8109


def test_vectors_replayed_on_one_connection() -> None:
    """traccar's way: one decoder, test order, the model switched where the test switches it."""
    decoder = Jt808Decoder()
    outcomes = []
    for vector in (v for _method, vectors in by_test_method(VECTORS) for v in vectors):
        decoder.model = (vector_model(vector) or "").upper() or None
        raw = payload_bytes(vector)
        try:
            messages = decoder.decode(raw, RECEIVED)
        except DecodeError as exc:
            outcomes.append((vector["id"], exc.reason))
            continue
        fresh = Jt808Decoder(device_id=DEVICE_ID, model=vector_model(vector)).decode(raw, RECEIVED)
        assert [(m.kind, m.position, m.attributes) for m in messages] == [
            (m.kind, m.position, m.attributes) for m in fresh
        ]
        outcomes.append((vector["id"], "decoded"))
    refused = {vid: reason for vid, reason in outcomes if reason != "decoded"}
    assert set(refused.values()) == {DecodeReason.BAD_CHECKSUM}
    assert set(refused) == {v["id"] for v in VECTORS if frame_check_failed(v)}


def test_vector_tables_name_real_vectors() -> None:
    assert_tables_name_vectors(VECTORS, SKIPS, TRACCAR_DROPS)


def test_every_vector_is_accounted_for() -> None:
    decoded = refused = 0
    for vector in VECTORS:
        if frame_check_failed(vector) or vector["id"] in TRACCAR_DROPS or vector["id"] in SKIPS:
            refused += 1
            continue
        Jt808Decoder(device_id=DEVICE_ID, model=vector_model(vector)).decode(payload_bytes(vector), RECEIVED)
        decoded += 1
    assert decoded + refused == len(VECTORS)
    assert refused == sum(1 for v in VECTORS if frame_check_failed(v))


def test_checksum_of_real_frames() -> None:
    """Our XOR (after unescaping) agrees with the extractor's frame_check_derived on every vector."""

    def xor_passes(raw: bytes) -> bool:
        data, _ = unescape(raw[1:-1])
        return xor_checksum(data[:-1]) == data[-1]

    checked = assert_frame_checks_agree(VECTORS, xor_passes)
    assert checked > 90


# -- specific layouts ---------------------------------------------------------------------------------

HEARTBEAT_2013 = bytes.fromhex("7e0002000004304832546500b7ca7e")  # traccar huabao-093
REGISTER_2019 = bytes.fromhex(
    "7e0100405c010000086649607758216452180000000000000000000000000000004d44333030000000000000000000000000"
    "0000000000000000000038363634393630373735383231363400000000000000000000000000000004000000000000000000"
    "000000000000007a7e"
)
LOCATION_PLAIN = bytes.fromhex(  # traccar huabao-092
    "7e020000220014012499170007000000000000400e012af16f02cbd2ba000000000000150101194257010400000077a97e"
)


def test_location_fields_and_time_zone() -> None:
    body = encode_location_body(
        time_utc=datetime(2024, 3, 1, 23, 30, 15, tzinfo=UTC),
        latitude=-33.123456,
        longitude=-70.654321,
        speed_kmh=87.4,
        heading_deg=359,
        altitude_m=-12,
        valid=True,
        ignition=True,
        alarm="sos",
        satellites=9,
        rssi=21,
        odometer_km=12345.6,
    )
    frame = build_frame(0x0200, PHONE, body, 7)
    assert body[22:28] == bytes.fromhex("240302073015")  # BCD, GMT+8: the next day locally
    (message,) = Jt808Decoder().decode(frame, RECEIVED)
    position = message.position
    assert position is not None
    assert message.device_id == "13511221122"
    assert position.time_utc == datetime(2024, 3, 1, 23, 30, 15, tzinfo=UTC)
    assert (position.latitude, position.longitude) == pytest.approx((-33.123456, -70.654321), abs=1e-9)
    assert position.speed_kmh == pytest.approx(87.4)
    assert (position.heading_deg, position.altitude_m, position.satellites) == (359.0, -12.0, 9)
    assert position.attributes["alarm"] == "sos"
    assert position.attributes["ignition"] is True
    assert position.attributes["rssi"] == 21
    assert position.attributes["odometer_km"] == pytest.approx(12345.6)
    utc_device = Jt808Decoder(timezone_offset=timedelta(0))
    (message,) = utc_device.decode(frame, RECEIVED)
    assert message.position is not None
    assert message.position.time_utc == datetime(2024, 3, 2, 7, 30, 15, tzinfo=UTC)


def test_alarm_word_bits_and_model_quirks() -> None:
    def alarms(word: int, model: str | None = None) -> set[str]:
        body = word.to_bytes(4) + encode_location_body(time_utc=RECEIVED, latitude=1, longitude=2)[4:]
        (message,) = Jt808Decoder(model=model).decode(build_frame(0x0200, PHONE, body, 1), RECEIVED)
        return set(str(message.attributes.get("alarm", "")).split(",")) - {""}

    assert alarms(1 << 0 | 1 << 16 | 1 << 29) == {"sos", "tampering", "accident"}
    assert alarms(1 << 7) == {"low_battery"}
    assert alarms(1 << 29, "VL300") == set()
    assert alarms(1 << 16, "AL300") == {"movement"}
    assert alarms(1 << 0, "AL300") == set()
    assert alarms(1 << 0 | 1 << 1, "G-360P") == {"removing", "tampering"}
    for value in (
        alarms(0xFFFFFFFF),
        alarms(0xFFFFFFFF, "GL100"),
        alarms(0xFFFFFFFF, "G-508P"),
    ):
        for name in value:
            Alarm(name)


def test_batch_is_answered_once_and_blind_area_records_are_archived() -> None:
    records = [
        encode_location_body(time_utc=RECEIVED - timedelta(minutes=i), latitude=10 + i, longitude=20, satellites=i)
        for i in range(3)
    ]
    body = (3).to_bytes(2) + b"\x01" + b"".join(len(r).to_bytes(2) + r for r in records)
    messages = Jt808Decoder().decode(build_frame(0x0704, PHONE, body, 0x1234), RECEIVED)
    assert [m.position.latitude if m.position else None for m in messages] == [10, 11, 12]
    assert [m.attributes["archive"] for m in messages] == [True, True, True]
    assert messages[0].response is not None
    assert parse_frame(messages[0].response).body == bytes.fromhex("1234070400")
    assert [m.response for m in messages[1:]] == [None, None]
    with pytest.raises(DecodeError) as caught:
        Jt808Decoder().decode(build_frame(0x0704, PHONE, (0).to_bytes(2) + b"\x00", 1), RECEIVED)
    assert caught.value.reason == DecodeReason.TRUNCATED


def test_registration_and_2019_answers() -> None:
    (login,) = Jt808Decoder().decode(REGISTER_2019, RECEIVED)
    assert login.kind == "login"
    assert login.device_id == "866496077582164"  # 2019 10-byte id, leading zeros stripped
    assert login.response is not None
    answer = parse_frame(login.response)
    assert (answer.type, answer.version, answer.terminal_id.hex()) == (0x8100, 1, "00000866496077582164")
    assert answer.body == bytes.fromhex("5218") + b"\x00" + b"00000866496077582164"


def test_heartbeat_time_sync_and_text_sentences() -> None:
    decoder = Jt808Decoder()
    (beat,) = decoder.decode(HEARTBEAT_2013, RECEIVED)
    assert (beat.kind, beat.device_id) == ("heartbeat", "43048325465")
    assert beat.response == build_frame(0x8001, bytes.fromhex("043048325465"), bytes.fromhex("00b7000200"), 0)
    (sync,) = decoder.decode(build_frame(0x0109, PHONE, b"", 3), RECEIVED)
    assert sync.kind == "time_request"
    assert sync.response is not None
    assert parse_frame(sync.response).body == bytes.fromhex("07ea081e0c000000")
    (time_request,) = decoder.decode(b"(794104004140,1,001,BASE,2,TIME)", RECEIVED)
    assert time_request.kind == "time_request"
    assert time_request.response == b"(794104004140,1,001,BASE,2,20260830120000)"
    (reply,) = decoder.decode(b"(7401,1,001,ELOCK,3,529439)", RECEIVED)
    assert (reply.kind, reply.attributes["result"], reply.response) == (
        "command_reply",
        "(7401,1,001,ELOCK,3,529439)",
        None,
    )
    with pytest.raises(DecodeError) as caught:
        Jt808Decoder().decode(b"(794104004140,1,001,BASE,2,TIME)", RECEIVED)
    assert caught.value.reason == DecodeReason.NO_DEVICE_ID


def test_jt600_location_answer_when_asked() -> None:
    raw = bytes.fromhex(  # traccar huabao-070, property bit 15 set
        "7e55028436740190311185091607200239270613212607536108630000170a000000014600005ded05e203000000000b010d0c"
        "06005b003e00ab0a0302dc65100100a37e"
    )
    (message,) = Jt808Decoder().decode(raw, RECEIVED)
    assert message.position is not None
    assert message.position.time_utc == datetime(2020, 7, 16, 2, 39, 27, tzinfo=UTC)
    assert message.position.latitude == pytest.approx(6 + 13.2126 / 60, abs=1e-6)
    assert message.position.longitude == pytest.approx(-(75 + 36.1086 / 60), abs=1e-6)
    assert message.attributes["archive"] is True
    assert message.response == build_frame(
        0x4401, bytes.fromhex("740190311185"), bytes.fromhex("550200"), 1, short_serial=True
    )


def test_terminal_ids() -> None:
    assert terminal_id_text(bytes.fromhex("013511221122")) == "013511221122"
    assert terminal_device_id(bytes.fromhex("013511221122")) == "13511221122"
    assert terminal_device_id(bytes.fromhex("000000000000")) == "0"  # traccar's stripLeading keeps one
    # not BCD: an IMEI in 48 bits plus its Luhn digit (traccar's decodeId)
    assert terminal_id_text(bytes.fromhex("4eb6fb4afd9e")) == "865478070102068"  # 0x4eb6fb4afd9e, Luhn 8
    assert encode_terminal_id("13511221122") == bytes.fromhex("013511221122")
    assert encode_terminal_id("866496077582164", length=10).hex() == "00000866496077582164"
    with pytest.raises(ValueError, match="Luhn"):
        encode_terminal_id("865478070102069")
    with pytest.raises(ValueError, match="digits"):
        encode_terminal_id("ABC")


# -- frame checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", DecodeReason.TRUNCATED),
        (b"\x7e", DecodeReason.TRUNCATED),
        (b"\x7e\x7e", DecodeReason.TRUNCATED),
        (HEARTBEAT_2013[1:], DecodeReason.BAD_START_BYTES),
        (HEARTBEAT_2013[:-1], DecodeReason.BAD_STOP_BYTES),
        (HEARTBEAT_2013[:8] + HEARTBEAT_2013[-2:], DecodeReason.TRUNCATED),
        (LOCATION_PLAIN[:20] + bytes([LOCATION_PLAIN[20] ^ 0x01]) + LOCATION_PLAIN[21:], DecodeReason.BAD_CHECKSUM),
        (build_frame(0x0200, PHONE, b"\x00" * 27, 1), DecodeReason.TRUNCATED),
        (build_frame(0x0900, PHONE, b"", 1), DecodeReason.TRUNCATED),
        (build_frame(0x0200, PHONE, b"", 1, properties_extra=0x0400), DecodeReason.MALFORMED),
        (build_frame(0xABCD, PHONE, b"\x01", 1), DecodeReason.UNKNOWN_MESSAGE_TYPE),
        (b"(text", DecodeReason.BAD_STOP_BYTES),
    ],
)
def test_frame_integrity(frame: bytes, reason: str) -> None:
    assert Jt808Decoder().decode(LOCATION_PLAIN, RECEIVED)[0].position is not None  # the intact original
    assert_refused(Jt808Decoder(device_id=DEVICE_ID), frame, reason)


def test_invalid_date_and_coordinates_are_named() -> None:
    good = encode_location_body(time_utc=RECEIVED, latitude=1, longitude=2)
    bad_date = good[:22] + bytes.fromhex("241301000000")
    with pytest.raises(DecodeError) as caught:
        Jt808Decoder().decode(build_frame(0x0200, PHONE, bad_date, 1), RECEIVED)
    assert caught.value.reason == DecodeReason.INVALID_TIME
    bad_latitude = good[:8] + (91_000_000).to_bytes(4) + good[12:]
    with pytest.raises(DecodeError) as caught:
        Jt808Decoder().decode(build_frame(0x0200, PHONE, bad_latitude, 1), RECEIVED)
    assert caught.value.reason == DecodeReason.INVALID_COORDINATES


def test_subpackaged_message_is_reported_and_acknowledged() -> None:
    body = (3).to_bytes(2) + (2).to_bytes(2) + b"\x01\x02\x03"  # package 2 of 3, then a fragment
    frame = build_frame(0x0801, PHONE, body, 9, properties_extra=0x2000)
    (message,) = Jt808Decoder().decode(frame, RECEIVED)
    assert message.kind == "info"
    assert (message.attributes["package_count"], message.attributes["package_index"]) == (3, 2)
    assert message.response is not None
    assert parse_frame(message.response).body == bytes.fromhex("0009080100")


def test_escaping_round_trip_and_escaped_answers() -> None:
    data = bytes(range(256))
    assert unescape(escape(data)) == (data, False)
    assert 0x7E not in escape(data)
    # find a serial whose answer checksum needs escaping: the answer stays parseable
    for serial in range(0x10000):
        frame = build_frame(0x0002, PHONE, b"", serial)
        (message,) = Jt808Decoder().decode(frame, RECEIVED)
        assert message.response is not None
        if b"\x7d" in message.response:
            assert parse_frame(message.response).body[:2] == serial.to_bytes(2)
            break
    else:
        pytest.fail("no escaped answer found")


def test_unescaped_form_is_accepted_when_the_xor_agrees() -> None:
    """traccar's vectors sometimes hold the frame unescaped: a raw 7E inside is data then."""
    body = encode_location_body(time_utc=RECEIVED, latitude=1, longitude=2) + b"\x01\x04\x00\x7e\x00\x00"
    escaped = build_frame(0x0200, PHONE, body, 1)
    inner, _ = unescape(escaped[1:-1])
    plain = b"\x7e" + inner + b"\x7e"
    assert plain != escaped
    (a,) = Jt808Decoder().decode(escaped, RECEIVED)
    (b,) = Jt808Decoder().decode(plain, RECEIVED)
    assert a.attributes == b.attributes
    assert a.attributes["odometer_km"] == pytest.approx(0x007E0000 / 10)


# -- framer --------------------------------------------------------------------------------------------


def _good_frames() -> list[bytes]:
    frames = []
    for vector in VECTORS:
        raw = payload_bytes(vector)
        if raw[:1] != b"\x7e" or frame_check_failed(vector) or 0x7E in raw[1:-1]:
            continue  # the framer sees wire frames only: no raw 7E inside
        frames.append(raw)
    return frames


REAL_FRAMES = _good_frames()
SAMPLE = REAL_FRAMES[:10]
TEXT = b"(794104004140,1,001,BASE,2,TIME)"


def test_there_are_real_frames() -> None:
    assert len(REAL_FRAMES) > 70


def test_each_real_frame_alone() -> None:
    for frame in REAL_FRAMES:
        framer = Jt808Framer()
        assert framer.feed(frame) == [frame]
        assert framer.buffered == 0


def test_concatenated_frames_split_at_every_byte_boundary() -> None:
    assert_split_at_every_byte(Jt808Framer, [*SAMPLE[:4], TEXT, *SAMPLE[4:]])


def test_all_real_frames_byte_by_byte() -> None:
    stream = b"".join(REAL_FRAMES)
    framer = Jt808Framer()
    items = feed_all(framer, chunked(stream, 1))
    assert items == REAL_FRAMES


def test_garbage_and_stray_delimiters_resync() -> None:
    junk1, junk2, junk3 = b"\x00\x01hello", b"\xff\x7e\x00\x11\x7e", b"\x7e"
    stream = junk1 + SAMPLE[0] + junk2 + SAMPLE[1] + junk3 + SAMPLE[2] + b"(no end\x00" + SAMPLE[3]
    framer = Jt808Framer()
    items = framer.feed(stream)
    assert frames_of(items) == SAMPLE[:4]
    assert accounted(items, framer) == stream
    assert {e.reason for e in errors_of(items)} == {"garbage"}


def test_damaged_frame_is_handed_on_for_the_decoder_to_refuse() -> None:
    damaged = bytearray(SAMPLE[0])
    damaged[10] ^= 0x01
    framer = Jt808Framer()
    items = framer.feed(bytes(damaged))
    assert items == []  # waits: junk or a damaged frame? what follows tells
    items = framer.feed(SAMPLE[1])
    assert items == [bytes(damaged), SAMPLE[1]]
    with pytest.raises(DecodeError) as caught:
        Jt808Decoder().decode(bytes(damaged), RECEIVED)
    assert caught.value.reason == DecodeReason.BAD_CHECKSUM


def test_frame_too_long_and_buffer_bound() -> None:
    framer = Jt808Framer(max_frame_size=64)
    items = framer.feed(b"\x7e" + b"\x01" * 100)
    assert [e.reason for e in errors_of(items)] == ["frame_too_long"]
    assert framer.buffered == 0
    items = framer.feed(b"\x7e" + HEARTBEAT_2013)  # the lost frame's end, then a real frame
    assert frames_of(items) == [HEARTBEAT_2013]
    for _ in range(20):
        framer.feed(b"(" + b"a" * 50)
        assert framer.buffered <= 64


def test_flush_reports_partial_frame() -> None:
    framer = Jt808Framer()
    assert framer.feed(HEARTBEAT_2013[:7]) == []
    assert framer.flush() == [FramingError("truncated", HEARTBEAT_2013[:7], "connection ended inside a frame")]


garbage_bytes = st.binary(max_size=30).map(lambda b: b.replace(b"\x7e", b"").replace(b"(", b""))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.integers(min_value=0, max_value=max(len(REAL_FRAMES) - 1, 0)), min_size=1, max_size=6),
    garbage=st.lists(garbage_bytes, min_size=1, max_size=6),
    data=st.data(),
)
def test_random_garbage_without_delimiters_loses_no_frame(
    picks: list[int], garbage: list[bytes], data: st.DataObject
) -> None:
    frames = [REAL_FRAMES[i] for i in picks]
    stream = garbage_stream(frames, garbage)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=8))
    assert_resyncs_after_garbage(Jt808Framer, frames, stream, cuts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(st.binary(max_size=200), max_size=8), picks=st.lists(st.integers(0, 9), max_size=4))
def test_arbitrary_bytes_never_break_the_framer(chunks: list[bytes], picks: list[int]) -> None:
    stream_chunks = [*chunks, *(SAMPLE[i % len(SAMPLE)] for i in picks)]
    assert_every_byte_accounted(Jt808Framer(max_frame_size=512), stream_chunks)


# -- fuzzing: only DecodeError may come out -----------------------------------------------------

MODELS = [None, "AL300", "GL100", "JC371", "MV710G", "C5L", "G-360P", "G1C Pro", "DT800", "VL300"]
HANDLED_TYPES = [
    0x0001, 0x0002, 0x0003, 0x0100, 0x0102, 0x0104, 0x0107, 0x0109, 0x0200, 0x0201, 0x0210, 0x0506, 0x0701,
    0x0702, 0x0704, 0x0900, 0x1007, 0x1300, 0x2070, 0x5501, 0x5502, 0x6006, 0x8888,
]  # fmt: skip


def _decode_all(frame: bytes, model: str | None = None) -> list[DecodedMessage]:
    return fuzz_decode(lambda: Jt808Decoder(device_id=DEVICE_ID, model=model), frame, PROTOCOL)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_all(data)
    _decode_all(b"\x7e" + data + b"\x7e")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message_type=st.sampled_from(HANDLED_TYPES),
    body=st.binary(max_size=200),
    model=st.sampled_from(MODELS),
    version=st.sampled_from([None, 1]),
)
def test_fuzz_well_framed_random_bodies(message_type: int, body: bytes, model: str | None, version: int | None) -> None:
    terminal = PHONE if version is None else bytes(4) + PHONE
    short = message_type in (0x5501, 0x5502)
    _decode_all(build_frame(message_type, terminal, body, 1, version=version, short_serial=short), model)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=max(len(REAL_FRAMES) - 1, 0)), data=st.data())
def test_fuzz_mutated_real_frames(index: int, data: st.DataObject) -> None:
    frame = parse_frame(REAL_FRAMES[index])
    body = mutated(data, frame.body)
    body = body[: data.draw(st.integers(min_value=0, max_value=len(body)))]
    model = data.draw(st.sampled_from(MODELS))
    short = frame.vendor
    rebuilt = build_frame(
        frame.type, frame.terminal_id, bytes(body), frame.serial, version=frame.version, short_serial=short
    )
    _decode_all(rebuilt, model)  # well framed, mutated body
    raw = bytearray(REAL_FRAMES[index])
    raw[data.draw(st.integers(1, len(raw) - 2))] ^= data.draw(st.integers(1, 255))
    _decode_all(bytes(raw), model)  # the XOR now usually fails


# -- simulated device and round trip --------------------------------------------------------------

phones = st.from_regex(r"1[0-9]{10}", fullmatch=True)
times = utc_times(2001, 2098)


@settings(max_examples=200, deadline=None)
@given(
    phone=phones,
    time_utc=times,
    latitude=LATITUDES,
    longitude=LONGITUDES,
    speed=st.floats(min_value=0, max_value=300, allow_nan=False),
    heading=st.integers(min_value=0, max_value=359),
    satellites=st.integers(min_value=0, max_value=40),
    valid=st.booleans(),
    ignition=st.booleans(),
    alarm=st.sampled_from([None, *sorted(jt808.ALARM_BITS)]),
)
def test_encoder_framer_decoder_round_trip(
    phone: str,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed: float,
    heading: int,
    satellites: int,
    valid: bool,
    ignition: bool,
    alarm: str | None,
) -> None:
    time_utc = time_utc.replace(microsecond=0)
    encoder = Jt808Encoder(phone)
    fix = FixToSend(
        time_utc=time_utc,
        latitude=latitude,
        longitude=longitude,
        speed_kmh=speed,
        heading_deg=heading,
        satellites=satellites,
        valid=valid,
        ignition=ignition,
        alarm=alarm,
    )
    login, location, beat = encoder.login(), encoder.location(fix), encoder.heartbeat()
    framer = Jt808Framer()
    frames = framer.feed(login + location + beat)
    assert frames == [login, location, beat]
    decoder = Jt808Decoder()
    decoded = [decoder.decode(f, RECEIVED) for f in (login, location, beat)]
    (m_login,), (m_location,), (m_beat,) = decoded
    assert (m_login.kind, m_location.kind, m_beat.kind) == ("login", "location", "heartbeat")
    for message, frame in zip((m_login, m_location, m_beat), (login, location, beat), strict=True):
        assert message.device_id == phone
        assert encoder.awaits_response(message.kind)
        assert message.response is not None
        sent = parse_frame(frame)
        assert parse_frame(message.response).body == sent.serial.to_bytes(2) + sent.type.to_bytes(2) + b"\x00"
    position = m_location.position
    assert position is not None
    assert position.time_utc == time_utc
    assert position.latitude == pytest.approx(latitude, abs=1e-5)
    assert position.longitude == pytest.approx(longitude, abs=1e-5)
    assert position.speed_kmh == pytest.approx(speed, abs=0.051)
    assert position.heading_deg == heading
    assert position.satellites == satellites
    assert position.valid is valid
    assert position.attributes["ignition"] is ignition
    assert position.attributes.get("alarm") == alarm


def test_encoder_register_imei_and_ids() -> None:
    imei = "865478070102068"
    encoder = Jt808Encoder(imei)
    (registration,) = Jt808Decoder().decode(encoder.register(), RECEIVED)
    assert (registration.kind, registration.device_id) == ("login", imei)
    assert registration.response is not None
    assert parse_frame(registration.response).type == 0x8100
    t = datetime(2026, 8, 30, 11, 59, tzinfo=UTC)
    fix = FixToSend(time_utc=t, latitude=41.6771, longitude=26.5557, speed_kmh=72.0, heading_deg=181, odometer_km=5.5)
    (location,) = Jt808Decoder().decode(encoder.location(fix), RECEIVED)
    assert location.position is not None
    assert location.position.attributes["odometer_km"] == pytest.approx(5.5)
    assert encoder.serial == 2
    with pytest.raises(ValueError, match="come back"):
        Jt808Encoder("0123")


# -- registry ------------------------------------------------------------------------------------------


def test_registry() -> None:
    spec = protocols.get("jt808")
    assert protocols.get("huabao") is spec
    assert protocols.get(" HUABAO ") is spec
    assert (spec.name, spec.default_port, spec.transports, spec.payload, spec.aliases) == (
        "jt808",
        5015,
        ("tcp", "udp"),
        "binary",
        ("huabao",),
    )
    assert isinstance(spec.decoder_factory(device_id=DEVICE_ID), Jt808Decoder)
    assert spec.framer_factory is not None
    assert isinstance(spec.framer_factory(), Jt808Framer)
    assert spec.encoder_factory is not None
    assert isinstance(spec.encoder_factory("13511221122"), Jt808Encoder)


def test_parameters_text_reports_and_transparent_alarms() -> None:
    decoder = Jt808Decoder()
    params = (
        (0x0102).to_bytes(2)
        + b"\x03"
        + (0x0001).to_bytes(4)
        + b"\x04"
        + (30).to_bytes(4)
        + (0x0013).to_bytes(4)
        + b"\x09"
        + b"127.0.0.1"
        + (0x0080).to_bytes(4)
        + b"\x04"
        + (12345).to_bytes(4)
    )
    (reply,) = decoder.decode(build_frame(0x0104, PHONE, params, 1), RECEIVED)
    assert (reply.kind, reply.response) == ("info", None)
    assert reply.attributes["heartbeat_interval_s"] == 30
    assert reply.attributes["server"] == "127.0.0.1"
    assert reply.attributes["odometer_km"] == pytest.approx(1234.5)
    (text,) = decoder.decode(build_frame(0x6006, PHONE, b"\x01" + "电压正常".encode("gbk"), 2), RECEIVED)
    assert (text.kind, text.attributes["result"]) == ("command_reply", "电压正常")
    assert text.response is not None
    coordinates = (2 | 4).to_bytes(4) + (33_500_000).to_bytes(4) + (70_250_000).to_bytes(4)  # valid, south
    alarm_body = b"\xf0" + bytes.fromhex("260830200000") + b"\x00\x00\x03" + b"\x01\x25\x00" + coordinates
    (alarm,) = decoder.decode(build_frame(0x0900, PHONE, alarm_body, 3), RECEIVED)
    assert alarm.kind == "alarm"
    assert alarm.attributes["alarm"] == "overspeed"
    assert alarm.position is not None
    assert (alarm.position.latitude, alarm.position.longitude) == (-33.5, 70.25)
    assert alarm.position.time_utc == datetime(2026, 8, 30, 12, 0, 0, tzinfo=UTC)
    (unknown,) = decoder.decode(build_frame(0x0900, PHONE, b"\x99abc", 4), RECEIVED)
    assert unknown.attributes["transparent_type"] == 0x99
    assert unknown.attributes["payload_hex"] == b"abc".hex()

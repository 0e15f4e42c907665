"""TK103 (Xexun/Coban TK103 and their clones, ``(...)`` frames): decoder, stream framer, device encoder.

Modelled on traccar's ``Tk103ProtocolDecoder`` (layouts, alarm codes, the replies it sends); the
parsing is our own.  Coban's ``imei:...;`` frames are traccar's GPS103 protocol, not this one.

Frames
------
ASCII text in parentheses.  Two header styles:

* *compact*: ``(<id><command><content>)``, the id (12 digits on the original TK103; any number of
  digits is accepted) directly followed by a 4-character command such as ``BR00``;
* *comma*: ``(<id>,<command>,<content>)``, as sent by later models (``DW30``, ``ZC20``, ...).

A location content is ``<date>[,]<A|V>[,]<lat>N[,]<lon>E[,]<speed km/h>[,]<hhmmss>[,]<course>``,
then, on the original TK103, ``<charge><ignition><io><io><io><fuel(3 hex)>L<odometer(hex, m)>``
and sometimes a temperature ``+ddd.d``.  The date is ``yymmdd`` in compact frames and ``ddmmyy``
where a comma precedes it (traccar's rule).  Comma frames may end with ``,<altitude>,<satellites>``
or ``,<status(8)>,L<odometer>``.  Whatever precedes the date is the command's data: the alarm digit
of ``BO01``, the event of ``BQ81``, the IMEI of ``BP05``.  Times are UTC.

Commands
--------
``BP00`` handshake (kind ``heartbeat``), answered ``(<id>AP01HSO)``; ``BP05`` login with a fix or
cells (kind ``login``), answered ``(<id>AP05)`` (both in the compact style only: traccar reads the
command at a fixed offset and so answers no comma frame); ``BR00``/``BR01``/``BR02``/``BP04``/
``ZCnn``/``DW3n``... locations; ``BO01`` alarms (1 accident, 2 sos, 3 vibration, 4 low speed,
5 overspeed, 6 geofence exit); ``BQ81`` events (0 low battery, 1 overspeed, 2 idle, 3 hard
acceleration, 4 hard braking, 5 temperature);
``ZC11/DW31/DW51`` movement, ``ZC12/DW32/DW52`` low battery, ``ZC13/DW33/DW53`` power cut,
``ZC15/DW35/DW55`` and ``ZC29/DW42/DW62`` ignition on, ``ZC16/DW36/DW56`` ignition off,
``ZC17/DW37/DW57`` removing, ``ZC25/DW3E/DW5E`` sos, ``ZC26/DW3F/DW5F`` tampering,
``ZC27/DW40/DW60`` low power; ``ZC20`` battery report; ``BZ00`` serving cells (hex
``mcc,mnc,lac,cid`` or ``{mcc,mnc,lac,cid}`` lists); ``DW5n`` cell + WiFi reports; ``ZC03`` command
replies (``$text$``); ``BV00`` the VIN; ``BS50``/``BS51`` battery-management (BMS) data.

A message has a ``position`` only when its frame carries a fix; cell, battery and BMS reports (which
traccar fills from the last known position) come without one.  A location frame whose fix is
``V`` (no GPS) and whose date is impossible (``000007``) is reported as ``status`` without a
position; an ``A`` fix with an impossible date raises ``invalid_time`` (traccar's lenient calendar
rolls month 18 into the next year; we do not).

Refusals
--------
``bad_start_bytes`` / ``bad_stop_bytes`` (no ``(`` / ``)``), ``malformed`` (a known command whose
content does not parse), ``unknown_message_type`` (a command this decoder does not read, e.g.
``BQ86``, which traccar drops too), ``invalid_device_id``, ``invalid_time``, ``invalid_coordinates``.

Framing (:class:`Tk103Framer`)
------------------------------
A frame runs from ``(`` to the next ``)`` that is not inside ``$...$`` free text (as traccar's
frame decoder counts ``$``).  CR/LF between frames are dropped silently; other bytes outside a frame
are reported as garbage; a ``(`` before the ``)`` starts a new frame (the bytes before it are
reported ``truncated``).

Attributes
----------
============================  ==================================================================
``message_type``              str, the command (``BR00``, ...)
``alarm``                     str: ``accident``, ``sos``, ``vibration``, ``low_speed``,
                              ``overspeed``, ``geofence_exit``, ``low_battery``, ``idle``,
                              ``hard_acceleration``, ``hard_braking``, ``temperature``, ``movement``,
                              ``power_cut``, ``removing``, ``tampering``, ``low_power``
``ignition`` ``charge``       bool (charge: main power connected)
``in2`` ``out2`` ``panic``    bool, I/O of the original TK103 status field
``blocked`` ``door``          bool, set when active
``hs1``-``hs3`` ``ls1``-``ls3``  bool, high/low level sensors, set when active
``fuel_level``                float, as reported (hex reading)
``odometer_km``               float
``temp1_c``                   float
``battery_level``             int, percent (ZC20 grades 2-6 scaled as traccar does)
``battery_v`` ``power_v``     float, ZC20 battery and external power voltages
``mcc`` ``mnc`` ``lac``       int, serving (first) cell
``cell_id``                   int
``cell_count`` ``wifi_count`` int
``result``                    str, command reply text (ZC03)
``vin``                       str, vehicle identification number (BV00)
``device_time``               str, ISO time of a report without a fix
``bms_*``                     battery-management values: ``bms_cell_count``, ``bms_cell<n>_v``,
                              ``bms_temp_count``, ``bms_temp<n>_c``, ``bms_power_board_temp_c``,
                              ``bms_balance_temp_c`` (BS50); ``bms_voltage_v``, ``bms_current_a``,
                              ``bms_soc_pct``, ``bms_cell_max_v``, ``bms_cell_max_index``,
                              ``bms_cell_min_v``, ``bms_cell_min_index``, ``bms_temp_max_c``,
                              ``bms_temp_min_c``, ``bms_state`` (0 idle, 1 charging, 2 discharging),
                              ``bms_charge_mos``, ``bms_discharge_mos``, ``bms_life_cycles``,
                              ``bms_remaining_mah``, ``bms_cycles``, ``bms_balance_hex``,
                              ``bms_faults_hex`` (BS51, keyed records ``90:`` ... ``98:``)
============================  ==================================================================

BS50 frames are hex: length (2), ``FF``, cell count, 24 cell voltages (uint16 LE, mV), 20 bytes this
decoder does not interpret (state, current, capacity, alarms), the temperature count, power-board and
balance temperatures, then the battery temperatures (each byte - 40 degC).  The layout is inferred
from the one traccar vector (whose second battery temperature traccar asserts); other ``BS50``
frame types are refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Final

from cedetect.models import AttributeValue
from cedetect.protocols.attributes import Alarm
from cedetect.protocols.base import (
    DecodedMessage,
    DecodeError,
    DecodeReason,
    DeviceEncoder,
    FixToSend,
    FramingError,
    ProtocolDecoder,
    ProtocolSpec,
    StepFramer,
    make_position,
)
from cedetect.protocols.common import datetime_2000, ddmm_minutes, parse_float, parse_int

PROTOCOL: Final = "tk103"
DEFAULT_MAX_FRAME_SIZE: Final = 1024

_HEAD_COMPACT = re.compile(r"(?P<id>\d+)(?P<cmd>[A-Z]{2}[0-9A-Z]{2})(?P<rest>.*)", re.DOTALL)
_HEAD_COMMA = re.compile(r"(?P<id>[^,]+),(?P<cmd>[^,]{4}),?(?P<rest>.*)", re.DOTALL)
_HEAD_FIXED = re.compile(r"(?P<id>.{12})(?P<cmd>.{4})(?P<rest>.*)", re.DOTALL)

_HEX = "[0-9A-Fa-f]"
_LOCATION = re.compile(
    r"(?P<pre>.*?)"
    r"(?P<d1>\d\d)(?P<d2>\d\d)(?P<d3>\d\d),?"
    r"(?P<validity>[AV]),?"
    r" *(?P<lat_d>\d*)(?P<lat_m>\d\d\.\d+)(?P<lat_h>[NS]),?"
    r" *(?P<lon_d>\d*)(?P<lon_m>\d\d\.\d+)(?P<lon_h>[EW]),?"
    r"(?P<speed>[ \d.]{1,5})(?:\d*,)?"
    r"(?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d),?"
    r"(?:(?:(?P<course6>[ \d.]{6})|(?P<course2>\d\d)),?"
    rf"(?P<status>[01][01]{_HEX}{_HEX}{_HEX}{_HEX}{{3}})L(?P<odometer>{_HEX}+)"
    r"|(?P<course>\d+\.\d+))"
    r"(?P<tail>.*?)"
    r"(?P<temp>[+-]\d{3}\.\d)?",
    re.DOTALL,
)
_TAIL_ALTITUDE = re.compile(r",(?P<alt>-?\d+(?:\.\d+)?),(?P<sat>\d+)(?:,.*)?", re.DOTALL)
_TAIL_STATUS = re.compile(rf",(?P<status>[01][01]{_HEX}{{6}}),L(?P<odometer>{_HEX}+).*", re.DOTALL)
_ALARM_PREFIX = re.compile(r",?ALARM,(?P<alarm>\d),\d+,")
_BATTERY = re.compile(
    r"(?P<dd>\d\d)(?P<mo>\d\d)(?P<yy>\d\d),(?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d),"
    r"(?P<level>\d+),(?P<battery>\d+),(?P<power>\d+),\d+.*",
    re.DOTALL,
)
_NETWORK_HEX = re.compile(rf",?(?P<mcc>\d+),(?P<mnc>\d+),(?P<lac>{_HEX}+),(?P<cid>{_HEX}+)(?:,.*)?", re.DOTALL)
_CELL = re.compile(r"\{(?P<mcc>\d+),(?P<mnc>\d+),(?P<lac>\d+),(?P<cid>\d+)\}")
_LBS_WIFI = re.compile(
    r"(?P<mcc>\d+),(?P<mnc>\d+),(?P<lac>\d+),(?P<cid>\d+),(?P<count>\d+),"
    rf"(?P<wifi>(?:(?:{_HEX}{{2}}:){{5}}{_HEX}{{2}}\*[-+]?\d+\*\d+,)*)"
    r"(?P<dd>\d\d)(?P<mo>\d\d)(?P<yy>\d\d),(?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d).*",
    re.DOTALL,
)
_COMMAND_RESULT = re.compile(
    r"(?P<dd>\d\d)(?P<mo>\d\d)(?P<yy>\d\d),(?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d),\$(?P<text>.*?)(?:\$|$).*",
    re.DOTALL,
)
_VIN = re.compile(r"[0-9A-Za-z]{17}")

#: BO01 alarm digits.
BO01_ALARMS: Final[dict[int, str]] = {
    1: Alarm.ACCIDENT.value,
    2: Alarm.SOS.value,
    3: Alarm.VIBRATION.value,
    4: Alarm.LOW_SPEED.value,
    5: Alarm.OVERSPEED.value,
    6: Alarm.GEOFENCE_EXIT.value,
}
#: BQ81 event digits.
BQ81_ALARMS: Final[dict[int, str]] = {
    0: Alarm.LOW_BATTERY.value,
    1: Alarm.OVERSPEED.value,
    2: Alarm.IDLE.value,
    3: Alarm.HARD_ACCELERATION.value,
    4: Alarm.HARD_BRAKING.value,
    5: Alarm.TEMPERATURE.value,
}


def _command_table() -> dict[str, dict[str, AttributeValue]]:
    table: dict[str, dict[str, AttributeValue]] = {}
    groups: list[tuple[tuple[str, ...], dict[str, AttributeValue]]] = [
        (("ZC11", "DW31", "DW51"), {"alarm": Alarm.MOVEMENT.value}),
        (("ZC12", "DW32", "DW52"), {"alarm": Alarm.LOW_BATTERY.value}),
        (("ZC13", "DW33", "DW53"), {"alarm": Alarm.POWER_CUT.value}),
        (("ZC15", "DW35", "DW55", "ZC29", "DW42", "DW62"), {"ignition": True}),
        (("ZC16", "DW36", "DW56"), {"ignition": False}),
        (("ZC17", "DW37", "DW57"), {"alarm": Alarm.REMOVING.value}),
        (("ZC25", "DW3E", "DW5E"), {"alarm": Alarm.SOS.value}),
        (("ZC26", "DW3F", "DW5F"), {"alarm": Alarm.TAMPERING.value}),
        (("ZC27", "DW40", "DW60"), {"alarm": Alarm.LOW_POWER.value}),
    ]
    for commands, attributes in groups:
        for command in commands:
            table[command] = attributes
    return table


#: What the command itself says (traccar's ``decodeType``), for the commands that say something.
COMMAND_ATTRIBUTES: Final = _command_table()

#: Commands whose content is a location layout (a garbled one is ``malformed``, not unknown).
_LOCATION_COMMANDS: Final = frozenset({"BR00", "BR01", "BR02", "BR05", "BO01", "BP04", "BP02", "BQ81", "BP05"})


def _is_location_command(command: str) -> bool:
    return command in _LOCATION_COMMANDS or command in COMMAND_ATTRIBUTES or command[:3] in ("DW3", "ZC0", "ZC1")


# -- small parsers ----------------------------------------------------------------------------------


def _device_time(match: re.Match[str]) -> dict[str, AttributeValue]:
    """``device_time`` (``dd mo yy hh mi ss`` groups) of a report without a fix; left out when impossible."""
    try:
        time = datetime_2000(*(int(match[key]) for key in ("yy", "mo", "dd", "hh", "mi", "ss")))
    except DecodeError:
        return {}
    return {"device_time": time.isoformat()}


def _coordinate(degrees: str, minutes: str, hemisphere: str) -> float:
    value = (parse_int(degrees, "degrees") if degrees.strip() else 0) + parse_float(minutes, "minutes") / 60
    return -value if hemisphere in ("S", "W") else value


def _status_attributes(status: str, odometer: str) -> dict[str, AttributeValue]:
    """The 8-character status field of the original TK103 (``C I io io io fuel``) and its odometer."""
    attributes: dict[str, AttributeValue] = {"charge": status[0] == "0", "ignition": status[1] == "1"}
    mask1, mask2, mask3 = (int(status[index], 16) for index in (2, 3, 4))
    attributes["in2"] = bool(mask1 & 0x1)
    attributes["panic"] = bool(mask1 & 0x2)
    attributes["out2"] = bool(mask1 & 0x4)
    if mask1 & 0x8:
        attributes["blocked"] = True
    for bit in range(3):
        if mask2 >> bit & 1:
            attributes[f"hs{3 - bit}"] = True
    if mask2 & 0x8:
        attributes["door"] = True
    for bit in range(1, 4):
        if mask3 >> bit & 1:
            attributes[f"ls{4 - bit}"] = True
    attributes["fuel_level"] = float(int(status[5:8], 16))
    attributes["odometer_km"] = int(odometer, 16) / 1000
    return attributes


def _data_alarm(command: str, data: str) -> str | None:
    """The alarm in what precedes the date: ``,ALARM,<n>,<m>,``, the BO01 digit or the BQ81 event."""
    prefixed = _ALARM_PREFIX.fullmatch(data)
    data = data.strip(",")
    if prefixed is not None:
        return BO01_ALARMS.get(int(prefixed["alarm"]))
    if command == "BO01" and data[:1].isdigit():
        return BO01_ALARMS.get(int(data[0]))
    if command == "BQ81" and data.isdigit():
        return BQ81_ALARMS.get(int(data))
    return None


def _battery_grade(value: int) -> int | None:
    return {6: 100, 5: 80, 4: 50, 3: 20, 2: 10}.get(value)


def _cells(rest: str) -> dict[str, AttributeValue]:
    cells = _CELL.findall(rest)
    if not cells:
        return {}
    mcc, mnc, lac, cid = (int(value) for value in cells[0])
    return {"mcc": mcc, "mnc": mnc, "lac": lac, "cell_id": cid, "cell_count": len(cells)}


# -- BMS ----------------------------------------------------------------------------------------------


def _hex_bytes(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise DecodeError(DecodeReason.MALFORMED, f"{what} is not hex") from None


#: Offset of the first battery temperature in a BS50 cell report: length (2), type, cell count,
#: 24 cell voltages (48), 20 bytes not interpreted, temperature count, power-board and balance temperatures.
_BS50_TEMPS: Final = 2 + 1 + 1 + 48 + 20 + 3


def _bms_bs50(rest: str) -> dict[str, AttributeValue]:
    data = _hex_bytes(rest, "BS50 content")
    if len(data) < 3:
        raise DecodeError(DecodeReason.TRUNCATED, "BS50 content shorter than its header")
    if data[2] != 0xFF:
        raise DecodeError(DecodeReason.UNKNOWN_MESSAGE_TYPE, f"BS50 frame type 0x{data[2]:02X}")
    if len(data) < _BS50_TEMPS:
        raise DecodeError(
            DecodeReason.TRUNCATED, f"BS50 cell report of {len(data)} bytes, the layout needs {_BS50_TEMPS}"
        )
    attributes: dict[str, AttributeValue] = {}
    cell_count = min(data[3], 24)
    attributes["bms_cell_count"] = data[3]
    for index in range(cell_count):
        millivolts = int.from_bytes(data[4 + 2 * index : 6 + 2 * index], "little")
        attributes[f"bms_cell{index + 1}_v"] = millivolts / 1000
    temp_count = data[_BS50_TEMPS - 3]
    attributes["bms_temp_count"] = temp_count
    attributes["bms_power_board_temp_c"] = data[_BS50_TEMPS - 2] - 40
    attributes["bms_balance_temp_c"] = data[_BS50_TEMPS - 1] - 40
    for index in range(min(temp_count, 7, len(data) - _BS50_TEMPS)):
        attributes[f"bms_temp{index + 1}_c"] = data[_BS50_TEMPS + index] - 40
    return attributes


def _bms_bs51(rest: str) -> dict[str, AttributeValue]:
    """Keyed records ``90:<hex>,91:<hex>,...`` (the Daly BMS data ids)."""
    records: dict[str, bytes] = {}
    for item in rest.split(","):
        key, _, value = item.partition(":")
        if not value:
            raise DecodeError(DecodeReason.MALFORMED, f"BS51 record {item!r} is not <id>:<hex>")
        records[key.strip()] = _hex_bytes(value, f"BS51 record {key}")
    attributes: dict[str, AttributeValue] = {}

    def record(key: str, size: int) -> bytes | None:
        data = records.get(key)
        if data is None:
            return None
        if len(data) < size:
            raise DecodeError(DecodeReason.TRUNCATED, f"BS51 record {key} has {len(data)} bytes, needs {size}")
        return data

    def u16(data: bytes, at: int) -> int:
        return int.from_bytes(data[at : at + 2])

    if (soc := record("90", 8)) is not None:
        attributes["bms_voltage_v"] = round(u16(soc, 0) * 0.1, 1)
        attributes["bms_current_a"] = round((u16(soc, 4) - 30000) * 0.1, 1)
        attributes["bms_soc_pct"] = round(u16(soc, 6) * 0.1, 1)
    if (cells := record("91", 6)) is not None:
        attributes["bms_cell_max_v"] = u16(cells, 0) / 1000
        attributes["bms_cell_max_index"] = cells[2]
        attributes["bms_cell_min_v"] = u16(cells, 3) / 1000
        attributes["bms_cell_min_index"] = cells[5]
    if (temps := record("92", 4)) is not None:
        attributes["bms_temp_max_c"] = temps[0] - 40
        attributes["bms_temp_min_c"] = temps[2] - 40
    if (state := record("93", 8)) is not None:
        attributes["bms_state"] = state[0]
        attributes["bms_charge_mos"] = bool(state[1])
        attributes["bms_discharge_mos"] = bool(state[2])
        attributes["bms_life_cycles"] = state[3]
        attributes["bms_remaining_mah"] = int.from_bytes(state[4:8])
    cell_count = temp_count = None
    if (info := record("94", 7)) is not None:
        cell_count, temp_count = info[0], info[1]
        attributes["bms_cell_count"] = cell_count
        attributes["bms_temp_count"] = temp_count
        attributes["bms_cycles"] = u16(info, 5)
    if (voltages := record("95", 8)) is not None:
        for at in range(0, len(voltages) - 7, 8):
            frame_number = voltages[at]
            for slot in range(3):
                cell = (frame_number - 1) * 3 + slot + 1
                if cell >= 1 and (cell_count is None or cell <= cell_count):
                    attributes[f"bms_cell{cell}_v"] = u16(voltages, at + 1 + 2 * slot) / 1000
    if (sensors := record("96", 8)) is not None:
        for at in range(0, len(sensors) - 7, 8):
            frame_number = sensors[at]
            for slot in range(7):
                sensor = (frame_number - 1) * 7 + slot + 1
                if sensor >= 1 and (temp_count is None or sensor <= temp_count):
                    attributes[f"bms_temp{sensor}_c"] = sensors[at + 1 + slot] - 40
    if (balance := records.get("97")) is not None:
        attributes["bms_balance_hex"] = balance.hex()
    if (faults := records.get("98")) is not None:
        attributes["bms_faults_hex"] = faults.hex()
    return attributes


# -- decoder ----------------------------------------------------------------------------------------


class Tk103Decoder(ProtocolDecoder):
    """Decodes the ``(...)`` frames of one TK103 connection (see the module docstring).  Every frame
    names its device."""

    protocol: ClassVar[str] = PROTOCOL

    def decode(self, frame: bytes, received_utc: datetime) -> list[DecodedMessage]:
        try:
            return [self._decode(bytes(frame), received_utc)]
        except DecodeError as exc:
            raise exc.with_raw(frame) from None

    def _decode(self, frame: bytes, received_utc: datetime) -> DecodedMessage:
        sentence = frame.decode("latin-1").strip()
        if not sentence.startswith("("):
            raise DecodeError(DecodeReason.BAD_START_BYTES, "a TK103 frame starts with '('")
        if not sentence.endswith(")") or len(sentence) < 2:
            raise DecodeError(DecodeReason.BAD_STOP_BYTES, "a TK103 frame ends with ')'")
        body = sentence[1:-1]
        comma = False
        head = _HEAD_COMPACT.fullmatch(body)
        if head is None:
            head = _HEAD_COMMA.fullmatch(body)
            comma = head is not None
        if head is None:
            head = _HEAD_FIXED.fullmatch(body)
        if head is None:
            raise DecodeError(DecodeReason.MALFORMED, "no device id and command")
        device_id = self._set_device_id(head["id"].strip())
        command, rest = head["cmd"], head["rest"]
        context = _Frame(device_id, command, rest, comma, frame, received_utc)

        if command == "BP00":
            response = None if comma else f"({device_id}AP01HSO)".encode("latin-1")
            return DecodedMessage("heartbeat", device_id, None, response, frame, {"message_type": command})
        if command == "BP05":
            return self._login(context)
        if command == "ZC20":
            return self._battery(context)
        if command == "BZ00":
            return self._network(context)
        if command == "ZC03":
            return self._command_result(context)
        if command.startswith("DW5"):
            return self._lbs_wifi(context)
        if command == "BV00":
            return self._vin(context)
        if command in ("BS50", "BS51"):
            attributes = _bms_bs50(rest) if command == "BS50" else _bms_bs51(rest)
            return self._report("status", context, attributes)
        message = self._location(context)
        if message is not None:
            return message
        if _is_location_command(command):
            raise DecodeError(DecodeReason.MALFORMED, f"{command} content does not follow the location layout")
        raise DecodeError(DecodeReason.UNKNOWN_MESSAGE_TYPE, f"command {command!r}")

    @staticmethod
    def _report(
        kind: str, context: _Frame, attributes: dict[str, AttributeValue], response: bytes | None = None
    ) -> DecodedMessage:
        return DecodedMessage(
            kind, context.device_id, None, response, context.raw, {"message_type": context.command, **attributes}
        )

    def _login(self, context: _Frame) -> DecodedMessage:
        response = None if context.comma else f"({context.device_id}AP05)".encode("latin-1")
        message = self._location(context, kind="login", response=response)
        if message is not None:
            return message
        return self._report("login", context, _cells(context.rest), response)

    def _battery(self, context: _Frame) -> DecodedMessage:
        match = _BATTERY.fullmatch(context.rest)
        if match is None:
            raise DecodeError(DecodeReason.MALFORMED, "ZC20 is date,time,level,battery,power,installed")
        attributes = _device_time(match)
        level = parse_int(match["level"], "battery level")
        if level != 255 and (grade := _battery_grade(level)) is not None:
            attributes["battery_level"] = grade
        battery = parse_int(match["battery"], "battery voltage")
        if battery != 65535:
            attributes["battery_v"] = round(battery * 0.01, 2)
        power = parse_int(match["power"], "power voltage")
        if power != 65535:
            attributes["power_v"] = round(power * 0.1, 1)
        return self._report("status", context, attributes)

    def _network(self, context: _Frame) -> DecodedMessage:
        attributes = _cells(context.rest)
        if not attributes:
            match = _NETWORK_HEX.fullmatch(context.rest)
            if match is None:
                raise DecodeError(DecodeReason.MALFORMED, "BZ00 is mcc,mnc,lac,cid or {mcc,mnc,lac,cid} cells")
            attributes = {
                "mcc": parse_int(match["mcc"], "mcc"),
                "mnc": parse_int(match["mnc"], "mnc"),
                "lac": parse_int(match["lac"], "lac", 16),
                "cell_id": parse_int(match["cid"], "cell id", 16),
            }
        return self._report("lbs", context, attributes)

    def _command_result(self, context: _Frame) -> DecodedMessage:
        match = _COMMAND_RESULT.fullmatch(context.rest)
        if match is None:
            raise DecodeError(DecodeReason.MALFORMED, "ZC03 is date,time,$text$")
        return self._report("command_reply", context, {**_device_time(match), "result": match["text"]})

    def _lbs_wifi(self, context: _Frame) -> DecodedMessage:
        match = _LBS_WIFI.fullmatch(context.rest)
        if match is None:
            located = self._location(context)  # the same event codes also come with a fix
            if located is not None:
                return located
            raise DecodeError(DecodeReason.MALFORMED, f"{context.command} is mcc,mnc,lac,cid,count,wifi...,date,time")
        attributes: dict[str, AttributeValue] = dict(COMMAND_ATTRIBUTES.get(context.command, {}))
        attributes.update(
            {
                "mcc": parse_int(match["mcc"], "mcc"),
                "mnc": parse_int(match["mnc"], "mnc"),
                "lac": parse_int(match["lac"], "lac"),
                "cell_id": parse_int(match["cid"], "cell id"),
                "wifi_count": len([ap for ap in match["wifi"].split(",") if ap]),
                **_device_time(match),
            }
        )
        return self._report("alarm" if "alarm" in attributes else "lbs", context, attributes)

    def _vin(self, context: _Frame) -> DecodedMessage:
        if not _VIN.fullmatch(context.rest):
            raise DecodeError(DecodeReason.MALFORMED, "BV00 carries a 17-character VIN")
        return self._report("info", context, {"vin": context.rest})

    def _location(
        self, context: _Frame, *, kind: str = "location", response: bytes | None = None
    ) -> DecodedMessage | None:
        match = _LOCATION.fullmatch(context.rest)
        if match is None:
            return None
        command = context.command
        attributes: dict[str, AttributeValue] = {"message_type": command}
        attributes.update(COMMAND_ATTRIBUTES.get(command, {}))
        pre = match["pre"]
        alarm = _data_alarm(command, pre)
        if alarm is not None:
            attributes["alarm"] = alarm

        d1, d2, d3 = (int(match[key]) for key in ("d1", "d2", "d3"))
        day_first = context.comma or "," in pre
        year, month, day = (d3, d2, d1) if day_first else (d1, d2, d3)
        valid = match["validity"] == "A"
        hour, minute, second = (int(match[key]) for key in ("hh", "mi", "ss"))

        altitude = satellites = None
        if match["status"] is not None:
            course = parse_float(match["course6"] or match["course2"], "course")
            attributes.update(_status_attributes(match["status"], match["odometer"]))
        else:
            course = parse_float(match["course"], "course")
            tail = match["tail"]
            if (extra := _TAIL_STATUS.fullmatch(tail)) is not None:
                attributes.update(_status_attributes(extra["status"], extra["odometer"]))
            elif (extra := _TAIL_ALTITUDE.fullmatch(tail)) is not None:
                altitude = parse_float(extra["alt"], "altitude")
                satellites = min(parse_int(extra["sat"], "satellites"), 255)
        if match["temp"] is not None:
            attributes["temp1_c"] = parse_float(match["temp"], "temperature")

        try:
            time_utc = datetime_2000(year, month, day, hour, minute, second)
        except DecodeError:
            if valid:
                raise
            # no GPS fix and no clock: the frame still reports the device's state
            return DecodedMessage("status", context.device_id, None, response, context.raw, attributes)

        if kind == "location" and "alarm" in attributes:
            kind = "alarm"
        position = make_position(
            device_id=context.device_id,
            protocol=PROTOCOL,
            time_utc=time_utc,
            received_utc=context.received_utc,
            latitude=_coordinate(match["lat_d"], match["lat_m"], match["lat_h"]),
            longitude=_coordinate(match["lon_d"], match["lon_m"], match["lon_h"]),
            speed_kmh=parse_float(match["speed"], "speed"),
            heading_deg=0.0 if course == 360.0 else course,
            valid=valid,
            altitude_m=altitude,
            satellites=satellites,
            attributes=attributes,
        )
        return DecodedMessage(kind, context.device_id, position, response, context.raw, dict(position.attributes))


@dataclass(frozen=True, slots=True)
class _Frame:
    """One frame split into its parts, with what decoding it needs."""

    device_id: str
    command: str
    rest: str
    comma: bool
    raw: bytes
    received_utc: datetime


# -- framer -----------------------------------------------------------------------------------------


class Tk103Framer(StepFramer):
    """Frames ``(...)`` TK103 messages out of a TCP stream (see the module docstring)."""

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size=max(max_frame_size, 2))

    def _take(self, out: list[bytes | FramingError], count: int, reason: str | None = None, detail: str = "") -> None:
        chunk = bytes(self._buffer[:count])
        del self._buffer[:count]
        out.append(chunk if reason is None else FramingError(reason, chunk, detail))

    def _step(self, out: list[bytes | FramingError]) -> bool:
        buf = self._buffer
        blank = 0
        while blank < len(buf) and buf[blank] in (0x0D, 0x0A):
            blank += 1
        if blank:
            del buf[:blank]
        if not buf:
            return False
        start = buf.find(b"(")
        if start < 0:
            self._take(out, len(buf), "garbage", "no '('")
            return False
        if start > 0:
            self._take(out, start, "garbage", "bytes before '('")
            return True
        dollars = 0
        for index in range(1, min(len(buf), self.max_frame_size)):
            byte = buf[index]
            if byte == 0x24:  # '$' opens or closes free text
                dollars += 1
            elif dollars % 2 == 0 and byte == 0x29:  # ')'
                self._take(out, index + 1)
                return True
            elif dollars % 2 == 0 and byte == 0x28:  # '(' before ')': the frame was cut short
                self._take(out, index, "truncated", "a new frame starts before ')'")
                return True
        if len(buf) >= self.max_frame_size:
            following = buf.find(b"(", 1)
            count = following if following > 0 else len(buf)
            self._take(out, count, "frame_too_long", f"no ')' within {self.max_frame_size} bytes")
            return True
        return False


# -- frame builders and the simulated device ------------------------------------------------------


def location_content(
    *,
    time_utc: datetime,
    latitude: float,
    longitude: float,
    speed_kmh: float,
    heading_deg: float,
    valid: bool,
    ignition: bool,
    odometer_km: float | None = None,
) -> str:
    """The compact location content: ``yymmdd A lat N lon E speed hhmmss course status L odometer``."""
    t = time_utc.astimezone(UTC)
    course = round(heading_deg, 2) % 360
    odometer = round((odometer_km or 0.0) * 1000)
    return (
        t.strftime("%y%m%d")
        + ("A" if valid else "V")
        + ddmm_minutes(latitude, 2)
        + ("S" if latitude < 0 else "N")
        + ddmm_minutes(longitude, 3)
        + ("W" if longitude < 0 else "E")
        + f"{min(speed_kmh, 999.9):05.1f}"
        + t.strftime("%H%M%S")
        + f"{course:06.2f}"
        + "0"  # '0': main power connected (traccar reads charge = true)
        + ("1" if ignition else "0")
        + "000"  # inputs/outputs
        + "000"  # fuel
        + f"L{odometer & 0xFFFFFFFF:08X}"
    )


#: Alarms the simulated device can send, with the command and data digit that carry each.
ENCODER_ALARMS: Final[dict[str, tuple[str, int]]] = {
    **{alarm: ("BQ81", code) for code, alarm in BQ81_ALARMS.items()},
    **{alarm: ("BO01", code) for code, alarm in BO01_ALARMS.items()},
}


class Tk103Encoder(DeviceEncoder):
    """A simulated TK103: ``BP05`` login (with its last fix, or a ``V`` fix at 0,0), ``BR00`` locations,
    ``BO01``/``BQ81`` alarms and ``BP00`` handshakes.  The device id must be numeric."""

    protocol: ClassVar[str] = PROTOCOL

    def __init__(
        self,
        device_id: str,
        *,
        initial_fix: FixToSend | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(device_id)
        if not device_id.isdigit():
            raise ValueError("TK103 device ids are numeric")
        self._last = initial_fix
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def imei(self) -> str:
        """The 15-digit IMEI field of login and handshake frames (the id, zero-padded)."""
        return self.device_id[-15:].rjust(15, "0")

    def _content(self, fix: FixToSend) -> str:
        return location_content(
            time_utc=fix.time_utc,
            latitude=fix.latitude,
            longitude=fix.longitude,
            speed_kmh=fix.speed_kmh,
            heading_deg=fix.heading_deg,
            valid=fix.valid,
            ignition=fix.ignition,
            odometer_km=fix.odometer_km,
        )

    def login(self) -> bytes:
        fix = self._last or FixToSend(time_utc=self._clock(), latitude=0.0, longitude=0.0, valid=False)
        return f"({self.device_id}BP05{self.imei}{self._content(fix)})".encode("ascii")

    def location(self, fix: FixToSend) -> bytes:
        self._last = fix
        command, data = "BR00", ""
        if fix.alarm is not None:
            if fix.alarm not in ENCODER_ALARMS:
                raise ValueError(f"a TK103 cannot report the alarm {fix.alarm!r}")
            command, code = ENCODER_ALARMS[fix.alarm]
            data = str(code)
        return f"({self.device_id}{command}{data}{self._content(fix)})".encode("ascii")

    def heartbeat(self) -> bytes:
        return f"({self.device_id}BP00{self.imei}HSO)".encode("ascii")

    def awaits_response(self, kind: str) -> bool:
        return kind in ("login", "heartbeat")


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=5002,
    transports=("tcp",),
    decoder_factory=Tk103Decoder,
    framer_factory=Tk103Framer,
    encoder_factory=Tk103Encoder,
    payload="text",
)

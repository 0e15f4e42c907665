"""One naming scheme for Position attributes, whatever protocol the fix came in.

Keys are snake_case with the unit in the name where there is one.  Every decoder uses these names
for what they mean; a protocol-specific value with no common meaning gets a snake_case name of its own
(documented in its module).  ``alarm`` holds one or more :class:`Alarm` values, comma-separated.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

#: Keys shared across protocols, with their type and meaning.
COMMON: Final[dict[str, str]] = {
    "ignition": "bool: ignition / ACC on",
    "motion": "bool: the device says it is moving",
    "alarm": "str: comma-separated Alarm values",
    "event": "int: the device's own event or report code",
    "battery_level": "int: internal battery, percent",
    "battery_v": "float: internal battery voltage",
    "power_v": "float: external (vehicle) power voltage",
    "charge": "bool: the battery is charging",
    "rssi": "int: GSM signal as the device reports it",
    "odometer_km": "float: total distance",
    "trip_odometer_km": "float: distance of the current trip",
    "engine_hours_h": "float: engine running time",
    "fuel_level": "float: fuel level, percent or litres as the device reports",
    "satellites_visible": "int: satellites in view (used ones are Position.satellites)",
    "mcc": "int: mobile country code of the serving cell",
    "mnc": "int: mobile network code",
    "lac": "int: location area code",
    "cell_id": "int: serving cell id",
    "input": "int: digital inputs bit mask",
    "output": "int: digital outputs bit mask",
    "door": "bool: door open",
    "armed": "bool: alarm system armed",
    "blocked": "bool: engine/fuel cut active",
    "driver_id": "str: iButton/RFID driver identifier",
    "temp1_c": "float: first temperature sensor (temp2_c, ... for more)",
    "archive": "bool: a buffered record sent late",
    "result": "str: command reply text",
    "iccid": "str: SIM card id",
    "accuracy_m": "float: horizontal accuracy",
    "device_time": "str: ISO time in a frame without a fix",
}


class Alarm(StrEnum):
    """Alarm values, modelled on traccar's alarm names, in snake_case."""

    GENERAL = "general"
    SOS = "sos"
    VIBRATION = "vibration"
    MOVEMENT = "movement"
    LOW_SPEED = "low_speed"
    OVERSPEED = "overspeed"
    FALL_DOWN = "fall_down"
    LOW_POWER = "low_power"
    LOW_BATTERY = "low_battery"
    FAULT = "fault"
    POWER_OFF = "power_off"
    POWER_ON = "power_on"
    DOOR = "door"
    LOCK = "lock"
    UNLOCK = "unlock"
    GEOFENCE = "geofence"
    GEOFENCE_ENTER = "geofence_enter"
    GEOFENCE_EXIT = "geofence_exit"
    GPS_ANTENNA_CUT = "gps_antenna_cut"
    ACCIDENT = "accident"
    TOW = "tow"
    IDLE = "idle"
    HIGH_RPM = "high_rpm"
    HARD_ACCELERATION = "hard_acceleration"
    HARD_BRAKING = "hard_braking"
    HARD_CORNERING = "hard_cornering"
    LANE_CHANGE = "lane_change"
    FATIGUE_DRIVING = "fatigue_driving"
    POWER_CUT = "power_cut"
    POWER_RESTORED = "power_restored"
    JAMMING = "jamming"
    TEMPERATURE = "temperature"
    PARKING = "parking"
    BONNET = "bonnet"
    FOOT_BRAKE = "foot_brake"
    FUEL_LEAK = "fuel_leak"
    TAMPERING = "tampering"
    REMOVING = "removing"


ATTRIBUTE_KEY = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def alarm_values(value: str) -> list[str]:
    """Split an ``alarm`` attribute into its values."""
    return [part for part in value.split(",") if part]


def join_alarms(*alarms: Alarm | str) -> str:
    """The ``alarm`` attribute for several alarms: unique, in the order given."""
    seen: dict[str, None] = {}
    for alarm in alarms:
        seen.setdefault(Alarm(alarm).value, None)
    return ",".join(seen)

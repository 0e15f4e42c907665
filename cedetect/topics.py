"""The one MQTT topic scheme: ``cedetect/v1/{site}/{device_id}/{kind}``.

* ``position``   - :class:`~cedetect.models.Position`, QoS 1, from edge agents
* ``status``     - :class:`~cedetect.models.DeviceStatus`, QoS 1, retained; an edge agent's Last Will
* ``deadletter`` - :class:`~cedetect.models.DeadLetter`, QoS 1: refused bytes kept as evidence
* ``alert``      - :class:`~cedetect.models.Alert`, QoS 1
* ``detection``  - :class:`~cedetect.models.Detection`, QoS 1: a plate or container-code read (device = camera)
* ``anomaly``    - :class:`~cedetect.models.Anomaly`, QoS 1
* ``frame``      - a JPEG frame from a camera (or the simulator) to its site's edge agent, QoS 1; the payload
  is described in :mod:`cedetect.frames`
* ``fix``        - a device's own JSON fix, for trackers that publish over MQTT (see
  :mod:`cedetect.protocols.jsonfix`); the edge agent of the site turns it into a ``position``
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from cedetect.models import ID_PATTERN

PREFIX = "cedetect/v1"
_ID = re.compile(ID_PATTERN)


class TopicKind(StrEnum):
    POSITION = "position"
    STATUS = "status"
    DEADLETTER = "deadletter"
    ALERT = "alert"
    FIX = "fix"
    DETECTION = "detection"
    ANOMALY = "anomaly"
    FRAME = "frame"


class TopicError(ValueError):
    """A topic that does not follow the scheme; ``reason`` names what is wrong."""

    def __init__(self, reason: str, topic: str) -> None:
        super().__init__(f"{reason}: {topic!r}")
        self.reason = reason
        self.topic = topic


@dataclass(frozen=True, slots=True)
class Topic:
    site: str
    device_id: str
    kind: TopicKind

    def __str__(self) -> str:
        return topic(self.site, self.device_id, self.kind)


def topic(site: str, device_id: str, kind: TopicKind | str) -> str:
    for name, value in (("site", site), ("device_id", device_id)):
        if not _ID.match(value):
            raise TopicError(f"bad_{name}", value)
    return f"{PREFIX}/{site}/{device_id}/{TopicKind(kind).value}"


def subscription(kind: TopicKind | str, site: str = "+") -> str:
    """Filter for one kind of message from every device (of every site by default)."""
    return f"{PREFIX}/{site}/+/{TopicKind(kind).value}"


def parse(name: str) -> Topic:
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != PREFIX:
        raise TopicError("not_cedetect_topic", name)
    site, device_id, kind = parts[2], parts[3], parts[4]
    if not _ID.match(site):
        raise TopicError("bad_site", name)
    if not _ID.match(device_id):
        raise TopicError("bad_device_id", name)
    try:
        return Topic(site, device_id, TopicKind(kind))
    except ValueError:
        raise TopicError("unknown_kind", name) from None

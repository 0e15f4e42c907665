"""What every input of the edge agent does with what it decoded: filter, count, and put it in the outbox.

TCP, UDP, HTTP and MQTT inputs all hand their results here, so a fix is flagged, counted and published
the same way whichever way it arrived.  Refused bytes become :class:`~cedetect.models.DeadLetter` messages
with their named reason; nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel

from cedetect.models import DeadLetter, DeviceState, DeviceStatus, Position, utc_now
from cedetect.protocols.base import DecodedMessage
from cedetect.topics import TopicKind
from edge.filters import PositionFilter

log = logging.getLogger(__name__)

#: publish(kind, device_id, payload) -> None: puts one message in the outbox.
Publish = Callable[[TopicKind, str, BaseModel], None]


class Pipeline:
    def __init__(self, publish: Publish, *, site: str, agent_id: str, position_filter: PositionFilter | None = None):
        self.publish = publish
        self.site = site
        self.agent_id = agent_id
        self.filter = position_filter or PositionFilter()
        self.counters: Counter[str] = Counter()

    def count(self, reason: str) -> None:
        self.counters[reason] += 1

    def message(self, message: DecodedMessage) -> None:
        if message.position is not None:
            self.position(message.position)
        else:
            self.count(f"message_{message.kind}")

    def position(self, position: Position) -> None:
        position = self.filter.apply(position)
        self.count("positions")
        for flag in position.flags:
            self.count(f"flag_{flag.value}")
        self.publish(TopicKind.POSITION, position.device_id, position)

    def status(self, device_id: str, state: DeviceState, protocol: str, detail: str) -> None:
        status = DeviceStatus(
            device_id=device_id,
            kind="tracker",
            state=state,
            time_utc=utc_now(),
            site=self.site,
            protocol=protocol,
            detail=detail,
        )
        self.publish(TopicKind.STATUS, device_id, status)

    def dead_letter(
        self,
        reason: str,
        raw: bytes,
        *,
        protocol: str,
        detail: str = "",
        device_id: str | None = None,
        remote: str | None = None,
        received_utc: datetime | None = None,
    ) -> None:
        self.count(f"rejected_{reason}")
        log.info("%s %s: rejected %d byte(s): %s %s", protocol, remote or "-", len(raw), reason, detail)
        letter = DeadLetter(
            source=self.agent_id,
            site=self.site,
            received_utc=received_utc or utc_now(),
            reason=reason,
            detail=detail[:2000],
            protocol=protocol,
            device_id=device_id,
            remote=remote,
            raw_hex=raw.hex(),
        )
        self.publish(TopicKind.DEADLETTER, device_id or self.agent_id, letter)

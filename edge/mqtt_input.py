"""MQTT input: trackers that publish their own JSON fixes on ``cedetect/v1/{site}/{device_id}/fix``.

The agent subscribes with QoS 1 on a persistent session and acknowledges a message only after what it
decoded from it is committed to the outbox, so a fix survives a crash of the agent at any point.  A
message that cannot be decoded is kept as a dead letter, and acknowledged: it will not get better.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import paho.mqtt.client as mqtt

from cedetect import protocols
from cedetect.config import MqttSettings
from cedetect.models import utc_now
from cedetect.mqtt import make_client
from cedetect.protocols.base import DecodeError
from cedetect.topics import TopicError, TopicKind, parse, subscription
from edge.pipeline import Pipeline

log = logging.getLogger(__name__)


class MqttFixInput:
    def __init__(
        self,
        pipeline: Pipeline,
        settings: MqttSettings,
        *,
        site: str,
        agent_id: str,
        commit: Callable[[], None],
        protocol: str = "json",
    ) -> None:
        self.spec = protocols.get(protocol)
        self.pipeline = pipeline
        self.settings = settings
        self.site = site
        self.commit = commit
        self.topic_filter = subscription(TopicKind.FIX, site)
        self.subscribed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = make_client(
            settings, client_id=f"cedetect-edge-{site}-{agent_id}-fixes", clean_session=False, manual_ack=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        if not getattr(rc, "is_failure", False):
            client.subscribe(self.topic_filter, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, rcs: object, props: object) -> None:
        log.info("%s: subscribed to %s (mqtt)", self.spec.name, self.topic_filter)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.subscribed.set)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(
                self.handle, message.topic, bytes(message.payload), message.mid, message.qos
            )

    def handle(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        received = utc_now()
        self.pipeline.count("mqtt_fixes")
        try:
            device_id = parse(topic).device_id
            messages = self.spec.decoder_factory(device_id=device_id).decode(payload, received)
        except TopicError as exc:
            self.pipeline.dead_letter(
                exc.reason, payload, protocol=self.spec.name, detail=str(exc), remote=topic, received_utc=received
            )
        except DecodeError as exc:
            self.pipeline.dead_letter(
                exc.reason,
                exc.raw or payload,
                protocol=self.spec.name,
                detail=exc.detail,
                device_id=device_id,
                remote=topic,
                received_utc=received,
            )
        else:
            for decoded in messages:
                self.pipeline.message(decoded)
        self.commit()  # in the outbox before the broker hears that we have it
        if qos > 0:
            self._client.ack(mid, qos)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s)
        self._client.loop_start()

    async def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self._loop = None

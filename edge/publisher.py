"""Drains the durable outbox into MQTT with QoS 1; a row is deleted only after its PUBACK.

paho runs its network loop in its own thread; every callback is handed to the asyncio loop with
``call_soon_threadsafe``, so the outbox and the in-flight table are touched from one thread only.
The agent's presence is a retained :class:`~cedetect.models.DeviceStatus` on its status topic:
``online`` on every connect, ``offline`` as the Last Will and on a clean stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import paho.mqtt.client as mqtt

from cedetect.config import MqttSettings
from cedetect.models import DeviceState, DeviceStatus, utc_now
from cedetect.mqtt import make_client
from cedetect.topics import TopicKind, topic
from edge.outbox import Outbox

log = logging.getLogger(__name__)


class OutboxPublisher:
    def __init__(
        self,
        outbox: Outbox,
        settings: MqttSettings,
        *,
        site: str,
        agent_id: str,
        max_inflight: int = 200,
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.site = site
        self.agent_id = agent_id
        self.max_inflight = max_inflight
        self.status_topic = topic(site, agent_id, TopicKind.STATUS)
        self.connected = False
        self.acked_total = 0
        self.connect_failures = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._inflight: dict[int, int] = {}  # mid -> outbox row id
        self._sent_upto = 0  # highest outbox id published on the current connection
        self._to_delete: list[int] = []
        self._client = make_client(
            settings,
            client_id=f"cedetect-edge-{site}-{agent_id}",
            clean_session=True,
            will=(self.status_topic, self._status(DeviceState.OFFLINE, "last will")),
        )
        self._client.max_inflight_messages_set(max_inflight)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_connect_fail = self._on_connect_fail

    def _status(self, state: DeviceState, detail: str) -> bytes:
        return (
            DeviceStatus(
                device_id=self.agent_id,
                kind="edge_agent",
                state=state,
                time_utc=utc_now(),
                site=self.site,
                detail=detail,
            )
            .model_dump_json()
            .encode()
        )

    # --- paho thread -----------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        if getattr(rc, "is_failure", False):
            log.warning("MQTT connect refused: %s", rc)
            return
        client.publish(self.status_topic, self._status(DeviceState.ONLINE, "connected"), qos=1, retain=True)
        self._call(self._connected)

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        self.connect_failures += 1
        if self.connect_failures in (1, 10) or self.connect_failures % 100 == 0:
            log.warning(
                "MQTT broker %s:%d unreachable (%d attempts); messages stay in the outbox",
                self.settings.host,
                self.settings.port,
                self.connect_failures,
            )

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        self._call(self._disconnected, str(rc))

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, rc: object, props: object) -> None:
        self._call(self._acked, mid)

    def _call(self, fn: object, *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)  # type: ignore[arg-type]

    # --- asyncio thread --------------------------------------------------------------------------
    def _connected(self) -> None:
        log.info(
            "MQTT connected to %s:%d; %d message(s) waiting in the outbox",
            self.settings.host,
            self.settings.port,
            self.outbox.count(),
        )
        self.connected = True
        self._inflight.clear()
        self._sent_upto = 0
        self._wake.set()

    def _disconnected(self, reason: str) -> None:
        if self.connected:
            log.warning("MQTT disconnected (%s); the outbox keeps messages until the link is back", reason)
        self.connected = False
        self._inflight.clear()
        self._sent_upto = 0

    def _acked(self, mid: int) -> None:
        row_id = self._inflight.pop(mid, None)
        if row_id is None:
            return
        self._to_delete.append(row_id)
        self.acked_total += 1
        if len(self._to_delete) >= 100 or not self._inflight:
            self._flush_deletes()
        self._wake.set()

    def _flush_deletes(self) -> None:
        if self._to_delete:
            self.outbox.delete(self._to_delete)
            self._to_delete = []

    def notify(self) -> None:
        """Tell the publisher that new rows are in the outbox."""
        self._wake.set()

    def _fill(self) -> None:
        room = self.max_inflight - len(self._inflight)
        if room <= 0 or not self.connected:
            return
        for message in self.outbox.pending(after_id=self._sent_upto, limit=room):
            info = self._client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                log.debug("publish not accepted (%s); will retry", info.rc)
                break
            self._inflight[info.mid] = message.id
            self._sent_upto = message.id

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s)
        self._client.loop_start()
        try:
            while True:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
                # arrives as the event fires, and the task would then never stop.
                try:
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
                except TimeoutError:
                    self._flush_deletes()
                self._wake.clear()
                self._fill()
        finally:
            self._flush_deletes()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty (everything acknowledged) or ``timeout_s`` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            self._flush_deletes()
            if self.outbox.count() == 0:
                return True
            self._wake.set()
            await asyncio.sleep(0.05)
        return False

    def stop(self) -> None:
        """Say ``offline`` on the retained status topic and disconnect (a clean stop sends no Last Will)."""
        self._flush_deletes()
        if self.connected:
            info = self._client.publish(
                self.status_topic, self._status(DeviceState.OFFLINE, "stopped"), qos=1, retain=True
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2.0)
        self._client.disconnect()
        self._client.loop_stop()
        self._loop = None

"""The edge agent: tracker inputs (TCP, UDP, HTTP, MQTT) -> pipeline -> durable outbox -> MQTT."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Protocol

from pydantic import BaseModel

from cedetect import protocols
from cedetect.config import CameraSettings, EdgeSettings, MqttSettings
from cedetect.topics import TopicKind, topic
from edge.camera import CameraInput
from edge.filters import FilterSettings, PositionFilter
from edge.http_input import HttpInput
from edge.mqtt_input import MqttFixInput
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.publisher import OutboxPublisher
from edge.trackers import TrackerServer
from edge.udp import UdpServer

log = logging.getLogger(__name__)


class Input(Protocol):
    async def start(self) -> object: ...

    async def stop(self) -> None: ...


class EdgeAgent:
    def __init__(self, edge: EdgeSettings, mqtt: MqttSettings, camera: CameraSettings | None = None) -> None:
        self.settings = edge
        self.outbox = Outbox(edge.outbox_path)
        self.publisher = OutboxPublisher(
            self.outbox, mqtt, site=edge.site, agent_id=edge.agent_id, max_inflight=edge.max_inflight
        )
        position_filter = PositionFilter(
            FilterSettings(
                max_speed_kmh=edge.filter_max_speed_kmh,
                max_implied_speed_kmh=edge.filter_max_implied_speed_kmh,
                min_jump_m=edge.filter_min_jump_m,
                min_period_s=edge.filter_min_period_s,
                stale_after_s=edge.filter_stale_after_s,
            )
        )
        self.pipeline = Pipeline(self.publish, site=edge.site, agent_id=edge.agent_id, position_filter=position_filter)
        self.inputs: list[Input] = []
        #: The port each protocol listens on, per transport, once started: {("gt06", "tcp"): 5023, ...}.
        self.ports: dict[tuple[str, str], int] = {}
        self._listeners: list[tuple[str, str, Input]] = []
        for name in edge.protocols:
            spec = protocols.get(name)
            port = edge.ports.get(spec.name, spec.default_port)
            for transport in spec.transports:
                listener: Input
                if transport == "tcp":
                    listener = TrackerServer(
                        spec.name, self.pipeline, host=edge.bind_host, port=port, idle_timeout_s=edge.idle_timeout_s
                    )
                elif transport == "udp":
                    listener = UdpServer(spec.name, self.pipeline, host=edge.bind_host, port=port)
                elif transport == "http":
                    listener = HttpInput(spec.name, self.pipeline, host=edge.bind_host, port=port)
                else:
                    continue  # MQTT devices come in through MqttFixInput
                self._listeners.append((spec.name, transport, listener))
                self.inputs.append(listener)
        self.mqtt_input: MqttFixInput | None = None
        if edge.mqtt_fixes:
            self.mqtt_input = MqttFixInput(
                self.pipeline, mqtt, site=edge.site, agent_id=edge.agent_id, commit=self.flush
            )
            self.inputs.append(self.mqtt_input)
        #: Plate and container-code reading from camera frames (``CEDETECT_CAMERA_ENABLED``).
        self.camera: CameraInput | None = None
        if camera is not None and camera.enabled:
            self.camera = CameraInput(camera, mqtt, site=edge.site, agent_id=edge.agent_id, publish=self.publish)
            self.inputs.append(self.camera)
        self._buffer: list[tuple[str, bytes, int, bool]] = []
        self._flush_scheduled = False
        self.started = asyncio.Event()

    def publish(self, kind: TopicKind, device_id: str, payload: BaseModel) -> None:
        """Queue one message; everything queued in the same loop iteration is committed in one transaction."""
        retain = kind is TopicKind.STATUS
        self._buffer.append((topic(self.settings.site, device_id, kind), payload.model_dump_json().encode(), 1, retain))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Commit what is queued to the outbox now."""
        self._flush_scheduled = False
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self.outbox.add_many(batch)
            self.publisher.notify()

    async def run(self, stop: asyncio.Event) -> None:
        publisher_task = asyncio.create_task(self.publisher.run(), name="outbox-publisher")
        started: list[Input] = []
        try:
            for name, transport, listener in self._listeners:
                port = await listener.start()
                assert isinstance(port, int)
                self.ports[(name, transport)] = port
                started.append(listener)
            if self.mqtt_input is not None:
                await self.mqtt_input.start()
                started.append(self.mqtt_input)
            if self.camera is not None:
                await self.camera.start()
                started.append(self.camera)
            self.started.set()
            stats_task = asyncio.create_task(self._log_stats(), name="edge-stats")
            await stop.wait()
            stats_task.cancel()
        finally:
            for listener in reversed(started):
                await listener.stop()
            self.flush()
            if self.publisher.connected:
                await self.publisher.drain(timeout_s=5.0)
            publisher_task.cancel()
            await asyncio.gather(publisher_task, return_exceptions=True)
            self.publisher.stop()
            left = self.outbox.count()
            if left:
                log.info("%d message(s) stay in the outbox for the next start", left)
            self.outbox.close()

    async def _log_stats(self) -> None:
        previous = 0
        while True:
            await asyncio.sleep(10)
            counters = self.pipeline.counters
            positions = counters["positions"]
            log.info(
                "edge: %d fixes (+%d), %d acked by broker, %d in outbox, %s",
                positions,
                positions - previous,
                self.publisher.acked_total,
                self.outbox.count(),
                ", ".join(f"{k}={v}" for k, v in sorted(counters.items()) if k != "positions") or "no rejects",
            )
            previous = positions
            if self.camera is not None:
                log.info("camera: %s", ", ".join(f"{k}={v}" for k, v in sorted(self.camera.snapshot().items())))


def run_agent(edge: EdgeSettings, mqtt: MqttSettings, camera: CameraSettings | None = None) -> int:
    camera = camera if camera is not None else CameraSettings()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await EdgeAgent(edge, mqtt, camera).run(stop)

    asyncio.run(main())
    return 0

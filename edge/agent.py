"""The edge agent: tracker servers -> durable outbox -> MQTT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter

from pydantic import BaseModel

from cedetect.config import EdgeSettings, MqttSettings
from cedetect.topics import TopicKind, topic
from edge.outbox import Outbox
from edge.publisher import OutboxPublisher
from edge.trackers import TrackerServer

log = logging.getLogger(__name__)


class EdgeAgent:
    def __init__(self, edge: EdgeSettings, mqtt: MqttSettings) -> None:
        self.settings = edge
        self.outbox = Outbox(edge.outbox_path)
        self.publisher = OutboxPublisher(
            self.outbox, mqtt, site=edge.site, agent_id=edge.agent_id, max_inflight=edge.max_inflight
        )
        self.servers = [
            TrackerServer(
                "gt06",
                self.publish,
                site=edge.site,
                agent_id=edge.agent_id,
                host=edge.bind_host,
                port=edge.gt06_port,
                idle_timeout_s=edge.idle_timeout_s,
            )
        ]
        self._buffer: list[tuple[str, bytes, int, bool]] = []
        self._flush_scheduled = False
        self.started = asyncio.Event()

    def publish(self, kind: TopicKind, device_id: str, payload: BaseModel) -> None:
        """Queue one message; everything queued in the same loop iteration is committed in one transaction."""
        retain = kind is TopicKind.STATUS
        self._buffer.append((topic(self.settings.site, device_id, kind), payload.model_dump_json().encode(), 1, retain))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self.outbox.add_many(batch)
            self.publisher.notify()

    def counters(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for server in self.servers:
            total.update(server.counters)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        publisher_task = asyncio.create_task(self.publisher.run(), name="outbox-publisher")
        try:
            for server in self.servers:
                await server.start()
            self.started.set()
            stats_task = asyncio.create_task(self._log_stats(), name="edge-stats")
            await stop.wait()
            stats_task.cancel()
        finally:
            for server in self.servers:
                await server.stop()
            self._flush()
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
            counters = self.counters()
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


def run_agent(edge: EdgeSettings, mqtt: MqttSettings) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await EdgeAgent(edge, mqtt).run(stop)

    asyncio.run(main())
    return 0

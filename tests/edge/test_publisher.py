"""The outbox publisher against a real Mosquitto: PUBACK deletes, retained status, Last Will."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cedetect.config import MqttSettings
from edge.outbox import Outbox
from edge.publisher import OutboxPublisher
from tests.support import free_port

pytestmark = pytest.mark.mqtt


class Collector:
    def __init__(self, host: str, port: int, pattern: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"col-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(host, port)
        self.client.subscribe(pattern, qos=1)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def until(predicate: object, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_outbox_drains_only_on_puback_and_status_is_retained(tmp_path: Path, mqtt_broker: tuple[str, int]) -> None:
    site = f"site{uuid.uuid4().hex[:6]}"
    collector = Collector(*mqtt_broker, f"cedetect/v1/{site}/#")
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.add_many([(f"cedetect/v1/{site}/t1/position", f"{i}".encode(), 1, False) for i in range(500)])

    async def scenario() -> None:
        publisher = OutboxPublisher(
            outbox,
            MqttSettings(host=mqtt_broker[0], port=mqtt_broker[1]),
            site=site,
            agent_id="edge-t",
            max_inflight=50,
        )
        task = asyncio.create_task(publisher.run())
        await until(lambda: outbox.count() == 0)
        assert publisher.acked_total == 500
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        publisher.stop()

    asyncio.run(scenario())
    status_topic = f"cedetect/v1/{site}/edge-t/status"

    def delivered() -> bool:  # the broker forwards to the collector on its own time: wait for the last ones
        with collector.lock:
            got = list(collector.messages)
        last_status = [m for m in got if m[0] == status_topic][-1:]
        return sum(m[0].endswith("/position") for m in got) >= 500 and b"offline" in b"".join(m[1] for m in last_status)

    asyncio.run(until(delivered))
    positions = [m for m in collector.messages if m[0].endswith("/position")]
    assert sorted(int(p[1]) for p in positions) == list(range(500))
    statuses = [json.loads(m[1])["state"] for m in collector.messages if m[0] == status_topic]
    assert statuses[0] == "online"
    assert statuses[-1] == "offline"
    collector.close()

    # A late subscriber still sees the retained status.
    late = Collector(*mqtt_broker, f"cedetect/v1/{site}/edge-t/status")
    asyncio.run(until(lambda: late.messages))
    assert late.messages[0][2] is True
    late.close()


def test_nothing_leaves_the_outbox_while_the_broker_is_unreachable(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.add("cedetect/v1/s/t/position", b"x")

    async def scenario() -> None:
        publisher = OutboxPublisher(outbox, MqttSettings(host="127.0.0.1", port=free_port()), site="s", agent_id="e")
        task = asyncio.create_task(publisher.run())
        await until(lambda: publisher.connect_failures >= 2)
        assert not publisher.connected
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        publisher.stop()

    asyncio.run(scenario())
    assert outbox.count() == 1


def test_last_will_says_offline_when_the_agent_dies(tmp_path: Path, mqtt_broker: tuple[str, int]) -> None:
    site = f"site{uuid.uuid4().hex[:6]}"
    collector = Collector(*mqtt_broker, f"cedetect/v1/{site}/edge-w/status")
    outbox = Outbox(tmp_path / "outbox.sqlite3")

    async def scenario() -> None:
        publisher = OutboxPublisher(
            outbox, MqttSettings(host=mqtt_broker[0], port=mqtt_broker[1]), site=site, agent_id="edge-w"
        )
        task = asyncio.create_task(publisher.run())
        await until(lambda: publisher.connected)
        await until(lambda: any(b'"online"' in m[1] for m in collector.messages))
        # Die without a DISCONNECT: the broker must publish the Last Will.
        sock = publisher._client.socket()
        assert sock is not None
        publisher._client.loop_stop()
        sock.close()
        await until(lambda: any(b'"offline"' in m[1] for m in collector.messages))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    last = json.loads(collector.messages[-1][1])
    assert (last["state"], last["kind"], last["detail"]) == ("offline", "edge_agent", "last will")
    collector.close()

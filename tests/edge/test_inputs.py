"""The edge agent's inputs on loopback with a real Mosquitto: TCP, UDP, HTTP (OsmAnd) and MQTT JSON fixes."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cedetect.config import EdgeSettings, MqttSettings
from cedetect.protocols.gt06 import Gt06Encoder
from edge.agent import EdgeAgent
from edge.pipeline import Pipeline
from edge.udp import UdpServer

pytestmark = pytest.mark.mqtt
IMEI = "359339075003512"


class Collector:
    def __init__(self, host: str, port: int, pattern: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"c-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.connect(host, port)
        self.client.subscribe(pattern, qos=1)
        self.client.loop_start()
        assert done.wait(10)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [json.loads(body) for topic, body in list(self.messages) if topic.endswith("/" + kind)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def until(predicate: Callable[[], object], timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_http_and_mqtt_inputs_reach_the_broker_with_named_rejections(
    tmp_path: Path, mqtt_broker: tuple[str, int]
) -> None:
    site = f"in{uuid.uuid4().hex[:6]}"
    collector = Collector(*mqtt_broker, f"cedetect/v1/{site}/#")
    settings = EdgeSettings(
        site=site, agent_id="edge-in", protocols=["gt06", "osmand"], ports={"gt06": 0, "osmand": 0},
        outbox_path=tmp_path / "outbox.sqlite3",
    )  # fmt: skip
    broker = MqttSettings(host=mqtt_broker[0], port=mqtt_broker[1])

    async def scenario() -> None:
        agent = EdgeAgent(settings, broker)
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await until(agent.started.is_set)
        assert agent.mqtt_input is not None
        await until(agent.mqtt_input.subscribed.is_set)
        http = f"http://127.0.0.1:{agent.ports[('osmand', 'http')]}"
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(
            None, _get, http + f"/?id={IMEI}&timestamp=1764064800&lat=41.67&lon=26.55&speed=10"
        )
        bad = await loop.run_in_executor(None, _get, http + "/?id=1&lat=95&lon=26.55")
        assert ok == (200, {"status": "ok"})
        assert bad[0] == 400
        assert bad[1]["error"] == "invalid_coordinates"

        publisher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"p-{uuid.uuid4().hex[:8]}")
        publisher.connect(*mqtt_broker)
        publisher.loop_start()
        fix = {"time_utc": "2025-11-25T10:00:00Z", "latitude": 40.99, "longitude": 29.02, "speed_kmh": 55.0}
        publisher.publish(f"cedetect/v1/{site}/truck-77/fix", json.dumps(fix), qos=1).wait_for_publish(5)
        publisher.publish(f"cedetect/v1/{site}/truck-77/fix", b"{broken", qos=1).wait_for_publish(5)

        await until(lambda: len(collector.of_kind("position")) == 2 and len(collector.of_kind("deadletter")) == 2)
        positions = sorted(collector.of_kind("position"), key=lambda p: p["device_id"])
        assert [(p["device_id"], p["protocol"], p["latitude"]) for p in positions] == [
            (IMEI, "osmand", 41.67), ("truck-77", "json", 40.99),
        ]  # fmt: skip
        assert sorted(d["reason"] for d in collector.of_kind("deadletter")) == ["invalid_coordinates", "malformed"]
        stop.set()
        await task
        publisher.loop_stop()

    asyncio.run(scenario())
    collector.close()


def test_udp_server_answers_the_sender_and_keeps_bad_datagrams() -> None:
    published: list[tuple[str, str, Any]] = []
    pipeline = Pipeline(lambda kind, device, payload: published.append((kind.value, device, payload)),
                        site="s", agent_id="e")  # fmt: skip

    async def scenario() -> None:
        server = UdpServer("gt06", pipeline, host="127.0.0.1", port=0)
        port = await server.start()
        encoder = Gt06Encoder(IMEI)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(encoder.login(), ("127.0.0.1", port))
            loop = asyncio.get_running_loop()
            ack = await loop.run_in_executor(None, sock.recv, 64)
            assert ack.startswith(b"\x78\x78\x05\x01")
            sock.sendto(b"\x78\x78garbage", ("127.0.0.1", port))
            await until(lambda: any(kind == "deadletter" for kind, _, _ in published))
        await server.stop()

    asyncio.run(scenario())
    (letter,) = [p for kind, _, p in published if kind == "deadletter"]
    assert letter.reason in ("truncated", "bad_length", "bad_checksum")
    assert letter.raw == b"\x78\x78garbage"

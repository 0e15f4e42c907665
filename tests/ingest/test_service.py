"""The ingest service between a real Mosquitto and a real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from cedetect.config import DatabaseSettings, IngestSettings, MqttSettings
from cedetect.models import Position
from ingest.service import IngestService
from tests.ingest.running import Running
from tests.support import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt]

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def publisher(host: str, port: int) -> mqtt.Client:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    client.connect(host, port)
    client.loop_start()
    return client


def position(device: str, i: int) -> bytes:
    return (
        Position(
            device_id=device,
            protocol="gt06",
            time_utc=T0 + timedelta(seconds=10 * i),
            received_utc=T0 + timedelta(seconds=10 * i + 1),
            latitude=40.0 + i * 1e-4,
            longitude=30.0,
            speed_kmh=40.0,
        )
        .model_dump_json()
        .encode()
    )


@pytest.fixture
def site() -> str:
    return f"s{uuid.uuid4().hex[:6]}"


@pytest.fixture
def make_service(database_url: str, mqtt_broker: tuple[str, int], site: str) -> Callable[[], IngestService]:
    client_id = f"ingest-test-{uuid.uuid4().hex[:8]}"

    def make() -> IngestService:
        return IngestService(
            IngestSettings(client_id=client_id, site=site, batch_max=200, batch_max_wait_ms=50),
            MqttSettings(host=mqtt_broker[0], port=mqtt_broker[1]),
            DatabaseSettings(url=SecretStr(database_url), connect_timeout_s=10),
            zones=[],
        )

    return make


def rows(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0


def test_positions_and_bad_messages_flow_to_postgres(
    make_service: Callable[[], IngestService], database_url: str, mqtt_broker: tuple[str, int], site: str
) -> None:
    pub = publisher(*mqtt_broker)
    with Running(make_service()):
        infos = [pub.publish(f"cedetect/v1/{site}/truck-a/position", position("truck-a", i), qos=1) for i in range(300)]
        infos.append(pub.publish(f"cedetect/v1/{site}/truck-a/position", b"{broken", qos=1))
        infos.append(pub.publish(f"cedetect/v1/{site}/truck-b/position", position("truck-a", 999), qos=1))
        infos += [pub.publish(f"cedetect/v1/{site}/truck-b/position", position("truck-b", i), qos=1) for i in range(20)]
        for info in infos:
            info.wait_for_publish(10)
        wait_for(lambda: rows(database_url, "SELECT count(*) FROM positions") == 320, timeout_s=30)
        wait_for(lambda: rows(database_url, "SELECT count(*) FROM quarantine") == 2, timeout_s=30)
    with psycopg.connect(database_url) as conn:
        reasons = sorted(r[0] for r in conn.execute("SELECT reason FROM quarantine"))
    assert reasons == ["bad_json", "topic_mismatch"]
    pub.loop_stop()


def test_messages_published_while_ingest_is_down_arrive_after_restart(
    make_service: Callable[[], IngestService], database_url: str, mqtt_broker: tuple[str, int], site: str
) -> None:
    pub = publisher(*mqtt_broker)
    with Running(make_service()):  # creates the persistent session and its subscriptions
        pass
    for info in [pub.publish(f"cedetect/v1/{site}/truck-c/position", position("truck-c", i), qos=1) for i in range(50)]:
        info.wait_for_publish(10)
    with Running(make_service()):
        wait_for(lambda: rows(database_url, "SELECT count(*) FROM positions") == 50, timeout_s=30)
    pub.loop_stop()


def test_a_message_is_acknowledged_only_after_its_batch_commits(
    make_service: Callable[[], IngestService], database_url: str, mqtt_broker: tuple[str, int], site: str
) -> None:
    """Ingest dies after the broker delivered a batch but before the commit: the broker redelivers it."""
    pub = publisher(*mqtt_broker)
    first = make_service()
    stop = threading.Event()
    thread = threading.Thread(target=first.run, args=(stop,), daemon=True)
    thread.start()
    assert first.subscribed.wait(20)
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE positions IN ACCESS EXCLUSIVE MODE")  # holds ingest's write until we commit

        def ingest_waits_on_the_lock() -> bool:
            with psycopg.connect(database_url) as probe:
                row = probe.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO positions%'"
                ).fetchone()
            return bool(row and row[0])

        for info in [
            pub.publish(f"cedetect/v1/{site}/truck-d/position", position("truck-d", i), qos=1) for i in range(10)
        ]:
            info.wait_for_publish(10)
        wait_for(ingest_waits_on_the_lock, timeout_s=30)
        # The process "crashes": its MQTT connection drops without a DISCONNECT before anything committed.
        sock = first._client.socket()
        first._client.loop_stop()
        assert sock is not None
        sock.close()
    # The lock is gone: the first instance's write commits, but its acknowledgements have nowhere to go.
    wait_for(lambda: rows(database_url, "SELECT count(*) FROM positions") == 10, timeout_s=30)
    stop.set()
    thread.join(20)

    with Running(make_service()) as second:  # same client id: the broker redelivers the unacknowledged batch
        wait_for(lambda: second.totals["positions_duplicate"] == 10, timeout_s=30)
    assert rows(database_url, "SELECT count(*) FROM positions") == 10
    pub.loop_stop()

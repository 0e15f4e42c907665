"""The ingest service: subscribe, batch, write, then acknowledge.

paho's ``manual_ack`` keeps the PUBACK of every QoS 1 message until its batch has committed; with a
persistent session (``clean_session=False``) the broker redelivers whatever was not acknowledged when
ingest stopped or crashed.  One message that cannot be parsed is quarantined with its reason; one that
breaks the database write on its own is quarantined as ``storage_error``; neither holds up the rest.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg

from cedetect.config import DatabaseSettings, IngestSettings, MqttSettings
from cedetect.models import utc_now
from cedetect.mqtt import make_client
from cedetect.storage import connect_with_retry, ensure_partitions, migrate
from cedetect.topics import TopicKind, subscription, topic
from geofence.demo_zones import default_zones
from geofence.zones import Zone, load_zones
from ingest.anomalies import AnomalyStage, AnomalyWorker, Stored, new_fixes
from ingest.detections import StoredDetection, write_detections
from ingest.parse import Incoming, Parsed, parse_message, quarantine
from ingest.rules import RestrictedZoneRule
from ingest.store import BatchResult, prepare, write_batch

log = logging.getLogger(__name__)

CONSUMED_KINDS = (TopicKind.POSITION, TopicKind.STATUS, TopicKind.DEADLETTER, TopicKind.DETECTION)
LINGER_S = 0.005


class IngestService:
    def __init__(
        self,
        ingest: IngestSettings,
        mqtt_settings: MqttSettings,
        database: DatabaseSettings,
        zones: Sequence[Zone] | None = None,
    ) -> None:
        self.settings = ingest
        self.mqtt_settings = mqtt_settings
        self.database = database
        if zones is None:
            zones = load_zones(ingest.zones_path) if ingest.zones_path else default_zones()
        self.rule = RestrictedZoneRule(zones)
        self.anomalies = AnomalyStage.from_settings(ingest, zones) if ingest.anomaly_scoring else None
        self.anomaly_worker: AnomalyWorker | None = None
        self._worker_stop = threading.Event()
        self.source = f"ingest:{ingest.client_id}"
        self.subscriptions = [(subscription(kind, ingest.site), 1) for kind in CONSUMED_KINDS]
        self.inbox: queue.Queue[Incoming] = queue.Queue()
        self.totals: Counter[str] = Counter()
        self.subscribed = threading.Event()
        self._client = make_client(
            mqtt_settings, client_id=f"cedetect-{ingest.client_id}", clean_session=False, manual_ack=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._conn: psycopg.Connection | None = None

    # --- paho thread -----------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        if getattr(rc, "is_failure", False):
            log.warning("MQTT connect refused: %s", rc)
            return
        log.info("MQTT connected to %s:%d; subscribing", self.mqtt_settings.host, self.mqtt_settings.port)
        client.subscribe(self.subscriptions)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, rcs: object, props: object) -> None:
        log.info("subscribed to %s", ", ".join(t for t, _ in self.subscriptions))
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self.inbox.put(Incoming(message.topic, bytes(message.payload), message.mid, message.qos, utc_now()))

    # --- database --------------------------------------------------------------------------------
    def _connection(self, stop: threading.Event) -> psycopg.Connection:
        while self._conn is None or self._conn.closed:
            try:
                conn = connect_with_retry(self.database.url.get_secret_value(), self.database.connect_timeout_s)
                migrate(conn, months_ahead=self.database.partition_months_ahead)
                prepare(conn)
                self._conn = conn
            except psycopg.OperationalError as exc:
                if stop.is_set():
                    raise
                log.warning("database unavailable (%s); retrying", exc)
        return self._conn

    def _write(self, items: list[Parsed], stop: threading.Event) -> BatchResult:
        """Write until it commits: a lost connection is retried, a bad message is split out."""
        delay = 0.5
        while True:
            conn = self._connection(stop)
            try:
                detections = [i for i in items if isinstance(i, StoredDetection)]
                if not detections:
                    return write_batch(conn, items, self.rule)
                with conn.transaction():  # write_batch's own transaction becomes a savepoint of this one
                    batch_result = write_batch(conn, items, self.rule)
                    written = write_detections(conn, detections)
                self.totals["detections_new"] += written.new
                self.totals["detections_duplicate"] += written.duplicate
                return batch_result
            except psycopg.OperationalError as exc:
                log.warning("database write failed (%s); reconnecting and retrying the batch", exc)
                conn.close()
                self._conn = None
                if stop.wait(delay):
                    raise
                delay = min(delay * 2, 5.0)
            except psycopg.Error as exc:
                if conn.closed:
                    self._conn = None
                if len(items) == 1:
                    raise
                log.warning("batch refused by the database (%s); writing its messages one by one", exc)
                result = BatchResult()
                for item in items:
                    part = self._write([item], stop)
                    result.positions_new += part.positions_new
                    result.positions_duplicate += part.positions_duplicate
                    result.quarantined += part.quarantined
                    result.statuses += part.statuses
                    result.alerts.extend(part.alerts)
                    result.stored.extend(part.stored)
                    result.reasons.update(part.reasons)
                return result

    # --- main loop -------------------------------------------------------------------------------
    def _take_batch(self, stop: threading.Event) -> list[Incoming]:
        try:
            first = self.inbox.get(timeout=0.5)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_max_wait_ms / 1000
        while len(batch) < self.settings.batch_max:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self.inbox.get(timeout=min(LINGER_S, remaining)))
            except queue.Empty:
                break
        return batch

    def process(self, batch: list[Incoming], stop: threading.Event) -> BatchResult:
        parsed = [parse_message(m, self.source) for m in batch]
        try:
            result = self._write(parsed, stop)
        except psycopg.Error as exc:
            # A single message the database refuses: keep its bytes in quarantine instead.
            assert len(parsed) == 1
            bad = quarantine(batch[0], self.source, "storage_error", str(exc).strip())
            result = self._write([bad], stop)
        for message in batch:
            if message.qos > 0:
                self._client.ack(message.mid, message.qos)
        for alert in result.alerts:
            for device_id in alert.device_ids:
                site = str(alert.details.get("site") or "central")
                self._client.publish(topic(site, device_id, TopicKind.ALERT), alert.model_dump_json(), qos=1)
        self.totals["messages"] += len(batch)
        self.totals["positions_new"] += result.positions_new
        self.totals["positions_duplicate"] += result.positions_duplicate
        self.totals["quarantined"] += result.quarantined
        self.totals["alerts"] += len(result.alerts)
        if self.anomaly_worker is not None:
            self.anomaly_worker.submit(new_fixes(parsed, result.stored))
        for reason, n in result.reasons.items():
            self.totals[f"rejected_{reason}"] += n
        return result

    # --- anomalies (after the positions commit, in their own thread; see ingest/anomalies.py) ------------
    def _publish_anomalies(self, stored: Stored) -> None:
        assert self.anomalies is not None
        self.totals["anomalies"] += len(stored.anomalies)
        self.totals["anomaly_alerts"] += len(stored.alerts)
        for anomaly in stored.anomalies:
            site = self.anomalies.sites.get(anomaly.device_ids[0], "central")
            for device_id in anomaly.device_ids:
                self._client.publish(topic(site, device_id, TopicKind.ANOMALY), anomaly.model_dump_json(), qos=1)
        for alert in stored.alerts:
            site = str(alert.details.get("site") or "central")
            for device_id in alert.device_ids:
                self._client.publish(topic(site, device_id, TopicKind.ALERT), alert.model_dump_json(), qos=1)

    def run(self, stop: threading.Event) -> None:
        self._connection(stop)
        self._worker_stop.clear()
        if self.anomalies is not None:
            self.anomaly_worker = AnomalyWorker(
                self.anomalies, self.database.url.get_secret_value(), self.database.connect_timeout_s,
                self._publish_anomalies,
            )  # fmt: skip
            self.anomaly_worker.start(self._worker_stop)
        self._client.connect_async(self.mqtt_settings.host, self.mqtt_settings.port, self.mqtt_settings.keepalive_s)
        self._client.loop_start()
        last_stats = time.monotonic()
        last_partitions = datetime.now(UTC)
        previous = 0
        try:
            while not stop.is_set():
                batch = self._take_batch(stop)
                if batch:
                    self.process(batch, stop)
                now = time.monotonic()
                if now - last_stats >= 10:
                    rate = (self.totals["positions_new"] - previous) / (now - last_stats)
                    log.info("ingest: %.1f new fixes/s; totals %s", rate, dict(sorted(self.totals.items())))
                    previous, last_stats = self.totals["positions_new"], now
                if datetime.now(UTC) - last_partitions > timedelta(hours=6):
                    conn = self._connection(stop)
                    with conn.transaction():
                        ensure_partitions(conn, months_ahead=self.database.partition_months_ahead)
                    last_partitions = datetime.now(UTC)
        finally:
            self._worker_stop.set()
            if self.anomaly_worker is not None:
                self.anomaly_worker.join(30)
            self._client.disconnect()
            self._client.loop_stop()
            if self._conn is not None:
                self._conn.close()

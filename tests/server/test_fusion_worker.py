"""The fusion worker on a real PostgreSQL: declarations + detection and anomaly rows → one alert with its chain."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb
from websockets.sync.client import connect

from cedetect.declarations import Declaration
from cedetect.models import Alert, anomaly_id_for, detection_id_for, utc_now
from cedetect.storage import ALERT_COLUMNS, alert_from_row
from risk.fusion import ALERT_KIND
from risk.store import score_values, store_scores, upsert_declaration
from server.fusion_worker import FusionWorker
from tests.risk.factories import T0
from tests.risk.factories import declaration as make_declaration
from tests.server.conftest import LiveServer
from tests.support import wait_for

pytestmark = pytest.mark.postgres


POSTS = {"border-post-kapikule": (41.7206, 26.3594), "border-post-pazarkule": (41.6446, 26.4897)}


def declaration(declaration_id: str = "97061800", **transit: Any) -> Declaration:
    return make_declaration(declaration_id=declaration_id, **{"trailer_plate": None, **transit})


def insert_detection(
    conn: psycopg.Connection, text: str, at: datetime, *, site: str = "border-post-kapikule", kind: str = "plate"
) -> uuid.UUID:
    camera = f"cam-{site}"
    detection_id = detection_id_for(camera, kind, text, at)
    conn.execute(
        "INSERT INTO detections (detection_id, camera_id, site, kind, time_utc, text, raw_text, confidence, box_xyxy,"
        " valid, crop_sha256) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            detection_id,
            camera,
            site,
            kind,
            at,
            text,
            text,
            0.91,
            [10, 20, 200, 80],
            True,
            hashlib.sha256(b"x").hexdigest(),
        ),
    )
    return detection_id


def insert_anomaly(
    conn: psycopg.Connection, kind: str, device: str, at: datetime, *, score: float = 1.0, zone_id: str | None = None
) -> uuid.UUID:
    anomaly_id = anomaly_id_for(kind, (device,), at)
    conn.execute(
        "INSERT INTO anomalies (anomaly_id, kind, device_ids, start_utc, end_utc, latitude, longitude, score, reason,"
        " zone_id, evidence, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            anomaly_id,
            kind,
            [device],
            at,
            at + timedelta(minutes=35),
            41.61,
            26.71,
            score,
            f"{kind} near Edirne",
            zone_id,
            Jsonb([]),
            Jsonb({}),
        ),
    )
    return anomaly_id


def store(conn: psycopg.Connection, decl: Declaration, risk_score: float = 0.3, lane: str = "yellow") -> None:
    upsert_declaration(conn, decl)
    store_scores(conn, [score_values(decl.declaration_id, "test-model", risk_score, lane, ["profile:x[a+b]"], T0)])


def alerts(conn: psycopg.Connection) -> list[Alert]:
    rows = conn.execute(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts ORDER BY created_utc").fetchall()
    return [alert_from_row(row) for row in rows]


def test_a_read_and_an_anomaly_raise_exactly_one_alert_with_the_evidence_chain(
    db: psycopg.Connection, database_url: str
) -> None:
    store(db, declaration())
    store(db, declaration("11111111", vehicle_plate="06 XYZ 99", container_codes=[], tracker_device_id="TRK-9"))
    anomaly = insert_anomaly(db, "route_deviation", "TRK-7", T0 - timedelta(hours=2), score=0.9)
    read = insert_detection(db, "34A8C123", T0 + timedelta(hours=1))  # B read as 8
    insert_detection(db, "99ZZZ999", T0 + timedelta(hours=1))  # nobody's truck

    worker = FusionWorker(database_url, post_locations=POSTS)
    try:
        stats = worker.run_until_idle()
        assert (stats.detections, stats.anomalies, stats.declarations) == (2, 1, 2)
        assert (stats.links, stats.alerts) == (2, 1)
        assert stats.one_char_tolerant == 1
        [alert] = alerts(db)
        assert alert.kind == ALERT_KIND
        assert alert.device_ids == ("TRK-7",)
        assert alert.time_utc == T0 + timedelta(hours=1)
        assert (alert.latitude, alert.longitude, alert.zone_id) == (41.7206, 26.3594, "border-post-kapikule")
        details = alert.details
        assert details["declaration_id"] == "97061800"
        assert details["declaration_risk"]["reasons"] == ["profile:x[a+b]"]
        chain = {e["type"]: e for e in details["evidence"]}
        assert chain["read"]["detection_id"] == str(read)
        assert chain["read"]["match"] == "one_char_tolerant"
        assert chain["read"]["matched_key"] == "34ABC123"
        assert chain["read"]["crop_sha256"] == hashlib.sha256(b"x").hexdigest()
        assert chain["anomaly"]["anomaly_id"] == str(anomaly)
        assert [r["code"] for r in details["reasons"]] == [
            "declaration_risk",
            "one_char_tolerant_read",
            "route_deviation",
        ]
        # 1 - (1 - 0.3) * (1 - 0.5 * 0.9) = 0.615: medium
        assert alert.severity.value == "medium"

        # Nothing new: nothing happens; the watermarks are stored.
        assert worker.run_until_idle().alerts == 0
        assert db.execute("SELECT source, last_seq FROM fusion_state ORDER BY source").fetchall() == [
            ("anomalies", 1),
            ("declarations", 4),  # two upserts, then two scores: each takes a new stored_seq
            ("detections", 2),
        ]
    finally:
        worker.close()

    # A fresh worker replaying everything from scratch raises no duplicate.
    db.execute("UPDATE fusion_state SET last_seq = 0")
    replay = FusionWorker(database_url, post_locations=POSTS)
    try:
        again = replay.run_until_idle()
        assert again.links == 0  # already linked
        assert again.alerts == 0
    finally:
        replay.close()
    assert len(alerts(db)) == 1


def test_new_evidence_escalates_with_a_new_alert_and_late_arrival_at_another_post(
    db: psycopg.Connection, database_url: str
) -> None:
    store(db, declaration(), risk_score=0.2, lane="green")
    worker = FusionWorker(database_url, post_locations=POSTS, batch_size=1)
    try:
        insert_detection(db, "34ABC123", T0 + timedelta(hours=2))
        assert worker.run_until_idle().alerts == 0  # on time, at the right post, low risk
        insert_anomaly(db, "rendezvous", "TRK-7", T0 - timedelta(hours=5))
        first = worker.run_until_idle()
        assert first.alerts == 1  # 1 - 0.8 * 0.4 = 0.68: medium
        insert_detection(db, "MSKU1234565", T0 + timedelta(hours=10), site="border-post-pazarkule", kind="container")
        second = worker.run_until_idle()
        assert second.alerts == 1
    finally:
        worker.close()
    severities = [a.severity.value for a in alerts(db)]
    assert severities == ["medium", "high"]  # 0.68, then 1 - 0.8 * 0.4 * 0.5 * 0.65 = 0.896
    latest = alerts(db)[-1]
    codes = {r["code"] for r in latest.details["reasons"]}
    assert {"rendezvous", "unexpected_post", "arrival_outside_window"} <= codes
    assert latest.zone_id == "border-post-pazarkule"


def test_evidence_outside_the_active_period_or_of_another_truck_is_not_linked(
    db: psycopg.Connection, database_url: str
) -> None:
    store(db, declaration(), risk_score=0.9, lane="red")
    insert_detection(db, "34ABC123", T0 + timedelta(days=5))  # the same truck on a later trip
    insert_anomaly(db, "gap", "TRK-8", T0)
    worker = FusionWorker(database_url, post_locations=POSTS)
    try:
        stats = worker.run_until_idle()
    finally:
        worker.close()
    assert (stats.links, stats.alerts) == (0, 0)
    assert db.execute("SELECT count(*) FROM declaration_evidence").fetchone() == (0,)


def test_a_truck_read_before_its_declaration_is_lodged_is_linked_when_it_arrives(
    db: psycopg.Connection, database_url: str
) -> None:
    read = insert_detection(db, "MSKU1284565", T0 + timedelta(hours=1), kind="container")  # 3 read as 8
    anomaly = insert_anomaly(db, "unscheduled_stop", "TRK-7", T0 - timedelta(hours=4))
    worker = FusionWorker(database_url, post_locations=POSTS)
    try:
        assert worker.run_until_idle().links == 0  # no declaration yet
        store(db, declaration(), risk_score=0.5, lane="yellow")
        stats = worker.run_until_idle()
        assert (stats.declarations, stats.links, stats.one_char_tolerant, stats.alerts) == (1, 2, 1, 1)
        # Lodging the same declaration again re-assesses it and raises nothing new.
        store(db, declaration(), risk_score=0.5, lane="yellow")
        assert worker.run_until_idle().alerts == 0
    finally:
        worker.close()
    [alert] = alerts(db)
    assert {e.get("detection_id") or e.get("anomaly_id") for e in alert.details["evidence"]} == {
        str(read),
        str(anomaly),
    }


def test_a_row_committed_after_a_later_one_is_still_fused(db: psycopg.Connection, database_url: str) -> None:
    store(db, declaration(), risk_score=0.7, lane="red")
    worker = FusionWorker(database_url, post_locations=POSTS)
    try:
        with psycopg.connect(database_url) as slow:  # a transaction that takes stored_seq 1 and commits last
            early = insert_detection(slow, "34ABC123", T0 + timedelta(hours=1))
            insert_detection(db, "06XYZ99", T0 + timedelta(hours=1))  # stored_seq 2, committed at once
            assert worker.run_until_idle().detections == 1
            slow.commit()
        stats = worker.run_until_idle()
        assert (stats.detections, stats.links, stats.alerts) == (1, 1, 1)
        assert worker.late_rows == 1
        assert worker.run_until_idle().detections == 0  # seen: not fused twice
    finally:
        worker.close()
    [alert] = alerts(db)
    assert alert.details["evidence"][0]["detection_id"] == str(early)


def test_the_server_links_evidence_and_streams_the_alert_live(
    live: LiveServer, client: httpx.Client, db: psycopg.Connection
) -> None:
    decl = declaration(vehicle_plate="34 KLM 456", tracker_device_id="TRK-21")
    created = client.post("/api/v1/declarations", json=decl.model_dump(mode="json"))
    assert created.status_code == 201, created.text
    # Whatever the shipped model says, an analyst's red lane (a newer score) makes the truck worth stopping.
    store_scores(db, [score_values(decl.declaration_id, "analyst", 0.4, "red", ["manual:tip-off"], utc_now())])
    with connect(live.ws_url("/api/v1/alerts/live"), open_timeout=10) as ws:
        wait_for(lambda: live.state.hub.client_count >= 1, timeout_s=10)
        read = insert_detection(db, "34KLM456", T0 + timedelta(hours=1))
        message = json.loads(ws.recv(timeout=30))
    assert message["type"] == "alert"
    alert = Alert.model_validate(message["alert"])
    assert alert.kind == ALERT_KIND
    assert alert.details["evidence"][0]["detection_id"] == str(read)
    detail = client.get(f"/api/v1/declarations/{decl.declaration_id}").json()
    assert [e["id"] for e in detail["evidence"]] == [str(read)]
    assert detail["evidence"][0]["crop_url"] == f"/api/v1/evidence/{hashlib.sha256(b'x').hexdigest()}"
    assert detail["evidence"][0]["match"] == "exact"
    assert [a["alert_id"] for a in detail["alerts"]] == [str(alert.alert_id)]


def test_a_declaration_scored_after_it_was_fused_is_assessed_again(db: psycopg.Connection, database_url: str) -> None:
    # ``cedetect risk load`` commits the declarations, then their scores: fusion may see the declaration
    # in between, without a score; the score arriving later must still be taken into account
    upsert_declaration(db, declaration())
    insert_detection(db, "34ABC123", T0 + timedelta(hours=1))
    worker = FusionWorker(database_url, post_locations=POSTS)
    try:
        assert worker.run_until_idle().alerts == 0  # on time, at the right post, and no score yet
        store_scores(db, [score_values("97061800", "test-model", 0.95, "red", ["profile:x[a+b]"], T0)])
        assert worker.run_until_idle().alerts == 1
    finally:
        worker.close()
    (alert,) = alerts(db)
    assert alert.details["declaration_risk"]["risk_score"] == 0.95

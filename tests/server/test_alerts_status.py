"""An alert's handling status: GET/PUT /alerts/{alert_id}/status, over a real server and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from cedetect.storage import insert_alert
from tests.server.factories import make_alert

pytestmark = pytest.mark.postgres


def test_an_alert_moves_through_assess_decide_respond_close(client: httpx.Client, db: psycopg.Connection) -> None:
    alert = make_alert()
    other = make_alert(title="Another truck")
    insert_alert(db, alert)
    insert_alert(db, other)
    url = f"/api/v1/alerts/{alert.alert_id}/status"
    assert client.get(url).json() == {"alert_id": str(alert.alert_id), "status": "new"}  # as raised

    for status in ("assessing", "decided", "responding", "closed"):
        response = client.put(url, json={"status": status})
        assert response.status_code == 200, response.text
        assert response.json() == {"alert_id": str(alert.alert_id), "status": status}
        assert client.get(url).json()["status"] == status
    # idempotent, and a closed alert can be reopened
    assert client.put(url, json={"status": "closed"}).json()["status"] == "closed"
    assert client.put(url, json={"status": "assessing"}).json()["status"] == "assessing"

    # stored in the alerts table; the other alert is untouched; a replayed insert keeps the status
    assert not insert_alert(db, alert)
    rows: dict[object, object] = dict(db.execute("SELECT alert_id, status FROM alerts").fetchall())
    assert rows == {alert.alert_id: "assessing", other.alert_id: "new"}
    # the alert itself is served as before
    assert client.get(f"/api/v1/alerts/{alert.alert_id}").json() == alert.model_dump(mode="json")


def test_bad_status_requests_get_named_errors(client: httpx.Client, db: psycopg.Connection) -> None:
    alert = make_alert()
    insert_alert(db, alert)
    url = f"/api/v1/alerts/{alert.alert_id}/status"

    unknown_status = client.put(url, json={"status": "shredded"})
    assert unknown_status.status_code == 422
    assert unknown_status.json()["error"] == "invalid_request"
    assert unknown_status.json()["detail"][0]["loc"] == ["body", "status"]

    extra = client.put(url, json={"status": "assessing", "by": "me"})
    assert extra.status_code == 422
    assert extra.json()["error"] == "invalid_request"

    missing_body = client.put(url)
    assert missing_body.status_code == 422

    unknown = uuid.uuid4()
    for response in (
        client.get(f"/api/v1/alerts/{unknown}/status"),
        client.put(f"/api/v1/alerts/{unknown}/status", json={"status": "closed"}),
    ):
        assert response.status_code == 404
        assert response.json() == {"error": "not_found", "detail": f"alert {unknown} not found"}

    malformed = client.put("/api/v1/alerts/not-a-uuid/status", json={"status": "closed"})
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["path", "alert_id"]

    # nothing above changed the stored status
    assert client.get(url).json()["status"] == "new"


def test_statuses_lists_the_alerts_being_handled(client: httpx.Client, db: psycopg.Connection) -> None:
    from datetime import timedelta

    from cedetect.models import utc_now

    now = utc_now()
    alerts = [make_alert(created_utc=now - timedelta(minutes=10 - i), title=f"alert {i}") for i in range(4)]
    for alert in alerts:
        insert_alert(db, alert)
    assert client.get("/api/v1/alerts/statuses").json() == []  # all new
    client.put(f"/api/v1/alerts/{alerts[0].alert_id}/status", json={"status": "closed"})
    client.put(f"/api/v1/alerts/{alerts[2].alert_id}/status", json={"status": "assessing"})
    listed = client.get("/api/v1/alerts/statuses").json()
    assert listed == [  # most recently raised first
        {"alert_id": str(alerts[2].alert_id), "status": "assessing"},
        {"alert_id": str(alerts[0].alert_id), "status": "closed"},
    ]
    assert client.get("/api/v1/alerts/statuses", params={"limit": 1}).json() == listed[:1]
    bad = client.get("/api/v1/alerts/statuses", params={"limit": 0})
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_request"

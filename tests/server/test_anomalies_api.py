"""GET /api/v1/anomalies and /anomalies/{id} on anomalies stored the way ingest stores them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from cedetect.models import AlertSeverity, Anomaly, AnomalyKind, EvidenceFix
from ingest.anomalies import store_anomalies
from tests.server.conftest import LiveServer
from tracking.anomalies import make_anomaly

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def fix(device: str, minutes: int, lat: float = 37.0) -> EvidenceFix:
    return EvidenceFix(device_id=device, time_utc=T0 + timedelta(minutes=minutes), latitude=lat, longitude=42.0)


def anomalies() -> list[Anomaly]:
    stop = (fix("truck-1", 10), fix("truck-1", 70))
    jump = (fix("truck-2", 100), fix("truck-2", 101, 37.03))
    meet = (fix("truck-1", 200), fix("truck-3", 240))
    return [
        make_anomaly(AnomalyKind.UNSCHEDULED_STOP, ("truck-1",), stop[0].time_utc, stop[1].time_utc, stop[0], 0.33,
                     "stationary for 60 min", stop, details={"duration_s": 3600.0}),
        make_anomaly(AnomalyKind.GPS_JUMP, ("truck-2",), jump[0].time_utc, jump[1].time_utc, jump[1], 0.6,
                     "implied speed: 200 km/h", jump, key="implied_speed"),
        make_anomaly(AnomalyKind.RENDEZVOUS, ("truck-3", "truck-1"), meet[0].time_utc, meet[1].time_utc, meet[0],
                     0.9, "two trucks within 100 m for 40 min", meet),
    ]  # fmt: skip


@pytest.fixture
def stored(database_url: str, live: LiveServer) -> list[Anomaly]:
    """The anomalies, stored after the server has started (and migrated the database)."""
    found = anomalies()
    with psycopg.connect(database_url) as conn:
        result = store_anomalies(conn, found, lambda a: AlertSeverity.HIGH if a.score >= 0.9 else None)
        assert len(result.anomalies) == 3
        assert [a.kind for a in result.alerts] == ["rendezvous"]
        again = store_anomalies(conn, found, lambda a: AlertSeverity.HIGH)
        assert again.anomalies == []
        assert again.alerts == []
    return found


def test_lists_anomalies_newest_first_with_their_evidence(stored: list[Anomaly], client: httpx.Client) -> None:
    response = client.get("/api/v1/anomalies")
    assert response.status_code == 200
    body = response.json()
    assert [a["kind"] for a in body] == ["rendezvous", "gps_jump", "unscheduled_stop"]
    rendezvous = body[0]
    assert rendezvous["device_ids"] == ["truck-1", "truck-3"]
    assert rendezvous["anomaly_id"] == str(stored[2].anomaly_id)
    assert [e["device_id"] for e in rendezvous["evidence"]] == ["truck-1", "truck-3"]
    assert body[2]["details"] == {"duration_s": 3600.0}
    assert body[2]["score"] == pytest.approx(0.33)
    one = client.get(f"/api/v1/anomalies/{stored[1].anomaly_id}")
    assert one.status_code == 200
    assert Anomaly.model_validate({k: v for k, v in one.json().items() if k != "stored_utc"}) == stored[1]
    assert client.get(f"/api/v1/anomalies/{uuid.uuid4()}").status_code == 404


def test_filters_device_kind_time_and_score(stored: list[Anomaly], client: httpx.Client) -> None:
    def kinds(**params: str | float) -> list[str]:
        response = client.get("/api/v1/anomalies", params=params)
        assert response.status_code == 200, response.text
        return [a["kind"] for a in response.json()]

    assert kinds(device_id="truck-1") == ["rendezvous", "unscheduled_stop"]
    assert kinds(device_id="truck-3") == ["rendezvous"]
    assert kinds(kind="gps_jump") == ["gps_jump"]
    # since/until select anomalies whose span meets [since, until): the stop spans 08:10-09:10
    assert kinds(since=(T0 + timedelta(minutes=60)).isoformat()) == ["rendezvous", "gps_jump", "unscheduled_stop"]
    assert kinds(since=(T0 + timedelta(minutes=71)).isoformat()) == ["rendezvous", "gps_jump"]
    assert kinds(until=(T0 + timedelta(minutes=100)).isoformat()) == ["unscheduled_stop"]
    assert kinds(min_score=0.5) == ["rendezvous", "gps_jump"]
    assert kinds(limit=1) == ["rendezvous"]


def test_bad_filters_are_refused_with_a_reason(client: httpx.Client) -> None:
    assert client.get("/api/v1/anomalies", params={"kind": "teleport"}).status_code == 422
    assert client.get("/api/v1/anomalies", params={"since": "2026-11-25T08:00:00"}).status_code == 422  # naive
    assert client.get("/api/v1/anomalies", params={"device_id": "bad id!"}).status_code == 422
    response = client.get(
        "/api/v1/anomalies", params={"since": "2026-11-25T09:00:00Z", "until": "2026-11-25T08:00:00Z"}
    )
    assert response.status_code == 422
    assert "since" in response.text

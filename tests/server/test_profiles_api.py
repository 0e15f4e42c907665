"""Risk profiles through the API: seeded starter set, versioned PUTs with who/why, and the scorer following them."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from risk.profiles import starter_profiles
from tests.server.test_fusion_worker import declaration

pytestmark = pytest.mark.postgres

TIMBER = {
    "id": "bulgarian_timber",
    "name": "Sawn timber from Bulgaria",
    "rationale": "Test profile: sawn timber (HS 4408) declared from Bulgaria is checked at the post.",
    "lane": "red",
    "indicators": [
        {"name": "timber", "kind": "hs_prefix", "prefixes": ["4408"], "weight": 1},
        {"name": "from_bulgaria", "kind": "field_in", "field": "country_of_departure", "values": ["BG"], "weight": 1},
    ],
}


def _put(
    client: httpx.Client, profile: dict[str, Any], who: str = "analyst-4", why: str = "new intelligence"
) -> httpx.Response:
    return client.put(f"/api/v1/profiles/{profile['id']}", json={"profile": profile, "changed_by": who, "comment": why})


def test_the_starter_set_is_seeded_once(client: httpx.Client, db: psycopg.Connection) -> None:
    listed = client.get("/api/v1/profiles").json()
    assert sorted(p["profile_id"] for p in listed) == sorted(p.id for p in starter_profiles())
    assert all(p["version"] == 1 and p["active"] and p["changed_by"] == "cedetect" for p in listed)
    assert len(client.get("/api/v1/profiles").json()) == len(listed)
    row = db.execute("SELECT count(*) FROM risk_profiles").fetchone()
    assert row == (len(listed),)


def test_a_put_adds_a_version_keeps_the_history_and_the_scorer_follows(client: httpx.Client) -> None:
    body = declaration().model_dump(mode="json")
    before = client.post("/api/v1/risk/score", json=body).json()
    assert not any(r.startswith("profile:bulgarian_timber") for r in before["reasons"])

    created = _put(client, TIMBER, why="timber smuggling reported on the Kapikule route")
    assert created.status_code == 200, created.text
    assert created.json()["version"] == 1
    after = client.post("/api/v1/risk/score", json=body).json()
    assert "profile:bulgarian_timber[timber+from_bulgaria]" in after["reasons"]
    assert after["lane"] == "red"

    disabled = _put(client, {**TIMBER, "enabled": False}, who="supervisor-1", why="route closed")
    assert disabled.json()["version"] == 2
    detail = client.get("/api/v1/profiles/bulgarian_timber").json()
    assert detail["active"]["version"] == 2
    assert [(v["version"], v["active"], v["changed_by"], v["comment"]) for v in detail["history"]] == [
        (2, True, "supervisor-1", "route closed"),
        (1, False, "analyst-4", "timber smuggling reported on the Kapikule route"),
    ]
    final = client.post("/api/v1/risk/score", json=body).json()
    assert not any(r.startswith("profile:bulgarian_timber") for r in final["reasons"])


@pytest.mark.parametrize(
    ("profile", "extra", "error"),
    [
        ({**TIMBER, "lane": "purple"}, {}, "invalid_profile"),
        ({**TIMBER, "indicators": []}, {}, "invalid_profile"),
        ({**TIMBER, "threshold": 5}, {}, "invalid_profile"),
        ({**TIMBER, "id": "other_id"}, {}, "profile_id_mismatch"),
        (TIMBER, {"changed_by": ""}, "invalid_request"),
        (TIMBER, {"comment": None}, "invalid_request"),
    ],
)
def test_a_bad_change_is_a_named_422_and_stores_nothing(
    client: httpx.Client, db: psycopg.Connection, profile: dict[str, Any], extra: dict[str, Any], error: str
) -> None:
    body = {"profile": profile, "changed_by": "a", "comment": "b", **extra}
    response = client.put("/api/v1/profiles/bulgarian_timber", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == error
    assert db.execute("SELECT count(*) FROM risk_profiles WHERE profile_id = 'bulgarian_timber'").fetchone() == (0,)


def test_unknown_profiles_are_404(client: httpx.Client) -> None:
    assert client.get("/api/v1/profiles/no_such_profile").json()["error"] == "not_found"
    assert client.get("/api/v1/profiles/Bad-Id").status_code == 422

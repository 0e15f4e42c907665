"""Declarations, scoring and outcomes through the REST API of a real server on a real PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from cedetect.declarations import Declaration, read_declarations_csv
from cedetect.models import utc_now
from tests.server.factories import make_alert, store_alert
from tests.server.test_fusion_worker import declaration

pytestmark = pytest.mark.postgres


def _real(shared_data: Path, tmp_path: Path, n: int) -> list[Declaration]:
    """The first ``n`` rows of the real validation file."""
    lines = (shared_data / "customs" / "df_syn_valid_eng.csv").read_text(encoding="utf-8").splitlines()[: n + 1]
    path = tmp_path / "sample.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    decls, errors = read_declarations_csv(path)
    assert errors == []
    return decls


def _body(decl: Declaration) -> dict[str, Any]:
    return decl.model_dump(mode="json")


def test_a_declaration_is_scored_on_arrival_stored_and_read_back(
    client: httpx.Client, shared_data: Path, tmp_path: Path
) -> None:
    decls = _real(shared_data, tmp_path, 30)
    for decl in decls:
        response = client.post("/api/v1/declarations", json=_body(decl))
        assert response.status_code == 201, response.text
        body = response.json()
        assert Declaration.model_validate(body["declaration"]) == decl
        score = body["score"]
        assert 0.0 <= score["risk_score"] <= 1.0
        assert score["lane"] in {"red", "yellow", "blue", "green"}
        assert score["model_version"]
    # Posting the same declaration again replaces it: 200, still one row.
    again = client.post("/api/v1/declarations", json=_body(decls[0]))
    assert again.status_code == 200

    one = client.get(f"/api/v1/declarations/{decls[0].declaration_id}").json()
    assert Declaration.model_validate(one["declaration"]) == decls[0]
    assert one["score"]["risk_score"] == again.json()["score"]["risk_score"]
    assert one["evidence"] == []
    assert one["alerts"] == []
    assert one["outcomes"] == []

    # Scoring without storing gives the same answer.
    scored = client.post("/api/v1/risk/score", json=_body(decls[0])).json()
    assert scored["risk_score"] == one["score"]["risk_score"]
    assert scored["lane"] == one["score"]["lane"]
    batch = client.post("/api/v1/risk/score/batch", json=[_body(d) for d in decls[:5]]).json()
    assert [r["declaration_id"] for r in batch] == [d.declaration_id for d in decls[:5]]

    everything = client.get("/api/v1/declarations", params={"limit": 1000}).json()
    assert len(everything) == 30
    scores = [d["score"]["risk_score"] for d in everything]
    assert scores == sorted(scores, reverse=True)
    threshold = scores[9]
    top = client.get("/api/v1/declarations", params={"min_score": threshold}).json()
    assert len(top) >= 10
    assert all(d["score"]["risk_score"] >= threshold for d in top)
    lane = everything[0]["score"]["lane"]
    same_lane = client.get("/api/v1/declarations", params={"lane": lane}).json()
    assert same_lane
    assert all(d["score"]["lane"] == lane for d in same_lane)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hs6_code": "12AB56"}, "hs6_code"),
        ({"date": "2021-02-30"}, "date"),
        ({"net_mass_kg": -1}, "net_mass_kg"),
        ({"container_codes": ["NOTACODE"]}, "container_codes"),
        ({"expected_from_utc": "2021-03-02T08:00:00"}, "expected_from_utc"),  # naive time
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_declaration_is_a_named_422_and_nothing_is_stored(
    client: httpx.Client, db: psycopg.Connection, change: dict[str, Any], field: str
) -> None:
    body = {**_body(declaration()), **change}
    response = client.post("/api/v1/declarations", json=body)
    assert response.status_code == 422
    error = response.json()
    assert error["error"] == "invalid_request"
    assert any(field in [str(p) for p in e["loc"]] for e in error["detail"]), error
    assert db.execute("SELECT count(*) FROM declarations").fetchone() == (0,)


def test_bad_queries_and_unknown_ids_are_named(client: httpx.Client) -> None:
    assert client.get("/api/v1/declarations/nope").json()["error"] == "not_found"
    assert client.get("/api/v1/declarations/bad%20id").status_code == 422
    for params in (
        {"lane": "purple"},
        {"min_score": "2"},
        {"limit": "0"},
        {"since": "2021-03-02", "until": "2021-03-01"},
    ):
        response = client.get("/api/v1/declarations", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"] == "invalid_request"
    assert (
        client.post(
            "/api/v1/risk/score", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


# --- outcomes -------------------------------------------------------------------------------------


def test_outcomes_are_stored_once_and_exported_as_training_labels(
    client: httpx.Client, database_url: str, shared_data: Path, tmp_path: Path
) -> None:
    decls = _real(shared_data, tmp_path, 3)
    for decl in decls:
        assert client.post("/api/v1/declarations", json=_body(decl)).status_code == 201
    alert = make_alert(kind="declaration_risk")
    alert = alert.model_copy(update={"details": {"declaration_id": decls[1].declaration_id}})
    store_alert(database_url, alert)
    when = utc_now().isoformat()
    seizure = {
        "declaration_id": decls[0].declaration_id,
        "outcome": "seizure",
        "officer": "officer-12",
        "notes": "undeclared cigarettes behind the pallets",
        "time_utc": when,
    }
    first = client.post("/api/v1/outcomes", json=seizure)
    assert first.status_code == 201, first.text
    assert first.json()["label"] == [1, 2]
    assert client.post("/api/v1/outcomes", json=seizure).status_code == 200  # same report: stored once
    by_alert = client.post(
        "/api/v1/outcomes",
        json={"alert_id": str(alert.alert_id), "outcome": "nothing_found", "officer": "officer-3", "time_utc": when},
    )
    assert by_alert.status_code == 201
    assert by_alert.json()["declaration_id"] == decls[1].declaration_id  # taken from the alert
    released = {"declaration_id": decls[2].declaration_id, "outcome": "released", "officer": "o", "time_utc": when}
    assert client.post("/api/v1/outcomes", json=released).json()["label"] is None

    listed = client.get("/api/v1/outcomes").json()
    assert len(listed) == 3
    assert (
        client.get("/api/v1/outcomes", params={"declaration_id": decls[0].declaration_id}).json()[0]["outcome"]
        == "seizure"
    )

    labels = client.get("/api/v1/outcomes/labels.csv")
    assert labels.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(labels.text)))
    assert {r["Declaration ID"]: (r["Fraud"], r["Critical Fraud"]) for r in rows} == {
        decls[0].declaration_id: ("1", "2"),
        decls[1].declaration_id: ("0", "0"),
    }
    # The export reads back as declarations in the dataset's format, labels set from the outcomes.
    path = tmp_path / "labels.csv"
    path.write_text(labels.text, encoding="utf-8")
    back, errors = read_declarations_csv(path)
    assert errors == []
    assert {d.declaration_id: d for d in back} == {
        decls[0].declaration_id: decls[0].model_copy(update={"fraud": 1, "critical_fraud": 2}),
        decls[1].declaration_id: decls[1].model_copy(update={"fraud": 0, "critical_fraud": 0}),
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"outcome": "seizure", "officer": "o", "time_utc": "2021-03-02T08:00:00Z"}, "invalid_request"),
        (
            {"declaration_id": "nope", "outcome": "seizure", "officer": "o", "time_utc": "2021-03-02T08:00:00Z"},
            "unknown_declaration",
        ),
        (
            {
                "alert_id": "6a0f3c52-3c1e-4f0e-9a57-3f0e8c5d2b11",
                "outcome": "seizure",
                "officer": "o",
                "time_utc": "2021-03-02T08:00:00Z",
            },
            "unknown_alert",
        ),
        (
            {"declaration_id": "x", "outcome": "confiscated", "officer": "o", "time_utc": "2021-03-02T08:00:00Z"},
            "invalid_request",
        ),
        (
            {"declaration_id": "x", "outcome": "seizure", "officer": "", "time_utc": "2021-03-02T08:00:00Z"},
            "invalid_request",
        ),
        (
            {"declaration_id": "x", "outcome": "seizure", "officer": "o", "time_utc": "2021-03-02T08:00:00"},
            "invalid_request",
        ),
    ],
)
def test_bad_outcomes_are_named_422s(client: httpx.Client, body: dict[str, Any], error: str) -> None:
    response = client.post("/api/v1/outcomes", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == error

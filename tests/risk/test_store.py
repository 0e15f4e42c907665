"""``risk.store`` on a real PostgreSQL: declaration round trip with transit fields, idempotent writes, profiles."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, timedelta
from typing import Any

import psycopg
import pytest

from cedetect.declarations import Declaration
from cedetect.storage import migrate
from risk import store
from risk.fusion import fuzzy_keys
from tests.risk.factories import T0, declaration

pytestmark = pytest.mark.postgres


def _decl(**change: Any) -> Declaration:
    # labels, a lower-case plate, a container list as text, a route and an expected time in another zone
    # all have to survive the round trip
    stored: dict[str, Any] = {
        "seller_id": None,
        "item_price_krw": 196_000_000.5,
        "fraud": 1,
        "critical_fraud": 2,
        "vehicle_plate": "34 abc 123",
        "container_codes": "MSKU1234565 TGHU7654321",
        "corridor_id": "TIR-E80",
        "route": [[26.36, 41.72], [27.1, 41.4], [28.97, 41.01]],
        "expected_from_utc": "2021-03-02T10:00:00+02:00",
    }
    return declaration(**{**stored, **change})


@pytest.fixture
def conn(database_url: str) -> Any:
    with psycopg.connect(database_url, autocommit=True) as c:
        migrate(c)
        yield c


def test_a_transit_declaration_round_trips_with_its_match_keys(conn: psycopg.Connection) -> None:
    decl = _decl()
    assert store.upsert_declaration(conn, decl) is True
    assert store.fetch_declaration(conn, decl.declaration_id) == decl
    row = conn.execute("SELECT match_keys, fuzzy_keys, stored_seq FROM declarations").fetchone()
    assert row is not None
    keys, fuzzy, seq = row
    assert keys == sorted(["34ABC123", "34TR9876", "MSKU1234565", "TGHU7654321"])
    assert fuzzy == fuzzy_keys(keys)
    # A second upsert replaces the row, says it was not new and takes a new sequence number.
    changed = _decl(seller_id="0VKY2BR", expected_post="border-post-pazarkule")
    assert store.upsert_declaration(conn, changed) is False
    assert store.fetch_declaration(conn, decl.declaration_id) == changed
    again = conn.execute("SELECT count(*), max(stored_seq) FROM declarations").fetchone()
    assert again is not None
    assert again[0] == 1
    assert again[1] > seq


def test_scores_upsert_per_model_version_and_the_latest_wins(conn: psycopg.Connection) -> None:
    decl = _decl()
    store.upsert_declaration(conn, decl)
    store.store_scores(conn, [store.score_values(decl.declaration_id, "m1", 0.2, "green", ["a"], T0)])
    store.store_scores(conn, [store.score_values(decl.declaration_id, "m1", 0.3, "blue", ["b"], T0)])
    store.store_scores(conn, [store.score_values(decl.declaration_id, "m2", 0.9, "red", ["c"], T0 + timedelta(1))])
    assert conn.execute("SELECT count(*) FROM risk_scores").fetchone() == (2,)
    latest = store.fetch_latest_score(conn, decl.declaration_id)
    assert latest is not None
    assert (latest["model_version"], latest["risk_score"], latest["lane"], latest["reasons"]) == (
        "m2",
        0.9,
        "red",
        ["c"],
    )
    with pytest.raises(psycopg.errors.CheckViolation):
        store.store_scores(conn, [store.score_values(decl.declaration_id, "m3", 1.5, "red", [], T0)])


def test_profile_versions_keep_one_active_and_the_history(database_url: str, conn: psycopg.Connection) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as aconn:
            body = {"id": "p", "name": "P"}
            await store.aput_profile_version(
                aconn, "p", body, valid_from=None, valid_until=None, changed_by="u0", comment="first"
            )
            # Two writers at once get distinct versions; exactly one stays active.
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as other:
                await asyncio.gather(
                    store.aput_profile_version(
                        aconn, "p", body, valid_from=date(2021, 1, 1), valid_until=None, changed_by="a", comment="x"
                    ),
                    store.aput_profile_version(
                        other, "p", body, valid_from=None, valid_until=None, changed_by="b", comment="y"
                    ),
                )
            return await store.aprofile_history(aconn, "p"), await store.aactive_profiles(aconn)

    history, active = asyncio.run(scenario())
    assert [h["version"] for h in history] == [3, 2, 1]
    assert [h["active"] for h in history] == [True, False, False]
    assert [(a["profile_id"], a["version"]) for a in active] == [("p", 3)]


def test_outcome_ids_are_deterministic() -> None:
    alert = uuid.uuid4()
    a = store.outcome_id_for(alert, "1", "seizure", "o", T0)
    assert a == store.outcome_id_for(alert, "1", "seizure", "o", T0.astimezone(UTC))
    assert a != store.outcome_id_for(alert, "1", "nothing_found", "o", T0)
    assert a != store.outcome_id_for(None, "1", "seizure", "o", T0)

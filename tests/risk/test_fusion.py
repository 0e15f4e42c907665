"""``risk.fusion``: matching reads (exact, one character off), linking anomalies, the fused score and the alert."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cedetect.declarations import Declaration
from cedetect.models import AlertSeverity
from risk.fusion import (
    ALERT_KIND,
    AnomalyEvidence,
    DeclarationRisk,
    MatchKind,
    ReadEvidence,
    active_period,
    anomaly_match,
    assess,
    build_alert,
    declaration_keys,
    deletion_variants,
    fuzzy_keys,
    in_period,
    match_read,
    normalise_key,
    one_edit_neighbours,
    within_one_edit,
)
from tests.risk.factories import T0, declaration


def _decl(**transit: object) -> Declaration:
    return declaration(**transit)


def _read(
    text: str,
    match: MatchKind = MatchKind.EXACT,
    *,
    at: datetime = T0 + timedelta(hours=1),
    site: str = "border-post-kapikule",
    key: str | None = None,
) -> ReadEvidence:
    return ReadEvidence(
        detection_id=f"det-{text}-{at.isoformat()}",
        kind="plate",
        text=text,
        time_utc=at,
        site=site,
        camera_id="cam-kapikule-1",
        confidence=0.93,
        match=match,
        matched_key=key or text,
        matched_field="vehicle_plate",
    )


def _anomaly(
    kind: str,
    score: float = 1.0,
    *,
    at: datetime = T0 - timedelta(hours=3),
    zone_id: str | None = None,
    anomaly_id: str = "an-1",
) -> AnomalyEvidence:
    return AnomalyEvidence(
        anomaly_id=anomaly_id,
        kind=kind,
        device_ids=("TRK-7",),
        start_utc=at,
        end_utc=at + timedelta(minutes=40),
        latitude=41.5,
        longitude=26.6,
        score=score,
        reason=f"{kind} on the approved corridor",
        zone_id=zone_id,
    )


LOW = DeclarationRisk(risk_score=0.1, lane="green", reasons=("model:x (+0.1)",), model_version="m1")
RED = DeclarationRisk(risk_score=0.35, lane="red", reasons=("profile:undervalued[hs+value]",), model_version="m1")


# --- matching -----------------------------------------------------------------------------------


def test_keys_are_normalised_plates_and_containers() -> None:
    assert normalise_key(" 34 abc-123 ") == "34ABC123"
    assert declaration_keys(_decl()) == {
        "34ABC123": "vehicle_plate",
        "34TR9876": "trailer_plate",
        "MSKU1234565": "container_code",
    }


@pytest.mark.parametrize(
    ("read", "kind", "key"),
    [
        ("34ABC123", MatchKind.EXACT, "34ABC123"),
        ("34 ABC 123", MatchKind.EXACT, "34ABC123"),
        ("34A8C123", MatchKind.ONE_CHAR_TOLERANT, "34ABC123"),  # B read as 8
        ("34ABC12", MatchKind.ONE_CHAR_TOLERANT, "34ABC123"),  # last character lost
        ("341ABC123", MatchKind.ONE_CHAR_TOLERANT, "34ABC123"),  # one character too many
        ("MSKU1234S65", MatchKind.ONE_CHAR_TOLERANT, "MSKU1234565"),  # 5 read as S
        ("34TR9876", MatchKind.EXACT, "34TR9876"),
    ],
)
def test_reads_match_exactly_or_within_one_character(read: str, kind: MatchKind, key: str) -> None:
    match = match_read(read, declaration_keys(_decl()))
    assert match is not None
    assert (match.kind, match.key) == (kind, key)


@pytest.mark.parametrize("read", ["34A8C128", "06XYZ99", "", "MSKU9999999", "34AB"])
def test_reads_two_characters_off_or_unrelated_do_not_match(read: str) -> None:
    assert match_read(read, declaration_keys(_decl())) is None


def test_short_keys_only_match_exactly() -> None:
    keys = {"AB12": "vehicle_plate"}
    assert match_read("AB12", keys) is not None
    assert match_read("AB13", keys) is None


_KEY = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=5, max_size=12)


def _one_edit(draw: st.DrawFn, key: str) -> str:
    i = draw(st.integers(0, len(key) - 1))
    c = draw(st.sampled_from(string.ascii_uppercase + string.digits))
    op = draw(st.sampled_from(["sub", "ins", "del"]))
    if op == "sub":
        return key[:i] + c + key[i + 1 :]
    if op == "ins":
        return key[:i] + c + key[i:]
    return key[:i] + key[i + 1 :]


@st.composite
def _key_and_edit(draw: st.DrawFn) -> tuple[str, str]:
    key = draw(_KEY)
    return key, _one_edit(draw, key)


@settings(max_examples=300, deadline=None)
@given(_key_and_edit())
def test_the_deletion_neighbourhoods_of_strings_one_edit_apart_intersect(pair: tuple[str, str]) -> None:
    key, read = pair
    assert within_one_edit(key, read)
    # What the database index relies on: the candidates query finds every tolerant match.
    assert set(fuzzy_keys([key])) & set(fuzzy_keys([read], min_length=4))


@settings(max_examples=300, deadline=None)
@given(_KEY, _KEY)
def test_within_one_edit_agrees_with_levenshtein(a: str, b: str) -> None:
    def levenshtein(x: str, y: str) -> int:
        prev = list(range(len(y) + 1))
        for i, cx in enumerate(x, 1):
            cur = [i]
            for j, cy in enumerate(y, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (cx != cy)))
            prev = cur
        return prev[-1]

    assert within_one_edit(a, b) == (levenshtein(a, b) <= 1)


@settings(max_examples=200, deadline=None)
@given(_key_and_edit())
def test_one_edit_neighbours_hold_every_read_one_edit_away(pair: tuple[str, str]) -> None:
    key, read = pair
    assert read in one_edit_neighbours(key)


def test_one_edit_neighbours_are_exactly_the_strings_one_edit_away() -> None:
    neighbours = one_edit_neighbours("AB1")
    assert all(within_one_edit("AB1", n) for n in neighbours)
    assert {"AB1", "B1", "XB1", "AB12", "AAB1", "A1"} <= neighbours
    assert "BA1" not in neighbours


def test_deletion_variants() -> None:
    assert deletion_variants("ABC") == {"BC", "AC", "AB"}


# --- linking anomalies and the active period -------------------------------------------------------


def test_anomalies_link_through_the_tracker_or_the_plate() -> None:
    assert anomaly_match(_decl(), ["TRK-7"]) is MatchKind.TRACKER_DEVICE
    assert anomaly_match(_decl(tracker_device_id=None), ["34ABC123"]) is MatchKind.VEHICLE_PLATE_DEVICE
    assert anomaly_match(_decl(), ["TRK-8"]) is None


def test_active_period_bounds_linking() -> None:
    decl = _decl()
    start, end = active_period(decl)
    assert start == datetime(2021, 2, 28, tzinfo=UTC)  # the declaration date less a day
    assert end == T0 + timedelta(hours=6) + timedelta(days=1)
    assert in_period(decl, T0)
    assert not in_period(decl, T0 + timedelta(days=3))
    undated = _decl(expected_from_utc=None, expected_until_utc=None)
    assert in_period(undated, datetime(2021, 3, 14, tzinfo=UTC))
    assert not in_period(undated, datetime(2021, 3, 17, tzinfo=UTC))


# --- assessment -------------------------------------------------------------------------------------


def test_an_on_time_exact_read_of_a_low_risk_declaration_raises_nothing() -> None:
    a = assess(_decl(), LOW, [_read("34ABC123")], [])
    assert a.fused_score == pytest.approx(0.1)
    assert not a.raises_alert
    assert [r.code for r in a.reasons] == ["declaration_risk"]


def test_a_red_lane_truck_read_at_its_post_raises_an_alert_with_the_lane_floor() -> None:
    a = assess(_decl(), RED, [_read("34ABC123")], [])
    assert a.fused_score == pytest.approx(0.6)
    assert a.severity is AlertSeverity.MEDIUM
    assert "lane floor" in a.reasons[0].detail


def test_no_road_evidence_raises_no_alert_whatever_the_risk() -> None:
    assert not assess(_decl(), DeclarationRisk(0.99, "red"), [], []).raises_alert


def test_anomalies_and_arrival_combine_by_noisy_or_with_named_reasons() -> None:
    late = T0 + timedelta(hours=9)
    reads = [_read("34A8C123", MatchKind.ONE_CHAR_TOLERANT, at=late, site="border-post-pazarkule", key="34ABC123")]
    anomalies = [_anomaly("route_deviation", 0.8), _anomaly("gap", 1.0, anomaly_id="an-2")]
    a = assess(_decl(), LOW, reads, anomalies)
    codes = [r.code for r in a.reasons]
    assert codes == [
        "declaration_risk",
        "one_char_tolerant_read",
        "route_deviation",
        "going_dark",
        "unexpected_post",
        "arrival_outside_window",
    ]
    expected = 1 - (1 - 0.1) * (1 - 0.5 * 0.8) * (1 - 0.45) * (1 - 0.5) * (1 - 0.35)
    assert a.fused_score == pytest.approx(expected, abs=1e-6)
    assert a.severity is AlertSeverity.CRITICAL
    late_reason = next(r for r in a.reasons if r.code == "arrival_outside_window")
    assert "3.0 h after" in late_reason.detail
    assert late_reason.evidence_ids == (reads[0].detection_id,)


def test_entering_the_expected_post_is_an_arrival_not_a_restricted_zone() -> None:
    early = T0 - timedelta(hours=2)
    enter = _anomaly("geofence_enter", 1.0, at=early, zone_id="border-post-kapikule")
    a = assess(_decl(), LOW, [], [enter])
    assert [r.code for r in a.reasons] == ["declaration_risk", "arrival_outside_window"]
    restricted = _anomaly("geofence_enter", 1.0, zone_id="restricted-habur")
    assert "restricted_zone_entry" in [r.code for r in assess(_decl(), LOW, [], [restricted]).reasons]


def test_an_unscored_declaration_is_said_so() -> None:
    a = assess(_decl(), None, [_read("34ABC123")], [_anomaly("rendezvous", 1.0)])
    assert a.reasons[0].code == "declaration_not_scored"
    assert a.fused_score == pytest.approx(0.6)


# --- the alert --------------------------------------------------------------------------------------


def test_the_alert_carries_the_evidence_chain_and_a_stable_id() -> None:
    decl = _decl()
    reads = [_read("34ABC123")]
    anomalies = [_anomaly("rendezvous", 0.9)]
    a = assess(decl, RED, reads, anomalies)
    created = datetime(2021, 3, 2, 12, 0, tzinfo=UTC)
    alert = build_alert(decl, a, latitude=41.72, longitude=26.36, zone_id="border-post-kapikule", created_utc=created)
    assert alert.kind == ALERT_KIND
    assert alert.device_ids == ("TRK-7",)
    assert alert.time_utc == reads[0].time_utc  # the latest evidence
    details = alert.details
    assert details["declaration_id"] == decl.declaration_id
    assert details["declaration_risk"]["lane"] == "red"
    assert details["declaration_risk"]["reasons"] == ["profile:undervalued[hs+value]"]
    assert [e["type"] for e in details["evidence"]] == ["read", "anomaly"]
    assert details["evidence"][0]["match"] == "exact"
    assert details["evidence"][1]["anomaly_id"] == "an-1"
    # Re-running on the same evidence, later, gives the same id; a higher severity gives a new one.
    again = build_alert(decl, a, latitude=41.72, longitude=26.36, created_utc=created + timedelta(hours=1))
    assert again.alert_id == alert.alert_id
    worse = assess(decl, RED, reads, [*anomalies, _anomaly("route_deviation", 1.0, anomaly_id="an-3")])
    assert worse.severity != a.severity
    assert build_alert(decl, worse, latitude=0, longitude=0, created_utc=created).alert_id != alert.alert_id


def test_no_alert_below_the_threshold() -> None:
    a = assess(_decl(), LOW, [_read("34ABC123")], [])
    with pytest.raises(ValueError, match="below_alert_threshold"):
        build_alert(_decl(), a, latitude=0, longitude=0, created_utc=T0)

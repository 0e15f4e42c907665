"""Indicators and profiles on hand-built declarations (exact outcomes), and on real rows (scalar = vectorised)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from cedetect.declarations import Declaration, read_declarations_csv
from risk.features import read_frame, to_frame
from risk.history import History
from risk.lanes import Lane, heaviest, random_draw
from risk.profiles import (
    FieldIn,
    FieldsDiffer,
    FirstTime,
    HsPrefix,
    Missing,
    NumericRange,
    PriorFraud,
    Profile,
    ProfileSet,
    ValueVsHistory,
    dump_profiles,
    load_profiles,
    starter_profiles,
)
from tests.risk.slices import TRAIN, VALID, declaration, head_lines


@pytest.fixture(scope="module")
def history() -> History:
    """Hand-built past: HS 847130 has 6 items at 10,000 KRW/kg; importer IMP0001 had 3 frauds in 4 items."""
    past = [
        declaration(
            declaration_id=f"2000000{i}",
            importer_id="IMP0001",
            fraud=int(i < 3),
            critical_fraud=2 if i == 0 else int(i < 3),
        )
        for i in range(4)
    ] + [
        declaration(declaration_id=f"2100000{i}", importer_id="IMP0002", seller_id=None, fraud=0, critical_fraud=0)
        for i in range(2)
    ]
    return History.fit(past)


def fires(indicator: object, decl: Declaration, history: History | None) -> bool:
    """The scalar result, checked against the vectorised one on the same declaration."""
    scalar = indicator.fires(decl, history)  # type: ignore[attr-defined]
    vector = indicator.mask(to_frame([decl]), history)  # type: ignore[attr-defined]
    assert bool(vector[0]) is scalar
    return bool(scalar)


def test_the_history_holds_value_per_kg_and_inspection_records(history: History) -> None:
    stats = history.value_stats("847130")
    assert stats is not None
    assert (stats.items, stats.median_krw_per_kg) == (6, 10_000.0)
    assert history.value_stats("847150") == history.hs4_value["8471"]  # too few items: HS4 heading
    assert history.value_stats("010121") is None
    record = history.record("importer_id", "IMP0001")
    assert record is not None
    assert (record.inspected, record.fraud, record.critical) == (4, 3, 1)
    assert history.record("seller_id", None) is None
    assert History.from_json(history.to_json()).to_json() == history.to_json()


def test_field_in_and_hs_prefix(history: History) -> None:
    origin = FieldIn(name="origin", field="country_of_origin", values=("MX", "GB"))
    assert fires(origin, declaration(country_of_origin="MX"), history)
    assert not fires(origin, declaration(country_of_origin="CN"), history)
    assert not fires(FieldIn(name="c", field="courier_id", values=("C1",)), declaration(), history)
    hs = HsPrefix(name="hs", prefixes=("8471", "62"))
    assert fires(hs, declaration(hs6_code="847130"), history)
    assert fires(hs, declaration(hs6_code="620822"), history)
    assert not fires(hs, declaration(hs6_code="847230"), history)


def test_numeric_range_is_half_open_and_value_per_kg_needs_a_mass(history: History) -> None:
    duty = NumericRange(name="duty", field="tax_rate_pct", at_least=5, below=20)
    assert [fires(duty, declaration(tax_rate_pct=t), history) for t in (4.99, 5.0, 19.99, 20.0)] == [
        False,
        True,
        True,
        False,
    ]
    cheap = NumericRange(name="cheap", field="value_per_kg_krw", below=100)
    assert fires(cheap, declaration(net_mass_kg=10, item_price_krw=500), history)  # 50 KRW/kg
    assert not fires(cheap, declaration(net_mass_kg=0, item_price_krw=500), history)
    with pytest.raises(ValidationError):
        NumericRange(name="empty", field="tax_rate_pct")
    with pytest.raises(ValidationError):
        NumericRange(name="upside_down", field="tax_rate_pct", at_least=5, below=5)


def test_value_per_kg_against_the_hs_history(history: History) -> None:
    under = ValueVsHistory(name="under", below_ratio=0.25)
    over = ValueVsHistory(name="over", above_ratio=4)
    assert fires(under, declaration(item_price_krw=200_000), history)  # 2,000 KRW/kg = 0.2 x median
    assert not fires(under, declaration(item_price_krw=250_000), history)  # exactly 0.25 x
    assert fires(over, declaration(item_price_krw=5_000_000), history)  # 5 x
    assert not fires(under, declaration(hs6_code="010121", item_price_krw=1), history)  # no history for the code
    assert not fires(under, declaration(item_price_krw=200_000), None)  # no history at all


def test_first_time_trader_and_prior_fraud(history: History) -> None:
    new = FirstTime(name="new", field="importer_id")
    assert fires(new, declaration(importer_id="IMP9999"), history)
    assert not fires(new, declaration(importer_id="IMP0002"), history)
    assert not fires(FirstTime(name="s", field="seller_id"), declaration(seller_id=None), history)
    record = PriorFraud(name="rec", field="importer_id", min_fraud=3, min_rate=0.75)
    assert fires(record, declaration(importer_id="IMP0001"), history)  # 3 of 4
    assert not fires(
        PriorFraud(name="r", field="importer_id", min_fraud=4), declaration(importer_id="IMP0001"), history
    )
    assert not fires(
        PriorFraud(name="r", field="importer_id", min_rate=0.8), declaration(importer_id="IMP0001"), history
    )
    critical = PriorFraud(name="crit", field="importer_id", critical=True)
    assert fires(critical, declaration(importer_id="IMP0001"), history)
    assert not fires(critical, declaration(importer_id="IMP0002"), history)


def test_fields_differ_and_missing(history: History) -> None:
    routed = FieldsDiffer(name="routed")
    assert fires(routed, declaration(country_of_origin="DE", country_of_departure="NL"), history)
    assert not fires(routed, declaration(), history)
    assert fires(Missing(name="no_seller", field="seller_id"), declaration(seller_id=None), history)
    assert not fires(Missing(name="no_seller", field="seller_id"), declaration(), history)
    assert fires(Missing(name="no_plate", field="vehicle_plate"), declaration(), history)
    assert not fires(Missing(name="no_plate", field="vehicle_plate"), declaration(vehicle_plate="34ABC123"), history)


PROFILE = """
profiles:
  - id: routed_machinery
    name: Routed machinery
    rationale: Machinery shipped from a third country, a weighted test profile.
    lane: yellow
    threshold: 2.5
    valid_from: 2021-01-01
    valid_until: 2021-06-30
    min_random_rate: 0.5
    indicators:
      - {name: routed, kind: fields_differ, weight: 1.5}
      - {name: machinery, kind: hs_prefix, prefixes: ["84"], weight: 1}
      - {name: dutiable, kind: range, field: tax_rate_pct, at_least: 5, weight: 1}
"""


def test_a_profile_hits_on_enough_weight_inside_its_window_and_names_what_fired() -> None:
    (profile,) = load_profiles(PROFILE)
    profiles = ProfileSet([profile])
    routed = {"country_of_origin": "DE", "country_of_departure": "NL"}
    (hit,) = profiles.evaluate(declaration(**routed, tax_rate_pct=0.0))  # 1.5 + 1 = 2.5
    assert (hit.profile_id, hit.lane, hit.score, hit.indicators, hit.random) == (
        "routed_machinery", Lane.YELLOW, 2.5, ("routed", "machinery"), False,
    )  # fmt: skip
    assert hit.reason == "profile:routed_machinery[routed+machinery]"
    (full,) = profiles.evaluate(declaration(**routed))
    assert full.score == 3.5
    assert profiles.evaluate(declaration(**routed, date=date(2020, 12, 31))) == []  # before the window
    assert profiles.evaluate(declaration(**routed, date=date(2021, 7, 1))) == []  # after it


def test_near_misses_are_selected_at_random_deterministically_at_the_profile_rate() -> None:
    (profile,) = load_profiles(PROFILE)
    profiles = ProfileSet([profile])
    misses = [declaration(declaration_id=str(30000000 + i), hs6_code="620822") for i in range(400)]  # 1 of 3 fired
    hits = [profiles.evaluate(d) for d in misses]
    selected = [h[0] for h in hits if h]
    assert all(h.random and h.indicators == () and h.reason == "profile:routed_machinery[random]" for h in selected)
    assert 150 < len(selected) < 250  # rate 0.5
    assert [profiles.evaluate(d) for d in misses] == hits  # the same draw on re-scoring
    nothing = declaration(hs6_code="620822", tax_rate_pct=0.0)  # no indicator fired: never drawn
    assert all(
        not profiles.evaluate(nothing.model_copy(update={"declaration_id": str(40000000 + i)})) for i in range(50)
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PROFILE.replace("threshold: 2.5", "threshold: 9"), "exceeds the total weight"),
        (PROFILE.replace("kind: hs_prefix", "kind: astrology"), "does not match any of the expected tags"),
        (PROFILE.replace("name: machinery", "name: routed"), "indicator names repeat"),
        (PROFILE.replace("valid_until: 2021-06-30", "valid_until: 2020-06-30"), "valid_until is before"),
        (PROFILE.replace("lane: yellow", "lane: purple"), "lane"),
        (
            PROFILE.replace(
                "rationale: Machinery shipped from a third country, a weighted test profile.", "rationale: x"
            ),
            "rationale",
        ),
        (PROFILE + PROFILE.split("profiles:")[1], "duplicate_profile_id"),
        ("just text", "not_a_profile_document"),
    ],
)
def test_bad_profile_documents_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_profiles(text)


def test_profiles_round_trip_through_yaml_and_json_and_a_path(tmp_path: Path) -> None:
    profiles = load_profiles(PROFILE)
    assert load_profiles(dump_profiles(profiles)) == profiles
    as_json = "[" + ",".join(p.model_dump_json() for p in profiles) + "]"
    assert load_profiles(as_json) == profiles
    (tmp_path / "p.yaml").write_text(PROFILE)
    assert load_profiles(tmp_path / "p.yaml") == profiles
    assert load_profiles(str(tmp_path / "p.yaml")) == profiles


def test_the_starter_profiles_load_and_each_has_a_rationale() -> None:
    profiles = starter_profiles()
    assert len(profiles) >= 6
    assert {p.lane for p in profiles} >= {Lane.RED, Lane.YELLOW, Lane.BLUE}
    assert all(len(p.rationale) > 100 and "2020" in p.rationale for p in profiles)
    assert isinstance(profiles[0], Profile)


def test_scalar_and_vectorised_evaluation_agree_on_real_rows(shared_data: Path, tmp_path: Path) -> None:
    train = read_frame(head_lines(shared_data / TRAIN, tmp_path / "train.csv", 3000, step=5))
    valid_path = head_lines(shared_data / VALID, tmp_path / "valid.csv", 400, step=7)
    declarations, errors = read_declarations_csv(valid_path)
    assert errors == []
    profiles = ProfileSet(starter_profiles(), history=History.fit(train))
    frame_hits = profiles.evaluate_frame(to_frame(declarations))
    hit_count = 0
    for row, decl in enumerate(declarations):
        scalar = {(h.profile_id, h.indicators, h.random) for h in profiles.evaluate(decl)}
        vector = set()
        for result in frame_hits:
            if result.hit[row] or result.random[row]:
                fired = () if result.random[row] else tuple(n for n, m in result.fired.items() if m[row])
                vector.add((result.profile.id, fired, bool(result.random[row])))
        assert scalar == vector, decl.declaration_id
        hit_count += bool(scalar)
    assert 20 < hit_count < 300  # the starter set selects some rows, not all


def test_lanes_and_the_random_draw() -> None:
    assert heaviest(Lane.GREEN, Lane.RED, Lane.BLUE) == Lane.RED
    assert heaviest() == Lane.GREEN
    ids = [str(10_000_000 + i) for i in range(20_000)]
    draws = random_draw(ids, "salt")
    assert np.array_equal(draws, random_draw(ids, "salt"))
    assert not np.array_equal(draws, random_draw(ids, "other"))
    assert draws.min() >= 0.0
    assert draws.max() < 1.0
    assert abs(float((draws < 0.1).mean()) - 0.1) < 0.01
    assert random_draw(ids[5:6], "salt")[0] == draws[5]
    assert len(random_draw([], "salt")) == 0
    mixed = random_draw(["ünï", ids[5]], "salt")  # a non-ASCII id takes the slow path, same values
    assert 0.0 <= mixed[0] < 1.0
    assert mixed[1] == draws[5]


MASK_CHECK_PROFILES = """
- id: all_kinds
  name: Every indicator kind
  rationale: Covers each vectorised indicator for the text fast path versus pandas strings.
  lane: yellow
  threshold: 4
  valid_from: 2020-06-01
  valid_until: 2021-01-10
  indicators:
    - {name: chapter, kind: hs_prefix, prefixes: ["84", "8517", "620822"]}
    - {name: origin, kind: field_in, field: country_of_origin, values: [CN, VN]}
    - {name: cheap, kind: value_per_kg_vs_hs, below_ratio: 0.5, above_ratio: 4}
    - {name: new_importer, kind: first_time, field: importer_id}
    - {name: new_seller, kind: first_time, field: seller_id}
    - {name: record, kind: prior_fraud, field: declarant_id, min_fraud: 2}
    - {name: routed, kind: fields_differ}
    - {name: no_seller, kind: missing, field: seller_id}
    - {name: no_courier, kind: missing, field: courier_id}
    - {name: no_route, kind: missing, field: route}
    - {name: heavy, kind: range, field: net_mass_kg, at_least: 100}
"""


def test_text_columns_and_pandas_strings_give_the_same_masks(shared_data: Path, tmp_path: Path) -> None:
    """The indicators' text fast path (string or object columns of str) agrees with the row-by-row path."""
    train = read_frame(head_lines(shared_data / TRAIN, tmp_path / "train.csv", 3000, step=5))
    frame = read_frame(head_lines(shared_data / VALID, tmp_path / "valid.csv", 600, step=3))
    frame.loc[frame.index[::7], "seller_id"] = None
    frame.loc[frame.index[1::11], "courier_id"] = np.nan
    frame.loc[frame.index[2::13], "country_of_departure"] = None
    frame.loc[frame.index[3::17], "hs6_code"] = None
    frame.loc[frame.index[4::19], "importer_id"] = ""
    objects, categories = frame.copy(), frame.copy()
    for name in ("hs6_code", "date", "seller_id", "courier_id", "importer_id", "country_of_departure"):
        objects[name] = objects[name].astype(object)  # object columns of str: the fast path too
        categories[name] = categories[name].astype("category")  # not text: the row-by-row path
    profiles = ProfileSet(load_profiles(MASK_CHECK_PROFILES), history=History.fit(train))
    fast, reference = profiles.evaluate_frame(frame), profiles.evaluate_frame(categories)
    for a, b in zip(profiles.evaluate_frame(objects), fast, strict=True):
        assert all(np.array_equal(a.fired[name], b.fired[name]) for name in a.fired)
    for a, b in zip(fast, reference, strict=True):
        assert np.array_equal(a.hit, b.hit)
        assert np.array_equal(a.random, b.random)
        assert a.fired.keys() == b.fired.keys()
        for name in a.fired:
            assert np.array_equal(a.fired[name], b.fired[name]), name
            assert a.fired[name].any(), name
        assert 0 < a.hit.sum() < len(frame)
    assert not fast[0].hit[frame["date"].to_numpy(dtype=str) > "2021-01-10"].any()

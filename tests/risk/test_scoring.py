"""The Scorer with the shipped model: scores, lanes, reasons; one-by-one and batch agree; lanes are stable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cedetect.declarations import Declaration, read_declarations_csv
from risk.features import CODE_FIELDS, read_frame, to_frame
from risk.lanes import Lane
from risk.profiles import ProfileSet, load_profiles
from risk.scoring import SINGLE_PATH_MAX, RiskResult, Scorer
from tests.risk.slices import VALID, declaration, head_lines


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


@pytest.fixture(scope="module")
def valid_slice(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Declaration]:
    path = head_lines(
        shared_data / VALID, tmp_path_factory.mktemp("v") / "valid.csv", 900, step=7
    )  # > SMALL_FRAME_ROWS
    declarations, errors = read_declarations_csv(path)
    assert errors == []
    return declarations


def test_scores_lanes_and_reasons_on_real_declarations(scorer: Scorer, valid_slice: list[Declaration]) -> None:
    results = scorer.score(valid_slice)
    assert [r.declaration_id for r in results] == [d.declaration_id for d in valid_slice]
    assert all(isinstance(r, RiskResult) and 0.0 <= r.risk_score <= 1.0 for r in results)
    assert all(r.model_version == scorer.model.version for r in results)
    lanes = {r.lane for r in results}
    assert Lane.GREEN in lanes
    assert Lane.RED in lanes
    assert all(r.reasons for r in results if r.lane != Lane.GREEN)
    profile_reasons = [x for r in results for x in r.reasons if x.startswith("profile:")]
    assert profile_reasons
    assert all("[" in x and x.endswith("]") for x in profile_reasons)
    assert any(x.startswith("model:") for r in results for x in r.reasons)
    # the model ranks: what its score sends to red is mostly fraud, the green lane mostly not
    fraud = {d.declaration_id: float(d.fraud or 0) for d in valid_slice}
    cut = scorer.model.lane_thresholds["red"]
    red = [fraud[r.declaration_id] for r in results if r.risk_score >= cut]
    green = [fraud[r.declaration_id] for r in results if r.lane == Lane.GREEN]
    assert len(red) > 10
    assert np.mean(red) > 0.9 > 0.2 > np.mean(green)


def test_one_by_one_and_batch_scoring_agree_and_rescoring_is_stable(
    scorer: Scorer, valid_slice: list[Declaration]
) -> None:
    batch = scorer.score_frame(to_frame(valid_slice), explain="all")
    again = scorer.score(valid_slice)
    for row, decl, result in zip(batch.to_dict("records"), valid_slice[:40], again[:40], strict=False):
        single = scorer.score_one(decl)
        assert single == result
        assert (single.risk_score, single.lane.value, single.reasons) == (
            row["risk_score"],
            row["lane"],
            row["reasons"],
        )


def test_the_single_declaration_path_gives_the_batch_results_on_real_rows(shared_data: Path, tmp_path: Path) -> None:
    """Score one at a time (no frame: the API's path) and in a frame: same score, lane, reasons, profiles."""
    rows, errors = read_declarations_csv(head_lines(shared_data / VALID, tmp_path / "v.csv", 400, step=13))
    assert errors == []
    assert len(rows) == 400
    scorer = Scorer(random_rate=0.05)  # some random selections too
    batch = scorer.score_frame(to_frame(rows), explain="all").to_dict("records")
    singles = [scorer.score_one(d) for d in rows]
    assert len(rows) > SINGLE_PATH_MAX
    for row, single in zip(batch, singles, strict=True):
        assert (single.declaration_id, single.risk_score, single.critical_score) == (
            row["declaration_id"],
            row["risk_score"],
            row["critical_score"],
        )
        assert (single.lane.value, single.reasons, single.profiles) == (row["lane"], row["reasons"], row["profiles"])
    assert {r.lane for r in singles} == set(Lane)
    assert any("random_selection" in r.reasons for r in singles)
    declared = tuple(f"model:{c}=" for c in CODE_FIELDS)  # codes described as declared
    assert any(x.startswith(declared) for r in singles for x in r.reasons)
    # a short list takes the single path, a long one the frame path: the results are the same
    assert scorer.score(rows[:SINGLE_PATH_MAX]) == singles[:SINGLE_PATH_MAX]
    assert scorer.score(rows[:100]) == singles[:100]


def test_the_random_selection_is_deterministic_per_declaration(shared_data: Path, tmp_path: Path) -> None:
    frame = read_frame(head_lines(shared_data / VALID, tmp_path / "v.csv", 3000))
    none = Scorer(random_rate=0.0).score_frame(frame, explain="none")
    some = Scorer(random_rate=0.2).score_frame(frame, explain="none")
    drawn = some["reasons"].map(lambda r: "random_selection" in r)
    assert 0.15 < drawn.mean() < 0.25
    assert (some.loc[drawn, "lane"] == "red").all()
    assert (some.loc[~drawn, "lane"] == none.loc[~drawn, "lane"]).all()
    assert np.array_equal(some["risk_score"], none["risk_score"])  # random selection never touches the score
    assert Scorer(random_rate=0.2).score_frame(frame, explain="none")["lane"].equals(some["lane"])
    with pytest.raises(ValueError, match="random_rate"):
        Scorer(random_rate=1.5)


def test_profiles_given_without_history_use_the_models_and_raise_the_lane(scorer: Scorer) -> None:
    text = """
- id: mexican_origin
  name: Mexican origin
  rationale: A test profile that sends every Mexican-origin item to the red lane.
  lane: red
  indicators: [{name: origin_mx, kind: field_in, field: country_of_origin, values: [MX]}]
- id: first_time_importer
  name: First-time importer
  rationale: A test profile on the history the shipped model was trained with.
  lane: blue
  indicators: [{name: new_importer, kind: first_time, field: importer_id}]
"""
    custom = Scorer(profiles=ProfileSet(load_profiles(text)), random_rate=0.0)
    assert custom.profiles.history is custom.model.history
    mexican = custom.score_one(declaration(country_of_origin="MX", importer_id="NEVERSEEN"))
    assert mexican.lane == Lane.RED
    assert mexican.profiles == ["mexican_origin", "first_time_importer"]
    assert mexican.reasons[:2] == ["profile:mexican_origin[origin_mx]", "profile:first_time_importer[new_importer]"]
    known = scorer.model.history.records["importer_id"]
    some_importer = next(iter(known))
    plain = custom.score_one(declaration(importer_id=some_importer))
    assert "first_time_importer" not in plain.profiles


def test_score_frame_accepts_the_datasets_own_header(scorer: Scorer, shared_data: Path, tmp_path: Path) -> None:
    import pandas as pd

    path = head_lines(shared_data / VALID, tmp_path / "v.csv", 200)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    by_header = scorer.score_frame(raw, explain="none")
    by_fields = scorer.score_frame(read_frame(path), explain="none")
    pd.testing.assert_frame_equal(by_header, by_fields)
    assert scorer.score([]) == []

"""Passage merging: exact cases on hand-made reads (pure logic, no images)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vision.passage import PassageMerger, edit_distance

T0 = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class R:
    text: str
    confidence: float
    valid: bool = True
    kind: str = "plate"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("", "", 0), ("ABC", "ABC", 0), ("34ABC123", "34A8C123", 1), ("34ABC123", "34ABC12", 1), ("AB", "BA", 2),
     ("KITTEN", "SITTING", 3), ("", "ABC", 3)],
)  # fmt: skip
def test_edit_distance(a: str, b: str, expected: int) -> None:
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


def test_edit_distance_stops_above_the_limit() -> None:
    assert edit_distance("ABCDEFGH", "ZZZZZZZZ", limit=1) == 2
    assert edit_distance("ABCD", "ABCDEFG", limit=1) == 2
    assert edit_distance("ABCD", "ABXD", limit=1) == 1


def test_consecutive_frames_of_one_plate_make_one_passage_keeping_the_best() -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=2.0)
    assert m.add("cam-1", at(0.0), [R("34ABC123", 0.80)]) == []
    assert m.add("cam-1", at(0.2), [R("34ABC123", 0.95)]) == []
    assert m.add("cam-1", at(0.4), [R("34ABC123", 0.90)]) == []
    assert m.close_due(at(2.4)) == []  # exactly quiet_s after the last frame: still open
    [passage] = m.close_due(at(2.41))
    assert passage.text == "34ABC123"
    assert passage.best.confidence == 0.95
    assert passage.best_utc == at(0.2)
    assert (passage.first_utc, passage.last_utc, passage.frames) == (at(0.0), at(0.4), 3)
    assert m.open_passages == ()


def test_one_character_ocr_difference_stays_in_the_passage_and_the_valid_read_wins() -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=1.0)
    m.add("cam-1", at(0.0), [R("34A8C123", 0.99, valid=False)])
    m.add("cam-1", at(0.1), [R("34ABC123", 0.70, valid=True)])
    m.add("cam-1", at(0.2), [R("34ABC12", 0.60, valid=False)])  # a dropped character
    [passage] = m.flush()
    assert passage.text == "34ABC123"  # valid beats a higher-confidence invalid read
    assert passage.frames == 3
    assert dict(passage.texts) == {"34A8C123": 1, "34ABC123": 1, "34ABC12": 1}


def test_the_text_read_in_most_frames_wins_over_one_more_confident_frame() -> None:
    # a Brazilian plate's O read as D in one frame, with more confidence than the three frames reading O
    m: PassageMerger[R] = PassageMerger(quiet_s=1.0)
    m.add("cam-1", at(0.0), [R("AYO9034", 0.70)])
    m.add("cam-1", at(0.1), [R("AYD9034", 0.90)])
    m.add("cam-1", at(0.2), [R("AYO9034", 0.75)])
    m.add("cam-1", at(0.3), [R("AYO9034", 0.72)])
    m.add("cam-1", at(0.4), [R("AY09034", 0.99, valid=False)])  # the most confident, but refused
    [passage] = m.flush()
    assert passage.text == "AYO9034"
    assert passage.best.confidence == 0.75  # the best frame of the winning text
    assert passage.best_utc == at(0.2)
    assert passage.frames == 5


def test_a_tie_in_frames_goes_to_the_more_confident_text() -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=1.0)
    m.add("cam-1", at(0.0), [R("AYD9034", 0.70)])
    m.add("cam-1", at(0.1), [R("AYO9034", 0.80)])
    [passage] = m.flush()
    assert passage.text == "AYO9034"


def test_two_character_difference_is_another_vehicle() -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=1.0)
    m.add("cam-1", at(0.0), [R("34ABC123", 0.9)])
    m.add("cam-1", at(0.1), [R("34XYC123", 0.9)])
    assert sorted(p.text for p in m.flush()) == ["34ABC123", "34XYC123"]


def test_short_texts_merge_only_when_identical() -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=1.0, min_len=4)
    m.add("cam-1", at(0.0), [R("AB1", 0.9)])
    m.add("cam-1", at(0.1), [R("AB2", 0.9)])
    m.add("cam-1", at(0.2), [R("AB1", 0.8)])
    passages = m.flush()
    assert sorted((p.text, p.frames) for p in passages) == [("AB1", 2), ("AB2", 1)]


def test_quiet_time_closes_and_the_same_plate_later_is_a_new_passage() -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=2.0)
    m.add("cam-1", at(0.0), [R("34ABC123", 0.9)])
    closed = m.add("cam-1", at(5.0), [R("34ABC123", 0.8)])
    assert [(p.text, p.first_utc, p.frames) for p in closed] == [("34ABC123", at(0.0), 1)]
    [second] = m.flush()
    assert (second.first_utc, second.best.confidence) == (at(5.0), 0.8)


def test_a_parked_vehicle_is_cut_into_passages_of_at_most_max_passage_s() -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=2.0, max_passage_s=10.0)
    closed = []
    for second in range(25):
        closed += m.add("cam-1", at(second), [R("34ABC123", 0.9)])
    closed += m.flush()
    assert [(p.first_utc, p.last_utc, p.frames) for p in closed] == [
        (at(0), at(9), 10),
        (at(10), at(19), 10),
        (at(20), at(24), 5),
    ]


def test_cameras_and_kinds_never_merge() -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=2.0)
    m.add("cam-1", at(0.0), [R("MSKU4135329", 0.9, kind="container")])
    m.add("cam-2", at(0.0), [R("MSKU4135329", 0.9, kind="container")])
    m.add("cam-1", at(0.1), [R("MSKU4135329", 0.9, kind="plate")])
    assert len(m.open_passages) == 3
    # close_due for one camera leaves the other camera's passages open
    assert {p.kind for p in m.close_due(at(10.0), "cam-1")} == {"container", "plate"}
    assert [p.camera_id for p in m.open_passages] == ["cam-2"]
    assert [p.camera_id for p in m.flush("cam-2")] == ["cam-2"]


def test_two_plates_in_one_frame_are_two_passages_even_when_one_character_apart() -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=2.0)
    m.add("cam-1", at(0.0), [R("34ABC123", 0.9), R("34ABC124", 0.9)])
    m.add("cam-1", at(0.2), [R("34ABC123", 0.95), R("34ABC124", 0.85)])
    passages = m.flush()
    assert sorted((p.text, p.frames) for p in passages) == [("34ABC123", 2), ("34ABC124", 2)]


def test_a_read_joins_the_nearest_passage() -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=2.0)
    m.add("cam-1", at(0.0), [R("34ABC123", 0.9), R("34ABD124", 0.9)])
    m.add("cam-1", at(0.1), [R("34ABD124", 0.95)])  # 0 edits from the second, 2 from the first
    passages = {p.text: p.frames for p in m.flush()}
    assert passages == {"34ABC123": 1, "34ABD124": 2}


def test_equal_reads_keep_the_earliest_frame() -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=2.0)
    first = R("34ABC123", 0.9)
    m.add("cam-1", at(0.0), [first])
    m.add("cam-1", at(0.1), [R("34ABC123", 0.9)])
    [passage] = m.flush()
    assert passage.best is first
    assert passage.best_utc == at(0.0)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="quiet_s"):
        PassageMerger(quiet_s=0)
    with pytest.raises(ValueError, match="max_edits"):
        PassageMerger(max_edits=-1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["34ABC123", "34A8C123", "06XYZ99", "MSKU4135329"]), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=30,
    ),
    st.lists(st.floats(0.0, 3.0), min_size=30, max_size=30),
)
def test_every_read_lands_in_exactly_one_passage(reads: list[tuple[str, float]], gaps: list[float]) -> None:
    m: PassageMerger[R] = PassageMerger(quiet_s=1.0, max_passage_s=20.0)
    closed = []
    given_reads = []
    t = 0.0
    for (text, confidence), gap in zip(reads, gaps, strict=False):
        t += gap
        read = R(text, confidence)
        given_reads.append(read)
        closed += m.add("cam-1", at(t), [read])
    closed += m.flush()
    assert sum(p.frames for p in closed) == len(reads)
    for p in closed:
        assert sum(p.texts.values()) == p.frames
        assert p.first_utc <= p.best_utc <= p.last_utc
        assert p.best.text in p.texts
        assert any(p.best is r for r in given_reads)
        assert (p.last_utc - p.first_utc).total_seconds() < 20.0

"""Encodings: a row's own label never reaches its own encoding; new rows are encoded from all training rows."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.features import CONSIGNMENT_KEY, ENTITY_KEYS, Encoder, TeMode, plain_features, read_frame, to_frame
from tests.risk.slices import TRAIN, VALID, declaration, head_lines

TE = "te_fraud_hs6__net_mass_kg__item_price_krw"
CRIT = "te_crit_hs6__net_mass_kg__item_price_krw"
FREQ = "freq_hs6__net_mass_kg__item_price_krw"


def repeated_consignments(labels: list[int]) -> pd.DataFrame:
    """Items of one consignment key (same HS6, mass, price) on successive days, plus a different one."""
    rows = [
        declaration(
            declaration_id=str(50_000_000 + i),
            date=date(2020, 1, 1) + timedelta(days=i // 2),
            importer_id=f"IMP{i % 3:04d}",
            fraud=label,
            critical_fraud=2 if label and i % 4 == 0 else label,
        )
        for i, label in enumerate(labels)
    ]
    rows.append(declaration(declaration_id="59999999", hs6_code="620822", net_mass_kg=3.0, fraud=0, critical_fraud=0))
    return to_frame(rows)


@pytest.mark.parametrize("mode", ["oof", "time"])
@settings(max_examples=15, deadline=None)
@given(labels=st.lists(st.integers(0, 1), min_size=8, max_size=30), row=st.integers(0, 29))
def test_flipping_a_rows_label_never_changes_its_own_target_encoding(mode: TeMode, labels: list[int], row: int) -> None:
    row %= len(labels)
    frame = repeated_consignments(labels)
    before = Encoder(te_mode=mode).fit_transform(frame)
    flipped = frame.copy()
    fraud = flipped["fraud"].to_numpy(dtype=float, copy=True)
    fraud[row] = 1.0 - fraud[row]
    flipped["fraud"] = fraud
    flipped["critical_fraud"] = np.where(np.arange(len(fraud)) == row, fraud, flipped["critical_fraud"].to_numpy(float))
    after = Encoder(te_mode=mode).fit_transform(flipped)
    assert np.array_equal(after.loc[[row], [TE, CRIT]], before.loc[[row], [TE, CRIT]], equal_nan=True)
    if mode == "time":  # rows of the same day never see each other either
        same_day = frame.index[frame["date"] == frame.loc[row, "date"]]
        assert np.array_equal(after.loc[same_day, TE], before.loc[same_day, TE], equal_nan=True)
    # ... but the label does reach other rows of the key (the test could fail)
    later = frame.index[(frame["date"] > frame.loc[row, "date"]) & (frame.index < len(labels))]
    if mode == "time" and len(later):
        assert not np.array_equal(after.loc[later, TE], before.loc[later, TE])


def test_the_encoder_fit_on_labels_ignores_the_held_rows_fold() -> None:
    frame = repeated_consignments([1] * 10 + [0] * 10)
    features = Encoder(te_mode="oof", folds=5, smoothing=1.0).fit_transform(frame)
    prior = frame["fraud"].mean()
    # each OOF value is (fraud of the other folds + prior) / (items of the other folds + 1)
    assert features[TE].between(0.0, 1.0).all()
    assert features[TE].nunique() > 1
    # a key seen once: no other fold knows it, its encoding is the other folds' rate
    single = float(features[TE].to_numpy()[20])
    assert 0.0 < single < 1.0
    assert single != pytest.approx(prior)
    assert (features[FREQ].iloc[:20] == 20).all()


def test_new_rows_are_encoded_from_all_training_rows_and_unknown_keys_get_the_prior() -> None:
    frame = repeated_consignments([1, 1, 1, 0])
    encoder = Encoder(te_mode="oof", smoothing=1.0)
    encoder.fit_transform(frame)
    prior = float(frame["fraud"].mean())  # 3 of 5
    new = to_frame(
        [
            declaration(declaration_id="60000001"),
            declaration(declaration_id="60000002", item_price_krw=1.0, hs6_code="999999"),
        ]
    )
    features = encoder.transform(new)
    assert features.loc[0, TE] == pytest.approx((3 + prior) / (4 + 1))
    assert features.loc[0, FREQ] == 4
    assert features.loc[1, TE] == pytest.approx(prior)
    assert features.loc[1, FREQ] == 0
    assert features.loc[1, "code_hs2"] == -1  # chapter 99 never seen


def test_keys_of_several_fields_do_not_collide_and_empty_values_are_unknown() -> None:
    frame = to_frame(
        [
            declaration(declaration_id="1", importer_id="A", hs6_code="847130", fraud=1, critical_fraud=1),
            declaration(declaration_id="2", importer_id="B", hs6_code="847130", fraud=0, critical_fraud=0),
            declaration(declaration_id="3", importer_id="A", hs6_code="620822", fraud=0, critical_fraud=0),
            declaration(declaration_id="4", seller_id=None, fraud=0, critical_fraud=0),
        ]
    )
    encoder = Encoder(te_mode="none", freq_keys=ENTITY_KEYS)
    features = encoder.fit_transform(frame)
    assert features["freq_importer__hs6"].tolist() == [1, 1, 1, 1]
    assert features["freq_seller"].tolist() == [3, 3, 3, 0]
    assert features["freq_seller__importer"].tolist() == [2, 1, 2, 0]


def test_round_trip_of_a_fitted_encoder_on_real_rows(shared_data: Path, tmp_path: Path) -> None:
    train = read_frame(head_lines(shared_data / TRAIN, tmp_path / "t.csv", 2000, step=3))
    valid = read_frame(head_lines(shared_data / VALID, tmp_path / "v.csv", 500))
    encoder = Encoder(te_mode="oof", te_keys=ENTITY_KEYS)
    encoder.fit_transform(train)
    restored = Encoder.from_json(encoder.to_json(), encoder.history)
    pd.testing.assert_frame_equal(restored.transform(valid), encoder.transform(valid))
    assert CONSIGNMENT_KEY in restored.te_keys


def test_the_plain_baseline_label_encodes_with_the_training_codes(shared_data: Path, tmp_path: Path) -> None:
    train = read_frame(head_lines(shared_data / TRAIN, tmp_path / "t.csv", 300))
    valid = read_frame(head_lines(shared_data / VALID, tmp_path / "v.csv", 300))
    x_train, x_valid = plain_features(train, valid)
    assert list(x_train.columns) == list(x_valid.columns)
    assert "value_per_kg" in x_train.columns
    assert "fraud" not in x_train.columns
    assert (x_valid["importer_id"] == -1).mean() > 0.5  # most 2021 importers are not among 300 rows of 2020


def test_one_declaration_is_encoded_bit_for_bit_as_in_a_frame(shared_data: Path, tmp_path: Path) -> None:
    """``transform_one`` (the API's path: dict lookups, no frame) gives exactly the batch features."""
    from cedetect.declarations import read_declarations_csv
    from risk.model import DEFAULT_MODEL_DIR, RiskModel

    encoder = RiskModel.load(DEFAULT_MODEL_DIR).encoder
    real, errors = read_declarations_csv(head_lines(shared_data / VALID, tmp_path / "v.csv", 400, step=11))
    assert errors == []
    assert len(real) == 400
    known = real[0]
    edge = [  # zero mass (no value per kg), unseen codes and HS6, no seller, a courier, origin != departure
        declaration(declaration_id="90000001", net_mass_kg=0.0),
        declaration(declaration_id="90000002", hs6_code="000001", office_id="ZZ", importer_id="NEW"),
        declaration(declaration_id="90000003", seller_id=None, courier_id="C1", country_of_origin="VN"),
        declaration(declaration_id="90000004", item_price_krw=0.0),
        known.model_copy(update={"declaration_id": "90000005", "net_mass_kg": known.net_mass_kg + 0.5}),
    ]
    rows = [*real, *edge]
    batch = encoder.transform(to_frame(rows)).to_numpy(dtype=np.float64)
    single = np.vstack([encoder.transform_one(d) for d in rows])
    assert single.shape == batch.shape == (len(rows), len(encoder.feature_names))
    assert np.array_equal(single, batch, equal_nan=True)
    freq = encoder.feature_names.index(FREQ)
    assert (single[: len(real), freq] > 0).mean() > 0.5  # most real rows repeat a known consignment key
    assert single[-1, freq] == 0
    assert np.isnan(single[len(real), encoder.feature_names.index("log_value_per_kg")])


@pytest.mark.parametrize(("mode", "te_keys"), [("oof", ENTITY_KEYS), ("none", ())])
def test_one_declaration_is_encoded_as_in_a_frame_with_every_key(
    shared_data: Path, tmp_path: Path, mode: TeMode, te_keys: tuple[tuple[str, ...], ...]
) -> None:
    from cedetect.declarations import read_declarations_csv

    train = read_frame(head_lines(shared_data / TRAIN, tmp_path / "t.csv", 3000, step=3))
    encoder = Encoder(te_mode=mode, freq_keys=ENTITY_KEYS, te_keys=te_keys)
    encoder.fit_transform(train)
    rows, errors = read_declarations_csv(head_lines(shared_data / VALID, tmp_path / "v.csv", 200, step=5))
    assert errors == []
    batch = encoder.transform(to_frame(rows)).to_numpy(dtype=np.float64)
    single = np.vstack([encoder.transform_one(d) for d in rows])
    assert np.array_equal(single, batch, equal_nan=True)

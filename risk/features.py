"""Feature engineering for the learned risk model, with leakage-free encodings of high-cardinality fields.

A frame here has the Declaration field names (``to_frame``, ``read_frame``).  :class:`Encoder` is fitted
on labelled training rows and then turns any frame into the model's feature matrix:

* label codes of the low-cardinality codes (office, import type, tax type, countries, HS2/HS4, ...);
* numbers: tax rate, net mass, price, log value per kg, value per kg over the HS6 (else HS4) median of
  the training history, origin differs from departure, courier and seller present;
* frequency encodings of chosen keys (``freq_keys``): how many training items share the key;
* target encodings of chosen keys (``te_keys``): the smoothed fraud and critical-fraud rates of the
  training items sharing the key.  On training rows these are computed out of fold (``te_mode="oof"``:
  K folds, a row's own fold, prior included, never sees its label) or in time order (``te_mode="time"``:
  only rows of strictly earlier dates), so a row's own label never reaches its own encoding.  On new
  rows they come from all training rows.

Keys are single fields (importer, declarant, seller, HS6, office, courier), pairs, or the consignment
key (HS6 + net mass + declared price).  The defaults keep what the ablation in ``risk.evaluate`` shows
earns its place on later months: the consignment key's frequency and target encodings.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from cedetect.declarations import CSV_COLUMNS, FIELDS, Declaration
from risk.history import History

FloatArray = npt.NDArray[np.float64]

#: Low-cardinality codes, label-encoded.
CODE_FIELDS: tuple[str, ...] = (
    "office_id",
    "process_type",
    "import_type",
    "import_use",
    "payment_type",
    "mode_of_transport",
    "tax_type",
    "country_of_origin_indicator",
    "country_of_departure",
    "country_of_origin",
    "hs2",
    "hs4",
)
#: The consignment key: the same goods (HS6) with the same net mass and the same declared price.  Repeated
#: consignments are common in trade (a trader's standing orders); in the public dataset 83% of the 2021-Q1
#: items repeat a 2020 consignment key, and the fraud label of the earlier items is very telling.
CONSIGNMENT_KEY: tuple[str, ...] = ("hs6_code", "net_mass_kg", "item_price_krw")
#: High-cardinality fields (and pairs) that may get frequency and target encodings.
ENTITY_KEYS: tuple[tuple[str, ...], ...] = (
    ("importer_id",),
    ("declarant_id",),
    ("seller_id",),
    ("hs6_code",),
    ("office_id",),
    ("courier_id",),
    ("importer_id", "hs6_code"),
    ("declarant_id", "importer_id"),
    ("seller_id", "importer_id"),
    ("hs6_code", "country_of_origin"),
    CONSIGNMENT_KEY,
)
#: Defaults chosen by the ablation (``python -m bench.risk_evaluate --ablation``): frequency and target
#: encodings of the consignment key only; those of importer, declarant, seller, HS6, office and the pairs
#: add nothing on the later months (within noise) and would only grow the model files.
DEFAULT_FREQ_KEYS: tuple[tuple[str, ...], ...] = (CONSIGNMENT_KEY,)
DEFAULT_TE_KEYS: tuple[tuple[str, ...], ...] = (CONSIGNMENT_KEY,)
TeMode = Literal["oof", "time", "none"]
#: Frames up to this many rows look field values up in dicts rather than pandas indexes.
SMALL_FRAME_ROWS = 64
_NUMERIC = ("tax_rate_pct", "net_mass_kg", "item_price_krw")
_STRING_FIELDS = tuple(f for f in FIELDS if f not in (*_NUMERIC, "fraud", "critical_fraud"))


def key_name(key: tuple[str, ...]) -> str:
    return "__".join(k.removesuffix("_id").removesuffix("_code") for k in key)


# --- frames -------------------------------------------------------------------------------------------
def to_frame(declarations: Sequence[Declaration]) -> pd.DataFrame:
    """A frame with one row per declaration and the Declaration field names as columns."""
    columns: dict[str, Any] = {}
    for name in FIELDS:
        values = [getattr(d, name) for d in declarations]
        if name in _NUMERIC:
            columns[name] = np.asarray(values, dtype=float)
        elif name in ("fraud", "critical_fraud"):
            columns[name] = np.asarray([np.nan if v is None else v for v in values], dtype=float)
        elif name in ("container_codes", "route"):
            array = np.empty(len(values), dtype=object)
            array[:] = values
            columns[name] = array
        elif name == "date":
            columns[name] = np.asarray([v.isoformat() for v in values], dtype=object)
        elif name in ("expected_from_utc", "expected_until_utc"):
            columns[name] = np.asarray(["" if v is None else v.isoformat() for v in values], dtype=object)
        else:
            columns[name] = np.asarray(["" if v is None else v for v in values], dtype=object)
    return pd.DataFrame(columns)


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename the dataset's header to field names and fix dtypes (strings, floats, labels as floats)."""
    frame = frame.rename(columns=CSV_COLUMNS)
    out = pd.DataFrame(index=frame.index)
    for name in FIELDS:
        if name in _NUMERIC:
            out[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
        elif name in ("fraud", "critical_fraud"):
            out[name] = pd.to_numeric(frame[name], errors="coerce").astype(float) if name in frame.columns else np.nan
        elif name in frame.columns:
            column = frame[name]
            if name == "date":
                column = column.astype(str).str.slice(0, 10)
            elif name in ("container_codes", "route"):
                out[name] = column
                continue
            out[name] = column.astype(object).where(column.notna(), "").astype(str)
        else:
            out[name] = ""
    return out


def read_frame(path: Path | str) -> pd.DataFrame:
    """Fast, unvalidated read of a declarations CSV into a frame (for training and batch benchmarks).

    Use :func:`cedetect.declarations.read_declarations_csv` where rows must be validated one by one.
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return normalise_frame(frame)


def fingerprint(paths: Sequence[Path]) -> str:
    """sha256 over the training files' bytes, in the given order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


# --- encodings ----------------------------------------------------------------------------------------
def hs6_numbers(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """HS6 codes as integers (-1 where not a number).  Parsed once per distinct code (a few thousand)."""
    codes, uniques = pd.factorize(frame["hs6_code"], use_na_sentinel=True)
    values = pd.to_numeric(pd.Series(np.asarray(uniques, dtype=object)), errors="coerce").to_numpy(dtype=float)
    numbers = np.where(np.isfinite(values), values, -1).astype(np.int64)
    return np.where(codes >= 0, numbers[codes] if len(numbers) else -1, -1).astype(np.int64)


def _field_values(frame: pd.DataFrame, name: str, hs6: npt.NDArray[np.int64] | None = None) -> Any:
    if name in ("hs2", "hs4"):
        numbers = hs6_numbers(frame) if hs6 is None else hs6
        return np.where(numbers >= 0, numbers // (10_000 if name == "hs2" else 100), -1)
    if name in _NUMERIC:
        return frame[name].to_numpy(dtype=float)
    return frame[name].to_numpy(dtype=object)


def _vocabulary(values: Any) -> pd.Index:
    unique = np.asarray(pd.unique(np.asarray(values)))
    if unique.dtype == object:
        unique = np.asarray([v for v in unique if isinstance(v, str) and v != ""], dtype=object)
    elif np.issubdtype(unique.dtype, np.integer):
        unique = unique[unique >= 0]
    else:
        unique = unique[np.isfinite(unique)]
    index: pd.Index = pd.Index(np.sort(unique))
    return index


@dataclass
class KeyTable:
    """Training counts per encoded key (sorted int64 keys): items, fraud, critical fraud."""

    keys: npt.NDArray[np.int64]
    n: FloatArray
    fraud: FloatArray
    critical: FloatArray
    _index: dict[int, int] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, keys: npt.NDArray[np.int64], fraud: FloatArray, critical: FloatArray) -> KeyTable:
        known = keys >= 0
        grouped = (
            pd.DataFrame({"k": keys[known], "f": fraud[known], "c": critical[known]})
            .groupby("k", sort=True)
            .agg(n=("f", "size"), f=("f", "sum"), c=("c", "sum"))
        )
        return cls(
            grouped.index.to_numpy(dtype=np.int64),
            grouped["n"].to_numpy(dtype=float),
            grouped["f"].to_numpy(dtype=float),
            grouped["c"].to_numpy(dtype=float),
        )

    def lookup_one(self, key: int) -> tuple[float, float, float]:
        """(items, fraud, critical) of one key, the same numbers as :meth:`lookup` (a dict, built once)."""
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self.keys.tolist())}
        at = self._index.get(key) if key >= 0 else None
        if at is None:
            return 0.0, 0.0, 0.0
        return (
            float(self.n[at]),
            float(self.fraud[at]) if len(self.fraud) else 0.0,
            float(self.critical[at]) if len(self.critical) else 0.0,
        )

    def lookup(self, keys: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(items, fraud, critical) per key; zeros for keys not in the table."""
        if len(self.keys) == 0:
            zeros = np.zeros(len(keys))
            return zeros, zeros, zeros
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = (self.keys[at] == keys) & (keys >= 0)
        n = np.where(found, self.n[at], 0.0)
        f = np.where(found, self.fraud[at], 0.0) if len(self.fraud) else np.zeros(len(keys))
        c = np.where(found, self.critical[at], 0.0) if len(self.critical) else np.zeros(len(keys))
        return n, f, c


def _smooth(n: FloatArray, hits: FloatArray, prior: float | FloatArray, strength: float) -> FloatArray:
    return (hits + prior * strength) / (n + strength)


@dataclass
class Encoder:
    """Fitted encodings.  ``fit_transform`` for training rows (leakage-free), ``transform`` for new rows.

    Every field value is looked up in a vocabulary of the training values (pandas Index, hashed), and a
    key of several fields is the mixed-radix number of its fields' vocabulary positions, so that the
    frequency and target tables are sorted int64 arrays searched with ``np.searchsorted``: no Python
    loop and no string building per row.
    """

    te_mode: TeMode = "oof"
    folds: int = 5
    smoothing: float = 1.0
    seed: int = 7
    use_value_ratio: bool = True
    freq_keys: tuple[tuple[str, ...], ...] = DEFAULT_FREQ_KEYS
    te_keys: tuple[tuple[str, ...], ...] = DEFAULT_TE_KEYS
    vocab: dict[str, pd.Index] = field(default_factory=dict)
    tables: dict[str, KeyTable] = field(default_factory=dict)
    prior_fraud: float = 0.0
    prior_critical: float = 0.0
    history: History | None = None
    _positions: dict[str, dict[Any, int]] = field(default_factory=dict, repr=False, compare=False)

    # -- public ------------------------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        names = [f"code_{c}" for c in CODE_FIELDS]
        names += ["tax_rate_pct", "net_mass_kg", "item_price_krw", "log_value_per_kg", "origin_ne_departure"]
        names += ["has_courier", "has_seller"]
        if self.use_value_ratio:
            names += ["log_value_ratio_hs"]
        names += [f"freq_{key_name(key)}" for key in self.freq_keys]
        if self.te_mode != "none":
            for key in self.te_keys:
                names += [f"te_fraud_{key_name(key)}", f"te_crit_{key_name(key)}"]
        return names

    @property
    def keys(self) -> tuple[tuple[str, ...], ...]:
        return tuple(dict.fromkeys((*self.freq_keys, *(self.te_keys if self.te_mode != "none" else ()))))

    @property
    def categorical_features(self) -> list[str]:
        return [f"code_{c}" for c in CODE_FIELDS]

    def fit_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Fit on labelled training rows and return their features (target encodings out of fold / in time order)."""
        if frame["fraud"].isna().any():
            raise ValueError("unlabelled_rows: training needs the fraud label on every row")
        hs6 = hs6_numbers(frame)
        fields = dict.fromkeys((*CODE_FIELDS, *(f for key in self.keys for f in key)))
        self.vocab = {name: _vocabulary(_field_values(frame, name, hs6)) for name in fields}
        self._positions = {}
        for key in self.keys:
            radix = 1
            for name in key:
                radix *= len(self.vocab[name]) + 1
            if radix >= 2**62:
                raise ValueError(f"key_too_large: {key} has {radix} possible values")
        self.history = History.fit(frame)
        fraud = frame["fraud"].to_numpy(dtype=float)
        critical = (frame["critical_fraud"].fillna(0).to_numpy(dtype=float) == 2).astype(float)
        self.prior_fraud, self.prior_critical = float(fraud.mean()), float(critical.mean())
        self.tables = {}
        codes: dict[str, npt.NDArray[np.int64]] = {}
        features = self._common(frame, hs6, codes)
        for key in self.keys:
            name = key_name(key)
            keys = self._key(frame, key, hs6, codes)
            table = KeyTable.build(keys, fraud, critical)
            self.tables[name] = table
            if key in self.freq_keys:
                features[f"freq_{name}"] = table.lookup(keys)[0]
            if self.te_mode == "none" or key not in self.te_keys:
                continue
            if self.te_mode == "oof":
                te_f, te_c = self._oof(keys, fraud, critical)
            else:
                te_f, te_c = self._time_ordered(keys, frame["date"].to_numpy(dtype=object), fraud, critical)
            features[f"te_fraud_{name}"] = te_f
            features[f"te_crit_{name}"] = te_c
        return pd.DataFrame(features, index=frame.index)[self.feature_names]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Features of new rows, from the training tables."""
        hs6 = hs6_numbers(frame)
        codes: dict[str, npt.NDArray[np.int64]] = {}
        features = self._common(frame, hs6, codes)
        for key in self.keys:
            name = key_name(key)
            n, f, c = self.tables[name].lookup(self._key(frame, key, hs6, codes))
            if key in self.freq_keys:
                features[f"freq_{name}"] = n
            if self.te_mode != "none" and key in self.te_keys:
                features[f"te_fraud_{name}"] = _smooth(n, f, self.prior_fraud, self.smoothing)
                features[f"te_crit_{name}"] = _smooth(n, c, self.prior_critical, self.smoothing)
        return pd.DataFrame(features, index=frame.index)[self.feature_names]

    def transform_one(self, decl: Declaration) -> FloatArray:
        """The features of one declaration as a (1, n_features) array, bit for bit those of :meth:`transform`.

        The single-declaration path (the API): dict lookups on the Declaration's fields, no frame.  Floating
        point steps that are not exact in every library (log, log1p) go through numpy as in the batch path.
        """
        hs6 = int(decl.hs6_code)  # six digits (the Declaration's pattern)
        codes: dict[str, int] = {}

        def code(name: str) -> int:
            if name not in codes:
                value: Any
                if name == "hs2":
                    value = hs6 // 10_000
                elif name == "hs4":
                    value = hs6 // 100
                elif name in _NUMERIC:
                    value = float(getattr(decl, name))
                else:
                    raw = getattr(decl, name)
                    value = "" if raw is None else raw
                codes[name] = self._position(name).get(value, -1)
            return codes[name]

        out: dict[str, float] = {f"code_{c}": float(code(c)) for c in CODE_FIELDS}
        mass, price = float(decl.net_mass_kg), float(decl.item_price_krw)
        out["tax_rate_pct"] = float(decl.tax_rate_pct)
        out["net_mass_kg"] = mass
        out["item_price_krw"] = price
        vpk = price / mass if mass > 0 else math.nan
        out["origin_ne_departure"] = float((decl.country_of_origin or "") != (decl.country_of_departure or ""))
        out["has_courier"] = float(bool(decl.courier_id))
        out["has_seller"] = float(bool(decl.seller_id))
        logs = [vpk]
        if self.use_value_ratio:
            assert self.history is not None
            median = self.history.median_value_per_kg(hs6)
            logs.append(vpk / median if vpk > 0 and median > 0 else math.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["log_value_per_kg"] = float(np.log1p(np.asarray(logs[:1]))[0])
            if self.use_value_ratio:
                out["log_value_ratio_hs"] = float(np.log(np.asarray(logs[1:]))[0])
        for key in self.keys:
            name = key_name(key)
            combined = code(key[0])
            for part_name in key[1:]:
                part = code(part_name)
                combined = combined * (len(self.vocab[part_name]) + 1) + part if combined >= 0 and part >= 0 else -1
            n, f, c = self.tables[name].lookup_one(combined)
            if key in self.freq_keys:
                out[f"freq_{name}"] = n
            if self.te_mode != "none" and key in self.te_keys:
                out[f"te_fraud_{name}"] = (f + self.prior_fraud * self.smoothing) / (n + self.smoothing)
                out[f"te_crit_{name}"] = (c + self.prior_critical * self.smoothing) / (n + self.smoothing)
        row = np.empty((1, len(out)), dtype=np.float64)
        row[0, :] = [out[name] for name in self.feature_names]
        return row

    # -- internals ---------------------------------------------------------------------------------
    def _position(self, name: str) -> dict[Any, int]:
        """Vocabulary position of each training value of a field (a dict, built once)."""
        positions = self._positions.get(name)
        if positions is None:
            positions = self._positions[name] = {v: i for i, v in enumerate(self.vocab[name].tolist())}
        return positions

    def _codes(
        self, frame: pd.DataFrame, name: str, hs6: npt.NDArray[np.int64], cache: dict[str, npt.NDArray[np.int64]]
    ) -> npt.NDArray[np.int64]:
        if name not in cache:
            values = _field_values(frame, name, hs6)
            if len(values) <= SMALL_FRAME_ROWS:  # a dict lookup per value beats the Index machinery here
                positions = self._position(name)
                cache[name] = np.fromiter((positions.get(v, -1) for v in values.tolist()), np.int64, len(values))
            else:
                cache[name] = self.vocab[name].get_indexer(values).astype(np.int64)
        return cache[name]

    def _key(
        self,
        frame: pd.DataFrame,
        key: tuple[str, ...],
        hs6: npt.NDArray[np.int64],
        cache: dict[str, npt.NDArray[np.int64]],
    ) -> npt.NDArray[np.int64]:
        result = self._codes(frame, key[0], hs6, cache)
        for name in key[1:]:
            part = self._codes(frame, name, hs6, cache)
            result = np.where((result >= 0) & (part >= 0), result * (len(self.vocab[name]) + 1) + part, -1)
        return result

    def _common(
        self, frame: pd.DataFrame, hs6: npt.NDArray[np.int64], codes: dict[str, npt.NDArray[np.int64]]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in CODE_FIELDS:
            out[f"code_{c}"] = self._codes(frame, c, hs6, codes)
        mass = frame["net_mass_kg"].to_numpy(dtype=float)
        price = frame["item_price_krw"].to_numpy(dtype=float)
        out["tax_rate_pct"] = frame["tax_rate_pct"].to_numpy(dtype=float)
        out["net_mass_kg"] = mass
        out["item_price_krw"] = price
        with np.errstate(divide="ignore", invalid="ignore"):
            vpk = np.where(mass > 0, price / np.where(mass > 0, mass, 1.0), np.nan)
            out["log_value_per_kg"] = np.log1p(vpk)
        out["origin_ne_departure"] = (
            frame["country_of_origin"].to_numpy(dtype=object) != frame["country_of_departure"].to_numpy(dtype=object)
        ).astype(np.int8)
        out["has_courier"] = (frame["courier_id"].to_numpy(dtype=object) != "").astype(np.int8)
        out["has_seller"] = (frame["seller_id"].to_numpy(dtype=object) != "").astype(np.int8)
        if self.use_value_ratio:
            assert self.history is not None
            with np.errstate(divide="ignore", invalid="ignore"):
                out["log_value_ratio_hs"] = np.log(self.history.value_ratios(hs6, vpk))
        return out

    def _oof(
        self, keys: npt.NDArray[np.int64], fraud: FloatArray, critical: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        rng = np.random.default_rng(self.seed)
        fold = rng.integers(0, self.folds, size=len(keys))
        te_f = np.empty(len(keys))
        te_c = np.empty(len(keys))
        for k in range(self.folds):
            inside = fold == k
            if not inside.any():
                continue
            table = KeyTable.build(keys[~inside], fraud[~inside], critical[~inside])
            n, f, c = table.lookup(keys[inside])
            # the prior too comes from the other folds only: the held rows' labels reach nothing of theirs
            prior_f = float(fraud[~inside].mean()) if (~inside).any() else 0.5
            prior_c = float(critical[~inside].mean()) if (~inside).any() else 0.0
            te_f[inside] = _smooth(n, f, prior_f, self.smoothing)
            te_c[inside] = _smooth(n, c, prior_c, self.smoothing)
        return te_f, te_c

    def _time_ordered(
        self, keys: npt.NDArray[np.int64], dates: npt.NDArray[Any], fraud: FloatArray, critical: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Each row sees only rows of strictly earlier dates (its own day, itself included, never).

        The prior is the rate over the earlier days too; rows of the first day have no past: NaN.
        """
        frame = pd.DataFrame({"k": keys, "d": dates, "f": fraud, "c": critical})
        daily = frame.groupby("d", sort=True).agg(n=("f", "size"), f=("f", "sum"), c=("c", "sum"))
        before = daily.cumsum() - daily
        with np.errstate(divide="ignore", invalid="ignore"):
            prior_f = pd.Series((before["f"] / before["n"]).to_numpy(), index=daily.index)
            prior_c = pd.Series((before["c"] / before["n"]).to_numpy(), index=daily.index)
        day_prior_f = frame["d"].map(prior_f).to_numpy(dtype=float)
        day_prior_c = frame["d"].map(prior_c).to_numpy(dtype=float)
        day = frame.groupby(["k", "d"], sort=True).agg(n=("f", "size"), f=("f", "sum"), c=("c", "sum"))
        prior = day.groupby(level=0).cumsum() - day  # totals of the key's earlier days
        joined = frame.join(prior.add_suffix("_prior"), on=["k", "d"])
        unknown = keys < 0
        n = np.where(unknown, 0.0, joined["n_prior"].to_numpy(dtype=float))
        f = np.where(unknown, 0.0, joined["f_prior"].to_numpy(dtype=float))
        c = np.where(unknown, 0.0, joined["c_prior"].to_numpy(dtype=float))
        return _smooth(n, f, day_prior_f, self.smoothing), _smooth(n, c, day_prior_c, self.smoothing)

    # -- persistence -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        te_names = {key_name(k) for k in self.te_keys} if self.te_mode != "none" else set()
        tables: dict[str, Any] = {}
        for name, t in self.tables.items():
            entry: dict[str, Any] = {"keys": t.keys.tolist(), "n": t.n.astype(int).tolist()}
            if name in te_names:  # labels only where a target encoding needs them
                entry["fraud"] = t.fraud.astype(int).tolist()
                entry["critical"] = t.critical.astype(int).tolist()
            tables[name] = entry
        return {
            "format": "cedetect.risk.encoder/2",
            "te_mode": self.te_mode,
            "folds": self.folds,
            "smoothing": self.smoothing,
            "seed": self.seed,
            "use_value_ratio": self.use_value_ratio,
            "freq_keys": [list(k) for k in self.freq_keys],
            "te_keys": [list(k) for k in self.te_keys],
            "vocab": {name: index.tolist() for name, index in self.vocab.items()},
            "prior_fraud": self.prior_fraud,
            "prior_critical": self.prior_critical,
            "tables": tables,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], history: History | None) -> Encoder:
        if data.get("format") != "cedetect.risk.encoder/2":
            raise ValueError(f"unsupported_encoder_format: {data.get('format')!r}")
        vocab: dict[str, pd.Index] = {}
        for name, values in data["vocab"].items():
            if name in _NUMERIC:
                vocab[name] = pd.Index(np.asarray(values, dtype=float))
            elif name in ("hs2", "hs4"):
                vocab[name] = pd.Index(np.asarray(values, dtype=np.int64))
            else:
                vocab[name] = pd.Index(np.asarray(values, dtype=object))
        tables = {
            name: KeyTable(
                np.asarray(t["keys"], dtype=np.int64),
                np.asarray(t["n"], dtype=float),
                np.asarray(t.get("fraud", []), dtype=float),
                np.asarray(t.get("critical", []), dtype=float),
            )
            for name, t in data["tables"].items()
        }
        return cls(
            te_mode=data["te_mode"],
            folds=int(data["folds"]),
            smoothing=float(data["smoothing"]),
            seed=int(data["seed"]),
            use_value_ratio=bool(data["use_value_ratio"]),
            freq_keys=tuple(tuple(k) for k in data["freq_keys"]),
            te_keys=tuple(tuple(k) for k in data["te_keys"]),
            vocab=vocab,
            tables=tables,
            prior_fraud=float(data["prior_fraud"]),
            prior_critical=float(data["prior_critical"]),
            history=history,
        )


def _code_map(column: pd.Series) -> dict[str, int]:
    return {str(v): i for i, v in enumerate(sorted(column.unique()))}


def plain_features(train: pd.DataFrame, other: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's baseline: every raw column label-encoded (codes from the training rows), plus value per kg."""
    columns = [f for f in CSV_COLUMNS.values() if f not in ("declaration_id", "date", "fraud", "critical_fraud")]

    def encode(frame: pd.DataFrame, maps: dict[str, dict[str, int]]) -> pd.DataFrame:
        out: dict[str, Any] = {}
        for c in columns:
            if c in _NUMERIC:
                out[c] = frame[c].to_numpy(dtype=float)
            else:
                out[c] = frame[c].astype(str).map(maps[c]).fillna(-1).to_numpy(dtype=np.int32)
        mass = frame["net_mass_kg"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["value_per_kg"] = np.where(mass > 0, frame["item_price_krw"].to_numpy(dtype=float) / mass, np.nan)
        return pd.DataFrame(out, index=frame.index)

    maps = {c: _code_map(train[c].astype(str)) for c in columns if c not in _NUMERIC}
    return encode(train, maps), encode(other, maps)

"""Risk profiles as data: named indicators over declaration fields, combined into weighted profiles.

In the manner of the WCO Customs Risk Management Compendium (indicators combined into profiles) and
ASYCUDA selectivity (criteria sending a declaration to a red / yellow / blue / green lane, with a random
rate), a profile is a YAML or JSON document validated by pydantic::

    profiles:
      - id: undervalued_machinery
        name: Machinery declared far below the usual value per kg
        rationale: ...why, and where the thresholds come from...
        lane: red
        threshold: 2.0           # sum of the weights of the indicators that must fire (default: all)
        valid_from: 2021-01-01   # optional validity window, compared with the declaration date
        min_random_rate: 0.01    # share of the near misses (some indicators fired) sent to the lane at random
        indicators:
          - {name: machinery, kind: hs_prefix, prefixes: ["84", "85"], weight: 1}
          - {name: undervalued, kind: value_per_kg_vs_hs, below_ratio: 0.25, weight: 1}

Every hit names the indicators that fired.  Indicators that compare with the past (value per kg against
the HS code's history, first-time importer, an entity's infringement record) read a
:class:`risk.history.History` fitted on earlier, labelled declarations.  Each indicator has a scalar
form (one declaration, for the API) and a vectorised form (a frame, for batch scoring); both agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from cedetect.declarations import Declaration
from risk.history import History
from risk.lanes import Lane, random_draw

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
BoolArray = npt.NDArray[np.bool_]

CategoricalField = Literal[
    "office_id",
    "process_type",
    "import_type",
    "import_use",
    "payment_type",
    "mode_of_transport",
    "declarant_id",
    "importer_id",
    "seller_id",
    "courier_id",
    "hs6_code",
    "country_of_departure",
    "country_of_origin",
    "tax_type",
    "country_of_origin_indicator",
    "corridor_id",
    "expected_post",
]
NumericField = Literal["tax_rate_pct", "net_mass_kg", "item_price_krw", "value_per_kg_krw"]
EntityField = Literal["importer_id", "declarant_id", "seller_id", "hs6_code", "office_id"]
OptionalField = Literal[
    "seller_id", "courier_id", "vehicle_plate", "trailer_plate", "corridor_id", "route", "expected_post"
]


class _Indicator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    weight: float = Field(default=1.0, gt=0, le=100)
    description: str = ""

    def fires(self, decl: Declaration, history: History | None) -> bool:
        raise NotImplementedError

    def mask(self, frame: pd.DataFrame, history: History | None) -> BoolArray:
        raise NotImplementedError


def _column(frame: pd.DataFrame, field: str) -> pd.Series:
    if field in frame.columns:
        return frame[field]
    return pd.Series([None] * len(frame), index=frame.index, dtype="object")


def _is_text(column: pd.Series) -> bool:
    """Only ``str`` values besides missing ones: a pandas string column (``read_frame``) or an object column of
    ``str`` (``to_frame``)."""
    if isinstance(column.dtype, pd.StringDtype):
        return True
    return column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty")


def _text(frame: pd.DataFrame, field: str) -> npt.NDArray[np.object_]:
    """A column as text with ``""`` for missing values: ``astype("string").fillna("")`` without the pandas
    string machinery when the column already holds ``str`` values (a few ms instead of tens for 100,000 rows)."""
    column = _column(frame, field)
    if not _is_text(column):
        return np.asarray(column.astype("string").fillna(""), dtype=object)
    values = column.to_numpy(dtype=object, copy=True)
    values[pd.isna(values)] = ""
    return values


def _per_distinct(column: pd.Series, function: Callable[[str], Any], missing: Any) -> npt.NDArray[Any]:
    """``function(str(value))`` per row, computed once per distinct value of a text column; ``missing``
    where the value is missing (NaN, None, NA).  Other columns (pandas strings, numbers) row by row."""
    if not _is_text(column):
        values = column.to_numpy(dtype=object)
        absent = pd.isna(values)
        pairs = zip(values.tolist(), absent.tolist(), strict=True)
        return np.asarray([missing if m else function(str(v)) for v, m in pairs])
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    results = np.asarray([function(str(u)) for u in uniques] + [missing])
    return results[codes]  # code -1 (missing) takes the last entry


class FieldIn(_Indicator):
    """The field's value is one of ``values`` (origin country, office, importer, tax type, ...)."""

    kind: Literal["field_in"] = "field_in"
    field: CategoricalField
    values: tuple[str, ...] = Field(min_length=1)

    def fires(self, decl: Declaration, history: History | None) -> bool:
        return getattr(decl, self.field) in self.values

    def mask(self, frame: pd.DataFrame, history: History | None) -> BoolArray:
        return _column(frame, self.field).isin(self.values).to_numpy(dtype=bool)


class HsPrefix(_Indicator):
    """The HS6 code starts with one of ``prefixes`` (chapter, heading or subheading)."""

    kind: Literal["hs_prefix"] = "hs_prefix"
    prefixes: tuple[Annotated[str, Field(pattern=r"^[0-9]{2,6}$")], ...] = Field(min_length=1)

    def fires(self, decl: Declaration, history: History | None) -> bool:
        return decl.hs6_code.startswith(self.prefixes)

    def mask(self, frame: pd.DataFrame, history: History | None) -> BoolArray:
        starts = self.prefixes
        return np.asarray(
            _per_distinct(frame["hs6_code"], lambda code: code.startswith(starts), "nan".startswith(starts)), dtype=bool
        )


class NumericRange(_Indicator):
    """``at_least <= value < below`` for a numeric field (a missing value, e.g. value per kg at 0 kg, never fires)."""

    kind: Literal["range"] = "range"
    field: NumericField
    at_least: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> NumericRange:
        if self.at_least is None and self.below is None:
            raise ValueError("a range needs at_least or below")
        if self.at_least is not None and self.below is not None and self.below <= self.at_least:
            raise ValueError("below must be greater than at_least")
        return self

    def _test(self, value: Any) -> Any:
        ok = value == value  # NaN is never in range
        if self.at_least is not None:
            ok = ok & (value >= self.at_least)
        if self.below is not None:
            ok = ok & (value < self.below)
        return ok

    def fires(self, decl: Declaration, history: History | None) -> bool:
        value = decl.value_per_kg_krw if self.field == "value_per_kg_krw" else getattr(decl, self.field)
        return value is not None and bool(self._test(float(value)))

    def mask(self, frame: pd.DataFrame, history: History | None) -> BoolArray:
        values = _value_per_kg(frame) if self.field == "value_per_kg_krw" else frame[self.field].to_numpy(dtype=float)
        return np.asarray(self._test(values), dtype=bool)


class ValueVsHistory(_Indicator):
    """Declared value per kg far from the HS code's history: below ``below_ratio`` x median or above ``above_ratio``."""

    kind: Literal["value_per_kg_vs_hs"] = "value_per_kg_vs_hs"
    below_ratio: float | None = Field(default=None, gt=0)
    above_ratio: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _bounded(self) -> ValueVsHistory:
        if self.below_ratio is None and self.above_ratio is None:
            raise ValueError("value_per_kg_vs_hs needs below_ratio or above_ratio")
        return self

    def _test(self, ratio: Any) -> Any:
        never = np.zeros(np.shape(ratio), dtype=bool)
        low = ratio < self.below_ratio if self.below_ratio is not None else never
        high = ratio > self.above_ratio if self.above_ratio is not None else never
        return low | high

    def fires(self, decl: Declaration, history: History | None) -> bool:
        if history is None:
            return False
        ratio = history.value_ratio(decl.hs6_code, decl.value_per_kg_krw)
        return ratio is not None and bool(self._test(ratio))

    def mask(self, frame: pd.DataFrame, history: History | None) -> BoolArray:
        if history is None:
            return np.zeros(len(frame), dtype=bool)
        ratio = value_ratios(frame, history)
        return np.asarray(self._test(ratio), dtype=bool)


class FirstTime(_Indicator):
    """The importer (declarant, seller) has no declaration in the history: a first-time trader."""

    kind: Literal["first_time"] = "first_time"
    field: Literal["importer_id", "declarant_id", "seller_id"]

    def fires(self, decl: Declaration, history: History | None) -> bool:
        key = getattr(decl, self.field)
        return history is not None and bool(key) and not history.seen(self.field, key)

    def mask(self, frame: pd.DataFrame, history: History | None) -> BoolArray:
        if history is None:
            return np.zeros(len(frame), dtype=bool)
        keys: Any = _text(frame, self.field)
        index = history.cached(
            ("first_time_index", self.field),
            lambda: pd.Index(sorted(history.records.get(self.field, {})), dtype=object),
        )
        return np.asarray((keys != "") & (index.get_indexer(keys) < 0), dtype=np.bool_)


class PriorFraud(_Indicator):
    """The entity's inspection record: at least ``min_fraud`` infringements and an infringement rate ≥ ``min_rate``."""

    kind: Literal["prior_fraud"] = "prior_fraud"
    field: EntityField
    min_fraud: int = Field(default=1, ge=1)
    min_rate: float = Field(default=0.0, ge=0, le=1)
    critical: bool = False

    def _ok(self, inspected: Any, fraud: Any) -> Any:
        return (fraud >= self.min_fraud) & (fraud >= self.min_rate * np.maximum(inspected, 1))

    def _hits(self, history: History) -> frozenset[str]:
        """The entities whose record passes, computed once per history."""

        def build() -> frozenset[str]:
            table = history.records.get(self.field, {})
            return frozenset(
                k for k, r in table.items() if self._ok(r.inspected, r.critical if self.critical else r.fraud)
            )

        key = ("prior_fraud", self.field, self.min_fraud, self.min_rate, self.critical)
        return history.cached(key, build)

    def fires(self, decl: Declaration, history: History | None) -> bool:
        return history is not None and getattr(decl, self.field) in self._hits(history)

    def mask(self, frame: pd.DataFrame, history: History | None) -> BoolArray:
        if history is None:
            return np.zeros(len(frame), dtype=bool)
        keys: Any = _column(frame, self.field).to_numpy(dtype=object)
        hits = self._hits(history)
        index = history.cached(("prior_fraud_index", id(hits)), lambda: pd.Index(sorted(hits), dtype=object))
        return np.asarray(index.get_indexer(keys) >= 0, dtype=np.bool_)


class FieldsDiffer(_Indicator):
    """Two fields differ, e.g. country of origin ≠ country of departure (goods routed through a third country)."""

    kind: Literal["fields_differ"] = "fields_differ"
    fields: tuple[CategoricalField, CategoricalField] = ("country_of_origin", "country_of_departure")

    def fires(self, decl: Declaration, history: History | None) -> bool:
        return bool(getattr(decl, self.fields[0]) != getattr(decl, self.fields[1]))

    def mask(self, frame: pd.DataFrame, history: History | None) -> BoolArray:
        return np.asarray(_text(frame, self.fields[0]) != _text(frame, self.fields[1]), dtype=np.bool_)


class Missing(_Indicator):
    """An optional field is empty (no seller, no vehicle plate on a transit declaration, ...)."""

    kind: Literal["missing"] = "missing"
    field: OptionalField

    def fires(self, decl: Declaration, history: History | None) -> bool:
        return getattr(decl, self.field) in (None, "", ())

    def mask(self, frame: pd.DataFrame, history: History | None) -> BoolArray:
        return np.asarray(_text(frame, self.field) == "", dtype=np.bool_)


Indicator = Annotated[
    FieldIn | HsPrefix | NumericRange | ValueVsHistory | FirstTime | PriorFraud | FieldsDiffer | Missing,
    Field(discriminator="kind"),
]


class Profile(BaseModel):
    """Weighted indicators, a threshold, a target lane, a validity window and a minimum random rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Name
    name: str = Field(min_length=1, max_length=200)
    rationale: str = Field(min_length=10)
    lane: Lane
    indicators: tuple[Indicator, ...] = Field(min_length=1)
    #: Sum of fired weights needed for a hit; None: every indicator must fire.
    threshold: float | None = Field(default=None, gt=0)
    valid_from: date | None = None
    valid_until: date | None = None
    #: Share of the near misses (some indicators fired, not enough weight) sent to this lane at random,
    #: deterministic per declaration id: keeps the profile's neighbourhood under control and labelled.
    min_random_rate: float = Field(default=0.0, ge=0, le=1)
    enabled: bool = True

    @field_validator("indicators")
    @classmethod
    def _unique_names(cls, value: tuple[_Indicator, ...]) -> tuple[_Indicator, ...]:
        names = [i.name for i in value]
        if len(set(names)) != len(names):
            raise ValueError(f"indicator names repeat in a profile: {names}")
        return value

    @model_validator(mode="after")
    def _window(self) -> Profile:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        if self.threshold is not None and self.threshold > self.total_weight + 1e-9:
            raise ValueError(f"threshold {self.threshold} exceeds the total weight {self.total_weight}")
        return self

    @property
    def total_weight(self) -> float:
        return float(sum(i.weight for i in self.indicators))

    @property
    def needed(self) -> float:
        return self.total_weight if self.threshold is None else self.threshold

    def in_window(self, day: date) -> bool:
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_until is None or day <= self.valid_until
        )


@dataclass(frozen=True, slots=True)
class ProfileHit:
    """A profile that selected a declaration: its lane, the summed weight and the indicators that fired."""

    profile_id: str
    profile_name: str
    lane: Lane
    score: float
    indicators: tuple[str, ...]
    random: bool = False

    @property
    def reason(self) -> str:
        if self.random:
            return f"profile:{self.profile_id}[random]"
        return f"profile:{self.profile_id}[{'+'.join(self.indicators)}]"


class ProfileFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    profiles: tuple[Profile, ...]


_PROFILES = TypeAdapter(tuple[Profile, ...])


def load_profiles(text_or_path: str | Path) -> list[Profile]:
    """Profiles from YAML or JSON text, or from a file: ``{profiles: [...]}`` or a bare list.

    Raises ``ValueError`` (pydantic's ``ValidationError`` is one) naming what is wrong.
    """
    if isinstance(text_or_path, Path) or _is_file(text_or_path):
        text = Path(text_or_path).read_text(encoding="utf-8")
    else:
        text = text_or_path
    data = yaml.safe_load(text)
    if isinstance(data, dict):
        profiles = ProfileFile.model_validate(data).profiles
    elif isinstance(data, list):
        profiles = _PROFILES.validate_python(data)
    else:
        raise ValueError("not_a_profile_document: expected a mapping with 'profiles' or a list of profiles")
    ids = [p.id for p in profiles]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate_profile_id: {sorted({i for i in ids if ids.count(i) > 1})}")
    return list(profiles)


def _is_file(text: str) -> bool:
    if "\n" in text or len(text) > 4096:
        return False
    try:
        return Path(text).is_file()
    except OSError:  # a name too long for the file system: it is a document
        return False


def dump_profiles(profiles: Sequence[Profile]) -> str:
    """YAML text of profiles (round-trips through :func:`load_profiles`)."""
    data = {"profiles": [p.model_dump(mode="json", exclude_none=True) for p in profiles]}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


STARTER_PATH = Path(__file__).parent / "profiles" / "starter.yaml"


def starter_profiles() -> list[Profile]:
    return load_profiles(STARTER_PATH)


@dataclass(frozen=True, slots=True)
class FrameHits:
    """Vectorised evaluation of one profile over a frame."""

    profile: Profile
    hit: BoolArray  # indicator hit (in window, enough weight)
    random: BoolArray  # random selection (in window, not an indicator hit)
    fired: dict[str, BoolArray]  # indicator name -> fired


class ProfileSet:
    """A set of profiles with the history they compare against."""

    def __init__(self, profiles: Sequence[Profile], history: History | None = None) -> None:
        self.profiles = [p for p in profiles if p.enabled]
        self.history = history

    def evaluate(self, decl: Declaration) -> list[ProfileHit]:
        hits: list[ProfileHit] = []
        for profile in self.profiles:
            if not profile.in_window(decl.date):
                continue
            fired = [i for i in profile.indicators if i.fires(decl, self.history)]
            score = float(sum(i.weight for i in fired))
            if fired and score >= profile.needed - 1e-9:
                hits.append(ProfileHit(profile.id, profile.name, profile.lane, score, tuple(i.name for i in fired)))
            elif (
                fired
                and profile.min_random_rate > 0
                and random_draw([decl.declaration_id], profile.id)[0] < profile.min_random_rate
            ):
                hits.append(ProfileHit(profile.id, profile.name, profile.lane, 0.0, (), random=True))
        return hits

    def evaluate_frame(self, frame: pd.DataFrame) -> list[FrameHits]:
        """Evaluate every profile over a frame with Declaration field names (``risk.features.to_frame``)."""
        results: list[FrameHits] = []
        days = _per_distinct(frame["date"], lambda day: day[:10], "nan").astype(str)  # ISO dates compare as text
        for profile in self.profiles:
            window = np.ones(len(frame), dtype=bool)
            if profile.valid_from is not None:
                window &= days >= profile.valid_from.isoformat()
            if profile.valid_until is not None:
                window &= days <= profile.valid_until.isoformat()
            fired = {i.name: i.mask(frame, self.history) & window for i in profile.indicators}
            score = np.zeros(len(frame))
            for indicator in profile.indicators:
                score += np.where(fired[indicator.name], indicator.weight, 0.0)
            hit = window & (score >= profile.needed - 1e-9) & (score > 0)
            random = np.zeros(len(frame), dtype=bool)
            if profile.min_random_rate > 0:  # drawn for the near misses only (the draw is per id)
                near = np.flatnonzero(window & ~hit & (score > 0))
                if len(near):
                    chosen = frame["declaration_id"].to_numpy(dtype=object)[near]
                    ids = np.asarray([str(i) for i in chosen], dtype=object)
                    random[near] = random_draw(ids, profile.id) < profile.min_random_rate
            results.append(FrameHits(profile, hit, random, fired))
        return results


def _value_per_kg(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    mass = frame["net_mass_kg"].to_numpy(dtype=float)
    price = frame["item_price_krw"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mass > 0, price / np.where(mass > 0, mass, 1.0), np.nan)


def value_ratios(frame: pd.DataFrame, history: History) -> npt.NDArray[np.float64]:
    """Value per kg over the HS6 (else HS4) median of the history; NaN where either is unknown."""
    from risk.features import hs6_numbers

    return history.value_ratios(hs6_numbers(frame), _value_per_kg(frame))

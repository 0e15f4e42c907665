"""History of past declarations that some indicators compare against.

Fitted on training data only (labelled, inspected declarations of an earlier period): the declared value
per kilogram of each HS6 code (median and spread, HS4 as a fall-back), the importers, declarants and
sellers already seen, and each entity's inspection record (inspections, infringements).  Serialised as
JSON beside a model or a profile set, so that scoring never needs the training file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from cedetect.declarations import Declaration

T = TypeVar("T")

#: Entity fields whose inspection record the history keeps.
ENTITY_FIELDS: tuple[str, ...] = ("importer_id", "declarant_id", "seller_id", "hs6_code", "office_id")
#: Fewer priced items than this and an HS6 code falls back to its HS4 heading.
MIN_HS_ITEMS = 5


@dataclass(frozen=True, slots=True)
class ValueStats:
    """Declared value per kg of a tariff code: median and the 10th/90th percentiles, in KRW/kg."""

    items: int
    median_krw_per_kg: float
    p10_krw_per_kg: float
    p90_krw_per_kg: float


@dataclass(frozen=True, slots=True)
class Record:
    """An entity's inspection record: how many of its items were inspected, how many were fraud."""

    inspected: int
    fraud: int
    critical: int


@dataclass
class History:
    """What was known before the declarations being scored.  Build it with :meth:`fit`."""

    hs6_value: dict[str, ValueStats] = field(default_factory=dict)
    hs4_value: dict[str, ValueStats] = field(default_factory=dict)
    records: dict[str, dict[str, Record]] = field(default_factory=dict)
    first_date: str | None = None
    last_date: str | None = None
    rows: int = 0
    _median_cache: (
        tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64]] | None
    ) = field(default=None, repr=False, compare=False)
    _derived: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)

    # --- fitting ---------------------------------------------------------------------------------
    @classmethod
    def fit(cls, data: pd.DataFrame | Sequence[Declaration]) -> History:
        """Fit on a frame with Declaration field names (see ``risk.features.to_frame``) or declarations."""
        frame = data if isinstance(data, pd.DataFrame) else _frame(data)
        history = cls(rows=len(frame))
        if len(frame) == 0:
            return history
        dates = frame["date"].astype(str)
        history.first_date, history.last_date = str(dates.min()), str(dates.max())
        mass = frame["net_mass_kg"].to_numpy(dtype=float)
        price = frame["item_price_krw"].to_numpy(dtype=float)
        priced = (mass > 0) & (price > 0)
        vpk = pd.Series(np.where(priced, price / np.where(mass > 0, mass, 1.0), np.nan), index=frame.index)
        hs6 = frame["hs6_code"].astype(str)
        history.hs6_value = _value_stats(vpk[priced], hs6[priced])
        history.hs4_value = _value_stats(vpk[priced], hs6[priced].str[:4])
        if "fraud" in frame.columns:
            labelled = frame[frame["fraud"].notna()]
            fraud = labelled["fraud"].astype(int)
            crit = (labelled["critical_fraud"].fillna(0).astype(int) == 2).astype(int)
            for name in ENTITY_FIELDS:
                keys = labelled[name].astype("string").fillna("")
                grouped = pd.DataFrame({"k": keys, "f": fraud, "c": crit})
                grouped = grouped[grouped["k"] != ""].groupby("k").agg(n=("f", "size"), f=("f", "sum"), c=("c", "sum"))
                history.records[name] = {
                    str(k): Record(int(n), int(f), int(c))
                    for k, n, f, c in zip(
                        grouped.index.tolist(),
                        grouped["n"].tolist(),
                        grouped["f"].tolist(),
                        grouped["c"].tolist(),
                        strict=True,
                    )
                }
        else:
            for name in ENTITY_FIELDS:
                keys = frame[name].astype("string").fillna("")
                counts = keys[keys != ""].value_counts()
                history.records[name] = {str(k): Record(int(n), 0, 0) for k, n in counts.items()}
        return history

    # --- queries ---------------------------------------------------------------------------------
    def value_stats(self, hs6_code: str) -> ValueStats | None:
        """Value statistics of an HS6 code, or of its HS4 heading when the code has too few items."""
        stats = self.hs6_value.get(hs6_code)
        if stats is not None and stats.items >= MIN_HS_ITEMS:
            return stats
        heading = self.hs4_value.get(hs6_code[:4])
        if heading is not None and heading.items >= MIN_HS_ITEMS:
            return heading
        return None

    def value_ratio(self, hs6_code: str, value_per_kg_krw: float | None) -> float | None:
        """Declared value per kg over the HS history's median (None: no price or no history)."""
        stats = self.value_stats(hs6_code)
        if stats is None or value_per_kg_krw is None or value_per_kg_krw <= 0 or stats.median_krw_per_kg <= 0:
            return None
        return value_per_kg_krw / stats.median_krw_per_kg

    def value_ratios(
        self, hs6: npt.NDArray[np.int64], value_per_kg_krw: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Vectorised :meth:`value_ratio` over HS6 codes as integers; NaN where either side is unknown."""
        keys6, med6, keys4, med4 = self._medians()
        median = _lookup(keys6, med6, hs6)
        median = np.where(np.isnan(median), _lookup(keys4, med4, np.where(hs6 >= 0, hs6 // 100, -1)), median)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((value_per_kg_krw > 0) & (median > 0), value_per_kg_krw / median, np.nan)

    def median_value_per_kg(self, hs6: int) -> float:
        """The median of :meth:`value_ratios` for one HS6 code as an integer (HS4 fall-back); NaN if unknown."""
        six, four = self.cached(("median_value_per_kg",), self._median_dicts)
        median = six.get(hs6)
        if median is None and hs6 >= 0:
            median = four.get(hs6 // 100)
        return math.nan if median is None else median

    def _median_dicts(self) -> tuple[dict[int, float], dict[int, float]]:
        keys6, med6, keys4, med4 = self._medians()
        return dict(zip(keys6.tolist(), med6.tolist(), strict=True)), dict(
            zip(keys4.tolist(), med4.tolist(), strict=True)
        )

    def _medians(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        if self._median_cache is None:

            def arrays(table: dict[str, ValueStats]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
                pairs = sorted(
                    (int(k), v.median_krw_per_kg) for k, v in table.items() if v.items >= MIN_HS_ITEMS and k.isdigit()
                )
                return np.asarray([p[0] for p in pairs], dtype=np.int64), np.asarray([p[1] for p in pairs], dtype=float)

            self._median_cache = (*arrays(self.hs6_value), *arrays(self.hs4_value))
        return self._median_cache

    def cached(self, key: Hashable, build: Callable[[], T]) -> T:
        """A value derived from this history, built once (the history is not changed after fitting)."""
        if key not in self._derived:
            self._derived[key] = build()
        return cast(T, self._derived[key])

    def record(self, entity: str, key: str | None) -> Record | None:
        if not key:
            return None
        return self.records.get(entity, {}).get(key)

    def seen(self, entity: str, key: str | None) -> bool:
        return self.record(entity, key) is not None

    # --- persistence -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def stats(table: dict[str, ValueStats]) -> dict[str, list[float]]:
            return {
                k: [v.items, v.median_krw_per_kg, v.p10_krw_per_kg, v.p90_krw_per_kg] for k, v in sorted(table.items())
            }

        return {
            "format": "cedetect.risk.history/1",
            "rows": self.rows,
            "first_date": self.first_date,
            "last_date": self.last_date,
            "hs6_value": stats(self.hs6_value),
            "hs4_value": stats(self.hs4_value),
            "records": {
                entity: {k: [r.inspected, r.fraud, r.critical] for k, r in sorted(table.items())}
                for entity, table in self.records.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> History:
        if data.get("format") != "cedetect.risk.history/1":
            raise ValueError(f"unsupported_history_format: {data.get('format')!r}")

        def stats(table: dict[str, list[float]]) -> dict[str, ValueStats]:
            return {k: ValueStats(int(v[0]), float(v[1]), float(v[2]), float(v[3])) for k, v in table.items()}

        return cls(
            hs6_value=stats(data["hs6_value"]),
            hs4_value=stats(data["hs4_value"]),
            records={
                entity: {k: Record(int(v[0]), int(v[1]), int(v[2])) for k, v in table.items()}
                for entity, table in data["records"].items()
            },
            first_date=data.get("first_date"),
            last_date=data.get("last_date"),
            rows=int(data.get("rows", 0)),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> History:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def _lookup(
    keys: npt.NDArray[np.int64], values: npt.NDArray[np.float64], query: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    if len(keys) == 0:
        return np.full(len(query), np.nan)
    at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where((keys[at] == query) & (query >= 0), values[at], np.nan)


def _value_stats(vpk: pd.Series, keys: pd.Series) -> dict[str, ValueStats]:
    grouped = pd.DataFrame({"k": keys.to_numpy(), "v": vpk.to_numpy()}).groupby("k")["v"]
    table = pd.DataFrame(
        {
            "n": grouped.size(),
            "med": grouped.median(),
            "p10": grouped.quantile(0.1),
            "p90": grouped.quantile(0.9),
        }
    )
    return {
        str(k): ValueStats(int(n), float(med), float(p10), float(p90))
        for k, n, med, p10, p90 in zip(
            table.index.tolist(),
            table["n"].tolist(),
            table["med"].tolist(),
            table["p10"].tolist(),
            table["p90"].tolist(),
            strict=True,
        )
    }


def _frame(declarations: Iterable[Declaration]) -> pd.DataFrame:
    from risk.features import to_frame

    return to_frame(list(declarations))

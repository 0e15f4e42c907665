"""Score declarations: the learned model's risk, the risk profiles' hits, and a selectivity lane with reasons.

The lane is the heaviest of: the model's lane (its score against the model's lane thresholds), the lanes
of the profiles that hit, and red for the declarations drawn at random (``random_rate``, deterministic per
declaration id so that re-scoring gives the same lane).  Reasons list the profile hits first (each names
the indicators that fired), then ``random_selection``, then the model's strongest contributions
(LightGBM ``pred_contrib``, TreeSHAP in log-odds), e.g. ``model:freq_hs6=1 (+0.84)``.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cedetect.config import RiskSettings
from cedetect.declarations import Declaration
from risk.features import normalise_frame, to_frame
from risk.lanes import LANE_ORDER, Lane, random_draw
from risk.model import DEFAULT_MODEL_DIR, RiskModel
from risk.profiles import ProfileSet, load_profiles, starter_profiles

RANDOM_SALT = "cedetect-random-selection"
#: Up to this many declarations, each is scored on its own without any frame (``Scorer._score_single``).
SINGLE_PATH_MAX = 16
#: Up to this many declarations, profiles are evaluated one declaration at a time (no frame overhead).
SCALAR_PROFILES_MAX = 32
Explain = Literal["all", "flagged", "none"]


class RiskResult(BaseModel):
    """The risk of one declaration: score in [0, 1], lane, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    declaration_id: str
    risk_score: float = Field(ge=0.0, le=1.0)
    critical_score: float = Field(ge=0.0, le=1.0)
    lane: Lane
    reasons: list[str]
    #: Ids of the profiles that selected the declaration (random selections included).
    profiles: list[str] = Field(default_factory=list)
    model_version: str = ""


class Scorer:
    """Scores declarations with a model version (default: the shipped one) and a profile set."""

    def __init__(
        self,
        model_dir: Path | None = None,
        profiles: ProfileSet | None = None,
        *,
        random_rate: float = 0.01,
        top_reasons: int = 3,
    ) -> None:
        if not 0.0 <= random_rate <= 1.0:
            raise ValueError("random_rate must be in [0, 1]")
        self.model = RiskModel.load(model_dir or DEFAULT_MODEL_DIR)
        if profiles is None:
            profiles = ProfileSet(starter_profiles(), history=self.model.history)
        elif profiles.history is None:
            profiles = ProfileSet(profiles.profiles, history=self.model.history)
        self.profiles = profiles
        self.random_rate = random_rate
        self.top_reasons = top_reasons
        cuts = self.model.lane_thresholds
        self._cuts = [(lane, cuts.get(lane.value, 1.0)) for lane in (Lane.RED, Lane.YELLOW, Lane.BLUE)]

    @classmethod
    def from_settings(cls, settings: RiskSettings | None = None, profiles: ProfileSet | None = None) -> Scorer:
        """A scorer as configured by ``CEDETECT_RISK_*`` (model_dir, profiles_path, random_rate, top_reasons)."""
        settings = settings or RiskSettings()
        if profiles is None and settings.profiles_path is not None:
            profiles = ProfileSet(load_profiles(settings.profiles_path))
        return cls(settings.model_dir, profiles, random_rate=settings.random_rate, top_reasons=settings.top_reasons)

    def score(self, declarations: Sequence[Declaration]) -> list[RiskResult]:
        if not declarations:
            return []
        if len(declarations) <= SINGLE_PATH_MAX:
            return [self._score_single(decl) for decl in declarations]
        small = len(declarations) <= SCALAR_PROFILES_MAX
        table = self.score_frame(to_frame(declarations), explain="all", declarations=declarations if small else None)
        version = self.model.version
        return [
            RiskResult(
                declaration_id=declaration_id,
                risk_score=risk_score,
                critical_score=critical_score,
                lane=Lane(lane),
                reasons=reasons,
                profiles=profiles,
                model_version=version,
            )
            for declaration_id, risk_score, critical_score, lane, reasons, profiles in zip(
                table["declaration_id"].tolist(),
                table["risk_score"].tolist(),
                table["critical_score"].tolist(),
                table["lane"].tolist(),
                table["reasons"].tolist(),
                table["profiles"].tolist(),
                strict=True,
            )
        ]

    def score_one(self, declaration: Declaration) -> RiskResult:
        return self._score_single(declaration)

    def _score_single(self, decl: Declaration) -> RiskResult:
        """One declaration without any frame: the same result as :meth:`score_frame` (``explain="all"``).

        Features from dict lookups (``Encoder.transform_one``), the boosters on a 1-row array with one
        thread, profiles on the Declaration itself, the random draw and the reasons as in the batch path.
        """
        model = self.model
        values = model.encoder.transform_one(decl)
        fraud, critical = model.predict_values(values)
        score = model.combine(fraud, critical)
        severity = 0
        for lane, cut in self._cuts:
            if score[0] >= cut:
                severity = max(severity, LANE_ORDER.index(lane))
        reasons: list[str] = []
        hit_profiles: list[str] = []
        for hit in self.profiles.evaluate(decl):
            severity = max(severity, LANE_ORDER.index(hit.lane))
            hit_profiles.append(hit.profile_id)
            reasons.append(hit.reason)
        if self.random_rate > 0 and random_draw([decl.declaration_id], RANDOM_SALT)[0] < self.random_rate:
            severity = LANE_ORDER.index(Lane.RED)
            reasons.append("random_selection")
        contrib = model.contributions_values(values)[:, :-1]
        names = model.encoder.feature_names
        k = min(self.top_reasons, contrib.shape[1])
        for column in np.argsort(-contrib, axis=1)[0, :k].tolist():
            c = float(contrib[0, column])
            if c <= 0:
                break
            reasons.append(f"model:{_describe(names[column], _declared(decl), float(values[0, column]))} (+{c:.2f})")
        return RiskResult(
            declaration_id=decl.declaration_id,
            risk_score=float(np.round(score, 6)[0]),
            critical_score=float(np.round(critical, 6)[0]),
            lane=LANE_ORDER[severity],
            reasons=reasons,
            profiles=hit_profiles,
            model_version=model.version,
        )

    def score_frame(
        self, frame: pd.DataFrame, *, explain: Explain = "flagged", declarations: Sequence[Declaration] | None = None
    ) -> pd.DataFrame:
        """Vectorised scoring of a frame (Declaration field names or the dataset's header).

        Returns declaration_id, risk_score, critical_score, lane, reasons (list of str), profiles (list).
        ``explain``: model contributions for all rows, for rows outside the green lane only, or none.
        ``declarations``: the frame's rows as Declarations, when the caller has them (profiles are then
        evaluated one by one, quicker for a handful of rows; the outcome is the same).
        """
        if "declaration_id" not in frame.columns or any(c not in frame.columns for c in ("hs6_code", "date")):
            frame = normalise_frame(frame)
        n = len(frame)
        features = self.model.features(frame)
        fraud, critical = self.model.predict_features(features)
        score = self.model.combine(fraud, critical)
        severity = np.zeros(n, dtype=np.int8)
        for lane, cut in self._cuts:
            severity = np.maximum(severity, np.where(score >= cut, LANE_ORDER.index(lane), 0).astype(np.int8))
        ids = frame["declaration_id"].astype(str).to_numpy()
        with _gc_paused():  # 2n lists: with a model loaded, the collector's passes would cost 10-25x the lists
            reasons: list[list[str]] = [[] for _ in range(n)]
            hit_profiles: list[list[str]] = [[] for _ in range(n)]
        if declarations is not None:  # a few declarations: the scalar profile path, no frame work
            for row, decl in enumerate(declarations):
                for hit in self.profiles.evaluate(decl):
                    severity[row] = max(severity[row], LANE_ORDER.index(hit.lane))
                    hit_profiles[row].append(hit.profile_id)
                    reasons[row].append(hit.reason)
        else:
            for result in self.profiles.evaluate_frame(frame):
                profile = result.profile
                selected = result.hit | result.random
                if not selected.any():
                    continue
                lane_index = LANE_ORDER.index(profile.lane)
                severity = np.where(selected, np.maximum(severity, lane_index), severity).astype(np.int8)
                names = [i.name for i in profile.indicators]
                for at in np.flatnonzero(selected).tolist():
                    hit_profiles[at].append(profile.id)
                    if result.random[at]:
                        reasons[at].append(f"profile:{profile.id}[random]")
                    else:
                        fired = "+".join(name for name in names if result.fired[name][at])
                        reasons[at].append(f"profile:{profile.id}[{fired}]")
        if self.random_rate > 0 and n:
            drawn = random_draw(ids, RANDOM_SALT) < self.random_rate
            severity = np.where(drawn, LANE_ORDER.index(Lane.RED), severity).astype(np.int8)
            for at in np.flatnonzero(drawn).tolist():
                reasons[at].append("random_selection")
        if explain != "none" and n:
            rows = np.arange(n) if explain == "all" else np.flatnonzero(severity > 0)
            if len(rows):
                self._explain(frame, features, rows, reasons)
        lanes = np.asarray([lane.value for lane in LANE_ORDER], dtype=object)[severity]
        return pd.DataFrame(
            {
                "declaration_id": ids,
                "risk_score": np.round(score, 6),
                "critical_score": np.round(critical, 6),
                "lane": lanes,
                "reasons": reasons,
                "profiles": hit_profiles,
            }
        )

    def _explain(
        self, frame: pd.DataFrame, features: pd.DataFrame, rows: npt.NDArray[np.intp], reasons: list[list[str]]
    ) -> None:
        contrib = self.model.contributions(features.iloc[rows])[:, :-1]
        names = list(features.columns)
        k = min(self.top_reasons, contrib.shape[1])
        top = np.argsort(-contrib, axis=1)[:, :k]
        values = features.to_numpy(dtype=np.float64)
        for out_row, (row, order) in enumerate(zip(rows, top, strict=True)):
            for column in order:
                c = float(contrib[out_row, column])
                if c <= 0:
                    break
                described = _describe(names[column], _in_frame(frame, int(row)), values[row, column])
                reasons[row].append(f"model:{described} (+{c:.2f})")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a burst of allocations (lists cannot form cycles here).

    Building 200,000 empty lists takes ~9 ms without the collector and 100-250 ms with it: each young
    collection pass also walks the model's and history's ~300,000 tracked objects now and then.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _in_frame(frame: pd.DataFrame, row: int) -> Callable[[str], object]:
    return lambda field: frame[field].iat[row]


def _declared(decl: Declaration) -> Callable[[str], object]:
    """A field of the declaration as :func:`risk.features.to_frame` holds it (``""`` for None)."""

    def get(field: str) -> object:
        value = getattr(decl, field)
        return "" if value is None else value

    return get


def _describe(feature: str, field_value: Callable[[str], object], value: float) -> str:
    """A feature with its value, in the declaration's terms where possible (codes shown as declared)."""
    if feature.startswith("code_"):
        field = feature.removeprefix("code_")
        if field in ("hs2", "hs4"):
            width = 2 if field == "hs2" else 4
            return f"{field}={str(field_value('hs6_code'))[:width]}"
        return f"{field}={field_value(field)}"
    if math.isnan(value):
        return f"{feature}=unknown"
    if feature.startswith("freq_") or feature in ("has_courier", "has_seller", "origin_ne_departure"):
        return f"{feature}={int(value)}"
    return f"{feature}={value:.3g}"

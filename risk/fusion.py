"""Fusion of declaration risk with what the road shows: plate and container reads, trajectory anomalies.

Pure logic, no I/O: the server's fusion worker fetches the rows and stores what this module decides.

* **Linking a read** — a plate or container code read at a border post is matched against a
  declaration's vehicle plate, trailer plate and container codes, all normalised to ``A-Z0-9``.
  An identical text is an ``exact`` match; one substitution, insertion or deletion away (a typical
  OCR error: ``0``/``O``, ``8``/``B``, a lost character) is a ``one_char_tolerant`` match and is
  reported as such.  Keys shorter than :attr:`FusionPolicy.min_fuzzy_length` only match exactly.
  :func:`fuzzy_keys` gives the one-deletion neighbourhood that lets a database index find the
  candidates of a tolerant match (two strings within one edit share a member of their neighbourhoods).
* **Linking an anomaly** — an anomaly whose devices include the declaration's tracker (or its
  normalised vehicle plate, for trackers registered under the plate).
* Both only within the declaration's *active period* (:func:`active_period`), so an old declaration
  never picks up a later transit of the same truck.
* **Assessing** — :func:`assess` combines the declaration's risk score with each piece of evidence by
  a noisy-OR (``1 - (1 - r) * prod(1 - w_i)``), every contribution a named reason: route deviation,
  unscheduled stop, rendezvous, going dark (a tracker gap), loitering, GPS jump, restricted-zone entry,
  arrival outside the expected window, arrival at an unexpected post.  The fused score decides
  whether an alert is raised and its severity; :func:`build_alert` makes the :class:`Alert`, whose
  ``details`` carry the evidence chain, with an id that depends only on the declaration and the
  severity reached, so re-running the fusion never raises the same alert twice and an escalation
  raises a new one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from cedetect.declarations import Declaration
from cedetect.models import ID_PATTERN, Alert, AlertSeverity, alert_id_for

#: Kind of the alerts raised by fusion.
ALERT_KIND = "declaration_risk"

_NOT_KEY = re.compile(r"[^A-Z0-9]")
_ID = re.compile(ID_PATTERN)


class MatchKind(StrEnum):
    EXACT = "exact"
    ONE_CHAR_TOLERANT = "one_char_tolerant"
    TRACKER_DEVICE = "tracker_device"
    VEHICLE_PLATE_DEVICE = "vehicle_plate_device"


def normalise_key(text: str) -> str:
    """Upper case, letters and digits only: how reads are stored (``34 ABC 123`` → ``34ABC123``)."""
    return _NOT_KEY.sub("", text.upper())


def declaration_keys(decl: Declaration) -> dict[str, str]:
    """Normalised key → the field it comes from (``vehicle_plate``, ``trailer_plate``, ``container_code``)."""
    keys: dict[str, str] = {}
    for field_name, value in (("vehicle_plate", decl.vehicle_plate), ("trailer_plate", decl.trailer_plate)):
        if value:
            key = normalise_key(value)
            if key:
                keys.setdefault(key, field_name)
    for code in decl.container_codes:
        key = normalise_key(code)
        if key:
            keys.setdefault(key, "container_code")
    return keys


def deletion_variants(key: str) -> set[str]:
    """``key`` with each one of its characters deleted."""
    return {key[:i] + key[i + 1 :] for i in range(len(key))}


def fuzzy_keys(keys: Iterable[str], min_length: int = 5) -> list[str]:
    """The one-deletion neighbourhood of each key long enough for a tolerant match (the key included).

    Two strings within one edit (substitution, insertion, deletion) of each other share a member of
    their neighbourhoods, so ``fuzzy_keys(declared) && fuzzy_keys([read])`` finds every candidate.
    """
    out: set[str] = set()
    for key in keys:
        if len(key) >= min_length:
            out.add(key)
            out |= deletion_variants(key)
    return sorted(out)


KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def one_edit_neighbours(key: str) -> set[str]:
    """Every A-Z0-9 string within one substitution, insertion or deletion of ``key`` (the key included):
    the reads a one-character OCR error can make of it (about 72 per character), to look up by index."""
    out = {key} | deletion_variants(key)
    for i in range(len(key) + 1):
        for c in KEY_ALPHABET:
            out.add(key[:i] + c + key[i:])
            if i < len(key):
                out.add(key[:i] + c + key[i + 1 :])
    return out


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one substitution, insertion or deletion."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        return sum(1 for x, y in zip(a, b, strict=True) if x != y) == 1
    if la > lb:
        a, b = b, a
    # b is one longer: skipping one character of b must give a.
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


@dataclass(frozen=True, slots=True)
class KeyMatch:
    kind: MatchKind
    key: str  # the declared key that matched
    field: str  # vehicle_plate, trailer_plate or container_code


def match_read(text: str, keys: Mapping[str, str], min_fuzzy_length: int = 5) -> KeyMatch | None:
    """Match one read against a declaration's keys (from :func:`declaration_keys`): exact first."""
    read = normalise_key(text)
    if not read:
        return None
    if read in keys:
        return KeyMatch(MatchKind.EXACT, read, keys[read])
    if len(read) + 1 < min_fuzzy_length:
        return None
    for key in sorted(keys):
        if len(key) >= min_fuzzy_length and within_one_edit(read, key):
            return KeyMatch(MatchKind.ONE_CHAR_TOLERANT, key, keys[key])
    return None


# --- evidence ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadEvidence:
    """A detection row linked to a declaration."""

    detection_id: str
    kind: str  # plate or container
    text: str
    time_utc: datetime
    site: str
    camera_id: str
    confidence: float
    match: MatchKind
    matched_key: str
    matched_field: str
    #: The evidence crop (``GET /api/v1/evidence/{sha256}``).
    crop_sha256: str | None = None

    def chain(self) -> dict[str, Any]:
        return {
            "type": "read",
            "detection_id": self.detection_id,
            "kind": self.kind,
            "text": self.text,
            "time_utc": self.time_utc.isoformat(),
            "site": self.site,
            "camera_id": self.camera_id,
            "confidence": round(self.confidence, 4),
            "match": self.match.value,
            "matched_key": self.matched_key,
            "matched_field": self.matched_field,
            "crop_sha256": self.crop_sha256,
        }


@dataclass(frozen=True, slots=True)
class AnomalyEvidence:
    """An anomaly row linked to a declaration through its tracker."""

    anomaly_id: str
    kind: str
    device_ids: tuple[str, ...]
    start_utc: datetime
    end_utc: datetime
    latitude: float
    longitude: float
    score: float
    reason: str
    zone_id: str | None = None
    match: MatchKind = MatchKind.TRACKER_DEVICE

    def chain(self) -> dict[str, Any]:
        return {
            "type": "anomaly",
            "anomaly_id": self.anomaly_id,
            "kind": self.kind,
            "device_ids": list(self.device_ids),
            "start_utc": self.start_utc.isoformat(),
            "end_utc": self.end_utc.isoformat(),
            "latitude": self.latitude,
            "longitude": self.longitude,
            "score": round(self.score, 4),
            "reason": self.reason,
            "zone_id": self.zone_id,
            "match": self.match.value,
        }


@dataclass(frozen=True, slots=True)
class DeclarationRisk:
    """The stored score of a declaration (``risk_scores``)."""

    risk_score: float
    lane: str
    reasons: tuple[Any, ...] = ()
    model_version: str = ""


@dataclass(frozen=True)
class FusionPolicy:
    """Weights and thresholds of the fusion.  A weight is the probability-like strength one piece of
    evidence adds on its own (an anomaly's weight is scaled by the anomaly's own score)."""

    anomaly_weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "route_deviation": 0.5,
            "unscheduled_stop": 0.35,
            "rendezvous": 0.6,
            "gap": 0.45,  # going dark
            "loitering": 0.3,
            "gps_jump": 0.3,
            "geofence_enter": 0.4,  # a restricted zone; entering a border post is an arrival instead
        }
    )
    outside_window_weight: float = 0.35
    unexpected_post_weight: float = 0.5
    #: A red-lane declaration counts at least this much (its truck at the post is worth stopping).
    red_lane_floor: float = 0.6
    yellow_lane_floor: float = 0.0
    #: Fused score from which an alert is raised, and the severity bands.
    alert_threshold: float = 0.5
    high_threshold: float = 0.7
    critical_threshold: float = 0.9
    #: Tolerance around the expected window before an arrival counts as early or late.
    window_grace: timedelta = timedelta(minutes=30)
    #: Without an expected window, a declaration is active this long after its date.
    default_transit: timedelta = timedelta(days=14)
    #: Active-period slack before the declaration date / the window start, and after the window end.
    period_before: timedelta = timedelta(days=1)
    period_after: timedelta = timedelta(days=1)
    min_fuzzy_length: int = 5
    #: Zone ids of border posts (``geofence``'s border-post zones): an entry there is an arrival.
    border_post_prefix: str = "border-post-"


DEFAULT_POLICY = FusionPolicy()


def active_period(decl: Declaration, policy: FusionPolicy = DEFAULT_POLICY) -> tuple[datetime, datetime]:
    """The time span in which evidence may be linked to ``decl``."""
    day_start = datetime.combine(decl.date, time(0), tzinfo=UTC)
    start = min(day_start, decl.expected_from_utc or day_start) - policy.period_before
    if decl.expected_until_utc is not None:
        end = decl.expected_until_utc + policy.period_after
    else:
        end = max(day_start + policy.default_transit, decl.expected_from_utc or day_start) + policy.period_after
    return start, end


def in_period(decl: Declaration, at: datetime, policy: FusionPolicy = DEFAULT_POLICY) -> bool:
    start, end = active_period(decl, policy)
    return start <= at <= end


def anomaly_match(decl: Declaration, device_ids: Sequence[str]) -> MatchKind | None:
    """How an anomaly's devices tie it to ``decl``: its tracker, or a tracker registered under its plate."""
    if decl.tracker_device_id is not None and decl.tracker_device_id in device_ids:
        return MatchKind.TRACKER_DEVICE
    if decl.vehicle_plate:
        plate = normalise_key(decl.vehicle_plate)
        if plate and any(normalise_key(d) == plate for d in device_ids):
            return MatchKind.VEHICLE_PLATE_DEVICE
    return None


# --- assessment ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FusionReason:
    code: str
    weight: float
    detail: str
    evidence_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "weight": round(self.weight, 4),
            "detail": self.detail,
            "evidence_ids": list(self.evidence_ids),
        }


@dataclass(frozen=True)
class Assessment:
    declaration_id: str
    fused_score: float
    severity: AlertSeverity | None  # None: below the alert threshold
    reasons: tuple[FusionReason, ...]
    reads: tuple[ReadEvidence, ...]
    anomalies: tuple[AnomalyEvidence, ...]
    risk: DeclarationRisk | None

    @property
    def raises_alert(self) -> bool:
        return self.severity is not None

    @property
    def last_evidence_utc(self) -> datetime | None:
        times = [r.time_utc for r in self.reads] + [a.start_utc for a in self.anomalies]
        return max(times) if times else None


@dataclass(frozen=True, slots=True)
class _Arrival:
    post: str
    time_utc: datetime
    evidence_id: str


def _arrivals(
    reads: Sequence[ReadEvidence], anomalies: Sequence[AnomalyEvidence], policy: FusionPolicy
) -> list[_Arrival]:
    arrivals = [_Arrival(r.site, r.time_utc, r.detection_id) for r in reads]
    for a in anomalies:
        if a.kind == "geofence_enter" and a.zone_id and a.zone_id.startswith(policy.border_post_prefix):
            arrivals.append(_Arrival(a.zone_id, a.start_utc, a.anomaly_id))
    return sorted(arrivals, key=lambda x: (x.time_utc, x.evidence_id))


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def severity_for(score: float, policy: FusionPolicy = DEFAULT_POLICY) -> AlertSeverity | None:
    if score >= policy.critical_threshold:
        return AlertSeverity.CRITICAL
    if score >= policy.high_threshold:
        return AlertSeverity.HIGH
    if score >= policy.alert_threshold:
        return AlertSeverity.MEDIUM
    return None


def assess(
    decl: Declaration,
    risk: DeclarationRisk | None,
    reads: Sequence[ReadEvidence],
    anomalies: Sequence[AnomalyEvidence],
    policy: FusionPolicy = DEFAULT_POLICY,
) -> Assessment:
    """Fuse the declaration's risk with its linked evidence into one score with its reasons."""
    reasons: list[FusionReason] = []
    if risk is None:
        reasons.append(FusionReason("declaration_not_scored", 0.0, "no stored risk score for this declaration"))
    else:
        base = risk.risk_score
        floor = {"red": policy.red_lane_floor, "yellow": policy.yellow_lane_floor}.get(risk.lane, 0.0)
        weight = max(base, floor)
        detail = f"risk score {base:.3f}, lane {risk.lane}" + (" (lane floor applied)" if floor > base else "")
        reasons.append(FusionReason("declaration_risk", weight, detail))
    # Evidence-free reasons first; then reads that tie the truck to the declaration.
    tolerant = [r for r in reads if r.match is MatchKind.ONE_CHAR_TOLERANT]
    for r in tolerant:
        reasons.append(
            FusionReason(
                "one_char_tolerant_read",
                0.0,
                f"{r.kind} read {r.text!r} matched declared {r.matched_field} {r.matched_key!r} within one character",
                (r.detection_id,),
            )
        )
    for a in anomalies:
        weight = policy.anomaly_weights.get(a.kind, 0.0)
        if a.kind == "geofence_enter" and a.zone_id and a.zone_id.startswith(policy.border_post_prefix):
            continue  # an arrival at a post, judged below
        if weight <= 0.0:
            continue
        code = {"gap": "going_dark", "geofence_enter": "restricted_zone_entry"}.get(a.kind, a.kind)
        reasons.append(
            FusionReason(code, weight * a.score, f"{a.reason} (anomaly score {a.score:.2f})", (a.anomaly_id,))
        )
    for arrival in _arrivals(reads, anomalies, policy):
        if decl.expected_post and arrival.post != decl.expected_post:
            reasons.append(
                FusionReason(
                    "unexpected_post",
                    policy.unexpected_post_weight,
                    f"seen at {arrival.post}, expected at {decl.expected_post}",
                    (arrival.evidence_id,),
                )
            )
        if decl.expected_from_utc is not None and arrival.time_utc < decl.expected_from_utc - policy.window_grace:
            early = decl.expected_from_utc - arrival.time_utc
            reasons.append(
                FusionReason(
                    "arrival_outside_window",
                    policy.outside_window_weight,
                    f"arrived at {arrival.post} {_hours(early)} before the expected window",
                    (arrival.evidence_id,),
                )
            )
        elif decl.expected_until_utc is not None and arrival.time_utc > decl.expected_until_utc + policy.window_grace:
            late = arrival.time_utc - decl.expected_until_utc
            reasons.append(
                FusionReason(
                    "arrival_outside_window",
                    policy.outside_window_weight,
                    f"arrived at {arrival.post} {_hours(late)} after the expected window",
                    (arrival.evidence_id,),
                )
            )
    keep = 1.0
    for reason in reasons:
        keep *= 1.0 - min(max(reason.weight, 0.0), 1.0)
    fused = 1.0 - keep
    # Without any road evidence there is nothing to fuse: the declaration's own lane handles it.
    severity = severity_for(fused, policy) if (reads or anomalies) else None
    return Assessment(
        declaration_id=decl.declaration_id,
        fused_score=round(fused, 6),
        severity=severity,
        reasons=tuple(reasons),
        reads=tuple(sorted(reads, key=lambda r: (r.time_utc, r.detection_id))),
        anomalies=tuple(sorted(anomalies, key=lambda a: (a.start_utc, a.anomaly_id))),
        risk=risk,
    )


def alert_devices(decl: Declaration, assessment: Assessment) -> tuple[str, ...]:
    """Who the alert is about: the tracker, else the normalised vehicle plate, else the cameras that read it."""
    if decl.tracker_device_id and _ID.match(decl.tracker_device_id):
        return (decl.tracker_device_id,)
    if decl.vehicle_plate:
        plate = normalise_key(decl.vehicle_plate)
        if plate:
            return (plate,)
    devices = sorted({a.device_ids[0] for a in assessment.anomalies if a.device_ids})
    devices += sorted({r.camera_id for r in assessment.reads})
    return tuple(devices[:8]) or (decl.declaration_id,)


def build_alert(
    decl: Declaration,
    assessment: Assessment,
    *,
    latitude: float,
    longitude: float,
    created_utc: datetime,
    zone_id: str | None = None,
) -> Alert:
    """The alert of an assessment that raises one; its ``details`` carry the whole evidence chain."""
    if assessment.severity is None:
        raise ValueError("below_alert_threshold: this assessment raises no alert")
    devices = alert_devices(decl, assessment)
    id_time = datetime.combine(decl.date, time(0), tzinfo=UTC)
    alert_id = alert_id_for(ALERT_KIND, devices, id_time, key=f"{decl.declaration_id}|{assessment.severity.value}")
    top = sorted((r for r in assessment.reasons if r.weight > 0), key=lambda r: -r.weight)
    summary = ", ".join(r.code for r in top[:3]) or "linked evidence"
    risk = assessment.risk
    details: dict[str, Any] = {
        "declaration_id": decl.declaration_id,
        "fused_score": assessment.fused_score,
        "declaration_risk": None
        if risk is None
        else {
            "risk_score": risk.risk_score,
            "lane": risk.lane,
            "reasons": list(risk.reasons),
            "model_version": risk.model_version,
        },
        "reasons": [r.as_dict() for r in assessment.reasons],
        "evidence": [r.chain() for r in assessment.reads] + [a.chain() for a in assessment.anomalies],
        "declared": {
            "vehicle_plate": decl.vehicle_plate,
            "trailer_plate": decl.trailer_plate,
            "container_codes": list(decl.container_codes),
            "tracker_device_id": decl.tracker_device_id,
            "expected_post": decl.expected_post,
            "expected_from_utc": decl.expected_from_utc.isoformat() if decl.expected_from_utc else None,
            "expected_until_utc": decl.expected_until_utc.isoformat() if decl.expected_until_utc else None,
        },
    }
    return Alert(
        alert_id=alert_id,
        kind=ALERT_KIND,
        severity=assessment.severity,
        device_ids=devices,
        time_utc=assessment.last_evidence_utc or created_utc,
        created_utc=created_utc,
        latitude=latitude,
        longitude=longitude,
        zone_id=zone_id,
        title=f"Declaration {decl.declaration_id}: fused risk {assessment.fused_score:.2f} ({summary})"[:300],
        details=details,
    )

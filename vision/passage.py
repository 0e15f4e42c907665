"""One read per vehicle passage: reads of the same text over consecutive frames of one camera are merged.

A camera sees a plate (or a container code) in several consecutive frames as the vehicle goes by.  Every
frame gives a read, and OCR does not always agree with itself: one frame reads ``34ABC123``, the next
``34A8C123``.  :class:`PassageMerger` groups the reads of one camera and kind whose texts are within
``max_edits`` single-character edits (Levenshtein) of a text already seen in an open passage, keeps the best
read (a text the grammar or the check digit accepts beats one it refuses, then the text read in the most
frames, then the higher confidence, then the earlier frame), and closes the passage once the camera has not
seen that text for ``quiet_s`` seconds, or once the passage has lasted ``max_passage_s`` (a parked vehicle
becomes one passage per period, not one that never ends).  Closed passages are returned in the order they closed.

Pure logic: time is whatever the caller passes in (frame capture times), nothing here reads a clock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar


class ReadLike(Protocol):
    """What the merger needs from a read (``vision.reader.Read`` has it)."""

    @property
    def kind(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def confidence(self) -> float: ...

    @property
    def valid(self) -> bool: ...


R = TypeVar("R", bound=ReadLike)


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """Levenshtein distance (insert, delete, substitute); stops early above ``limit`` and returns ``limit + 1``."""
    if a == b:
        return 0
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _better(candidate: ReadLike, candidate_utc: datetime, best: ReadLike, best_utc: datetime) -> bool:
    if candidate.valid != best.valid:
        return candidate.valid
    if candidate.confidence != best.confidence:
        return candidate.confidence > best.confidence
    return candidate_utc < best_utc


@dataclass(slots=True)
class Passage(Generic[R]):
    """The reads of one text by one camera while a vehicle went by."""

    camera_id: str
    kind: str
    best: R
    best_utc: datetime  # capture time of the frame the best read comes from
    first_utc: datetime
    last_utc: datetime
    frames: int = 1
    texts: Counter[str] = field(default_factory=Counter)
    #: the best read of each text seen, with its frame's capture time
    by_text: dict[str, tuple[R, datetime]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_text.setdefault(self.best.text, (self.best, self.best_utc))

    @property
    def text(self) -> str:
        return self.best.text

    def add(self, read: R, time_utc: datetime) -> None:
        self.frames += 1
        self.texts[read.text] += 1
        self.first_utc = min(self.first_utc, time_utc)
        self.last_utc = max(self.last_utc, time_utc)
        held = self.by_text.get(read.text)
        if held is None or _better(read, time_utc, *held):
            self.by_text[read.text] = (read, time_utc)
        # a valid text first, then the text read in the most frames (one frame's read of a character the
        # recogniser hesitates over, O or D, can turn on a pixel: the frames outvote it), then confidence
        self.best, self.best_utc = max(
            self.by_text.values(),
            key=lambda held: (held[0].valid, self.texts[held[0].text], held[0].confidence, -held[1].timestamp()),
        )


class PassageMerger(Generic[R]):
    """Merges reads into passages per (camera, kind); see the module docstring."""

    def __init__(self, *, quiet_s: float = 2.0, max_passage_s: float = 60.0, max_edits: int = 1, min_len: int = 4):
        if quiet_s <= 0 or max_passage_s <= 0:
            raise ValueError("quiet_s and max_passage_s must be > 0")
        if max_edits < 0:
            raise ValueError("max_edits must be >= 0")
        self.quiet = timedelta(seconds=quiet_s)
        self.max_passage = timedelta(seconds=max_passage_s)
        self.max_edits = max_edits
        #: Texts shorter than this merge only when identical (one edit in a 3-character text is a third of it).
        self.min_len = min_len
        self._open: list[Passage[R]] = []  # oldest first

    @property
    def open_passages(self) -> tuple[Passage[R], ...]:
        return tuple(self._open)

    def _distance(self, text: str, passage: Passage[R]) -> int | None:
        """Edits from ``text`` to the nearest text seen in ``passage``; None when none is near enough."""
        nearest: int | None = None
        for seen in passage.texts:
            limit = self.max_edits if min(len(text), len(seen)) >= self.min_len else 0
            distance = edit_distance(text, seen, limit)
            if distance <= limit and (nearest is None or distance < nearest):
                nearest = distance
        return nearest

    def add(self, camera_id: str, time_utc: datetime, reads: list[R] | tuple[R, ...]) -> list[Passage[R]]:
        """Take the reads of one frame; returns the passages of this camera that closed up to ``time_utc``."""
        closed = self.close_due(time_utc, camera_id)
        taken: set[int] = set()  # two reads of one frame are two vehicles: never merged into one passage
        for read in reads:
            candidates: list[tuple[int, int, Passage[R]]] = []
            for i, p in enumerate(self._open):
                if p.camera_id == camera_id and p.kind == read.kind and id(p) not in taken:
                    distance = self._distance(read.text, p)
                    if distance is not None:
                        candidates.append((distance, -i, p))  # nearest text first, then the latest passage
            if candidates:
                passage = min(candidates, key=lambda c: (c[0], c[1]))[2]
                passage.add(read, time_utc)
            else:
                passage = Passage(camera_id, read.kind, read, time_utc, time_utc, time_utc, texts=Counter([read.text]))
                self._open.append(passage)
            taken.add(id(passage))
        return closed

    def close_due(self, now_utc: datetime, camera_id: str | None = None) -> list[Passage[R]]:
        """Close the passages (of one camera, or of all) quiet since ``now - quiet_s`` or older than the maximum."""
        closed: list[Passage[R]] = []
        keep: list[Passage[R]] = []
        for passage in self._open:
            due = now_utc - passage.last_utc > self.quiet or now_utc - passage.first_utc >= self.max_passage
            (closed if due and (camera_id is None or passage.camera_id == camera_id) else keep).append(passage)
        self._open = keep
        return closed

    def flush(self, camera_id: str | None = None) -> list[Passage[R]]:
        """Close every open passage (of one camera, or of all): the source ended or the agent stops."""
        closed = [p for p in self._open if camera_id is None or p.camera_id == camera_id]
        self._open = [p for p in self._open if not (camera_id is None or p.camera_id == camera_id)]
        return closed

"""Selectivity lanes (ASYCUDA style) and the deterministic random draw behind random inspections."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt


class Lane(StrEnum):
    """red = physical inspection, yellow = documentary check, blue = post-clearance audit, green = release."""

    GREEN = "green"
    BLUE = "blue"
    YELLOW = "yellow"
    RED = "red"

    @property
    def severity(self) -> int:
        return LANE_ORDER.index(self)


#: Lanes from the lightest to the heaviest control.
LANE_ORDER: tuple[Lane, ...] = (Lane.GREEN, Lane.BLUE, Lane.YELLOW, Lane.RED)


def heaviest(*lanes: Lane) -> Lane:
    return max(lanes, key=LANE_ORDER.index) if lanes else Lane.GREEN


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def random_draw(
    ids: Sequence[str] | npt.NDArray[np.str_] | npt.NDArray[np.object_], salt: str
) -> npt.NDArray[np.float64]:
    """A uniform number in [0, 1) per id, the same on every run: FNV-1a over ``salt + ':' + id``, then mixed.

    Vectorised over the ids (a few milliseconds for 100,000), so that random selection costs nothing
    in batch scoring and re-scoring a declaration always gives the same lane.
    """
    if not len(ids):
        return np.zeros(0, dtype=np.float64)
    prefix = (salt + ":").encode()
    try:  # ASCII ids (the usual case): numpy does the bytes
        raw = np.char.add(prefix, np.asarray(ids, dtype=object).astype(np.bytes_))
    except UnicodeEncodeError:
        raw = np.asarray([prefix + str(i).encode() for i in ids], dtype=np.bytes_)
    width = raw.dtype.itemsize
    matrix = raw.view(np.uint8).reshape(len(raw), width)
    lengths = np.char.str_len(raw)
    h = np.full(len(raw), _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in range(width):
            active = lengths > col
            mixed = (h ^ matrix[:, col].astype(np.uint64)) * _FNV_PRIME
            h = np.where(active, mixed, h)
        # splitmix64 finaliser: spreads FNV's low-entropy high bits
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)

"""How simulated time maps to real time, and where the simulated clock starts.

Fix timestamps are ``start_utc + simulated seconds``, so they stay consistent with the truck's
motion.  With a speed-up they would soon run ahead of the wall clock, and the edge flags fixes more
than 300 s in the future as ``future_time`` (which the zone rules then ignore).  The default
therefore *catches up*: the simulated clock starts ``(speedup - 1) * catch_up_s`` in the past, runs
``speedup`` times faster than real time for ``catch_up_s`` real seconds, by which point it has reached
the wall clock, and from then on runs in real time.  Fix times never lie ahead of the wall clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Pace:
    """``speedup`` x real time until ``catch_up_sim_s`` simulated seconds, then 1x.

    ``speedup == 0`` means no pacing at all (as fast as possible); ``catch_up_sim_s=None`` keeps the
    speed-up for ever.
    """

    speedup: float
    catch_up_sim_s: float | None = None

    def __post_init__(self) -> None:
        if not (self.speedup >= 0 and math.isfinite(self.speedup)):
            raise ValueError(f"speedup must be finite and >= 0, got {self.speedup!r}")
        if self.catch_up_sim_s is not None and self.catch_up_sim_s < 0:
            raise ValueError("catch_up_sim_s must be >= 0")

    @property
    def paced(self) -> bool:
        return self.speedup > 0

    def real_offset_s(self, sim_s: float) -> float:
        """Real seconds after the start at which simulated second ``sim_s`` is due."""
        if self.speedup == 0:
            return 0.0
        if self.catch_up_sim_s is None or sim_s <= self.catch_up_sim_s:
            return sim_s / self.speedup
        return self.catch_up_sim_s / self.speedup + (sim_s - self.catch_up_sim_s)


def catch_up_start(now_utc: datetime, speedup: float, catch_up_s: float) -> tuple[datetime, Pace]:
    """Start time and pace such that the simulated clock reaches ``now_utc + catch_up_s`` after
    ``catch_up_s`` real seconds and then keeps to the wall clock."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    if speedup <= 1.0 or catch_up_s <= 0.0:
        # Nothing to catch up (real time, no pacing) or catching up disabled: start now.
        return now_utc.replace(microsecond=0), Pace(speedup, None)
    backdate_s = (speedup - 1.0) * catch_up_s
    start = (now_utc - timedelta(seconds=backdate_s)).replace(microsecond=0)
    return start, Pace(speedup, speedup * catch_up_s)

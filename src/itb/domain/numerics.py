"""The floating-point slack every exact computation here shares, and instants to the second.

Kept apart (and free of numpy) so that the simulator and the forecast use the same numbers.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

#: Relative slack on a cumulative dose target (floating-point rounding is ~1e-16).
RELATIVE_TOLERANCE = 1e-12
#: A target further away than this many days is "never" (far beyond any calendar).
NEVER_DAYS = 1e9
#: Added before truncating to the second, so that an exact whole second computed as
#: x.9999999 in floating point is not reported a second early. Far below the forecast
#: contract's one-second tolerance.
TRUNCATION_EPSILON_S = 1e-3
#: Volumes closer than this (mL) to a level count as at the level (floating-point slack).
VOLUME_SLACK_ML = 1e-9


def at_second(day0: datetime, t: float) -> datetime | None:
    """``day0 + t`` seconds, truncated to the second; None past the calendar (year 9999)."""
    try:
        return day0 + timedelta(seconds=math.floor(t + TRUNCATION_EPSILON_S))
    except (OverflowError, ValueError):
        return None

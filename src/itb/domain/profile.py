"""The dose rate of a program as a periodic piecewise-constant function of time.

Time ``t`` is in seconds from midnight of a reference day ("day 0"); the profile repeats
every 86,400 s. Its integral, the cumulative dose, is piecewise linear, so every question
of the form "when will X mcg have been delivered?" is answered by arithmetic: whole days by
division, the last partial day by a binary search over the day's segments. No clock is
stepped, so a 10-year horizon costs the same as a 1-hour one.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from itb.domain.numerics import NEVER_DAYS, RELATIVE_TOLERANCE
from itb.domain.program import SECONDS_PER_DAY, DailyBolus, DosingProgram, Step


class DailyProfile:
    """One day of rate segments ``[starts_s[i], starts_s[i+1])`` at ``rates_mcg_per_day[i]``."""

    __slots__ = ("cum_end_mcg", "cum_start_mcg", "daily_mcg", "rates_mcg_per_day", "starts_s")

    def __init__(self, starts_s: list[float], rates_mcg_per_day: list[float]) -> None:
        if not starts_s or starts_s[0] != 0:
            raise ValueError("a daily profile starts at second 0")
        self.starts_s = starts_s
        self.rates_mcg_per_day = rates_mcg_per_day
        # Sums kept in mcg/day x seconds and divided once each, for fewer rounding steps.
        sums = [0.0]
        total = 0.0
        start: float = 0
        for end, rate in zip(starts_s[1:], rates_mcg_per_day):
            total += rate * (end - start)
            sums.append(total)
            start = end
        total += rates_mcg_per_day[-1] * (SECONDS_PER_DAY - start)
        sums.append(total)
        cum = [x / SECONDS_PER_DAY for x in sums]
        self.cum_start_mcg = cum[:-1]
        self.cum_end_mcg = cum[1:]
        self.daily_mcg = cum[-1]

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_program(cls, program: DosingProgram) -> DailyProfile:
        """The steps plus the daily boluses (one-time boluses are not periodic)."""
        return cls.from_parts(program.steps, program.daily_boluses)

    @classmethod
    def from_parts(cls, steps: Iterable[Step], boluses: Iterable[DailyBolus]) -> DailyProfile:
        starts: list[float] = [s.start_minute * 60 for s in steps]
        rates: list[float] = [s.rate_mcg_per_day for s in steps]
        for b in boluses:
            # A daily bolus covers one interval of the day, or two if it runs across midnight.
            a = b.start_minute * 60
            e = a + b.duration_minutes * 60
            r = b.rate_mcg_per_day
            if e <= SECONDS_PER_DAY:
                _add_rate(starts, rates, a, e, r)
            else:
                _add_rate(starts, rates, a, SECONDS_PER_DAY, r)
                _add_rate(starts, rates, 0, e - SECONDS_PER_DAY, r)
        return cls(starts, rates)

    def with_extra_rate(self, extra_mcg_per_day: float) -> DailyProfile:
        """The same profile with a constant rate added everywhere (e.g. a one-time bolus)."""
        return DailyProfile(self.starts_s, [r + extra_mcg_per_day for r in self.rates_mcg_per_day])

    def scaled(self, factor: float, extra: float = 0.0) -> DailyProfile:
        """``factor * rate + extra`` everywhere: e.g. a battery's drain per mcg plus its idle drain."""
        return DailyProfile(self.starts_s, [factor * r + extra for r in self.rates_mcg_per_day])

    # -- questions ---------------------------------------------------------------------
    def rate_at(self, t: float) -> float:
        x = t % SECONDS_PER_DAY
        return self.rates_mcg_per_day[bisect_right(self.starts_s, x) - 1]

    def delivered_by(self, t: float) -> float:
        """Cumulative dose (mcg) from midnight of day 0 to ``t`` seconds."""
        k = math.floor(t / SECONDS_PER_DAY)
        x = t - k * SECONDS_PER_DAY
        i = bisect_right(self.starts_s, x) - 1
        return (
            k * self.daily_mcg
            + self.cum_start_mcg[i]
            + self.rates_mcg_per_day[i] * (x - self.starts_s[i]) / SECONDS_PER_DAY
        )

    def first_time_reaching(self, y: float) -> float | None:
        """Smallest ``t`` with ``delivered_by(t) >= y``; None if never (nothing is delivered)."""
        if y <= 0:
            return 0.0
        d = self.daily_mcg
        if d <= 0:
            return None
        # A hair below y, so that a target computed as 8050.000000000001 for an exact 8050 is
        # met at the end of the segment that delivers it, not after the pause that follows.
        y -= y * RELATIVE_TOLERANCE
        days = y / d
        if not days < NEVER_DAYS:
            return None
        k = math.ceil(days) - 1
        rem = y - k * d
        if rem <= 0:  # float guard: y a hair above a whole number of days
            k -= 1
            rem += d
        cum_end = self.cum_end_mcg
        i = bisect_left(cum_end, rem)
        if i >= len(cum_end):  # float guard: rem a hair above the daily total
            i = len(cum_end) - 1
            while self.rates_mcg_per_day[i] <= 0:
                i -= 1
            rem = cum_end[i]
        return (
            k * SECONDS_PER_DAY
            + self.starts_s[i]
            + (rem - self.cum_start_mcg[i]) * SECONDS_PER_DAY / self.rates_mcg_per_day[i]
        )

    def time_to_deliver(self, t0: float, amount_mcg: float) -> float | None:
        """Smallest ``t >= t0`` by which ``amount_mcg`` more has been delivered; None if never."""
        if amount_mcg <= 0:
            return t0
        if self.daily_mcg <= 0:
            return None
        t = self.first_time_reaching(self.delivered_by(t0) + amount_mcg)
        if t is None:
            return None
        return t if t > t0 else t0


def _cut(starts: list[float], rates: list[float], x: float) -> int:
    """Index of the segment starting at ``x``, splitting the one that contains it if needed."""
    if x >= SECONDS_PER_DAY:
        return len(starts)
    i = bisect_right(starts, x) - 1
    if starts[i] == x:
        return i
    starts.insert(i + 1, x)
    rates.insert(i + 1, rates[i])
    return i + 1


def _add_rate(starts: list[float], rates: list[float], a: float, e: float, r: float) -> None:
    """Add ``r`` on ``[a, e)``. Only additions: a segment without a bolus keeps its exact step rate."""
    i = _cut(starts, rates, a)
    j = _cut(starts, rates, e)
    for k in range(i, j):
        rates[k] += r

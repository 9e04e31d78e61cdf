"""The exact reservoir forecast for many cases at once, as array arithmetic (numpy).

This is the one implementation of the forecast: :func:`itb.domain.forecast.forecast_reservoir`
answers a single case through it, and ``itb forecast --batch`` answers thousands per call.

Each case's program is a periodic piecewise-constant dose rate; its integral (the cumulative
dose) is piecewise linear, so "when will X mcg have been delivered?" is answered by arithmetic:
whole days by division, the last partial day by a search over that day's segments. The same
formulas as :class:`itb.domain.profile.DailyProfile` (which the simulator uses step by step),
applied to a row per case.

Layout: one row per case. Per-item columns (steps, daily boluses, one-time boluses) are 2-D,
padded to the longest row with inert values: padding adds only zero-length segments at the end
of the day and zero rates, so a case's answer does not depend on the other cases in its batch.
Time is in seconds after midnight of the day of the case's ``at`` ("day 0").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from itb.domain.numerics import NEVER_DAYS, RELATIVE_TOLERANCE, TRUNCATION_EPSILON_S, VOLUME_SLACK_ML
from itb.domain.program import MINUTES_PER_DAY, SECONDS_PER_DAY

DAY = float(SECONDS_PER_DAY)
#: The last second a calendar date can name (9999-12-31T23:59:59), in seconds since 1970.
LAST_CALENDAR_SECOND = 253402300799


@dataclass(frozen=True)
class CaseArrays:
    """Valid cases as columns (validation happens before; nothing here checks input).

    ``*_count`` give how many entries of each padded row are real. Times of day are in
    seconds; one-time bolus starts are seconds after day 0's midnight.
    """

    day0_epoch_s: np.ndarray  # int64 [n]: midnight of the day of ``at``, seconds since 1970
    t0_s: np.ndarray  # float [n]: ``at`` as seconds after that midnight
    reservoir_ml: np.ndarray
    concentration_mcg_per_ml: np.ndarray
    low_reservoir_alarm_ml: np.ndarray
    empty_ml: np.ndarray
    step_start_min: np.ndarray  # [n, S]
    step_rate_mcg_per_day: np.ndarray  # [n, S]
    step_count: np.ndarray  # [n]
    bolus_start_min: np.ndarray  # [n, B]
    bolus_dose_mcg: np.ndarray  # [n, B]
    bolus_duration_min: np.ndarray  # [n, B]
    bolus_count: np.ndarray  # [n]
    one_time_start_s: np.ndarray  # [n, W]
    one_time_dose_mcg: np.ndarray  # [n, W]
    one_time_duration_min: np.ndarray  # [n, W]
    one_time_count: np.ndarray  # [n]

    def __len__(self) -> int:
        return len(self.t0_s)

    def take(self, rows: np.ndarray) -> CaseArrays:
        """The cases at ``rows`` only."""
        return CaseArrays(*(getattr(self, f).take(rows, axis=0) for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class ForecastArrays:
    """Answers as columns. Crossing times are seconds after day 0's midnight, truncated to the
    second; NaN where the level is never reached or the instant is past the calendar."""

    daily_dose_mcg: np.ndarray
    daily_volume_ml: np.ndarray
    low_reservoir_alarm_s: np.ndarray
    empty_s: np.ndarray
    low_reservoir_alarm_already: np.ndarray  # bool: at or below the level at ``at``
    empty_already: np.ndarray

    def epoch_seconds(self, cases: CaseArrays, which: str) -> np.ndarray:
        """``which`` ("low_reservoir_alarm" or "empty") as float seconds since 1970 (NaN: none)."""
        return cases.day0_epoch_s + getattr(self, f"{which}_s")

    def iso(self, cases: CaseArrays, which: str) -> list[str | None]:
        """``which`` as ``YYYY-MM-DDTHH:MM:SS`` text, or None."""
        secs = self.epoch_seconds(cases, which)
        ok = np.isfinite(secs)
        text = np.datetime_as_string(np.where(ok, secs, 0).astype(np.int64).astype("datetime64[s]"), unit="s")
        return [s if good else None for s, good in zip(text.tolist(), ok.tolist())]

    def iso_json(self, cases: CaseArrays, *which: str) -> list[bytes]:
        """:meth:`iso` as JSON text, each value as ``orjson.dumps`` writes it (``"..."`` or
        ``null``), the digits written from the civil date (H. Hinnant's civil_from_days): five
        times quicker than numpy's own text of a date. Several of ``which``: one list, the
        values of each in turn (written together: a fixed cost per array call, not per value)."""
        secs = np.concatenate([self.epoch_seconds(cases, name) for name in which])
        ok = np.isfinite(secs)
        whole = np.where(ok, secs, 0).astype(np.int64)
        days, second = np.divmod(whole, 86400)
        z = days + 719468
        era = z // 146097
        doe = z - era * 146097
        yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        day = doy - (153 * mp + 2) // 5 + 1
        month = np.where(mp < 10, mp + 3, mp - 9)
        year = yoe + era * 400 + (month <= 2)
        text = np.empty((len(secs), 21), dtype=np.uint8)
        text[:] = _ISO_TEMPLATE
        hour, second = np.divmod(second, 3600)
        minute, second = np.divmod(second, 60)
        for at, value, places in (
            (1, year, 4),
            (6, month, 2),
            (9, day, 2),
            (12, hour, 2),
            (15, minute, 2),
            (18, second, 2),
        ):
            for k in range(places - 1, -1, -1):
                value, digit = np.divmod(value, 10)
                text[:, at + k] = digit + 48
        out: list[bytes] = text.view("S21").ravel().tolist()
        if not ok.all():
            for row in np.flatnonzero(~ok).tolist():
                out[row] = b"null"
        return out


_ISO_TEMPLATE = np.frombuffer(b'"0000-00-00T00:00:00"', dtype=np.uint8)


def padded(
    values: list | np.ndarray, counts: list[int] | np.ndarray, fill: float, dtype: type = np.float64
) -> np.ndarray:
    """Rows of a flat list of values (``counts[i]`` for row ``i``), padded with ``fill``."""
    counts = np.asarray(counts, dtype=np.int64)
    n = len(counts)
    width = int(counts.max()) if n else 0
    out: np.ndarray = np.full((n, max(width, 1)), fill, dtype=dtype)
    if len(values):
        rows = np.repeat(np.arange(n), counts)
        starts = np.cumsum(counts) - counts
        cols = np.arange(len(values)) - np.repeat(starts, counts)
        out[rows, cols] = values
    return out


def padded_rows(columns: list[tuple[list | np.ndarray, float]], counts: np.ndarray) -> list[np.ndarray]:
    """:func:`padded` for each ``(values, fill)`` of ``columns``, flat columns of the same items
    (``counts[i]`` of them for row ``i``): where each item goes is worked out once for all."""
    counts = np.asarray(counts, dtype=np.int64)
    n = len(counts)
    width = max(int(counts.max()) if n else 0, 1)
    total = int(counts.sum())
    # Item k of row i (the rows' items one after another) goes to i * width + (k - first of row i).
    place = np.arange(total) + np.repeat(np.arange(n) * width - (np.cumsum(counts) - counts), counts)
    out = []
    for values, fill in columns:
        rows: np.ndarray = np.full((n, width), fill, dtype=np.float64)
        if total:
            rows.reshape(-1)[place] = values
        out.append(rows)
    return out


def _row_counts(cond: np.ndarray) -> np.ndarray:
    """How many entries of each row (the last axis) of ``cond`` are true (``np.count_nonzero(cond,
    axis=-1)``): rows narrower than 128 are summed as bytes, twice as fast as counting into ``intp``."""
    if cond.shape[-1] < 128:
        return np.add.reduce(cond.view(np.int8), axis=-1, dtype=np.int8).astype(np.intp)
    return np.count_nonzero(cond, axis=-1)


# -- the periodic profile, a row per case --------------------------------------------------


@dataclass(frozen=True)
class Profiles:
    """Segments ``[starts_s[:, j], starts_s[:, j+1])`` of one day at ``rates[:, j]`` (mcg/day)."""

    starts_s: np.ndarray
    rates: np.ndarray
    lengths_s: np.ndarray
    cum_start_mcg: np.ndarray
    cum_end_mcg: np.ndarray
    daily_mcg: np.ndarray

    @classmethod
    def build(cls, starts_s: np.ndarray, rates: np.ndarray) -> Profiles:
        ends = np.empty_like(starts_s)
        ends[:, :-1] = starts_s[:, 1:]
        ends[:, -1] = DAY
        lengths = ends - starts_s
        # Sums in mcg/day x seconds, divided once each (as DailyProfile does).
        sums = np.cumsum(rates * lengths, axis=1)
        cum_end = sums / DAY
        cum_start = np.empty_like(cum_end)
        cum_start[:, 0] = 0.0
        cum_start[:, 1:] = cum_end[:, :-1]
        return cls(starts_s, rates, lengths, cum_start, cum_end, cum_end[:, -1].copy())

    def take(self, rows: np.ndarray) -> Profiles:
        return Profiles(*(getattr(self, f).take(rows, axis=0) for f in self.__dataclass_fields__))

    def with_extra_rate(self, rows: np.ndarray, extra: np.ndarray) -> Profiles:
        """The profiles at ``rows``, each with a constant ``extra`` rate added."""
        return Profiles.build(self.starts_s.take(rows, axis=0), self.rates.take(rows, axis=0) + extra[:, None])

    def delivered_by(self, t: np.ndarray) -> np.ndarray:
        """Cumulative dose (mcg) from midnight of day 0 to ``t`` (one time per row)."""
        k = np.floor(t / DAY)
        x = t - k * DAY
        i = _row_counts(self.starts_s <= x[:, None]) - 1  # starts_s[:, 0] is 0 <= x
        at = np.arange(len(t)) * self.starts_s.shape[1] + i  # row r's entry i, in the flat arrays
        cum_start, rate, start = self.cum_start_mcg.take(at), self.rates.take(at), self.starts_s.take(at)
        return k * self.daily_mcg + cum_start + rate * (x - start) / DAY

    def first_time_reaching(self, y: np.ndarray) -> np.ndarray:
        """Smallest ``t`` with ``delivered_by(t) >= y``; NaN if never. ``y`` > 0 (not checked),
        one per row, or several (``y[j]``: a row of amounts, one per profile)."""
        d = self.daily_mcg
        y = y - y * RELATIVE_TOLERANCE  # see DailyProfile.first_time_reaching
        with np.errstate(all="ignore"):
            days = y / d
        never = ~(days < NEVER_DAYS) | ~(d > 0)
        days = np.where(never, 1.0, days)
        k = np.ceil(days) - 1
        rem = y - k * d
        low = rem <= 0  # float guard: y a hair above a whole number of days
        k = np.where(low, k - 1, k)
        rem = np.where(low, rem + d, rem)
        rows = np.arange(len(d))
        width = self.cum_end_mcg.shape[1]
        i = _row_counts(self.cum_end_mcg < rem[..., None])
        over = i >= width  # float guard: rem a hair above the daily total
        if over.any():
            delivering = (self.rates > 0) & (self.lengths_s > 0)
            last = width - 1 - np.argmax(delivering[:, ::-1], axis=1)
            i = np.where(over, last, i)
            rem = np.where(over, self.cum_end_mcg[rows, np.minimum(i, width - 1)], rem)
        at = rows * width + np.minimum(i, width - 1)  # row r's entry i, in the flat arrays
        rate = self.rates.take(at)
        with np.errstate(all="ignore"):
            t = k * DAY + self.starts_s.take(at) + (rem - self.cum_start_mcg.take(at)) * DAY / rate
        return np.where(never, np.nan, t)

    def time_to_deliver(self, t0: np.ndarray, amount: np.ndarray, by_t0: np.ndarray | None = None) -> np.ndarray:
        """Smallest ``t >= t0`` by which ``amount`` (> 0) more has been delivered; NaN if never.
        ``by_t0``: ``delivered_by(t0)``, where the caller has it already."""
        t = self.first_time_reaching((self.delivered_by(t0) if by_t0 is None else by_t0) + amount)
        return np.where(t > t0, t, np.where(np.isnan(t), np.nan, t0))


def daily_profiles(cases: CaseArrays) -> Profiles:
    """Steps plus daily boluses, one row per case (one-time boluses are not periodic)."""
    n = len(cases)
    steps = cases.step_start_min * 60.0
    n_steps = steps.shape[1]
    real_step = np.arange(n_steps)[None, :] < cases.step_count[:, None]
    steps = np.where(real_step, steps, DAY)
    step_rates = np.where(real_step, cases.step_rate_mcg_per_day, 0.0)

    real_bolus = np.arange(cases.bolus_start_min.shape[1])[None, :] < cases.bolus_count[:, None]
    a = np.where(real_bolus, cases.bolus_start_min * 60.0, DAY)
    e = np.where(real_bolus, a + cases.bolus_duration_min * 60, DAY)
    with np.errstate(all="ignore"):
        r = np.where(real_bolus, cases.bolus_dose_mcg * MINUTES_PER_DAY / cases.bolus_duration_min, 0.0)
    wraps = e > DAY
    # Cut points: each bolus's start, its end within the day, and where a wrapped one ends.
    end_cut = np.where(e < DAY, e, np.where(wraps, e - DAY, DAY))
    points = np.concatenate([steps, a, end_cut], axis=1)
    order = np.argsort(points, axis=1, kind="stable")  # a step sorts before a cut at its start
    starts = np.take_along_axis(points, order, axis=1)
    # The step in force at each point: the steps keep their order in the sort (their starts are
    # strictly increasing, the first at 0, and the sort is stable), so it is the one counted last.
    step_index = np.cumsum(order < n_steps, axis=1, dtype=np.int32) - 1
    rates = step_rates.take(np.arange(n)[:, None] * n_steps + step_index)  # each row's own steps
    # Bolus rates added one bolus at a time, in program order (as DailyProfile adds them). A
    # point is inside [a, e) when it is past a but not past e; inside a bolus that wraps past
    # midnight (its end e - DAY at or before a) when it is past both or neither: so "past a"
    # differs from "past the end within the day" exactly when inside, or the bolus wraps.
    end_in_day = np.where(wraps, e - DAY, e)
    for j in range(a.shape[1]):
        inside = (starts >= a[:, j : j + 1]) ^ (starts >= end_in_day[:, j : j + 1]) ^ wraps[:, j : j + 1]
        rates = rates + np.where(inside, r[:, j : j + 1], 0.0)
    return Profiles.build(starts, rates)


def daily_dose(cases: CaseArrays) -> np.ndarray:
    """One day of steps plus the daily boluses (as :func:`itb.domain.program.daily_dose_mcg`)."""
    starts = cases.step_start_min
    count = cases.step_count
    cols = np.arange(starts.shape[1])[None, :]
    ends = np.empty_like(starts)
    ends[:, :-1] = starts[:, 1:]
    ends[:, -1] = MINUTES_PER_DAY
    ends = np.where(cols == count[:, None] - 1, MINUTES_PER_DAY, ends)
    parts = np.where(cols < count[:, None], cases.step_rate_mcg_per_day * (ends - starts), 0.0)
    total = np.cumsum(parts[:, ::-1], axis=1)[:, -1]  # summed from the last step, as there
    real_bolus = np.arange(cases.bolus_dose_mcg.shape[1])[None, :] < cases.bolus_count[:, None]
    boluses = np.cumsum(np.where(real_bolus, cases.bolus_dose_mcg, 0.0), axis=1)[:, -1]
    return total / MINUTES_PER_DAY + boluses


# -- the forecast --------------------------------------------------------------------------


def time_to_deliver(
    profiles: Profiles,
    t0: np.ndarray,
    amounts: list[np.ndarray],
    cases: CaseArrays,
    by_t0: np.ndarray | None = None,
) -> list[np.ndarray]:
    """For each of ``amounts`` (> 0): the smallest ``t >= t0`` by which it has been delivered
    by each periodic profile plus its one-time boluses; NaN if never. Parts of boluses before
    ``t0`` are ignored. ``by_t0``: ``profiles.delivered_by(t0)``, where the caller has it.

    Every row is answered as if it had no window (rows are independent: cheaper than taking
    the rows without one apart); the rows with windows are then answered again, those of every
    amount at once (stacked: the same arithmetic per row, a fraction of the array calls)."""
    outs = list(profiles.time_to_deliver(t0, np.stack(amounts), by_t0))  # every amount in one call
    rows = np.flatnonzero(cases.one_time_count > 0)
    if not len(rows):
        return outs
    stacked = np.tile(rows, len(amounts))
    left = np.concatenate([amount[rows] for amount in amounts])
    result = _through_windows(profiles.take(stacked), t0[stacked], left, cases, stacked)
    for out, part in zip(outs, np.split(result, len(amounts))):
        out[rows] = part
    return outs


def _through_windows(
    base: Profiles, t0: np.ndarray, amount: np.ndarray, cases: CaseArrays, rows: np.ndarray
) -> np.ndarray:
    """:func:`time_to_deliver` of the cases at ``rows`` (whose profiles are ``base``), one-time
    boluses included: window by window, each with its extra rate added to the profile."""
    t = t0.copy()
    left = amount.copy()
    real = np.arange(cases.one_time_start_s.shape[1])[None, :] < cases.one_time_count[rows, None]
    wa = np.where(real, cases.one_time_start_s[rows], np.inf)
    with np.errstate(all="ignore"):
        we = np.where(real, wa + cases.one_time_duration_min[rows] * 60, np.inf)
        wr = np.where(real, cases.one_time_dose_mcg[rows] * MINUTES_PER_DAY / cases.one_time_duration_min[rows], 0.0)
    # The instants after t0 where the extra rate changes, sorted, each once.
    bounds = np.sort(np.concatenate([wa, we], axis=1), axis=1)
    bounds = np.where(bounds > t[:, None], bounds, np.inf)
    bounds = np.sort(bounds, axis=1)
    repeated = np.zeros_like(bounds, dtype=bool)
    repeated[:, 1:] = bounds[:, 1:] == bounds[:, :-1]
    bounds = np.sort(np.where(repeated, np.inf, bounds), axis=1)
    result = np.full(len(rows), np.nan)
    done = np.zeros(len(rows), dtype=bool)
    for b in range(bounds.shape[1]):
        active = ~done & np.isfinite(bounds[:, b])
        if not active.any():
            break
        idx = np.flatnonzero(active)
        tt = t[idx]
        extra = np.zeros(len(idx))
        for w in range(wa.shape[1]):
            extra = extra + np.where((wa[idx, w] <= tt) & (tt < we[idx, w]), wr[idx, w], 0.0)
        piece = base.with_extra_rate(idx, extra)
        bound = bounds[idx, b]
        got = piece.delivered_by(bound) - piece.delivered_by(tt)
        hit = got >= left[idx]
        if hit.any():
            h = np.flatnonzero(hit)
            result[idx[h]] = piece.take(h).time_to_deliver(tt[h], left[idx[h]])
            done[idx[h]] = True
        miss = idx[~hit]
        left[miss] -= got[~hit]
        t[miss] = bound[~hit]
    rest = np.flatnonzero(~done)
    if len(rest):
        result[rest] = base.take(rest).time_to_deliver(t[rest], left[rest])
    return result


def forecast_arrays(cases: CaseArrays) -> ForecastArrays:
    """The forecast of ``shared/spec/forecast.md`` for valid cases."""
    profiles = daily_profiles(cases)
    dose = daily_dose(cases)
    t0 = cases.t0_s
    conc = cases.concentration_mcg_per_ml
    levels = (cases.low_reservoir_alarm_ml, cases.empty_ml)
    already = [cases.reservoir_ml <= level_ml + VOLUME_SLACK_ML for level_ml in levels]
    # Rows already at a level are answered too, for an amount of 1 mcg, and their answer
    # replaced by ``at``: rows are independent, and this is cheaper than taking them apart.
    amounts = [np.where(at, 1.0, (cases.reservoir_ml - level_ml) * conc) for at, level_ml in zip(already, levels)]
    by_t0 = profiles.delivered_by(t0)  # the same for both levels
    crossings = []
    for at, t in zip(already, time_to_deliver(profiles, t0, amounts, cases, by_t0)):
        with np.errstate(all="ignore"):
            t = np.floor(np.where(at, t0, t) + TRUNCATION_EPSILON_S)
            past = ~(cases.day0_epoch_s + t <= LAST_CALENDAR_SECOND)
        crossings.append(np.where(past, np.nan, t))
    alarm, empty = crossings
    return ForecastArrays(dose, dose / conc, alarm, empty, already[0], already[1])

"""Exact reservoir forecast: when does the reservoir reach the low-reservoir alarm, and empty?

The contract is ``shared/spec/forecast.md``. The volume is piecewise linear in time, so each
crossing is solved by arithmetic on the program's :class:`DailyProfile`; one-time boluses add
a constant rate over their window. Results are truncated to the second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from itb.domain.errors import Violation, bound_violation
from itb.domain.profile import DailyProfile
from itb.domain.program import SECONDS_PER_DAY, DosingProgram

#: Added before truncating to the second, so that an exact whole second computed as
#: x.9999999 in floating point is not reported a second early. Far below the contract's
#: one-second tolerance.
TRUNCATION_EPSILON_S = 1e-3
#: Volumes closer than this (mL) to a level count as at the level (floating-point slack).
VOLUME_SLACK_ML = 1e-9


@dataclass(frozen=True, slots=True)
class ReservoirState:
    """What is known of a reservoir at an instant (pump clock, local time)."""

    at: datetime
    reservoir_capacity_ml: float
    reservoir_ml: float
    concentration_mcg_per_ml: float
    low_reservoir_alarm_ml: float
    empty_ml: float = 0.0


@dataclass(frozen=True, slots=True)
class Forecast:
    daily_dose_mcg: float
    daily_volume_ml: float
    low_reservoir_alarm_at: datetime | None
    empty_at: datetime | None


def check_reservoir(state: ReservoirState) -> list[Violation]:
    """Every rule the reservoir state breaks (the program is checked by ``check_program``).

    Fields that are ``None`` are reported as required.
    """
    cap = state.reservoir_capacity_ml
    found = [
        bound_violation("reservoir_capacity_ml", cap, minimum=0, strict=True, required=True),
        bound_violation(
            "concentration_mcg_per_ml", state.concentration_mcg_per_ml, minimum=0, strict=True, required=True
        ),
    ]
    cap_ok = found[0] is None
    for name in ("reservoir_ml", "low_reservoir_alarm_ml", "empty_ml"):
        value = getattr(state, name)
        bad = bound_violation(name, value, minimum=0, required=True)
        if bad is None and cap_ok and value is not None and value > cap:
            bad = Violation(name, f"must not exceed reservoir_capacity_ml ({cap:g} mL), got {value:g}")
        found.append(bad)
    return [v for v in found if v]


def one_time_windows(program: DosingProgram, day0: datetime) -> list[tuple[float, float, float]]:
    """One-time boluses as ``(start_s, end_s, rate_mcg_per_day)`` in seconds from ``day0``."""
    return [
        (
            (o.at - day0).total_seconds(),
            (o.at - day0).total_seconds() + o.duration_minutes * 60,
            o.rate_mcg_per_day,
        )
        for o in program.one_time_boluses
    ]


def time_to_deliver(
    profile: DailyProfile, t0: float, amount_mcg: float, windows: list[tuple[float, float, float]]
) -> float | None:
    """Smallest ``t >= t0`` by which ``amount_mcg`` has been delivered by the periodic profile
    plus the one-time bolus ``windows``; parts of windows before ``t0`` are ignored."""
    if amount_mcg <= 0:
        return t0
    if not windows:
        return profile.time_to_deliver(t0, amount_mcg)
    bounds = sorted({x for a, e, _ in windows for x in (a, e) if x > t0})
    t = t0
    for bound in bounds:
        extra = sum(r for a, e, r in windows if a <= t < e)
        piece = profile.with_extra_rate(extra) if extra else profile
        got = piece.delivered_by(bound) - piece.delivered_by(t)
        if got >= amount_mcg:
            return piece.time_to_deliver(t, amount_mcg)
        amount_mcg -= got
        t = bound
    return profile.time_to_deliver(t, amount_mcg)


def at_second(day0: datetime, t: float) -> datetime | None:
    """``day0 + t`` seconds, truncated to the second; None past the calendar (year 9999)."""
    try:
        return day0 + timedelta(seconds=math.floor(t + TRUNCATION_EPSILON_S))
    except (OverflowError, ValueError):
        return None


def forecast_reservoir(state: ReservoirState, program: DosingProgram, profile: DailyProfile | None = None) -> Forecast:
    """The forecast of ``shared/spec/forecast.md`` for a valid state and program.

    ``profile`` may be passed when the caller already built it from ``program``.
    """
    if profile is None:
        profile = DailyProfile.from_program(program)
    at = state.at
    day0 = datetime(at.year, at.month, at.day)
    t0 = float(at.hour * 3600 + at.minute * 60 + at.second)
    windows = one_time_windows(program, day0) if program.one_time_boluses else []
    conc = state.concentration_mcg_per_ml

    def crossing(level_ml: float) -> datetime | None:
        if state.reservoir_ml <= level_ml + VOLUME_SLACK_ML:
            return at
        t = time_to_deliver(profile, t0, (state.reservoir_ml - level_ml) * conc, windows)
        return None if t is None else at_second(day0, t)

    daily = program.daily_dose_mcg
    return Forecast(
        daily_dose_mcg=daily,
        daily_volume_ml=daily / conc,
        low_reservoir_alarm_at=crossing(state.low_reservoir_alarm_ml),
        empty_at=crossing(state.empty_ml),
    )


__all__ = [
    "SECONDS_PER_DAY",
    "Forecast",
    "ReservoirState",
    "at_second",
    "check_reservoir",
    "forecast_reservoir",
    "one_time_windows",
    "time_to_deliver",
]

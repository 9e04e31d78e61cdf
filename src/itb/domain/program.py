"""Dosing programs: what the pump is told to deliver.

A program is a basal schedule of one day (``steps``), repeated every day, plus daily boluses
repeated at the same clock time, plus one-time boluses at given instants. All doses are in
mcg of baclofen; volumes follow from the reservoir's concentration.

- *simple continuous*: one step (one rate all day);
- *flexible*: several steps a day;
- *daily boluses* (periodic boluses): delivered on top of the step rate, at a constant rate
  ``dose_mcg / duration_minutes``, may run across midnight;
- *one-time boluses*: single, bridge (pushes old-concentration drug out of the pump tubing
  and catheter after a concentration change) and priming (fills a new catheter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from itb.domain.errors import MAX_PHYSICAL, Violation, bound_violation

MINUTES_PER_DAY = 1440
SECONDS_PER_DAY = 86400

#: Bolus duration bounds in minutes (forecast contract: "duration 1-1440").
MIN_BOLUS_DURATION_MINUTES = 1
MAX_BOLUS_DURATION_MINUTES = 1440


class BolusKind(StrEnum):
    SINGLE = "single"
    BRIDGE = "bridge"
    PRIMING = "priming"


class Step(NamedTuple):
    """From ``start_minute`` (minutes after midnight) until the next step, at this rate."""

    start_minute: int
    rate_mcg_per_day: float


class DailyBolus(NamedTuple):
    """A bolus repeated every day at ``start_minute``, on top of the step rate."""

    start_minute: int
    dose_mcg: float
    duration_minutes: float

    @property
    def rate_mcg_per_day(self) -> float:
        return self.dose_mcg * MINUTES_PER_DAY / self.duration_minutes


class OneTimeBolus(NamedTuple):
    """A bolus delivered once from ``at`` (pump clock, local time), on top of the step rate."""

    at: datetime
    dose_mcg: float
    duration_minutes: float
    kind: BolusKind = BolusKind.SINGLE

    @property
    def rate_mcg_per_day(self) -> float:
        return self.dose_mcg * MINUTES_PER_DAY / self.duration_minutes


@dataclass(frozen=True, slots=True)
class DosingProgram:
    steps: tuple[Step, ...]
    daily_boluses: tuple[DailyBolus, ...] = ()
    one_time_boluses: tuple[OneTimeBolus, ...] = field(default=())

    @classmethod
    def simple_continuous(cls, rate_mcg_per_day: float) -> DosingProgram:
        return cls(steps=(Step(0, rate_mcg_per_day),))

    @property
    def is_simple_continuous(self) -> bool:
        return len(self.steps) == 1

    @property
    def daily_dose_mcg(self) -> float:
        """One day of steps plus the daily boluses (one-time boluses excluded)."""
        return daily_dose_mcg(self.steps, self.daily_boluses)

    def daily_volume_ml(self, concentration_mcg_per_ml: float) -> float:
        return self.daily_dose_mcg / concentration_mcg_per_ml

    def without_one_time_boluses(self) -> DosingProgram:
        return DosingProgram(self.steps, self.daily_boluses)


def daily_dose_mcg(steps: tuple[Step, ...], boluses: tuple[DailyBolus, ...] = ()) -> float:
    """One day of steps plus the daily boluses."""
    total = 0.0  # mcg/day x minutes
    end = MINUTES_PER_DAY
    for start, rate in reversed(steps):
        total += rate * (end - start)
        end = start
    return total / MINUTES_PER_DAY + sum(b.dose_mcg for b in boluses)


_NUMBER_TYPES = (int, float)


def _valid_steps(steps: tuple[Step, ...]) -> bool:
    """The common case, checked without building any message."""
    prev = -1
    for start, rate in steps:
        if type(start) is not int or start <= prev or type(rate) not in _NUMBER_TYPES or not 0 <= rate <= MAX_PHYSICAL:
            return False
        prev = start
    return bool(steps) and steps[0].start_minute == 0 and prev < MINUTES_PER_DAY


def check_program(program: DosingProgram, path: str = "program") -> list[Violation]:
    """Every rule the program breaks (empty list when it is valid).

    The rules are those of the forecast contract: steps start at 00:00, their starts are
    strictly increasing and on the minute; rates and doses are not negative; bolus durations
    are 1-1440 minutes.
    """
    out: list[Violation] = []
    if not _valid_steps(program.steps):
        out.extend(_step_violations(program.steps, path))
    for i, b in enumerate(program.daily_boluses):
        where = f"{path}.boluses[{i}]"
        if not isinstance(b.start_minute, int) or not 0 <= b.start_minute < MINUTES_PER_DAY:
            out.append(Violation(f"{where}.start", "must be a time of day HH:MM from 00:00 to 23:59"))
        out.extend(_bolus_amount_violations(where, b.dose_mcg, b.duration_minutes))
    for i, o in enumerate(program.one_time_boluses):
        where = f"{path}.one_time_boluses[{i}]"
        if o.at is None:
            out.append(Violation(f"{where}.at", "is required"))
        out.extend(_bolus_amount_violations(where, o.dose_mcg, o.duration_minutes))
    return out


def _step_violations(steps: tuple[Step, ...], path: str) -> list[Violation]:
    out: list[Violation] = []
    if not steps:
        out.append(Violation(f"{path}.steps", "at least one step is required"))
    prev = -1
    for i, s in enumerate(steps):
        where = f"{path}.steps[{i}]"
        if not isinstance(s.start_minute, int) or not 0 <= s.start_minute < MINUTES_PER_DAY:
            out.append(Violation(f"{where}.start", "must be a time of day HH:MM from 00:00 to 23:59"))
        elif i == 0 and s.start_minute != 0:
            out.append(Violation(f"{where}.start", "the first step must start at 00:00"))
        elif s.start_minute <= prev:
            out.append(Violation(f"{where}.start", "must be later than the previous step's start"))
        else:
            prev = s.start_minute
        bad = bound_violation(f"{where}.rate_mcg_per_day", s.rate_mcg_per_day, minimum=0, required=True)
        if bad:
            out.append(bad)
    return out


def _bolus_amount_violations(where: str, dose_mcg: float, duration_minutes: float) -> list[Violation]:
    found = (
        bound_violation(f"{where}.dose_mcg", dose_mcg, minimum=0, required=True),
        bound_violation(
            f"{where}.duration_minutes",
            duration_minutes,
            minimum=MIN_BOLUS_DURATION_MINUTES,
            maximum=MAX_BOLUS_DURATION_MINUTES,
            required=True,
        ),
    )
    return [v for v in found if v]


def priming_bolus_volume_ml(catheter_length_cm: float, catheter_ml_per_cm: float, pump_tubing_ml: float) -> float:
    """Volume to fill a new or revised catheter plus the pump's internal tubing."""
    return catheter_length_cm * catheter_ml_per_cm + pump_tubing_ml

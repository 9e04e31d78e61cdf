"""Titration after the implant: the next daily dose to propose, when to come back, when it is stable.

The drug label's rules (``shared/domain.md``, "The drug label rules", "Titration start",
"Titration steps", "Maintenance ranges"):

- No increase in the first 24 h after the implant; at most one increase per 24 h.
- Steps: spinal origin +10-30 %, cerebral origin +5-15 %, children 5-15 %. The planner proposes
  the middle of the range (``TitrationSettings.increase_point_in_range``).
- Reductions of 10-20 % for side effects.
- Outside the usual maintenance range needs the clinician's explicit confirmation, never a
  silent refusal: the proposal names the ``assess_program_change`` code to acknowledge.
- Visits every 2-3 weeks ("The therapy in one paragraph"), on a day the clinic is open.

The step bounds, the maintenance ranges and the 24 h rules are read from ``LimitSettings`` so a
proposal can never contradict ``assess_program_change``. Pure domain: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import NamedTuple

from itb.domain.errors import InvalidInput, Violation, bound_violation, is_number
from itb.domain.formatting import number, percent, quantity
from itb.domain.limits import (
    DEFAULT_LIMITS,
    AgeGroup,
    DoseHistory,
    LimitSettings,
    Origin,
    PatientContext,
    age_group,
)
from itb.domain.scheduling import (
    DEFAULT_BOOKING,
    DEFAULT_CALENDAR,
    BookingSettings,
    ClinicCalendar,
    titration_visit_due,
)

_LABEL = "drug label"
_UNVERIFIED = "clinic setting, unverified"
_CLINIC = "clinic setting"
_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class TitrationSettings:
    """The planner's own numbers; the label's step bounds and ranges live in ``LimitSettings``."""

    #: tone is "still high" while the latest mean MAS of the tested muscles is at least this
    #: (clinic setting, unverified: 1.5 is grade 1+, a catch with some resistance)
    high_tone_min_mean_mas: float = 1.5
    #: goals count as met at this GAS T score or more (domain.md, GAS: T = 50 when every goal is met as expected)
    goals_met_t_score: float = 50
    #: where in the label's increase range to step: 0 its minimum, 1 its maximum (clinic setting: the middle,
    #: spinal +20 %, cerebral and children +10 % with the label's ranges)
    increase_point_in_range: float = 0.5
    #: reduction for side effects, a fraction of the daily dose (drug label: reductions of 10-20 %; the middle);
    #: never more than ``LimitSettings.max_reduction_fraction``
    side_effect_reduction_fraction: float = 0.15
    #: proposed doses are rounded to this many mcg/day, increases down and reductions up, so the step
    #: never exceeds the computed one (clinic setting, unverified; 0 = no rounding)
    dose_resolution_mcg_per_day: float = 0.1
    #: "stable": the dose unchanged for at least this many days (clinic setting, unverified: one titration
    #: interval, domain.md "every 2-3 weeks")
    stable_min_days: float = 14
    #: "stable": tone below ``high_tone_min_mean_mas`` at this many latest visits, unless goals are met
    #: (clinic setting, unverified)
    stable_tone_visits: int = 2
    #: after this many increases in a row without a drop in tone, propose a catheter and pump check
    #: instead of another increase (clinic setting, unverified; domain.md: a catheter leak, kink or
    #: disconnection makes the pump's dose not reach the spine, and repairing it later turns the
    #: escalated dose into an overdose)
    check_after_increases_without_response: int = 3
    #: an increase "brought a response" when the mean MAS after it is at least this much lower than before
    #: it (clinic setting, unverified: half a grade, above the scale's scoring noise)
    step_response_min_mas_drop: float = 0.5

    def __post_init__(self) -> None:
        problems: list[Violation] = []
        for f in fields(self):
            value = getattr(self, f.name)
            maximum = {"high_tone_min_mean_mas": 4, "increase_point_in_range": 1, "side_effect_reduction_fraction": 1}
            strict = f.name in ("high_tone_min_mean_mas", "side_effect_reduction_fraction", "stable_tone_visits")
            bad = bound_violation(
                f"titration.{f.name}",
                value,
                minimum=0,
                strict=strict,
                maximum=maximum.get(f.name, 1e9),
                required=True,
            )
            if bad:
                problems.append(bad)
        if type(self.stable_tone_visits) is not int:
            problems.append(Violation("titration.stable_tone_visits", "must be a whole number of visits"))
        if problems:
            raise InvalidInput(problems)


DEFAULT_TITRATION = TitrationSettings()


class ProposalKind(StrEnum):
    INCREASE = "increase"
    HOLD = "hold"
    REDUCE = "reduce"
    CHECK = "check the catheter and pump"  # increases bring no response: look for the cause first


@dataclass(frozen=True, slots=True)
class Proposal:
    """The planner's proposal for the next daily dose, for the clinician to accept or change.

    ``change_fraction`` is of the current dose (+0.2 = 20 % more, -0.15 = 15 % less). Program it no
    earlier than ``earliest_at``. ``needs_confirmation`` lists the ``assess_program_change`` codes
    (soft limits) the clinician must acknowledge; each reason cites its rule.
    """

    dose_mcg_per_day: float
    change_fraction: float
    kind: ProposalKind
    reasons: tuple[str, ...]
    earliest_at: datetime
    needs_confirmation: tuple[str, ...] = ()


class _Bounds(NamedTuple):
    label: str
    step: tuple[float, float]
    maintenance: tuple[float, float]
    hard_max: float


def _bounds(patient: PatientContext, limits: LimitSettings) -> _Bounds:
    """The label's bounds for the patient's group; children take the children's whatever the origin."""
    s = limits
    if age_group(patient.age_years, s) is AgeGroup.CHILD:
        return _Bounds(
            f"a child under {number(s.child_below_age_years, 'years')}",
            (s.increase_min_fraction_child, s.increase_max_fraction_child),
            (s.maintenance_child_min_mcg_per_day, s.maintenance_child_max_mcg_per_day),
            s.hard_max_daily_dose_child_mcg,
        )
    if patient.origin is Origin.CEREBRAL:
        return _Bounds(
            "cerebral origin",
            (s.increase_min_fraction_cerebral, s.increase_max_fraction_cerebral),
            (s.maintenance_cerebral_min_mcg_per_day, s.maintenance_cerebral_max_mcg_per_day),
            s.hard_max_daily_dose_adult_mcg,
        )
    return _Bounds(
        "spinal origin",
        (s.increase_min_fraction_spinal, s.increase_max_fraction_spinal),
        (s.maintenance_spinal_min_mcg_per_day, s.maintenance_spinal_max_mcg_per_day),
        s.hard_max_daily_dose_adult_mcg,
    )


def _above(value: float, bound: float) -> bool:
    return value > bound and not math.isclose(value, bound, rel_tol=_TOL, abs_tol=1e-12)


def _below(value: float, bound: float) -> bool:
    return value < bound and not math.isclose(value, bound, rel_tol=_TOL, abs_tol=1e-12)


def _pct(fraction: float) -> str:
    return percent(fraction)


def _dose(value: float) -> str:
    """A daily dose's number, as itb.domain.formatting writes mcg/day (the unit follows in the text)."""
    return number(value, "mcg/day")


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def _round(value: float, resolution: float, *, down: bool) -> float:
    if resolution <= 0:
        return value
    units = value / resolution
    whole = math.floor(units + _TOL) if down else math.ceil(units - _TOL)
    return round(whole * resolution, 9)


def _check_inputs(current: object, tone_trend: object, goals_t: object, side_effects: object) -> list[float]:
    problems: list[Violation] = []
    bad = bound_violation("current_daily_mcg", current, minimum=0, strict=True, required=True)
    if bad:
        problems.append(bad)
    tones: list[float] = []
    if isinstance(tone_trend, (str, bytes)) or not isinstance(tone_trend, Iterable):
        problems.append(Violation("tone_trend", "must be a list of mean MAS values, oldest first"))
    else:
        for i, t in enumerate(tone_trend):
            bad = bound_violation(f"tone_trend[{i}]", t, minimum=0, maximum=4, required=True)
            if bad:
                problems.append(bad)
            else:
                tones.append(float(t))  # type: ignore[arg-type]
    if goals_t is not None and not is_number(goals_t):
        problems.append(Violation("goals_t", f"must be a GAS T score or None, got {goals_t!r}"))
    if type(side_effects) is not bool:
        problems.append(Violation("side_effects", f"must be true or false, got {side_effects!r}"))
    if problems:
        raise InvalidInput(problems)
    return tones


def _range_notes(new: float, b: _Bounds) -> tuple[list[str], list[str]]:
    """The maintenance-range reason and code for a changed dose (the same test as ``assess_program_change``)."""
    lo, hi = b.maintenance
    if _above(new, hi):
        return [
            f"{_dose(new)} mcg/day is above the usual {_dose(lo)} to {_dose(hi)} mcg/day for {b.label} ({_LABEL}): "
            "the clinician must confirm this dose (maintenance_range)"
        ], ["maintenance_range"]
    if _below(new, lo):
        return [
            f"{_dose(new)} mcg/day is below the usual {_dose(lo)} to {_dose(hi)} mcg/day for {b.label} ({_LABEL}): "
            "the clinician must confirm this dose (maintenance_range)"
        ], ["maintenance_range"]
    return [], []


def propose_next_dose(
    current_daily_mcg: float,
    patient: PatientContext,
    history: DoseHistory,
    now: datetime,
    *,
    tone_trend: Sequence[float],
    goals_t: float | None,
    side_effects: bool,
    increases_without_response: int = 0,
    limits: LimitSettings = DEFAULT_LIMITS,
    settings: TitrationSettings = DEFAULT_TITRATION,
) -> Proposal:
    """The next daily dose, in this order of rules:

    1. side effects reported: reduce by ``side_effect_reduction_fraction`` (label: 10-20 %), now;
    2. goals met (GAS T >= 50): hold, the dose is stable;
    3. no tone score, or tone low enough (latest mean MAS < ``high_tone_min_mean_mas``): hold;
    4. tone still high: increase by the middle of the label's step for the patient's group, capped at the
       hard maximum, no earlier than 24 h after the implant and after the last increase.

    ``tone_trend``: mean MAS per visit, oldest first. A changed dose outside the usual maintenance
    range carries the ``maintenance_range`` code for the clinician to confirm.
    """
    tones = _check_inputs(current_daily_mcg, tone_trend, goals_t, side_effects)
    s = settings
    b = _bounds(patient, limits)
    current = float(current_daily_mcg)

    def hold(reasons: list[str]) -> Proposal:
        return Proposal(current, 0.0, ProposalKind.HOLD, tuple(reasons), now)

    if side_effects:
        fraction = min(s.side_effect_reduction_fraction, limits.max_reduction_fraction)
        new = _round(current * (1 - fraction), s.dose_resolution_mcg_per_day, down=False)
        if not 0 < new < current:
            new = current * (1 - fraction)
        notes, codes = _range_notes(new, b)
        notes, codes = [*notes, *_age_notes(patient, limits)], [*codes, *_age_codes(patient, limits)]
        reasons = [
            f"side effects reported: reduce by {_pct(1 - new / current)}, {_dose(current)} to {_dose(new)} mcg/day "
            f"({_LABEL}: reductions of 10-20 % for side effects)",
            f"signs of overdose (drowsiness, slowed breathing, seizures, loss of consciousness) are an emergency, "
            f"not a titration step ({_LABEL})",
            *notes,
        ]
        return Proposal(new, round(new / current - 1, 12), ProposalKind.REDUCE, tuple(reasons), now, tuple(codes))

    if goals_t is not None and goals_t >= s.goals_met_t_score:
        return hold(
            [
                f"goals met: GAS T {goals_t:.3g} >= {s.goals_met_t_score:g} (GAS: 50 = goals met as expected): "
                f"hold {_dose(current)} mcg/day, dose stable"
            ]
        )
    if not tones:
        return hold(["no tone score at this visit: score the tested muscles (MAS) before changing the dose"])
    latest = tones[-1]
    if latest < s.high_tone_min_mean_mas:
        return hold(
            [
                f"tone low enough: mean MAS {latest:.3g} < {s.high_tone_min_mean_mas:g} ({_UNVERIFIED}): "
                f"hold {_dose(current)} mcg/day, dose stable"
            ]
        )

    lo, hi = b.step
    gate = s.check_after_increases_without_response
    if increases_without_response >= gate:
        return Proposal(
            current,
            0.0,
            ProposalKind.CHECK,
            (
                f"tone still high (mean MAS {latest:.3g}) after {increases_without_response} increases in a row "
                f"without a drop in tone (a check after {gate}, {_UNVERIFIED}): do not increase again before the "
                "catheter (kink, leak, disconnection: dye study or imaging) and the pump (a refill discrepancy, "
                "the rotor after an MRI) are checked",
                "a catheter repaired after an escalation delivers the whole escalated dose: an overdose (domain.md)",
            ),
            now,
        )
    if not _below(current, b.hard_max):
        return hold(
            [
                f"tone still high (mean MAS {latest:.3g}) but {_dose(current)} mcg/day is at the hard maximum "
                f"{_dose(b.hard_max)} mcg/day ({_UNVERIFIED}): no increase; the clinician reviews the therapy"
            ]
        )
    fraction = lo + (hi - lo) * s.increase_point_in_range
    reasons = [
        f"tone still high: mean MAS {latest:.3g} >= {s.high_tone_min_mean_mas:g} ({_UNVERIFIED}), "
        "no side effects reported"
    ]
    high, most = limits.high_daily_dose_mcg, limits.high_dose_max_increase_fraction
    if fraction > most and _above(current * (1 + fraction), high):
        fraction = most
        reasons.append(
            f"above {_dose(high)} mcg/day a step is at most +{_pct(most)} (a large absolute dose; {_CLINIC})"
        )
    target = current * (1 + fraction)
    new = min(target, b.hard_max)
    rounded = _round(new, s.dose_resolution_mcg_per_day, down=True)
    if rounded > current:
        new = rounded
    codes = []
    if _below(target, b.hard_max) or math.isclose(target, b.hard_max, rel_tol=_TOL):
        reasons.append(
            f"increase by {_pct(new / current - 1)}, {_dose(current)} to {_dose(new)} mcg/day: the middle of the "
            f"{_pct(lo)} to {_pct(hi)} step for {b.label} ({_LABEL})"
        )
    else:
        reasons.append(
            f"increase to {_dose(new)} mcg/day (+{_pct(new / current - 1)}), capped at the hard maximum "
            f"{_dose(b.hard_max)} mcg/day ({_UNVERIFIED}); the {b.label} step is {_pct(lo)} to {_pct(hi)} ({_LABEL})"
        )
    if _below(new, current * (1 + lo)):
        reasons.append(
            f"+{_pct(new / current - 1)} is below the usual +{_pct(lo)} for {b.label} ({_LABEL}): "
            "the clinician must confirm this small step (increase_step_min)"
        )
        codes.append("increase_step_min")
    notes, range_codes = _range_notes(new, b)
    reasons.extend([*notes, *_age_notes(patient, limits)])
    codes.extend([*range_codes, *_age_codes(patient, limits)])

    earliest = now
    if patient.implanted_at is not None:
        allowed = patient.implanted_at + timedelta(hours=limits.no_increase_after_implant_hours)
        if allowed > earliest:
            earliest = allowed
            reasons.append(
                f"not before {_when(allowed)}: no increase in the first "
                f"{quantity(limits.no_increase_after_implant_hours, 'h')} "
                f"after the implant ({_LABEL})"
            )
    if history.last_increase_at is not None:
        allowed = history.last_increase_at + timedelta(hours=limits.min_hours_between_increases)
        if allowed > now:
            reasons.append(
                f"not before {_when(allowed)}: at most one increase per "
                f"{quantity(limits.min_hours_between_increases, 'h')} "
                f"({_LABEL}; last increase {_when(history.last_increase_at)})"
            )
            earliest = max(earliest, allowed)
    return Proposal(new, round(new / current - 1, 12), ProposalKind.INCREASE, tuple(reasons), earliest, tuple(codes))


def titration_schedule(
    last_change: date,
    calendar: ClinicCalendar = DEFAULT_CALENDAR,
    settings: BookingSettings = DEFAULT_BOOKING,
) -> date:
    """The next titration visit: the first open clinic day in the window ``titration_interval_days``
    (14-21 days, domain.md: every 2-3 weeks) after the last program change.

    When the clinic is closed throughout the window, the first open day after it (a later visit
    keeps the dose unchanged longer, never shorter than the label's interval).
    """
    earliest, _latest = titration_visit_due(last_change, settings)
    return calendar.on_or_after(earliest)


def is_stable(
    dose_path: Iterable[tuple[datetime, float]],
    tone_trend: Sequence[float],
    goals_t: float | None,
    settings: TitrationSettings = DEFAULT_TITRATION,
) -> bool:
    """Whether titration has reached the right dose.

    ``dose_path``: (when, daily dose) at each visit or change, any order. Stable when the dose has
    been unchanged for at least ``stable_min_days`` (from the first to the last record at the
    latest dose) and either the goals are met (GAS T >= 50) or the mean MAS was below
    ``high_tone_min_mean_mas`` at the latest ``stable_tone_visits`` visits.
    """
    path = sorted(dose_path, key=lambda p: p[0])
    if not path:
        return False
    last_at, last_dose = path[-1]
    since = last_at
    for at, dose in reversed(path):
        if not math.isclose(dose, last_dose, rel_tol=_TOL, abs_tol=1e-12):
            break
        since = at
    if last_at - since < timedelta(days=settings.stable_min_days):
        return False
    if goals_t is not None and goals_t >= settings.goals_met_t_score:
        return True
    recent = list(tone_trend)[-settings.stable_tone_visits :]
    return len(recent) == settings.stable_tone_visits and all(t < settings.high_tone_min_mean_mas for t in recent)


def _age_codes(patient: PatientContext, limits: LimitSettings) -> list[str]:
    """Below the label's age every change is the clinician's explicit decision (``age_below_label``)."""
    return ["age_below_label"] if patient.age_years < limits.labelled_from_age_years else []


def _age_notes(patient: PatientContext, limits: LimitSettings) -> list[str]:
    if not _age_codes(patient, limits):
        return []
    return [
        f"the label's use in children is from age {number(limits.labelled_from_age_years, 'years')}: "
        "the clinician must confirm every change (age_below_label)"
    ]


def increases_without_response(
    versions: Sequence[tuple[datetime, float]],
    tone: Sequence[tuple[datetime, float]],
    settings: TitrationSettings = DEFAULT_TITRATION,
) -> int:
    """How many of the latest dose increases in a row were each followed by no drop in tone.

    ``versions``: (when, daily dose) of each program, oldest first; ``tone``: (when, mean MAS) of
    each visit, oldest first. An increase counts when the first score after it is not lower than
    the last score before it by ``step_response_min_mas_drop``; one with no score on both sides
    ends the count (nothing is assumed).
    """
    count = 0
    steps = [(b_at, a_dose, b_dose) for (_, a_dose), (b_at, b_dose) in pairwise(versions)]
    for at, before_dose, after_dose in reversed(steps):
        if not after_dose > before_dose:
            continue
        before = [m for t, m in tone if t <= at]
        after = [m for t, m in tone if t > at]
        if not before or not after or before[-1] - after[0] >= settings.step_response_min_mas_drop:
            break
        count += 1
    return count

"""The screening trial: test doses by lumbar puncture, scored for a response, and what comes next.

The drug label's rules (``shared/domain.md``, "The drug label rules", "Screening" and
"Titration start"):

- 50 mcg bolus (50 mcg/mL solution) by lumbar puncture, watch 4-8 h. No response: 75 mcg 24 h
  later; then 100 mcg 24 h after that. No response to 100 mcg: not a candidate.
- Very small children may start at 25 mcg.
- A positive response is commonly a drop of at least 1 point in the average Modified Ashworth
  score of the tested muscles (kept a setting: clinics differ).
- A positive response at any dose makes the patient a candidate: refer to the neurosurgeon.
- The starting daily dose after the implant is 2 x the effective screening dose, or 1 x if the
  screening effect lasted more than 8 h.

Every number is a field of ``ScreeningSettings`` that a clinic can change, with its source.
Pure domain: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import cast

from itb.domain.errors import InvalidInput, Violation, bound_violation, is_number
from itb.domain.scales import MAS, mas_response, mean_mas, parse_mas

_LABEL = "drug label"
_UNVERIFIED = "clinic setting, unverified"


@dataclass(frozen=True, slots=True)
class ScreeningSettings:
    """Every number of the screening protocol, each with its source."""

    #: the test doses in order, mcg by lumbar puncture (drug label: 50, then 75, then 100 mcg)
    doses_mcg: tuple[float, ...] = (50, 75, 100)
    #: hours from one test dose to the next (drug label: "75 mcg 24 h later; then 100 mcg 24 h after that")
    hours_between_doses: float = 24
    #: the first dose for a very small child (drug label: "Very small children may start at 25 mcg")
    small_child_first_dose_mcg: float = 25
    #: a child lighter than this is "very small" (clinic setting, unverified: the label gives no number);
    #: None: weight is not used
    small_child_below_kg: float | None = 10
    #: or younger than this (clinic setting, unverified: the label gives no number); None: age is not used
    small_child_below_age_years: float | None = 2
    #: the scoring times, hours after the injection; 0 is the baseline (clinic setting: the label says
    #: watch 4-8 h; a bolus acts after 0.5-1 h, peaks at about 4 h, lasts 4-8 h, domain.md "Pharmacology")
    time_points_h: tuple[float, ...] = (0, 1, 2, 4, 6, 8)
    #: "no response" is concluded only after scoring at least this long (drug label: "watch 4-8 h")
    min_watch_hours: float = 4
    #: the response rule: the mean MAS of the tested muscles drops by at least this from baseline
    #: (domain.md: "commonly a drop of at least 1 point"; a clinic setting, as ``scales.MAS_RESPONSE_MIN_DROP``)
    response_min_mas_drop: float = 1.0
    #: an effect lasting more than this many hours halves the starting dose (drug label: "1 x if the
    #: screening effect lasted more than 8 h")
    long_effect_hours: float = 8
    #: starting daily dose, as a multiple of the effective screening dose (drug label: "2 x")
    starting_dose_factor: float = 2
    #: the same when the effect lasted more than ``long_effect_hours`` (drug label: "1 x")
    long_effect_starting_dose_factor: float = 1
    #: the screening solution (drug label, domain.md: "50 mcg bolus (50 mcg/mL)")
    concentration_mcg_per_ml: float = 50

    def __post_init__(self) -> None:
        problems: list[Violation] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("doses_mcg", "time_points_h"):
                continue
            optional = f.name in ("small_child_below_kg", "small_child_below_age_years")
            strict = f.name not in ("small_child_below_age_years",)
            bad = bound_violation(f"screening.{f.name}", value, minimum=0, strict=strict, required=not optional)
            if bad:
                problems.append(bad)
        problems.extend(_increasing("screening.doses_mcg", self.doses_mcg, first_above=0))
        problems.extend(_increasing("screening.time_points_h", self.time_points_h, first_above=None))
        if not problems:
            if self.time_points_h[0] != 0:
                problems.append(Violation("screening.time_points_h", "must start with 0 (the baseline score)"))
            if self.time_points_h[-1] < self.min_watch_hours:
                problems.append(
                    Violation(
                        "screening.min_watch_hours",
                        f"must be <= the last time point ({self.time_points_h[-1]:g} h), got {self.min_watch_hours:g}",
                    )
                )
        if problems:
            raise InvalidInput(problems)


def _increasing(field: str, values: object, *, first_above: float | None) -> list[Violation]:
    rule = "must be a non-empty tuple of strictly increasing numbers"
    if first_above is not None:
        rule += f" > {first_above:g}"
    else:
        rule += " >= 0"
    if type(values) is not tuple or not values or not all(is_number(v) for v in values):
        return [Violation(field, f"{rule}, got {values!r}")]
    low = values[0] > first_above if first_above is not None else values[0] >= 0
    if not low or any(b <= a for a, b in pairwise(values)):
        return [Violation(field, f"{rule}, got {values!r}")]
    return []


DEFAULT_SCREENING = ScreeningSettings()


class TrialOutcome(StrEnum):
    GIVE_DOSE = "give dose"  # give ``dose_mcg`` at ``at`` (or any time, for the first dose)
    KEEP_WATCHING = "keep watching"  # the last dose is not scored long enough to conclude
    STOP = "stop"  # side effects at a dose without a response: no larger dose; the clinician decides
    CANDIDATE = "candidate"  # positive response: refer to the neurosurgeon
    NOT_A_CANDIDATE = "not a candidate"  # no response to the largest dose


@dataclass(frozen=True, slots=True)
class TrialResult:
    """One test dose and its scores.

    ``scores`` maps hours after the injection to a MAS grade per muscle group; 0 h is the baseline
    and every time point grades the same muscles. Grades may be given as text ("1+") or whole
    numbers 0-4; they are stored as ``MAS``. ``caregiver_feedback`` is kept as told.
    """

    dose_mcg: float
    at: datetime
    scores: Mapping[float, Mapping[str, MAS | str | int]]
    caregiver_feedback: str = ""
    #: side effects seen after the dose (drowsiness, dizziness, nausea, slowed breathing, seizures...),
    #: as the clinician wrote them; empty: none
    side_effects: str = ""

    def __post_init__(self) -> None:
        problems: list[Violation] = []
        bad = bound_violation("trial.dose_mcg", self.dose_mcg, minimum=0, strict=True, required=True)
        if bad:
            problems.append(bad)
        if not isinstance(self.at, datetime):
            problems.append(Violation("trial.at", f"must be the date and time of the injection, got {self.at!r}"))
        if not isinstance(self.caregiver_feedback, str):
            problems.append(Violation("trial.caregiver_feedback", "must be text"))
        if not isinstance(self.side_effects, str):
            problems.append(Violation("trial.side_effects", "must be text"))
        parsed: dict[float, dict[str, MAS]] = {}
        if not isinstance(self.scores, Mapping):
            problems.append(Violation("trial.scores", "must map hours after the injection to grades per muscle"))
        else:
            for hours, grades in self.scores.items():
                where = f"trial.scores[{hours!r}]"
                if not is_number(hours) or hours < 0:
                    problems.append(Violation(where, "the time point must be a number of hours >= 0"))
                    continue
                if not isinstance(grades, Mapping) or not grades:
                    problems.append(Violation(where, "must grade at least one muscle group"))
                    continue
                row: dict[str, MAS] = {}
                for muscle, grade in grades.items():
                    try:
                        row[str(muscle)] = parse_mas(grade, f"{where}[{muscle!r}]")
                    except InvalidInput as e:
                        problems.extend(e.violations)
                parsed[float(hours)] = row
            if 0 not in parsed and not problems:
                problems.append(Violation("trial.scores", "needs the baseline score at 0 h"))
            elif 0 in parsed:
                muscles = set(parsed[0])
                for hours, row in parsed.items():
                    if set(row) != muscles:
                        problems.append(
                            Violation(
                                f"trial.scores[{hours:g}]",
                                f"must grade the same muscles as the baseline ({', '.join(sorted(muscles))}), "
                                f"got {', '.join(sorted(row))}",
                            )
                        )
        if problems:
            raise InvalidInput(problems)
        object.__setattr__(self, "scores", dict(sorted(parsed.items())))

    @property
    def muscles(self) -> tuple[str, ...]:
        """The tested muscle groups, in the baseline's order."""
        return tuple(self.scores[0])

    @property
    def last_scored_hours(self) -> float:
        """The latest time point scored, hours after the injection (0 when only the baseline is)."""
        return max(self.scores)

    def _grades(self, hours: float) -> list[MAS]:
        row = cast("Mapping[str, MAS]", self.scores[hours])  # __post_init__ stored every grade as MAS
        return [row[m] for m in self.muscles]

    def drops(self) -> dict[float, float]:
        """For each later time point, how far the mean MAS fell from the baseline (1+ counts 1.5)."""
        base = mean_mas(self._grades(0))
        return {h: base - mean_mas(self._grades(h)) for h in self.scores if h > 0}

    def best_drop(self) -> tuple[float, float] | None:
        """(hours, drop) at the best later time point (the earliest of equals); None with only a baseline."""
        drops = self.drops()
        if not drops:
            return None
        best = max(drops.values())
        return next((h, d) for h, d in drops.items() if d == best)

    def _responding(self, settings: ScreeningSettings) -> list[float]:
        base = self._grades(0)
        return [h for h in self.scores if h > 0 and mas_response(base, self._grades(h), settings.response_min_mas_drop)]

    def responded(self, settings: ScreeningSettings = DEFAULT_SCREENING) -> bool:
        """Whether the mean MAS fell by at least ``settings.response_min_mas_drop`` from 0 h to the best time point."""
        return bool(self._responding(settings))

    def effect_hours(self, settings: ScreeningSettings = DEFAULT_SCREENING) -> float:
        """How long the drop stayed at least the response rule: hours from the injection to the last time
        point of the first unbroken run of responding scores (0 when there was no response).

        Measured from the injection, as the label's "lasted more than 8 h" is; a run still going at the
        last score means the effect lasted *at least* this long (see ``effect_outlasted_scoring``).
        """
        responding = set(self._responding(settings))
        later = [h for h in self.scores if h > 0]
        last = 0.0
        started = False
        for h in later:
            if h in responding:
                started = True
                last = h
            elif started:
                break
        return last

    def effect_outlasted_scoring(self, settings: ScreeningSettings = DEFAULT_SCREENING) -> bool:
        """True when the response still held at the last score: its true length is unknown."""
        return self.responded(settings) and self.effect_hours(settings) == self.last_scored_hours


@dataclass(frozen=True, slots=True)
class TrialStep:
    """What the screening protocol says to do next, and why.

    ``GIVE_DOSE``: ``dose_mcg`` (``volume_ml`` of the screening solution) no earlier than ``at``
    (None: any time, for the first dose), scored at ``score_at_hours``. ``CANDIDATE`` carries the
    effective dose, how long its effect lasted and the label's starting daily dose.
    """

    outcome: TrialOutcome
    reasons: tuple[str, ...]
    dose_mcg: float | None = None
    at: datetime | None = None
    volume_ml: float | None = None
    score_at_hours: tuple[float, ...] = ()
    effective_dose_mcg: float | None = None
    effect_hours: float | None = None
    starting_daily_dose_mcg: float | None = None


def is_small_child(
    patient_weight_kg: float | None, age_years: float | None, settings: ScreeningSettings = DEFAULT_SCREENING
) -> str | None:
    """Why the patient counts as a very small child (weight or age below the clinic's settings); None if not."""
    s = settings
    if (
        patient_weight_kg is not None
        and s.small_child_below_kg is not None
        and patient_weight_kg < s.small_child_below_kg
    ):
        return f"weight {patient_weight_kg:g} kg is below {s.small_child_below_kg:g} kg ({_UNVERIFIED})"
    if (
        age_years is not None
        and s.small_child_below_age_years is not None
        and age_years < s.small_child_below_age_years
    ):
        return f"age {age_years:g} years is below {s.small_child_below_age_years:g} years ({_UNVERIFIED})"
    return None


#: Longest a screening effect or a scoring time is recorded as lasting (hours): a bolus acts for
#: 4-8 h (drug label); three days leaves room for the longest report without accepting nonsense.
MAX_TRIAL_HOURS = 72.0


def check_trial_entry(
    dose_mcg: float,
    effect_hours: float | None,
    assessed_after_hours: float | None,
    settings: ScreeningSettings = DEFAULT_SCREENING,
) -> list[Violation]:
    """Every rule a recorded screening trial breaks (drug label): the dose is one of the protocol's
    test doses (50, 75, 100 mcg, or 25 mcg first for a very small child), never above the largest;
    the hours are real numbers from 0 to ``MAX_TRIAL_HOURS``."""
    allowed = sorted({settings.small_child_first_dose_mcg, *settings.doses_mcg})
    listed = ", ".join(f"{d:g}" for d in allowed)
    problems = []
    if not isinstance(dose_mcg, int | float) or not math.isfinite(dose_mcg) or dose_mcg <= 0:
        problems.append(Violation("dose_mcg", f"must be a test dose in mcg: one of {listed}"))
    elif dose_mcg > max(allowed):
        problems.append(
            Violation("dose_mcg", f"must not exceed {max(allowed):g} mcg, the label's largest screening dose")
        )
    elif not any(math.isclose(dose_mcg, d) for d in allowed):
        problems.append(Violation("dose_mcg", f"must be one of the label's screening doses: {listed} mcg"))
    for name, value in (("effect_hours", effect_hours), ("assessed_after_hours", assessed_after_hours)):
        bad = bound_violation(name, value, minimum=0, maximum=MAX_TRIAL_HOURS)
        if bad:
            problems.append(bad)
    return problems


def starting_daily_dose_mcg(
    effective_dose_mcg: float, effect_hours: float, settings: ScreeningSettings = DEFAULT_SCREENING
) -> float:
    """The first daily dose after the implant: 2 x the effective screening dose, or 1 x when the
    screening effect lasted more than ``settings.long_effect_hours`` (8 h) (drug label)."""
    problems = [
        v
        for v in (
            bound_violation("effective_dose_mcg", effective_dose_mcg, minimum=0, strict=True, required=True),
            bound_violation("effect_hours", effect_hours, minimum=0, required=True),
        )
        if v
    ]
    if problems:
        raise InvalidInput(problems)
    long = _lasted_longer(effect_hours, settings)
    factor = settings.long_effect_starting_dose_factor if long else settings.starting_dose_factor
    return effective_dose_mcg * factor


def _lasted_longer(effect_hours: float, settings: ScreeningSettings) -> bool:
    """More than ``long_effect_hours`` (8 h exactly is not more)."""
    bound = settings.long_effect_hours
    return effect_hours > bound and not math.isclose(effect_hours, bound)


def _check_patient(weight: object, age: object) -> None:
    problems = [
        v
        for v in (
            bound_violation("patient_weight_kg", weight, minimum=0, strict=True, maximum=500),
            bound_violation("age_years", age, minimum=0, maximum=150),
        )
        if v
    ]
    if weight is None and age is None:
        problems.append(Violation("patient", "needs the weight or the age to choose the first dose"))
    if problems:
        raise InvalidInput(problems)


def _give(dose: float, at: datetime | None, reasons: list[str], s: ScreeningSettings) -> TrialStep:
    return TrialStep(
        TrialOutcome.GIVE_DOSE,
        tuple(reasons),
        dose_mcg=dose,
        at=at,
        volume_ml=dose / s.concentration_mcg_per_ml,
        score_at_hours=s.time_points_h,
    )


def next_trial_step(
    trials_so_far: Iterable[TrialResult],
    patient_weight_kg: float | None,
    age_years: float | None,
    settings: ScreeningSettings = DEFAULT_SCREENING,
) -> TrialStep:
    """The next step of the screening trial after ``trials_so_far`` (any order; sorted by time).

    The first responding dose makes the patient a candidate. Side effects at a dose without a
    response stop the escalation (``STOP``: no larger dose; the clinician decides). Otherwise, once the last dose is
    scored for at least ``min_watch_hours``: no response to the largest dose (100 mcg) means not a
    candidate, else the next larger dose of the protocol 24 h after the last one.
    """
    s = settings
    _check_patient(patient_weight_kg, age_years)
    trials = sorted(trials_so_far, key=lambda t: t.at)
    rule = f"a drop of at least {s.response_min_mas_drop:g} in the mean MAS of the tested muscles (clinic setting)"

    if not trials:
        small = is_small_child(patient_weight_kg, age_years, s)
        if small:
            return _give(
                s.small_child_first_dose_mcg,
                None,
                [
                    f"very small child: {small}",
                    f"first test dose {s.small_child_first_dose_mcg:g} mcg by lumbar puncture "
                    f"({_LABEL}: very small children may start at 25 mcg)",
                ],
                s,
            )
        return _give(
            s.doses_mcg[0],
            None,
            [f"first test dose {s.doses_mcg[0]:g} mcg by lumbar puncture ({_LABEL}: 50 mcg bolus, watch 4-8 h)"],
            s,
        )

    for trial in trials:
        if trial.responded(s):
            return _candidate(trial, rule, s)

    troubled = next((t for t in trials if t.side_effects.strip()), None)
    if troubled is not None:
        return TrialStep(
            TrialOutcome.STOP,
            (
                f"side effects after {troubled.dose_mcg:g} mcg ({troubled.side_effects.strip()}) and no response: do "
                f"not give a larger test dose ({_LABEL}: overdose signs, drowsiness to respiratory depression, can "
                "follow a test dose; watch and treat them first); the clinician decides whether to screen again",
            ),
        )

    last = trials[-1]
    if last.last_scored_hours < s.min_watch_hours:
        return TrialStep(
            TrialOutcome.KEEP_WATCHING,
            (
                f"no response to {last.dose_mcg:g} mcg yet, scored to {last.last_scored_hours:g} h: keep scoring to at "
                f"least {s.min_watch_hours:g} h before concluding ({_LABEL}: watch 4-8 h)",
            ),
            score_at_hours=tuple(h for h in s.time_points_h if h > last.last_scored_hours),
        )

    highest = max(t.dose_mcg for t in trials)
    top = s.doses_mcg[-1]
    if highest >= top or math.isclose(highest, top):
        return TrialStep(
            TrialOutcome.NOT_A_CANDIDATE,
            (
                f"no response to {highest:g} mcg ({rule}): not a candidate for a pump "
                f"({_LABEL}: no response to {top:g} mcg, not a candidate)",
            ),
        )
    following = min(d for d in s.doses_mcg if d > highest and not math.isclose(d, highest))
    at = last.at + timedelta(hours=s.hours_between_doses)
    return _give(
        following,
        at,
        [
            f"no response to {last.dose_mcg:g} mcg ({rule}, scored to {last.last_scored_hours:g} h)",
            f"next test dose {following:g} mcg, {s.hours_between_doses:g} h after the last one "
            f"({_LABEL}: 50, then 75 mcg 24 h later, then 100 mcg 24 h after that)",
        ],
        s,
    )


def _candidate(trial: TrialResult, rule: str, s: ScreeningSettings) -> TrialStep:
    best = trial.best_drop()
    assert best is not None  # a responding trial has a later score
    hours, drop = best
    effect = trial.effect_hours(s)
    start = starting_daily_dose_mcg(trial.dose_mcg, effect, s)
    long = _lasted_longer(effect, s)
    reasons = [
        f"responded to {trial.dose_mcg:g} mcg: mean MAS fell {drop:.3g} points by {hours:g} h ({rule})",
        "a candidate for the pump: refer to the neurosurgeon (positive screening at any dose)",
        f"effect held to {effect:g} h after the injection; starting daily dose {start:g} mcg/day = "
        + (
            f"{s.long_effect_starting_dose_factor:g} x the effective dose ({_LABEL}: 1 x when the effect lasted "
            f"more than {s.long_effect_hours:g} h)"
            if long
            else f"{s.starting_dose_factor:g} x the effective dose ({_LABEL}: 2 x the effective screening dose)"
        ),
    ]
    if trial.effect_outlasted_scoring(s) and not long:
        reasons.append(
            f"the effect still held at the last score ({effect:g} h): if it lasted more than "
            f"{s.long_effect_hours:g} h the label's start is 1 x the dose ({trial.dose_mcg:g} mcg/day); "
            "score later or let the clinician decide"
        )
    return TrialStep(
        TrialOutcome.CANDIDATE,
        tuple(reasons),
        effective_dose_mcg=trial.dose_mcg,
        effect_hours=effect,
        starting_daily_dose_mcg=start,
    )

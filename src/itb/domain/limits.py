"""The drug library and every safety limit, judged together as one assessment.

Each check returns an ``Assessment``: the list of every limit reached, never only the first.
A ``REFUSE`` finding is a hard limit: the change is never sent to the pump. A ``CONFIRM``
finding is a soft limit: the change is sent only after the clinician acknowledges its code,
and the acknowledgement is recorded by the caller. Every number is a field of ``LimitSettings``
that a clinic can change; ``docs/parameters.md`` lists them with their sources.

When a hard and a soft limit judge the same number (a dose above the hard maximum is also
outside the usual range), only the hard one is reported: the soft one could not be acknowledged
into an allowed change anyway.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum

from itb.domain.errors import InvalidInput, Violation, bound_violation
from itb.domain.formatting import number, percent, quantity
from itb.domain.program import DosingProgram
from itb.domain.units import CANONICAL_UNIT, Dimension, Quantity

_LABEL = "drug label"
_CLINIC = "clinic setting"
_UNVERIFIED = "clinic setting, unverified"


@dataclass(frozen=True, slots=True)
class DrugProduct:
    """A baclofen intrathecal product and the strengths it is sold in (mcg/mL)."""

    name: str
    concentrations_mcg_per_ml: tuple[float, ...]


#: The products and their strengths (product labels and NDC listings): Lioresal Intrathecal is sold
#: as 50, 500 and 2,000 mcg/mL; Gablofen adds 1,000 mcg/mL. domain.md lists only the union
#: (50/500/1000/2000), which lets a 1,000 mcg/mL Lioresal slip through as "sold".
DRUG_PRODUCTS: tuple[DrugProduct, ...] = (
    DrugProduct("Lioresal Intrathecal", (50.0, 500.0, 2000.0)),
    DrugProduct("Gablofen", (50.0, 500.0, 1000.0, 2000.0)),
)


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """Every limit the software applies. Fractions are of the old daily dose (0.3 = 30 %)."""

    # -- who is a child -------------------------------------------------------------------
    child_below_age_years: float = 12  # domain.md: "children under 12"
    # drug label: the safety and effectiveness of intrathecal baclofen below age 4 are not established
    labelled_from_age_years: float = 4
    # -- drug library ---------------------------------------------------------------------
    max_concentration_mcg_per_ml: float = 2000  # domain.md: highest concentration sold
    library_concentrations_mcg_per_ml: tuple[float, ...] = (50, 500, 1000, 2000)  # domain.md: concentrations sold
    # -- daily dose -----------------------------------------------------------------------
    hard_max_daily_dose_adult_mcg: float = 2000  # clinic setting, unverified
    hard_max_daily_dose_child_mcg: float = 1500  # clinic setting, unverified
    maintenance_spinal_min_mcg_per_day: float = 300  # domain.md: maintenance, spinal origin 300-800
    maintenance_spinal_max_mcg_per_day: float = 800  # domain.md
    maintenance_cerebral_min_mcg_per_day: float = 90  # domain.md: maintenance, cerebral origin 90-703
    maintenance_cerebral_max_mcg_per_day: float = 703  # domain.md
    maintenance_child_min_mcg_per_day: float = 24  # domain.md: maintenance, children under 12: 24-1199
    maintenance_child_max_mcg_per_day: float = 1199  # domain.md
    # -- titration ------------------------------------------------------------------------
    no_increase_after_implant_hours: float = 24  # domain.md: "No increase in the first 24 h"
    min_hours_between_increases: float = 24  # domain.md: "at most one increase per 24 h"
    increase_min_fraction_spinal: float = 0.10  # domain.md: spinal origin +10-30 %
    increase_max_fraction_spinal: float = 0.30  # domain.md
    increase_min_fraction_cerebral: float = 0.05  # domain.md: cerebral origin +5-15 %
    increase_max_fraction_cerebral: float = 0.15  # domain.md
    increase_min_fraction_child: float = 0.05  # domain.md: children 5-15 %
    increase_max_fraction_child: float = 0.15  # domain.md
    max_reduction_fraction: float = 0.20  # domain.md: "reductions of 10-20 % for side effects"
    # -- maintenance (after titration): the label's bounds per origin at a refill visit ----
    # drug label (Lioresal Intrathecal, Dosage and Administration, Maintenance Therapy): spinal
    # origin +10-40 %, cerebral origin +5-20 % (domain.md gives the titration bounds only);
    # children take their origin's maintenance bounds (the label gives no other)
    maintenance_increase_max_fraction_spinal: float = 0.40
    maintenance_increase_max_fraction_cerebral: float = 0.20
    # -- high doses -------------------------------------------------------------------------
    # clinic setting: from the top of the usual spinal maintenance range (domain.md: 800 mcg/day)
    # an increase above 20 % is a large absolute dose (+200 mcg/day at 1,000): confirmed
    high_daily_dose_mcg: float = 800
    high_dose_max_increase_fraction: float = 0.20
    # -- restart after a stop -----------------------------------------------------------------
    # clinic setting, unverified: tolerance falls during an interruption ("drug holiday"); a
    # restart at the full old dose after more than a day without drug is a known overdose path,
    # so a restart above half the dose before the stop is confirmed
    restart_after_stop_hours: float = 24
    restart_max_fraction: float = 0.5
    # -- boluses --------------------------------------------------------------------------
    bolus_hard_max_mcg: float = 100  # clinic setting: the label's largest screening dose (domain.md)
    bolus_confirm_above_mcg: float = 50  # clinic setting: the label's first screening dose (domain.md)
    bolus_lockout_minutes: float = 240  # clinic setting, unverified (bolus effect peaks at about 4 h, domain.md)
    bolus_daily_max_mcg: float = 200  # clinic setting, unverified
    # -- entries --------------------------------------------------------------------------
    bare_number_factor: float = 500  # clinic setting, unverified: catches mg/mcg slips (1000x)

    def __post_init__(self) -> None:
        problems: list[Violation] = []
        for f in fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                bad = bound_violation(f"limits.{f.name}", v, minimum=0, required=True)
                if bad:
                    problems.append(bad)
        for group in ("spinal", "cerebral", "child"):
            lo = getattr(self, f"maintenance_{group}_min_mcg_per_day")
            hi = getattr(self, f"maintenance_{group}_max_mcg_per_day")
            if _num(lo) and _num(hi) and lo > hi:
                problems.append(Violation(f"limits.maintenance_{group}_min_mcg_per_day", "must be <= the maximum"))
            lo = getattr(self, f"increase_min_fraction_{group}")
            hi = getattr(self, f"increase_max_fraction_{group}")
            if _num(lo) and _num(hi) and lo > hi:
                problems.append(Violation(f"limits.increase_min_fraction_{group}", "must be <= the maximum"))
        if _num(self.max_reduction_fraction) and self.max_reduction_fraction > 1:
            problems.append(Violation("limits.max_reduction_fraction", "must be <= 1 (100 %)"))
        if _num(self.bare_number_factor) and self.bare_number_factor <= 1:
            problems.append(Violation("limits.bare_number_factor", "must be > 1"))
        if problems:
            raise InvalidInput(problems)


def _num(value: object) -> bool:
    return type(value) in (int, float)


DEFAULT_LIMITS = LimitSettings()


class Origin(StrEnum):
    SPINAL = "spinal"
    CEREBRAL = "cerebral"


class AgeGroup(StrEnum):
    ADULT = "adult"
    CHILD = "child"


def age_group(age_years: float, settings: LimitSettings = DEFAULT_LIMITS) -> AgeGroup:
    """A child is younger than ``settings.child_below_age_years`` (12 by default)."""
    return AgeGroup.CHILD if age_years < settings.child_below_age_years else AgeGroup.ADULT


class Severity(StrEnum):
    REFUSE = "refuse"  # hard limit: never sent
    CONFIRM = "confirm"  # soft limit: sent only after the clinician acknowledges this code


@dataclass(frozen=True, slots=True)
class Finding:
    """One limit reached."""

    code: str  # stable snake_case name of the limit, e.g. "max_one_increase_per_24h"
    severity: Severity
    message: str  # what is wrong and what is allowed, in the clinic's words, with the numbers


@dataclass(frozen=True, slots=True)
class Assessment:
    """Every limit a change reaches, with what it takes to go ahead."""

    findings: tuple[Finding, ...] = ()

    @property
    def refusals(self) -> tuple[Finding, ...]:
        """Hard limits: the change is never sent."""
        return tuple(f for f in self.findings if f.severity is Severity.REFUSE)

    @property
    def confirmations(self) -> tuple[Finding, ...]:
        """Soft limits: the clinician must acknowledge each code."""
        return tuple(f for f in self.findings if f.severity is Severity.CONFIRM)

    def unacknowledged(self, acknowledged: Iterable[str]) -> tuple[Finding, ...]:
        """The soft limits whose code the clinician has not acknowledged."""
        done = set(acknowledged)
        return tuple(f for f in self.confirmations if f.code not in done)

    def allowed(self, acknowledged: Iterable[str] = ()) -> bool:
        """True when nothing is refused and every soft limit is acknowledged."""
        return not self.refusals and not self.unacknowledged(acknowledged)

    def merged(self, other: Assessment) -> Assessment:
        """Both assessments' findings, this one's first."""
        return Assessment(self.findings + other.findings)

    def one_line(self) -> str:
        """Every reason on one line, separated by '; ' (empty when no limit is reached)."""
        return "; ".join(
            f"refused: {f.message}" if f.severity is Severity.REFUSE else f"needs confirmation ({f.code}): {f.message}"
            for f in self.findings
        )


@dataclass(frozen=True, slots=True)
class PatientContext:
    """What the limits need to know about the patient."""

    origin: Origin
    age_years: float
    implanted_at: datetime | None = None  # pump implant (titration may not increase in the first 24 h)
    #: after titration: the label's maintenance step bounds apply (wider than the titration's)
    maintenance: bool = False
    #: the label's patients at apparent risk of withdrawal: injury at T6 or above, communication
    #: difficulties, a history of withdrawal (the boxed warning is shown at every stop, reduction, refill)
    high_risk: bool = False

    def __post_init__(self) -> None:
        bad = bound_violation("patient.age_years", self.age_years, minimum=0, maximum=150, required=True)
        if bad:
            raise InvalidInput([bad])


@dataclass(frozen=True, slots=True)
class DoseHistory:
    """Recent dosing, as recorded by the clinic."""

    last_increase_at: datetime | None = None  # when the daily dose was last raised
    boluses: tuple[tuple[datetime, float], ...] = ()  # (start, dose_mcg) of recent boluses given
    #: when the daily dose went to 0 (a stop), and the dose before it; None while it runs
    stopped_at: datetime | None = None
    dose_before_stop_mcg: float | None = None


# -- helpers -------------------------------------------------------------------------------

_REL_TOL = 1e-9  # doses summed from steps carry float noise; a bound is reached only beyond it


def _above(value: float, bound: float) -> bool:
    return value > bound and not math.isclose(value, bound, rel_tol=_REL_TOL, abs_tol=1e-12)


def _below(value: float, bound: float) -> bool:
    return value < bound and not math.isclose(value, bound, rel_tol=_REL_TOL, abs_tol=1e-12)


def _mcg(value: float) -> str:
    return quantity(value, "mcg")


def _per_day(value: float) -> str:
    return quantity(value, "mcg/day")


def _pct(fraction: float) -> str:
    return percent(fraction)


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def _elapsed(at: datetime, now: datetime) -> str:
    minutes = int((now - at).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _since(at: datetime, now: datetime, event: str) -> str:
    """'3 h 05 min after <event>', or 'before <event> (at ...)' when the record is later than now."""
    if at > now:
        return f"before {event} (recorded at {_when(at)})"
    return f"{_elapsed(at, now)} after {event}"


@dataclass(frozen=True, slots=True)
class _Group:
    label: str
    maintenance: tuple[float, float]
    increase: tuple[float, float]
    hard_max: float
    hard_max_who: str


def _group(patient: PatientContext, settings: LimitSettings) -> _Group:
    """Children take the children's bounds whatever the origin."""
    s = settings
    if age_group(patient.age_years, s) is AgeGroup.CHILD:
        return _Group(
            f"a child under {number(s.child_below_age_years, 'years')}",
            (s.maintenance_child_min_mcg_per_day, s.maintenance_child_max_mcg_per_day),
            (s.increase_min_fraction_child, s.increase_max_fraction_child),
            s.hard_max_daily_dose_child_mcg,
            "a child",
        )
    if patient.origin is Origin.CEREBRAL:
        maintenance = (s.maintenance_cerebral_min_mcg_per_day, s.maintenance_cerebral_max_mcg_per_day)
        increase = (s.increase_min_fraction_cerebral, s.increase_max_fraction_cerebral)
    else:
        maintenance = (s.maintenance_spinal_min_mcg_per_day, s.maintenance_spinal_max_mcg_per_day)
        increase = (s.increase_min_fraction_spinal, s.increase_max_fraction_spinal)
    return _Group(f"{patient.origin.value} origin", maintenance, increase, s.hard_max_daily_dose_adult_mcg, "an adult")


def _step_bounds(group: _Group, patient: PatientContext, settings: LimitSettings) -> tuple[float, float, str]:
    """(smallest usual, largest allowed) increase and the phase's words: titration, or the label's
    maintenance bounds per origin (children by their origin: the label gives no other)."""
    lo, hi = group.increase
    if not patient.maintenance:
        return lo, hi, group.label
    if patient.origin is Origin.CEREBRAL:
        hi = settings.maintenance_increase_max_fraction_cerebral
        lo = settings.increase_min_fraction_cerebral
    else:
        hi = settings.maintenance_increase_max_fraction_spinal
        lo = settings.increase_min_fraction_spinal
    return lo, hi, f"{patient.origin.value} origin in maintenance"


# -- checks --------------------------------------------------------------------------------


def product_named(name: str, products: tuple[DrugProduct, ...] = DRUG_PRODUCTS) -> DrugProduct | None:
    """The product of that name (case and spacing ignored), or None."""
    key = " ".join(name.split()).casefold()
    return next((p for p in products if p.name.casefold() == key), None)


def assess_concentration(
    concentration_mcg_per_ml: float,
    settings: LimitSettings = DEFAULT_LIMITS,
    product: DrugProduct | None = None,
) -> Assessment:
    """Is the drug in the reservoir a known strength, and if not one sold, a confirmed dilution?

    With the ``product`` chosen (at a refill), its own strengths: one product's strength is
    another's dilution (1,000 mcg/mL is sold as Gablofen, not as Lioresal Intrathecal).
    """
    c = concentration_mcg_per_ml
    top = settings.max_concentration_mcg_per_ml
    if not _num(c) or not math.isfinite(c) or c <= 0 or _above(c, top):
        shown = quantity(c, "mcg/mL") if _num(c) else repr(c)
        message = (
            f"concentration {shown} is not a known strength: it must be above 0 and at most {quantity(top, 'mcg/mL')}"
        )
        return Assessment((Finding("concentration_known", Severity.REFUSE, f"{message} (highest sold, {_LABEL})"),))
    if product is not None:
        if any(math.isclose(c, x, rel_tol=_REL_TOL) for x in product.concentrations_mcg_per_ml):
            return Assessment()
        listed = ", ".join(number(x, "mcg/mL") for x in product.concentrations_mcg_per_ml)
        message = (
            f"{product.name} is sold as {listed} mcg/mL, not {quantity(c, 'mcg/mL')} (its label): confirm the solution "
            "was prepared by dilution to this strength, or check the product and the vial"
        )
        return Assessment((Finding("concentration_not_in_product", Severity.CONFIRM, message),))
    sold = settings.library_concentrations_mcg_per_ml
    if any(math.isclose(c, s, rel_tol=_REL_TOL) for s in sold):
        return Assessment()
    listed = ", ".join(number(s, "mcg/mL") for s in sold)
    message = (
        f"concentration {quantity(c, 'mcg/mL')} is not one sold ({listed} mcg/mL, {_LABEL}): "
        "confirm the solution was prepared by dilution to this strength"
    )
    return Assessment((Finding("concentration_dilution", Severity.CONFIRM, message),))


def assess_program_change(
    old: DosingProgram | None,
    new: DosingProgram,
    concentration_mcg_per_ml: float,
    patient: PatientContext,
    history: DoseHistory,
    now: datetime,
    settings: LimitSettings = DEFAULT_LIMITS,
) -> Assessment:
    """Every limit reached by replacing ``old`` (None for a first program) with ``new`` at ``now``.

    Includes the concentration's assessment. The daily dose is steps plus daily boluses.
    """
    found = list(assess_concentration(concentration_mcg_per_ml, settings).findings)
    if patient.age_years < settings.labelled_from_age_years:
        found.append(
            Finding(
                "age_below_label",
                Severity.CONFIRM,
                f"the patient is {patient.age_years:.1f} years old: the label's use in children is from age "
                f"{number(settings.labelled_from_age_years, 'years')} (safety and effectiveness below it are not "
                "established, "
                f"{_LABEL}): confirm",
            )
        )
    group = _group(patient, settings)
    new_dose = new.daily_dose_mcg
    old_dose = old.daily_dose_mcg if old is not None else None

    if not math.isfinite(new_dose) or _above(new_dose, group.hard_max):
        found.append(
            Finding(
                "daily_dose_hard_max",
                Severity.REFUSE,
                f"new daily dose {_per_day(new_dose)} is above the hard maximum {_per_day(group.hard_max)} "
                f"for {group.hard_max_who} ({_UNVERIFIED})",
            )
        )
    elif new_dose <= 0 or math.isclose(new_dose, 0, abs_tol=1e-12):
        found.append(
            Finding(
                "stop_infusion",
                Severity.CONFIRM,
                f"the new program delivers {_per_day(0)}: stopping the infusion risks baclofen withdrawal, "
                f"which can kill ({_LABEL}); never program a stop before an MRI on a peristaltic pump: "
                "the magnet stalls the motor and infusion resumes by itself after the scan (device manual)",
            )
        )
    else:
        lo, hi = group.maintenance
        if _below(new_dose, lo) or _above(new_dose, hi):
            found.append(
                Finding(
                    "maintenance_range",
                    Severity.CONFIRM,
                    f"new daily dose {_per_day(new_dose)} is outside the usual {number(lo, 'mcg/day')} to "
                    f"{_per_day(hi)} "
                    f"for {group.label} ({_LABEL}): confirm this dose",
                )
            )

    if old_dose is not None and math.isfinite(new_dose) and new_dose > 0 and not old_dose > 0:
        found.extend(assess_restart(new_dose, history, now, settings))
    if old_dose is not None and old_dose > 0 and math.isfinite(new_dose):
        if _above(new_dose, old_dose):
            found.extend(_increase_findings(old_dose, new_dose, group, patient, history, now, settings))
        elif _below(new_dose, old_dose) and new_dose > 0:
            found.extend(_reduction_findings(old_dose, new_dose, settings))
        if _below(new_dose, old_dose):
            found.extend(assess_high_risk(patient, "a stop" if new_dose <= 0 else "a reduction"))
    return Assessment(tuple(found))


def assess_first_program(
    program: DosingProgram,
    concentration_mcg_per_ml: float,
    patient: PatientContext,
    now: datetime,
    screening_start_mcg_per_day: float | None = None,
    settings: LimitSettings = DEFAULT_LIMITS,
) -> Assessment:
    """Every limit on the program a pump starts with at its implant (or registration).

    The limits of any program (the hard maximum, the usual maintenance range for the patient's
    group, the concentration library), and the label's start: ``screening_start_mcg_per_day`` is
    the starting dose the positive screening trial gives (2 x the effective dose, 1 x when its
    effect lasted over 8 h); starting above it must be confirmed.
    """
    found = list(
        assess_program_change(None, program, concentration_mcg_per_ml, patient, DoseHistory(), now, settings).findings
    )
    dose = program.daily_dose_mcg
    start = screening_start_mcg_per_day
    if start is None:
        found.append(
            Finding(
                "no_positive_screening",
                Severity.CONFIRM,
                f"no positive screening trial is recorded for this patient: patients should first respond to a "
                f"screening dose before long-term infusion ({_LABEL}); confirm (for example screened elsewhere, "
                "or a pump registered years after its implant)",
            )
        )
    elif math.isfinite(dose) and _above(dose, start):
        found.append(
            Finding(
                "start_above_screening",
                Severity.CONFIRM,
                f"the first daily dose {_per_day(dose)} is above the start the screening gives, {_per_day(start)} "
                f"({_LABEL}: 2 x the effective screening dose, 1 x when its effect lasted over 8 h): confirm",
            )
        )
    return Assessment(tuple(found))


def _increase_findings(
    old_dose: float,
    new_dose: float,
    group: _Group,
    patient: PatientContext,
    history: DoseHistory,
    now: datetime,
    settings: LimitSettings,
) -> list[Finding]:
    found: list[Finding] = []
    change = f"daily dose raised from {number(old_dose, 'mcg/day')} to {_per_day(new_dose)}"
    wait = timedelta(hours=settings.no_increase_after_implant_hours)
    if patient.implanted_at is not None and now - patient.implanted_at < wait:
        found.append(
            Finding(
                "no_increase_first_24h",
                Severity.REFUSE,
                f"{change} {_since(patient.implanted_at, now, 'the pump was implanted')}: no increase in the "
                f"first {quantity(settings.no_increase_after_implant_hours, 'h')} ({_LABEL}); "
                f"allowed from {_when(patient.implanted_at + wait)}",
            )
        )
    gap = timedelta(hours=settings.min_hours_between_increases)
    if history.last_increase_at is not None and now - history.last_increase_at < gap:
        found.append(
            Finding(
                "max_one_increase_per_24h",
                Severity.REFUSE,
                f"{change} {_since(history.last_increase_at, now, 'the last increase')}: at most one increase "
                f"per {quantity(settings.min_hours_between_increases, 'h')} ({_LABEL}); "
                f"next increase allowed from {_when(history.last_increase_at + gap)}",
            )
        )
    lo, hi, who = _step_bounds(group, patient, settings)
    step = new_dose / old_dose - 1
    if _above(new_dose, old_dose * (1 + hi)):
        found.append(
            Finding(
                "increase_step_max",
                Severity.REFUSE,
                f"increase of +{_pct(step)} ({number(old_dose, 'mcg/day')} to {_per_day(new_dose)}) is above "
                f"+{_pct(hi)} "
                f"for {who} ({_LABEL}); at most {_per_day(old_dose * (1 + hi))}",
            )
        )
    elif _below(new_dose, old_dose * (1 + lo)):
        found.append(
            Finding(
                "increase_step_min",
                Severity.CONFIRM,
                f"increase of +{_pct(step)} ({number(old_dose, 'mcg/day')} to {_per_day(new_dose)}) is below the usual "
                f"+{_pct(lo)} for {who} ({_LABEL}): confirm this small step",
            )
        )
    high, most = settings.high_daily_dose_mcg, settings.high_dose_max_increase_fraction
    if _above(new_dose, high) and _above(new_dose, old_dose * (1 + most)):
        found.append(
            Finding(
                "large_increase_at_high_dose",
                Severity.CONFIRM,
                f"increase of +{_pct(step)} (+{_per_day(new_dose - old_dose)}) to {_per_day(new_dose)}, above "
                f"{_per_day(high)}: at high doses a step above +{_pct(most)} is a large dose ({_CLINIC}); if tone "
                "has not responded, check the catheter and the pump before going higher: confirm",
            )
        )
    return found


#: The drug label's boxed warning, in short (Lioresal Intrathecal and Gablofen prescribing
#: information, BOXED WARNING).
BOXED_WARNING = (
    "abrupt discontinuation of intrathecal baclofen, whatever the cause, has led to high fever, altered "
    "mental status, exaggerated rebound spasticity and muscle rigidity, in rare cases rhabdomyolysis, "
    "multiple organ-system failure and death; this patient is at apparent risk (injury at T6 or above, "
    "communication difficulties or earlier withdrawal): give them special attention"
)


def assess_high_risk(patient: PatientContext, what: str) -> list[Finding]:
    """The boxed warning, to confirm, at a stop, a reduction or a refill of a high-risk patient."""
    if not patient.high_risk:
        return []
    return [
        Finding(
            "boxed_warning_high_risk",
            Severity.CONFIRM,
            f"{what}: {BOXED_WARNING} (drug label, boxed warning); check the program, the refill date and the "
            "pump's alarms, and that the family knows the early signs of withdrawal: confirm",
        )
    ]


def assess_restart(
    new_dose: float, history: DoseHistory, now: datetime, settings: LimitSettings = DEFAULT_LIMITS
) -> list[Finding]:
    """A restart after a stop longer than ``restart_after_stop_hours`` above ``restart_max_fraction``
    of the dose before it is confirmed: tolerance falls without drug (an overdose path)."""
    stopped, before = history.stopped_at, history.dose_before_stop_mcg
    if stopped is None or not before or now - stopped < timedelta(hours=settings.restart_after_stop_hours):
        return []
    most = before * settings.restart_max_fraction
    if not _above(new_dose, most):
        return []
    return [
        Finding(
            "restart_after_stop",
            Severity.CONFIRM,
            f"restarting at {_per_day(new_dose)} {_since(stopped, now, 'the infusion stopped')} "
            f"(it was {_per_day(before)}): after more than {quantity(settings.restart_after_stop_hours, 'h')} without "
            "drug "
            f"tolerance falls and the old dose can overdose ({_UNVERIFIED}); restart at no more than "
            f"{_pct(settings.restart_max_fraction)} ({_per_day(most)}) and titrate back, or confirm",
        )
    ]


def _reduction_findings(old_dose: float, new_dose: float, settings: LimitSettings) -> list[Finding]:
    most = settings.max_reduction_fraction
    if not _below(new_dose, old_dose * (1 - most)):
        return []
    return [
        Finding(
            "reduction_step_max",
            Severity.CONFIRM,
            f"reduction of {_pct(1 - new_dose / old_dose)} ({number(old_dose, 'mcg/day')} to {_per_day(new_dose)}) is "
            "more than "
            f"{_pct(most)} ({_LABEL}: reductions of 10 to 20 %); a large drop risks withdrawal: confirm, "
            f"or reduce to no less than {_per_day(old_dose * (1 - most))}",
        )
    ]


def assess_bolus(
    dose_mcg: float,
    patient: PatientContext,
    history: DoseHistory,
    now: datetime,
    settings: LimitSettings = DEFAULT_LIMITS,
) -> Assessment:
    """Every limit reached by giving a bolus of ``dose_mcg`` starting at ``now``.

    ``patient`` is taken for symmetry with the other checks; the bolus limits do not yet differ by
    age group or origin.
    """
    found: list[Finding] = []
    positive = _num(dose_mcg) and math.isfinite(dose_mcg) and dose_mcg > 0
    if not positive:
        shown = _mcg(dose_mcg) if _num(dose_mcg) else repr(dose_mcg)
        found.append(Finding("bolus_dose_positive", Severity.REFUSE, f"bolus dose {shown} must be a number above 0"))
    elif _above(dose_mcg, settings.bolus_hard_max_mcg):
        found.append(
            Finding(
                "bolus_dose_max",
                Severity.REFUSE,
                f"bolus of {_mcg(dose_mcg)} is above the hard maximum {_mcg(settings.bolus_hard_max_mcg)} "
                f"({_CLINIC}: the label's largest screening dose)",
            )
        )
    elif _above(dose_mcg, settings.bolus_confirm_above_mcg):
        found.append(
            Finding(
                "bolus_dose_high",
                Severity.CONFIRM,
                f"bolus of {_mcg(dose_mcg)} is above {_mcg(settings.bolus_confirm_above_mcg)} ({_CLINIC}; "
                "overdose has followed a 25 mcg bolus in a sensitive adult): confirm this dose",
            )
        )

    lockout = timedelta(minutes=settings.bolus_lockout_minutes)
    recent = [(at, dose) for at, dose in history.boluses if now - at < lockout]
    if recent:
        at, dose = max(recent, key=lambda b: b[0])
        found.append(
            Finding(
                "bolus_lockout",
                Severity.REFUSE,
                f"a bolus of {_mcg(dose)} started at {_when(at)}"
                f"{f', {_elapsed(at, now)} ago' if at <= now else ' (later than now)'}: wait at least "
                f"{quantity(settings.bolus_lockout_minutes, 'min')} between boluses ({_UNVERIFIED}); "
                f"next bolus allowed from {_when(at + lockout)}",
            )
        )

    day = timedelta(hours=24)
    given = sum(dose for at, dose in history.boluses if now - at < day)
    if positive and _above(given + dose_mcg, settings.bolus_daily_max_mcg):
        found.append(
            Finding(
                "bolus_daily_max",
                Severity.REFUSE,
                f"this {_mcg(dose_mcg)} bolus would bring boluses in the last 24 h to {_mcg(given + dose_mcg)} "
                f"({_mcg(given)} already given), above {_mcg(settings.bolus_daily_max_mcg)} per 24 h "
                f"({_UNVERIFIED})",
            )
        )
    return Assessment(tuple(found))


#: For the mg/mcg slip message: the unit 1000x larger than the canonical one, per dimension.
_LARGER_UNIT: dict[Dimension, str] = {
    Dimension.DOSE: "mg",
    Dimension.RATE: "mg/day",
    Dimension.CONCENTRATION: "mg/mL",
}
#: The unit 1000x smaller than the canonical one, per dimension.
_SMALLER_UNIT: dict[Dimension, str] = {Dimension.VOLUME: "µL"}


def assess_entry(entered: Quantity, current: float | None, settings: LimitSettings = DEFAULT_LIMITS) -> Assessment:
    """Question a number typed without a unit that is hundreds of times off the current value.

    ``current`` is in the same canonical unit as ``entered.value``.
    """
    if not entered.bare or current is None or current <= 0 or entered.value <= 0:
        return Assessment()
    factor = settings.bare_number_factor
    ratio = entered.value / current
    canonical = CANONICAL_UNIT[entered.dimension]
    v = entered.value
    if ratio >= factor or math.isclose(ratio, factor, rel_tol=_REL_TOL):
        how = f"{number(ratio)}× the current {quantity(current, canonical)}"
        smaller = _SMALLER_UNIT.get(entered.dimension)
        if smaller:
            hint = f"did you mean {quantity(v, smaller)} (= {quantity(v / 1000, canonical)})?"
        else:
            hint = f"did you mean {quantity(v / 1000, canonical)} (1000× less)?"
    elif ratio <= 1 / factor or math.isclose(ratio, 1 / factor, rel_tol=_REL_TOL):
        how = f"1/{number(1 / ratio)} of the current {quantity(current, canonical)}"
        larger = _LARGER_UNIT.get(entered.dimension)
        if larger:
            hint = f"did you mean {quantity(v, larger)} (= {quantity(v * 1000, canonical)})?"
        else:
            hint = f"did you mean {quantity(v * 1000, canonical)} (1000× more)?"
    else:
        return Assessment()
    message = (
        f"'{entered.given}' has no unit, so it reads as {quantity(v, canonical)}, {how}: {hint} "
        f"Confirm, or write the unit ({_UNVERIFIED}: a bare number {number(factor)}× off is questioned)"
    )
    return Assessment((Finding("bare_number_1000x", Severity.CONFIRM, message),))

"""Refill arithmetic: discrepancy, overfill, bridge and priming boluses, the next refill date.

At a refill the nurse withdraws everything left in the reservoir and measures it. The pump
only *counts* what it pumped, so the volume it expects can differ from what comes out: a
difference beyond the threshold must be investigated (pump over/under-infusion, a catheter
problem, or an earlier pocket fill). After the refill the programmer prints the new
low-reservoir alarm date; the clinic books the next refill a few days before it, and never
later than drug stability allows (180 days). Sources: ``shared/domain.md``, "Refills".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from itb.domain.formatting import number, quantity
from itb.domain.limits import (
    DEFAULT_LIMITS,
    Assessment,
    DoseHistory,
    Finding,
    LimitSettings,
    PatientContext,
    Severity,
    assess_bolus,
)
from itb.domain.scheduling import DEFAULT_BOOKING, BookingSettings


@dataclass(frozen=True, slots=True)
class RefillSettings:
    """Every refill rule a clinic may change, with its source."""

    #: flag a withdrawn volume that differs from the expected by more than this (domain.md: "about 2 mL")
    discrepancy_ml: float = 2.0
    #: the named option "1 mL for 20 mL pumps" (domain.md: "some clinics use 1 mL for 20 mL pumps")
    small_pump_discrepancy_ml: float = 1.0
    use_small_pump_threshold: bool = False
    small_pump_capacity_ml: float = 20.0
    #: also flag a difference beyond the device's labelled flow tolerance x volume pumped (domain.md)
    use_device_tolerance: bool = True

    # (When to book the next refill is the clinic calendar's: scheduling.BookingSettings.)


DEFAULT_REFILL = RefillSettings()


def _beyond(difference_ml: float, bound_ml: float) -> bool:
    """``|difference| > bound``, not counting float noise (4.4 - 2.4 mL is 2 mL, not 2.0000000000000004)."""
    size = abs(difference_ml)
    return size > bound_ml and not math.isclose(size, bound_ml, rel_tol=1e-9, abs_tol=1e-9)


def discrepancy_threshold_ml(capacity_ml: float, settings: RefillSettings = DEFAULT_REFILL) -> float:
    if settings.use_small_pump_threshold and capacity_ml <= settings.small_pump_capacity_ml:
        return settings.small_pump_discrepancy_ml
    return settings.discrepancy_ml


def assess_refill(
    *,
    expected_ml: float,
    withdrawn_ml: float,
    added_ml: float,
    capacity_ml: float,
    pumped_since_refill_ml: float | None = None,
    flow_tolerance: float | None = None,
    settings: RefillSettings = DEFAULT_REFILL,
) -> Assessment:
    """Every finding of a refill: overfill (refused) and a discrepancy (to be confirmed)."""
    findings: list[Finding] = []
    if added_ml > capacity_ml:
        findings.append(
            Finding(
                "refill_overfill",
                Severity.REFUSE,
                f"adding {quantity(added_ml, 'mL')} would overfill the {quantity(capacity_ml, 'mL')} reservoir: never "
                "fill past its size",
            )
        )
    if added_ml <= 0:
        findings.append(Finding("refill_volume_positive", Severity.REFUSE, "the volume added must be more than 0 mL"))
    difference = withdrawn_ml - expected_ml
    threshold = discrepancy_threshold_ml(capacity_ml, settings)
    reasons = []
    if _beyond(difference, threshold):
        reasons.append(f"more than {quantity(threshold, 'mL')}")
    if settings.use_device_tolerance and pumped_since_refill_ml and flow_tolerance:
        tolerance_ml = flow_tolerance * pumped_since_refill_ml
        if _beyond(difference, max(tolerance_ml, 0.1)):
            reasons.append(
                f"more than the device tolerance ({flow_tolerance:.1%} of {quantity(pumped_since_refill_ml, 'mL')})"
            )
    if reasons:
        more_or_less = "more" if difference > 0 else "less"
        cause = (
            "the pump under-infused, or the catheter is blocked"
            if difference > 0
            else "the pump over-infused, or drug was injected outside the pump (pocket fill): watch for overdose"
        )
        findings.append(
            Finding(
                "refill_discrepancy",
                Severity.CONFIRM,
                f"withdrew {quantity(withdrawn_ml, 'mL')}, expected {expected_ml:.2f} mL: {abs(difference):.2f} mL "
                f"{more_or_less} "
                f"than expected ({' and '.join(reasons)}); investigate: {cause}",
            )
        )
    return Assessment(tuple(findings))


def assess_level_after_refill(added_ml: float, low_reservoir_alarm_ml: float, empty_at: datetime | None) -> Assessment:
    """A refill that leaves the reservoir at or below its low-reservoir alarm volume is confirmed,
    with the empty date shown (device manuals: the alarm sounds at once, and the pump soon stops;
    a slip such as 0.001 mL added is caught here, not 10 minutes later)."""
    if not 0 < added_ml <= low_reservoir_alarm_ml:
        return Assessment()
    empty = f"it is empty at {empty_at.isoformat(' ', 'minutes')}" if empty_at else "it will empty soon"
    message = (
        f"adding {quantity(added_ml, 'mL')} leaves the reservoir at or below its "
        f"{quantity(low_reservoir_alarm_ml, 'mL')} "
        "low-reservoir "
        f"alarm: the alarm sounds at once and {empty}; confirm, or add more"
    )
    return Assessment((Finding("refill_at_or_below_alarm", Severity.CONFIRM, message),))


@dataclass(frozen=True, slots=True)
class BridgeBolus:
    """Pushes the old-concentration drug out of the pump tubing and catheter at the old rate.

    Delivered on top of the program (which already runs at the new concentration): while the
    dead volume clears, the volume flow is that of the old concentration, so the patient gets
    the prescribed dose. ``dose_mcg`` is what the pump counts (at the new concentration).
    """

    dead_volume_ml: float
    dose_mcg: float
    duration_minutes: float


def bridge_bolus(
    *,
    dead_volume_ml: float,
    old_concentration_mcg_per_ml: float,
    new_concentration_mcg_per_ml: float,
    daily_dose_mcg: float,
) -> BridgeBolus | Finding | None:
    """The bridge bolus after a concentration change; None when the concentration is unchanged.

    For a higher new concentration the extra volume flow is ``D/c_old - D/c_new`` for
    ``V c_old / D`` days, i.e. ``V (c_new - c_old)`` mcg counted at the new concentration. For a
    lower one no bolus can help (the old, stronger drug would flow faster): a finding says so.
    """
    c_old, c_new, dose = old_concentration_mcg_per_ml, new_concentration_mcg_per_ml, daily_dose_mcg
    if c_new == c_old or dead_volume_ml <= 0:
        return None
    if c_new < c_old:
        return concentration_decrease(dead_volume_ml, c_old, c_new, dose).finding()
    if dose <= 0:
        return Finding(
            "bridge_without_dose",
            Severity.CONFIRM,
            "the program delivers nothing: the old drug stays in the catheter until dosing restarts",
        )
    return BridgeBolus(
        dead_volume_ml=dead_volume_ml,
        dose_mcg=dead_volume_ml * (c_new - c_old),
        duration_minutes=dead_volume_ml * c_old / dose * 1440,
    )


@dataclass(frozen=True, slots=True)
class ConcentrationDecrease:
    """A refill to a weaker drug: the stronger drug left in the tubing and catheter flows first.

    At the new (faster) volume flow ``D / c_new`` the dead volume ``V`` of the old drug is
    given at ``c_old / c_new`` times the dose for ``V c_new / D`` days: an extra
    ``V (c_old - c_new)`` mcg (the issue's case: 2,000 to 500 mcg/mL, 0.2 mL: 4x for 12 h, +300 mcg).
    Two ways keep the delivered dose right (device manuals): aspirate the dead volume through
    the catheter access port before filling, or run a temporary program scaled by
    ``c_new / c_old`` (the old drug then flows at the prescribed dose) for ``V c_old / D`` days,
    then restore the program.
    """

    dead_volume_ml: float
    old_concentration_mcg_per_ml: float
    new_concentration_mcg_per_ml: float
    daily_dose_mcg: float

    @property
    def factor(self) -> float:
        return self.old_concentration_mcg_per_ml / self.new_concentration_mcg_per_ml

    @property
    def overshoot_mcg(self) -> float:
        return self.dead_volume_ml * (self.old_concentration_mcg_per_ml - self.new_concentration_mcg_per_ml)

    @property
    def overshoot_hours(self) -> float:
        if self.daily_dose_mcg <= 0:
            return float("inf")
        return self.dead_volume_ml * self.new_concentration_mcg_per_ml / self.daily_dose_mcg * 24

    @property
    def temporary_daily_dose_mcg(self) -> float:
        """The program's dose while the old drug clears (what the pump counts at the new concentration)."""
        return self.daily_dose_mcg / self.factor

    @property
    def temporary_hours(self) -> float:
        if self.daily_dose_mcg <= 0:
            return float("inf")
        return self.dead_volume_ml * self.old_concentration_mcg_per_ml / self.daily_dose_mcg * 24

    def finding(self) -> Finding:
        return Finding(
            "bridge_lower_concentration",
            Severity.CONFIRM,
            f"the new concentration ({quantity(self.new_concentration_mcg_per_ml, 'mcg/mL')}) is lower than the old "
            f"({number(self.old_concentration_mcg_per_ml, 'mcg/mL')}): left as it is, the "
            f"{quantity(self.dead_volume_ml, 'mL')} of old drug in "
            f"the tubing and catheter is given at {number(self.factor)}x the dose for about "
            f"{quantity(self.overshoot_hours, 'h')} "
            f"(+{quantity(self.overshoot_mcg, 'mcg')}). Instead aspirate {quantity(self.dead_volume_ml, 'mL')} through "
            "the catheter "
            f"access port before filling, or program {quantity(self.temporary_daily_dose_mcg, 'mcg/day')} (every step "
            "x "
            f"{number(1 / self.factor)}) for {quantity(self.temporary_hours, 'h')}, then restore "
            f"{quantity(self.daily_dose_mcg, 'mcg/day')} (device manual); confirm the way chosen",
        )


def concentration_decrease(
    dead_volume_ml: float,
    old_concentration_mcg_per_ml: float,
    new_concentration_mcg_per_ml: float,
    daily_dose_mcg: float,
) -> ConcentrationDecrease:
    return ConcentrationDecrease(
        dead_volume_ml, old_concentration_mcg_per_ml, new_concentration_mcg_per_ml, daily_dose_mcg
    )


@dataclass(frozen=True, slots=True)
class PrimingBolus:
    """Fills a new or revised catheter (and the pump tubing) with drug."""

    volume_ml: float
    dose_mcg: float
    duration_minutes: float


def priming_bolus(
    *,
    catheter_length_cm: float,
    catheter_ml_per_cm: float,
    pump_tubing_ml: float,
    concentration_mcg_per_ml: float,
    duration_minutes: float = 30.0,
) -> PrimingBolus:
    """Catheter length -> volume -> the dose the pump counts to push that volume."""
    volume = catheter_length_cm * catheter_ml_per_cm + pump_tubing_ml
    return PrimingBolus(volume, volume * concentration_mcg_per_ml, duration_minutes)


def assess_priming(
    priming: PrimingBolus,
    dead_volume_ml: float,
    primed: bool,
    patient: PatientContext,
    history: DoseHistory,
    now: datetime,
    limits: LimitSettings = DEFAULT_LIMITS,
) -> Assessment:
    """A priming bolus fills an empty catheter and the pump tubing, nothing more.

    Device manuals: priming is for a new or revised catheter; what is pushed beyond the
    catheter's volume reaches the spinal fluid. So a priming volume above the recorded dead
    volume (tubing + catheter) is refused (``priming_volume_max``), and priming a catheter that
    is already full of drug (``primed``) is a bolus into the patient: confirmed, with its dose in
    mcg, and judged by every bolus limit (re-priming 0.13 mL of 2,000 mcg/mL pushes 260 mcg).
    """
    found: list[Finding] = []
    conc = priming.dose_mcg / priming.volume_ml if priming.volume_ml > 0 else 0.0
    if priming.volume_ml > dead_volume_ml and not math.isclose(priming.volume_ml, dead_volume_ml, rel_tol=1e-9):
        extra = priming.volume_ml - dead_volume_ml
        found.append(
            Finding(
                "priming_volume_max",
                Severity.REFUSE,
                f"priming {quantity(priming.volume_ml, 'mL')} is more than the pump tubing and catheter hold "
                f"({quantity(dead_volume_ml, 'mL')}): the extra {quantity(extra, 'mL')} would push "
                f"{quantity(extra * conc, 'mcg')} into the "
                "spinal fluid (device manual: prime only the catheter's volume)",
            )
        )
    if primed:
        found.append(
            Finding(
                "priming_catheter_primed",
                Severity.CONFIRM,
                f"the catheter is already full of drug: priming it pushes {quantity(priming.volume_ml, 'mL')} x "
                f"{quantity(conc, 'mcg/mL')} "
                f"= {quantity(priming.dose_mcg, 'mcg')} into the spinal fluid in "
                f"{quantity(priming.duration_minutes, 'min')}, "
                "a bolus "
                "(device manual: prime only a new or revised catheter, or one emptied by aspiration): confirm",
            )
        )
        found.extend(assess_bolus(priming.dose_mcg, patient, history, now, limits).findings)
    return Assessment(tuple(found))


def next_refill_date(
    refilled_at: datetime, low_reservoir_alarm_at: datetime | None, booking: BookingSettings = DEFAULT_BOOKING
) -> datetime:
    """A few days before the low-reservoir alarm, and never beyond the drug-stability limit."""
    latest = refilled_at + timedelta(days=booking.max_refill_interval_days)
    if low_reservoir_alarm_at is None:
        return latest
    return max(refilled_at, min(latest, low_reservoir_alarm_at - timedelta(days=booking.refill_margin_days)))

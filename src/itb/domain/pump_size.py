"""Which reservoir size and which concentration, for the refill interval a family can manage.

Source: ``shared/domain.md``: reservoirs of 20 and 40 mL; concentrations 500, 1000, 2000 mcg/mL
(others by dilution); a low-reservoir alarm commonly at 2 mL; the clinic books the refill a few
days (3-5) before the alarm; drug stability caps the interval at 180 days. The seed: refills every
1-6 months; a smaller pump suits a small child better.

For each pump (smallest first) and each concentration on hand (lowest first)::

    usable volume   = capacity - low-reservoir alarm volume
    daily volume    = dose / concentration
    refill interval = min(usable / daily volume - margin days, stability days)

The advice is the first pair whose interval is at least the interval needed: the smallest pump
(20 mL when both work: smaller, better for children), then the lowest concentration that is
enough (more volume per mcg: a small error in volume is a smaller error in dose). When no pair is
enough, the pair with the longest interval, with ``meets_need`` false. Planning help in words,
not a prescription.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from itb.domain.errors import InvalidInput, Violation, bound_violation
from itb.domain.scheduling import DEFAULT_BOOKING

#: reservoir sizes sold (domain.md)
CAPACITIES_ML = (20.0, 40.0)


@dataclass(frozen=True, slots=True)
class SizeAdvice:
    capacity_ml: float
    concentration_mcg_per_ml: float
    refill_interval_days: float
    #: the interval reaches the family's (or the stability cap when the family's is longer)
    meets_need: bool
    reasons: tuple[str, ...]

    @property
    def concentration(self) -> float:
        return self.concentration_mcg_per_ml


def refill_interval_days(
    capacity_ml: float,
    concentration_mcg_per_ml: float,
    daily_dose_mcg: float,
    low_alarm_ml: float = 2.0,
    margin_days: float = DEFAULT_BOOKING.refill_margin_days,
    stability_days: float = DEFAULT_BOOKING.max_refill_interval_days,
) -> float:
    """Days between refills: to the low-reservoir alarm less the margin, never beyond stability, never below 0."""
    usable = capacity_ml - low_alarm_ml
    if daily_dose_mcg <= 0:
        return float(stability_days)
    days = usable / (daily_dose_mcg / concentration_mcg_per_ml) - margin_days
    return max(0.0, min(days, float(stability_days)))


def advise_size(
    expected_daily_dose_mcg: float,
    concentrations_on_hand: tuple[float, ...],
    max_refill_interval_days_family_can_manage: float,
    low_alarm_ml: float = 2.0,
    margin_days: float = DEFAULT_BOOKING.refill_margin_days,
    stability_days: float = DEFAULT_BOOKING.max_refill_interval_days,
    capacities_ml: tuple[float, ...] = CAPACITIES_ML,
) -> SizeAdvice:
    """The smallest pump and lowest concentration on hand whose refill interval is long enough.

    ``max_refill_interval_days_family_can_manage`` is the interval the family needs between visits
    (their visits can be no closer than this); longer than ``stability_days`` it is capped there.
    """
    dose = expected_daily_dose_mcg
    family = max_refill_interval_days_family_can_manage
    problems = [
        v
        for v in (
            bound_violation("expected_daily_dose_mcg", dose, minimum=0, required=True),
            bound_violation("max_refill_interval_days_family_can_manage", family, minimum=0, required=True),
            bound_violation("low_alarm_ml", low_alarm_ml, minimum=0, required=True),
            bound_violation("margin_days", margin_days, minimum=0, required=True),
            bound_violation("stability_days", stability_days, minimum=0, strict=True, required=True),
        )
        if v
    ]
    if not concentrations_on_hand:
        problems.append(Violation("concentrations_on_hand", "at least one concentration is required"))
    for i, c in enumerate(concentrations_on_hand):
        bad = bound_violation(f"concentrations_on_hand[{i}]", c, minimum=0, strict=True, required=True)
        if bad:
            problems.append(bad)
    if not capacities_ml:
        problems.append(Violation("capacities_ml", "at least one reservoir size is required"))
    for i, cap in enumerate(capacities_ml):
        if not (isinstance(cap, int | float) and math.isfinite(cap) and cap > low_alarm_ml):
            problems.append(Violation(f"capacities_ml[{i}]", f"must be more than the alarm volume ({low_alarm_ml:g})"))
    if problems:
        raise InvalidInput(problems)

    needed = min(family, stability_days)
    reasons: list[str] = []
    if family > stability_days:
        reasons.append(
            f"The family could manage {family:g} days, but drug stability caps every refill at {stability_days:g} "
            f"days: aiming for {stability_days:g}."
        )
    tried: list[tuple[float, float, float]] = []
    chosen: tuple[float, float, float] | None = None
    for cap in sorted(capacities_ml):
        for conc in sorted(set(concentrations_on_hand)):
            days = refill_interval_days(cap, conc, dose, low_alarm_ml, margin_days, stability_days)
            tried.append((cap, conc, days))
            if days >= needed:
                chosen = (cap, conc, days)
                break
        if chosen:
            break

    meets = chosen is not None
    if chosen is None:
        chosen = max(tried, key=lambda x: (x[2], -x[0], -x[1]))
    cap, conc, days = chosen
    for c, k, d in tried:
        if (c, k) != (cap, conc) and d < needed:
            reasons.append(f"{c:g} mL at {k:g} mcg/mL: refill every {d:.0f} days, shorter than the {needed:g} needed.")
    reasons.append(_describe(cap, conc, days, dose, low_alarm_ml, margin_days, stability_days))
    if meets:
        reasons.append(f"That reaches the {needed:g} days needed between refills.")
        if cap == min(capacities_ml) and len(capacities_ml) > 1:
            reasons.append(f"The {cap:g} mL pump is enough: the smaller pump is preferred (it suits children better).")
        if conc != min(concentrations_on_hand):
            reasons.append("A lower concentration would not last long enough.")
        else:
            reasons.append(
                "The lowest concentration on hand is enough (more volume per mcg: dosing errors stay small)."
            )
    else:
        reasons.append(
            f"No pump and concentration on hand reaches the {needed:g} days needed: this is the longest interval "
            "possible; consider a higher concentration (by the pharmacy) or refills closer together."
        )
    return SizeAdvice(cap, conc, days, meets, tuple(reasons))


def _describe(cap: float, conc: float, days: float, dose: float, alarm: float, margin: float, stability: float) -> str:
    usable = cap - alarm
    if dose <= 0:
        return (
            f"{cap:g} mL at {conc:g} mcg/mL: no daily dose, so drug stability sets the interval ({stability:g} days)."
        )
    volume = dose / conc
    to_alarm = usable / volume
    text = (
        f"{cap:g} mL pump at {conc:g} mcg/mL: {dose:g} mcg/day is {volume:.3g} mL/day; {usable:g} mL usable above the "
        f"{alarm:g} mL alarm lasts {to_alarm:.0f} days, less {margin:g} days of margin: refill every {days:.0f} days"
    )
    if to_alarm - margin > stability:
        text += f" (capped at {stability:g} days by drug stability)"
    return text + "."

"""Constant-flow pumps: the dose through the concentration, the dilution that makes it, and what
changes the flow.

A constant-flow pump is gas-driven through a flow restrictor, with no battery and no electronics:
its flow (mL/day) is fixed at the factory, so the daily dose changes only through the
concentration the clinic fills it with (``shared/domain.md``, The pump). Its flow rises with body
temperature and with lower ambient pressure, so heat, fever and altitude give more drug a day and
empty the pump sooner; the manuals warn against high altitude. Pure functions, no I/O.

Every rule is a named constant with its source. No source read gives a percentage for any flow
condition, so none is given (``percent_change`` is None): the software says which way the flow
goes, never by how much.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from itb.domain.errors import MAX_PHYSICAL, InvalidInput, Violation, bound_violation

#: What a syringe measures: volumes are rounded to 0.1 mL (a clinic setting, after the task's
#: "round volumes to what a syringe measures (0.1 mL)"; a 10 mL or 20 mL syringe is graduated in
#: 0.2-0.5 mL, a 1-5 mL syringe in 0.1 mL or less: use the finest syringe that holds the volume)
SYRINGE_RESOLUTION_ML = 0.1

#: domain.md, The pump: "constant-flow pumps ... the dose changes only through the concentration"
DOSE_THROUGH_CONCENTRATION_ONLY = True

#: domain.md, The drug label (concentrations sold: up to 2,000 mcg/mL) via LimitSettings; here
#: only the physical bound of ``itb.domain.errors`` is applied: the clinic's limits judge the
#: concentration (``itb.domain.limits.assess_concentration``)
MAX_CONCENTRATION_INPUT = MAX_PHYSICAL

#: the sources of the flow conditions (see ``itb.domain.catalogue`` for what each says)
DOMAIN_SOURCE = "shared/domain.md, The pump: flow rises with body temperature and lower ambient pressure (altitude)"
CODMAN_3000_SUPPORT = "J&J MedTech, CODMAN 3000 Constant Flow Pump Patient Support: body heat drives the propellant"
CODMAN_3000_FAQ = "Codman, CODMAN 3000 patient FAQ (codmanpumps.com/Patient_pain_faq.asp)"
#: Healthwise care sheet "Hepatic Artery Infusion Pump Placement: What to Expect at Home" (a
#: gas-driven constant-flow pump in the liver's artery): "An increase in your body temperature can
#: make the pump release medicine at a faster rate ... avoid strenuous activity, hot tubs"
HEALTHWISE_HAI = "Healthwise, Hepatic Artery Infusion Pump Placement: What to Expect at Home"
#: "Implanted Infusion Pumps", a fact sheet for patients and families (a hospital's, copy on
#: scribd.com): "Temperatures above 102°F (38.9°C) can change the flow rate of the pump ... a quick
#: shower won't affect your pump, but you should not use hot tubs, saunas, or steam rooms". It
#: does not say which kind of pump: (unverified) for constant-flow pumps.
IMPLANTED_PUMPS_FACT_SHEET = "Implanted Infusion Pumps fact sheet for patients and families (scribd.com copy)"

#: the fact sheet's hot-environment threshold, °C (102 °F) (unverified: pump kind not named)
HOT_ENVIRONMENT_THRESHOLD_C = 38.9


class FlowDirection(StrEnum):
    FASTER = "faster"  # more drug a day than nominal; the pump empties sooner
    SLOWER = "slower"  # less drug a day than nominal


@dataclass(frozen=True, slots=True)
class FlowCondition:
    """One documented condition that changes a constant-flow pump's flow."""

    name: str
    title: str  # a heading a family reads
    direction: FlowDirection
    #: False when the source says only that the flow changes and the direction is inferred from
    #: domain.md's rule (lower ambient pressure: faster; so higher: slower)
    direction_from_source: bool
    clinician: str  # the guidance sentence for a clinician
    family: str  # what happens and what to do, in plain words for a family
    source: str
    #: the change in flow the source gives, as a fraction, or None (no source read gives one)
    percent_change: float | None = None
    #: a threshold the source names (°C for heat), or None
    threshold: float | None = None


FEVER = FlowCondition(
    name="fever",
    title="If your child has a fever",
    direction=FlowDirection.FASTER,
    direction_from_source=True,
    clinician="Fever raises a constant-flow pump's flow: the patient gets more than the nominal daily dose "
    "for as long as it lasts, and the pump empties early. Watch for overdose signs, and after a long fever "
    "compare the residual volume at refill and consider bringing the refill forward. A fever can also be a "
    "sign of withdrawal or infection: assess it as such.",
    family="When your child has a fever, this pump gives medicine faster than usual. "
    "Watch for signs of too much medicine, like being very sleepy or floppy. "
    "Call the clinic now: a fever can also be a sign of too little medicine or of an infection.",
    source=f"{DOMAIN_SOURCE}; {CODMAN_3000_SUPPORT}; {HEALTHWISE_HAI}",
)

HEAT_OVER_PUMP = FlowCondition(
    name="heat_over_pump",
    title="Heating pads, hot-water bottles, hot tubs and saunas",
    direction=FlowDirection.FASTER,
    direction_from_source=True,
    clinician="Local heat over the pump (heating pad, hot-water bottle) makes a constant-flow pump flow "
    "slightly faster; hot tubs, saunas and steam rooms warm the whole body. Advise against both; a short "
    "shower is fine.",
    family="Heat on the pump makes it give medicine faster. "
    "Do not put a heating pad or a hot-water bottle on the skin over the pump. "
    "Skip hot tubs, saunas and steam rooms. A quick shower is fine.",
    source=f"{CODMAN_3000_FAQ}: a heating pad or hot-water bottle over the pump, 'slightly faster'; "
    f"{HEALTHWISE_HAI}: hot tubs; {IMPLANTED_PUMPS_FACT_SHEET}: above 38.9 °C (102 °F), hot tubs, saunas, "
    "steam rooms; a quick shower does not affect the pump (unverified for constant-flow pumps)",
    threshold=HOT_ENVIRONMENT_THRESHOLD_C,
)

ALTITUDE = FlowCondition(
    name="altitude",
    title="Mountains and other high places",
    direction=FlowDirection.FASTER,
    direction_from_source=True,
    clinician="Lower ambient pressure at altitude raises a constant-flow pump's flow; a manual warns against "
    "high altitude. Before a stay in the mountains, plan with the family: the patient may get more than the "
    "nominal dose and the pump may empty early.",
    family="High up, in the mountains, the air pressure is lower and this pump gives medicine faster. "
    "Ask the clinic before a trip to a high place.",
    source=DOMAIN_SOURCE,
)

FLYING = FlowCondition(
    name="flying",
    title="Flying",
    direction=FlowDirection.FASTER,
    direction_from_source=False,
    clinician="An aircraft cabin is pressurised below ground-level pressure, so a constant-flow pump may flow "
    "faster during a flight (the direction follows domain.md's lower-pressure rule; no source read gives the "
    "size of the effect). Discuss flights with the family beforehand.",
    family="The air in a plane is thinner than on the ground, so this pump may give medicine faster. "
    "Tell the clinic before you book a flight. Ask what to watch for on the trip.",
    source=f"{DOMAIN_SOURCE} (applied to a pressurised cabin: an inference, unverified)",
)

DIVING = FlowCondition(
    name="diving",
    title="Diving",
    direction=FlowDirection.SLOWER,
    direction_from_source=False,
    clinician="Scuba and deep-sea diving (and hyperbaric treatment) expose the pump to higher ambient pressure, "
    "which the manufacturer says changes the flow; by domain.md's pressure rule it slows. Advise against "
    "diving; snorkelling and swimming do not affect the flow. Plan a hyperbaric treatment with the pump's maker.",
    family="Deep water pushes hard on the pump and changes how much medicine it gives. "
    "Your child should not go scuba diving or deep-sea diving. "
    "Swimming and snorkelling are fine.",
    source=f"{CODMAN_3000_FAQ}: 'increased pressures will affect the flow rate'; snorkelling and swimming "
    f"have no effect; direction: {DOMAIN_SOURCE} (inferred)",
)

#: the documented conditions, in the order a family page shows them
FLOW_CONDITIONS: tuple[FlowCondition, ...] = (FEVER, HEAT_OVER_PUMP, ALTITUDE, FLYING, DIVING)
FLOW_CONDITIONS_BY_NAME: dict[str, FlowCondition] = {c.name: c for c in FLOW_CONDITIONS}


def flow_conditions() -> tuple[FlowCondition, ...]:
    """The documented conditions that change a constant-flow pump's flow, each with its direction."""
    return FLOW_CONDITIONS


# ----------------------------------------------------------------------------- the dose through the concentration
def _raise(violations: list[Violation | None]) -> None:
    found = [v for v in violations if v is not None]
    if found:
        raise InvalidInput(found)


def concentration_for_dose(target_daily_dose_mcg: float, flow_ml_per_day: float) -> float:
    """The concentration (mcg/mL) that gives ``target_daily_dose_mcg`` at the pump's fixed flow.

    A constant-flow pump's flow cannot be changed, so this is the only way to a new dose (domain.md).
    A dose of 0 is a fill with no drug (0 mcg/mL).
    """
    _raise(
        [
            bound_violation("target_daily_dose_mcg", target_daily_dose_mcg, minimum=0.0, required=True),
            bound_violation("flow_ml_per_day", flow_ml_per_day, minimum=0.0, strict=True, required=True),
        ]
    )
    return target_daily_dose_mcg / flow_ml_per_day


def daily_dose_mcg(concentration_mcg_per_ml: float, flow_ml_per_day: float) -> float:
    """The daily dose a constant-flow pump gives at its flow with that concentration."""
    return concentration_mcg_per_ml * flow_ml_per_day


def to_syringe(volume_ml: float, resolution_ml: float = SYRINGE_RESOLUTION_ML) -> float:
    """A volume rounded to what a syringe measures (halves round up)."""
    steps = math.floor(volume_ml / resolution_ml + 0.5 + 1e-9)
    return round(steps * resolution_ml, 10)


@dataclass(frozen=True, slots=True)
class Dilution:
    """Stock and diluent to draw, as measured, and what the mixture really is.

    Unpacks as ``stock_ml, diluent_ml = dilution(...)``.
    """

    stock_ml: float
    diluent_ml: float
    target_concentration_mcg_per_ml: float
    stock_concentration_mcg_per_ml: float
    #: the concentration of the mixture actually drawn (after rounding to the syringe)
    actual_concentration_mcg_per_ml: float
    #: the daily dose at the pump's flow with the actual concentration, when a flow is given
    actual_daily_dose_mcg: float | None = None

    @property
    def total_ml(self) -> float:
        return round(self.stock_ml + self.diluent_ml, 10)

    @property
    def deviation_fraction(self) -> float:
        """(actual − target) / target: what the rounding to the syringe changed."""
        target = self.target_concentration_mcg_per_ml
        return (self.actual_concentration_mcg_per_ml - target) / target

    def __iter__(self) -> Iterator[float]:
        return iter((self.stock_ml, self.diluent_ml))


def dilution(
    target_concentration: float,
    stock_concentration: float,
    total_volume_ml: float,
    *,
    flow_ml_per_day: float | None = None,
    capacity_ml: float | None = None,
    resolution_ml: float = SYRINGE_RESOLUTION_ML,
) -> Dilution:
    """Stock and preservative-free diluent (mL) that make ``total_volume_ml`` at the target (mcg/mL).

    Volumes are rounded to ``resolution_ml`` (what a syringe measures); the result reports the
    concentration that rounding really gives and, with the pump's ``flow_ml_per_day``, the daily
    dose. Refused (``InvalidInput``, every violation at once): a concentration or volume not above 0,
    a target above the stock (a dilution cannot concentrate), a total above the pump's
    ``capacity_ml`` (never overfill, domain.md Refills), and a target so weak that the stock
    rounds to nothing.
    """
    found: list[Violation | None] = [
        bound_violation(
            "target_concentration", target_concentration, minimum=0.0, strict=True, maximum=MAX_CONCENTRATION_INPUT,
            required=True,
        ),
        bound_violation(
            "stock_concentration", stock_concentration, minimum=0.0, strict=True, maximum=MAX_CONCENTRATION_INPUT,
            required=True,
        ),
        bound_violation("total_volume_ml", total_volume_ml, minimum=0.0, strict=True, required=True),
        bound_violation("resolution_ml", resolution_ml, minimum=0.0, strict=True, maximum=1.0, required=True),
    ]  # fmt: skip
    if flow_ml_per_day is not None:
        found.append(bound_violation("flow_ml_per_day", flow_ml_per_day, minimum=0.0, strict=True))
    if capacity_ml is not None:
        found.append(bound_violation("capacity_ml", capacity_ml, minimum=0.0, strict=True))
    _raise(found)
    if target_concentration > stock_concentration:
        found.append(
            Violation(
                "target_concentration",
                f"must not be above the stock ({stock_concentration:g} mcg/mL): dilution only lowers a "
                f"concentration, got {target_concentration:g}",
            )
        )
    total = to_syringe(total_volume_ml, resolution_ml)
    if total <= 0:
        found.append(Violation("total_volume_ml", f"must be at least {resolution_ml:g} mL, got {total_volume_ml:g}"))
    if capacity_ml is not None and total > capacity_ml + 1e-9:
        found.append(
            Violation(
                "total_volume_ml", f"must not be above the pump's {capacity_ml:g} mL: never overfill, got {total:g}"
            )
        )
    _raise(found)
    stock = to_syringe(total * target_concentration / stock_concentration, resolution_ml)
    if stock <= 0:
        _raise(
            [
                Violation(
                    "target_concentration",
                    f"is too weak to measure from a {stock_concentration:g} mcg/mL stock in {total:g} mL "
                    f"(less than {resolution_ml / 2:g} mL of stock): use a weaker stock",
                )
            ]
        )
    diluent = round(total - stock, 10)
    actual = stock_concentration * stock / total
    return Dilution(
        stock_ml=stock,
        diluent_ml=diluent,
        target_concentration_mcg_per_ml=target_concentration,
        stock_concentration_mcg_per_ml=stock_concentration,
        actual_concentration_mcg_per_ml=actual,
        actual_daily_dose_mcg=None if flow_ml_per_day is None else daily_dose_mcg(actual, flow_ml_per_day),
    )


__all__ = [
    "ALTITUDE",
    "DIVING",
    "FEVER",
    "FLOW_CONDITIONS",
    "FLOW_CONDITIONS_BY_NAME",
    "FLYING",
    "HEAT_OVER_PUMP",
    "SYRINGE_RESOLUTION_ML",
    "Dilution",
    "FlowCondition",
    "FlowDirection",
    "concentration_for_dose",
    "daily_dose_mcg",
    "dilution",
    "flow_conditions",
    "to_syringe",
]

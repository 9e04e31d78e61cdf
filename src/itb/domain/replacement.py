"""When the pump's battery ends, when to operate, and the priming bolus of the new pump.

Source: ``shared/domain.md``, "The pump" (battery row): the peristaltic pump lasts typically 5-7
years depending on the daily volume pumped, with a hard stop at 7 years; after the elective
replacement indicator (ERI) the pump runs about 90 days more, then stops (end of service); clinics
plan replacement about 6 months before the stop. The seed: "replaced every 4-7 years".

The ERI date comes, best first, from

1. the pump itself (``eri_at``, when it has been reached or the programmer reports it);
2. the fraction of the battery's energy used so far (``energy_used_fraction``): the rest of the
   budget at the current daily volume;
3. the implant date and the current daily volume (``battery.days_to_eri``), as if that volume had
   been pumped since the implant.

A hard stop (``battery.hard_life_years``) caps the end of service whatever the estimate.

Pure: nothing is imported from the rest of ``itb`` but the domain; any object with the attributes
of ``ReplaceableDevice`` will do (e.g. ``itb.domain.devices.DeviceModel``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from itb.domain.errors import InvalidInput, Violation, bound_violation
from itb.domain.refill import PrimingBolus, priming_bolus

DAYS_PER_YEAR = 365.25


class Battery(Protocol):
    """The battery model of ``itb.domain.devices.BatteryModel``."""

    @property
    def eri_budget_units(self) -> float: ...

    @property
    def pumping_units_per_ml(self) -> float: ...

    @property
    def idle_units_per_day(self) -> float: ...

    @property
    def end_of_service_after_eri_days(self) -> float: ...

    @property
    def hard_life_years(self) -> float | None: ...

    def days_to_eri(self, daily_volume_ml: float) -> float: ...


class ReplaceableDevice(Protocol):
    """What the replacement plan needs to know about a pump model."""

    @property
    def name(self) -> str: ...

    @property
    def battery(self) -> Battery: ...

    @property
    def internal_tubing_ml(self) -> float: ...

    @property
    def catheter_ml_per_cm(self) -> float: ...

    @property
    def typical_catheter_length_cm(self) -> float: ...


@dataclass(frozen=True, slots=True)
class ReplacementSettings:
    #: operate this long before the end of service (domain.md: "about 6 months before the stop")
    lead_days: float = 183.0
    #: duration of the new pump's priming bolus (as ``refill.priming_bolus``'s default)
    priming_duration_minutes: float = 30.0


DEFAULT_REPLACEMENT = ReplacementSettings()


@dataclass(frozen=True, slots=True)
class ReplacementPlan:
    eri_at: datetime
    end_of_service_at: datetime
    #: the date to operate by: ``lead_days`` before the end of service
    surgery_by: datetime
    #: for the new pump: its internal tubing plus the catheter (see the notes)
    priming: PrimingBolus
    #: how ``eri_at`` was found, in words
    basis: str
    #: ``now`` is past ``surgery_by``
    overdue: bool
    notes: tuple[str, ...]


def replacement_plan(
    model: ReplaceableDevice,
    implanted_at: datetime,
    *,
    daily_volume_ml: float,
    now: datetime,
    concentration_mcg_per_ml: float,
    energy_used_fraction: float | None = None,
    eri_at: datetime | None = None,
    catheter_length_cm: float | None = None,
    new_model: ReplaceableDevice | None = None,
    settings: ReplacementSettings = DEFAULT_REPLACEMENT,
) -> ReplacementPlan:
    """ERI, end of service, the date to operate by, and the new pump's priming bolus.

    Give at most one of ``eri_at`` and ``energy_used_fraction``; with neither, the ERI is estimated
    from the implant date at ``daily_volume_ml``. ``catheter_length_cm`` defaults to the model's
    typical length; ``new_model`` (the pump put in) to ``model``.
    """
    problems = [
        v
        for v in (
            bound_violation("daily_volume_ml", daily_volume_ml, minimum=0, required=True),
            bound_violation(
                "concentration_mcg_per_ml", concentration_mcg_per_ml, minimum=0, strict=True, required=True
            ),
            bound_violation("energy_used_fraction", energy_used_fraction, minimum=0, maximum=1),
            bound_violation("catheter_length_cm", catheter_length_cm, minimum=0),
        )
        if v
    ]
    if eri_at is not None and energy_used_fraction is not None:
        problems.append(Violation("eri_at", "give either the ERI date or the energy used, not both"))
    if implanted_at > now:
        problems.append(Violation("implanted_at", "must not be after now"))
    if problems:
        raise InvalidInput(problems)

    battery = model.battery
    after_eri = timedelta(days=battery.end_of_service_after_eri_days)
    notes: list[str] = []
    if eri_at is not None:
        eri = eri_at
        basis = "the ERI date reported by the pump"
    elif energy_used_fraction is not None:
        per_day = battery.idle_units_per_day + battery.pumping_units_per_ml * daily_volume_ml
        left_days = (1 - energy_used_fraction) * battery.eri_budget_units / per_day
        eri = now + timedelta(days=left_days)
        basis = (
            f"{energy_used_fraction:.0%} of the battery used; the rest lasts {left_days:.0f} days at "
            f"{daily_volume_ml:g} mL/day"
        )
        if energy_used_fraction >= 1:
            notes.append("The battery's budget is used up: the ERI is reached (non-critical alarm).")
    else:
        eri = implanted_at + timedelta(days=battery.days_to_eri(daily_volume_ml))
        basis = (
            f"estimated from the implant date as if {daily_volume_ml:g} mL/day had been pumped since; "
            "interrogate the pump for its own ERI estimate"
        )

    if battery.hard_life_years is not None:
        hard_stop = implanted_at + timedelta(days=battery.hard_life_years * DAYS_PER_YEAR)
        if eri + after_eri > hard_stop:
            eri = hard_stop - after_eri
            notes.append(
                f"Hard stop: the {model.name} pump stops {battery.hard_life_years:g} years after implant "
                f"({hard_stop:%Y-%m-%d}) whatever the battery has left; the ERI comes "
                f"{battery.end_of_service_after_eri_days:g} days before."
            )
    end_of_service = eri + after_eri
    surgery_by = end_of_service - timedelta(days=settings.lead_days)
    overdue = now > surgery_by
    if now >= end_of_service:
        notes.append(
            "End of service: the pump has stopped and no drug flows (critical alarm). Replace it now and "
            "watch for withdrawal."
        )
    elif now >= eri:
        left = (end_of_service - now).days
        notes.append(f"ERI reached: the pump stops in about {left} days. Operate before then.")
    elif overdue:
        notes.append(
            f"Past the planned date ({settings.lead_days:g} days before the stop): schedule the replacement now."
        )

    new = new_model if new_model is not None else model
    length = new.typical_catheter_length_cm if catheter_length_cm is None else catheter_length_cm
    priming = priming_bolus(
        catheter_length_cm=length,
        catheter_ml_per_cm=new.catheter_ml_per_cm,
        pump_tubing_ml=new.internal_tubing_ml,
        concentration_mcg_per_ml=concentration_mcg_per_ml,
        duration_minutes=settings.priming_duration_minutes,
    )
    notes.append(
        f"Priming fills the new pump's tubing ({new.internal_tubing_ml:g} mL) and {length:g} cm of catheter "
        f"({priming.volume_ml:.3g} mL, {priming.dose_mcg:.3g} mcg at {concentration_mcg_per_ml:g} mcg/mL), "
        "for a catheter emptied at the operation. If the catheter still holds drug, prime only the tubing "
        "(catheter length 0): priming a full catheter gives its content as an extra bolus (overdose risk)."
    )
    return ReplacementPlan(eri, end_of_service, surgery_by, priming, basis, overdue, tuple(notes))

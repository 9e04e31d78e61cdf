"""Device models and their documented parameters.

Two families are modelled after public manuals (see ``shared/domain.md``); numbers marked
*(unverified)* are reasonable defaults kept as named parameters a clinic can change.

Battery energy model
--------------------
Energy is counted in *battery units*, one unit being what the pump's electronics use in one
day at rest. Pumping costs ``pumping_units_per_ml`` more per mL the pump believes it has
moved. ERI is reached when ``eri_budget_units`` are used; the pump then runs
``end_of_service_after_eri_days`` more and stops for good (end of service). So at a steady
daily volume ``v`` (mL/day)::

    days to ERI = eri_budget_units / (1 + pumping_units_per_ml * v)

and a higher daily volume shortens the life. The constants are calibrated so that over the
clinically used range of daily volume (0.05-2 mL/day) the peristaltic model lives 7.0 to
4.0 years to end of service (the seed's "4 to 7 years"; hard stop at 7 years), and the
valve-gated model 12 to 10 years ("10+ years").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DAYS_PER_YEAR = 365.25


class MriBehaviour(StrEnum):
    #: the magnet stalls the motor; infusion stops for the scan and resumes after
    MOTOR_STALL = "motor_stall"
    #: a flow-activated safety valve shuts on unexpected flow and stays shut until reset
    SAFETY_VALVE = "safety_valve"


@dataclass(frozen=True, slots=True)
class BatteryModel:
    eri_budget_units: float
    pumping_units_per_ml: float
    end_of_service_after_eri_days: float = 90.0
    #: ERI at the latest this long after implant (a hard stop), or None
    hard_life_years: float | None = None
    idle_units_per_day: float = 1.0

    def days_to_eri(self, daily_volume_ml: float) -> float:
        """Days from a new battery to ERI at a steady daily volume."""
        days = self.eri_budget_units / (self.idle_units_per_day + self.pumping_units_per_ml * daily_volume_ml)
        if self.hard_life_years is not None:
            days = min(days, self.hard_life_years * DAYS_PER_YEAR - self.end_of_service_after_eri_days)
        return days

    def years_of_service(self, daily_volume_ml: float) -> float:
        """Years from implant to end of service at a steady daily volume."""
        return (self.days_to_eri(daily_volume_ml) + self.end_of_service_after_eri_days) / DAYS_PER_YEAR


@dataclass(frozen=True, slots=True)
class DeviceModel:
    name: str
    description: str
    reservoir_sizes_ml: tuple[float, ...]
    default_low_reservoir_alarm_ml: float
    #: volume of the pump's internal tubing from reservoir to catheter port (unverified)
    internal_tubing_ml: float
    #: catheter volume per cm (0.0026 mL/cm from one manufacturer's manual)
    catheter_ml_per_cm: float
    #: catheter length assumed when a scenario gives no catheter volume (unverified)
    typical_catheter_length_cm: float
    #: labelled accuracy, as a fraction of the programmed volume
    labelled_flow_tolerance: float
    #: what is measured in patients, as a fraction (documentation and synthetic data)
    typical_flow_error: float
    battery: BatteryModel
    mri: MriBehaviour
    #: flow that shuts the valve-gated pump's safety valve (about 10 uL)
    safety_valve_closure_ml: float = 0.010
    #: alarm tones: non-critical single tone about hourly; critical two-tone (unverified: 10 min)
    non_critical_alarm_repeat_minutes: float = 60.0
    critical_alarm_repeat_minutes: float = 10.0
    #: the rate the pump falls back to after a low battery reset, mL/day, or None where no source
    #: describes a reset. Medtronic's 2011 advisory "SynchroMed II Reduced Battery Performance"
    #: ("What is Happening") says only "reset to a very low level"; 0.048 mL/day, the peristaltic
    #: pump's lowest programmable rate, is taken for it (unverified).
    low_battery_reset_rate_ml_per_day: float | None = None

    @property
    def typical_catheter_volume_ml(self) -> float:
        """Internal tubing plus a typical catheter: the default for ``catheter_volume_ml``."""
        return self.internal_tubing_ml + self.typical_catheter_length_cm * self.catheter_ml_per_cm


PERISTALTIC = DeviceModel(
    name="peristaltic",
    description="peristaltic pump, behaves like the SynchroMed II family",
    reservoir_sizes_ml=(20.0, 40.0),
    default_low_reservoir_alarm_ml=2.0,
    internal_tubing_ml=0.19,
    catheter_ml_per_cm=0.0026,
    typical_catheter_length_cm=50.0,
    labelled_flow_tolerance=0.145,
    typical_flow_error=0.015,  # measured +1 % to +2.5 % per refill
    battery=BatteryModel(
        eri_budget_units=2521.0,
        pumping_units_per_ml=0.419,
        end_of_service_after_eri_days=90.0,
        hard_life_years=7.0,
    ),
    mri=MriBehaviour.MOTOR_STALL,
    low_battery_reset_rate_ml_per_day=0.048,  # (unverified)
)

VALVE_GATED = DeviceModel(
    name="valve-gated",
    description="valve-gated constant-pressure pump, behaves like Prometra II",
    reservoir_sizes_ml=(20.0, 40.0),
    default_low_reservoir_alarm_ml=2.0,
    internal_tubing_ml=0.05,
    catheter_ml_per_cm=0.0026,
    typical_catheter_length_cm=50.0,
    labelled_flow_tolerance=0.15,  # required 85-115 % of programmed
    typical_flow_error=-0.03,  # about 97 % of programmed
    battery=BatteryModel(
        eri_budget_units=4316.0,
        pumping_units_per_ml=0.1057,
        end_of_service_after_eri_days=90.0,  # (unverified)
        hard_life_years=None,
    ),
    mri=MriBehaviour.SAFETY_VALVE,
)

MODELS: dict[str, DeviceModel] = {m.name: m for m in (PERISTALTIC, VALVE_GATED)}

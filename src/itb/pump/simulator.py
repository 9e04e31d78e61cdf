"""Scenarios: one implanted pump run through months or years of life (``itb simulate``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from itb.domain.program import DosingProgram
from itb.pump.engine import ImplantedPump, PumpSetup


@dataclass(frozen=True, slots=True)
class Refill:
    at: datetime
    added_ml: float
    concentration_mcg_per_ml: float


@dataclass(frozen=True, slots=True)
class ProgramChange:
    at: datetime
    program: DosingProgram


@dataclass(frozen=True, slots=True)
class Bolus:
    at: datetime
    dose_mcg: float
    duration_minutes: float
    kind: str = "single"


@dataclass(frozen=True, slots=True)
class BolusCancel:
    at: datetime


@dataclass(frozen=True, slots=True)
class Mri:
    at: datetime
    duration_minutes: float
    recovery_delay_minutes: float | None = None


@dataclass(frozen=True, slots=True)
class Interrogate:
    at: datetime


@dataclass(frozen=True, slots=True)
class ClearAlarms:
    at: datetime


@dataclass(frozen=True, slots=True)
class ValveReset:
    at: datetime


Action = Refill | ProgramChange | Bolus | BolusCancel | Mri | Interrogate | ClearAlarms | ValveReset


@dataclass(frozen=True, slots=True)
class Scenario:
    start: datetime
    until: datetime
    setup: PumpSetup
    implanted_at: datetime
    reservoir_ml: float
    concentration_mcg_per_ml: float
    program: DosingProgram
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    scenario: Scenario
    pump: ImplantedPump


def apply(pump: ImplantedPump, action: Action) -> None:
    match action:
        case Refill():
            pump.refill(action.added_ml, action.concentration_mcg_per_ml)
        case ProgramChange():
            pump.set_program(action.program)
        case Bolus():
            pump.start_bolus(action.dose_mcg, action.duration_minutes, action.kind)
        case BolusCancel():
            pump.cancel_boluses()
        case Mri():
            pump.mri(action.duration_minutes, action.recovery_delay_minutes)
        case Interrogate():
            pump.interrogate()
        case ClearAlarms():
            pump.clear_alarms()
        case ValveReset():
            pump.reset_valve()


def run(scenario: Scenario) -> Outcome:
    """Apply the actions in time order (ties in the order given) and run to ``until``."""
    pump = new_pump(scenario)
    for action in sorted(scenario.actions, key=lambda a: a.at):
        pump.advance_to(pump.t_of(action.at))
        apply(pump, action)
    pump.advance_to(pump.t_of(scenario.until))
    return Outcome(scenario, pump)


def new_pump(scenario: Scenario) -> ImplantedPump:
    """The pump as the scenario starts it (its actions not applied)."""
    start = scenario.start
    day0 = datetime(start.year, start.month, start.day)
    return ImplantedPump(
        scenario.setup,
        t=(start - day0).total_seconds(),
        implanted_t=(scenario.implanted_at - day0).total_seconds(),
        reservoir_ml=scenario.reservoir_ml,
        concentration_mcg_per_ml=scenario.concentration_mcg_per_ml,
        program=scenario.program,
        day0=day0,
    )

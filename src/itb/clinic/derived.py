"""What the record implies *now*, derived when it is read (never copied into a column).

A pump record holds its last reading (``reading_at``, ``reading_reservoir_ml``, the program and
concentration then); the reservoir now is the program run forward from it, exactly, and a
patient's age is taken from the birth date on the day it is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select

from itb.adapters.db import models as m
from itb.contracts.forecast import parse_program
from itb.domain.calibration import (
    FlowEstimate,
    FlowSettings,
    learn_flow,
    plausible_forecast,
    pump_prior,
    refill_history,
)
from itb.domain.catalogue import PumpKind, kind_of
from itb.domain.errors import InvalidInput
from itb.domain.forecast import Forecast, ReservoirState
from itb.domain.program import DosingProgram
from itb.domain.reading import age_years_on, estimate_reservoir_ml
from itb.domain.worklist import earliest


def program_of(pump: m.Pump) -> DosingProgram:
    """The program the pump ran at its last reading."""
    errs: list = []
    program = parse_program(pump.program, "program", errs)
    if errs:
        raise InvalidInput(errs)
    return program


def is_constant_flow(pump: m.Pump) -> bool:
    """A fixed-flow pump (no electronics): its program is its flow times the concentration."""
    return kind_of(pump.model) is PumpKind.CONSTANT_FLOW


def last_reading_state(pump: m.Pump) -> ReservoirState:
    return ReservoirState(
        at=pump.reading_at,
        reservoir_capacity_ml=pump.reservoir_capacity_ml,
        reservoir_ml=pump.reading_reservoir_ml,
        concentration_mcg_per_ml=pump.concentration_mcg_per_ml,
        low_reservoir_alarm_ml=pump.low_reservoir_alarm_ml,
        empty_ml=pump.empty_ml,
    )


def estimated_reservoir_ml(pump: m.Pump, now: datetime) -> float:
    """The volume the pump counts at ``now``: its last reading, with the program run forward to now."""
    if pump.status != "implanted":
        return pump.reading_reservoir_ml
    return estimate_reservoir_ml(last_reading_state(pump), program_of(pump), now)


def age_years(patient: m.Patient, now: datetime) -> float:
    return age_years_on(patient.birth_date, now.date())


def refill_rows(pump_id: int) -> Select[tuple[datetime, float, float, float]]:
    """A pump's refills as ``learned_flow`` takes them: (at, expected, withdrawn, added), oldest first."""
    return (
        select(m.Refill.at, m.Refill.expected_ml, m.Refill.withdrawn_ml, m.Refill.added_ml)
        .where(m.Refill.pump_id == pump_id)
        .order_by(m.Refill.at, m.Refill.id)
    )


@dataclass(frozen=True, slots=True)
class LearnedFlow:
    """A pump's learned flow and what the clinic plans from it."""

    estimate: FlowEstimate
    #: the ratio planned with: the estimate's upper bound over the coming interval
    upper: float
    #: the volume of the last fill (the full reservoir when it is not known: the most it can be)
    fill_ml: float
    #: the forecast from the last reading at ``upper``: the earliest plausible alarm and empty
    forecast: Forecast


def learned_flow(
    pump: m.Pump, refills: Iterable[tuple[datetime, float, float, float]], settings: FlowSettings
) -> LearnedFlow:
    """The pump's flow learned from its refills ``(at, expected, withdrawn, added)`` oldest first,
    and the forecast from its last reading at the upper bound of that flow."""
    history, fill = refill_history(pump.implant_fill_ml, refills)
    estimate = learn_flow(pump_prior(pump.model, settings), history, settings)
    state, program = last_reading_state(pump), program_of(pump)
    horizon = 0.0 if pump.low_reservoir_alarm_at is None else (pump.low_reservoir_alarm_at - state.at).days
    upper = estimate.upper(settings, max(horizon, 0.0))
    fill_ml = state.reservoir_capacity_ml if fill is None else fill
    return LearnedFlow(estimate, upper, fill_ml, plausible_forecast(state, program, fill_ml, upper))


def earliest_alarm_at(pump: m.Pump) -> datetime | None:
    """The low-reservoir alarm the clinic plans from: the earliest plausible one (the learned flow),
    or the pump's own date when that is earlier or the other is not known."""
    return earliest(pump.low_reservoir_alarm_at, pump.plausible_alarm_at)


def earliest_empty_at(pump: m.Pump) -> datetime | None:
    return earliest(pump.empty_at, pump.plausible_empty_at)

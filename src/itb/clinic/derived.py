"""What the record implies *now*, derived when it is read (never copied into a column).

A pump record holds its last reading (``reading_at``, ``reading_reservoir_ml``, the program and
concentration then); the reservoir now is the program run forward from it, exactly, and a
patient's age is taken from the birth date on the day it is asked for.
"""

from __future__ import annotations

from datetime import datetime

from itb.adapters.db import models as m
from itb.contracts.forecast import parse_program
from itb.domain.errors import InvalidInput
from itb.domain.forecast import ReservoirState
from itb.domain.program import DosingProgram
from itb.domain.reading import age_years_on, estimate_reservoir_ml


def program_of(pump: m.Pump) -> DosingProgram:
    """The program the pump ran at its last reading."""
    errs: list = []
    program = parse_program(pump.program, "program", errs)
    if errs:
        raise InvalidInput(errs)
    return program


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

"""A pump's reading, and what follows from it now (estimated, never copied)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from itb.domain.forecast import ReservoirState
from itb.domain.program import DosingProgram, OneTimeBolus, Step
from itb.domain.reading import age_years_on, estimate_reservoir_ml

AT = datetime(2026, 3, 1, 9, 30)
STATE = ReservoirState(at=AT, reservoir_capacity_ml=20, reservoir_ml=18.5, concentration_mcg_per_ml=500,
                       low_reservoir_alarm_ml=2.0)  # fmt: skip


def test_the_reservoir_now_runs_the_program_forward_from_the_reading() -> None:
    program = DosingProgram.simple_continuous(250)  # 0.5 mL a day
    assert estimate_reservoir_ml(STATE, program, AT + timedelta(days=3)) == pytest.approx(17.0)
    assert estimate_reservoir_ml(STATE, program, AT - timedelta(days=3)) == 18.5  # nothing runs backwards


def test_a_flexible_program_is_run_step_by_step() -> None:
    program = DosingProgram((Step(0, 0.0), Step(12 * 60, 500.0)))  # nothing until noon, then 1 mL/day
    noon = datetime(2026, 3, 1, 12, 0)
    assert estimate_reservoir_ml(STATE, program, noon) == pytest.approx(18.5)
    assert estimate_reservoir_ml(STATE, program, noon + timedelta(hours=6)) == pytest.approx(18.5 - 0.25)


def test_a_one_time_bolus_counts_for_the_part_of_it_before_now() -> None:
    bolus = OneTimeBolus(AT + timedelta(hours=1), 100.0, 60)  # 0.2 mL over an hour
    program = DosingProgram((Step(0, 0.0),), (), (bolus,))
    assert estimate_reservoir_ml(STATE, program, AT + timedelta(hours=1, minutes=30)) == pytest.approx(18.4)
    assert estimate_reservoir_ml(STATE, program, AT + timedelta(days=2)) == pytest.approx(18.3)


def test_the_reservoir_never_goes_below_empty() -> None:
    program = DosingProgram.simple_continuous(2000)  # 4 mL a day
    assert estimate_reservoir_ml(STATE, program, AT + timedelta(days=30)) == 0.0


def test_the_age_is_taken_on_the_day_asked() -> None:
    assert age_years_on(date(2012, 6, 1), date(2026, 6, 1)) == pytest.approx(14.0, abs=0.01)
    assert age_years_on(date(2026, 6, 1), date(2026, 1, 1)) == 0.0

"""Dosing programs: daily dose and volume, and every rule of ``check_program``."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

import pytest

from itb.domain.errors import Violation
from itb.domain.program import (
    DailyBolus,
    DosingProgram,
    OneTimeBolus,
    Step,
    check_program,
    daily_dose_mcg,
)

# -- daily dose and volume ---------------------------------------------------------------


def test_daily_dose_simple_continuous_is_the_rate():
    program = DosingProgram.simple_continuous(400)
    assert program.is_simple_continuous
    assert program.daily_dose_mcg == pytest.approx(400)


def test_daily_dose_flexible_weights_each_step_by_its_length():
    # 250 mcg/day for 7 h (00:00-07:00), 350 mcg/day for 17 h (07:00-24:00).
    program = DosingProgram(steps=(Step(0, 250), Step(7 * 60, 350)))
    assert not program.is_simple_continuous
    assert program.daily_dose_mcg == pytest.approx(250 * 7 / 24 + 350 * 17 / 24)


def test_daily_dose_flexible_many_steps_matches_exact_fraction():
    steps = (Step(0, 100), Step(90, 1200), Step(601, 0), Step(1439, 777))
    bounds = [s.start_minute for s in steps] + [1440]
    exact = sum(Fraction(s.rate_mcg_per_day) * (bounds[i + 1] - bounds[i]) for i, s in enumerate(steps)) / 1440
    assert daily_dose_mcg(steps) == pytest.approx(float(exact), rel=1e-12)


def test_daily_dose_adds_daily_boluses_whole():
    program = DosingProgram(
        steps=(Step(0, 250), Step(7 * 60, 350)),
        daily_boluses=(DailyBolus(12 * 60, 40, 30), DailyBolus(23 * 60, 60, 120)),  # 2nd runs across midnight
    )
    assert program.daily_dose_mcg == pytest.approx(250 * 7 / 24 + 350 * 17 / 24 + 40 + 60)


def test_daily_dose_excludes_one_time_boluses():
    one_time = (OneTimeBolus(datetime(2026, 3, 2, 10), 75, 10),)
    with_one_time = DosingProgram(steps=(Step(0, 300),), one_time_boluses=one_time)
    assert with_one_time.daily_dose_mcg == pytest.approx(300)
    assert with_one_time.without_one_time_boluses() == DosingProgram(steps=(Step(0, 300),))


def test_daily_dose_of_a_stopped_pump_is_zero():
    assert DosingProgram.simple_continuous(0).daily_dose_mcg == 0


def test_daily_volume_is_dose_over_concentration():
    program = DosingProgram(
        steps=(Step(0, 300), Step(7 * 60 + 30, 450), Step(21 * 60, 300)),
        daily_boluses=(DailyBolus(23 * 60 + 30, 60, 90),),
    )
    assert program.daily_dose_mcg == pytest.approx(444.375)
    assert program.daily_volume_ml(1000) == pytest.approx(0.444375)
    assert program.daily_volume_ml(500) == pytest.approx(0.88875)


def test_bolus_rate_is_dose_spread_over_its_duration():
    assert DailyBolus(0, 40, 30).rate_mcg_per_day == pytest.approx(40 * 1440 / 30)
    assert OneTimeBolus(datetime(2026, 1, 1), 75, 10).rate_mcg_per_day == pytest.approx(75 * 144)


# -- check_program: one rule per test ----------------------------------------------------

VALID = DosingProgram(
    steps=(Step(0, 250), Step(420, 350)),
    daily_boluses=(DailyBolus(720, 40, 30), DailyBolus(1410, 60, 90)),
    one_time_boluses=(OneTimeBolus(datetime(2026, 3, 2, 10), 75, 10),),
)


def fields(violations: list[Violation]) -> list[str]:
    return [v.field for v in violations]


def test_valid_program_has_no_violations():
    assert check_program(VALID) == []


def test_zero_rates_and_zero_doses_are_allowed():
    program = DosingProgram(
        steps=(Step(0, 0),),
        daily_boluses=(DailyBolus(0, 0, 1),),
        one_time_boluses=(OneTimeBolus(datetime(2026, 1, 1), 0, 1440),),
    )
    assert check_program(program) == []


def test_rule_at_least_one_step():
    found = check_program(DosingProgram(steps=()))
    assert fields(found) == ["program.steps"]
    assert "at least one step" in found[0].rule


def test_rule_first_step_starts_at_midnight():
    found = check_program(DosingProgram(steps=(Step(60, 100), Step(120, 200))))
    assert fields(found) == ["program.steps[0].start"]
    assert "00:00" in found[0].rule


def test_rule_step_starts_strictly_increasing_equal():
    found = check_program(DosingProgram(steps=(Step(0, 100), Step(600, 200), Step(600, 300))))
    assert fields(found) == ["program.steps[2].start"]
    assert "later than the previous" in found[0].rule


def test_rule_step_starts_strictly_increasing_decreasing():
    found = check_program(DosingProgram(steps=(Step(0, 100), Step(600, 200), Step(300, 300))))
    assert fields(found) == ["program.steps[2].start"]


def test_rule_step_start_is_a_time_of_day():
    found = check_program(DosingProgram(steps=(Step(0, 100), Step(1440, 200))))
    assert fields(found) == ["program.steps[1].start"]
    found = check_program(DosingProgram(steps=(Step(0, 100), Step(-1, 200))))
    assert fields(found) == ["program.steps[1].start"]


def test_rule_step_rate_not_negative():
    found = check_program(DosingProgram(steps=(Step(0, 100), Step(600, -0.5))))
    assert fields(found) == ["program.steps[1].rate_mcg_per_day"]
    assert ">= 0" in found[0].rule


@pytest.mark.parametrize("rate", [True, False, "100", [100]], ids=["true", "false", "str", "list"])
def test_rule_step_rate_is_a_number(rate):
    found = check_program(DosingProgram(steps=(Step(0, 100), Step(60, rate))))
    assert fields(found) == ["program.steps[1].rate_mcg_per_day"]
    assert "number" in found[0].rule


def test_rule_step_rate_is_required():
    found = check_program(DosingProgram(steps=(Step(0, 100), Step(60, None))))  # type: ignore[arg-type]
    assert fields(found) == ["program.steps[1].rate_mcg_per_day"]
    assert "required" in found[0].rule


def test_rule_bolus_dose_and_duration_are_required():
    program = DosingProgram(
        steps=(Step(0, 100),),
        daily_boluses=(DailyBolus(0, None, None),),  # type: ignore[arg-type]
        one_time_boluses=(OneTimeBolus(None, None, None),),  # type: ignore[arg-type]
    )
    assert sorted(fields(check_program(program))) == [
        "program.boluses[0].dose_mcg",
        "program.boluses[0].duration_minutes",
        "program.one_time_boluses[0].at",
        "program.one_time_boluses[0].dose_mcg",
        "program.one_time_boluses[0].duration_minutes",
    ]


@pytest.mark.parametrize("rate", [float("inf"), float("nan"), 1e308])
def test_rule_step_rate_finite_and_physical(rate):
    found = check_program(DosingProgram(steps=(Step(0, rate),)))
    assert fields(found) == ["program.steps[0].rate_mcg_per_day"]


@pytest.mark.parametrize("duration", [0, 0.5, 1441, -1])
def test_rule_bolus_duration_between_1_and_1440_minutes(duration):
    found = check_program(DosingProgram(steps=(Step(0, 100),), daily_boluses=(DailyBolus(0, 10, duration),)))
    assert fields(found) == ["program.boluses[0].duration_minutes"]
    assert ">= 1" in found[0].rule
    assert "<= 1440" in found[0].rule


@pytest.mark.parametrize("duration", [1, 1440, 1.5])
def test_rule_bolus_duration_bounds_are_inclusive(duration):
    assert check_program(DosingProgram(steps=(Step(0, 100),), daily_boluses=(DailyBolus(0, 10, duration),))) == []


def test_rule_bolus_dose_not_negative():
    found = check_program(DosingProgram(steps=(Step(0, 100),), daily_boluses=(DailyBolus(0, -10, 30),)))
    assert fields(found) == ["program.boluses[0].dose_mcg"]


def test_rule_bolus_dose_is_a_number():
    found = check_program(DosingProgram(steps=(Step(0, 100),), daily_boluses=(DailyBolus(0, "10", 30),)))
    assert fields(found) == ["program.boluses[0].dose_mcg"]
    assert "number" in found[0].rule


def test_rule_bolus_start_is_a_time_of_day():
    found = check_program(DosingProgram(steps=(Step(0, 100),), daily_boluses=(DailyBolus(1440, 10, 30),)))
    assert fields(found) == ["program.boluses[0].start"]


def test_rule_one_time_bolus_dose_not_negative():
    program = DosingProgram(steps=(Step(0, 100),), one_time_boluses=(OneTimeBolus(datetime(2026, 1, 1), -1, 10),))
    assert fields(check_program(program)) == ["program.one_time_boluses[0].dose_mcg"]


@pytest.mark.parametrize("duration", [0, 1441])
def test_rule_one_time_bolus_duration_between_1_and_1440_minutes(duration):
    program = DosingProgram(steps=(Step(0, 100),), one_time_boluses=(OneTimeBolus(datetime(2026, 1, 1), 10, duration),))
    assert fields(check_program(program)) == ["program.one_time_boluses[0].duration_minutes"]


def test_check_program_collects_all_violations():
    program = DosingProgram(
        steps=(Step(30, -1), Step(600, "x"), Step(500, True)),
        daily_boluses=(DailyBolus(0, -5, 0), DailyBolus(60, 5, 1441)),
        one_time_boluses=(OneTimeBolus(datetime(2026, 1, 1), -2, 0),),
    )
    assert sorted(fields(check_program(program))) == sorted(
        [
            "program.steps[0].start",
            "program.steps[0].rate_mcg_per_day",
            "program.steps[1].rate_mcg_per_day",
            "program.steps[2].start",
            "program.steps[2].rate_mcg_per_day",
            "program.boluses[0].dose_mcg",
            "program.boluses[0].duration_minutes",
            "program.boluses[1].duration_minutes",
            "program.one_time_boluses[0].dose_mcg",
            "program.one_time_boluses[0].duration_minutes",
        ]
    )


def test_check_program_uses_the_given_path():
    found = check_program(DosingProgram(steps=(Step(5, 1),)), path="case.program")
    assert fields(found) == ["case.program.steps[0].start"]


def test_violation_prints_field_and_rule():
    assert str(Violation("program.steps[0].start", "the first step must start at 00:00")) == (
        "program.steps[0].start: the first step must start at 00:00"
    )

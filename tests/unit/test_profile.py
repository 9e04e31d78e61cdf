"""DailyProfile: the periodic dose rate and its exact cumulative dose, against hand computations.

Rates are chosen so that hand arithmetic is easy: 1440 mcg/day is 1 mcg a minute.
"""

from __future__ import annotations

import pytest

from itb.domain.profile import DailyProfile
from itb.domain.program import DailyBolus, DosingProgram, Step

DAY = 86_400
H = 3_600
M = 60


def profile(steps, boluses=()):
    return DailyProfile.from_parts(steps, boluses)


# -- simple continuous -------------------------------------------------------------------

SIMPLE = profile([Step(0, 1440)])  # 1 mcg/min


def test_simple_delivered_by():
    assert SIMPLE.daily_mcg == pytest.approx(1440)
    assert SIMPLE.delivered_by(0) == 0
    assert SIMPLE.delivered_by(H) == pytest.approx(60)
    assert SIMPLE.delivered_by(2 * DAY + M) == pytest.approx(2 * 1440 + 1)
    assert SIMPLE.delivered_by(30) == pytest.approx(0.5)


def test_simple_first_time_reaching():
    assert SIMPLE.first_time_reaching(60) == pytest.approx(H)
    assert SIMPLE.first_time_reaching(1440) == pytest.approx(DAY)
    assert SIMPLE.first_time_reaching(10 * 1440 + 0.5) == pytest.approx(10 * DAY + 30)
    assert SIMPLE.first_time_reaching(0) == 0
    assert SIMPLE.first_time_reaching(-5) == 0


def test_simple_time_to_deliver():
    assert SIMPLE.time_to_deliver(H, 60) == pytest.approx(2 * H)
    assert SIMPLE.time_to_deliver(23 * H, 120) == pytest.approx(DAY + H)  # across midnight
    assert SIMPLE.time_to_deliver(17, 0) == 17


def test_ten_year_horizon_is_exact_to_well_under_a_second():
    days = 3653
    assert SIMPLE.first_time_reaching(days * 1440) == pytest.approx(days * DAY, abs=1e-3)
    assert SIMPLE.time_to_deliver(12 * H + 7, days * 1440) == pytest.approx(days * DAY + 12 * H + 7, abs=1e-3)


# -- flexible ----------------------------------------------------------------------------

# 0.5 mcg/min 00:00-12:00 (360 mcg), 1.5 mcg/min 12:00-24:00 (1080 mcg): 1440 mcg a day.
FLEX = profile([Step(0, 720), Step(12 * 60, 2160)])


def test_flexible_delivered_by():
    assert FLEX.daily_mcg == pytest.approx(1440)
    assert FLEX.delivered_by(12 * H) == pytest.approx(360)
    assert FLEX.delivered_by(18 * H) == pytest.approx(360 + 540)
    assert FLEX.delivered_by(DAY + 6 * H) == pytest.approx(1440 + 180)


def test_flexible_first_time_reaching():
    assert FLEX.first_time_reaching(180) == pytest.approx(6 * H)
    assert FLEX.first_time_reaching(900) == pytest.approx(18 * H)
    assert FLEX.first_time_reaching(1440 + 360) == pytest.approx(DAY + 12 * H)
    assert FLEX.first_time_reaching(3 * 1440 + 361.5) == pytest.approx(3 * DAY + 12 * H + M)


def test_flexible_time_to_deliver():
    assert FLEX.time_to_deliver(12 * H, 1080) == pytest.approx(DAY)
    # From 06:00: 180 mcg until noon at 0.5/min, then 1.5/min: 330 mcg more takes 220 min.
    assert FLEX.time_to_deliver(6 * H, 510) == pytest.approx(12 * H + 220 * M)
    # From 18:00: 540 to midnight, then 0.5/min: a whole day + 540 + 30 = 2010 takes 24 h + 60 min.
    assert FLEX.time_to_deliver(18 * H, 2010) == pytest.approx(2 * DAY + H)


def test_rate_at_repeats_every_day():
    assert FLEX.rate_at(0) == 720
    assert FLEX.rate_at(12 * H) == 2160
    assert FLEX.rate_at(5 * DAY + 11 * H) == 720
    assert FLEX.rate_at(-1) == 2160


def test_from_program_matches_from_parts():
    program = DosingProgram(steps=(Step(0, 720), Step(720, 2160)), daily_boluses=(DailyBolus(60, 10, 10),))
    a = DailyProfile.from_program(program)
    b = profile(program.steps, program.daily_boluses)
    assert a.starts_s == b.starts_s
    assert a.rates_mcg_per_day == b.rates_mcg_per_day


# -- daily boluses -----------------------------------------------------------------------


def test_bolus_within_the_day_adds_its_dose():
    p = profile([Step(0, 1440)], [DailyBolus(10 * 60, 60, 30)])  # +2 mcg/min 10:00-10:30
    assert p.daily_mcg == pytest.approx(1500)
    assert p.delivered_by(10 * H + 15 * M) == pytest.approx(615 + 30)
    assert p.delivered_by(11 * H) == pytest.approx(660 + 60)
    assert p.first_time_reaching(600 + 45) == pytest.approx(10 * H + 15 * M)


def test_bolus_across_midnight_is_split_into_two_intervals():
    # No basal; 120 mcg over 120 min from 23:00: 1 mcg/min 23:00-01:00.
    p = profile([Step(0, 0)], [DailyBolus(23 * 60, 120, 120)])
    assert p.starts_s == [0, H, 23 * H]
    assert p.rates_mcg_per_day == [1440, 0, 1440]
    assert p.daily_mcg == pytest.approx(120)
    # The program ran unchanged before day 0: the previous evening's bolus is still running.
    assert p.delivered_by(H) == pytest.approx(60)
    assert p.delivered_by(12 * H) == pytest.approx(60)
    assert p.delivered_by(DAY) == pytest.approx(120)
    assert p.first_time_reaching(61) == pytest.approx(23 * H + M)
    assert p.time_to_deliver(22 * H, 90) == pytest.approx(DAY + 30 * M)
    assert p.time_to_deliver(30 * M, 30) == pytest.approx(H)


def test_full_day_bolus_at_midnight_and_at_noon():
    a = profile([Step(0, 0)], [DailyBolus(0, 1440, 1440)])
    b = profile([Step(0, 0)], [DailyBolus(12 * 60, 1440, 1440)])
    for p in (a, b):
        assert p.daily_mcg == pytest.approx(1440)
        assert p.delivered_by(7 * H) == pytest.approx(420)
        assert p.first_time_reaching(1441) == pytest.approx(DAY + M)


def test_overlapping_boluses_add_up_and_keep_the_exact_step_rate_outside():
    step_rates = (0.1, 333.3, 7.77)
    p = profile(
        [Step(0, step_rates[0]), Step(6 * 60, step_rates[1]), Step(20 * 60, step_rates[2])],
        [DailyBolus(8 * 60, 10, 60), DailyBolus(8 * 60 + 30, 20, 60), DailyBolus(23 * 60, 30, 120)],
    )
    r1, r2, r3 = 10 * 1440 / 60, 20 * 1440 / 60, 30 * 1440 / 120
    assert p.starts_s == [0, H, 6 * H, 8 * H, 8 * H + 30 * M, 9 * H, 9 * H + 30 * M, 20 * H, 23 * H]
    expected = [
        step_rates[0] + r3,  # 00:00-01:00, the 23:00 bolus running across midnight
        step_rates[0],
        step_rates[1],
        step_rates[1] + r1,
        step_rates[1] + r1 + r2,
        step_rates[1] + r2,
        step_rates[1],
        step_rates[2],
        step_rates[2] + r3,
    ]
    assert p.rates_mcg_per_day == pytest.approx(expected)
    # Outside every bolus the rate is the step's own float, bit for bit (only additions were made).
    for i in (1, 2, 6, 7):
        assert p.rates_mcg_per_day[i] == expected[i]
        assert p.rates_mcg_per_day[i] in step_rates
    daily = (step_rates[0] * 6 + step_rates[1] * 14 + step_rates[2] * 4) / 24 + 60
    assert p.daily_mcg == pytest.approx(daily)


def test_bolus_on_a_step_boundary_does_not_add_segments():
    p = profile([Step(0, 100), Step(600, 200)], [DailyBolus(600, 10, 60)])
    assert p.starts_s == [0, 600 * M, 660 * M]
    assert p.rates_mcg_per_day == [100, 200 + 240, 200]


# -- zero rates --------------------------------------------------------------------------


def test_zero_rate_day_never_reaches_anything():
    p = profile([Step(0, 0)])
    assert p.daily_mcg == 0
    assert p.first_time_reaching(1e-9) is None
    assert p.time_to_deliver(5 * H, 1) is None
    assert p.first_time_reaching(0) == 0
    assert p.time_to_deliver(5 * H, 0) == 5 * H


def test_zero_rate_steps_and_zero_dose_boluses_never_reach_anything():
    p = profile([Step(0, 0), Step(600, 0)], [DailyBolus(60, 0, 30)])
    assert p.first_time_reaching(1) is None
    assert p.time_to_deliver(0, 1) is None


def test_zero_rate_segment_gives_the_earliest_instant():
    p = profile([Step(0, 1440), Step(12 * 60, 0)])  # 1 mcg/min in the morning, nothing after noon
    assert p.first_time_reaching(720) == pytest.approx(12 * H)  # not some time in the afternoon
    assert p.first_time_reaching(721) == pytest.approx(DAY + M)
    assert p.time_to_deliver(15 * H, 1) == pytest.approx(DAY + M)  # starting in the pause
    assert p.time_to_deliver(11 * H, 60) == pytest.approx(12 * H)


def test_profile_must_start_at_second_zero():
    with pytest.raises(ValueError):
        DailyProfile([60], [1.0])
    with pytest.raises(ValueError):
        DailyProfile([], [])


def test_with_extra_rate_and_scaled():
    p = FLEX.with_extra_rate(1440)
    assert p.daily_mcg == pytest.approx(2880)
    assert p.starts_s == FLEX.starts_s
    q = FLEX.scaled(2, 1440)
    assert q.rates_mcg_per_day == pytest.approx([2 * 720 + 1440, 2 * 2160 + 1440])

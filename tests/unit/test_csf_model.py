"""The CSF model (``itb.domain.csf``) against the analytic solution and hand arithmetic.

Source of the numbers: ``shared/domain.md``, "Pharmacology". With the defaults (half-life 5 h,
clearance 30 mL/h) 720 mcg/day is 30 mcg/h, i.e. 1 mcg/mL = 1000 ng/mL at steady state.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from itb.domain.csf import (
    DEFAULT_CSF,
    Bolus,
    CsfSettings,
    Site,
    bolus_jump_ng_per_ml,
    concentration_curve,
    csf_curve,
    effect_curve,
    hours_to_fall_to,
    intrathecal_equivalent_mcg_per_day,
    level_after_stop,
    periodic_steady_state,
    run_dry_curve,
    steady_state_ng_per_ml,
    time_to_fraction,
)
from itb.domain.errors import InvalidInput
from itb.domain.profile import DailyProfile
from itb.domain.program import DailyBolus, Step

H = 3600.0
DAY = 86400.0
S = DEFAULT_CSF
K = math.log(2) / (5 * H)  # per second
TAU_H = 5 / math.log(2)  # one time constant, 7.21 h


def flat(rate: float) -> DailyProfile:
    return DailyProfile([0], [rate])


def value_at(times: np.ndarray, conc: np.ndarray, t: float) -> float:
    """The (last) value reported at exactly ``t``."""
    idx = np.flatnonzero(times == t)
    assert idx.size, f"{t} not on the grid"
    return float(conc[idx[-1]])


# -- units, by hand --------------------------------------------------------------------------


def test_steady_state_units_by_hand():
    # 720 mcg/day = 30 mcg/h; / 30 mL/h = 1 mcg/mL = 1000 ng/mL
    assert steady_state_ng_per_ml(720) == pytest.approx(1000)
    # 480 mcg/day = 20 mcg/h; / 30 mL/h = 0.667 mcg/mL
    assert steady_state_ng_per_ml(480) == pytest.approx(666.6667, rel=1e-6)
    # clearance 80 mL/h (domain.md's upper end): 720 mcg/day -> 30/80 mcg/mL = 375 ng/mL
    assert steady_state_ng_per_ml(720, CsfSettings(clearance_ml_per_h=80)) == pytest.approx(375)


def test_volume_and_bolus_jump_by_hand():
    # V = CL t1/2 / ln 2 = 30 * 5 / 0.6931 = 216.4 mL
    assert S.volume_ml == pytest.approx(216.404, rel=1e-5)
    assert S.time_constant_h == pytest.approx(TAU_H)
    # 50 mcg (the screening dose) into 216.4 mL: 0.231 mcg/mL = 231 ng/mL
    assert bolus_jump_ng_per_ml(50) == pytest.approx(50_000 / 216.404, rel=1e-5)


def test_oral_equivalence_is_a_named_setting():
    # the seed: about 1/100 of the oral dose; 60 mg/day by mouth ~ 600 mcg/day intrathecal
    assert S.oral_bioavailability_to_csf == 0.01
    assert intrathecal_equivalent_mcg_per_day(60) == pytest.approx(600)
    assert intrathecal_equivalent_mcg_per_day(60, CsfSettings(oral_bioavailability_to_csf=0.02)) == pytest.approx(1200)


# -- the analytic solution --------------------------------------------------------------------


def test_rise_from_zero_matches_the_exponential_everywhere():
    rate = 600.0
    c_inf = steady_state_ng_per_ml(rate)
    # split into steps of the same rate: chaining segments must not change the answer
    profile = DailyProfile.from_parts([Step(0, rate), Step(300, rate), Step(1000, rate)], [])
    times, conc = concentration_curve(profile, 0, 3 * DAY, sample_s=900)
    expected = c_inf * (1 - np.exp(-K * times))
    np.testing.assert_allclose(conc, expected, rtol=1e-12, atol=1e-9)
    assert times[0] == 0 and times[-1] == 3 * DAY
    assert np.all(np.diff(times) > 0)


def test_steady_state_is_rate_over_clearance():
    _times, conc = concentration_curve(flat(720), 0, 5 * DAY)
    assert conc[-1] == pytest.approx(1000, rel=1e-6)  # 5 days = 24 half-lives
    # starting at the steady state it stays there
    _, conc = concentration_curve(flat(720), 0, DAY, c0_ng_per_ml=1000)
    np.testing.assert_allclose(conc, 1000, rtol=1e-12)


def test_exact_whatever_the_sampling():
    profile = DailyProfile.from_parts([Step(0, 200), Step(480, 900), Step(1200, 400)], [])
    fine = concentration_curve(profile, 1234.5, 2 * DAY + 17, c0_ng_per_ml=50, sample_s=60)
    coarse = concentration_curve(profile, 1234.5, 2 * DAY + 17, c0_ng_per_ml=50, sample_s=DAY)
    assert coarse[1][-1] == pytest.approx(fine[1][-1], rel=1e-12)
    # every coarse point is on the fine grid with the same value
    for t, c in zip(*coarse):
        assert value_at(*fine, t) == pytest.approx(c, rel=1e-12)


def test_halves_every_half_life_after_the_pump_runs_dry():
    c_inf = steady_state_ng_per_ml(720)
    stop = 10 * H
    curve = run_dry_curve(flat(720), 0, stop, stop + 20 * H, c0_ng_per_ml=c_inf, sample_s=H)
    assert value_at(curve.times_s, curve.csf_ng_per_ml, stop) == pytest.approx(c_inf)
    for n in range(1, 5):
        t = stop + n * 5 * H
        assert value_at(curve.times_s, curve.csf_ng_per_ml, t) == pytest.approx(c_inf / 2**n, rel=1e-12)
        assert level_after_stop(c_inf, n * 5) == pytest.approx(c_inf / 2**n)
    assert level_after_stop(c_inf, 0) == c_inf
    assert hours_to_fall_to(0.5) == pytest.approx(5)
    assert hours_to_fall_to(0.1) == pytest.approx(5 * math.log2(10))


def test_a_step_change_is_one_minus_one_over_e_of_the_way_after_one_time_constant():
    low, high = 300.0, 900.0
    profile = DailyProfile.from_parts([Step(0, low), Step(720, high)], [])  # up at noon
    c_low, c_high = steady_state_ng_per_ml(low), steady_state_ng_per_ml(high)
    t = 12 * H + TAU_H * H
    times, conc = concentration_curve(profile, 0, t, c0_ng_per_ml=c_low)
    assert conc[-1] == pytest.approx(c_low + (1 - math.exp(-1)) * (c_high - c_low), rel=1e-12)
    assert value_at(times, conc, 12 * H) == pytest.approx(c_low, rel=1e-12)  # unchanged until the change


def test_time_to_fraction_of_the_csf_level():
    assert time_to_fraction(Site.CSF, 1 - math.exp(-1)) == pytest.approx(TAU_H)
    assert time_to_fraction("csf", 0.5) == pytest.approx(5)
    assert time_to_fraction("csf", 0.9) == pytest.approx(5 * math.log2(10))  # 16.6 h
    assert time_to_fraction("csf", 0) == 0
    with pytest.raises(InvalidInput):
        time_to_fraction("csf", 1)


def test_periodic_program_reaches_a_periodic_steady_state():
    profile = DailyProfile.from_parts(
        [Step(0, 200), Step(420, 800), Step(1140, 350)], [DailyBolus(600, 40, 30)]
    )  # three steps and a daily bolus
    c_mid, e_mid = periodic_steady_state(profile)
    times, conc = concentration_curve(profile, 0, 2 * DAY, c0_ng_per_ml=c_mid, sample_s=600)
    first = conc[times < DAY]
    second = conc[(times >= DAY) & (times < 2 * DAY)]
    np.testing.assert_allclose(first, second, rtol=1e-9)
    assert conc[-1] == pytest.approx(c_mid, rel=1e-9)
    # the effect compartment repeats too
    _, eff = effect_curve(profile, 0, DAY, c0_ng_per_ml=c_mid, ce0_ng_per_ml=e_mid)
    assert eff[-1] == pytest.approx(e_mid, rel=1e-9)
    # starting from nothing, the level at midnight converges to it
    t, c = concentration_curve(profile, 0, 20 * DAY, sample_s=DAY)
    assert value_at(t, c, 20 * DAY) == pytest.approx(c_mid, rel=1e-9)
    # its mean over a day is the mean rate over clearance
    mean = np.trapezoid(first, times[times < DAY]) + (DAY - times[times < DAY][-1]) * first[-1]
    assert mean / DAY == pytest.approx(steady_state_ng_per_ml(profile.daily_mcg), rel=2e-3)


def test_a_constant_program_has_a_flat_periodic_state():
    c, e = periodic_steady_state(flat(480))
    assert c == pytest.approx(steady_state_ng_per_ml(480))
    assert e == pytest.approx(steady_state_ng_per_ml(480))


# -- boluses ---------------------------------------------------------------------------------


def test_an_instant_bolus_jumps_by_dose_over_volume_and_shows_both_sides():
    times, conc = concentration_curve(flat(0), 0, 10 * H, boluses=[Bolus(H, 50)], sample_s=H)
    at = np.flatnonzero(times == H)
    assert at.size == 2
    assert conc[at[0]] == 0
    jump = bolus_jump_ng_per_ml(50)
    assert conc[at[1]] == pytest.approx(jump)
    # then halves every half-life
    assert value_at(times, conc, 6 * H) == pytest.approx(jump / 2)
    # tuples work, and a bolus outside the window is ignored
    _t2, c2 = concentration_curve(flat(0), 0, 10 * H, boluses=[(H, 50.0), (20 * H, 50.0)], sample_s=H)
    np.testing.assert_allclose(c2, conc)


def test_a_bolus_at_the_start_shows_the_level_before_it():
    times, conc = concentration_curve(flat(0), 0, H, c0_ng_per_ml=10, boluses=[Bolus(0, 50)])
    assert times[0] == times[1] == 0
    assert conc[0] == 10
    assert conc[1] == pytest.approx(10 + bolus_jump_ng_per_ml(50))


def test_a_timed_bolus_is_a_rate_over_its_duration():
    # 40 mcg over 30 min at 10:00 on day 0, the same as a daily bolus on day 0
    one = concentration_curve(flat(300), 0, DAY, boluses=[Bolus(600 * 60, 40, 30 * 60)], sample_s=300)
    daily = concentration_curve(
        DailyProfile.from_parts([Step(0, 300)], [DailyBolus(600, 40, 30)]), 0, DAY, sample_s=300
    )
    np.testing.assert_allclose(one[0], daily[0])
    np.testing.assert_allclose(one[1], daily[1], rtol=1e-12)


# -- the effect compartment -------------------------------------------------------------------


def test_effect_timing_matches_domain_md_for_continuous_infusion():
    # domain.md: effect first seen 6-8 h after a change, full at 24-48 h
    ninety = time_to_fraction(Site.EFFECT, 0.9)
    assert 24 <= ninety <= 48
    assert ninety == pytest.approx(36.8, abs=0.1)
    assert 4 <= time_to_fraction(Site.EFFECT, 0.1) <= 8
    # it lags the CSF level
    assert time_to_fraction(Site.EFFECT, 0.5) > time_to_fraction(Site.CSF, 0.5)


def test_effect_curve_solves_its_differential_equation():
    profile = DailyProfile.from_parts([Step(0, 200), Step(600, 900)], [])
    curve = csf_curve(profile, 0, DAY, c0_ng_per_ml=100, ce0_ng_per_ml=20, sample_s=60)
    t, c, e = curve
    ke0 = S.ke0_per_s
    # dCe/dt = ke0 (C - Ce), by central differences away from the rate change
    mid = slice(1, -1)
    slope = (e[2:] - e[:-2]) / (t[2:] - t[:-2])
    residual = slope - ke0 * (c[mid] - e[mid])
    smooth = np.abs(t[mid] - 10 * H) > 1  # C has a kink at the change: differences there are off by O(h)
    assert np.max(np.abs(residual[smooth])) < 1e-5 * np.max(np.abs(slope))
    assert e[0] == 20


def test_effect_when_both_rate_constants_are_equal_is_continuous():
    equal = CsfSettings(effect_delay_h=5.0)
    near = CsfSettings(effect_delay_h=5.0 + 1e-7)
    a = effect_curve(flat(720), 0, 2 * DAY, settings=equal, sample_s=H)[1]
    b = effect_curve(flat(720), 0, 2 * DAY, settings=near, sample_s=H)[1]
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    # step response with ke0 = k: 1 - (1 + k t) e^{-k t}
    t = 10 * H
    expected = 1000 * (1 - (1 + K * t) * math.exp(-K * t))
    _times, eff = effect_curve(flat(720), 0, t, settings=equal, sample_s=H)
    assert eff[-1] == pytest.approx(expected, rel=1e-12)


def test_withdrawal_effect_lags_the_level_after_the_pump_runs_dry():
    c_inf = steady_state_ng_per_ml(480)
    curve = run_dry_curve(flat(480), 0, 0, 24 * H, c0_ng_per_ml=c_inf, sample_s=H)
    at5 = np.flatnonzero(curve.times_s == 5 * H)[0]
    assert curve.csf_ng_per_ml[at5] == pytest.approx(c_inf / 2)
    assert curve.effect_ng_per_ml[at5] > curve.csf_ng_per_ml[at5]


# -- scale and input rules --------------------------------------------------------------------


def test_ten_years_at_once_is_exact_and_quick():
    profile = DailyProfile.from_parts([Step(0, 200), Step(480, 800), Step(1200, 400)], [])
    c_mid, _ = periodic_steady_state(profile)
    times, conc = concentration_curve(profile, 0, 3650 * DAY, c0_ng_per_ml=c_mid, sample_s=3600)
    assert conc[-1] == pytest.approx(c_mid, rel=1e-9)
    assert len(times) >= 3650 * 24


def test_invalid_inputs_are_refused():
    with pytest.raises(InvalidInput):
        concentration_curve(flat(100), 10, 5)
    with pytest.raises(InvalidInput):
        concentration_curve(flat(100), 0, 5, c0_ng_per_ml=-1)
    with pytest.raises(InvalidInput):
        concentration_curve(flat(100), 0, 5, sample_s=0)
    with pytest.raises(InvalidInput):
        CsfSettings(half_life_h=0)
    with pytest.raises(InvalidInput):
        CsfSettings(clearance_ml_per_h=-3)
    with pytest.raises(InvalidInput):
        CsfSettings(oral_bioavailability_to_csf=2)
    with pytest.raises(InvalidInput):
        hours_to_fall_to(0)
    with pytest.raises(InvalidInput):
        concentration_curve(flat(100), 0, DAY, boluses=[Bolus(60, -5)])
    with pytest.raises(InvalidInput):
        concentration_curve(flat(100), 0, DAY, boluses=[Bolus(60, 5, -60)])


def test_a_zero_length_window_is_one_point():
    times, conc = concentration_curve(flat(100), 5, 5, c0_ng_per_ml=3)
    assert list(times) == [5]
    assert list(conc) == [3]

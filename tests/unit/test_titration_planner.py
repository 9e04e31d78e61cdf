"""The titration planner (``itb.domain.titration``): one test per label rule, named after it.

Source: ``shared/domain.md``, "The drug label rules" ("Titration start", "Titration steps",
"Maintenance ranges") and "The therapy in one paragraph" (visits every 2-3 weeks). Unless a test
says otherwise the patient is a 40-year-old of spinal origin implanted long ago, on 400 mcg/day,
with tone still high (mean MAS 2), goals not met (T 40) and no side effects.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from itb.domain.errors import InvalidInput
from itb.domain.limits import (
    DEFAULT_LIMITS,
    AgeGroup,
    DoseHistory,
    Origin,
    PatientContext,
    age_group,
    assess_program_change,
)
from itb.domain.program import DosingProgram
from itb.domain.scheduling import DEFAULT_BOOKING, BookingSettings, ClinicCalendar
from itb.domain.titration import (
    DEFAULT_TITRATION,
    Proposal,
    ProposalKind,
    TitrationSettings,
    is_stable,
    propose_next_dose,
    titration_schedule,
)

NOW = datetime(2026, 3, 2, 12, 0)  # a Monday
LONG_AGO = NOW - timedelta(days=60)
SPINAL = PatientContext(Origin.SPINAL, 40, implanted_at=LONG_AGO)
CEREBRAL = PatientContext(Origin.CEREBRAL, 40, implanted_at=LONG_AGO)
CHILD = PatientContext(Origin.SPINAL, 8, implanted_at=LONG_AGO)
NO_HISTORY = DoseHistory(last_increase_at=NOW - timedelta(days=14))


def propose(
    current: float = 400,
    patient: PatientContext = SPINAL,
    history: DoseHistory = NO_HISTORY,
    now: datetime = NOW,
    *,
    tone: list[float] | None = None,
    goals_t: float | None = 40,
    side_effects: bool = False,
    **kwargs: object,
) -> Proposal:
    return propose_next_dose(
        current,
        patient,
        history,
        now,
        tone_trend=[2.5, 2.0] if tone is None else tone,
        goals_t=goals_t,
        side_effects=side_effects,
        **kwargs,  # type: ignore[arg-type]
    )


# -- steps -------------------------------------------------------------------------------------


def test_titration_step_spinal_within_10_to_30() -> None:
    p = propose(400)
    assert p.kind is ProposalKind.INCREASE
    assert p.dose_mcg_per_day == 480  # the middle: +20 %
    assert p.change_fraction == pytest.approx(0.20)
    assert 0.10 <= p.change_fraction <= 0.30
    assert any("10 % to 30 %" in r and "drug label" in r for r in p.reasons)


def test_titration_step_cerebral_within_5_to_15() -> None:
    p = propose(400, CEREBRAL)
    assert (p.kind, p.dose_mcg_per_day) == (ProposalKind.INCREASE, 440)
    assert 0.05 <= p.change_fraction <= 0.15


def test_titration_step_children_within_5_to_15() -> None:
    p = propose(400, CHILD)  # a child of spinal origin takes the children's step
    assert (p.kind, p.dose_mcg_per_day) == (ProposalKind.INCREASE, 440)
    assert 0.05 <= p.change_fraction <= 0.15
    assert any("a child under 12" in r for r in p.reasons)


def test_step_point_in_the_range_is_a_setting() -> None:
    low_end = dataclasses.replace(DEFAULT_TITRATION, increase_point_in_range=0.0)
    assert propose(400, settings=low_end).dose_mcg_per_day == 440


def test_increase_is_rounded_down_to_the_resolution() -> None:
    p = propose(333)  # 333 x 1.2 = 399.6
    assert p.dose_mcg_per_day == pytest.approx(399.6)
    p = propose(123.45)  # 148.14 -> 148.1
    assert p.dose_mcg_per_day == pytest.approx(148.1)


# -- the 24 h rules ----------------------------------------------------------------------------


def test_no_increase_within_24_h() -> None:
    last = NOW - timedelta(hours=5)
    p = propose(history=DoseHistory(last_increase_at=last))
    assert p.kind is ProposalKind.INCREASE
    assert p.earliest_at == last + timedelta(hours=24)
    assert any("at most one increase per 24 h" in r for r in p.reasons)
    assert propose(history=DoseHistory(last_increase_at=NOW - timedelta(hours=24))).earliest_at == NOW


def test_no_increase_in_the_first_24_h_after_implant() -> None:
    implant = NOW - timedelta(hours=2)
    p = propose(100, PatientContext(Origin.SPINAL, 40, implanted_at=implant), DoseHistory())
    assert p.earliest_at == implant + timedelta(hours=24)
    assert any("first 24 h after the implant" in r for r in p.reasons)


# -- side effects ------------------------------------------------------------------------------


def test_side_effects_reduce_10_to_20_percent() -> None:
    p = propose(400, side_effects=True)
    assert p.kind is ProposalKind.REDUCE
    assert p.dose_mcg_per_day == 340
    assert -0.20 <= p.change_fraction <= -0.10
    assert p.earliest_at == NOW  # a reduction never waits
    assert any("reductions of 10-20 % for side effects" in r for r in p.reasons)


def test_side_effects_reduce_even_with_high_tone_or_recent_increase() -> None:
    p = propose(400, history=DoseHistory(last_increase_at=NOW - timedelta(hours=1)), tone=[4], side_effects=True)
    assert (p.kind, p.earliest_at) == (ProposalKind.REDUCE, NOW)


@given(current=st.floats(10, 1500), fraction=st.floats(0.10, 0.20))
def test_every_reduction_stays_within_10_to_20_percent(current: float, fraction: float) -> None:
    s = dataclasses.replace(DEFAULT_TITRATION, side_effect_reduction_fraction=fraction)
    p = propose(current, side_effects=True, settings=s)
    assert -0.20 - 1e-9 <= p.change_fraction <= -0.10 + 0.1 / current + 1e-9  # rounding up by <= 0.1 mcg/day


# -- hold ----------------------------------------------------------------------------------------


def test_hold_when_goals_met() -> None:
    p = propose(400, tone=[3, 2.5], goals_t=50)
    assert (p.kind, p.dose_mcg_per_day, p.change_fraction) == (ProposalKind.HOLD, 400, 0)
    assert any("goals met" in r and "dose stable" in r for r in p.reasons)


def test_hold_when_tone_is_low_enough() -> None:
    p = propose(400, tone=[2.5, 1.0])
    assert p.kind is ProposalKind.HOLD
    assert any("tone low enough" in r and "dose stable" in r for r in p.reasons)


def test_tone_threshold_is_a_setting() -> None:
    assert propose(400, tone=[1.5]).kind is ProposalKind.INCREASE  # 1.5 is still high
    strict = dataclasses.replace(DEFAULT_TITRATION, high_tone_min_mean_mas=2.0)
    assert propose(400, tone=[1.5], settings=strict).kind is ProposalKind.HOLD


def test_hold_without_a_tone_score() -> None:
    p = propose(400, tone=[])
    assert p.kind is ProposalKind.HOLD
    assert "no tone score" in p.reasons[0]


# -- maintenance range and maxima --------------------------------------------------------------


def test_above_maintenance_max_says_the_clinician_must_confirm() -> None:
    p = propose(750)  # 900 > 800 for spinal origin
    assert (p.kind, p.dose_mcg_per_day) == (ProposalKind.INCREASE, 900)
    assert p.needs_confirmation == ("maintenance_range",)
    assert any("above the usual 300 to 800" in r and "clinician must confirm" in r for r in p.reasons)


def test_inside_maintenance_range_needs_no_confirmation() -> None:
    assert propose(400).needs_confirmation == ()


def test_increase_is_capped_at_the_hard_maximum() -> None:
    p = propose(1900)  # 2280 would pass the adult hard maximum of 2000
    assert p.dose_mcg_per_day == 2000
    assert set(p.needs_confirmation) == {"increase_step_min", "maintenance_range"}
    assert any("capped at the hard maximum" in r for r in p.reasons)
    at_max = propose(2000)
    assert (at_max.kind, at_max.dose_mcg_per_day) == (ProposalKind.HOLD, 2000)


def test_inputs_are_checked() -> None:
    with pytest.raises(InvalidInput) as e:
        propose(0, tone=[5], goals_t="high", side_effects="no")  # type: ignore[arg-type]
    assert {v.field for v in e.value.violations} == {"current_daily_mcg", "tone_trend[0]", "goals_t", "side_effects"}
    with pytest.raises(InvalidInput):
        TitrationSettings(side_effect_reduction_fraction=0)


# -- every proposal passes the safety limits ---------------------------------------------------

patients = st.builds(
    PatientContext,
    origin=st.sampled_from(Origin),
    age_years=st.floats(0, 95),
    implanted_at=st.one_of(st.none(), st.timedeltas(timedelta(0), timedelta(days=30)).map(lambda d: NOW - d)),
)
histories = st.builds(
    DoseHistory,
    last_increase_at=st.one_of(st.none(), st.timedeltas(timedelta(0), timedelta(days=30)).map(lambda d: NOW - d)),
)


@given(
    current=st.floats(0.5, 2000),
    patient=patients,
    history=histories,
    tone=st.lists(st.floats(0, 4), max_size=4),
    goals_t=st.one_of(st.none(), st.floats(20, 80)),
    side_effects=st.booleans(),
    point=st.floats(0, 1),
)
def test_every_proposed_change_passes_assess_program_change(
    current: float,
    patient: PatientContext,
    history: DoseHistory,
    tone: list[float],
    goals_t: float | None,
    side_effects: bool,
    point: float,
) -> None:
    s = dataclasses.replace(DEFAULT_TITRATION, increase_point_in_range=point)
    hard_max = (
        DEFAULT_LIMITS.hard_max_daily_dose_child_mcg
        if age_group(patient.age_years) is AgeGroup.CHILD
        else DEFAULT_LIMITS.hard_max_daily_dose_adult_mcg
    )
    p = propose(current, patient, history, tone=tone, goals_t=goals_t, side_effects=side_effects, settings=s)
    if p.kind is ProposalKind.HOLD:
        assert p.dose_mcg_per_day == current
        return
    assessment = assess_program_change(
        DosingProgram.simple_continuous(current),
        DosingProgram.simple_continuous(p.dose_mcg_per_day),
        500,
        patient,
        history,
        p.earliest_at,
    )
    if current <= hard_max:
        assert assessment.refusals == (), assessment.one_line()
    assert {f.code for f in assessment.confirmations} <= set(p.needs_confirmation), assessment.one_line()
    assert p.earliest_at >= NOW
    if p.kind is ProposalKind.INCREASE:
        assert current < p.dose_mcg_per_day <= hard_max
    else:
        assert 0 < p.dose_mcg_per_day < current


# -- the next visit --------------------------------------------------------------------------


def test_titration_visit_in_2_to_3_weeks_on_a_clinic_day() -> None:
    monday = date(2026, 3, 2)
    assert titration_schedule(monday, ClinicCalendar(), DEFAULT_BOOKING) == monday + timedelta(days=14)
    # 14 days after a Friday is a Friday; the clinic sees titration patients on Tuesdays only
    friday = date(2026, 3, 6)
    visit = titration_schedule(friday, ClinicCalendar(weekdays={1}), DEFAULT_BOOKING)
    assert visit == date(2026, 3, 24)
    assert 14 <= (visit - friday).days <= 21
    assert visit.weekday() == 1


def test_titration_visit_skips_closures() -> None:
    monday = date(2026, 3, 2)
    closed = ClinicCalendar(closures={monday + timedelta(days=14), monday + timedelta(days=15)})
    assert titration_schedule(monday, closed) == monday + timedelta(days=16)


def test_titration_window_is_a_setting() -> None:
    monday = date(2026, 3, 2)
    weekly = BookingSettings(titration_interval_days=(7, 10))
    assert titration_schedule(monday, ClinicCalendar(), weekly) == monday + timedelta(days=7)


def test_titration_visit_after_the_window_when_the_clinic_is_closed_throughout() -> None:
    monday = date(2026, 3, 2)
    closures = {monday + timedelta(days=d) for d in range(14, 22)}
    visit = titration_schedule(monday, ClinicCalendar(closures=closures))
    assert visit == monday + timedelta(days=22)


# -- stability -------------------------------------------------------------------------------


def path(*doses: float) -> list[tuple[datetime, float]]:
    """One record every 14 days."""
    return [(NOW + timedelta(days=14 * i), d) for i, d in enumerate(doses)]


def test_stable_when_dose_held_and_goals_met() -> None:
    assert is_stable(path(300, 360, 360), [2.5, 2.0, 1.5], goals_t=55)


def test_stable_when_dose_held_and_tone_low_at_two_visits() -> None:
    assert is_stable(path(300, 360, 360), [2.5, 1.0, 1.0], goals_t=None)
    assert not is_stable(path(300, 360, 360), [2.5, 2.0, 1.0], goals_t=None)


def test_not_stable_while_the_dose_is_changing() -> None:
    assert not is_stable(path(300, 360, 432), [1.0, 1.0], goals_t=60)
    assert not is_stable(path(360), [1.0, 1.0], goals_t=60)
    assert not is_stable([], [1.0, 1.0], goals_t=60)


def test_check_after_increases_without_response() -> None:
    """The clinical review: with tone stuck, 12 visits went 300 -> 2,000 mcg/day at +20 % each and never
    suggested a catheter or pump check. After ``check_after_increases_without_response`` increases in a
    row without a drop in tone (a setting, 3), the planner proposes the check, not another increase."""
    from itb.domain.titration import ProposalKind, increases_without_response

    day = [NOW + timedelta(days=14 * k) for k in range(8)]
    versions = [(day[0], 300.0), (day[1], 360.0), (day[3], 432.0), (day[5], 518.0)]
    stuck = [(day[0], 3.0), (day[2], 3.0), (day[4], 3.2), (day[6], 3.0)]
    assert increases_without_response(versions, stuck) == 3
    easing = [(day[0], 3.0), (day[2], 3.0), (day[4], 3.2), (day[6], 2.5)]
    assert increases_without_response(versions, easing) == 0  # the latest increase helped
    p = propose_next_dose(
        518.0, SPINAL, DoseHistory(), day[7], tone_trend=[3.0], goals_t=None, side_effects=False,
        increases_without_response=3,
    )  # fmt: skip
    assert p.kind is ProposalKind.CHECK and p.dose_mcg_per_day == 518.0 and "catheter" in p.reasons[0]
    assert propose_next_dose(
        518.0, SPINAL, DoseHistory(), day[7], tone_trend=[3.0], goals_t=None, side_effects=False,
        increases_without_response=2,
    ).kind is ProposalKind.INCREASE  # fmt: skip

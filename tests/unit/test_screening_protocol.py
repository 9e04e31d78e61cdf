"""The screening trial (``itb.domain.screening``): one test per label rule, named after it.

Source: ``shared/domain.md``, "The drug label rules", "Screening" and "Titration start". Unless a
test says otherwise the patient weighs 30 kg and is 9 years old (not a very small child).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from itb.domain.errors import InvalidInput
from itb.domain.scales import MAS, MAS_RESPONSE_MIN_DROP
from itb.domain.screening import (
    DEFAULT_SCREENING,
    ScreeningSettings,
    TrialOutcome,
    TrialResult,
    is_small_child,
    next_trial_step,
    starting_daily_dose_mcg,
)

DAY1 = datetime(2026, 3, 2, 9, 0)
WEIGHT, AGE = 30.0, 9.0
MUSCLES = ("hip adductors", "hamstrings", "gastrocnemius")


def scored(baseline: str, later: dict[float, str]) -> dict[float, dict[str, str]]:
    """Every muscle at the same grade per time point: baseline at 0 h, then ``later``."""
    rows = {0.0: baseline, **later}
    return {h: dict.fromkeys(MUSCLES, grade) for h, grade in rows.items()}


FLAT = scored("3", {1: "3", 2: "3", 4: "3", 6: "3", 8: "3"})


def trial(dose: float, day: int = 0, scores: dict | None = None) -> TrialResult:
    return TrialResult(dose, DAY1 + timedelta(days=day), scores if scores is not None else FLAT)


def responding(until_h: float = 6) -> dict[float, dict[str, str]]:
    """Tone 3 at baseline, 2 (a drop of 1) from 2 h to ``until_h``, back to 3 after."""
    later = {h: ("2" if 2 <= h <= until_h else "3") for h in (1, 2, 4, 6, 8)}
    if until_h > 8:
        later[until_h] = "2"
        later[until_h + 2] = "3"
    return scored("3", later)


# -- the dose sequence -------------------------------------------------------------------------


def test_screening_first_dose_is_50_by_lumbar_puncture() -> None:
    step = next_trial_step([], WEIGHT, AGE)
    assert step.outcome is TrialOutcome.GIVE_DOSE
    assert step.dose_mcg == 50
    assert step.at is None
    assert step.volume_ml == pytest.approx(1.0)  # 50 mcg of the 50 mcg/mL screening solution
    assert step.score_at_hours == (0, 1, 2, 4, 6, 8)
    assert "drug label" in step.reasons[0]


def test_screening_next_dose_is_75_after_no_response_to_50() -> None:
    step = next_trial_step([trial(50)], WEIGHT, AGE)
    assert step.outcome is TrialOutcome.GIVE_DOSE
    assert step.dose_mcg == 75
    assert step.at == DAY1 + timedelta(hours=24)
    assert any("24 h" in r for r in step.reasons)


def test_screening_next_dose_is_100_24_h_after_no_response_to_75() -> None:
    step = next_trial_step([trial(50), trial(75, day=1)], WEIGHT, AGE)
    assert (step.outcome, step.dose_mcg, step.at) == (TrialOutcome.GIVE_DOSE, 100, DAY1 + timedelta(days=2))


def test_not_a_candidate_after_no_response_to_100() -> None:
    step = next_trial_step([trial(50), trial(75, day=1), trial(100, day=2)], WEIGHT, AGE)
    assert step.outcome is TrialOutcome.NOT_A_CANDIDATE
    assert step.dose_mcg is None
    assert "not a candidate" in step.reasons[0]
    assert "100 mcg" in step.reasons[0]


def test_trials_are_read_in_time_order_whatever_the_list_order() -> None:
    step = next_trial_step([trial(75, day=1), trial(50)], WEIGHT, AGE)
    assert (step.dose_mcg, step.at) == (100, DAY1 + timedelta(days=2))


def test_no_conclusion_before_watching_4_h() -> None:
    short = trial(50, scores=scored("3", {1: "3", 2: "3"}))
    step = next_trial_step([short], WEIGHT, AGE)
    assert step.outcome is TrialOutcome.KEEP_WATCHING
    assert step.dose_mcg is None
    assert step.score_at_hours == (4, 6, 8)
    assert "watch 4-8 h" in step.reasons[0]


# -- very small children -----------------------------------------------------------------------


def test_small_child_starts_at_25() -> None:
    step = next_trial_step([], 8.0, 1.5)
    assert step.dose_mcg == 25
    assert step.volume_ml == pytest.approx(0.5)
    assert any("25 mcg" in r and "drug label" in r for r in step.reasons)


def test_small_child_by_weight_or_by_age_is_a_setting() -> None:
    assert is_small_child(9.9, 5) is not None  # lighter than 10 kg
    assert is_small_child(12, 1) is not None  # younger than 2 years
    assert is_small_child(10, 2) is None
    assert is_small_child(None, 9) is None
    heavier = dataclasses.replace(DEFAULT_SCREENING, small_child_below_kg=15, small_child_below_age_years=None)
    assert next_trial_step([], 12, 1, heavier).dose_mcg == 25
    assert next_trial_step([], 16, 1, heavier).dose_mcg == 50


def test_small_child_goes_on_to_50_after_no_response_to_25() -> None:
    step = next_trial_step([trial(25)], 8.0, 1.5)
    assert (step.dose_mcg, step.at) == (50, DAY1 + timedelta(hours=24))


# -- the response rule -------------------------------------------------------------------------


def test_candidate_after_a_response_refer_to_neurosurgeon() -> None:
    step = next_trial_step([trial(50, scores=responding())], WEIGHT, AGE)
    assert step.outcome is TrialOutcome.CANDIDATE
    assert step.effective_dose_mcg == 50
    assert any("neurosurgeon" in r for r in step.reasons)


def test_positive_at_any_dose_is_a_candidate() -> None:
    step = next_trial_step([trial(50), trial(75, day=1), trial(100, day=2, scores=responding())], WEIGHT, AGE)
    assert step.outcome is TrialOutcome.CANDIDATE
    assert step.effective_dose_mcg == 100


def test_response_is_the_mean_over_tested_groups_from_baseline_to_the_best_time_point() -> None:
    # baseline mean (3 + 2 + 1+) / 3 = 2.1667; at 4 h (2 + 1 + 1) / 3 = 1.333: a drop of 0.833
    scores = {
        0: {"a": "3", "b": "2", "c": "1+"},
        2: {"a": "3", "b": "2", "c": "1"},
        4: {"a": "2", "b": "1", "c": "1"},
    }
    result = TrialResult(50, DAY1, scores)
    assert result.best_drop() == (4, pytest.approx(2.5 / 3))
    assert not result.responded()
    # a 2-point drop in one muscle of three is a mean drop of 0.667: not enough; 1 point in every muscle is
    assert not TrialResult(50, DAY1, {0: {"a": "3", "b": "3", "c": "3"}, 4: {"a": "1", "b": "3", "c": "3"}}).responded()
    assert TrialResult(50, DAY1, scored("3", {4: "2"})).responded()


def test_response_rule_is_a_setting() -> None:
    half_point = TrialResult(50, DAY1, {0: {"a": "2", "b": "2"}, 4: {"a": "1", "b": "2"}})
    assert DEFAULT_SCREENING.response_min_mas_drop == MAS_RESPONSE_MIN_DROP == 1.0
    assert not half_point.responded()
    lenient = dataclasses.replace(DEFAULT_SCREENING, response_min_mas_drop=0.5)
    assert half_point.responded(lenient)
    assert next_trial_step([TrialResult(50, DAY1, half_point.scores)], WEIGHT, AGE, lenient).outcome is (
        TrialOutcome.CANDIDATE
    )


def test_one_plus_counts_between_1_and_2() -> None:
    # 1+ to 0 is a drop of 1.5; 2 to 1+ only 0.5
    assert TrialResult(50, DAY1, {0: {"a": "1+"}, 4: {"a": MAS.ZERO}}).responded()
    assert not TrialResult(50, DAY1, {0: {"a": "2"}, 4: {"a": "1+"}}).responded()


def test_effect_hours_is_how_long_the_drop_stayed_at_the_rule() -> None:
    assert trial(50, scores=responding(until_h=6)).effect_hours() == 6
    assert trial(50, scores=responding(until_h=4)).effect_hours() == 4
    assert trial(50).effect_hours() == 0
    # a broken run ends the effect: 2 h and 4 h respond, 6 h not, 8 h again
    broken = scored("3", {1: "3", 2: "2", 4: "2", 6: "3", 8: "2"})
    assert trial(50, scores=broken).effect_hours() == 4


# -- the starting daily dose -------------------------------------------------------------------


def test_starting_dose_is_twice_the_effective_dose() -> None:
    assert starting_daily_dose_mcg(50, 6) == 100
    assert starting_daily_dose_mcg(75, 8) == 150  # exactly 8 h is not "more than 8 h"
    step = next_trial_step([trial(50, scores=responding(until_h=6))], WEIGHT, AGE)
    assert step.starting_daily_dose_mcg == 100
    assert step.effect_hours == 6


def test_starting_dose_is_once_when_effect_lasts_over_8_h() -> None:
    assert starting_daily_dose_mcg(50, 10) == 50
    step = next_trial_step([trial(50, scores=responding(until_h=12))], WEIGHT, AGE)
    assert (step.effect_hours, step.starting_daily_dose_mcg) == (12, 50)
    assert any("1 x" in r and "more than 8 h" in r for r in step.reasons)


def test_effect_still_present_at_the_last_score_is_flagged() -> None:
    step = next_trial_step([trial(50, scores=responding(until_h=8))], WEIGHT, AGE)
    assert step.starting_daily_dose_mcg == 100
    assert any("still held at the last score" in r for r in step.reasons)


@given(dose=st.sampled_from((25, 50, 75, 100)), hours=st.floats(0, 48))
def test_starting_dose_is_one_or_two_times_the_dose(dose: float, hours: float) -> None:
    start = starting_daily_dose_mcg(dose, hours)
    assert start == (dose if hours > 8 else 2 * dose)


# -- input rules -------------------------------------------------------------------------------


def test_trial_needs_a_baseline_and_the_same_muscles() -> None:
    with pytest.raises(InvalidInput, match="baseline"):
        TrialResult(50, DAY1, {4: {"a": "2"}})
    with pytest.raises(InvalidInput, match="same muscles"):
        TrialResult(50, DAY1, {0: {"a": "2", "b": "2"}, 4: {"a": "1"}})
    with pytest.raises(InvalidInput, match="Modified Ashworth"):
        TrialResult(50, DAY1, {0: {"a": "1.5"}})
    with pytest.raises(InvalidInput, match="dose_mcg"):
        TrialResult(0, DAY1, {0: {"a": "2"}})


def test_grades_are_stored_as_mas() -> None:
    result = TrialResult(50, DAY1, {0: {"a": "1+"}, 4: {"a": 1}}, caregiver_feedback="easier to dress")
    assert result.scores == {0: {"a": MAS.ONE_PLUS}, 4: {"a": MAS.ONE}}
    assert result.caregiver_feedback == "easier to dress"


def test_screening_settings_are_checked() -> None:
    with pytest.raises(InvalidInput) as e:
        ScreeningSettings(doses_mcg=(75, 50), time_points_h=(1, 4), response_min_mas_drop=0)
    fields = {v.field for v in e.value.violations}
    assert {"screening.doses_mcg", "screening.response_min_mas_drop"} <= fields
    with pytest.raises(InvalidInput, match="baseline"):
        ScreeningSettings(time_points_h=(1, 4, 8))


def test_patient_needs_weight_or_age() -> None:
    with pytest.raises(InvalidInput, match="weight or the age"):
        next_trial_step([], None, None)
    with pytest.raises(InvalidInput, match="patient_weight_kg"):
        next_trial_step([], -3, 4)


def test_screening_dose_is_one_of_the_protocol_doses():
    """Drug label: test doses of 50, 75 and 100 mcg (25 mcg first for very small children), never
    more: "500" (500 mcg) and "100 mg" (100,000 mcg) were stored by the web form before."""
    from itb.domain.screening import check_trial_entry

    assert check_trial_entry(50, 6, 4) == []
    assert check_trial_entry(25, None, None) == []
    assert [v.field for v in check_trial_entry(500, None, None)] == ["dose_mcg"]
    assert "largest screening dose" in check_trial_entry(100_000, None, None)[0].rule
    assert "one of the label's screening doses" in check_trial_entry(60, None, None)[0].rule


def test_screening_hours_are_real_numbers_within_three_days():
    """An effect of -50 h, or NaN, was stored before; the label's bolus lasts 4-8 h."""
    from itb.domain.screening import check_trial_entry

    fields = [v.field for v in check_trial_entry(50, -50, float("nan"))]
    assert fields == ["effect_hours", "assessed_after_hours"]
    assert [v.field for v in check_trial_entry(50, 100, 4)] == ["effect_hours"]


def test_side_effects_in_a_trial_stop_the_escalation() -> None:
    """Drug label: overdose signs (drowsiness to respiratory depression) can follow a test dose. A
    dose without a response but with side effects stops the escalation: no larger dose is offered,
    the clinician decides; a response still makes the patient a candidate."""
    sleepy = TrialResult(50, DAY1, FLAT, side_effects="very drowsy at 2 h")
    step = next_trial_step([sleepy], WEIGHT, AGE)
    assert step.outcome is TrialOutcome.STOP and step.dose_mcg is None
    assert "side effects after 50 mcg (very drowsy at 2 h)" in step.reasons[0]
    responded = TrialResult(50, DAY1, responding(), side_effects="mild nausea")
    assert next_trial_step([responded], WEIGHT, AGE).outcome is TrialOutcome.CANDIDATE
    assert next_trial_step([trial(50)], WEIGHT, AGE).outcome is TrialOutcome.GIVE_DOSE

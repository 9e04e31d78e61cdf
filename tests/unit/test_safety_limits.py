"""One test per safety limit (``itb.domain.limits``), named after the limit's code.

Each test shows the limit reached just past its bound and not reached just inside it. Unless a
test says otherwise the patient is a 40-year-old of spinal origin implanted long ago, the drug is
500 mcg/mL, and nothing was raised or given as a bolus recently.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from itb.domain.errors import InvalidInput
from itb.domain.limits import (
    DEFAULT_LIMITS,
    AgeGroup,
    Assessment,
    DoseHistory,
    Finding,
    LimitSettings,
    Origin,
    PatientContext,
    Severity,
    age_group,
    assess_bolus,
    assess_concentration,
    assess_entry,
    assess_first_program,
    assess_program_change,
)
from itb.domain.program import DailyBolus, DosingProgram, Step
from itb.domain.units import Dimension, parse_quantity

NOW = datetime(2026, 3, 2, 12, 0)
SPINAL = PatientContext(Origin.SPINAL, 40)
CEREBRAL = PatientContext(Origin.CEREBRAL, 40)
CHILD_SPINAL = PatientContext(Origin.SPINAL, 8)
CHILD_CEREBRAL = PatientContext(Origin.CEREBRAL, 8)
JUST = timedelta(seconds=1)
NO_HISTORY = DoseHistory()


def codes(assessment: Assessment) -> set[str]:
    return {f.code for f in assessment.findings}


def finding(assessment: Assessment, code: str) -> Finding:
    (found,) = [f for f in assessment.findings if f.code == code]
    return found


def change(
    old: float | None,
    new: float,
    patient: PatientContext = SPINAL,
    history: DoseHistory = NO_HISTORY,
    concentration: float = 500,
    settings: LimitSettings = DEFAULT_LIMITS,
) -> Assessment:
    """A simple continuous program going from ``old`` to ``new`` mcg/day at NOW."""
    old_program = None if old is None else DosingProgram.simple_continuous(old)
    new_program = DosingProgram.simple_continuous(new)
    return assess_program_change(old_program, new_program, concentration, patient, history, NOW, settings)


def bolus(dose: float, history: DoseHistory = NO_HISTORY, settings: LimitSettings = DEFAULT_LIMITS) -> Assessment:
    return assess_bolus(dose, SPINAL, history, NOW, settings)


def bare(text: object, dimension: Dimension = Dimension.RATE):
    return parse_quantity(text, dimension, "rate")


# -- one test per limit ----------------------------------------------------------------------


def test_concentration_known():
    assert "concentration_known" not in codes(assess_concentration(2000))
    assert "concentration_known" not in codes(assess_concentration(0.001))
    for bad in (2000.01, 0, -500, float("nan"), float("inf")):
        found = finding(assess_concentration(bad), "concentration_known")
        assert found.severity is Severity.REFUSE
    message = finding(assess_concentration(2500), "concentration_known").message
    assert "2500 mcg/mL" in message and "2000 mcg/mL" in message and "drug label" in message
    # A refused concentration is not also asked to be confirmed as a dilution.
    assert codes(assess_concentration(2500)) == {"concentration_known"}


def test_concentration_dilution():
    for sold in (50, 500, 1000, 2000, 500.0):
        assert assess_concentration(sold) == Assessment()
    for diluted in (499.99, 500.01, 250, 1500):
        found = finding(assess_concentration(diluted), "concentration_dilution")
        assert found.severity is Severity.CONFIRM
    message = finding(assess_concentration(250), "concentration_dilution").message
    assert "250 mcg/mL" in message and "50, 500, 1000, 2000" in message and "dilution" in message
    # The program change includes the concentration's assessment.
    assert "concentration_dilution" in codes(change(None, 400, concentration=250))


def test_daily_dose_hard_max():
    assert "daily_dose_hard_max" not in codes(change(None, 2000))
    found = finding(change(None, 2000.01), "daily_dose_hard_max")
    assert found.severity is Severity.REFUSE
    assert "2000.01 mcg/day" in found.message and "2000 mcg/day" in found.message and "unverified" in found.message
    # Children: 1500.
    assert "daily_dose_hard_max" not in codes(change(None, 1500, CHILD_SPINAL))
    assert "daily_dose_hard_max" in codes(change(None, 1500.01, CHILD_SPINAL))
    # Daily boluses count toward the daily dose.
    with_boluses = DosingProgram((Step(0, 1900),), (DailyBolus(600, 100.01, 30),))
    assessment = assess_program_change(None, with_boluses, 500, SPINAL, DoseHistory(), NOW)
    assert "daily_dose_hard_max" in codes(assessment)
    # A refused dose is not also asked to be confirmed as outside the usual range.
    assert "maintenance_range" not in codes(change(None, 2500))


@pytest.mark.parametrize(
    ("patient", "low", "high"),
    [(SPINAL, 300, 800), (CEREBRAL, 90, 703), (CHILD_SPINAL, 24, 1199), (CHILD_CEREBRAL, 24, 1199)],
)
def test_maintenance_range(patient: PatientContext, low: float, high: float):
    for inside in (low, high, (low + high) / 2):
        assert "maintenance_range" not in codes(change(None, inside, patient))
    for outside in (low - 0.01, high + 0.01):
        found = finding(change(None, outside, patient), "maintenance_range")
        assert found.severity is Severity.CONFIRM
        assert f"{outside:g} mcg/day" in found.message and f"{low:g} to {high:g} mcg/day" in found.message
        assert "drug label" in found.message
    # A dose of 0 is a stop, not a dose outside the range.
    assert "maintenance_range" not in codes(change(None, 0, patient))


def test_stop_infusion():
    found = finding(change(400, 0), "stop_infusion")
    assert found.severity is Severity.CONFIRM
    assert "withdrawal" in found.message and "MRI" in found.message and "peristaltic" in found.message
    assert "stop_infusion" not in codes(change(400, 0.001))
    all_zero = DosingProgram((Step(0, 0), Step(480, 0)))
    assert "stop_infusion" in codes(assess_program_change(None, all_zero, 500, SPINAL, DoseHistory(), NOW))
    only_boluses = DosingProgram((Step(0, 0),), (DailyBolus(480, 100, 30), DailyBolus(1200, 200, 30)))
    assert "stop_infusion" not in codes(assess_program_change(None, only_boluses, 500, SPINAL, DoseHistory(), NOW))
    # A stop is never a "reduction".
    assert "reduction_step_max" not in codes(change(400, 0))


def test_no_increase_first_24h():
    def implanted(ago: timedelta) -> PatientContext:
        return PatientContext(Origin.SPINAL, 40, implanted_at=NOW - ago)

    found = finding(change(300, 330, implanted(timedelta(hours=24) - JUST)), "no_increase_first_24h")
    assert found.severity is Severity.REFUSE
    assert "300 to 330 mcg/day" in found.message and "24 h" in found.message and "drug label" in found.message
    assert "allowed from 2026-03-02 12:00" in found.message
    assert "no_increase_first_24h" not in codes(change(300, 330, implanted(timedelta(hours=24))))
    # Only increases: the first program and a reduction are allowed right after the implant.
    assert "no_increase_first_24h" not in codes(change(None, 330, implanted(timedelta(hours=1))))
    assert "no_increase_first_24h" not in codes(change(0, 330, implanted(timedelta(hours=1))))
    assert "no_increase_first_24h" not in codes(change(330, 300, implanted(timedelta(hours=1))))


def test_max_one_increase_per_24h():
    def raised(ago: timedelta) -> DoseHistory:
        return DoseHistory(last_increase_at=NOW - ago)

    found = finding(change(300, 330, history=raised(timedelta(hours=24) - JUST)), "max_one_increase_per_24h")
    assert found.severity is Severity.REFUSE
    assert "330 mcg/day" in found.message and "one increase per 24 h" in found.message
    assert "drug label" in found.message
    assert "max_one_increase_per_24h" not in codes(change(300, 330, history=raised(timedelta(hours=24))))
    assert "max_one_increase_per_24h" not in codes(change(330, 300, history=raised(timedelta(hours=1))))


@pytest.mark.parametrize(("patient", "bound"), [(SPINAL, 0.30), (CEREBRAL, 0.15), (CHILD_SPINAL, 0.15)])
def test_increase_step_max(patient: PatientContext, bound: float):
    old = 400
    assert "increase_step_max" not in codes(change(old, old * (1 + bound), patient))
    found = finding(change(old, old * (1 + bound) + 0.01, patient), "increase_step_max")
    assert found.severity is Severity.REFUSE
    assert f"+{bound * 100:g} %" in found.message and "drug label" in found.message
    assert f"at most {old * (1 + bound):g} mcg/day" in found.message
    # A first program (or one after a stop) has no step rule.
    assert "increase_step_max" not in codes(change(None, 700, patient))
    assert "increase_step_max" not in codes(change(0, 700, patient))


@pytest.mark.parametrize(("patient", "bound"), [(SPINAL, 0.10), (CEREBRAL, 0.05), (CHILD_CEREBRAL, 0.05)])
def test_increase_step_min(patient: PatientContext, bound: float):
    old = 400
    assert "increase_step_min" not in codes(change(old, old * (1 + bound), patient))
    found = finding(change(old, old * (1 + bound) - 0.01, patient), "increase_step_min")
    assert found.severity is Severity.CONFIRM
    assert f"+{bound * 100:g} %" in found.message and "drug label" in found.message
    assert "increase_step_min" not in codes(change(old, old, patient))


def test_reduction_step_max():
    assert "reduction_step_max" not in codes(change(400, 320))
    found = finding(change(400, 319.99), "reduction_step_max")
    assert found.severity is Severity.CONFIRM
    assert "319.99 mcg/day" in found.message and "20 %" in found.message and "withdrawal" in found.message
    assert "no less than 320 mcg/day" in found.message


def test_bolus_dose_positive():
    for bad in (0, -10, float("nan")):
        assert finding(bolus(bad), "bolus_dose_positive").severity is Severity.REFUSE
    assert bolus(0.001) == Assessment()


def test_bolus_dose_max():
    assert "bolus_dose_max" not in codes(bolus(100))
    found = finding(bolus(100.01), "bolus_dose_max")
    assert found.severity is Severity.REFUSE
    assert "100.01 mcg" in found.message and "100 mcg" in found.message and "screening dose" in found.message
    # A refused dose is not also asked to be confirmed.
    assert "bolus_dose_high" not in codes(bolus(100.01))


def test_bolus_dose_high():
    assert bolus(50) == Assessment()
    found = finding(bolus(50.01), "bolus_dose_high")
    assert found.severity is Severity.CONFIRM
    assert "50.01 mcg" in found.message and "50 mcg" in found.message and "clinic setting" in found.message


def test_bolus_lockout():
    just_inside = DoseHistory(boluses=((NOW - timedelta(minutes=240) + JUST, 25),))
    found = finding(bolus(25, just_inside), "bolus_lockout")
    assert found.severity is Severity.REFUSE
    assert "25 mcg" in found.message and "240 min" in found.message and "next bolus allowed from" in found.message
    assert bolus(25, DoseHistory(boluses=((NOW - timedelta(minutes=240), 25),))) == Assessment()
    # A bolus recorded later than now is also a reason to wait.
    assert "bolus_lockout" in codes(bolus(25, DoseHistory(boluses=((NOW + timedelta(minutes=5), 25),))))


def test_bolus_daily_max():
    given = DoseHistory(boluses=((NOW - timedelta(hours=20), 100), (NOW - timedelta(hours=10), 50)))
    assert bolus(50, given) == Assessment()
    found = finding(bolus(50.01, given), "bolus_daily_max")
    assert found.severity is Severity.REFUSE
    assert "200.01 mcg" in found.message and "150 mcg" in found.message and "200 mcg per 24 h" in found.message

    # A bolus started 24 h ago or earlier no longer counts.
    def day_old(ago: timedelta) -> DoseHistory:
        return DoseHistory(boluses=((NOW - ago, 100), (NOW - timedelta(hours=10), 100)))

    assert "bolus_daily_max" not in codes(bolus(0.01, day_old(timedelta(hours=24))))
    assert "bolus_daily_max" in codes(bolus(0.01, day_old(timedelta(hours=24) - JUST)))


def test_bare_number_1000x():
    current = 300  # mcg/day
    low = finding(assess_entry(bare(0.6), current), "bare_number_1000x")  # 1/500 of the current value
    assert low.severity is Severity.CONFIRM
    assert "'0.6'" in low.message and "300 mcg/day" in low.message and "did you mean 0.6 mg/day" in low.message
    assert assess_entry(bare(0.61), current) == Assessment()
    assert "bare_number_1000x" in codes(assess_entry(bare("150000"), current))  # 500x
    assert assess_entry(bare(149999), current) == Assessment()
    # Not raised with a unit, without a current value, or for 0.
    assert assess_entry(bare("0.3 mg/day"), current) == Assessment()
    assert assess_entry(bare("0.3 mcg/day"), current) == Assessment()
    assert assess_entry(bare(0.3), None) == Assessment()
    assert assess_entry(bare(0.3), 0) == Assessment()
    assert assess_entry(bare(0), current) == Assessment()
    # Volumes: the slip is mL/µL.
    volume = finding(assess_entry(bare(1500, Dimension.VOLUME), 1.5), "bare_number_1000x")
    assert "did you mean 1500 µL" in volume.message


# -- the assessment as a whole ---------------------------------------------------------------


def test_all_findings_are_collected_together():
    patient = PatientContext(Origin.SPINAL, 40, implanted_at=NOW - timedelta(hours=2))
    history = DoseHistory(last_increase_at=NOW - timedelta(hours=3))
    assessment = change(300, 900, patient, history, concentration=250)
    assert codes(assessment) == {
        "concentration_dilution",
        "maintenance_range",
        "no_increase_first_24h",
        "max_one_increase_per_24h",
        "increase_step_max",
        "large_increase_at_high_dose",
    }
    bolus_history = DoseHistory(boluses=((NOW - timedelta(hours=1), 100), (NOW - timedelta(hours=5), 100)))
    assert codes(bolus(100.01, bolus_history)) == {"bolus_dose_max", "bolus_lockout", "bolus_daily_max"}
    line = assessment.one_line()
    assert line.count("; ") >= 4
    assert "needs confirmation (maintenance_range): new daily dose 900 mcg/day" in line
    assert "refused: increase of +200 %" in line


def test_allowed_needs_every_confirmation_acknowledged():
    assessment = change(300, 315, concentration=250)  # a dilution and a small step
    assert codes(assessment) == {"concentration_dilution", "increase_step_min"}
    assert not assessment.refusals
    assert not assessment.allowed()
    assert not assessment.allowed(["concentration_dilution"])
    assert [f.code for f in assessment.unacknowledged(["concentration_dilution"])] == ["increase_step_min"]
    assert assessment.allowed(["concentration_dilution", "increase_step_min"])
    assert assessment.allowed(iter(["increase_step_min", "concentration_dilution", "unrelated"]))


def test_allowed_is_never_true_with_a_refusal():
    assessment = change(300, 900)
    assert assessment.refusals
    every_code = [f.code for f in assessment.findings]
    assert not assessment.allowed(every_code)
    assert Assessment().allowed()


def test_merged_and_one_line():
    a = assess_concentration(250)
    b = bolus(150)
    merged = a.merged(b)
    assert merged.findings == a.findings + b.findings
    assert merged.confirmations == a.findings and merged.refusals == b.findings
    assert merged.one_line() == (
        f"needs confirmation (concentration_dilution): {a.findings[0].message}; refused: {b.findings[0].message}"
    )
    assert Assessment().one_line() == ""


@pytest.mark.parametrize("origin", list(Origin))
def test_children_take_the_children_bounds_whatever_the_origin(origin: Origin):
    child = PatientContext(origin, 11.99)
    adult = PatientContext(origin, 12)
    assert age_group(11.99) is AgeGroup.CHILD and age_group(12) is AgeGroup.ADULT
    assert "increase_step_max" in codes(change(400, 461, child))  # +15.25 %
    assert "increase_step_min" in codes(change(400, 419, child))  # +4.75 %
    assert "increase_step_min" not in codes(change(400, 421, child))  # +5.25 %
    assert "maintenance_range" not in codes(change(None, 24, child))
    assert "maintenance_range" not in codes(change(None, 1199, child))
    assert "maintenance_range" in codes(change(None, 1200, child))
    assert "daily_dose_hard_max" in codes(change(None, 1600, child))
    assert "daily_dose_hard_max" not in codes(change(None, 1600, adult))
    assert "maintenance_range" in codes(change(None, 24, adult))


def test_settings_are_validated():
    with pytest.raises(InvalidInput) as caught:
        LimitSettings(bolus_daily_max_mcg=-1, maintenance_spinal_min_mcg_per_day=900, bare_number_factor=1)
    fields = {v.field for v in caught.value.violations}
    assert fields == {
        "limits.bolus_daily_max_mcg",
        "limits.maintenance_spinal_min_mcg_per_day",
        "limits.bare_number_factor",
    }
    with pytest.raises(InvalidInput):
        PatientContext(Origin.SPINAL, -1)


def with_(**changes: object) -> LimitSettings:
    return dataclasses.replace(DEFAULT_LIMITS, **changes)


# Each: (code, changed settings, the check run with given settings). The check reaches the limit with the
# defaults and does not with the changed settings, or the other way round (``flips_on``).
SETTING_CASES = [
    ("concentration_known", {"max_concentration_mcg_per_ml": 3000}, lambda s: assess_concentration(2500, s)),
    ("concentration_dilution", {"library_concentrations_mcg_per_ml": (250,)}, lambda s: assess_concentration(250, s)),
    ("daily_dose_hard_max", {"hard_max_daily_dose_adult_mcg": 3000}, lambda s: change(None, 2500, settings=s)),
    (
        "daily_dose_hard_max",
        {"hard_max_daily_dose_child_mcg": 2000},
        lambda s: change(None, 1800, CHILD_SPINAL, settings=s),
    ),
    ("maintenance_range", {"maintenance_spinal_max_mcg_per_day": 1000}, lambda s: change(None, 900, settings=s)),
    ("maintenance_range", {"maintenance_spinal_min_mcg_per_day": 200}, lambda s: change(None, 250, settings=s)),
    (
        "maintenance_range",
        {"maintenance_cerebral_max_mcg_per_day": 800},
        lambda s: change(None, 750, CEREBRAL, settings=s),
    ),
    (
        "maintenance_range",
        {"maintenance_cerebral_min_mcg_per_day": 50},
        lambda s: change(None, 60, CEREBRAL, settings=s),
    ),
    (
        "maintenance_range",
        {"maintenance_child_max_mcg_per_day": 1400},
        lambda s: change(None, 1300, CHILD_SPINAL, settings=s),
    ),
    (
        "maintenance_range",
        {"maintenance_child_min_mcg_per_day": 10},
        lambda s: change(None, 20, CHILD_SPINAL, settings=s),
    ),
    (
        "no_increase_first_24h",
        {"no_increase_after_implant_hours": 12},
        lambda s: change(300, 330, PatientContext(Origin.SPINAL, 40, NOW - timedelta(hours=18)), settings=s),
    ),
    (
        "max_one_increase_per_24h",
        {"min_hours_between_increases": 12},
        lambda s: change(300, 330, history=DoseHistory(NOW - timedelta(hours=18)), settings=s),
    ),
    ("increase_step_max", {"increase_max_fraction_spinal": 0.5}, lambda s: change(300, 420, settings=s)),
    ("increase_step_max", {"increase_max_fraction_cerebral": 0.5}, lambda s: change(300, 360, CEREBRAL, settings=s)),
    ("increase_step_max", {"increase_max_fraction_child": 0.5}, lambda s: change(300, 360, CHILD_SPINAL, settings=s)),
    ("increase_step_min", {"increase_min_fraction_spinal": 0.05}, lambda s: change(300, 320, settings=s)),
    ("increase_step_min", {"increase_min_fraction_cerebral": 0.02}, lambda s: change(300, 310, CEREBRAL, settings=s)),
    ("increase_step_min", {"increase_min_fraction_child": 0.02}, lambda s: change(300, 310, CHILD_SPINAL, settings=s)),
    ("reduction_step_max", {"max_reduction_fraction": 0.3}, lambda s: change(400, 300, settings=s)),
    ("bolus_dose_max", {"bolus_hard_max_mcg": 150}, lambda s: bolus(120, settings=s)),
    ("bolus_dose_high", {"bolus_confirm_above_mcg": 80}, lambda s: bolus(75, settings=s)),
    (
        "bolus_lockout",
        {"bolus_lockout_minutes": 60},
        lambda s: bolus(25, DoseHistory(boluses=((NOW - timedelta(hours=2), 25),)), s),
    ),
    (
        "bolus_daily_max",
        {"bolus_daily_max_mcg": 300},
        lambda s: bolus(50, DoseHistory(boluses=((NOW - timedelta(hours=8), 100), (NOW - timedelta(hours=5), 100))), s),
    ),
    ("bare_number_1000x", {"bare_number_factor": 2000}, lambda s: assess_entry(bare(0.3), 300, s)),
]


@pytest.mark.parametrize(("code", "changes", "check"), SETTING_CASES, ids=[c[0] for c in SETTING_CASES])
def test_changed_settings_change_the_outcome(code, changes, check):
    assert code in codes(check(DEFAULT_LIMITS))
    assert code not in codes(check(with_(**changes)))


def test_child_age_is_a_setting():
    teen = PatientContext(Origin.SPINAL, 14)
    assert "increase_step_max" not in codes(change(400, 500, teen))
    assert "increase_step_max" in codes(change(400, 500, teen, settings=with_(child_below_age_years=18)))
    assert age_group(14, with_(child_below_age_years=18)) is AgeGroup.CHILD


def test_every_setting_is_documented():
    text = (Path(__file__).parents[2] / "docs" / "parameters.md").read_text(encoding="utf-8")
    for field in dataclasses.fields(LimitSettings):
        assert f"`{field.name}`" in text, field.name


def test_start_above_screening():
    """Drug label: the first daily dose after the implant is 2 x the effective screening dose (1 x
    when its effect lasted over 8 h); starting above it is confirmed (code start_above_screening)."""
    start = 100.0  # a positive 50 mcg trial, effect under 8 h
    at_start = assess_first_program(DosingProgram.simple_continuous(100), 500, SPINAL, NOW, start)
    above = assess_first_program(DosingProgram.simple_continuous(300), 500, SPINAL, NOW, start)
    assert "start_above_screening" not in {f.code for f in at_start.findings}
    assert "start_above_screening" in {f.code for f in above.confirmations}
    assert above.allowed(tuple(f.code for f in above.confirmations))


def test_a_first_program_passes_the_limits_of_any_program():
    """A pump's first program (at implant or registration) meets the hard maximum and the
    maintenance ranges like any change (drug label; hard maximum: clinic setting)."""
    too_much = assess_first_program(DosingProgram.simple_continuous(5000), 500, SPINAL, NOW)
    assert "daily_dose_hard_max" in {f.code for f in too_much.refusals}
    low = assess_first_program(DosingProgram.simple_continuous(100), 500, SPINAL, NOW)
    assert "maintenance_range" in {f.code for f in low.confirmations}
    child = assess_first_program(DosingProgram.simple_continuous(1600), 500, CHILD_CEREBRAL, NOW)
    assert "daily_dose_hard_max" in {f.code for f in child.refusals}  # 1,500 for a child
    unknown = assess_first_program(DosingProgram.simple_continuous(300), 3000, SPINAL, NOW)
    assert "concentration_known" in {f.code for f in unknown.refusals}


def test_age_below_label():
    """Drug label (domain.md): paediatric use is from age 4; younger children need an explicit
    clinician's decision, so every program for them is confirmed (code age_below_label)."""
    toddler = PatientContext(Origin.CEREBRAL, 3.5)
    change = assess_program_change(
        DosingProgram.simple_continuous(100), DosingProgram.simple_continuous(105), 500, toddler, DoseHistory(), NOW
    )
    assert "age_below_label" in {f.code for f in change.confirmations}
    first = assess_first_program(DosingProgram.simple_continuous(50), 500, toddler, NOW)
    assert "age_below_label" in {f.code for f in first.confirmations}
    four = PatientContext(Origin.CEREBRAL, 4.0)
    assert "age_below_label" not in {
        f.code for f in assess_first_program(DosingProgram.simple_continuous(50), 500, four, NOW).findings
    }


# -- maintenance steps, high doses, restarts ----------------------------------------------------


def test_maintenance_increase_max_fraction_cerebral():
    """Drug label (Lioresal Intrathecal, Dosage and Administration, Maintenance Therapy): in
    maintenance a cerebral-origin dose may rise 5-20 % (titration: 5-15 %), so +18 % at a refill
    visit is allowed, +25 % is refused."""
    maintenance = PatientContext(Origin.CEREBRAL, 30, maintenance=True)
    assert "increase_step_max" not in codes(change(300, 354, maintenance))
    assert "increase_step_max" in codes(change(300, 354, PatientContext(Origin.CEREBRAL, 30)))
    refused = finding(change(300, 375, maintenance), "increase_step_max")
    assert "above +20 %" in refused.message and "maintenance" in refused.message


def test_maintenance_increase_max_fraction_spinal():
    """Drug label (Lioresal Intrathecal, Maintenance Therapy): spinal origin +10-40 % in maintenance."""
    maintenance = PatientContext(Origin.SPINAL, 40, maintenance=True)
    assert "increase_step_max" not in codes(change(400, 540, maintenance))  # +35 %
    assert "increase_step_max" in codes(change(400, 540, PatientContext(Origin.SPINAL, 40)))  # titration: 30 %
    assert "increase_step_max" in codes(change(400, 580, maintenance))  # +45 %


def test_high_dose_max_increase_fraction():
    """Clinic setting: above 800 mcg/day (the top of the usual spinal range, domain.md) a step of
    more than +20 % is confirmed with the absolute increase shown and a catheter check named."""
    maintenance = PatientContext(Origin.SPINAL, 40, maintenance=True)
    high = finding(change(1000, 1250, maintenance), "large_increase_at_high_dose")
    assert high.severity is Severity.CONFIRM and "+250 mcg/day" in high.message and "catheter" in high.message
    assert "large_increase_at_high_dose" not in codes(change(1000, 1200, maintenance))
    assert "large_increase_at_high_dose" not in codes(change(500, 640, maintenance))  # +28 % below 800


def test_restart_after_stop_hours_and_restart_max_fraction():
    """Clinic setting, unverified: after more than 24 h without drug a restart above half the old
    dose is confirmed (tolerance falls; a full-dose restart after a drug holiday is an overdose path)."""
    adult = PatientContext(Origin.SPINAL, 40)
    stop = DoseHistory(stopped_at=NOW - timedelta(days=3), dose_before_stop_mcg=600)
    restart = finding(change(0, 600, adult, stop), "restart_after_stop")
    assert restart.severity is Severity.CONFIRM and "no more than 50 % (300 mcg/day)" in restart.message
    assert "restart_after_stop" not in codes(change(0, 300, adult, stop))
    recent = DoseHistory(stopped_at=NOW - timedelta(hours=6), dose_before_stop_mcg=600)
    assert "restart_after_stop" not in codes(change(0, 600, adult, recent))


def test_drug_products_each_judge_their_own_strengths():
    """Product labels: Lioresal Intrathecal is sold as 50, 500 and 2,000 mcg/mL, Gablofen adds
    1,000 mcg/mL; with the product chosen at a refill, 1,000 mcg/mL of Lioresal is a dilution to
    confirm, of Gablofen a strength sold."""
    from itb.domain.limits import DRUG_PRODUCTS, assess_concentration, product_named

    lioresal, gablofen = product_named("lioresal  intrathecal"), product_named("Gablofen")
    assert lioresal is not None and gablofen is not None and len(DRUG_PRODUCTS) == 2
    (found,) = assess_concentration(1000, DEFAULT_LIMITS, lioresal).findings
    assert found.code == "concentration_not_in_product" and found.severity is Severity.CONFIRM
    assert "sold as 50, 500, 2000 mcg/mL, not 1000" in found.message
    assert assess_concentration(1000, DEFAULT_LIMITS, gablofen) == Assessment()
    assert assess_concentration(1000) == Assessment()  # no product named: any product's strength
    assert product_named("Baclofen Plus") is None


def test_boxed_warning_high_risk_at_every_stop_reduction_and_refill():
    """Drug label, boxed warning: abrupt discontinuation can kill; special attention to patients
    at apparent risk (injury at T6 or above, communication difficulties, earlier withdrawal). For
    them a stop and a reduction are confirmed with the warning; an increase is not."""
    high = PatientContext(Origin.SPINAL, 40, high_risk=True)
    stop = finding(change(400, 0, high), "boxed_warning_high_risk")
    assert stop.message.startswith("a stop: abrupt discontinuation") and "rhabdomyolysis" in stop.message
    assert "boxed_warning_high_risk" in codes(change(400, 360, high))
    assert "boxed_warning_high_risk" not in codes(change(400, 440, high))
    assert "boxed_warning_high_risk" not in codes(change(400, 360))

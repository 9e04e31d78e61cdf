"""MRI checklist, battery replacement plan and pump-size advice (``itb.domain.mri``, ``.replacement``, ``.pump_size``).

Sources: ``shared/domain.md``, "The pump" (MRI rows, battery row, reservoir sizes, alarm volume) and
"Refills" (book a few days before the alarm; 180 days at most).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

import itb.domain.csf as csf_module
import itb.domain.mri as mri_module
import itb.domain.pump_size as size_module
import itb.domain.replacement as replacement_module
from itb.domain.devices import PERISTALTIC, VALVE_GATED, MriBehaviour
from itb.domain.errors import InvalidInput
from itb.domain.mri import MOTOR_STALL, SAFETY_VALVE, mri_plan
from itb.domain.pump_size import advise_size as _advise_size
from itb.domain.pump_size import refill_interval_days as _refill_interval_days
from itb.domain.refill import priming_bolus
from itb.domain.replacement import DAYS_PER_YEAR, ReplacementSettings, replacement_plan
from itb.domain.scheduling import DEFAULT_BOOKING

T0 = datetime(2020, 3, 1, 9, 0)

#: The cases below are worked by hand with a 4-day margin before the alarm; the default margin is
#: the booking's (BookingSettings.refill_margin_days, 7 days), tested on its own.
advise_size = partial(_advise_size, margin_days=4)
refill_interval_days = partial(_refill_interval_days, margin_days=4)


def test_pump_size_margin_is_the_booking_margin() -> None:
    # 20 - 2 = 18 mL at 0.5 mL/day lasts 36 days, less the 7-day booking margin
    assert DEFAULT_BOOKING.refill_margin_days == 7
    assert _refill_interval_days(20, 1000, 500) == pytest.approx(36 - DEFAULT_BOOKING.refill_margin_days)


@pytest.mark.parametrize("module", [csf_module, mri_module, replacement_module, size_module])
def test_domain_modules_import_nothing_outside_the_domain(module) -> None:
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and m.startswith("itb.") and not m.startswith("itb.domain")}


# -- MRI ----------------------------------------------------------------------------------------


def test_mri_behaviour_names_mirror_the_pump_models() -> None:
    assert {MOTOR_STALL, SAFETY_VALVE} == {b.value for b in MriBehaviour}


def test_valve_gated_pump_is_emptied_and_zeroed_before_and_reset_after() -> None:
    plan = mri_plan(VALVE_GATED, 12.5, 480)
    before = " ".join(plan.before).lower()
    after = " ".join(plan.after).lower()
    assert "empty the reservoir" in before and "12.5 ml" in before
    assert "dose to zero" in before
    assert before.index("empty the reservoir") < before.index("scan only")
    assert "reset the safety valve" in after and "10 ul" in after
    assert "refill" in after and "480 mcg/day" in after
    assert after.index("reset") < after.index("reprogram")
    assert plan.check_needed
    assert any("withdrawal" in w for w in plan.warnings)
    assert any("20 mcg missed each hour" in w for w in plan.warnings)  # 480 / 24


def test_peristaltic_pump_is_never_programmed_stopped_and_is_interrogated_after() -> None:
    plan = mri_plan(PERISTALTIC, 15, 600)
    before = " ".join(plan.before)
    assert "Do NOT program the pump to 'stopped'" in before
    assert not any(step.lower().startswith(("program", "empty")) for step in plan.before)
    assert "stall" in before
    assert plan.after[0].startswith("Interrogate the pump after the scan")
    assert "recovered" in plan.after[0]
    assert "2-24 h" in " ".join(plan.after)
    assert plan.check_needed
    assert any("25 mcg is missed" in w for w in plan.warnings)  # 600 / 24
    assert any("critical" in w for w in plan.warnings)


def test_mri_without_a_dose_has_no_withdrawal_warning_but_still_a_check() -> None:
    for model in (PERISTALTIC, VALVE_GATED):
        plan = mri_plan(model, 0, 0)
        assert plan.check_needed
        assert not any("withdrawal" in w for w in plan.warnings)


def test_mri_refuses_bad_input_and_unknown_pumps() -> None:
    with pytest.raises(InvalidInput):
        mri_plan(PERISTALTIC, -1, 100)
    with pytest.raises(InvalidInput):
        mri_plan(VALVE_GATED, 10, -5)

    @dataclass
    class Unknown:
        name: str = "other"
        mri: str = "unknown"
        safety_valve_closure_ml: float = 0.01

    with pytest.raises(InvalidInput, match="unknown MRI behaviour"):
        mri_plan(Unknown(), 10, 100)


# -- replacement ----------------------------------------------------------------------------------


def test_replacement_from_the_implant_date_and_the_daily_volume() -> None:
    now = T0 + timedelta(days=700)
    plan = replacement_plan(PERISTALTIC, T0, daily_volume_ml=1.0, now=now, concentration_mcg_per_ml=1000)
    eri = T0 + timedelta(days=PERISTALTIC.battery.days_to_eri(1.0))
    assert plan.eri_at == eri
    assert plan.end_of_service_at == eri + timedelta(days=90)
    assert plan.surgery_by == plan.end_of_service_at - timedelta(days=183)  # about 6 months before the stop
    assert not plan.overdue
    assert "estimated from the implant date" in plan.basis
    # 2521 / (1 + 0.419) days = 4.87 years to ERI: inside the seed's 4-7 years
    assert 4 <= (plan.end_of_service_at - T0).days / DAYS_PER_YEAR <= 7


def test_priming_bolus_of_the_new_pump() -> None:
    plan = replacement_plan(PERISTALTIC, T0, daily_volume_ml=0.5, now=T0, concentration_mcg_per_ml=1000)
    # 50 cm x 0.0026 mL/cm + 0.19 mL tubing = 0.32 mL; at 1000 mcg/mL, 320 mcg
    assert plan.priming.volume_ml == pytest.approx(0.32)
    assert plan.priming.dose_mcg == pytest.approx(320)
    assert plan.priming == priming_bolus(
        catheter_length_cm=50, catheter_ml_per_cm=0.0026, pump_tubing_ml=0.19, concentration_mcg_per_ml=1000
    )
    # a valve-gated pump put in instead, onto a catheter still full of drug: its tubing only
    other = replacement_plan(
        PERISTALTIC,
        T0,
        daily_volume_ml=0.5,
        now=T0,
        concentration_mcg_per_ml=2000,
        new_model=VALVE_GATED,
        catheter_length_cm=0,
    )
    assert other.priming.volume_ml == pytest.approx(0.05)
    assert other.priming.dose_mcg == pytest.approx(100)
    assert any("overdose" in n for n in plan.notes)


def test_peristaltic_hard_stop_at_seven_years() -> None:
    plan = replacement_plan(PERISTALTIC, T0, daily_volume_ml=0.0, now=T0, concentration_mcg_per_ml=500)
    hard_stop = T0 + timedelta(days=7 * DAYS_PER_YEAR)
    assert plan.end_of_service_at == hard_stop
    assert plan.eri_at == hard_stop - timedelta(days=90)
    # even when the battery has plenty left
    late = T0 + timedelta(days=6.6 * DAYS_PER_YEAR)
    plan = replacement_plan(
        PERISTALTIC, T0, daily_volume_ml=0.1, now=late, energy_used_fraction=0.1, concentration_mcg_per_ml=500
    )
    assert plan.end_of_service_at == hard_stop
    assert plan.overdue  # 6.6 years in: past 6 months before the 7-year stop
    assert any("Hard stop" in n for n in plan.notes)


def test_valve_gated_pump_has_no_hard_stop() -> None:
    plan = replacement_plan(VALVE_GATED, T0, daily_volume_ml=0.05, now=T0, concentration_mcg_per_ml=500)
    assert (plan.end_of_service_at - T0).days / DAYS_PER_YEAR > 10  # "10+ years"
    assert not any("Hard stop" in n for n in plan.notes)


def test_replacement_from_the_energy_used() -> None:
    now = T0 + timedelta(days=1000)
    plan = replacement_plan(
        PERISTALTIC, T0, daily_volume_ml=2.0, now=now, energy_used_fraction=0.5, concentration_mcg_per_ml=1000
    )
    battery = PERISTALTIC.battery
    left = 0.5 * battery.eri_budget_units / (1 + battery.pumping_units_per_ml * 2.0)
    assert plan.eri_at == now + timedelta(days=left)
    assert "50% of the battery used" in plan.basis


def test_a_higher_daily_volume_brings_the_replacement_forward() -> None:
    dates = [
        replacement_plan(PERISTALTIC, T0, daily_volume_ml=v, now=T0, concentration_mcg_per_ml=1000).surgery_by
        for v in (0.2, 0.5, 1.0, 2.0)
    ]
    assert dates == sorted(dates, reverse=True)


def test_reported_eri_and_overdue_notes() -> None:
    eri = T0 + timedelta(days=5 * 365)
    kwargs = {"daily_volume_ml": 0.5, "concentration_mcg_per_ml": 1000, "eri_at": eri}
    plan = replacement_plan(PERISTALTIC, T0, now=eri - timedelta(days=200), **kwargs)
    assert plan.eri_at == eri and plan.basis == "the ERI date reported by the pump"
    assert not plan.overdue
    plan = replacement_plan(PERISTALTIC, T0, now=eri - timedelta(days=10), **kwargs)
    assert plan.overdue and any("schedule the replacement now" in n for n in plan.notes)
    plan = replacement_plan(PERISTALTIC, T0, now=eri + timedelta(days=30), **kwargs)
    assert any("ERI reached" in n and "60 days" in n for n in plan.notes)
    plan = replacement_plan(PERISTALTIC, T0, now=eri + timedelta(days=91), **kwargs)
    assert any("End of service" in n for n in plan.notes)


def test_replacement_lead_time_is_a_setting() -> None:
    plan = replacement_plan(
        PERISTALTIC,
        T0,
        daily_volume_ml=1.0,
        now=T0,
        concentration_mcg_per_ml=1000,
        settings=ReplacementSettings(lead_days=90),
    )
    assert plan.surgery_by == plan.eri_at


def test_replacement_refuses_contradictions() -> None:
    with pytest.raises(InvalidInput, match="not both"):
        replacement_plan(
            PERISTALTIC,
            T0,
            daily_volume_ml=1,
            now=T0,
            concentration_mcg_per_ml=1000,
            eri_at=T0,
            energy_used_fraction=0.3,
        )
    with pytest.raises(InvalidInput):
        replacement_plan(PERISTALTIC, T0, daily_volume_ml=-1, now=T0, concentration_mcg_per_ml=1000)
    with pytest.raises(InvalidInput):
        replacement_plan(
            PERISTALTIC, T0, daily_volume_ml=1, now=T0, concentration_mcg_per_ml=1000, energy_used_fraction=1.5
        )
    with pytest.raises(InvalidInput):
        replacement_plan(PERISTALTIC, T0, daily_volume_ml=1, now=T0 - timedelta(days=1), concentration_mcg_per_ml=1)


def test_a_custom_battery_without_hard_stop() -> None:
    model = replace(PERISTALTIC, battery=replace(PERISTALTIC.battery, hard_life_years=None))
    plan = replacement_plan(model, T0, daily_volume_ml=0.0, now=T0, concentration_mcg_per_ml=500)
    assert plan.eri_at == T0 + timedelta(days=2521)


# -- pump size ------------------------------------------------------------------------------------

ON_HAND = (500.0, 1000.0, 2000.0)


def test_refill_interval_by_hand() -> None:
    # 500 mcg/day at 1000 mcg/mL = 0.5 mL/day; 20 - 2 = 18 mL lasts 36 days; less 4 = 32
    assert refill_interval_days(20, 1000, 500) == pytest.approx(32)
    assert refill_interval_days(40, 1000, 500) == pytest.approx(72)
    assert refill_interval_days(20, 2000, 50) == 180  # 716 days capped by stability
    assert refill_interval_days(20, 50, 1000) == 0  # never negative
    assert refill_interval_days(20, 500, 0) == 180


def test_the_lowest_concentration_that_reaches_the_interval_in_the_small_pump() -> None:
    advice = advise_size(500, ON_HAND, 30)
    assert (advice.capacity_ml, advice.concentration, advice.refill_interval_days) == (20, 1000, 32)
    assert advice.meets_need
    words = " ".join(advice.reasons)
    assert "20 mL at 500 mcg/mL: refill every 14 days" in words
    assert "smaller pump is preferred" in words


def test_twenty_ml_preferred_when_both_work() -> None:
    advice = advise_size(500, ON_HAND, 60)
    assert (advice.capacity_ml, advice.concentration, advice.refill_interval_days) == (20, 2000, 68)
    advice = advise_size(200, (500.0,), 30)  # 0.4 mL/day: 20 mL gives 41 days, 40 mL 91
    assert advice.capacity_ml == 20 and advice.refill_interval_days == pytest.approx(41)


def test_forty_ml_when_the_small_pump_is_not_enough() -> None:
    advice = advise_size(500, (500.0,), 30)  # 20 mL: 14 days; 40 mL: 34 days
    assert (advice.capacity_ml, advice.concentration, advice.refill_interval_days) == (40, 500, 34)
    assert advice.meets_need


def test_nothing_on_hand_is_enough() -> None:
    advice = advise_size(800, (500.0, 1000.0), 120)
    # best: 40 mL at 1000 mcg/mL: 38 / 0.8 = 47.5 days - 4 = 43.5
    assert (advice.capacity_ml, advice.concentration) == (40, 1000)
    assert advice.refill_interval_days == pytest.approx(43.5)
    assert not advice.meets_need
    assert "No pump and concentration on hand" in advice.reasons[-1]


def test_stability_caps_the_interval() -> None:
    advice = advise_size(50, ON_HAND, 365)
    assert advice.refill_interval_days == 180
    assert advice.meets_need  # 180 days is the most any refill may last
    # at 500 mcg/mL: 18 mL / 0.1 mL/day - 4 = 176 days < 180; at 1000: 356, capped at 180
    assert advice.capacity_ml == 20 and advice.concentration == 1000
    assert advice.reasons[0].startswith("The family could manage 365 days")


def test_alarm_and_margin_are_settings() -> None:
    advice = advise_size(500, ON_HAND, 30, low_alarm_ml=4.0, margin_days=3)
    # 20 mL at 1000: (20 - 4) / 0.5 - 3 = 29 < 30; at 2000: 16 / 0.25 - 3 = 61
    assert (advice.capacity_ml, advice.concentration, advice.refill_interval_days) == (20, 2000, 61)


def test_size_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput):
        advise_size(500, (), 30)
    with pytest.raises(InvalidInput):
        advise_size(500, (0.0,), 30)
    with pytest.raises(InvalidInput):
        advise_size(-1, ON_HAND, 30)
    with pytest.raises(InvalidInput):
        advise_size(500, ON_HAND, 30, low_alarm_ml=25.0)

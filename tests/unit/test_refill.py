"""Refill arithmetic (``itb.domain.refill``): discrepancy, overfill, bridge and priming boluses, next refill.

Sources: ``shared/domain.md``, "Refills" (2 mL, or 1 mL for 20 mL pumps; the device tolerance; never
overfill; a bridge bolus after a concentration change; book the next refill a few days before the
low-reservoir alarm; at least every 180 days).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from itb.domain.limits import Assessment, Finding, Severity
from itb.domain.refill import (
    DEFAULT_REFILL,
    BridgeBolus,
    PrimingBolus,
    RefillSettings,
    assess_refill,
    bridge_bolus,
    concentration_decrease,
    discrepancy_threshold_ml,
    next_refill_date,
    priming_bolus,
)
from itb.domain.scheduling import DEFAULT_BOOKING, BookingSettings

NO_TOLERANCE = RefillSettings(use_device_tolerance=False)
SMALL_PUMP_RULE = RefillSettings(use_small_pump_threshold=True)
REFILLED = datetime(2026, 3, 1, 9, 30)


def codes(assessment: Assessment) -> list[str]:
    return [f.code for f in assessment.findings]


def only(assessment: Assessment, code: str) -> Finding:
    (found,) = [f for f in assessment.findings if f.code == code]
    return found


def refill(expected: float, withdrawn: float, *, added: float = 20.0, capacity: float = 40.0, **kw) -> Assessment:
    return assess_refill(expected_ml=expected, withdrawn_ml=withdrawn, added_ml=added, capacity_ml=capacity, **kw)


# -- discrepancy: the default 2 mL ------------------------------------------------------------


def test_default_settings_are_the_documented_numbers():
    assert DEFAULT_REFILL.discrepancy_ml == 2.0
    assert DEFAULT_REFILL.small_pump_discrepancy_ml == 1.0
    assert DEFAULT_REFILL.use_small_pump_threshold is False
    assert DEFAULT_BOOKING.refill_margin_days == 7.0  # families are told 7-10 days before the printed date
    assert DEFAULT_BOOKING.max_refill_interval_days == 180


@pytest.mark.parametrize(("expected", "withdrawn"), [(5.0, 7.0), (7.0, 5.0), (10.0, 10.0), (6.0, 7.5)])
def test_a_difference_up_to_2_ml_is_not_flagged(expected, withdrawn):
    assert refill(expected, withdrawn).findings == ()


@pytest.mark.parametrize(("expected", "withdrawn"), [(5.0, 7.01), (7.01, 5.0)])
def test_a_difference_just_over_2_ml_is_flagged(expected, withdrawn):
    found = only(refill(expected, withdrawn), "refill_discrepancy")
    assert found.severity is Severity.CONFIRM
    assert "2.01 mL" in found.message
    assert "more than 2 mL" in found.message


@pytest.mark.parametrize(("expected", "withdrawn"), [(2.4, 4.4), (6.3, 8.3), (4.4, 2.4), (8.3, 6.3)])
def test_exactly_2_ml_is_not_flagged_whatever_the_float_noise(expected, withdrawn):
    # 4.4 - 2.4 == 2.0000000000000004 in binary floating point: still exactly 2.00 mL at the bedside.
    assert abs(withdrawn - expected) != 2.0
    assert refill(expected, withdrawn, settings=NO_TOLERANCE).findings == ()


def test_more_withdrawn_than_expected_means_under_infusion_or_a_blocked_catheter():
    message = only(refill(expected=4.0, withdrawn=7.0), "refill_discrepancy").message
    assert "withdrew 7 mL, expected 4.00 mL: 3.00 mL more than expected" in message
    assert "under-infused" in message
    assert "catheter is blocked" in message
    assert "pocket fill" not in message


def test_less_withdrawn_than_expected_means_over_infusion_or_a_pocket_fill():
    message = only(refill(expected=7.0, withdrawn=4.0), "refill_discrepancy").message
    assert "withdrew 4 mL, expected 7.00 mL: 3.00 mL less than expected" in message
    assert "over-infused" in message
    assert "pocket fill" in message
    assert "overdose" in message
    assert "blocked" not in message


# -- the named option "1 mL for 20 mL pumps" ---------------------------------------------------


def test_small_pump_option_applies_to_20_ml_pumps_only():
    assert discrepancy_threshold_ml(20.0, SMALL_PUMP_RULE) == 1.0
    assert discrepancy_threshold_ml(40.0, SMALL_PUMP_RULE) == 2.0
    assert discrepancy_threshold_ml(20.0) == 2.0  # off by default
    # 1.5 mL off: flagged in a 20 mL pump under the option, not in a 40 mL pump, not without it.
    small = refill(5.0, 6.5, added=18, capacity=20, settings=SMALL_PUMP_RULE)
    assert "more than 1 mL" in only(small, "refill_discrepancy").message
    assert refill(5.0, 6.5, added=18, capacity=40, settings=SMALL_PUMP_RULE).findings == ()
    assert refill(5.0, 6.5, added=18, capacity=20).findings == ()
    # exactly 1 mL is not flagged
    assert refill(5.0, 6.0, added=18, capacity=20, settings=SMALL_PUMP_RULE).findings == ()


# -- the device tolerance ----------------------------------------------------------------------


def test_device_tolerance_flags_a_difference_beyond_tolerance_times_volume_pumped():
    # 14.5 % of 4 mL pumped = 0.58 mL: 1 mL off is within 2 mL but beyond the device's tolerance.
    found = only(refill(10.0, 11.0, pumped_since_refill_ml=4.0, flow_tolerance=0.145), "refill_discrepancy")
    assert "device tolerance (14.5% of 4 mL)" in found.message
    assert "more than 2 mL" not in found.message
    # 0.5 mL is within 0.58 mL
    assert refill(10.0, 10.5, pumped_since_refill_ml=4.0, flow_tolerance=0.145).findings == ()
    # 3 mL off: both reasons, one finding
    both = refill(10.0, 13.0, pumped_since_refill_ml=4.0, flow_tolerance=0.145)
    assert codes(both) == ["refill_discrepancy"]
    assert "more than 2 mL and more than the device tolerance" in both.findings[0].message


def test_device_tolerance_scales_with_the_volume_pumped():
    # 14.5 % of 20 mL = 2.9 mL: a 2.5 mL difference is flagged by the 2 mL rule only.
    message = only(refill(5.0, 7.5, pumped_since_refill_ml=20.0, flow_tolerance=0.145), "refill_discrepancy").message
    assert "more than 2 mL" in message
    assert "device tolerance" not in message


def test_device_tolerance_can_be_switched_off():
    kw = {"pumped_since_refill_ml": 4.0, "flow_tolerance": 0.145}
    assert refill(10.0, 11.0, settings=NO_TOLERANCE, **kw).findings == ()
    # and it needs both numbers
    assert refill(10.0, 11.0, pumped_since_refill_ml=None, flow_tolerance=0.145).findings == ()
    assert refill(10.0, 11.0, pumped_since_refill_ml=4.0, flow_tolerance=None).findings == ()


# -- overfill and the volume added ---------------------------------------------------------------


def test_overfill_is_refused():
    found = only(refill(5.0, 5.0, added=20.5, capacity=20.0), "refill_overfill")
    assert found.severity is Severity.REFUSE
    assert "20.5 mL" in found.message and "20 mL reservoir" in found.message
    assert not refill(5.0, 5.0, added=20.5, capacity=20.0).allowed(["refill_overfill"])


def test_filling_to_the_reservoir_size_is_allowed():
    assert refill(5.0, 5.0, added=20.0, capacity=20.0).findings == ()


@pytest.mark.parametrize("added", [0.0, -1.0])
def test_adding_nothing_is_refused(added):
    assessment = refill(5.0, 5.0, added=added, capacity=20.0)
    assert codes(assessment) == ["refill_volume_positive"]
    assert assessment.refusals[0].severity is Severity.REFUSE


def test_overfill_and_discrepancy_are_reported_together():
    assessment = refill(5.0, 9.0, added=25.0, capacity=20.0)
    assert codes(assessment) == ["refill_overfill", "refill_discrepancy"]


# -- bridge bolus ---------------------------------------------------------------------------------


def test_bridge_bolus_worked_example():
    # Dead volume 0.32 mL (0.19 mL tubing + 50 cm x 0.0026 mL/cm) holds 500 mcg/mL drug; the new
    # drug is 1000 mcg/mL; the program gives 220 mcg/day.
    #   dose     = V (c_new - c_old)   = 0.32 x 500         = 160 mcg (counted at 1000 mcg/mL: 0.16 mL)
    #   duration = V c_old / D days    = 0.32 x 500 / 220   = 0.727272... days = 1047.27 min
    # Check: in 1047.27 min the program pushes 220/1000 x 0.72727 = 0.16 mL, the bolus 0.16 mL: 0.32 mL,
    # and the patient gets 0.32 x 500 = 160 mcg of old drug = 220 mcg/day x 0.72727 days.
    bridge = bridge_bolus(
        dead_volume_ml=0.32, old_concentration_mcg_per_ml=500, new_concentration_mcg_per_ml=1000, daily_dose_mcg=220
    )
    assert isinstance(bridge, BridgeBolus)
    assert bridge.dead_volume_ml == 0.32
    assert bridge.dose_mcg == pytest.approx(160.0)
    assert bridge.duration_minutes == pytest.approx(1047.2727, abs=1e-3)
    assert bridge.duration_minutes == pytest.approx(0.32 * 500 / 220 * 1440)


def test_no_bridge_when_the_concentration_is_unchanged():
    kw = {"dead_volume_ml": 0.32, "daily_dose_mcg": 220}
    assert bridge_bolus(old_concentration_mcg_per_ml=500, new_concentration_mcg_per_ml=500, **kw) is None


def test_a_lower_new_concentration_needs_confirmation_not_a_bolus():
    found = bridge_bolus(
        dead_volume_ml=0.32, old_concentration_mcg_per_ml=1000, new_concentration_mcg_per_ml=500, daily_dose_mcg=240
    )
    assert isinstance(found, Finding)
    assert found.code == "bridge_lower_concentration"
    assert found.severity is Severity.CONFIRM
    # the old drug flows at 240/500 = 0.48 mL/day: 0.32 mL takes 16 h, at twice the dose
    assert "2x the dose for about 16 h" in found.message
    assert "aspirate 0.32 mL through the catheter access port" in found.message


def test_a_zero_dose_program_has_no_bridge():
    found = bridge_bolus(
        dead_volume_ml=0.32, old_concentration_mcg_per_ml=500, new_concentration_mcg_per_ml=1000, daily_dose_mcg=0
    )
    assert isinstance(found, Finding)
    assert found.code == "bridge_without_dose"
    assert found.severity is Severity.CONFIRM


@given(
    volume=st.floats(0.01, 2.0),
    c_old=st.floats(10.0, 1500.0),
    factor=st.floats(1.01, 40.0),
    dose=st.floats(1.0, 2000.0),
)
def test_over_the_bridge_the_patient_gets_the_prescribed_dose_of_old_drug(volume, c_old, factor, dose):
    c_new = c_old * factor
    bridge = bridge_bolus(
        dead_volume_ml=volume,
        old_concentration_mcg_per_ml=c_old,
        new_concentration_mcg_per_ml=c_new,
        daily_dose_mcg=dose,
    )
    assert isinstance(bridge, BridgeBolus)
    days = bridge.duration_minutes / 1440
    # the volume pushed over the bridge (program at the new concentration + the bolus) is the dead volume
    assert (dose / c_new) * days + bridge.dose_mcg / c_new == pytest.approx(volume, rel=1e-9)
    # so the old drug delivered, V c_old, is exactly the prescribed D mcg/day over that time
    assert volume * c_old == pytest.approx(dose * days, rel=1e-9)
    # and the volume flow over the bridge is that of the old concentration
    assert volume / days == pytest.approx(dose / c_old, rel=1e-9)


# -- priming bolus --------------------------------------------------------------------------------


def test_priming_bolus_fills_catheter_and_tubing():
    primed = priming_bolus(
        catheter_length_cm=60, catheter_ml_per_cm=0.0026, pump_tubing_ml=0.19, concentration_mcg_per_ml=500
    )
    assert isinstance(primed, PrimingBolus)
    assert primed.volume_ml == pytest.approx(60 * 0.0026 + 0.19)  # 0.346 mL
    assert primed.dose_mcg == pytest.approx(0.346 * 500)  # 173 mcg
    assert primed.duration_minutes == 30.0
    longer = priming_bolus(
        catheter_length_cm=40,
        catheter_ml_per_cm=0.0026,
        pump_tubing_ml=0.05,
        concentration_mcg_per_ml=2000,
        duration_minutes=45,
    )
    assert longer.volume_ml == pytest.approx(0.154)
    assert longer.dose_mcg == pytest.approx(308.0)
    assert longer.duration_minutes == 45


# -- next refill date -------------------------------------------------------------------------------


def test_next_refill_is_7_days_before_the_alarm():
    alarm = REFILLED + timedelta(days=90, hours=5)
    assert next_refill_date(REFILLED, alarm) == alarm - timedelta(days=7)
    assert next_refill_date(REFILLED, alarm, BookingSettings(refill_margin_days=3)) == alarm - timedelta(days=3)


def test_next_refill_never_beyond_180_days():
    alarm = REFILLED + timedelta(days=300)
    assert next_refill_date(REFILLED, alarm) == REFILLED + timedelta(days=180)
    # just inside: 187 days to the alarm -> 180 days
    assert next_refill_date(REFILLED, REFILLED + timedelta(days=187)) == REFILLED + timedelta(days=180)
    assert next_refill_date(REFILLED, REFILLED + timedelta(days=186)) == REFILLED + timedelta(days=179)


def test_next_refill_when_the_alarm_is_never_reached_is_180_days():
    assert next_refill_date(REFILLED, None) == REFILLED + timedelta(days=180)
    assert next_refill_date(REFILLED, None, BookingSettings(max_refill_interval_days=90)) == REFILLED + timedelta(
        days=90
    )


def test_next_refill_never_before_the_refill():
    assert next_refill_date(REFILLED, REFILLED + timedelta(days=5)) == REFILLED
    assert next_refill_date(REFILLED, REFILLED - timedelta(days=1)) == REFILLED


@given(days=st.floats(-10, 400, allow_nan=False))
def test_next_refill_is_within_the_refill_and_180_days(days):
    got = next_refill_date(REFILLED, REFILLED + timedelta(days=days))
    assert REFILLED <= got <= REFILLED + timedelta(days=180)
    assert math.isclose((got - REFILLED).total_seconds(), min(180.0, max(0.0, days - 7)) * 86400, abs_tol=1e-3)


def test_refill_at_or_below_alarm():
    """Device manuals: at or below the low-reservoir alarm volume the alarm sounds at once and the
    pump soon stops; a refill that leaves the reservoir there is confirmed, with the empty date
    (code refill_at_or_below_alarm). 0.001 mL added was accepted before, empty 10 minutes later."""
    from datetime import datetime

    from itb.domain.refill import assess_level_after_refill

    empty = datetime(2026, 3, 2, 10, 10)
    (finding,) = assess_level_after_refill(0.001, 2.0, empty).findings
    assert finding.code == "refill_at_or_below_alarm" and "2026-03-02 10:10" in finding.message
    assert assess_level_after_refill(2.0, 2.0, empty).findings  # at the alarm volume
    assert not assess_level_after_refill(2.5, 2.0, empty).findings


def test_concentration_decrease_overshoot_and_temporary_program():
    """The issue's case: 2,000 to 500 mcg/mL with 0.2 mL of dead volume at 200 mcg/day gives 4x
    the dose for 12 h (+300 mcg) if nothing is done; a temporary program of 50 mcg/day for 48 h
    gives the old drug at the prescribed dose. Checked against the simulated pump and catheter
    (first in, first out): the patient gets 400 mcg in those 2 days with it, 700 without."""
    from itb.domain.devices import PERISTALTIC
    from itb.domain.program import DosingProgram
    from itb.pump.engine import ImplantedPump, PumpSetup

    d = concentration_decrease(0.2, 2000, 500, 200)
    assert (d.factor, d.overshoot_mcg, d.overshoot_hours) == (4, 300, 12)
    assert (d.temporary_daily_dose_mcg, d.temporary_hours) == (50, 48)

    def delivered(temporary: bool) -> float:
        setup = PumpSetup(PERISTALTIC, 20.0, 2.0, 0.0, catheter_volume_ml=0.2)
        program = DosingProgram.simple_continuous(200)
        pump = ImplantedPump(
            setup, t=0.0, implanted_t=0.0, reservoir_ml=10.0, concentration_mcg_per_ml=2000, program=program,
            day0=REFILLED,
        )  # fmt: skip
        pump.advance_to(86400)
        pump.refill(20.0, 500)
        start = pump.delivered_mcg
        if temporary:
            pump.set_program(DosingProgram.simple_continuous(d.temporary_daily_dose_mcg))
        pump.advance_to(86400 + d.temporary_hours * 3600)
        return pump.delivered_mcg - start

    assert delivered(temporary=True) == pytest.approx(400, rel=1e-6)
    assert delivered(temporary=False) == pytest.approx(700, rel=1e-6)

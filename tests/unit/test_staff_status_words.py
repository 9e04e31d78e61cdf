"""The staff chart's status card speaks to the clinic's staff (clinical words, ISO dates); the
family page's card keeps the family's words (``itb.web.family.plain_pump_status``)."""

from __future__ import annotations

from datetime import date

from itb.web.chart import staff_pump_status

TODAY = date(2026, 12, 1)


def test_staff_status_gives_the_expected_alarm_day_and_the_booked_refill():
    words = staff_pump_status("running", [], 12.3, date(2026, 12, 10), today=TODAY)
    assert words == (
        "Running; earliest plausible low-reservoir alarm 2026-12-13 (in 12.3 days); next refill booked 2026-12-10."
    )


def test_staff_status_warns_when_the_booked_refill_is_after_the_expected_alarm():
    words = staff_pump_status("running", [], 12.3, date(2026, 12, 20), today=TODAY)
    assert words.endswith("The booked refill is after the expected alarm: book an earlier one.")


def test_staff_status_of_a_stopped_pump_names_the_cause_and_the_withdrawal_risk():
    words = staff_pump_status("motor_stall", ["motor_stall"], 3.0, None, today=TODAY)
    assert words.startswith("Not infusing: motor stall.") and "Withdrawal risk" in words


def test_staff_status_of_a_sounding_alarm_says_refill_now_and_whether_one_is_booked():
    assert staff_pump_status("running", ["low_reservoir"], 0.0, None, today=TODAY) == (
        "Running; the low-reservoir alarm is sounding: refill now; no refill booked."
    )


def test_staff_status_of_a_passed_earliest_alarm_says_when_and_refill_now():
    assert staff_pump_status("running", [], -2.0, date(2026, 12, 3), today=TODAY) == (
        "Running; the earliest plausible low-reservoir alarm passed on 2026-11-29: refill now; "
        "next refill booked 2026-12-03."
    )


def test_staff_status_names_the_elective_replacement_indicator():
    words = staff_pump_status("running", ["elective_replacement_indicator"], 30, date(2026, 12, 20), today=TODAY)
    assert "elective replacement indicator: plan the replacement" in words


def test_staff_status_never_speaks_to_the_family():
    cases = [("running", [], 12.3), ("motor_stall", [], None), ("none", [], None), ("unknown", [], None)]
    for state, alarms, days in cases:
        words = staff_pump_status(state, alarms, days, None, today=TODAY)
        assert "your child" not in words and "call the clinic" not in words.lower()

"""The every-morning worklist (``itb.domain.worklist``): who must be seen before their pump runs low.

Sources: ``shared/domain.md``, "Refills" (book the refill a few days before the low-reservoir
alarm, at least every 180 days), "The pump" (ERI, about 90 days to the stop, replacement about 6
months before; the MRI check), "The drug label rules" (withdrawal, highest-risk patients).
"""

from __future__ import annotations

import dataclasses
import random
from datetime import date, datetime, timedelta

import pytest

from itb.domain.scheduling import BookingSettings
from itb.domain.worklist import (
    REPORT_CALL_TODAY,
    REPORT_EMERGENCY,
    REPORT_NEXT_VISIT,
    PumpSituation,
    Reason,
    ReportedSymptoms,
    Wanted,
    WorkItem,
    build_worklist,
    empty_within,
    settled,
)

NOW = datetime(2026, 3, 2, 7, 30)  # a Monday morning
TODAY = NOW.date()


def at(days: float) -> datetime:
    return NOW + timedelta(days=days)


def on(days: int) -> date:
    return TODAY + timedelta(days=days)


def calm(**changes: object) -> PumpSituation:
    """A pump with nothing to do: alarm in 60 days, refill booked 4 days before, ERI years away."""
    base = PumpSituation(
        patient_id=1,
        patient_name="Ada Quiet",
        pump_id=10,
        low_reservoir_alarm_at=at(60),
        empty_at=at(70),
        next_refill_booked=on(56),
        eri_at=at(1000),
        eri_reached=False,
        titrating=False,
        last_program_change=None,
        next_titration_booked=None,
        mri_check_pending=False,
        unreviewed_discrepancies=0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def one(situation: PumpSituation, settings: BookingSettings | None = None) -> WorkItem:
    items = build_worklist([situation], NOW) if settings is None else build_worklist([situation], NOW, settings)
    (item,) = items
    assert len(item.reasons) == len(item.details)
    return item


def detail(item: WorkItem, reason: Reason) -> str:
    return item.details[item.reasons.index(reason)]


def test_a_calm_pump_is_not_listed() -> None:
    assert build_worklist([calm()], NOW) == []


def test_empty_input_gives_an_empty_list() -> None:
    assert build_worklist([], NOW) == []


def test_accepts_any_iterable() -> None:
    items = build_worklist((s for s in [calm(mri_check_pending=True)]), NOW)
    assert [i.reasons for i in items] == [(Reason.MRI_CHECK,)]


# -- ALARM_BEFORE_REFILL -----------------------------------------------------------------------


def test_alarm_before_the_booked_refill() -> None:
    item = one(calm(next_refill_booked=on(61)))
    assert item.reasons == (Reason.ALARM_BEFORE_REFILL,)
    assert detail(item, Reason.ALARM_BEFORE_REFILL) == (
        "The low-reservoir alarm is due at 2026-05-01 07:30, before the refill booked for 2026-05-02: "
        "book the refill by 2026-04-24."
    )


def test_alarm_on_the_day_of_the_booked_refill_is_flagged() -> None:
    # the time of the appointment is not known: the alarm may sound first
    assert one(calm(next_refill_booked=on(60))).reasons == (Reason.ALARM_BEFORE_REFILL,)


def test_refill_the_day_before_the_alarm_is_fine() -> None:
    assert build_worklist([calm(next_refill_booked=on(59))], NOW) == []


def test_alarm_already_passed_with_a_refill_booked() -> None:
    item = one(calm(low_reservoir_alarm_at=at(-0.5), empty_at=at(9), next_refill_booked=TODAY))
    assert item.reasons == (Reason.ALARM_BEFORE_REFILL,)
    assert "was due at 2026-03-01 19:30 (the refill booked for 2026-03-02): refill now" in item.details[0]
    assert item.urgency == 0


def test_alarm_exactly_now_counts_as_passed() -> None:
    item = one(calm(low_reservoir_alarm_at=NOW, empty_at=at(9), next_refill_booked=on(1)))
    assert item.reasons == (Reason.ALARM_BEFORE_REFILL,)
    assert item.urgency == 0
    assert item.days_until_alarm == 0


def test_alarm_passed_and_nothing_booked_gives_both_reasons() -> None:
    item = one(calm(low_reservoir_alarm_at=at(-1), empty_at=at(8), next_refill_booked=None))
    assert item.reasons == (Reason.ALARM_BEFORE_REFILL, Reason.NO_REFILL_BOOKED)
    assert item.details[1] == "No refill is booked; the low-reservoir alarm has passed."


def test_empty_before_the_booked_refill_even_without_an_alarm() -> None:
    item = one(calm(low_reservoir_alarm_at=None, empty_at=at(20), next_refill_booked=on(25)))
    assert item.reasons == (Reason.ALARM_BEFORE_REFILL,)
    assert item.details[0] == (
        "The reservoir is forecast to be empty at 2026-03-22 07:30, before the refill booked for 2026-03-27: "
        "book an earlier refill."
    )


def test_empty_already_passed_says_refill_now_and_watch_for_withdrawal() -> None:
    item = one(calm(low_reservoir_alarm_at=at(-5), empty_at=at(-1), next_refill_booked=TODAY))
    assert "was forecast to be empty at 2026-03-01 07:30" in item.details[0]
    assert "watch for withdrawal" in item.details[0]
    assert item.days_until_empty == pytest.approx(-1)
    assert item.urgency == 0


# -- NO_REFILL_BOOKED --------------------------------------------------------------------------


def test_no_refill_booked_gives_the_alarm_and_the_book_by_date() -> None:
    item = one(calm(next_refill_booked=None))
    assert item.reasons == (Reason.NO_REFILL_BOOKED,)
    assert item.details == (
        "No refill is booked; the low-reservoir alarm is due at 2026-05-01 07:30: book it by 2026-04-24.",
    )


def test_no_refill_booked_and_no_alarm_is_still_a_reason() -> None:
    item = one(calm(next_refill_booked=None, low_reservoir_alarm_at=None, empty_at=None))
    assert item.reasons == (Reason.NO_REFILL_BOOKED,)
    assert item.details == ("No refill is booked; refill at least every 180 days (drug stability).",)
    assert item.days_until_empty is None and item.days_until_alarm is None
    assert item.urgency == 2


def test_a_booked_refill_in_the_past_counts_as_none() -> None:
    item = one(calm(next_refill_booked=on(-3)))
    assert item.reasons == (Reason.NO_REFILL_BOOKED,)
    assert item.details[0].startswith(
        "No refill is booked from today on (the one booked for 2026-02-27 has passed); the low-reservoir alarm"
    )


def test_a_refill_booked_today_counts_as_booked() -> None:
    assert build_worklist([calm(next_refill_booked=TODAY)], NOW) == []


# -- OVERDUE / MISSED --------------------------------------------------------------------------


def test_overdue_appointments_are_listed_by_date() -> None:
    item = one(calm(overdue_appointments=(("titration", on(-2)), ("refill", on(-5)))))
    assert item.reasons == (Reason.OVERDUE,)
    assert item.details == ("Booked and not done: refill on 2026-02-25, titration on 2026-02-28.",)


def test_missed_appointments() -> None:
    item = one(calm(missed_appointments=(("refill", on(-1)),)))
    assert item.reasons == (Reason.MISSED,)
    assert item.details == ("Missed: refill on 2026-03-01.",)


# -- TITRATION_DUE -----------------------------------------------------------------------------


def titrating(changed_days_ago: int, booked: date | None = None) -> PumpSituation:
    return calm(titrating=True, last_program_change=on(-changed_days_ago), next_titration_booked=booked)


def test_titration_not_due_before_14_days() -> None:
    assert build_worklist([titrating(13)], NOW) == []


def test_titration_due_at_14_days_without_a_booking() -> None:
    item = one(titrating(14))
    assert item.reasons == (Reason.TITRATION_DUE,)
    assert item.details == (
        "Titration visit due between 2026-03-02 and 2026-03-09 (last program change on 2026-02-16); "
        "no visit is booked in it.",
    )


def test_titration_booked_in_the_window_is_fine() -> None:
    assert build_worklist([titrating(14, booked=on(7))], NOW) == []  # last day of the window
    assert build_worklist([titrating(20, booked=TODAY)], NOW) == []


def test_titration_booked_after_the_window_is_due() -> None:
    item = one(titrating(14, booked=on(8)))
    assert item.reasons == (Reason.TITRATION_DUE,)
    assert "the visit booked for 2026-03-10 is outside it" in item.details[0]


def test_titration_booking_in_the_past_does_not_count() -> None:
    item = one(titrating(16, booked=on(-1)))
    assert item.reasons == (Reason.TITRATION_DUE,)
    assert item.details[0].endswith("no visit is booked in it.")


def test_titration_past_the_window_is_overdue() -> None:
    item = one(titrating(22, booked=on(3)))
    assert item.reasons == (Reason.TITRATION_DUE,)
    assert item.details == (
        "Titration visit overdue: its window ended on 2026-03-01 (last program change on 2026-02-08).",
    )


def test_titration_on_the_last_day_of_the_window_is_still_due_not_overdue() -> None:
    item = one(titrating(21))
    assert item.details[0].startswith("Titration visit due between")


def test_not_titrating_or_no_change_known_is_not_due() -> None:
    assert build_worklist([calm(titrating=False, last_program_change=on(-30))], NOW) == []
    assert build_worklist([calm(titrating=True, last_program_change=None)], NOW) == []


def test_titration_window_follows_the_settings() -> None:
    s = BookingSettings(titration_interval_days=(7, 10))
    item = one(titrating(7), s)
    assert item.reasons == (Reason.TITRATION_DUE,)


# -- ERI ---------------------------------------------------------------------------------------


def test_eri_within_the_warning_is_flagged() -> None:
    item = one(calm(eri_at=at(183)))
    assert item.reasons == (Reason.ERI_SOON,)
    assert item.details == (
        "The elective replacement indicator is expected at 2026-09-01 07:30, in 183 days: plan the pump "
        "replacement (it stops about 90 days after).",
    )


def test_eri_just_beyond_the_warning_is_not_flagged() -> None:
    assert build_worklist([calm(eri_at=at(183.01))], NOW) == []


def test_eri_expected_in_the_past_but_not_reported() -> None:
    item = one(calm(eri_at=at(-2)))
    assert item.reasons == (Reason.ERI_SOON,)
    assert "does not report it yet: interrogate the pump" in item.details[0]


def test_eri_reached_replaces_eri_soon() -> None:
    item = one(calm(eri_at=at(-10), eri_reached=True))
    assert item.reasons == (Reason.ERI_REACHED,)
    assert item.details == (
        "The elective replacement indicator was reached (2026-02-20 07:30): the pump stops about 90 days later "
        "(around 2026-05-21); replace it before then.",
    )


def test_eri_reached_without_a_date() -> None:
    item = one(calm(eri_at=None, eri_reached=True))
    assert item.reasons == (Reason.ERI_REACHED,)
    assert "stops about 90 days later; replace it" in item.details[0]


def test_no_eri_date_and_not_reached_is_not_flagged() -> None:
    assert build_worklist([calm(eri_at=None)], NOW) == []


def test_eri_warning_follows_the_settings() -> None:
    assert build_worklist([calm(eri_at=at(100))], NOW, BookingSettings(eri_warning_days=90)) == []
    assert one(calm(eri_at=at(100)), BookingSettings(eri_warning_days=100)).reasons == (Reason.ERI_SOON,)


# -- MRI_CHECK / DISCREPANCY -------------------------------------------------------------------


def test_mri_check_pending() -> None:
    item = one(calm(mri_check_pending=True))
    assert item.reasons == (Reason.MRI_CHECK,)
    assert "MRI" in item.details[0] and "interrogated" in item.details[0]


@pytest.mark.parametrize(("n", "text"), [(1, "1 refill discrepancy not yet reviewed."), (3, "3 refill discrepancies")])
def test_unreviewed_discrepancies(n: int, text: str) -> None:
    item = one(calm(unreviewed_discrepancies=n))
    assert item.reasons == (Reason.DISCREPANCY,)
    assert item.details[0].startswith(text)


# -- every reason at once, and the item's fields -----------------------------------------------


def test_all_reasons_in_enum_order_with_one_sentence_each() -> None:
    s = calm(
        low_reservoir_alarm_at=at(-1),
        empty_at=at(3),
        next_refill_booked=None,
        overdue_appointments=(("refill", on(-2)),),
        missed_appointments=(("refill", on(-9)),),
        titrating=True,
        last_program_change=on(-15),
        eri_at=at(-30),
        eri_reached=True,
        mri_check_pending=True,
        unreviewed_discrepancies=2,
    )
    item = one(s)
    assert item.reasons == (
        Reason.ALARM_BEFORE_REFILL,
        Reason.NO_REFILL_BOOKED,
        Reason.OVERDUE,
        Reason.MISSED,
        Reason.TITRATION_DUE,
        Reason.ERI_REACHED,
        Reason.MRI_CHECK,
        Reason.DISCREPANCY,
    )
    assert all(d.endswith(".") for d in item.details)
    assert (item.patient_id, item.patient_name, item.pump_id) == (1, "Ada Quiet", 10)
    assert item.days_until_empty == pytest.approx(3)
    assert item.days_until_alarm == pytest.approx(-1)


def test_reason_values_are_stable_snake_case() -> None:
    assert [r.value for r in Reason] == [
        "symptom_report",
        "record_check",
        "alarm_before_refill",
        "no_refill_booked",
        "overdue",
        "missed",
        "titration_due",
        "eri_soon",
        "eri_reached",
        "mri_check",
        "discrepancy",
        "flow_drift",
        "session_check",
        "stale",
    ]


def test_a_record_that_may_disagree_with_its_pump_is_urgent_and_said_first() -> None:
    item = one(calm(record_problems=("1 change sent and not yet settled from the pump's log",)))
    assert item.reasons == (Reason.RECORD_CHECK,) and item.urgency == 0
    assert "not yet settled" in item.details[0] and "Interrogate the pump now" in item.details[0]


def test_days_are_fractional() -> None:
    item = one(calm(empty_at=at(12.25), low_reservoir_alarm_at=at(2.5), next_refill_booked=on(40)))
    assert item.days_until_empty == pytest.approx(12.25)
    assert item.days_until_alarm == pytest.approx(2.5)


# -- urgency -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("empty_days", "alarm_days", "urgency"),
    [
        (7, 1, 0),  # boundary: within 7 days
        (7.01, 1, 1),
        (30, 20, 1),  # boundary: within 30 days
        (30.01, 20, 2),
        (45, -0.01, 0),  # already alarming
        (None, -1, 0),
        (None, 3, 2),
        (-2, -6, 0),  # already empty
    ],
)
def test_urgency_buckets(empty_days: float | None, alarm_days: float, urgency: int) -> None:
    empty = None if empty_days is None else at(empty_days)
    item = one(calm(empty_at=empty, low_reservoir_alarm_at=at(alarm_days), mri_check_pending=True))
    assert item.urgency == urgency


def test_urgency_follows_the_settings() -> None:
    s = BookingSettings(urgent_empty_days=10, soon_empty_days=60)
    assert one(calm(empty_at=at(9), mri_check_pending=True), s).urgency == 0
    assert one(calm(empty_at=at(59), mri_check_pending=True), s).urgency == 1


# -- ordering ----------------------------------------------------------------------------------


def test_order_by_days_until_empty_first_unknown_last() -> None:
    pumps = [
        calm(patient_id=1, patient_name="A", pump_id=1, empty_at=None, mri_check_pending=True, high_risk=True),
        calm(patient_id=2, patient_name="B", pump_id=2, empty_at=at(40), mri_check_pending=True),
        calm(patient_id=3, patient_name="C", pump_id=3, empty_at=at(-1), mri_check_pending=True),
        calm(patient_id=4, patient_name="D", pump_id=4, empty_at=at(5), mri_check_pending=True, high_risk=True),
    ]
    assert [i.patient_id for i in build_worklist(pumps, NOW)] == [3, 4, 2, 1]


def test_high_risk_breaks_a_tie_in_days_until_empty() -> None:
    pumps = [
        calm(patient_id=1, patient_name="Aaron", empty_at=at(10), mri_check_pending=True),
        calm(patient_id=2, patient_name="Zoe", empty_at=at(10), mri_check_pending=True, high_risk=True),
    ]
    items = build_worklist(pumps, NOW)
    assert [i.patient_id for i in items] == [2, 1]
    assert [i.high_risk for i in items] == [True, False]


def test_high_risk_does_not_jump_ahead_of_a_sooner_empty_pump() -> None:
    pumps = [
        calm(patient_id=1, empty_at=at(10), mri_check_pending=True, high_risk=True),
        calm(patient_id=2, empty_at=at(9.9), mri_check_pending=True),
    ]
    assert [i.patient_id for i in build_worklist(pumps, NOW)] == [2, 1]


def test_then_alarm_date_unknown_last_then_name() -> None:
    pumps = [
        calm(patient_id=1, patient_name="Bea", empty_at=None, low_reservoir_alarm_at=None, mri_check_pending=True),
        calm(patient_id=2, patient_name="bob", empty_at=None, low_reservoir_alarm_at=at(20), mri_check_pending=True),
        calm(patient_id=3, patient_name="Cid", empty_at=None, low_reservoir_alarm_at=at(10), mri_check_pending=True),
        calm(patient_id=4, patient_name="Abe", empty_at=None, low_reservoir_alarm_at=None, mri_check_pending=True),
        calm(patient_id=5, patient_name="alf", empty_at=None, low_reservoir_alarm_at=at(20), mri_check_pending=True),
    ]
    # alarm 10 days, then alarm 20 days by name ignoring case (alf, bob), then no alarm by name (Abe, Bea)
    assert [i.patient_id for i in build_worklist(pumps, NOW)] == [3, 5, 2, 4, 1]


def test_same_patient_two_pumps_ordered_by_pump_id() -> None:
    pumps = [calm(pump_id=12, mri_check_pending=True), calm(pump_id=11, mri_check_pending=True)]
    assert [i.pump_id for i in build_worklist(pumps, NOW)] == [11, 12]


# -- many pumps --------------------------------------------------------------------------------


def test_ten_thousand_pumps() -> None:
    rng = random.Random(20260302)
    situations = []
    for n in range(10_000):
        empty_days = None if n % 50 == 0 else rng.uniform(-5, 200)
        alarm_days = None if empty_days is None else empty_days - rng.uniform(2, 10)
        booked_days = None if n % 7 == 0 else rng.randint(0, 190)
        situations.append(
            calm(
                patient_id=n,
                patient_name=f"Patient {n:05d}",
                pump_id=100_000 + n,
                empty_at=None if empty_days is None else at(empty_days),
                low_reservoir_alarm_at=None if alarm_days is None else at(alarm_days),
                next_refill_booked=None if booked_days is None else on(booked_days),
                eri_at=at(rng.uniform(-30, 3000)),
                mri_check_pending=n % 97 == 0,
                unreviewed_discrepancies=1 if n % 101 == 0 else 0,
                high_risk=n % 3 == 0,
            )
        )
    items = build_worklist(situations, NOW)

    # exactly the pumps with a reason, each once
    by_id = {s.patient_id: s for s in situations}
    assert len({i.patient_id for i in items}) == len(items)
    for item in items:
        assert item.reasons and len(item.reasons) == len(item.details)
    listed = {i.patient_id for i in items}
    for s in situations:
        if s.next_refill_booked is None or s.mri_check_pending or s.unreviewed_discrepancies:
            assert s.patient_id in listed
    calm_ones = [s for s in situations if s.patient_id not in listed]
    assert calm_ones
    for s in calm_ones:
        assert s.next_refill_booked is not None
        assert s.low_reservoir_alarm_at is None or s.low_reservoir_alarm_at.date() > s.next_refill_booked
        assert s.eri_at is not None and s.eri_at > at(183)

    # sorted: days until empty ascending, unknown last; high risk first on a tie
    known = [i.days_until_empty for i in items if i.days_until_empty is not None]
    assert known == sorted(known)
    first_unknown = next(k for k, i in enumerate(items) if i.days_until_empty is None)
    assert all(i.days_until_empty is None for i in items[first_unknown:])
    assert all(by_id[i.patient_id].empty_at is None for i in items[first_unknown:])
    assert items[0].urgency == 0


def test_worklist_plans_from_the_earliest_plausible_alarm() -> None:
    """shared/domain.md, "Refills": a fixed margin does not cover a pump that runs fast within its
    tolerance. The learned flow's earliest plausible alarm (day 50, the pump's own: day 60) is what
    the booked refill (day 56) is compared with, and the detail names both dates."""
    item = one(calm(plausible_alarm_at=at(50), plausible_empty_at=at(58)))
    assert item.reasons == (Reason.ALARM_BEFORE_REFILL,)
    assert "at the earliest (the pump's learned flow; its own date is" in item.details[0]
    assert item.days_until_alarm == pytest.approx(50) and item.days_until_empty == pytest.approx(58)


def test_worklist_never_plans_later_than_the_pumps_own_dates() -> None:
    """A slow pump still alarms and stops on its own count: a later plausible date changes nothing."""
    assert build_worklist([calm(plausible_alarm_at=at(70), plausible_empty_at=at(80))], NOW) == []


def test_flow_drift_is_listed_with_its_sentence() -> None:
    """itb.domain.calibration.drift: a learned flow beyond the drift setting is a worklist reason."""
    item = one(calm(flow_drift="the pump gives about 9% more than it counts (learned from 3 refills): check it"))
    assert item.reasons == (Reason.FLOW_DRIFT,) and item.urgency == 2
    assert item.details == ("The pump gives about 9% more than it counts (learned from 3 refills): check it.",)


# -- STALE (a vendor-programmed pump) ----------------------------------------------------------


def test_stale_margin_days() -> None:
    """The rule, named after its setting: a vendor pump whose last session is older than its refill
    interval (to its alarm) plus ``stale_margin_days`` is stale; one day less is not."""
    last = at(-100)
    alarm = at(-20)  # an interval of 80 days, which has passed
    limit = 80 + BookingSettings().stale_margin_days  # 94 days after the last session
    fresh = calm(last_session_at=at(-limit + 1), low_reservoir_alarm_at=at(-limit + 1 + 80), empty_at=at(30))
    assert one(fresh).reasons == (Reason.ALARM_BEFORE_REFILL,)  # the alarm has passed; not stale yet
    item = one(calm(last_session_at=last, low_reservoir_alarm_at=alarm, empty_at=at(-10)))
    assert Reason.STALE in item.reasons
    words = detail(item, Reason.STALE)
    assert "80 days" in words and "14 days" in words and "2025-11-22" in words
    wider = one(calm(last_session_at=last, low_reservoir_alarm_at=alarm, empty_at=at(-10)),
                BookingSettings(stale_margin_days=30))  # fmt: skip
    assert Reason.STALE not in wider.reasons


def test_stale_is_capped_by_drug_stability_and_never_for_a_pump_itb_reads() -> None:
    """A pump that never alarms is stale after max_refill_interval_days plus the margin; a pump
    ITB talks to (no ``last_session_at``) is never stale: ITB reads it itself."""
    stopped = calm(last_session_at=at(-200), low_reservoir_alarm_at=None, empty_at=None, next_refill_booked=on(5))
    assert Reason.STALE in one(stopped).reasons  # 200 > 180 + 14
    recent = calm(last_session_at=at(-190), low_reservoir_alarm_at=None, empty_at=None, next_refill_booked=on(5))
    assert build_worklist([recent], NOW) == []
    assert build_worklist([calm(last_session_at=None, low_reservoir_alarm_at=at(60))], NOW) == []


# -- SYMPTOM_REPORT (a family's report, not yet reviewed) --------------------------------------

URGENCY_WORDS = {
    REPORT_NEXT_VISIT: "mention at the next visit",
    REPORT_CALL_TODAY: "call the clinic today",
    REPORT_EMERGENCY: "emergency: come to the hospital now / call emergency services",
}


def reported(urgency: int, report_id: int = 7, hours_ago: float = 2, words: str = "high fever") -> ReportedSymptoms:
    return ReportedSymptoms(
        report_id=report_id,
        at=NOW - timedelta(hours=hours_ago),
        by="caregiver",
        urgency=urgency,
        urgency_words=URGENCY_WORDS[urgency],
        words=words,
        instruction="Call emergency services now." if urgency == REPORT_EMERGENCY else "Call the clinic today.",
    )


def no_pump(**changes: object) -> PumpSituation:
    """A patient with no implanted pump (screening, or explanted)."""
    base = PumpSituation(
        patient_id=2,
        patient_name="Bea Nopump",
        pump_id=None,
        low_reservoir_alarm_at=None,
        empty_at=None,
        next_refill_booked=None,
        eri_at=None,
        eri_reached=False,
        titrating=False,
        last_program_change=None,
        next_titration_booked=None,
        mri_check_pending=False,
        unreviewed_discrepancies=0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_symptom_report_is_a_reason_with_the_name_the_instruction_and_the_words() -> None:
    item = one(calm(symptom_reports=(reported(REPORT_CALL_TODAY, words="stiffness or spasms coming back"),)))
    assert item.reasons == (Reason.SYMPTOM_REPORT,)
    assert item.patient_name == "Ada Quiet" and item.symptom_report_ids == (7,)
    words = detail(item, Reason.SYMPTOM_REPORT)
    assert "stiffness or spasms coming back" in words and "stiffness_returning" not in words
    assert "call the clinic today" in words and "The family was told: Call the clinic today." in words
    assert "2026-03-02 05:30" in words and "by caregiver" in words and "Call the family back today" in words


def test_symptom_report_emergency_is_urgent_and_above_the_soonest_empty() -> None:
    """An emergency report (triage urgency 2) makes the item urgency 0 and puts it first, above a
    pump empty tomorrow (which, without it, is first)."""
    emptying = calm(patient_id=3, patient_name="Cy Empty", pump_id=30, low_reservoir_alarm_at=at(-1), empty_at=at(1))
    calm_but_reported = calm(symptom_reports=(reported(REPORT_EMERGENCY),))
    items = build_worklist([emptying, calm_but_reported], NOW)
    assert [i.patient_name for i in items] == ["Ada Quiet", "Cy Empty"]
    assert items[0].urgency == 0 and items[0].report_urgency == REPORT_EMERGENCY
    assert "Emergency: call the family now" in detail(items[0], Reason.SYMPTOM_REPORT)
    # without the report, the calm pump is not listed at all
    assert [i.patient_name for i in build_worklist([emptying, calm()], NOW)] == ["Cy Empty"]


def test_symptom_report_call_today_makes_the_item_at_least_urgency_1() -> None:
    assert one(calm(symptom_reports=(reported(REPORT_CALL_TODAY),))).urgency == 1
    # an item already urgent stays urgent
    urgent = one(calm(low_reservoir_alarm_at=at(-1), empty_at=at(2), symptom_reports=(reported(REPORT_CALL_TODAY),)))
    assert urgent.urgency == 0
    # a call-today report is ordered by the pump's own dates (only an emergency goes first)
    sooner = calm(patient_id=3, patient_name="Cy Soon", pump_id=30, next_refill_booked=None, empty_at=at(20))
    items = build_worklist([calm(symptom_reports=(reported(REPORT_CALL_TODAY),)), sooner], NOW)
    assert [i.patient_name for i in items] == ["Cy Soon", "Ada Quiet"]


def test_symptom_report_for_the_next_visit_lists_without_raising_the_urgency() -> None:
    item = one(calm(symptom_reports=(reported(REPORT_NEXT_VISIT, words="constipation"),)))
    assert item.reasons == (Reason.SYMPTOM_REPORT,) and item.urgency == 2
    assert "next visit" in item.details[0]


def test_symptom_report_several_in_one_sentence_the_most_urgent_first() -> None:
    reports = (
        reported(REPORT_NEXT_VISIT, report_id=1, hours_ago=30, words="constipation"),
        reported(REPORT_EMERGENCY, report_id=2, hours_ago=1, words="seizure"),
        reported(REPORT_CALL_TODAY, report_id=3, hours_ago=5, words="fever"),
    )
    item = one(calm(symptom_reports=reports))
    assert item.reasons.count(Reason.SYMPTOM_REPORT) == 1
    assert item.symptom_report_ids == (2, 3, 1) and item.report_urgency == REPORT_EMERGENCY
    words = item.details[0]
    assert words.index("seizure") < words.index("fever") < words.index("constipation")


def test_symptom_report_is_said_first_with_the_other_reasons() -> None:
    item = one(calm(mri_check_pending=True, unreviewed_discrepancies=1, symptom_reports=(reported(REPORT_CALL_TODAY),)))
    assert item.reasons == (Reason.SYMPTOM_REPORT, Reason.MRI_CHECK, Reason.DISCREPANCY)
    assert item.urgency == 1


def test_symptom_report_of_a_patient_with_no_pump_is_listed_alone() -> None:
    """No implanted pump: listed for the report only (no refill reason for a pump that is not
    there), with no days to the alarm or empty; an emergency is still first."""
    item = one(no_pump(symptom_reports=(reported(REPORT_CALL_TODAY),)))
    assert item.pump_id is None and item.reasons == (Reason.SYMPTOM_REPORT,)
    assert item.days_until_empty is None and item.days_until_alarm is None and item.urgency == 1
    assert "No implanted pump" in item.details[0]
    assert build_worklist([no_pump()], NOW) == []
    emptying = calm(low_reservoir_alarm_at=at(-1), empty_at=at(1))
    items = build_worklist([emptying, no_pump(symptom_reports=(reported(REPORT_EMERGENCY),))], NOW)
    assert [i.pump_id for i in items] == [None, 10] and items[0].urgency == 0


def test_symptom_report_emergencies_among_themselves_by_the_usual_order() -> None:
    a = calm(symptom_reports=(reported(REPORT_EMERGENCY),), next_refill_booked=None, empty_at=at(40))
    b = calm(
        patient_id=3, patient_name="Cy", pump_id=30, symptom_reports=(reported(REPORT_EMERGENCY, 8),), empty_at=at(9)
    )
    c = no_pump(symptom_reports=(reported(REPORT_EMERGENCY, 9),))
    assert [i.patient_id for i in build_worklist([a, b, c], NOW)] == [3, 1, 2]


# -- a booked replacement ----------------------------------------------------------------------


def test_replacement_booked_quiets_eri_soon() -> None:
    """ERI expected within the warning and a replacement booked: still listed as eri_soon, in a
    calmer sentence that gives the booking."""
    item = one(calm(eri_at=at(100), replacement_booked=on(60)))
    assert item.reasons == (Reason.ERI_SOON,) and item.urgency == 2
    assert item.details[0].startswith("Replacement booked for 2026-05-01")
    assert "plan the pump replacement" not in item.details[0]
    assert "plan the pump replacement" in one(calm(eri_at=at(100))).details[0]


def test_replacement_booked_is_said_with_eri_reached() -> None:
    item = one(calm(eri_at=at(-10), eri_reached=True, replacement_booked=on(20)))
    assert item.reasons == (Reason.ERI_REACHED,)
    assert "Replacement booked for 2026-03-22" in item.details[0] and "replace it before then" not in item.details[0]


def test_replacement_booked_after_the_expected_stop_says_book_it_earlier() -> None:
    item = one(calm(eri_at=at(-10), eri_reached=True, replacement_booked=on(100)))
    assert "book it earlier" in item.details[0] and "2026-05-21" in item.details[0]  # ERI + 90 days


def test_symptom_report_words_cover_every_symptom_code_and_an_untriaged_report_is_call_today() -> None:
    """The worklist says every sign of the family form in words (``itb.clinic.worklist``), never a
    raw code; a report stored before the triage was kept with it counts as "call today"."""
    from itb.clinic.worklist import SYMPTOM_WORDS, reported_symptoms
    from itb.domain.triage import SYMPTOM_CODES

    assert set(SYMPTOM_CODES) <= set(SYMPTOM_WORDS)
    assert all("_" not in words for words in SYMPTOM_WORDS.values())
    old = reported_symptoms(1, NOW, "nurse", ["stiffness_returning"], None, None, None)
    assert old.urgency == REPORT_CALL_TODAY and "not triaged" in old.urgency_words
    assert old.words == "stiffness or spasms coming back" and old.instruction == ""
    long = reported_symptoms(2, NOW, "caregiver", [], "x" * 500, 0, {"urgency": "mention at the next visit"})
    assert len(long.words) < 210 and long.words.endswith("…”")


# -- the first items only ----------------------------------------------------------------------


def random_situations(rng: random.Random, n: int = 300) -> list[PumpSituation]:
    """Pumps empty at a few instants (many tie), some with a family report of each urgency."""
    instants = [None, *(at(d) for d in (-2, 3, 3.5, 6.9, 7, 12, 29, 30, 31, 60))]
    out = []
    for k in range(n):
        empty = rng.choice(instants)
        report = ReportedSymptoms(k, at(-1), "mum", rng.choice([0, 1, 2]), "call today", "fever", "")
        out.append(
            calm(
                patient_id=k,
                patient_name=rng.choice(["Ana Berg", "ana berg", "Ben Costa"]),
                pump_id=1000 + k,
                empty_at=empty,
                low_reservoir_alarm_at=None if empty is None else empty - timedelta(days=rng.choice([1, 5, 9])),
                plausible_empty_at=rng.choice([None, None, *instants]),
                next_refill_booked=rng.choice([None, on(2), on(40)]),
                high_risk=rng.random() < 0.3,
                record_problems=("a change not settled",) if rng.random() < 0.05 else (),
                symptom_reports=(report,) if rng.random() < 0.05 else (),
            )
        )
    return out


def test_the_settled_items_are_the_whole_lists_first_items_whatever_is_not_built_yet() -> None:
    """Built: the pumps with a report and those empty at or before an instant; the pumps not built
    are empty after it: the items ``settled`` gives are the whole list's first, and with every
    pump built, all of it."""
    rng = random.Random(16)
    for _ in range(6):
        situations = random_situations(rng)
        whole = build_worklist(situations, NOW)
        assert settled(whole, NOW, None) == whole
        for cut in sorted({s.earliest_empty_at for s in situations if s.earliest_empty_at is not None}):
            built = [s for s in situations if s.symptom_reports or (s.earliest_empty_at or at(1e4)) <= cut]
            first = settled(build_worklist(built, NOW), NOW, cut)
            assert first == whole[: len(first)]
            assert all(i.report_urgency == REPORT_EMERGENCY for i in first) or first[-1].days_until_empty is not None


def test_an_urgent_item_with_no_report_is_empty_soon_or_its_alarm_passed_or_its_record_is_in_doubt() -> None:
    """What lets the worklist of an urgency leave the pumps empty later unread (but those)."""
    rng = random.Random(7)
    settings = BookingSettings()
    items = build_worklist(random_situations(rng, 600), NOW)
    assert empty_within(2, settings) is None
    for most in (0, 1):
        days = empty_within(most, settings)
        assert days is not None
        for i in items:
            if i.urgency <= most and not i.symptom_report_ids:
                empty_soon = i.days_until_empty is not None and i.days_until_empty <= days
                alarm_passed = i.days_until_alarm is not None and i.days_until_alarm <= 0
                assert empty_soon or alarm_passed or Reason.RECORD_CHECK in i.reasons


def test_wanted_keeps_the_first_items_of_an_urgency_a_reason_and_a_name() -> None:
    items = build_worklist(random_situations(random.Random(3)), NOW)
    assert Wanted().of(items) == items
    assert Wanted(limit=5).of(items) == items[:5]
    urgent = Wanted(limit=3, max_urgency=0, reason="record_check", name="ANA").of(items)
    assert (
        urgent
        == [
            i for i in items if i.urgency == 0 and Reason.RECORD_CHECK in i.reasons and "ana" in i.patient_name.lower()
        ][:3]
    )
    assert urgent

"""The clinic quality report's rules (``itb.domain.quality``), one test per rule, on hand-made records."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from itb.domain import quality as q
from itb.domain.refill import RefillSettings

PUMP = q.PumpFacts(
    id=1, patient_id=10, implanted_at=datetime(2025, 1, 1), explanted_at=None, reservoir_capacity_ml=20.0,
    low_reservoir_alarm_ml=2.0, empty_ml=0.0,
)  # fmt: skip
JAN = q.Period("2026-01", date(2026, 1, 1), date(2026, 1, 31))


def refill(at: datetime, expected: float = 5.0, withdrawn: float = 5.0, *, id: int = 1, reviewed: bool = False):  # type: ignore[no-untyped-def]
    return q.RefillFacts(id, PUMP.id, at, expected, withdrawn, reviewed)


def booking(at: datetime, status: str = "done", *, id: int = 1, pump_id: int | None = PUMP.id) -> q.VisitFacts:
    return q.VisitFacts(id, PUMP.patient_id, pump_id, "refill", status, at)


def total(rows: list[q.Figures]) -> q.Figures:
    assert rows[-1].period.label == "total"
    return rows[-1]


def test_periods_are_calendar_months_or_quarters_cut_to_the_range() -> None:
    months = q.periods(date(2026, 1, 15), date(2026, 3, 10), q.Grouping.MONTH)
    assert [(p.label, p.start, p.end) for p in months] == [
        ("2026-01", date(2026, 1, 15), date(2026, 1, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2026-03", date(2026, 3, 1), date(2026, 3, 10)),
    ]
    quarters = q.periods(date(2025, 11, 1), date(2026, 4, 30), q.Grouping.QUARTER)
    assert [p.label for p in quarters] == ["2025-Q4", "2026-Q1", "2026-Q2"]
    assert quarters[1].start == date(2026, 1, 1) and quarters[1].end == date(2026, 3, 31)
    assert q.periods(date(2026, 2, 1), date(2026, 1, 1), q.Grouping.MONTH) == []


def test_pump_years_are_the_exact_time_implanted_within_the_period() -> None:
    whole = replace(PUMP, implanted_at=datetime(2025, 1, 1))
    assert q.pump_years(whole, JAN) == pytest.approx(31 / 365.25)
    half_day = replace(PUMP, implanted_at=datetime(2026, 1, 31, 12, 0))
    assert q.pump_years(half_day, JAN) == pytest.approx(0.5 / 365.25)
    explanted = replace(PUMP, explanted_at=datetime(2026, 1, 11))
    assert q.pump_years(explanted, JAN) == pytest.approx(10 / 365.25)
    later = replace(PUMP, implanted_at=datetime(2026, 2, 1))
    assert q.pump_years(later, JAN) == 0 and not q.in_service(later, JAN)


def test_dry_episode_is_a_reservoir_withdrawn_or_counted_at_empty_plus_the_slack() -> None:
    assert q.dry_episode(refill(datetime(2026, 1, 5), expected=3.0, withdrawn=0.5), PUMP)  # ran fast: empty
    assert q.dry_episode(refill(datetime(2026, 1, 5), expected=0.0, withdrawn=0.2), PUMP)  # counted empty: stopped
    assert not q.dry_episode(refill(datetime(2026, 1, 5), expected=3.0, withdrawn=0.6), PUMP)
    residual = replace(PUMP, empty_ml=1.0)
    assert q.dry_episode(refill(datetime(2026, 1, 5), expected=3.0, withdrawn=1.4), residual)
    tight = q.QualitySettings(dry_slack_ml=0.1)
    assert not q.dry_episode(refill(datetime(2026, 1, 5), expected=3.0, withdrawn=0.5), PUMP, tight)


def test_near_miss_is_the_alarm_volume_reached_before_the_refill_but_not_empty() -> None:
    assert q.near_miss(refill(datetime(2026, 1, 5), expected=1.8, withdrawn=2.5), PUMP)  # the pump alarmed
    assert q.near_miss(refill(datetime(2026, 1, 5), expected=3.0, withdrawn=2.0), PUMP)  # really at the alarm
    assert not q.near_miss(refill(datetime(2026, 1, 5), expected=3.0, withdrawn=2.1), PUMP)
    assert not q.near_miss(refill(datetime(2026, 1, 5), expected=3.0, withdrawn=0.2), PUMP)  # dry, not a near miss


def test_late_refill_is_one_on_a_later_day_than_its_booking() -> None:
    r = refill(datetime(2026, 1, 9, 9, 0))
    previous = datetime(2025, 10, 1)
    day = q.booked_day(r, previous, [booking(datetime(2026, 1, 6, 10, 0))], PUMP)
    assert day == date(2026, 1, 6) and q.late_refill(r, day, PUMP)
    same_day = q.booked_day(r, previous, [booking(datetime(2026, 1, 9, 14, 0))], PUMP)
    assert not q.late_refill(r, same_day, PUMP)  # earlier on its booked day: on time
    assert not q.late_refill(r, None, PUMP)  # a walk-in with no booking, before the alarm


def test_late_refill_takes_the_earliest_booking_since_the_previous_refill_not_cancelled() -> None:
    r = refill(datetime(2026, 1, 9))
    previous = datetime(2025, 12, 20)
    visits = [
        booking(datetime(2025, 12, 15), id=1),  # before the previous refill: that one's
        booking(datetime(2026, 1, 2), "cancelled", id=2),  # moved by the clinic
        booking(datetime(2026, 1, 5), "missed", id=3),  # missed: the refill came later than booked
        booking(datetime(2026, 1, 9), id=4),
        booking(datetime(2026, 1, 3), id=5, pump_id=99),  # another pump's
    ]
    assert q.booked_day(r, previous, visits, PUMP) == date(2026, 1, 5)
    unnamed = [booking(datetime(2026, 1, 7), id=6, pump_id=None)]  # the patient's, no pump named
    assert q.booked_day(r, previous, unnamed, PUMP) == date(2026, 1, 7)


def test_late_refill_is_one_after_its_alarm() -> None:
    r = refill(datetime(2026, 1, 9), expected=1.5, withdrawn=1.9)
    assert q.near_miss(r, PUMP) and q.late_refill(r, date(2026, 1, 9), PUMP)  # on its day, yet after the alarm


def test_discrepancy_over_threshold_is_more_than_the_refill_threshold() -> None:
    assert q.discrepancy_over_threshold(refill(datetime(2026, 1, 5), expected=4.0, withdrawn=6.5), PUMP)
    assert not q.discrepancy_over_threshold(refill(datetime(2026, 1, 5), expected=4.4, withdrawn=2.4), PUMP)  # 2 mL
    small = q.QualitySettings(refill=RefillSettings(use_small_pump_threshold=True))
    assert q.discrepancy_over_threshold(refill(datetime(2026, 1, 5), expected=4.0, withdrawn=2.5), PUMP, small)
    big = replace(PUMP, reservoir_capacity_ml=40.0)
    assert not q.discrepancy_over_threshold(refill(datetime(2026, 1, 5), expected=4.0, withdrawn=2.5), big, small)


def test_discrepancy_causes_are_reviewed_or_not_and_the_complication_recorded_against_the_refill() -> None:
    records = q.Records(
        pumps=[PUMP],
        refills=[
            refill(datetime(2026, 1, 5), expected=4.0, withdrawn=7.0, id=1, reviewed=True),
            refill(datetime(2026, 1, 20), expected=5.0, withdrawn=2.0, id=2),
            refill(datetime(2026, 1, 25), expected=5.0, withdrawn=5.5, id=3),  # within the threshold
        ],
        complications=[
            q.ComplicationFacts(1, PUMP.patient_id, "catheter_occlusion", datetime(2026, 2, 3), refill_id=1)
        ],
    )
    f = q.report(JAN.start, JAN.end, q.Grouping.MONTH, records, datetime(2026, 3, 1))[0]
    assert (f.refills, f.discrepancies, f.discrepancies_reviewed, f.discrepancies_not_reviewed) == (3, 2, 1, 1)
    assert f.discrepancies_more_than_expected == 1
    assert f.discrepancy_causes == {"catheter_occlusion": 1, q.NOT_RECORDED: 1}
    assert f.complications["catheter_occlusion"] == 0  # it happened in February


def test_missed_visit_is_marked_missed_and_overdue_visit_still_booked_past_its_time() -> None:
    as_of = datetime(2026, 1, 20)
    assert q.missed_visit(booking(datetime(2026, 1, 5), "missed"))
    assert not q.missed_visit(booking(datetime(2026, 1, 5), "cancelled"))
    assert q.overdue_visit(booking(datetime(2026, 1, 5), "booked"), as_of)
    assert not q.overdue_visit(booking(datetime(2026, 1, 25), "booked"), as_of)
    assert not q.overdue_visit(booking(datetime(2026, 1, 5), "done"), as_of)


def test_replacement_is_a_new_pump_soon_after_the_patients_earlier_one_was_explanted() -> None:
    old = replace(PUMP, explanted_at=datetime(2026, 1, 10, 9, 0))
    new = replace(PUMP, id=2, implanted_at=datetime(2026, 1, 10, 11, 0))
    assert q.replaced_pump(new, [old, new]) == old
    much_later = replace(new, implanted_at=datetime(2026, 6, 1))
    assert q.replaced_pump(much_later, [old, much_later]) is None  # beyond the 90 days
    other_patient = replace(new, patient_id=11)
    assert q.replaced_pump(other_patient, [old, other_patient]) is None
    assert q.replaced_pump(old, [old]) is None  # a first pump


def test_eri_replacement_is_the_battery_at_its_indicator_or_within_the_warning() -> None:
    explanted = replace(PUMP, explanted_at=datetime(2026, 1, 10))
    assert q.eri_replacement(replace(explanted, eri_reached=True))
    assert q.eri_replacement(replace(explanted, eri_at=datetime(2026, 5, 1)))  # 111 days before it
    assert not q.eri_replacement(replace(explanted, eri_at=datetime(2027, 5, 1)))  # an infection, years before
    assert not q.eri_replacement(explanted)  # no ERI known


def test_triage_calls_are_counted_by_their_urgency() -> None:
    reports = [q.TriageFacts(datetime(2026, 1, d), u) for d, u in ((2, 0), (3, 2), (4, 2), (5, 1), (6, None))]
    f = q.report(JAN.start, JAN.end, q.Grouping.MONTH, q.Records(triage=reports), datetime(2026, 2, 1))[0]
    assert f.triage == {"next_visit": 1, "call_today": 1, "emergency": 2, "untriaged": 1}


def test_the_total_is_the_sum_of_the_periods_and_each_record_counts_in_the_period_of_its_instant() -> None:
    records = q.Records(
        pumps=[PUMP, replace(PUMP, id=2, patient_id=11, implanted_at=datetime(2026, 2, 14))],
        refills=[refill(datetime(2026, 1, 31, 23, 59), id=1), refill(datetime(2026, 2, 1), expected=1.0, id=2)],
        visits=[booking(datetime(2026, 3, 2), "missed")],
        complications=[q.ComplicationFacts(1, 10, "infection", datetime(2026, 2, 20))],
    )
    rows = q.report(date(2026, 1, 1), date(2026, 3, 31), q.Grouping.MONTH, records, datetime(2026, 4, 1))
    jan, feb, mar, whole = rows
    assert (jan.refills, feb.refills, mar.refills, whole.refills) == (1, 1, 0, 2)
    assert (feb.near_misses, feb.implants, feb.complications["infection"], mar.visits_missed) == (1, 1, 1, 1)
    assert whole.pump_years == pytest.approx(jan.pump_years + feb.pump_years + mar.pump_years)
    assert whole.pumps_in_service == 2 and jan.pumps_in_service == 1


def test_the_row_has_every_column_in_order() -> None:
    records = q.Records(pumps=[PUMP], refills=[refill(datetime(2026, 1, 5))], visits=[booking(datetime(2026, 1, 5))])
    f = q.report(JAN.start, JAN.end, q.Grouping.MONTH, records, datetime(2026, 2, 1))[0]
    r = q.row(f)
    assert tuple(r) == q.COLUMNS
    words = ("period", "start", "end", "discrepancy_causes", "pump_years", "dry_per_100_pump_years")
    assert all(type(v) is int for k, v in r.items() if k not in words)  # a count, never True or False
    assert r["dry_per_100_pump_years"] == 0.0 and r["pump_years"] == round(31 / 365.25, 3)
    empty = q.report(JAN.start, JAN.end, q.Grouping.MONTH, q.Records(), datetime(2026, 2, 1))[0]
    assert q.row(empty)["dry_per_100_pump_years"] is None  # no pump-years: no rate


def test_every_setting_and_column_is_documented() -> None:
    text = (Path(__file__).parents[2] / "docs" / "parameters.md").read_text(encoding="utf-8")
    section = text[text.index("## The clinic quality report") :]
    for name in [f.name for f in dataclasses.fields(q.QualitySettings)] + list(q.COLUMNS):
        shown = name.removeprefix("complications_") if name.startswith("complications_") else name
        assert f"`{name}`" in section or f"`{shown}`" in section, name

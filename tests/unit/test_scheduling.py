"""Booking dates (``itb.domain.scheduling``): clinic days, the next refill appointment, the titration window.

Sources: ``shared/domain.md``, "Refills" (book 3-5 days before the low-reservoir alarm; at least
every 180 days), "The therapy in one paragraph" (titrate every 2-3 weeks), "The pump" (plan the
replacement about 6 months before the stop).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from itb.domain.errors import InvalidInput
from itb.domain.scheduling import (
    DEFAULT_BOOKING,
    DEFAULT_CALENDAR,
    SEARCH_DAYS,
    BookingSettings,
    ClinicCalendar,
    refill_booking_date,
    refill_target_date,
    titration_visit_due,
)

# 2026-03-02 is a Monday.
MON = date(2026, 3, 2)
TUE, WED, THU, FRI, SAT, SUN = (MON + timedelta(days=i) for i in range(1, 7))


def fields_of(error: InvalidInput) -> list[str]:
    return [v.field for v in error.violations]


# -- ClinicCalendar ----------------------------------------------------------------------------


def test_weekday_names_match_the_dates() -> None:
    assert [d.weekday() for d in (MON, TUE, WED, THU, FRI, SAT, SUN)] == [0, 1, 2, 3, 4, 5, 6]


def test_default_calendar_is_open_monday_to_friday() -> None:
    assert [DEFAULT_CALENDAR.is_open(d) for d in (MON, TUE, WED, THU, FRI, SAT, SUN)] == [True] * 5 + [False] * 2


def test_closure_closes_an_open_weekday() -> None:
    cal = ClinicCalendar(closures=frozenset({WED}))
    assert not cal.is_open(WED)
    assert cal.is_open(TUE)


def test_any_iterable_is_stored_as_frozenset() -> None:
    cal = ClinicCalendar(weekdays=[1, 3], closures={THU})  # type: ignore[arg-type]
    assert cal.weekdays == frozenset({1, 3})
    assert isinstance(cal.closures, frozenset)
    assert cal.is_open(TUE) and not cal.is_open(THU) and not cal.is_open(MON)


def test_calendar_is_hashable_and_frozen() -> None:
    cal = ClinicCalendar()
    assert hash(cal) == hash(ClinicCalendar())
    with pytest.raises(AttributeError):
        cal.weekdays = frozenset({0})  # type: ignore[misc]


@pytest.mark.parametrize("bad", [7, -1, 1.0, True, "0"])
def test_weekday_outside_0_to_6_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInput) as e:
        ClinicCalendar(weekdays=frozenset({0, bad}))  # type: ignore[arg-type]
    assert fields_of(e.value) == ["calendar.weekdays"]
    assert "0 (Monday) to 6 (Sunday)" in str(e.value)


def test_closure_with_a_time_of_day_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        ClinicCalendar(closures=frozenset({datetime(2026, 3, 4, 0, 0)}))
    assert fields_of(e.value) == ["calendar.closures"]


def test_on_or_before_returns_the_day_itself_when_open() -> None:
    assert DEFAULT_CALENDAR.on_or_before(WED, MON) == WED


def test_on_or_before_moves_a_weekend_back_to_friday() -> None:
    assert DEFAULT_CALENDAR.on_or_before(SUN, MON) == FRI


def test_on_or_before_skips_closures() -> None:
    cal = ClinicCalendar(closures=frozenset({FRI, THU}))
    assert cal.on_or_before(SUN, MON) == WED


def test_on_or_before_respects_the_earliest_day_inclusive() -> None:
    assert DEFAULT_CALENDAR.on_or_before(SUN, FRI) == FRI
    assert DEFAULT_CALENDAR.on_or_before(SUN, SAT) is None


def test_on_or_before_with_earliest_after_day_is_none() -> None:
    assert DEFAULT_CALENDAR.on_or_before(MON, TUE) is None


def test_on_or_before_of_a_never_open_calendar_is_none() -> None:
    assert ClinicCalendar(weekdays=frozenset()).on_or_before(SUN, MON - timedelta(days=3650)) is None


def test_on_or_after_returns_the_day_itself_when_open() -> None:
    assert DEFAULT_CALENDAR.on_or_after(TUE) == TUE


def test_on_or_after_moves_a_weekend_to_monday() -> None:
    assert DEFAULT_CALENDAR.on_or_after(SAT) == MON + timedelta(days=7)


def test_on_or_after_skips_closures() -> None:
    next_mon = MON + timedelta(days=7)
    cal = ClinicCalendar(closures=frozenset({next_mon, next_mon + timedelta(days=1)}))
    assert cal.on_or_after(SAT) == next_mon + timedelta(days=2)


def test_on_or_after_finds_the_last_day_of_the_search() -> None:
    last = MON + timedelta(days=SEARCH_DAYS - 1)
    closed = frozenset(MON + timedelta(days=i) for i in range(SEARCH_DAYS - 1))
    assert ClinicCalendar(weekdays=frozenset(range(7)), closures=closed).on_or_after(MON) == last


def test_on_or_after_raises_when_never_open() -> None:
    with pytest.raises(ValueError, match="no open day"):
        ClinicCalendar(weekdays=frozenset()).on_or_after(MON)
    closed = frozenset(MON + timedelta(days=i) for i in range(SEARCH_DAYS))
    with pytest.raises(ValueError, match="no open day in the 366 days from 2026-03-02"):
        ClinicCalendar(weekdays=frozenset(range(7)), closures=closed).on_or_after(MON)


# -- BookingSettings ---------------------------------------------------------------------------


def test_booking_defaults_follow_domain_md() -> None:
    s = BookingSettings()
    assert s.refill_margin_days == 7  # families are told 7-10 days before the printed alarm date
    assert s.max_refill_interval_days == 180  # drug stability
    assert s.titration_interval_days == (14, 21)  # every 2-3 weeks
    assert s.eri_warning_days == 183  # about 6 months
    assert s.eri_to_stop_days == 90
    assert (s.urgent_empty_days, s.soon_empty_days) == (7, 30)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"refill_margin_days": -1}, "booking.refill_margin_days"),
        ({"refill_margin_days": None}, "booking.refill_margin_days"),
        ({"max_refill_interval_days": 0}, "booking.max_refill_interval_days"),
        ({"max_refill_interval_days": float("nan")}, "booking.max_refill_interval_days"),
        ({"eri_warning_days": -5}, "booking.eri_warning_days"),
        ({"eri_to_stop_days": "90"}, "booking.eri_to_stop_days"),
        ({"urgent_empty_days": 0}, "booking.urgent_empty_days"),
        ({"urgent_empty_days": 31}, "booking.urgent_empty_days"),
        ({"titration_interval_days": (21, 14)}, "booking.titration_interval_days"),
        ({"titration_interval_days": (0, 14)}, "booking.titration_interval_days"),
        ({"titration_interval_days": (14.0, 21)}, "booking.titration_interval_days"),
        ({"titration_interval_days": [14, 21]}, "booking.titration_interval_days"),
        ({"titration_interval_days": (14,)}, "booking.titration_interval_days"),
    ],
)
def test_bad_booking_settings_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        BookingSettings(**kwargs)  # type: ignore[arg-type]
    assert fields_of(e.value) == [field]


def test_every_bad_booking_setting_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as e:
        BookingSettings(refill_margin_days=-1, max_refill_interval_days=-1, titration_interval_days=(3, 2))
    assert fields_of(e.value) == [
        "booking.refill_margin_days",
        "booking.max_refill_interval_days",
        "booking.titration_interval_days",
    ]


def test_zero_margin_and_equal_titration_bounds_are_allowed() -> None:
    s = BookingSettings(refill_margin_days=0, titration_interval_days=(14, 14), urgent_empty_days=30)
    assert s.titration_interval_days == (14, 14)


# -- refill_target_date / refill_booking_date --------------------------------------------------

LAST_REFILL = date(2026, 1, 5)


def test_target_is_margin_days_before_the_alarm() -> None:
    alarm = datetime(2026, 3, 9, 10, 0)  # Monday, 7 days after the target
    assert refill_target_date(LAST_REFILL, alarm) == MON


def test_fractional_margin_moves_the_target_earlier_not_later() -> None:
    alarm = datetime(2026, 3, 6, 10, 0)
    s = BookingSettings(refill_margin_days=4.5)
    assert refill_target_date(LAST_REFILL, alarm, s) == date(2026, 3, 1)


def test_target_without_alarm_is_the_stability_limit() -> None:
    assert refill_target_date(LAST_REFILL, None) == LAST_REFILL + timedelta(days=180)


def test_target_is_capped_by_drug_stability() -> None:
    alarm = datetime(2026, 12, 1, 8, 0)
    assert refill_target_date(LAST_REFILL, alarm) == LAST_REFILL + timedelta(days=180)


def test_stability_limit_exactly_equal_to_alarm_target() -> None:
    stability = LAST_REFILL + timedelta(days=180)
    alarm = datetime.combine(stability + timedelta(days=7), datetime.min.time())
    assert refill_target_date(LAST_REFILL, alarm) == stability


def test_booking_on_an_open_target_day() -> None:
    alarm = datetime(2026, 3, 9, 10, 0)  # target Monday 2026-03-02
    assert refill_booking_date(date(2026, 2, 20), LAST_REFILL, alarm, DEFAULT_CALENDAR) == MON


def test_booking_moves_a_weekend_target_back_to_friday() -> None:
    alarm = datetime(2026, 3, 15, 10, 0)  # target Sunday 2026-03-08
    assert refill_booking_date(date(2026, 2, 20), LAST_REFILL, alarm, DEFAULT_CALENDAR) == FRI


def test_booking_never_moves_later_than_the_target() -> None:
    alarm = datetime(2026, 3, 15, 10, 0)  # target Sunday
    cal = ClinicCalendar(weekdays=frozenset({0}))  # Mondays only
    assert refill_booking_date(date(2026, 2, 20), LAST_REFILL, alarm, cal) == MON


def test_booking_skips_a_holiday() -> None:
    alarm = datetime(2026, 3, 15, 10, 0)  # target Sunday 2026-03-08
    cal = ClinicCalendar(closures=frozenset({FRI}))
    assert refill_booking_date(date(2026, 2, 20), LAST_REFILL, alarm, cal) == THU


def test_booking_may_be_today() -> None:
    alarm = datetime(2026, 3, 11, 10, 0)  # target Wednesday 2026-03-04
    assert refill_booking_date(WED, LAST_REFILL, alarm, DEFAULT_CALENDAR) == WED


def test_booking_is_never_before_today() -> None:
    alarm = datetime(2026, 3, 15, 10, 0)  # target Sunday, Friday is open
    cal = ClinicCalendar(closures=frozenset({FRI}))
    # today is Friday (closed): no open day in [Fri, Sun], so the first open day from today
    assert refill_booking_date(FRI, LAST_REFILL, alarm, cal) == MON + timedelta(days=7)


def test_alarm_too_close_books_the_first_open_day() -> None:
    alarm = datetime(2026, 3, 12, 8, 0)  # target Thursday 2026-03-05, already past on Saturday
    assert refill_booking_date(SAT, LAST_REFILL, alarm, DEFAULT_CALENDAR) == MON + timedelta(days=7)


def test_alarm_already_passed_books_today_if_open() -> None:
    alarm = datetime(2026, 3, 1, 8, 0)
    assert refill_booking_date(WED, LAST_REFILL, alarm, DEFAULT_CALENDAR) == WED


def test_stability_limit_already_passed_books_the_first_open_day() -> None:
    today = LAST_REFILL + timedelta(days=200)
    assert refill_booking_date(today, LAST_REFILL, None, DEFAULT_CALENDAR) == DEFAULT_CALENDAR.on_or_after(today)


def test_booking_without_alarm_uses_the_stability_limit() -> None:
    stability = LAST_REFILL + timedelta(days=180)  # 2026-07-04, a Saturday
    assert stability.weekday() == 5
    assert refill_booking_date(LAST_REFILL, LAST_REFILL, None, DEFAULT_CALENDAR) == stability - timedelta(days=1)


def test_booking_uses_the_settings_margin() -> None:
    alarm = datetime(2026, 3, 6, 10, 0)  # Friday
    s = BookingSettings(refill_margin_days=3)
    assert refill_booking_date(date(2026, 2, 20), LAST_REFILL, alarm, DEFAULT_CALENDAR, s) == TUE


def test_booking_raises_when_the_calendar_is_never_open() -> None:
    with pytest.raises(ValueError, match="no open day"):
        refill_booking_date(MON, LAST_REFILL, None, ClinicCalendar(weekdays=frozenset()))


# -- titration ---------------------------------------------------------------------------------


def test_titration_window_is_two_to_three_weeks_after_the_change() -> None:
    assert titration_visit_due(MON) == (MON + timedelta(days=14), MON + timedelta(days=21))


def test_titration_window_follows_the_settings() -> None:
    s = BookingSettings(titration_interval_days=(7, 10))
    assert titration_visit_due(MON, s) == (MON + timedelta(days=7), MON + timedelta(days=10))


def test_default_booking_is_the_default_settings() -> None:
    assert BookingSettings() == DEFAULT_BOOKING

"""Booking dates: the clinic's open days, the next refill appointment, the titration window.

The programmer prints the low-reservoir alarm date after a refill; the clinic books the next
refill a margin (7 days) before the *earliest plausible* alarm, the date the pump's learned flow
gives at its upper bound (:mod:`itb.domain.calibration`: a pump that runs fast within its
tolerance empties before its own date), and never later than drug stability allows (180 days),
on a day the clinic is open. After a dose change during titration the next visit falls 2-3 weeks
later. Every number is a field of ``BookingSettings`` or ``ClinicCalendar`` that a clinic can
change; ``docs/parameters.md`` lists them with their sources (``shared/domain.md``, "Refills",
"The therapy in one paragraph", "The pump").
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from itb.domain.errors import InvalidInput, Violation, bound_violation

#: how far ``ClinicCalendar.on_or_after`` looks for an open day before giving up
SEARCH_DAYS = 366


@dataclass(frozen=True, slots=True)
class ClinicCalendar:
    """The days the clinic sees patients: open weekdays minus closures (holidays, closed days).

    Any iterable is accepted for both fields and stored as a ``frozenset``.
    """

    #: open weekdays, Monday=0 ... Sunday=6 (clinic setting: Monday to Friday)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    #: days closed although their weekday is open (clinic setting: none)
    closures: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        object.__setattr__(self, "closures", frozenset(self.closures))
        problems: list[Violation] = []
        for day in sorted(self.weekdays, key=repr):
            if type(day) is not int or not 0 <= day <= 6:
                problems.append(Violation("calendar.weekdays", f"must be days 0 (Monday) to 6 (Sunday), got {day!r}"))
        for closed in sorted(self.closures, key=repr):
            if type(closed) is not date:
                problems.append(Violation("calendar.closures", f"must be dates (no time of day), got {closed!r}"))
        if problems:
            raise InvalidInput(problems)

    def is_open(self, day: date) -> bool:
        """Whether the clinic sees patients on ``day``."""
        return day.weekday() in self.weekdays and day not in self.closures

    def on_or_before(self, day: date, earliest: date) -> date | None:
        """The latest open day in ``[earliest, day]``; None if there is none (or ``earliest > day``)."""
        if not self.weekdays:
            return None
        candidate = day
        while candidate >= earliest:
            if self.is_open(candidate):
                return candidate
            candidate -= timedelta(days=1)
        return None

    def on_or_after(self, day: date) -> date:
        """The first open day on or after ``day``, looking ``SEARCH_DAYS`` days ahead.

        Raises ``ValueError`` when the clinic is never open in that time.
        """
        for offset in range(SEARCH_DAYS if self.weekdays else 0):
            candidate = day + timedelta(days=offset)
            if self.is_open(candidate):
                return candidate
        raise ValueError(f"the clinic calendar has no open day in the {SEARCH_DAYS} days from {day.isoformat()}")


DEFAULT_CALENDAR = ClinicCalendar()


@dataclass(frozen=True, slots=True)
class BookingSettings:
    """Every booking and worklist rule a clinic may change, with its source."""

    #: book the refill this many days before the earliest plausible low-reservoir alarm (the
    #: pump's learned flow, itb.domain.calibration; domain.md: one children's hospital tells
    #: families 7-10 days before the printed date)
    refill_margin_days: float = 7
    #: drug stability: refill at least this often whatever the volume (domain.md: 180 days)
    max_refill_interval_days: float = 180
    #: the next titration visit, in days after the last program change (domain.md: every 2-3 weeks)
    titration_interval_days: tuple[int, int] = (14, 21)
    #: flag the elective replacement indicator this many days ahead (domain.md: plan the replacement
    #: about 6 months before the stop; the stop comes about 90 days after the ERI, so this is early)
    eri_warning_days: int = 183
    #: the pump stops (end of service) about this long after the ERI (domain.md: about 90 days)
    eri_to_stop_days: int = 90
    #: worklist urgency 0: the reservoir empties within this many days (clinic setting, the worklist issue)
    urgent_empty_days: float = 7
    #: worklist urgency 1: the reservoir empties within this many days (clinic setting, the worklist issue)
    soon_empty_days: float = 30
    #: a missed appointment stays on the worklist this many days (clinic setting): follow it up, then
    #: it is history, not a task
    missed_follow_up_days: int = 90
    #: a vendor-programmed pump whose last recorded session is older than its refill interval (its
    #: last session to its earliest plausible alarm, at most max_refill_interval_days) plus this many
    #: days is stale: a session on the vendor's programmer may be missing from the record (clinic
    #: setting; issue 12: "the refill interval plus a margin")
    stale_margin_days: float = 14

    def __post_init__(self) -> None:
        problems: list[Violation] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "titration_interval_days":
                continue
            strict = f.name in ("max_refill_interval_days", "urgent_empty_days", "soon_empty_days")
            bad = bound_violation(f"booking.{f.name}", value, minimum=0, strict=strict, required=True)
            if bad:
                problems.append(bad)
        window = self.titration_interval_days
        if (
            type(window) is not tuple
            or len(window) != 2
            or any(type(v) is not int for v in window)
            or not 0 < window[0] <= window[1]
        ):
            problems.append(
                Violation(
                    "booking.titration_interval_days",
                    f"must be two whole numbers of days (earliest, latest) with 0 < earliest <= latest, got {window!r}",
                )
            )
        if not problems and self.urgent_empty_days > self.soon_empty_days:
            problems.append(Violation("booking.urgent_empty_days", "must be <= booking.soon_empty_days"))
        if problems:
            raise InvalidInput(problems)


DEFAULT_BOOKING = BookingSettings()


def refill_target_date(
    last_refill: date, low_reservoir_alarm_at: datetime | None, settings: BookingSettings = DEFAULT_BOOKING
) -> date:
    """The latest day the next refill should happen, ignoring the calendar.

    ``refill_margin_days`` before the alarm (subtracted from the alarm's date and time, so a
    fractional margin moves the day earlier, never later), and no later than
    ``max_refill_interval_days`` after the last refill (whole days; a fraction is dropped).
    """
    stability = last_refill + timedelta(days=int(settings.max_refill_interval_days))
    if low_reservoir_alarm_at is None:
        return stability
    before_alarm = (low_reservoir_alarm_at - timedelta(days=settings.refill_margin_days)).date()
    return min(before_alarm, stability)


def refill_booking_date(
    today: date,
    last_refill: date,
    low_reservoir_alarm_at: datetime | None,
    calendar: ClinicCalendar = DEFAULT_CALENDAR,
    settings: BookingSettings = DEFAULT_BOOKING,
) -> date:
    """The day to book the next refill.

    The latest open day on or before ``refill_target_date`` and not before ``today``. When there
    is no open day in ``[today, target]`` (the alarm is too close, or the target has passed),
    the first open day from ``today`` on: the worklist flags such a pump as urgent.
    """
    target = refill_target_date(last_refill, low_reservoir_alarm_at, settings)
    booked = calendar.on_or_before(target, today)
    return booked if booked is not None else calendar.on_or_after(today)


def titration_visit_due(last_change: date, settings: BookingSettings = DEFAULT_BOOKING) -> tuple[date, date]:
    """The window (earliest, latest) for the next titration visit after a program change."""
    earliest, latest = settings.titration_interval_days
    return last_change + timedelta(days=earliest), last_change + timedelta(days=latest)

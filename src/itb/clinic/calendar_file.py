"""A family's visits as an iCalendar file (the calendar feed, a reminder's attachment).

Every visit carries the clinic's time zone (its VTIMEZONE); a cancelled visit stays as cancelled,
so the phone removes it rather than keeping a visit that will not happen.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from itb.clinic.usecases.calendar import FeedVisit

#: how long a visit is shown in the calendar (the clinic's booking has no end time)
VISIT_MINUTES = 30
_STATUS = {"booked": "CONFIRMED", "done": "CONFIRMED", "missed": "CONFIRMED", "cancelled": "CANCELLED"}


def ics_calendar(patient_name: str, time_zone: str, visits: Iterable[FeedVisit], now: datetime) -> bytes:
    """The visits as an iCalendar file, each at the clinic's time zone (with its VTIMEZONE)."""
    from icalendar import Calendar, Event

    zone = ZoneInfo(time_zone)
    cal = Calendar()
    cal.add("prodid", "-//ITB clinic//itb//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"ITB clinic: {patient_name}")
    cal.add("x-wr-timezone", time_zone)
    for visit in visits:
        event = Event()
        start = visit.at.replace(tzinfo=zone)
        event.add("uid", f"itb-appointment-{visit.id}@itb")
        event.add("summary", f"ITB clinic: {visit.kind.replace('_', ' ')} visit")
        event.add("dtstart", start)
        # a visit at the calendar's very end (a record older than the bookings' window) ends with it
        event.add("dtend", start + min(timedelta(minutes=VISIT_MINUTES), datetime.max.replace(tzinfo=zone) - start))
        event.add("dtstamp", now.replace(tzinfo=zone))
        event.add("status", _STATUS[visit.status])
        event.add("sequence", 1 if visit.status == "cancelled" else 0)
        words = {"cancelled": "Cancelled by the clinic.", "missed": "Missed.", "done": "Done."}.get(visit.status, "")
        event.add("description", f"Intrathecal baclofen pump clinic. Do not miss refill visits. {words}".strip())
        cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


__all__ = ["VISIT_MINUTES", "ics_calendar"]

"""The families' calendar: an iCalendar feed a phone subscribes to by a secret, revocable link.

``/calendar/{token}.ics`` needs no login (a phone's calendar cannot log in): the token is the
key, kept only as its hash (``itb.clinic.usecases.calendar``). A caregiver (or staff) makes a
link from the family's page, sees it once, and can revoke it. Every visit carries the clinic's
time zone; a cancelled visit stays in the feed as cancelled, so the phone removes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from itb.clinic.services import Actor, Clinic
from itb.clinic.usecases.calendar import FeedVisit
from itb.web.page_params import PageId

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


def install_calendar_pages(
    router: APIRouter,
    clinic: Clinic,
    *,
    session: Callable[[Request], tuple[Actor, str]],
    check_csrf: Callable[[str, str], None],
    render: Callable[..., HTMLResponse],
) -> None:
    @router.get("/calendar/{token}.ics")
    def feed(token: str) -> Response:
        """A patient's visits by their family's secret link (404 for an unknown or revoked one)."""
        found = clinic.calendar_feed(token)
        return Response(
            ics_calendar(found.patient_name, found.time_zone, found.visits, clinic.clock()),
            media_type="text/calendar; charset=utf-8",
            headers={"Cache-Control": "no-store"},
        )

    @router.post("/patients/{patient_id}/calendar-link", response_class=HTMLResponse)
    def new_link(request: Request, patient_id: PageId, csrf: str = Form("")) -> HTMLResponse:
        """A new link for the phone (shown once); the earlier one of this person stops working."""
        actor, token = session(request)
        check_csrf(token, csrf)
        secret = clinic.new_calendar_link(actor, patient_id)
        url = str(request.url_for("feed", token=secret))
        return render(request, "calendar_link.html", actor, token, url=url, patient_id=patient_id)

    @router.post("/patients/{patient_id}/calendar-link/revoke")
    def revoke(request: Request, patient_id: PageId, csrf: str = Form("")) -> Response:
        actor, token = session(request)
        check_csrf(token, csrf)
        clinic.revoke_calendar_links(actor, patient_id)
        return RedirectResponse("/family?calendar=revoked" if actor.role == "caregiver" else "/patients", 303)


__all__ = ["VISIT_MINUTES", "ics_calendar", "install_calendar_pages"]

"""The families' calendar: an iCalendar feed a phone subscribes to by a secret, revocable link.

``/calendar/{token}.ics`` needs no login (a phone's calendar cannot log in): the token is the
key, kept only as its hash (``itb.clinic.usecases.calendar``). A caregiver (or staff) makes a
link from the family's page, sees it once, and can revoke it. Every visit carries the clinic's
time zone; a cancelled visit stays in the feed as cancelled, so the phone removes it.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from itb.clinic.calendar_file import ics_calendar
from itb.clinic.services import Actor, Clinic
from itb.web.page_params import PageId


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


__all__ = ["install_calendar_pages"]

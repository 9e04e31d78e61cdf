"""The families' calendar feed: a phone subscribes by a secret, revocable link (no login), every
visit at the clinic's time zone, a cancelled visit kept as cancelled; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from test_pages_security import browser, csrf_of

from itb.adapters.db import models as m
from itb.shell.clinic_setup import SetupError, time_zone_from_env


def link_for(client: TestClient, patient_id: int) -> str:
    family = client.get("/family").text
    made = client.post(f"/patients/{patient_id}/calendar-link", data={"csrf": csrf_of(family)})
    assert made.status_code == 200, made.text
    return re.search(r'id="calendar-url" type="text" readonly value="([^"]+)"', made.text).group(1)  # type: ignore[union-attr]


def test_a_family_subscribes_by_a_secret_link_that_needs_no_login(app, clinic, users, passwords, child, clock, db):
    clinic.config = replace(clinic.config, time_zone="Europe/Paris")
    clock.set(datetime(2026, 12, 1, 9, 0))
    kept = clinic.book(users["nurse"], child.id, kind="refill", at=datetime(2026, 12, 10, 10, 30))
    dropped = clinic.book(users["nurse"], child.id, kind="titration", at=datetime(2026, 12, 11, 11, 0))
    clinic.set_appointment_status(users["nurse"], dropped.id, "cancelled")
    url = link_for(browser(app, "caregiver", passwords), child.id)
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert [x.token_sha256 for x in db.all(m.CalendarLink)] != [token]  # only its hash is kept
    phone = TestClient(app)  # no cookie
    feed = phone.get(f"/calendar/{token}.ics")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    events = {str(e["uid"]): e for e in Calendar.from_ical(feed.content).walk("VEVENT")}
    visit = events[f"itb-appointment-{kept.id}@itb"]
    start = visit.decoded("dtstart")
    assert start.tzinfo is not None and str(start.tzinfo) == "Europe/Paris"
    assert start.replace(tzinfo=None) == datetime(2026, 12, 10, 10, 30)
    assert str(visit["status"]) == "CONFIRMED"
    assert str(events[f"itb-appointment-{dropped.id}@itb"]["status"]) == "CANCELLED"
    assert b"BEGIN:VTIMEZONE" in feed.content and b"TZID:Europe/Paris" in feed.content


def test_a_new_link_stops_the_old_one_and_a_revoked_link_is_not_found(app, clinic, users, passwords, child, db):
    family = browser(app, "caregiver", passwords)
    first = link_for(family, child.id).rsplit("/", 1)[1]
    second = link_for(family, child.id).rsplit("/", 1)[1]
    phone = TestClient(app)
    assert phone.get(f"/calendar/{first}").status_code == 404
    assert phone.get(f"/calendar/{second}").status_code == 200
    page = family.get("/family").text
    stopped = family.post(f"/patients/{child.id}/calendar-link/revoke", data={"csrf": csrf_of(page)})
    assert stopped.status_code == 200 and "no longer works" in stopped.text
    assert phone.get(f"/calendar/{second}").status_code == 404
    assert phone.get("/calendar/not-a-token.ics").status_code == 404
    assert [e.action for e in db.audit()].count("revoke_calendar_link") == 2


def test_a_link_is_only_for_a_child_one_may_see_and_needs_the_forms_token(app, passwords, child, other_child):
    family = browser(app, "caregiver", passwords)
    page = family.get("/family").text
    assert family.post(f"/patients/{other_child.id}/calendar-link", data={"csrf": csrf_of(page)}).status_code == 404
    assert family.post(f"/patients/{child.id}/calendar-link", data={"csrf": "0" * 64}).status_code == 403


def test_the_download_carries_the_same_feed(app, clinic, users, passwords, child, clock):
    clock.set(datetime(2026, 12, 1, 9, 0))
    booked = clinic.book(users["nurse"], child.id, kind="refill", at=clock.now + timedelta(days=6))
    family = browser(app, "caregiver", passwords)
    answer = family.get(f"/patients/{child.id}/appointments.ics")
    assert answer.status_code == 200 and f"itb-appointment-{booked.id}@itb".encode() in answer.content


def test_itb_time_zone_is_an_iana_name():
    """``$ITB_TIME_ZONE``: the clinic's local time zone (default UTC); a wrong name is a setup error."""
    assert time_zone_from_env({}) == "UTC"
    assert time_zone_from_env({"ITB_TIME_ZONE": "Europe/Paris"}) == "Europe/Paris"
    with pytest.raises(SetupError, match="ITB_TIME_ZONE"):
        time_zone_from_env({"ITB_TIME_ZONE": "Mars/Olympus"})

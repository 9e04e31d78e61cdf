"""The pages' login, cookie, CSRF and role boundaries, without a browser (both databases)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from itb.adapters.db import models as m


def browser(app: Any, role: str | None, passwords: dict[str, str]) -> TestClient:
    c = TestClient(app)
    if role:
        answer = c.post("/login", data={"username": role, "password": passwords[role]}, follow_redirects=False)
        assert answer.status_code == 303
    return c


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]


def test_pages_need_a_login_and_the_cookie_is_guarded(app, users, passwords):
    anon = TestClient(app)
    answer = anon.get("/worklist", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/worklist"
    wrong = anon.post("/login", data={"username": "nurse", "password": "nope-nope"})
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    ok = anon.post("/login", data={"username": "nurse", "password": passwords["nurse"]}, follow_redirects=False)
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert ok.headers["location"] == "/"


def test_a_post_without_the_forms_csrf_token_changes_nothing(app, users, passwords, pump, db):
    nurse = browser(app, "nurse", passwords)
    before = db.audit_count()
    answer = nurse.post(f"/pumps/{pump.id}/interrogate", data={"csrf": "forged"})
    assert answer.status_code == 403
    assert db.audit_count() == before
    page = nurse.get(f"/patients/{pump.patient_id}")
    assert nurse.post(f"/pumps/{pump.id}/interrogate", data={"csrf": csrf_of(page.text)}).status_code == 200
    assert db.audit_count() > before


@pytest.mark.parametrize("path", ["/worklist", "/patients/{other}", "/patients/{other}/appointments.ics"])
def test_a_caregiver_sees_only_their_child(app, clinic, users, passwords, child, other_child, path):
    carer = browser(app, "caregiver", passwords)
    assert carer.get("/", follow_redirects=False).headers["location"] == "/family"
    answer = carer.get(path.format(other=other_child.id))
    assert answer.status_code == 404
    assert "<h1>Not found</h1>" in answer.text
    assert child.name in carer.get("/family").text


def test_a_family_can_report_symptoms_and_the_chart_shows_them(app, clinic, users, passwords, child, db):
    carer = browser(app, "caregiver", passwords)
    page = carer.get("/family").text
    sent = carer.post(
        "/family/symptoms",
        data={"csrf": csrf_of(page), "patient_id": child.id, "symptoms": ["itching"], "note": "scratching since noon"},
    )
    assert sent.status_code == 200 and "the clinic has your report" in sent.text.lower()
    (report,) = db.all(m.SymptomReport)
    assert report.symptoms == ["itching"] and report.by == "caregiver"
    doctor = browser(app, "clinician", passwords)
    assert "scratching since noon" in doctor.get(f"/patients/{child.id}").text


def test_a_nurse_has_no_program_button_and_cannot_send_one(app, users, passwords, pump):
    nurse = browser(app, "nurse", passwords)
    chart = nurse.get(f"/patients/{pump.patient_id}").text
    assert f"/pumps/{pump.id}/program" not in chart
    form = nurse.get(f"/pumps/{pump.id}/program").text
    answer = nurse.post(
        f"/pumps/{pump.id}/program",
        data={"csrf": csrf_of(form), "step": "confirm", "rate": "120 mcg/day", "version": pump.version},
    )
    assert answer.status_code == 403


def test_booking_and_completing_a_visit_from_the_pages(app, users, passwords, child, db):
    nurse = browser(app, "nurse", passwords)
    chart = nurse.get(f"/patients/{child.id}").text
    booked = nurse.post(
        "/appointments/book",
        data={
            "csrf": csrf_of(chart),
            "patient_id": child.id,
            "kind": "titration",
            "day": "2026-12-02",
            "at_time": "11:30",
        },
    )
    assert booked.status_code == 200
    visit = next(a for a in db.all(m.Appointment) if a.kind == "titration")
    saturday = nurse.post(
        "/appointments/book",
        data={"csrf": csrf_of(chart), "patient_id": child.id, "kind": "titration", "day": "2026-12-05"},
    )
    assert saturday.status_code == 422 and "not a clinic day" in saturday.text
    week = nurse.get("/appointments?week=2026-11-30").text
    done = nurse.post(f"/appointments/{visit.id}/status", data={"csrf": csrf_of(week), "status": "done"})
    assert done.status_code == 200
    assert next(a for a in db.all(m.Appointment) if a.id == visit.id).status == "done"


def test_a_symptom_report_is_triaged_with_the_pumps_state(app, clinic, users, passwords, child, pump, db):
    carer = browser(app, "caregiver", passwords)
    page = carer.get("/family").text
    sent = carer.post(
        "/family/symptoms",
        data={"csrf": csrf_of(page), "patient_id": child.id, "symptoms": ["pump_beeping"], "note": ""},
    )
    (report,) = db.all(m.SymptomReport)
    assert report.urgency == 2  # the tone is not known: an alarm may mean no drug flows (seed: come right away)
    assert report.triage["instruction"] in sent.text
    assert "emergency" in sent.text.lower()


def test_the_chart_shows_the_titration_step_the_battery_plan_and_the_mri_form(
    app, clinic, users, passwords, child, pump
):
    doctor = browser(app, "clinician", passwords)
    page = doctor.get(f"/patients/{child.id}").text
    assert "Titration: next step" in page  # the child is titrating after the implant
    assert "Battery and replacement" in page and "Operate by" in page
    booked = doctor.post(
        f"/patients/{child.id}/mri", data={"csrf": csrf_of(page), "day": "2026-12-02", "at_time": "14:00"}
    )
    assert booked.status_code == 200 and "MRI 2026-12-02 14:00" in booked.text


def test_the_family_page_explains_what_running_dry_does(app, passwords, child, pump):
    carer = browser(app, "caregiver", passwords)
    page = carer.get("/family").text
    assert "What happens if the pump runs dry" in page and "Why refills must never be missed" in page


def test_the_family_page_compares_by_mouth_and_by_pump(app, passwords, child, pump):
    page = browser(app, "caregiver", passwords).get("/family").text
    assert "Medicine by mouth or by pump" in page


def test_a_screened_candidate_gets_pump_size_advice(app, clinic, users, passwords, other_child):
    clinic.record_screening(
        users["clinician"], other_child.id, dose_mcg=50, mas_before={"hamstrings": "3"}, mas_after={"hamstrings": "1+"}
    )
    page = browser(app, "clinician", passwords).get(f"/patients/{other_child.id}").text
    assert "Pump size advice" in page and "mcg/mL" in page

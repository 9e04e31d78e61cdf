"""The pages' login, cookie, CSRF and role boundaries, without a browser (both databases)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from itb.adapters.db import models as m


def sign_in(c: TestClient, username: str, password: str, **fields: str) -> Any:
    """Through the login form: its page first (the form's CSRF token and its cookie), then the post."""
    csrf = csrf_of(c.get("/login").text)
    data = {"username": username, "password": password, "csrf": csrf, **fields}
    return c.post("/login", data=data, follow_redirects=False)


def browser(app: Any, role: str | None, passwords: dict[str, str]) -> TestClient:
    c = TestClient(app)
    if role:
        answer = sign_in(c, role, passwords[role])
        assert answer.status_code == 303
    return c


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]


def test_pages_need_a_login_and_the_cookie_is_guarded(app, users, passwords):
    anon = TestClient(app)
    answer = anon.get("/worklist", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/worklist"
    wrong = sign_in(anon, "nurse", "nope-nope")
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    ok = sign_in(anon, "nurse", passwords["nurse"])
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


#: the page forms a caregiver may send: signing in and out, and their own child's symptom report,
#: calendar link and contacts (for another family's child: "not found"); every other form of the pages is
#: the staff's
FAMILY_POSTS = {
    "/login",
    "/logout",
    "/family/symptoms",
    "/patients/{patient_id}/calendar-link",
    "/patients/{patient_id}/calendar-link/revoke",
    "/patients/{patient_id}/contacts",
}


def page_posts(app: Any) -> list[str]:
    """Every path the pages take a POST at, found in the app's routes (the pages are one included router)."""
    routes: list[Any] = []
    for route in app.routes:
        router = getattr(route, "original_router", None)
        routes += router.routes if router is not None else [route]
    return sorted(
        {r.path for r in routes if "POST" in (getattr(r, "methods", None) or ()) and not r.path.startswith("/api/")}
    )


def test_a_caregiver_is_refused_every_staff_form_and_nothing_is_stored(
    app, clinic, users, passwords, child, other_child, pump, db
):
    report = clinic.report_symptoms(users["caregiver"], child.id, ["itching"], "")
    carer = browser(app, "caregiver", passwords)
    token = csrf_of(carer.get("/family").text)
    posts = [p for p in page_posts(app) if p not in FAMILY_POSTS]
    assert {"/patients/new", "/patients/{patient_id}/pumps/new", "/symptom-reports/{report_id}/review"} <= set(posts)
    assert {"/contacts", "/notifications/run"} <= set(posts)
    assert set(page_posts(app)) >= FAMILY_POSTS
    ids = {"patient_id": child.id, "pump_id": pump.id, "refill_id": 1, "session_id": 1, "change_id": 1,
           "appointment_id": 1, "report_id": report.id}  # fmt: skip
    form = {
        "csrf": token, "step": "confirm", "version": pump.version, "patient_id": child.id, "connection": "telemetry",
        "name": "Ana Carer", "birth_date": "2018-05-02", "origin": "cerebral", "model": "peristaltic",
        "serial": "SN-CARER", "reservoir_capacity_ml": "20 mL", "catheter_length_cm": "50", "reservoir_ml": "20 mL",
        "concentration_mcg_per_ml": "500 mcg/mL", "program": "100 mcg/day", "phase": "maintenance", "kind": "refill",
        "mas.hamstrings": "2", "at": "2026-11-23T08:00", "withdrawn": "19 mL", "added": "20 mL",
        "concentration": "500 mcg/mL", "rate": "100 mcg/day", "dose": "50 mcg", "day": "2026-12-02",
        "at_time": "10:00", "status": "cancelled", "note": "checked",
    }  # fmt: skip
    before, audited = db.snapshot(), db.audit_count()
    for path in posts:
        answer = carer.post(path.format(**ids), data=form, follow_redirects=False)
        assert answer.status_code in (403, 404), f"POST {path}: {answer.status_code}"
    for path in FAMILY_POSTS - {"/login", "/logout"}:  # their own forms, for another family's child
        answer = carer.post(path.format(patient_id=other_child.id), data={**form, "patient_id": other_child.id})
        assert answer.status_code == 404, f"POST {path}: {answer.status_code}"
    assert db.snapshot() == before and db.audit_count() == audited

"""The pages for vendor-programmed pumps, without a browser (both databases): the import's preview
and confirm, the session's review and "programmed as reviewed", the chart's sessions, and their
login, CSRF and role boundaries.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from test_clinic_import import FILE
from test_pages_security import browser, csrf_of

from itb.adapters.db import models as m

BAD_FILE = FILE.replace("2015-04-02", "2015-02-30").replace("prometra-ii", "prometra-x")
IMPORTED_AT = datetime(2026, 12, 1, 9, 0)


def forms(page: str) -> list[dict[str, Any]]:
    """Each form of the page: its action and the values of its hidden inputs."""
    out = []
    for attrs, body in re.findall(r"<form([^>]*)>(.*?)</form>", page, flags=re.S):
        action = re.search(r'action="([^"]*)"', attrs)
        hidden = {
            html.unescape(n): html.unescape(v)
            for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body)
        }
        out.append({"action": action.group(1) if action else "", "fields": hidden, "html": body})
    return out


def form_with(page: str, step: str) -> dict[str, Any]:
    return next(f for f in forms(page) if f["fields"].get("step") == step)


def upload(client: Any, text: str, csrf: str) -> Any:
    return client.post(
        "/import",
        data={"csrf": csrf, "step": "preview"},
        files={"file": ("clinic.csv", text.encode("utf-8"), "text/csv")},
    )


# ---------------------------------------------------------------------------------- the import


def test_the_preview_stores_nothing_and_confirm_imports_the_same_file(app, users, passwords, db, clock):
    clock.set(IMPORTED_AT)
    doctor = browser(app, "clinician", passwords)
    start = doctor.get("/import")
    assert start.status_code == 200 and 'enctype="multipart/form-data"' in start.text
    before = db.snapshot()
    preview = upload(doctor, FILE, csrf_of(start.text))
    assert preview.status_code == 200, preview.text
    assert db.snapshot() == before  # a dry run
    page = preview.text
    assert "nothing is stored yet" in page and "Confirm import" in page
    rows = re.findall(r"<tr[^>]*>\s*<td>(\d+)</td><td[^>]*>([^<]+)</td>", page)
    assert [(int(n), ref) for n, ref in rows] == [(2, "MRN-0001"), (3, "MRN-0002"), (4, "MRN-0003")]
    # the computed alarm beside the vendor's printed one: 18 mL at 0.4 mL/day from 2026-11-20 09:00
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page, flags=re.S)
    assert cells[4].startswith("2027-01-04 09:00") and cells[5] == "2027-01-05 00:00"
    assert "200 mcg/day" in page and "2026-12-20" in page  # the daily dose, the booked refill as given

    confirm = form_with(page, "confirm")
    tampered = {**confirm["fields"], "content": confirm["fields"]["content"][:-8] + "AAAAAAAA"}
    refused = doctor.post("/import", data=tampered)
    assert refused.status_code == 422 and "not the file that was previewed" in refused.text
    assert db.snapshot() == before

    done = doctor.post("/import", data=confirm["fields"])
    assert done.status_code == 200, done.text
    assert db.count(m.Patient) == 3 and db.count(m.Pump) == 3 and db.count(m.PumpSession) == 3
    counts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", done.text))
    assert counts["Patients created"] == "3" and counts["Unchanged (already recorded)"] == "0"
    for patient in db.all(m.Patient):
        assert f'href="/patients/{patient.id}"' in done.text
    again = doctor.post("/import", data=confirm["fields"])  # the same file twice: nothing new
    assert again.status_code == 200 and db.count(m.Patient) == 3
    assert dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", again.text))["Unchanged (already recorded)"] == "3"


def test_a_bad_file_lists_every_error_by_row_and_column_and_stores_nothing(app, users, passwords, db, clock):
    clock.set(IMPORTED_AT)
    doctor = browser(app, "clinician", passwords)
    before = db.snapshot()
    answer = upload(doctor, BAD_FILE, csrf_of(doctor.get("/import").text))
    assert answer.status_code == 422
    errors = re.findall(r"<li>(row \d+, column [^:]+:[^<]*)</li>", answer.text)
    assert [e.split(":")[0] for e in errors] == ["row 2, column birth_date", "row 3, column pump_model"]
    assert "nothing was stored" in answer.text and "Confirm import" not in answer.text
    assert db.snapshot() == before


def test_a_file_that_is_not_utf8_or_missing_is_a_clear_error(app, users, passwords, db):
    doctor = browser(app, "clinician", passwords)
    csrf = csrf_of(doctor.get("/import").text)
    latin = doctor.post(
        "/import", data={"csrf": csrf}, files={"file": ("c.csv", FILE.replace("Okafor", "Müller").encode("latin-1"))}
    )
    assert latin.status_code == 422 and "must be UTF-8 text" in latin.text
    missing = doctor.post("/import", data={"csrf": csrf, "step": "preview"})
    assert missing.status_code == 422 and "choose the clinic&#39;s CSV file" in missing.text


def test_a_nurse_cannot_import_and_has_no_import_link(app, users, passwords, db):
    nurse = browser(app, "nurse", passwords)
    assert 'href="/import"' not in nurse.get("/worklist").text
    page = nurse.get("/import")
    assert page.status_code == 403 and "<h1>Not allowed</h1>" in page.text and "Traceback" not in page.text
    before = db.snapshot()
    answer = upload(nurse, FILE, csrf_of(nurse.get("/worklist").text))
    assert answer.status_code == 403 and "Traceback" not in answer.text
    assert db.snapshot() == before
    assert 'href="/import"' in browser(app, "clinician", passwords).get("/worklist").text
    assert browser(app, "caregiver", passwords).get("/import").status_code == 404


def test_the_import_needs_the_forms_csrf_token(app, users, passwords, db):
    doctor = browser(app, "clinician", passwords)
    before = db.snapshot()
    assert upload(doctor, FILE, "forged").status_code == 403
    assert db.snapshot() == before
    assert browser(app, None, passwords).get("/import", follow_redirects=False).status_code == 303


# ---------------------------------------------------------------------------------- sessions


@pytest.fixture
def vendor_pump(clinic, users, clock) -> m.Pump:  # type: ignore[no-untyped-def]
    """The imported SynchroMed II (20 mL of 500 mcg/mL at 200 mcg/day from 2026-11-20 09:00), ten days on."""
    clock.set(IMPORTED_AT)
    report = clinic.import_clinic(users["clinician"], FILE).json()
    row = next(r for r in report["rows"] if r["pump_serial"] == "NGP123456H")
    clock.advance(days=10)
    from itb.clinic import views

    return views.pump_record(clinic, users["clinician"], row["pump_id"])


def review(client: Any, pump: m.Pump, kind: str, **fields: str) -> Any:
    start = client.get(f"/pumps/{pump.id}/session?kind={kind}")
    assert start.status_code == 200, start.text
    entry = form_with(start.text, "review")["fields"]
    return client.post(f"/pumps/{pump.id}/session", data={**entry, **fields})


def test_a_review_stores_nothing_and_programmed_as_reviewed_stores_one_session(
    app, users, passwords, db, clock, vendor_pump
):
    nurse = browser(app, "nurse", passwords)
    chart = nurse.get(f"/patients/{vendor_pump.patient_id}").text
    assert f'href="/pumps/{vendor_pump.id}/session?kind=refill"' in chart
    assert f"/pumps/{vendor_pump.id}/refill" not in chart  # no telemetry buttons for a vendor pump
    before = db.snapshot()
    at = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    answer = review(
        nurse, vendor_pump, "refill", at=at, withdrawn_ml="11.5 mL", vendor_expected_ml="11.6",
        added_ml="20 mL", concentration_mcg_per_ml="0.5 mg/mL", lot="L-9",
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert db.snapshot() == before  # a dry run
    page = answer.text
    itb = 20 - 0.4 * ((datetime.fromisoformat(at) - datetime(2026, 11, 20, 9)) / timedelta(days=1))
    assert f'<dd id="itb-expected">{itb:.2f} mL</dd>' in page
    assert f"11.60 mL ({11.6 - itb:+.2f} mL from ITB's)" in page
    assert re.search(r'<td id="booked">\d{4}-\d{2}-\d{2} \d{2}:\d{2}</td>', page)  # the refill that would be booked
    assert "Programmed as reviewed" in page and "No limit reached." in page

    record = form_with(page, "record")["fields"]
    saved = nurse.post(f"/pumps/{vendor_pump.id}/session", data=record, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"].startswith(f"/patients/{vendor_pump.patient_id}?recorded=")
    sessions = db.all(m.PumpSession, m.PumpSession.kind == "refill")
    assert len(sessions) == 1 and sessions[0].data["concentration_mcg_per_ml"] == 500
    assert sessions[0].data["vendor_expected_ml"] == 11.6 and sessions[0].warnings == []
    (refill,) = db.all(m.Refill)
    assert refill.withdrawn_ml == 11.5 and refill.lot == "L-9"
    shown = nurse.get(saved.headers["location"]).text
    assert 'id="session-recorded"' in shown and "Recorded: Refill session" in shown
    assert nurse.post(f"/pumps/{vendor_pump.id}/session", data=record).status_code == 409  # twice: once only
    assert len(db.all(m.PumpSession, m.PumpSession.kind == "refill")) == 1


def test_a_broken_limit_is_recorded_with_its_warning_and_a_clinician_reviews_it(
    app, users, passwords, db, clock, vendor_pump
):
    doctor = browser(app, "clinician", passwords)
    at = (clock.now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    answer = review(doctor, vendor_pump, "program", at=at, program="00:00=300;08:00=0.3 mg/day")
    assert answer.status_code == 200, answer.text
    assert "Limit broken:" in answer.text and "increase_step_max" in answer.text
    saved = doctor.post(f"/pumps/{vendor_pump.id}/session", data=form_with(answer.text, "record")["fields"])
    assert saved.status_code == 200  # never refused: recorded, and the chart shows it
    (session,) = db.all(m.PumpSession, m.PumpSession.kind == "program")
    assert any(w.startswith("increase_step_max:") for w in session.warnings) and session.reviewed_by is None
    assert db.get(m.Pump, vendor_pump.id).daily_dose_mcg == 300
    assert "increase_step_max:" in saved.text and f'action="/pump-sessions/{session.id}/review"' in saved.text
    assert (
        f'action="/pump-sessions/{session.id}/review"'
        not in browser(app, "nurse", passwords).get(f"/patients/{vendor_pump.patient_id}").text
    )  # a nurse sees the warning, a clinician reviews it
    reviewed = doctor.post(f"/pump-sessions/{session.id}/review", data={"csrf": csrf_of(saved.text)})
    assert reviewed.status_code == 200 and "reviewed by clinician" in reviewed.text
    assert db.get(m.PumpSession, session.id).reviewed_by == "clinician"


def test_an_acknowledged_soft_limit_is_no_warning(app, users, passwords, db, clock, vendor_pump):
    doctor = browser(app, "clinician", passwords)
    at = (clock.now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    answer = review(doctor, vendor_pump, "bolus", at=at, dose_mcg="0.2 mg")
    codes = re.findall(r'name="ack" value="([^"]+)"', answer.text)
    record = form_with(answer.text, "record")["fields"]
    saved = doctor.post(f"/pumps/{vendor_pump.id}/session", data={**record, "ack": codes}, follow_redirects=False)
    assert saved.status_code == 303
    (session,) = db.all(m.PumpSession, m.PumpSession.kind == "bolus")
    assert session.data["dose_mcg"] == 200 and session.data["acknowledged"] == codes
    assert not [w for w in session.warnings if w.split(":")[0] in codes]


def test_edit_after_the_review_keeps_the_entries_and_changed_values_are_reviewed_again(
    app, users, passwords, db, clock, vendor_pump
):
    nurse = browser(app, "nurse", passwords)
    at = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page = review(nurse, vendor_pump, "interrogation", at=at, reservoir_ml="15 mL").text
    edit = nurse.post(f"/pumps/{vendor_pump.id}/session", data=form_with(page, "edit")["fields"])
    assert edit.status_code == 200 and 'value="15 mL"' in edit.text and "what was actually set" in edit.text
    before = db.snapshot()
    changed = {**form_with(page, "record")["fields"], "reservoir_ml": "14 mL"}
    answer = nurse.post(f"/pumps/{vendor_pump.id}/session", data=changed)
    assert answer.status_code == 422 and "review them again" in answer.text
    assert db.snapshot() == before


def test_bad_numbers_give_a_clear_field_error_and_store_nothing(app, users, passwords, db, clock, vendor_pump):
    nurse = browser(app, "nurse", passwords)
    before = db.snapshot()
    answer = review(
        nurse,
        vendor_pump,
        "refill",
        at="yesterday",
        withdrawn_ml="3,1 mL",
        added_ml="",
        concentration_mcg_per_ml="500 mg",
    )
    assert answer.status_code == 422
    text = html.unescape(answer.text)
    for name in ("at", "withdrawn_ml", "added_ml", "concentration_mcg_per_ml"):
        assert f'id="{name}-error"' in text and f'aria-describedby="{name}-error"' in text, name
    assert "a comma" in text.lower() or "decimal point" in text.lower()  # the units module's words
    assert "added_ml: is required for a refill session" in text
    future = (clock.now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    late = review(nurse, vendor_pump, "interrogation", at=future, reservoir_ml="25 mL")
    assert late.status_code == 422 and 'id="at-error"' in late.text and 'id="reservoir_ml-error"' in late.text
    assert db.snapshot() == before


def test_sessions_need_the_csrf_token_a_vendor_pump_and_a_staff_member(app, users, passwords, db, pump, vendor_pump):
    nurse = browser(app, "nurse", passwords)
    before = db.snapshot()
    forged = nurse.post(f"/pumps/{vendor_pump.id}/session", data={"csrf": "forged", "kind": "interrogation"})
    assert forged.status_code == 403 and db.snapshot() == before
    itb_pump = nurse.get(f"/pumps/{pump.id}/session")
    assert itb_pump.status_code == 409 and "ITB talks to this pump" in itb_pump.text
    carer = browser(app, "caregiver", passwords)
    assert carer.get(f"/pumps/{vendor_pump.id}/session").status_code == 404
    session = db.all(m.PumpSession)[0]
    page = nurse.get(f"/patients/{vendor_pump.patient_id}").text
    assert nurse.post(f"/pump-sessions/{session.id}/review", data={"csrf": csrf_of(page)}).status_code == 403


def test_an_interrogation_records_the_eri_the_programmer_shows(app, users, passwords, db, clock, vendor_pump):
    nurse = browser(app, "nurse", passwords)
    at = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    answer = review(nurse, vendor_pump, "interrogation", at=at, reservoir_ml="15.4 mL", eri_at="2027-03-01")
    assert answer.status_code == 200, answer.text
    saved = nurse.post(f"/pumps/{vendor_pump.id}/session", data=form_with(answer.text, "record")["fields"])
    assert saved.status_code in (200, 303)
    (pump,) = db.all(m.Pump, m.Pump.id == vendor_pump.id)
    assert pump.eri_at == datetime(2027, 3, 1) and pump.eri_reached is False
    bad = review(nurse, vendor_pump, "interrogation", at=at, reservoir_ml="15 mL", eri_at="March")
    assert bad.status_code == 422 and "is not a date YYYY-MM-DD" in bad.text

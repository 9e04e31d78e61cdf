"""A family's symptom report on the worklist page: a named row, urgent first, reviewed there with
a note (audited), after which it leaves; on SQLite and PostgreSQL."""

from __future__ import annotations

from test_pages_security import browser, csrf_of

from itb.adapters.db import models as m


def test_a_report_is_a_worklist_row_reviewed_there_with_a_note(app, clinic, users, passwords, child, db):
    report = clinic.report_symptoms(users["caregiver"], child.id, ["fever", "stiffness_returning"], "she is very stiff")
    nurse = browser(app, "nurse", passwords)
    page = nurse.get("/worklist").text
    assert "Ana B" in page and "symptom report" in page
    assert f'action="/symptom-reports/{report.id}/review"' in page
    assert "symptom report(s) from families" not in page  # the old card is gone: the row is the report
    empty = nurse.post(f"/symptom-reports/{report.id}/review", data={"csrf": csrf_of(page), "note": " "})
    assert empty.status_code == 422 and "note" in empty.text
    done = nurse.post(
        f"/symptom-reports/{report.id}/review", data={"csrf": csrf_of(page), "note": "called back: fever settling"}
    )
    assert done.status_code == 200 and f'action="/symptom-reports/{report.id}/review"' not in done.text
    (stored,) = db.all(m.SymptomReport)
    assert stored.reviewed_by == "nurse" and stored.review_note == "called back: fever settling"
    assert "review_symptom_report" in [e.action for e in db.audit()]


def test_reviewing_a_report_needs_staff_and_the_forms_token(app, clinic, users, passwords, child):
    report = clinic.report_symptoms(users["caregiver"], child.id, ["fever"], "")
    nurse = browser(app, "nurse", passwords)
    assert nurse.post(f"/symptom-reports/{report.id}/review", data={"csrf": "0" * 64, "note": "x"}).status_code == 403
    family = browser(app, "caregiver", passwords)
    page = family.get("/family").text
    answer = family.post(f"/symptom-reports/{report.id}/review", data={"csrf": csrf_of(page), "note": "x"})
    assert answer.status_code == 403 and "Traceback" not in answer.text


def test_a_report_is_on_the_api_worklist_with_its_id_and_urgency(client, clinic, users, child):
    report = clinic.report_symptoms(users["caregiver"], child.id, ["fever", "stiffness_returning"], "")
    items = client("nurse").get("/api/worklist").json()
    (item,) = [i for i in items if report.id in i["symptom_report_ids"]]
    assert "symptom_report" in item["reasons"] and item["report_urgency"] == report.urgency
    assert item["patient_name"] == "Ana B"

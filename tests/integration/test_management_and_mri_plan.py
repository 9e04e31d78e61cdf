"""The clinician's view of overdose and withdrawal management, and the MRI plan's field-strength check,
through the pages and the API (FastAPI's TestClient), on SQLite and PostgreSQL.

Sources: Lioresal Intrathecal (baclofen injection) prescribing information (OVERDOSAGE; boxed warning;
WARNINGS), Gablofen (baclofen injection) prescribing information (17 Patient Counseling Information);
Medtronic, MRI guidelines for Medtronic implantable infusion systems 8637 8472 (2020-05-01); Flowonix,
Prometra and Prometra II MRI Safety Information (PL-21604-02, January 2020).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from itb.adapters.db import models as m
from itb.domain.management import OVERDOSE_MANAGEMENT, WITHDRAWAL_MANAGEMENT

OVERDOSE_STEP = "Residual baclofen solution should be removed from the pump as soon as possible"
CSF_STEP = "withdrawing 30-40 mL of CSF"
WITHDRAWAL_STEP = "Restore intrathecal baclofen at or near the same dosage as before therapy interruption"
BENZODIAZEPINES = "oral, enteral, or intravenous benzodiazepines"
LABEL_CITATION = "Lioresal Intrathecal (baclofen injection) prescribing information, OVERDOSAGE"
STAFF_ONLY = (OVERDOSE_STEP, CSF_STEP, WITHDRAWAL_STEP, BENZODIAZEPINES, LABEL_CITATION, "the label's management")


def browser(app: Any, role: str, passwords: dict[str, str]) -> TestClient:
    c = TestClient(app)
    csrf = csrf_of(c.get("/login").text)  # the login form's token (a double-submit cookie)
    login = {"username": role, "password": passwords[role], "csrf": csrf}
    answer = c.post("/login", data=login, follow_redirects=False)
    assert answer.status_code == 303
    return c


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]


def report(carer: TestClient, child_id: int, symptoms: list[str]) -> str:
    """The family sends a report from their page: the page they are shown then."""
    page = carer.get("/family").text
    sent = carer.post(
        "/family/symptoms", data={"csrf": csrf_of(page), "patient_id": child_id, "symptoms": symptoms, "note": ""}
    )
    assert sent.status_code == 200 and "sent=" in str(sent.url)
    return sent.text


# ---------------------------------------------------------------------------------- management: staff only
@pytest.mark.parametrize(
    ("symptoms", "shown", "not_shown"),
    [
        (["breathing_slow"], (OVERDOSE_STEP, CSF_STEP, LABEL_CITATION), (WITHDRAWAL_STEP,)),
        (["itching"], (WITHDRAWAL_STEP, BENZODIAZEPINES), (OVERDOSE_STEP,)),
    ],
    ids=["overdose", "withdrawal"],
)
def test_overdose_and_withdrawal_management_is_shown_to_staff_and_never_to_the_family(
    app, users, passwords, child, pump, symptoms, shown, not_shown
):
    """The staff's view of a triaged symptom report (the chart's "Symptoms reported by the family") shows the
    labels' management, each step with its citation, when the triage points at an overdose or a withdrawal.
    The family's pages (their answer after sending, their child's chart) show the instruction only.

    Sources: Lioresal Intrathecal prescribing information, OVERDOSAGE (remove residual solution from the pump;
    intubate if necessary; 30-40 mL of CSF) and WARNINGS (restore ITB at or near the previous dose; GABA-ergic
    drugs while it is delayed); Gablofen prescribing information, 17 Patient Counseling Information.
    """
    carer = browser(app, "caregiver", passwords)
    answer = report(carer, child.id, symptoms)
    for words in STAFF_ONLY:
        assert words not in answer, words
    own_chart = carer.get(f"/patients/{child.id}")
    assert own_chart.status_code == 200 and "Symptoms reported by the family" in own_chart.text
    for words in STAFF_ONLY:
        assert words not in own_chart.text, words

    for role in ("clinician", "nurse"):
        chart = browser(app, role, passwords).get(f"/patients/{child.id}").text
        for words in shown:
            assert words in chart, (role, words)
        for words in not_shown:
            assert words not in chart, (role, words)
        assert "families are not shown this" in chart


def test_a_report_that_points_at_neither_shows_no_management(app, users, passwords, child, pump):
    """Only an overdose or a withdrawal concern has the labels' management (a wound problem has none)."""
    carer = browser(app, "caregiver", passwords)
    report(carer, child.id, ["wound_problem"])
    chart = browser(app, "clinician", passwords).get(f"/patients/{child.id}").text
    assert "Symptoms reported by the family" in chart
    assert "the label's management" not in chart


def test_the_symptom_report_json_has_the_management_for_staff_only(client, clinic, users, child, other_child, pump):
    """``GET /api/patients/{id}/symptom-reports``: staff get ``management`` (steps with document and section),
    a caregiver gets the reports without it, and another family's child is not found.

    Source: Lioresal Intrathecal prescribing information, OVERDOSAGE and WARNINGS (as above)."""
    clinic.report_symptoms(users["caregiver"], child.id, ["itching", "breathing_slow"])
    clinic.report_symptoms(users["caregiver"], child.id, ["wound_problem"])

    staff = client("clinician").get(f"/api/patients/{child.id}/symptom-reports")
    assert staff.status_code == 200
    latest, first = staff.json()
    assert latest["management"] == []  # the wound problem
    concerns = [mg["concern"] for mg in first["management"]]
    assert concerns == [str(OVERDOSE_MANAGEMENT.concern), str(WITHDRAWAL_MANAGEMENT.concern)]  # the most urgent first
    assert concerns == [c for c in first["triage"]["concerns"] if c in concerns]  # the triage's own order
    steps = {st["text"]: st for mg in first["management"] for st in mg["steps"]}
    overdose = next(st for text, st in steps.items() if text.startswith(OVERDOSE_STEP))
    assert overdose["citations"][0]["document"].startswith("Lioresal Intrathecal")
    assert overdose["citations"][0]["section"] == "OVERDOSAGE, Treatment Suggestions for Overdose"
    assert any(WITHDRAWAL_STEP in text for text in steps)

    family = client("caregiver").get(f"/api/patients/{child.id}/symptom-reports")
    assert family.status_code == 200
    assert [r["triage"]["urgency"] for r in family.json()] == [r["triage"]["urgency"] for r in staff.json()]
    assert all("management" not in r for r in family.json())
    assert OVERDOSE_STEP not in family.text
    assert client("caregiver").get(f"/api/patients/{other_child.id}/symptom-reports").status_code == 404


# ---------------------------------------------------------------------------------- the MRI plan
def test_the_mri_plan_checks_the_field_strength_against_the_manual(client, child, pump):
    """``SYNCHROMED_II_MRI``: the peristaltic pump's manual covers 1.5 T and 3.0 T horizontal closed-bore
    scanners; 7 T is a warning naming that condition; no field strength is a reminder to check the scanner.

    Source: Medtronic, MRI guidelines for Medtronic implantable infusion systems 8637 8472 (2020-05-01),
    "MRI information for Model 8637-20 and 8637-40 SynchroMed II pumps"."""
    nurse = client("nurse")
    url = f"/api/patients/{child.id}/mri"
    within = nurse.post(url, json={"at": "2026-12-02T14:00:00", "field_strength_t": 3})
    assert within.status_code == 201, within.text
    assert within.json()["field_check"] == "within" and within.json()["field_strength_t"] == 3
    assert not any("outside" in w for w in within.json()["warnings"])
    assert "1.5 T or 3 T" in within.json()["field_condition"]

    outside = nurse.post(url, json={"at": "2026-12-03T14:00:00", "field_strength_t": 7.0}).json()
    assert outside["field_check"] == "outside"
    warning = outside["warnings"][0]
    assert "7 T" in warning and "outside the manual's MRI conditions" in warning
    assert "SynchroMed II" in warning and "MRI guidelines for Medtronic implantable infusion systems" in warning
    assert "Warnings: The planned scanner (7 T) is outside" in outside["scan"]["notes"]

    unknown = nurse.post(url, json={"at": "2026-12-04T14:00:00"}).json()
    assert unknown["field_check"] == "unknown" and unknown["field_strength_t"] is None
    assert unknown["warnings"][0].startswith("The scanner's field strength is not given: check the scanner")


@pytest.mark.parametrize("value", ["3", "abc", True, -1, 0, 50, 1e308, [3], {"t": 3}, "NaN", "Infinity"], ids=repr)
def test_a_bad_field_strength_is_a_422_naming_the_field_and_nothing_is_stored(client, child, pump, db, value):
    """A non-number, a negative, zero, NaN, infinity or an absurd field strength (above ``MAX_FIELD_STRENGTH_T``,
    12 T: the strongest human scanners are 11.7 T) is refused: 422 naming ``field_strength_t``, never a 500,
    and nothing stored. ``"NaN"``/``"Infinity"`` are sent as the bare JSON tokens Python's decoder accepts."""
    before, audited = db.snapshot(), db.audit_count()
    if value in ("NaN", "Infinity"):
        body = '{"at": "2026-12-02T14:00:00", "field_strength_t": ' + str(value) + "}"
        answer = client("nurse").post(
            f"/api/patients/{child.id}/mri", content=body, headers={"Content-Type": "application/json"}
        )
    else:
        answer = client("nurse").post(
            f"/api/patients/{child.id}/mri", json={"at": "2026-12-02T14:00:00", "field_strength_t": value}
        )
    assert answer.status_code == 422, answer.text
    assert any("field_strength_t" in d["loc"] for d in answer.json()["detail"]), answer.text
    assert db.snapshot() == before and db.audit_count() == audited


def test_the_valve_gated_pump_plan_warns_the_physician_decides_the_drug_free_time(
    client, child, make_pump, users, clinic
):
    """``VALVE_GATED_DRUG_FREE_DECISION`` and ``PROMETRA_II_MRI``: for the valve-gated pump (reservoir emptied,
    dose zero, valve shut until reset) the physician decides whether the patient can go without drug until the
    reset, else an alternative route is planned; its manual covers 1.5 T only, so 3 T is outside.

    Source: Flowonix, Prometra and Prometra II MRI Safety Information, PL-21604-02 (January 2020), "General"
    and "Scanning parameters"."""
    make_pump(child.id, serial="SN-VALVE", model="valve-gated")
    answer = client("nurse").post(
        f"/api/patients/{child.id}/mri", json={"at": "2026-12-02T14:00:00", "field_strength_t": 3.0}
    )
    assert answer.status_code == 201, answer.text
    plan = answer.json()
    assert any(w.startswith("The physician decides") and "alternative route" in w for w in plan["warnings"])
    assert any("Record the physician's decision" in step for step in plan["before"])
    assert plan["field_check"] == "outside" and "Prometra II" in plan["warnings"][0]
    assert "1.5 T only" in plan["field_condition"]


# ---------------------------------------------------------------------------------- the MRI form
def test_the_mri_form_takes_the_field_strength_and_shows_the_warning(app, users, passwords, child, pump, db):
    """The chart's "Plan an MRI" form has the scanner's field strength: 7 T books the scan and the chart shows
    the manual's warning; a non-number or NaN is a 422 page naming the field, and nothing is stored."""
    doctor = browser(app, "clinician", passwords)
    page = doctor.get(f"/patients/{child.id}").text
    assert 'name="field_strength_t"' in page
    booked = doctor.post(
        f"/patients/{child.id}/mri",
        data={"csrf": csrf_of(page), "day": "2026-12-02", "at_time": "14:00", "field_strength_t": "7"},
    )
    assert booked.status_code == 200 and "MRI 2026-12-02 14:00" in booked.text
    assert "mri-warnings" in booked.text and "outside the manual&#39;s MRI conditions" in booked.text

    before, audited = db.snapshot(), db.audit_count()
    for bad in ("three", "nan", "-1.5", "inf", "100"):
        answer = doctor.post(
            f"/patients/{child.id}/mri",
            data={"csrf": csrf_of(page), "day": "2026-12-03", "at_time": "14:00", "field_strength_t": bad},
        )
        assert answer.status_code == 422, (bad, answer.text)
        assert "field_strength_t" in answer.text
    assert db.snapshot() == before and db.audit_count() == audited
    assert db.count(m.Appointment, m.Appointment.kind == "mri") == 1

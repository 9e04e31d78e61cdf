"""The API does what the pages do (issue 13, "API parity"), on SQLite and PostgreSQL.

The titration proposal, the pump-size advice and the replacement plan are the chart's own
(``itb.web.chart``), the spinal-fluid curve the family page's (``itb.domain.csf``); a patient is
edited with the registration's rules; a family reports symptoms and the clinic reviews them; one
refill and one recorded session read by their own id say what their printed summaries say.
A caregiver sees their own child only (another's is 404), and a failed request stores nothing.
"""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from itb.adapters.db import models as m
from itb.clinic.record_views import refill_record
from itb.domain.csf import DEFAULT_CSF, steady_state_ng_per_ml
from itb.web.chart import chart_context
from itb.web.print_pages import refill_print


def expect(response, status: int):
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


def locs(response) -> list[list]:
    return [d["loc"] for d in response.json()["detail"]]


def rate(mcg_per_day: float) -> dict:
    return {"steps": [{"start": "00:00", "rate_mcg_per_day": mcg_per_day}]}


# ---------------------------------------------------------------------------------- the titration proposal
def test_the_titration_proposal_is_the_charts(client, clinic, users, child, pump, clock):
    doctor = client("clinician")
    for grade in ("3", "3"):  # high tone at two visits
        clock.advance(days=7)
        expect(doctor.post(f"/api/patients/{child.id}/assessments", json={"kind": "mas", "data": {"hip": grade}}), 201)
    clock.advance(days=1)
    answer = expect(doctor.get(f"/api/patients/{child.id}/titration"), 200)
    chart = chart_context(clinic, users["clinician"], child.id)["proposal"]
    assert answer["patient_id"] == child.id and answer["pump_id"] == pump.id and answer["phase"] == "titrating"
    assert answer["current_dose_mcg_per_day"] == pytest.approx(100)
    proposal = answer["proposal"]
    assert proposal["kind"] == str(chart.kind) and proposal["reasons"] == list(chart.reasons) and proposal["reasons"]
    assert proposal["dose_mcg_per_day"] == pytest.approx(chart.dose_mcg_per_day)
    assert proposal["change_fraction"] == pytest.approx(chart.change_fraction)
    assert datetime.fromisoformat(proposal["earliest_at"]) == chart.earliest_at
    assert proposal["needs_confirmation"] == list(chart.needs_confirmation)
    assert answer["note"] is None
    # the family reads their own child's, never another's
    assert expect(client("caregiver").get(f"/api/patients/{child.id}/titration"), 200)["proposal"] == proposal


def test_no_titration_proposal_says_why(client, child, pump, other_child):
    doctor = client("clinician")
    none = expect(doctor.get(f"/api/patients/{other_child.id}/titration"), 200)
    assert none["proposal"] is None and none["pump_id"] is None and none["note"] == "no pump is implanted"
    expect(doctor.post(f"/api/patients/{child.id}/phase", json={"phase": "maintenance"}), 200)
    held = expect(doctor.get(f"/api/patients/{child.id}/titration"), 200)
    assert held["proposal"] is None and "maintenance" in held["note"]
    assert client("caregiver").get(f"/api/patients/{other_child.id}/titration").status_code == 404
    assert client("nurse").get("/api/patients/9999/titration").status_code == 404
    assert "proposal" not in client("nurse").get("/api/patients/nine/titration").text
    # an id beyond the records' range (PostgreSQL refused it outright: a 500) is bad input, naming it
    beyond = client("nurse").get("/api/patients/2147483648/titration")
    assert beyond.status_code == 422 and locs(beyond) == [["path", "patient_id"]]
    far = client("nurse").post(
        "/api/appointments", json={"patient_id": 2**40, "kind": "refill", "at": "2026-12-02T10:00"}
    )
    assert far.status_code == 422 and locs(far) == [["body", "patient_id"]]


# ---------------------------------------------------------------------------------- pump-size advice
def test_the_pump_size_advice_is_the_charts(client, clinic, users, child, other_child):
    doctor = client("clinician")
    before = expect(doctor.get(f"/api/patients/{other_child.id}/pump-size"), 200)
    assert before["advice"] is None and before["note"] == "no screening trial has responded yet"
    trial = {"dose_mcg": 50, "mas_before": {"hamstrings": "3"}, "mas_after": {"hamstrings": "1"}, "effect_hours": 6}
    expect(doctor.post(f"/api/patients/{other_child.id}/screenings", json=trial), 201)
    answer = expect(doctor.get(f"/api/patients/{other_child.id}/pump-size"), 200)
    expected, advice = chart_context(clinic, users["clinician"], other_child.id)["size"]
    assert answer["expected_daily_dose_mcg"] == pytest.approx(expected) and answer["note"] is None
    assert answer["advice"] == {
        "capacity_ml": advice.capacity_ml,
        "concentration_mcg_per_ml": advice.concentration_mcg_per_ml,
        "refill_interval_days": pytest.approx(advice.refill_interval_days),
        "meets_need": advice.meets_need,
        "reasons": list(advice.reasons),
    }
    assert client("caregiver").get(f"/api/patients/{other_child.id}/pump-size").status_code == 404


def test_no_pump_size_advice_once_a_pump_is_implanted(client, child, pump):
    answer = expect(client("nurse").get(f"/api/patients/{child.id}/pump-size"), 200)
    assert answer["advice"] is None and answer["note"] == "a pump is implanted"


# ---------------------------------------------------------------------------------- the replacement plan
def test_the_replacement_plan_is_the_charts(client, clinic, users, child, pump):
    answer = expect(client("nurse").get(f"/api/pumps/{pump.id}/replacement"), 200)
    plan = chart_context(clinic, users["nurse"], child.id)["replacement"]
    assert answer["pump_id"] == pump.id and answer["model"] == "peristaltic"
    for name in ("eri_at", "end_of_service_at", "surgery_by"):
        assert datetime.fromisoformat(answer[name]) == getattr(plan, name)
    assert answer["priming"]["volume_ml"] == pytest.approx(plan.priming.volume_ml)
    assert answer["priming"]["dose_mcg"] == pytest.approx(plan.priming.dose_mcg)
    assert answer["basis"] == plan.basis and answer["overdue"] is plan.overdue and answer["notes"] == list(plan.notes)
    assert expect(client("caregiver").get(f"/api/pumps/{pump.id}/replacement"), 200) == answer


def test_no_replacement_plan_for_a_constant_flow_pump_or_a_retired_one(client, clock, child, other_child, pump, db):
    clock.set(datetime(2026, 12, 1, 9, 0))
    constant = {
        "connection": "vendor", "model": "constant-flow", "serial": "CF-API", "reservoir_capacity_ml": 35,
        "implanted_at": "2022-05-03T00:00:00", "session_at": "2026-11-25T10:30:00", "reservoir_ml": 35,
        "concentration_mcg_per_ml": 500, "flow_ml_per_day": 1.0,
    }  # fmt: skip
    doctor = client("clinician")
    cf = expect(doctor.post(f"/api/patients/{other_child.id}/pumps", json=constant), 201)
    refused = doctor.get(f"/api/pumps/{cf['id']}/replacement")
    assert refused.status_code == 409 and "constant-flow" in refused.json()["detail"]
    assert "battery" in refused.json()["detail"]
    expect(doctor.post(f"/api/pumps/{pump.id}/retire", json={"version": pump.version}), 200)
    retired = doctor.get(f"/api/pumps/{pump.id}/replacement")
    assert retired.status_code == 409 and "not implanted" in retired.json()["detail"]
    assert client("caregiver").get(f"/api/pumps/{cf['id']}/replacement").status_code == 404
    assert doctor.get("/api/pumps/9999/replacement").status_code == 404


# ---------------------------------------------------------------------------------- the spinal-fluid curve
def test_the_spinal_fluid_curve_is_data_with_units(client, child, pump, make_pump, other_child):
    answer = expect(client("caregiver").get(f"/api/pumps/{pump.id}/csf"), 200)
    assert answer["units"] == {
        "hours": "h",
        "csf_ng_per_ml": "ng/mL",
        "effect_ng_per_ml": "ng/mL",
        "daily_dose_mcg": "mcg/day",
    }
    assert answer["daily_dose_mcg"] == pytest.approx(100) and answer["runs_dry_at_hours"] == 48
    assert answer["half_life_h"] == DEFAULT_CSF.half_life_h
    points = answer["points"]
    assert points[0]["hours"] == 0 and points[-1]["hours"] == pytest.approx(96)
    assert len(points) == 96 * 6 + 1  # every 10 minutes
    level = steady_state_ng_per_ml(100)  # a constant rate: the steady state is the one level
    assert answer["steady_state_ng_per_ml"] == pytest.approx(level)
    at = {round(p["hours"], 3): p for p in points}
    assert at[24.0]["csf_ng_per_ml"] == pytest.approx(level)  # on the program
    # dry at 48 h: the level halves every half-life
    assert at[58.0]["csf_ng_per_ml"] == pytest.approx(level * 0.5**2, rel=1e-6)
    assert at[58.0]["effect_ng_per_ml"] > at[58.0]["csf_ng_per_ml"]  # the effect lags behind
    assert all(math.isfinite(p["csf_ng_per_ml"]) for p in points)

    others = make_pump(other_child.id, serial="SN-OTHER")
    assert client("caregiver").get(f"/api/pumps/{others.id}/csf").status_code == 404
    assert client("nurse").get(f"/api/pumps/{others.id}/csf").status_code == 200


# ---------------------------------------------------------------------------------- program versions
def test_program_versions_oldest_first(client, pump, clock):
    doctor = client("clinician")
    clock.advance(days=2)
    expect(doctor.post(f"/api/pumps/{pump.id}/programs", json={"program": rate(110), "version": pump.version}), 201)
    versions = expect(client("caregiver").get(f"/api/pumps/{pump.id}/program-versions"), 200)
    assert [v["version"] for v in versions] == [1, 2]
    assert [v["daily_dose_mcg"] for v in versions] == [pytest.approx(100), pytest.approx(110)]
    assert versions == expect(doctor.get(f"/api/pumps/{pump.id}"), 200)["program_versions"]
    assert doctor.get("/api/pumps/9999/program-versions").status_code == 404


# ---------------------------------------------------------------------------------- patient edit
def test_a_patient_is_edited_with_the_registrations_rules_and_audited(client, child, other_child, db):
    nurse = client("nurse")
    url = f"/api/patients/{child.id}"
    changed = expect(nurse.patch(url, json={"name": "Ana Beatriz", "weight_kg": 21.5, "cannot_communicate": True}), 200)
    assert changed["name"] == "Ana Beatriz" and changed["weight_kg"] == 21.5 and changed["high_risk"] is True
    assert changed["gmfcs"] == 4 and changed["birth_date"] == "2018-05-02"  # untouched
    entry = db.audit()[-1]
    assert (entry.action, entry.entity, entry.entity_id, entry.actor) == ("edit_patient", "patient", child.id, "nurse")
    assert entry.before["name"] == "Ana B" and entry.after["name"] == "Ana Beatriz"
    cleared = expect(nurse.patch(url, json={"weight_kg": None}), 200)
    assert cleared["weight_kg"] is None and cleared["name"] == "Ana Beatriz"
    assert expect(client("caregiver").get(url), 200)["name"] == "Ana Beatriz"

    before, audited = db.snapshot(), db.audit_count()
    for body, field in (
        ({"weight_kg": 0}, "weight_kg"),
        ({"weight_kg": 401}, "weight_kg"),
        ({"gmfcs": 6}, "gmfcs"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"cannot_communicate": None}, "cannot_communicate"),
        ({"birth_date": "2019-01-01"}, "birth_date"),  # the registration's
        ({"weight_kg": "heavy"}, "weight_kg"),
    ):
        answer = nurse.patch(url, json=body)
        assert answer.status_code == 422 and ["body", field] in locs(answer), (body, answer.text)
    empty = nurse.patch(url, json={})
    assert empty.status_code == 422 and locs(empty) == [["body"]] and "at least one" in empty.text
    assert client("caregiver").patch(url, json={"name": "X"}).status_code == 403
    assert client("caregiver").patch(f"/api/patients/{other_child.id}", json={"name": "X"}).status_code == 403
    assert nurse.patch("/api/patients/9999", json={"name": "X"}).status_code == 404
    assert db.snapshot() == before and db.audit_count() == audited
    assert db.get(m.Patient, child.id).name == "Ana Beatriz"


# ---------------------------------------------------------------------------------- symptom reports
def test_a_caregiver_reports_symptoms_and_is_told_what_to_do(client, child, other_child, pump, db):
    carer = client("caregiver")
    body = {"symptoms": ["breathing_slow"], "note": "very sleepy since lunch"}
    made = expect(carer.post(f"/api/patients/{child.id}/symptom-reports", json=body), 201)
    assert made["urgency"] == 2 and made["urgency_label"] and made["instruction"] and made["reasons"]
    assert made["patient_id"] == child.id and made["by"] == "caregiver" and made["symptoms"] == ["breathing_slow"]
    assert "management" not in made
    stored = db.get(m.SymptomReport, made["id"])
    assert stored.urgency == 2 and stored.triage["instruction"] == made["instruction"]
    assert stored.triage["reasons"] == made["reasons"]
    listed = expect(carer.get(f"/api/patients/{child.id}/symptom-reports"), 200)
    assert [r["id"] for r in listed] == [made["id"]] and "management" not in listed[0]
    assert db.audit()[-1].action == "report_symptoms"

    staff = expect(
        client("nurse").post(f"/api/patients/{child.id}/symptom-reports", json={"symptoms": ["itching"]}), 201
    )
    assert staff["by"] == "nurse" and staff["urgency"] in (0, 1, 2)

    before, audited = db.snapshot(), db.audit_count()
    assert carer.post(f"/api/patients/{other_child.id}/symptom-reports", json=body).status_code == 404
    unknown = carer.post(f"/api/patients/{child.id}/symptom-reports", json={"symptoms": ["green_skin"]})
    assert unknown.status_code == 422 and locs(unknown) == [["symptoms"]] and "green_skin" in unknown.text
    nothing = carer.post(f"/api/patients/{child.id}/symptom-reports", json={"symptoms": [], "note": " "})
    assert nothing.status_code == 422 and locs(nothing) == [["symptoms"]]
    long = carer.post(f"/api/patients/{child.id}/symptom-reports", json={"symptoms": [], "note": "x" * 2001})
    assert long.status_code == 422 and ["body", "note"] in locs(long)  # the schema's bound (itb.contracts.bounds)
    typed = carer.post(f"/api/patients/{child.id}/symptom-reports", json={"symptoms": "itching"})
    assert typed.status_code == 422 and ["body", "symptoms"] in locs(typed)
    extra = carer.post(f"/api/patients/{child.id}/symptom-reports", json={"symptoms": ["itching"], "urgency": 0})
    assert extra.status_code == 422 and ["body", "urgency"] in locs(extra)
    assert db.snapshot() == before and db.audit_count() == audited


def test_the_clinic_reviews_a_report_once(client, clinic, users, child, other_child, pump, db):
    report = clinic.report_symptoms(users["caregiver"], child.id, ["itching"], "")
    url = f"/api/symptom-reports/{report.id}/review"
    before, audited = db.snapshot(), db.audit_count()
    assert client("caregiver").post(url, json={"note": "called back"}).status_code == 403
    blank = client("nurse").post(url, json={"note": ""})
    assert blank.status_code == 422 and locs(blank) == [["body", "note"]]
    spaces = client("nurse").post(url, json={"note": "   "})
    assert spaces.status_code == 422 and locs(spaces) == [["note"]]
    missing = client("nurse").post(url, json={})
    assert missing.status_code == 422 and ["body", "note"] in locs(missing)
    assert client("nurse").post("/api/symptom-reports/9999/review", json={"note": "x"}).status_code == 404
    assert db.snapshot() == before and db.audit_count() == audited

    reviewed = expect(client("nurse").post(url, json={"note": "called back: itching only, seen Friday"}), 200)
    assert reviewed["id"] == report.id and reviewed["reviewed_by"] == "nurse"
    # staff get the labels' management (itching may be an early withdrawal sign)
    assert {mg["concern"] for mg in reviewed["management"]} <= set(reviewed["triage"]["concerns"])
    assert db.get(m.SymptomReport, report.id).reviewed_by == "nurse"
    assert db.audit()[-1].action == "review_symptom_report"
    again = client("clinician").post(url, json={"note": "me too"})
    assert again.status_code == 409 and "already reviewed" in again.json()["detail"]
    assert db.get(m.SymptomReport, report.id).reviewed_by == "nurse"


# ---------------------------------------------------------------------------------- one refill, one session
def test_one_refill_reads_as_its_printed_summary(client, clinic, users, child, other_child, pump, make_pump, clock):
    clock.advance(days=40)  # 12 mL left of 20 (0.2 mL/day)
    read = clinic.interrogate(users["nurse"], pump.id)
    refill = clinic.refill(
        users["nurse"], pump.id, withdrawn_ml=12, added_ml=18, concentration_mcg_per_ml=500, lot="LOT-9",
        expected_version=read.version,
    )  # fmt: skip
    answer = expect(client("nurse").get(f"/api/refills/{refill.id}"), 200)
    assert (answer["id"], answer["by"], answer["lot"], answer["added_ml"]) == (refill.id, "nurse", "LOT-9", 18)
    assert answer["patient"]["id"] == child.id and answer["patient"]["name"] == "Ana B"
    assert answer["pump"]["serial"] == "SN-1" and answer["pump"]["constant_flow"] is False
    assert answer["program"] == rate(100) and answer["latest"] is True
    stored = expect(client("nurse").get(f"/api/pumps/{pump.id}"), 200)
    assert answer["low_reservoir_alarm_at"] == stored["low_reservoir_alarm_at"]
    assert answer["next_visit"]["kind"] == "refill"  # the refill booked the next one
    assert datetime.fromisoformat(answer["next_visit"]["at"]) > clock.now
    printed = dict(refill_print(refill_record(clinic, users["nurse"], refill.id)).lines)  # the print view's
    assert printed["Lot"] == answer["lot"] and printed["Next visit"].startswith(answer["next_visit"]["at"][:10])
    assert expect(client("caregiver").get(f"/api/refills/{refill.id}"), 200) == answer  # their own child's
    theirs = make_pump(other_child.id, serial="SN-OTHER")
    clock.advance(days=1)
    read = clinic.interrogate(users["nurse"], theirs.id)
    other = clinic.refill(
        users["nurse"], theirs.id, withdrawn_ml=read.reading_reservoir_ml, added_ml=20, concentration_mcg_per_ml=500,
        expected_version=read.version,
    )  # fmt: skip
    assert client("caregiver").get(f"/api/refills/{other.id}").status_code == 404
    assert client("nurse").get("/api/refills/999999").status_code == 404
    assert client("nurse").get(f"/api/refills/{2**31}").status_code == 422


def test_one_recorded_session_reads_as_its_printed_report(client, clinic, users, child, other_child, db):
    cells = {
        "pump_model": "prometra-ii", "pump_serial": "VND-R", "reservoir_capacity_ml": "20",
        "implanted_on": "2024-01-01", "session_at": "2026-11-20T10:00", "reservoir_ml": "20",
        "concentration_mcg_per_ml": "500", "program": "200", "vendor_alarm_at": "2027-01-01T10:00",
    }  # fmt: skip
    pump = clinic.register_vendor_pump(users["clinician"], child.id, cells, None)
    (recorded,) = db.all(m.PumpSession)
    answer = expect(client("nurse").get(f"/api/pump-sessions/{recorded.id}"), 200)
    assert (answer["kind"], answer["by"], answer["at"]) == ("registration", "clinician", "2026-11-20T10:00:00")
    assert answer["patient"]["id"] == child.id and answer["pump"]["connection"] == "vendor"
    assert answer["reservoir_ml"] == 20 and answer["concentration_mcg_per_ml"] == 500
    assert answer["program"] == rate(200) and answer["latest"] is True
    assert answer["low_reservoir_alarm_at"] == pump.low_reservoir_alarm_at.isoformat()
    assert answer["vendor_alarm_at"] == "2027-01-01T10:00:00" and answer["warnings"] == recorded.warnings
    assert answer["reviewed_by"] is None and answer["next_visit"]["kind"] == "refill"
    assert expect(client("caregiver").get(f"/api/pump-sessions/{recorded.id}"), 200) == answer
    other = clinic.register_vendor_pump(users["clinician"], other_child.id, {**cells, "pump_serial": "VND-O"}, None)
    (theirs,) = db.all(m.PumpSession, m.PumpSession.pump_id == other.id)
    assert client("caregiver").get(f"/api/pump-sessions/{theirs.id}").status_code == 404
    assert client("nurse").get("/api/pump-sessions/999999").status_code == 404

"""The clinic's everyday tasks as pages, without a browser (both databases): registering a patient
and a pump (ITB's own, and a vendor-programmed one), the phase, scores, a discrepancy's review, a
flexible program edited step by step, the patient header, and the printed records; each with its
CSRF, its roles (a caregiver gets "not found", a nurse "not allowed" where the API says so) and
errors that name the field and the rule.
"""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

import pytest
from test_pages_security import browser, csrf_of
from test_vendor_pages import form_with

from itb.adapters.db import models as m
from itb.domain.program import DailyBolus, DosingProgram, Step

THREE_STEPS = DosingProgram(steps=(Step(0, 90.0), Step(8 * 60, 120.0), Step(20 * 60, 100.0)))


def text_of(page: str) -> str:
    """The page's text, tags dropped and entities read (for asserting on what a person sees)."""
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def post(client: Any, path: str, data: dict[str, Any], page: str | None = None) -> Any:
    """A form POST carrying the CSRF token of ``page`` (default: the page at ``path``)."""
    token = csrf_of(page if page is not None else client.get(path).text)
    return client.post(path, data={"csrf": token, **data}, follow_redirects=False)


# ---------------------------------------------------------------------------------- a patient


def test_a_nurse_registers_a_patient_with_the_withdrawal_risk_flags(app, users, passwords, db):
    nurse = browser(app, "nurse", passwords)
    assert 'href="/patients/new"' in nurse.get("/patients").text
    answer = post(
        nurse,
        "/patients/new",
        {
            "name": "Mia Lund",
            "birth_date": "2015-03-04",
            "origin": "spinal",
            "weight_kg": "31.5 kg",
            "gmfcs": "3",
            "injury_t6_or_above": "1",
            "cannot_communicate": "1",
        },
    )
    assert answer.status_code == 303, answer.text
    (patient,) = db.all(m.Patient)
    assert answer.headers["location"] == f"/patients/{patient.id}?registered=patient"
    assert (patient.name, patient.birth_date, patient.origin) == ("Mia Lund", date(2015, 3, 4), "spinal")
    assert patient.weight_kg == 31.5 and patient.gmfcs == 3
    assert patient.injury_t6_or_above and patient.cannot_communicate and not patient.earlier_withdrawal
    assert patient.phase == "screening"
    assert any(e.action == "register_patient" for e in db.audit())
    chart = nurse.get(answer.headers["location"]).text
    assert 'id="registered"' in chart and "Mia Lund" in chart


def test_every_wrong_field_of_a_patient_is_named_with_its_rule_and_nothing_is_stored(app, users, passwords, db):
    nurse = browser(app, "nurse", passwords)
    before = db.snapshot()
    answer = post(nurse, "/patients/new", {"name": " ", "birth_date": "2030-01-01", "weight_kg": "12,5", "gmfcs": "7"})
    assert answer.status_code == 422
    said = text_of(answer.text)
    for rule in (
        "name: is required",
        "birth_date: must not be in the future",
        "origin: must be spinal or cerebral",
        "weight_kg: '12,5' has a comma",
        "gmfcs: must be a level I to V",
    ):
        assert rule in said, rule
    birth = re.search(r'<input id="birth_date"[^>]*>', answer.text).group(0)  # type: ignore[union-attr]
    assert 'type="text"' in birth and 'value="2030-01-01"' in birth  # kept as typed, in the clinic's format
    assert 'pattern="\\d{4}-\\d{2}-\\d{2}" placeholder="YYYY-MM-DD"' in birth and 'type="date"' not in answer.text
    assert 'aria-describedby="birth_date-hint birth_date-error"' in birth and "e.g. 2018-05-02" in answer.text
    assert 'aria-invalid="true" aria-describedby="name-error"' in answer.text
    assert db.snapshot() == before


@pytest.mark.parametrize("typed", ["05/02/2018", "2018-5-2", "20180502", "2018-02-30"])
def test_a_birth_date_not_written_yyyy_mm_dd_is_named_with_the_format(app, users, passwords, db, typed):
    nurse = browser(app, "nurse", passwords)
    before = db.snapshot()
    answer = post(nurse, "/patients/new", {"name": "Mia Lund", "birth_date": typed, "origin": "spinal"})
    assert answer.status_code == 422
    rule = f"birth_date: '{typed}' is not a date: write the birth date as YYYY-MM-DD, e.g. 2018-05-02"
    assert rule in text_of(answer.text)
    assert db.snapshot() == before


def test_a_patient_needs_the_forms_csrf_token_and_a_caregiver_never_sees_the_form(app, users, passwords, db):
    nurse = browser(app, "nurse", passwords)
    before = db.snapshot()
    forged = nurse.post("/patients/new", data={"csrf": "forged", "name": "X Y", "birth_date": "2015-01-01"})
    assert forged.status_code == 403 and db.snapshot() == before
    carer = browser(app, "caregiver", passwords)
    page = carer.get("/patients/new")
    assert page.status_code == 404 and "<h1>Not found</h1>" in page.text and "Traceback" not in page.text
    assert carer.post("/patients/new", data={"csrf": "x", "name": "X"}).status_code in (403, 404)
    assert db.snapshot() == before


# ---------------------------------------------------------------------------------- a pump


PUMP_FORM = {
    "connection": "telemetry",
    "model": "peristaltic",
    "serial": "NEW-1",
    "reservoir_capacity_ml": "20 mL",
    "catheter_length_cm": "45 cm",
    "reservoir_ml": "20 mL",
    "concentration_mcg_per_ml": "0.5 mg/mL",
    "program": "00:00=100;08:00=0.12 mg/day",
}


def test_a_pump_itb_talks_to_is_reviewed_against_the_limits_then_implanted(app, users, passwords, child, db):
    doctor = browser(app, "clinician", passwords)
    chart = doctor.get(f"/patients/{child.id}").text
    assert f'href="/patients/{child.id}/pumps/new"' in chart  # no pump yet
    start = doctor.get(f"/patients/{child.id}/pumps/new")
    assert start.status_code == 200 and "Ana B" in start.text  # the patient header
    before = db.snapshot()
    review = post(doctor, f"/patients/{child.id}/pumps/new", {**PUMP_FORM, "step": "review"}, start.text)
    assert review.status_code == 200, review.text
    assert db.snapshot() == before  # a review stores nothing
    said = text_of(review.text)
    assert "from 00:00 100 mcg/day; from 08:00 120 mcg/day" in said  # the steps, the mg read as mcg
    assert "500 mcg/mL" in said
    confirm = form_with(review.text, "confirm")
    assert 'value="no_positive_screening"' in confirm["html"]  # a confirmation, as on the program page
    unticked = doctor.post(f"/patients/{child.id}/pumps/new", data=confirm["fields"], follow_redirects=False)
    assert unticked.status_code == 422 and "no positive screening trial" in unticked.text
    assert db.count(m.Pump) == 0
    done = doctor.post(
        f"/patients/{child.id}/pumps/new", data={**confirm["fields"], "ack": "no_positive_screening"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303, done.text
    (pump,) = db.all(m.Pump)
    assert pump.serial == "NEW-1" and pump.connection != "vendor" and pump.catheter_length_cm == 45
    assert pump.concentration_mcg_per_ml == 500 and [s["rate_mcg_per_day"] for s in pump.program["steps"]] == [100, 120]
    assert f"Low-reservoir alarm at 2 mL: {pump.low_reservoir_alarm_at:%Y-%m-%d %H:%M}" in said  # as reviewed
    assert db.get(m.Patient, child.id).phase == "titrating"
    assert f'href="/patients/{child.id}/pumps/new"' not in doctor.get(f"/patients/{child.id}").text


def test_a_wrong_pump_entry_names_each_field_and_its_rule(app, users, passwords, child, db):
    doctor = browser(app, "clinician", passwords)
    bad = {
        **PUMP_FORM,
        "reservoir_capacity_ml": "30 mL",
        "catheter_length_cm": "300",
        "program": "lots",
        "step": "review",
    }
    answer = post(doctor, f"/patients/{child.id}/pumps/new", bad)
    assert answer.status_code == 422
    said = text_of(answer.text)
    assert "catheter_length_cm: must be above 0 and at most 200 cm" in said
    assert "program: 'lots' does not start with a number" in said
    bad = {**PUMP_FORM, "reservoir_capacity_ml": "30 mL", "step": "review"}
    said = text_of(post(doctor, f"/patients/{child.id}/pumps/new", bad).text)
    assert "reservoir_capacity_ml: must be one of 20, 40" in said
    assert db.count(m.Pump) == 0


def test_a_vendor_programmed_pump_is_registered_with_the_imports_rules(app, users, passwords, child, db, clock):
    doctor = browser(app, "clinician", passwords)
    page = doctor.get(f"/patients/{child.id}/pumps/new?connection=vendor")
    assert page.status_code == 200 and 'name="session_at"' in page.text
    cells = {
        "connection": "vendor", "model": "synchromed-ii", "pump_serial": "VND-9", "reservoir_capacity_ml": "40 mL",
        "implanted_on": "2024-02-01", "session_at": "2026-11-20T10:00", "reservoir_ml": "40 mL",
        "concentration_mcg_per_ml": "500 mcg/mL", "program": "300 mcg/day",
    }  # fmt: skip
    missing = post(doctor, f"/patients/{child.id}/pumps/new", {**cells, "session_at": "", "program": "x"}, page.text)
    assert missing.status_code == 422
    said = text_of(missing.text)
    assert "session_at:" in said and "program:" in said and db.count(m.Pump) == 0
    before = db.snapshot()
    review = post(doctor, f"/patients/{child.id}/pumps/new", cells, page.text)
    assert review.status_code == 200, review.text
    assert db.snapshot() == before  # the review is the registration's dry run: nothing stored
    said = text_of(review.text)
    assert "Nothing is stored yet" in said and "300 mcg/day, all day" in said and "No limit reached" in said
    assert re.search(r"Low-reservoir alarm at 2 mL: 20\d\d-\d\d-\d\d \d\d:\d\d", said) and "Refill booked" in said
    done = doctor.post(f"/patients/{child.id}/pumps/new", data=form_with(review.text, "confirm")["fields"])
    assert done.status_code == 200 and "serial VND-9" in done.text  # the chart after the redirect
    (pump,) = db.all(m.Pump)
    assert pump.connection == "vendor" and pump.serial == "VND-9" and pump.daily_dose_mcg == 300
    assert pump.low_reservoir_alarm_at.strftime("%Y-%m-%d %H:%M") in said
    assert [s.kind for s in db.all(m.PumpSession)] == ["registration"]


def test_a_vendor_pumps_review_names_the_warnings_its_record_would_keep(app, users, passwords, child, db):
    doctor = browser(app, "clinician", passwords)
    cells = {
        "connection": "vendor", "model": "synchromed-ii", "pump_serial": "VND-W", "reservoir_capacity_ml": "40 mL",
        "implanted_on": "2024-02-01", "session_at": "2026-11-20T10:00", "reservoir_ml": "40 mL",
        "concentration_mcg_per_ml": "500 mcg/mL", "program": "1200 mcg/day", "vendor_alarm_at": "2027-06-01T10:00",
    }  # fmt: skip
    before = db.snapshot()
    review = post(doctor, f"/patients/{child.id}/pumps/new", cells)
    assert review.status_code == 200 and db.snapshot() == before
    confirm = form_with(review.text, "confirm")
    assert 'name="ack" value="maintenance_range"' in confirm["html"]  # a soft limit: confirm it, or keep a warning
    said = text_of(confirm["html"])
    assert "Kept as a warning: the vendor's alarm date 2027-06-01 10:00 differs from ITB's forecast" in said
    done = doctor.post(f"/patients/{child.id}/pumps/new", data=confirm["fields"], follow_redirects=False)
    assert done.status_code == 303
    (session,) = db.all(m.PumpSession)
    first, second = session.warnings
    assert first.startswith("maintenance_range: ") and second.startswith("the vendor's alarm date 2027-06-01 10:00")


def test_a_nurse_cannot_register_a_pump_and_a_caregiver_cannot_find_the_page(app, users, passwords, child, db):
    nurse = browser(app, "nurse", passwords)
    assert f"/patients/{child.id}/pumps/new" not in nurse.get(f"/patients/{child.id}").text
    page = nurse.get(f"/patients/{child.id}/pumps/new")
    assert page.status_code == 403 and "<h1>Not allowed</h1>" in page.text
    token = csrf_of(nurse.get("/patients").text)
    answer = nurse.post(f"/patients/{child.id}/pumps/new", data={"csrf": token, **PUMP_FORM, "step": "confirm"})
    assert answer.status_code == 403 and db.count(m.Pump) == 0
    assert browser(app, "caregiver", passwords).get(f"/patients/{child.id}/pumps/new").status_code == 404


# ---------------------------------------------------------------------------------- the phase, scores


def test_a_clinician_sets_the_phase_from_the_chart(app, users, passwords, child, db):
    doctor = browser(app, "clinician", passwords)
    chart = doctor.get(f"/patients/{child.id}").text
    assert f'action="/patients/{child.id}/phase"' in chart
    done = post(doctor, f"/patients/{child.id}/phase", {"phase": "maintenance"}, chart)
    assert done.status_code == 303 and db.get(m.Patient, child.id).phase == "maintenance"
    bad = post(doctor, f"/patients/{child.id}/phase", {"phase": "asleep"}, chart)
    assert bad.status_code == 422 and "phase: must be one of" in text_of(bad.text)
    nurse = browser(app, "nurse", passwords)
    assert f'action="/patients/{child.id}/phase"' not in nurse.get(f"/patients/{child.id}").text
    assert (
        post(nurse, f"/patients/{child.id}/phase", {"phase": "screening"}, nurse.get("/patients").text).status_code
        == 403
    )
    assert db.get(m.Patient, child.id).phase == "maintenance"


def test_modified_ashworth_scores_with_1_plus_move_a_titrating_patients_proposal(
    app, users, passwords, pump, db, clock
):
    clock.advance(days=3)  # past the first 24 h after the implant
    doctor = browser(app, "clinician", passwords)
    chart = text_of(doctor.get(f"/patients/{pump.patient_id}").text)
    assert "Titration: next step hold" in chart and "no tone score" in chart
    form = doctor.get(f"/patients/{pump.patient_id}/assessments?kind=mas")
    assert form.status_code == 200 and "<option>1+</option>" in form.text
    done = post(
        doctor,
        f"/patients/{pump.patient_id}/assessments",
        {"kind": "mas", "mas.hip adductors": "3", "mas.hamstrings": "1+", "mas.elbow flexors": "3"},
        form.text,
    )
    assert done.status_code == 303, done.text
    (a,) = db.all(m.Assessment)
    assert a.kind == "mas" and a.data == {"hip adductors": "3", "hamstrings": "1+", "elbow flexors": "3"}
    chart = text_of(doctor.get(done.headers["location"]).text)
    assert "Titration: next step increase to" in chart and "Scores recorded" in chart


def test_scores_out_of_their_scale_are_named_by_field_and_rule(app, users, passwords, child, db):
    doctor = browser(app, "clinician", passwords)
    page = doctor.get(f"/patients/{child.id}/assessments?kind=tardieu").text
    cases = [
        ({"kind": "mas", "mas.hamstrings": "1.5"}, "hamstrings: must be a Modified Ashworth grade"),
        ({"kind": "mas"}, "mas: grade at least one muscle group"),
        (
            {"kind": "tardieu", "soleus.quality": "2", "soleus.r1_deg": "10", "soleus.r2_deg": "-5"},
            "soleus.r1_deg: must be <= R2",
        ),
        ({"kind": "tardieu", "soleus.quality": "2", "soleus.r1_deg": "-10"}, "soleus.r2_deg: is required"),
        ({"kind": "pain", "score": "11"}, "score: must be a whole number 0-10"),
        ({"kind": "gas", "goal0.description": "sits alone", "goal0.weight": "0", "goal0.score": "1"}, "goal0.weight"),
        ({"kind": "mas", "mas.hamstrings": "2", "at": "2027-06-01T10:00"}, "at: must not be in the future"),
    ]
    for data, rule in cases:
        answer = post(doctor, f"/patients/{child.id}/assessments", data, page)
        assert answer.status_code == 422, data
        assert rule in text_of(answer.text), (rule, text_of(answer.text)[:600])
    assert db.count(m.Assessment) == 0


def test_tardieu_pain_and_gas_are_recorded_as_the_api_records_them(app, users, passwords, child, db):
    doctor = browser(app, "clinician", passwords)
    page = doctor.get(f"/patients/{child.id}/assessments?kind=gas").text
    for data in (
        {"kind": "tardieu", "soleus.quality": "5", "soleus.r1_deg": "-15", "soleus.r2_deg": "-15",
         "gastrocnemius.quality": "2", "gastrocnemius.r1_deg": "-10", "gastrocnemius.r2_deg": "5"},
        {"kind": "pain", "score": "4", "during": "stretching"},
        {"kind": "gas", "goal0.description": "sits alone 5 min", "goal0.weight": "1", "goal0.score": "1",
         "goal1.description": "dresses with help", "goal1.weight": "2", "goal1.score": "0"},
    ):  # fmt: skip
        assert post(doctor, f"/patients/{child.id}/assessments", data, page).status_code == 303, data
    tardieu, pain, gas = db.all(m.Assessment, order_by=m.Assessment.id)
    assert tardieu.data["gastrocnemius"] == {
        "quality": 2,
        "r1_deg": -10.0,
        "r2_deg": 5.0,
        "dynamic_component_deg": 15.0,
    }
    assert pain.data == {"score": 4, "during": "stretching"}
    assert gas.data["t_score"] > 50 and len(gas.data["goals"]) == 2


def test_a_nurse_and_a_caregiver_cannot_record_scores(app, users, passwords, child, db):
    nurse = browser(app, "nurse", passwords)
    assert nurse.get(f"/patients/{child.id}/assessments").status_code == 403
    token = csrf_of(nurse.get("/patients").text)
    answer = nurse.post(f"/patients/{child.id}/assessments", data={"csrf": token, "kind": "pain", "score": "3"})
    assert answer.status_code == 403 and db.count(m.Assessment) == 0
    assert browser(app, "caregiver", passwords).get(f"/patients/{child.id}/assessments").status_code == 404


# ---------------------------------------------------------------------------------- a discrepancy


def discrepant_refill(clinic: Any, users: Any, pump: m.Pump, clock: Any) -> m.Refill:
    clock.advance(days=40)  # 12 mL left of 20 (0.2 mL/day)
    read = clinic.interrogate(users["nurse"], pump.id)
    return clinic.refill(
        users["nurse"], pump.id, withdrawn_ml=read.reading_reservoir_ml + 3, added_ml=18, concentration_mcg_per_ml=500,
        lot="LOT-77", expected_version=read.version, acknowledged=("refill_discrepancy",),
    )  # fmt: skip


def test_a_reviewed_discrepancy_takes_the_patient_off_the_worklist(app, clinic, users, passwords, pump, db, clock):
    refill = discrepant_refill(clinic, users, pump, clock)
    assert refill.flagged
    doctor = browser(app, "clinician", passwords)
    assert "discrepancy" in text_of(doctor.get("/worklist").text)
    chart = doctor.get(f"/patients/{pump.patient_id}").text
    assert f'action="/refills/{refill.id}/review"' in chart
    nurse = browser(app, "nurse", passwords)
    assert f'action="/refills/{refill.id}/review"' not in nurse.get(f"/patients/{pump.patient_id}").text
    assert post(nurse, f"/refills/{refill.id}/review", {}, nurse.get("/patients").text).status_code == 403
    done = post(doctor, f"/refills/{refill.id}/review", {}, chart)
    assert done.status_code == 303 and done.headers["location"].endswith(f"?reviewed_refill={refill.id}")
    assert db.get(m.Refill, refill.id).reviewed_by == "clinician"
    assert not any(
        pump.patient_id == i.patient_id and "discrepancy" in map(str, i.reasons) for i in clinic_items(clinic, users)
    )
    assert f'action="/refills/{refill.id}/review"' not in doctor.get(f"/patients/{pump.patient_id}").text


def clinic_items(clinic: Any, users: Any) -> list[Any]:
    from itb.clinic import views

    return views.work_items(clinic, users["clinician"])


# ---------------------------------------------------------------------------------- a flexible program


def test_a_flexible_program_is_edited_step_by_step_and_never_flattened(
    app, users, passwords, child, make_pump, db, clock
):
    pump = make_pump(child.id, program=THREE_STEPS)
    clock.advance(days=2)  # no increase in the first 24 h after the implant
    doctor = browser(app, "clinician", passwords)
    start = doctor.get(f"/pumps/{pump.id}/program")
    rates = re.findall(r'name="step_rate" value="([^"]*)"', start.text)
    starts = re.findall(r'name="step_start" value="([^"]*)"', start.text)
    assert (starts, rates) == (["00:00", "08:00", "20:00"], ["90 mcg/day", "120 mcg/day", "100 mcg/day"])
    assert "Ana B" in start.text and "SN-1" in start.text  # the header
    data = {"step_start": ["00:00", "08:00", "20:00"], "step_rate": ["90 mcg/day", "5.25 mcg/h", "100"]}
    added = post(doctor, f"/pumps/{pump.id}/program", {**data, "edit": "add_step"}, start.text)
    assert added.status_code == 200 and len(re.findall(r'name="step_rate"', added.text)) == 4
    removed = post(doctor, f"/pumps/{pump.id}/program", {**data, "edit": "remove_step:1"}, start.text)
    assert re.findall(r'name="step_start" value="([^"]*)"', removed.text) == ["00:00", "20:00"]
    review = post(doctor, f"/pumps/{pump.id}/program", data, start.text)
    assert review.status_code == 200, review.text
    said = text_of(review.text)
    assert "Refused" not in said, said
    assert "00:00 90, 08:00 120, 20:00 100" in said and "00:00 90, 08:00 126, 20:00 100" in said
    assert 'id="fewer-steps"' not in review.text
    confirm = form_with(review.text, "confirm")
    body = {**confirm["fields"], "step_start": data["step_start"], "step_rate": data["step_rate"]}
    body["ack"] = re.findall(r'name="ack" value="([^"]+)"', review.text)
    done = doctor.post(f"/pumps/{pump.id}/program", data=body)
    assert done.status_code == 200 and "Sent and verified" in done.text, text_of(done.text)[:800]
    stored = db.get(m.Pump, pump.id).program
    assert [(s["start"], s["rate_mcg_per_day"]) for s in stored["steps"]] == [
        ("00:00", 90),
        ("08:00", 126),
        ("20:00", 100),
    ]


def test_one_rate_for_a_three_step_program_is_reviewed_with_a_warning(app, users, passwords, child, make_pump):
    pump = make_pump(child.id, program=THREE_STEPS)
    doctor = browser(app, "clinician", passwords)
    review = post(doctor, f"/pumps/{pump.id}/program", {"rate": "100 mcg/day"})
    assert review.status_code == 200 and 'id="fewer-steps"' in review.text
    assert "1 step where the pump now runs 3" in text_of(review.text)


def test_a_wrong_step_or_bolus_is_named_by_its_row(app, users, passwords, child, make_pump):
    program = DosingProgram(steps=(Step(0, 100.0),), daily_boluses=(DailyBolus(12 * 60, 20.0, 30.0),))
    pump = make_pump(child.id, program=program)
    doctor = browser(app, "clinician", passwords)
    start = doctor.get(f"/pumps/{pump.id}/program").text
    assert re.findall(r'name="bolus_dose" value="([^"]*)"', start) == ["20 mcg"]
    data = {
        "step_start": ["00:00", "25:00", "06:00"], "step_rate": ["100 mcg/day", "90 mcg/day", "6 h"],
        "bolus_start": ["12:00"], "bolus_dose": ["20 mL"], "bolus_duration": ["30 min"],
    }  # fmt: skip
    answer = post(doctor, f"/pumps/{pump.id}/program", data, start)
    assert answer.status_code == 422
    said = text_of(answer.text)
    assert "program.steps[1].start: '25:00' is not a time of day HH:MM" in said
    assert "program.steps[2].rate:" in said and "program.boluses[0].dose:" in said
    ok = {**data, "step_start": ["00:00"], "step_rate": ["100 mcg/day"], "bolus_dose": ["25 mcg"]}
    review = post(doctor, f"/pumps/{pump.id}/program", ok, start)
    assert review.status_code == 200 and "12:00 25 mcg/30 min" in text_of(review.text)


# ---------------------------------------------------------------------------------- headers and prints


def test_every_patient_specific_page_names_the_patient_and_the_pump(app, users, passwords, pump):
    doctor = browser(app, "clinician", passwords)
    for path in (
        f"/pumps/{pump.id}/refill",
        f"/pumps/{pump.id}/program",
        f"/patients/{pump.patient_id}/screening",
        f"/patients/{pump.patient_id}/assessments",
    ):
        page = doctor.get(path)
        assert page.status_code == 200, path
        header = re.search(r'<section class="patient-header".*?</section>', page.text, flags=re.S)
        assert header, path
        said = text_of(header.group(0))
        assert "Ana B" in said and "born 2018-05-02" in said and "serial SN-1" in said, (path, said)


def test_a_refill_prints_with_the_patient_lot_volumes_alarm_next_visit_and_who(
    app, clinic, users, passwords, pump, clock
):
    refill = discrepant_refill(clinic, users, pump, clock)
    nurse = browser(app, "nurse", passwords)
    assert f'href="/refills/{refill.id}/print"' in nurse.get(f"/patients/{pump.patient_id}").text
    page = nurse.get(f"/refills/{refill.id}/print")
    assert page.status_code == 200
    said = text_of(page.text)
    for part in ("Ana B", "born 2018-05-02", "serial SN-1", "LOT-77", "500 mcg/mL", "Added 18.00 mL",
                 "Low-reservoir alarm 20", "Next visit 20", "Refilled by nurse", "100 mcg/day"):  # fmt: skip
        assert part in said, (part, said)
    assert "@media print" in page.text and f'href="/refills/{refill.id}/print.pdf"' in page.text
    pdf = nurse.get(f"/refills/{refill.id}/print.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"
    carer = browser(app, "caregiver", passwords)
    assert carer.get(f"/refills/{refill.id}/print").status_code == 404
    assert carer.get(f"/refills/{refill.id}/print.pdf").status_code == 404
    assert nurse.get("/refills/999999/print").status_code == 404


def test_a_vendor_session_prints_as_its_report(app, clinic, users, passwords, child, db, clock):
    cells = {
        "pump_model": "prometra-ii", "pump_serial": "VND-P", "reservoir_capacity_ml": "20",
        "implanted_on": "2024-01-01", "session_at": "2026-11-20T10:00", "reservoir_ml": "20",
        "concentration_mcg_per_ml": "500", "program": "200",
    }  # fmt: skip
    pump = clinic.register_vendor_pump(users["clinician"], child.id, cells, None)
    (recorded,) = db.all(m.PumpSession)
    nurse = browser(app, "nurse", passwords)
    assert f'href="/pump-sessions/{recorded.id}/print"' in nurse.get(f"/patients/{child.id}").text
    said = text_of(nurse.get(f"/pump-sessions/{recorded.id}/print").text)
    for part in ("Registration session", "Ana B", "serial VND-P", "200 mcg/day", "Recorded by clinician"):
        assert part in said, (part, said)
    assert pump.low_reservoir_alarm_at.strftime("%Y-%m-%d %H:%M") in said
    pdf = nurse.get(f"/pump-sessions/{recorded.id}/print.pdf")
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
    assert browser(app, "caregiver", passwords).get(f"/pump-sessions/{recorded.id}/print").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/patients/new",
        "/patients/{p}/pumps/new",
        "/patients/{p}/assessments",
        "/refills/1/print",
        "/pump-sessions/1/print",
    ],
)
def test_the_task_pages_need_a_login(app, child, path):
    anon = browser(app, None, {})
    answer = anon.get(path.format(p=child.id), follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")

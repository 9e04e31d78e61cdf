"""Every number that becomes a dose passes the limits, through the API as through the pages.

A refused entry answers 422 listing each finding with its code; the same request with the soft
findings' codes in ``acknowledged`` goes through; a hard finding stays refused; nothing is stored
or sent before that. Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import date

from test_clinic_api import PUMP, rate

from itb.adapters.db import models as m


def codes(answer) -> set[str]:  # type: ignore[no-untyped-def]
    return {f["code"] for f in answer.json()["findings"]}


def test_a_first_program_above_the_hard_maximum_is_refused_at_implant(client, child, db):
    """Clinic setting (hard maximum 2,000 mcg/day for an adult, 1,500 for a child): 5,000 mcg/day
    was accepted at registration before."""
    body = {**PUMP, "program": rate(5000), "acknowledged": ["daily_dose_hard_max", "maintenance_range"]}
    answer = client("clinician").post(f"/api/patients/{child.id}/pumps", json=body)
    assert answer.status_code == 422 and "daily_dose_hard_max" in codes(answer)
    assert db.count(m.Pump) == 0 and db.count(m.VirtualPump) == 0


def test_a_first_program_outside_the_maintenance_range_is_confirmed_at_implant(client, make_patient, db):
    """Drug label: the usual maintenance range per origin and age; outside it the clinician confirms."""
    adult = make_patient("Sam", birth_date=date(1980, 1, 1), origin="spinal")
    body = {**PUMP, "program": rate(100)}  # below the spinal range (300-800)
    answer = client("clinician").post(f"/api/patients/{adult.id}/pumps", json=body)
    assert answer.status_code == 422 and codes(answer) == {"maintenance_range"}
    assert db.count(m.Pump) == 0
    confirmed = client("clinician").post(
        f"/api/patients/{adult.id}/pumps", json={**body, "acknowledged": ["maintenance_range", "no_positive_screening"]}
    )
    assert confirmed.status_code == 201


def test_no_positive_screening_is_confirmed_at_implant(client, child, db):
    """Drug label: patients should first respond to a screening dose before long-term infusion. A
    pump for a patient with no positive trial recorded (screened elsewhere, registered years later)
    is the clinician's explicit decision."""
    body = {**PUMP, "acknowledged": []}
    answer = client("clinician").post(f"/api/patients/{child.id}/pumps", json=body)
    assert answer.status_code == 422 and codes(answer) == {"no_positive_screening"}
    assert "respond to a screening dose" in answer.json()["findings"][0]["message"]
    assert db.count(m.Pump) == 0


def test_a_first_program_above_the_screening_start_is_confirmed(client, clinic, users, child, db):
    """Drug label: start at 2 x the effective screening dose (1 x when the effect lasted over 8 h)."""
    clinic.record_screening(
        users["clinician"], child.id, dose_mcg=50, mas_before={"hip": "3"}, mas_after={"hip": "1"}, effect_hours=4
    )
    body = {**PUMP, "program": rate(300)}  # the trial gives a start of 100 mcg/day
    answer = client("clinician").post(f"/api/patients/{child.id}/pumps", json=body)
    assert answer.status_code == 422 and codes(answer) == {"start_above_screening"}
    at_start = client("clinician").post(f"/api/patients/{child.id}/pumps", json={**body, "program": rate(100)})
    assert at_start.status_code == 201


def test_a_refill_that_leaves_the_pump_at_its_alarm_volume_is_confirmed(client, pump, db, clock):
    """Device manuals: at or below the alarm volume the pump alarms at once and soon stops."""
    clock.advance(days=2)
    body = {"withdrawn_ml": 19.6, "added_ml": 0.001, "concentration_mcg_per_ml": 500, "version": pump.version}
    answer = client("nurse").post(f"/api/pumps/{pump.id}/refills", json=body)
    assert answer.status_code == 422 and "refill_at_or_below_alarm" in codes(answer)
    message = next(f["message"] for f in answer.json()["findings"] if f["code"] == "refill_at_or_below_alarm")
    assert "empty at" in message
    assert db.count(m.Refill) == 0 and db.count(m.PumpChange) == 0


def test_the_screening_form_refuses_a_dose_the_protocol_does_not_give(app, users, passwords, child, db):
    """The web form and the API take the same rules: "500" and "100 mg" are not screening doses."""
    from test_pages_security import browser, csrf_of

    doctor = browser(app, "clinician", passwords)
    page = doctor.get(f"/patients/{child.id}/screening").text
    for dose in ("500", "100 mg", "60 mcg"):
        form = {"csrf": csrf_of(page), "dose": dose, "before_hamstrings": "3", "after_hamstrings": "1"}
        answer = doctor.post(f"/patients/{child.id}/screening", data=form)
        assert answer.status_code == 422 and "dose_mcg" in answer.text, dose
    negative = {
        "csrf": csrf_of(page),
        "dose": "50 mcg",
        "before_hamstrings": "3",
        "after_hamstrings": "1",
        "effect_hours": "-50",
    }
    assert doctor.post(f"/patients/{child.id}/screening", data=negative).status_code == 422
    assert db.count(m.ScreeningTrial) == 0
    fine = {
        "csrf": csrf_of(page),
        "dose": "50 mcg",
        "before_hamstrings": "3",
        "after_hamstrings": "1",
        "effect_hours": "6",
    }
    assert doctor.post(f"/patients/{child.id}/screening", data=fine).status_code == 200
    assert db.count(m.ScreeningTrial) == 1


def test_a_familys_note_never_lowers_what_was_ticked_and_counts_what_it_names(clinic, users, child, db):
    """Triage: free text is matched to the same codes where it names them, and never lowers the ticks."""
    typed = clinic.report_symptoms(users["caregiver"], child.id, [], "she is hard to wake and breathing slowly")
    assert typed.urgency == 2 and "hard_to_wake" in typed.triage["from_note"]
    ticked = clinic.report_symptoms(users["caregiver"], child.id, ["seizure"], "all fine otherwise")
    assert ticked.urgency == 2
    vague = clinic.report_symptoms(users["caregiver"], child.id, [], "a question about the next visit")
    assert vague.urgency == 1  # unmatched: call the clinic today


def bolus(client, pump_id: int, **body):  # type: ignore[no-untyped-def]
    version = client("clinician").get(f"/api/pumps/{pump_id}").json()["version"]
    return client("clinician").post(f"/api/pumps/{pump_id}/boluses", json={"version": version, **body})


def test_a_bolus_passes_the_bolus_limits_in_the_api(client, pump, db, clock):
    """Clinic settings (bolus_hard_max_mcg 100, bolus_lockout_minutes 240): a single bolus through
    the API is judged as in the programmer; a refused one is never sent."""
    clock.advance(days=2)
    too_big = bolus(client, pump.id, kind="single", dose_mcg=150)
    assert too_big.status_code == 422 and "bolus_dose_max" in codes(too_big)
    given = bolus(client, pump.id, kind="single", dose_mcg=25, duration_minutes=15)
    assert given.status_code == 201 and given.json()["status"] == "applied"
    assert given.json()["payload"]["dose_mcg"] == 25
    again = bolus(client, pump.id, kind="single", dose_mcg=25, acknowledged=["bolus_lockout"])
    assert again.status_code == 422 and "bolus_lockout" in codes(again)
    started = [
        e for e in client("clinician").get(f"/api/pumps/{pump.id}/events").json() if e["type"] == "bolus_started"
    ]
    assert len(started) == 1


def test_priming_is_only_the_catheters_volume_and_a_primed_catheter_is_a_bolus(client, pump, db, clock):
    """Device manual: prime only a new catheter's volume. The pump's recorded catheter is 50 cm
    (0.32 mL with the tubing); 80 cm is refused. A new pump's catheter is primed once; priming it
    again pushes 0.32 mL x 500 mcg/mL = 160 mcg into the spinal fluid: refused (above 100 mcg)."""
    clock.advance(hours=1)
    longer = bolus(client, pump.id, kind="priming", catheter_length_cm=80)
    assert longer.status_code == 422 and codes(longer) == {"priming_volume_max"}
    first = bolus(client, pump.id, kind="priming", catheter_length_cm=50)
    assert first.status_code == 201 and first.json()["payload"]["kind"] == "priming"
    clock.advance(hours=6)
    again = bolus(client, pump.id, kind="priming", catheter_length_cm=50)
    assert again.status_code == 422 and {"priming_catheter_primed", "bolus_dose_max"} <= codes(again)
    detail = {f["code"]: f["message"] for f in again.json()["findings"]}
    assert "= 160 mcg into the spinal fluid" in detail["priming_catheter_primed"]
    confirmed = bolus(client, pump.id, kind="priming", catheter_length_cm=50, acknowledged=["priming_catheter_primed"])
    assert confirmed.status_code == 422 and codes(confirmed) == {"bolus_dose_max"}  # a hard limit stays


def test_bad_bolus_input_names_the_field(client, pump):
    for body, field in (
        ({"kind": "bridge", "dose_mcg": 10}, "kind"),
        ({"kind": "single"}, "dose_mcg"),
        ({"kind": "priming"}, "catheter_length_cm"),
        ({"kind": "single", "dose_mcg": -5}, "dose_mcg"),
        ({"kind": "single", "dose_mcg": 10, "duration_minutes": 0}, "duration_minutes"),
    ):
        answer = bolus(client, pump.id, **body)
        assert answer.status_code == 422, body
        assert field in answer.text, (body, answer.text)


def test_a_refill_judges_the_concentration_against_the_product_chosen(client, pump, db, clock):
    """Product labels: Lioresal Intrathecal has no 1,000 mcg/mL strength (Gablofen has); an unknown
    product is a 422 naming the field, and nothing is sent."""
    clock.advance(days=2)
    body = {"withdrawn_ml": 19.5, "added_ml": 20, "concentration_mcg_per_ml": 1000, "version": pump.version}
    unknown = client("nurse").post(f"/api/pumps/{pump.id}/refills", json={**body, "product": "Baclofen Plus"})
    assert unknown.status_code == 422 and "product" in unknown.text
    lioresal = {**body, "product": "Lioresal Intrathecal", "acknowledged": ["bridge_lower_concentration"]}
    answer = client("nurse").post(f"/api/pumps/{pump.id}/refills", json=lioresal)
    assert answer.status_code == 422 and "concentration_not_in_product" in codes(answer)
    assert db.count(m.Refill) == 0
    gablofen = {**body, "product": "gablofen"}
    done = client("nurse").post(f"/api/pumps/{pump.id}/refills", json=gablofen)
    assert done.status_code == 201, done.text
    assert done.json()["product"] == "Gablofen"


def test_a_refill_of_a_high_risk_patient_shows_the_boxed_warning(client, make_patient, make_pump, clock):
    """Drug label, boxed warning: prevention of abrupt discontinuation needs careful attention to
    refill scheduling and procedures, above all for patients at apparent risk (here: cannot
    communicate). Their refill is confirmed with the warning."""
    patient = make_patient("Ola R", cannot_communicate=True)
    pump = make_pump(patient.id, serial="SN-HIGH")
    clock.advance(days=2)
    body = {"withdrawn_ml": 19.5, "added_ml": 20, "concentration_mcg_per_ml": 500, "version": pump.version}
    answer = client("nurse").post(f"/api/pumps/{pump.id}/refills", json=body)
    assert answer.status_code == 422 and codes(answer) == {"boxed_warning_high_risk"}
    assert "abrupt discontinuation" in answer.json()["findings"][0]["message"]
    done = client("nurse").post(
        f"/api/pumps/{pump.id}/refills", json={**body, "acknowledged": ["boxed_warning_high_risk"]}
    )
    assert done.status_code == 201


def test_nan_infinity_and_a_lone_surrogate_are_a_422_naming_the_field_never_a_500(client, pump, db):
    """Bad input gets a clear error naming the field; never a 500 (the default 422 handler could
    not write a NaN or a lone surrogate it echoed back)."""
    nurse = client("nurse")
    headers = {"content-type": "application/json"}
    for raw, field in (
        ('{"withdrawn_ml": NaN, "added_ml": 20, "concentration_mcg_per_ml": 500, "version": 1}', "withdrawn_ml"),
        ('{"withdrawn_ml": 1, "added_ml": Infinity, "concentration_mcg_per_ml": 500, "version": 1}', "added_ml"),
        ('{"withdrawn_ml": 1, "added_ml": 20, "concentration_mcg_per_ml": 500, "version": 1, "lot": "\\ud800"}', "lot"),
    ):
        answer = nurse.post(f"/api/pumps/{pump.id}/refills", content=raw, headers=headers)
        assert answer.status_code == 422, (raw, answer.text)
        assert field in answer.text
    weight = client("admin").post(
        "/api/patients",
        content='{"name": "Noa", "birth_date": "2015-01-01", "origin": "cerebral", "weight_kg": NaN}',
        headers=headers,
    )
    assert weight.status_code == 422 and "weight_kg" in weight.text
    assert db.count(m.Refill) == 0


def test_a_screening_trial_records_its_side_effects_and_names_a_bad_note(client, child):
    """Side effects are stored with the trial (they stop the escalation); a NUL byte in the note is
    a 422 naming the field, nothing stored."""
    doctor = client("clinician")
    body = {"dose_mcg": 50, "mas_before": {"hip": "3"}, "mas_after": {"hip": "3"}, "side_effects": "drowsy\nat 2 h"}
    stored = doctor.post(f"/api/patients/{child.id}/screenings", json=body)
    assert stored.status_code == 201 and stored.json()["side_effects"] == "drowsy\nat 2 h"
    bad = doctor.post(f"/api/patients/{child.id}/screenings", json={**body, "side_effects": "x\u0000y"})
    assert bad.status_code == 422 and "side_effects" in bad.text

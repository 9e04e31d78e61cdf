"""The clinic's everyday tasks in a real browser, one test per group: registering a patient and
their pump, the phase and the scores that move a titrating patient's proposal, a discrepancy's
review and the printed refill, a flexible program edited step by step, and a vendor session's
printed report. Every page is checked with axe-core; screenshots go to ``$ITB_SHOTS`` (default
``/tmp/shots``) as ``tasks-*.png`` for a person to look at.

The demo clinic is shared by the session's tests: these change only patients they register
themselves, or (the titration and the discrepancy) patients no other test picks.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from conftest import check_accessible
from sqlalchemy import select

from itb.adapters.db import models as m
from itb.clinic.services import Actor
from itb.domain.program import DosingProgram, Step

SHOTS = Path(os.environ.get("ITB_SHOTS", "/tmp/shots"))


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"tasks-{name}.png"), full_page=True)


def clinician(clinic: Any) -> Actor:
    with clinic.sessions() as s:
        user = s.scalars(select(m.User).where(m.User.username == "clinician")).one()
        return Actor(user.username, user.role, user.id)


def test_register_a_patient_then_their_pump_through_its_review(
    page: Any, login: Any, picks: Any, problems: Any
) -> None:
    problems.expect_status(422)  # the empty form, answered with its errors
    login(page, "nurse")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="Register a patient").click()
    page.wait_for_url("**/patients/new")
    check_accessible(page, "the patient form")
    page.get_by_role("button", name="Register the patient").click()  # empty: every rule named
    page.wait_for_load_state()
    alert = page.get_by_role("alert").inner_text()
    assert "name: is required" in alert and "origin: must be spinal or cerebral" in alert
    check_accessible(page, "the patient form with its errors")
    shot(page, "patient-errors")
    page.fill("#name", "Noor Haddad")
    page.fill("#birth_date", "2016-09-12")
    page.get_by_label("cerebral").check()
    page.fill("#weight_kg", "22 kg")
    page.select_option("#gmfcs", "4")
    page.get_by_label("Cannot communicate symptoms").check()
    page.get_by_role("button", name="Register the patient").click()
    page.wait_for_url(re.compile(r".*/patients/\d+\?registered=patient$"))
    assert page.locator("h1").inner_text() == "Noor Haddad"
    assert "Registered" in page.locator("#registered").inner_text()
    assert page.get_by_role("link", name="Register a pump").count() == 0  # a nurse registers no pump
    chart = page.url.split("?")[0]

    login(page, "clinician")
    page.goto(chart)
    page.get_by_role("link", name="Register a pump").click()
    page.wait_for_load_state()
    assert "Noor Haddad" in page.locator(".patient-header").inner_text()
    check_accessible(page, "the pump form")
    page.fill("#serial", "BRW-TASK-1")
    page.select_option("#reservoir_capacity_ml", "20 mL")
    page.fill("#catheter_length_cm", "40")
    page.fill("#reservoir_ml", "20 mL")
    page.fill("#concentration_mcg_per_ml", "500 mcg/mL")
    page.fill("#program", "00:00=80;08:00=100")
    page.get_by_role("button", name="Review").click()
    page.wait_for_load_state()
    assert "from 00:00 80 mcg/day; from 08:00 100 mcg/day" in page.locator("#first-program").inner_text()
    confirm = page.locator(".finding", has=page.locator("input[value=no_positive_screening]"))
    assert "no positive screening trial" in confirm.inner_text()
    check_accessible(page, "the pump review")
    shot(page, "pump-review")
    confirm.locator("input").check()
    page.get_by_role("button", name="Implant and send the program").click()
    page.wait_for_url(re.compile(r".*\?registered=pump$"))
    assert "serial BRW-TASK-1" in page.locator("main").inner_text()
    assert page.locator("a[href$='/program']").count() == 1


def test_set_the_phase_and_record_scores_that_move_the_proposal(page: Any, login: Any, clinic: Any) -> None:
    """A patient of its own (implanted a month ago, titrating): no score, "hold"; high tone, "increase"."""
    me = clinician(clinic)
    now = clinic.clock()
    patient = clinic.register_patient(me, name="Ivo Marsh", birth_date=now.date().replace(year=2012), origin="cerebral")
    clinic.implant_pump(
        me, patient.id, model="valve-gated", serial="BRW-TASK-2", reservoir_capacity_ml=20.0, catheter_length_cm=40.0,
        reservoir_ml=20.0, concentration_mcg_per_ml=500.0, program=DosingProgram.simple_continuous(100),
        implanted_at=now - timedelta(days=30), acknowledged=("no_positive_screening",),
    )  # fmt: skip
    login(page, "clinician")
    page.goto(f"/patients/{patient.id}")
    titration = page.locator("section[aria-labelledby=titration-h]")
    assert titration.locator(".big").inner_text().startswith("hold")
    page.get_by_role("link", name="Record scores").click()
    page.wait_for_load_state()
    check_accessible(page, "the MAS form")
    for muscle in ("hip adductors", "hamstrings", "ankle plantar flexors"):
        page.get_by_label(muscle, exact=True).select_option("3")
    page.get_by_label("elbow flexors", exact=True).select_option("1+")
    shot(page, "scores-mas")
    page.get_by_role("button", name="Save the scores").click()
    page.wait_for_url(re.compile(r".*\?assessed=mas$"))
    assert titration.locator(".big").inner_text().startswith("increase to")

    for kind in ("Tardieu", "Pain", "Goal attainment (GAS)"):
        page.goto(f"/patients/{patient.id}/assessments")
        page.get_by_role("navigation", name="Scale").get_by_role("link", name=kind).click()
        page.wait_for_load_state()
        check_accessible(page, f"the {kind} form")
    page.get_by_label("Goal", exact=True).first.fill("sits alone for 5 minutes")
    page.get_by_label("Score").first.select_option("1")
    page.get_by_role("button", name="Save the scores").click()
    page.wait_for_url(re.compile(r".*\?assessed=gas$"))
    assert titration.locator(".big").inner_text().startswith("hold")  # goals met: the dose is stable

    page.select_option("#phase", "maintenance")
    page.get_by_role("button", name="Set the phase").click()
    page.wait_for_url(re.compile(r".*\?phase=maintenance$"))
    assert "maintenance" in page.locator("#phase-set").inner_text()
    assert page.locator("section[aria-labelledby=titration-h]").count() == 0  # no titration after it
    check_accessible(page, "the chart after the tasks")


def test_review_a_discrepancy_then_print_the_refill(page: Any, login: Any, clinic: Any, picks: Any) -> None:
    with clinic.sessions() as s:
        refill = s.scalars(select(m.Refill).where(m.Refill.flagged, m.Refill.reviewed_by.is_(None))).first()
        assert refill is not None, "the demo has an unreviewed discrepancy"
        patient_id = s.get(m.Pump, refill.pump_id).patient_id
    login(page, "clinician")
    page.goto("/worklist")
    assert page.locator(f"a[href='/patients/{patient_id}']").count() >= 1
    page.goto(f"/patients/{patient_id}")
    check_accessible(page, "the chart with a discrepancy")
    page.get_by_role("button", name=re.compile(r"^Discrepancy reviewed: ")).click()
    page.wait_for_url(re.compile(r".*\?reviewed_refill=\d+$"))
    assert "leaves the worklist" in page.locator("#refill-reviewed").inner_text()
    assert page.get_by_role("button", name=re.compile(r"^Discrepancy reviewed: ")).count() == 0

    page.goto(f"/refills/{refill.id}/print")
    text = page.locator("main").inner_text()
    for part in (
        "Lot",
        "Withdrawn",
        "Added",
        "Low-reservoir alarm",
        "Next visit",
        "Refilled by",
        "reviewed by clinician",
    ):
        assert part in text, part
    check_accessible(page, "the printed refill")
    shot(page, "refill-print")
    page.emulate_media(media="print")
    assert page.locator("header").is_hidden() and page.locator(".print-only").is_visible()
    shot(page, "refill-print-media")
    page.emulate_media(media="screen")
    pdf = page.request.get(f"/refills/{refill.id}/print.pdf")
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"


def test_edit_a_flexible_program_step_by_step(page: Any, login: Any, clinic: Any) -> None:
    me = clinician(clinic)
    now = clinic.clock()
    patient = clinic.register_patient(me, name="Lea Stone", birth_date=now.date().replace(year=1990), origin="spinal")
    steps = DosingProgram(steps=(Step(0, 300.0), Step(8 * 60, 400.0), Step(20 * 60, 350.0)))
    pump = clinic.implant_pump(
        me, patient.id, model="peristaltic", serial="BRW-TASK-3", reservoir_capacity_ml=40.0, catheter_length_cm=50.0,
        reservoir_ml=40.0, concentration_mcg_per_ml=1000.0, program=steps, implanted_at=now - timedelta(days=60),
        acknowledged=("no_positive_screening",),
    )  # fmt: skip
    login(page, "clinician")
    page.goto(f"/patients/{patient.id}")
    page.get_by_role("link", name="Change program").click()
    page.wait_for_url(f"**/pumps/{pump.id}/program")
    rates = page.locator("input[name=step_rate]")
    assert rates.evaluate_all("xs => xs.map(x => x.value)") == ["300 mcg/day", "400 mcg/day", "350 mcg/day"]
    check_accessible(page, "the flexible program form")
    page.get_by_role("button", name="Add a step").click()
    page.wait_for_load_state()
    assert page.locator("input[name=step_rate]").count() == 4
    page.get_by_label("Step 4: starts at (HH:MM)").fill("22:00")
    page.get_by_label("Step 4: rate").fill("14 mcg/h")
    page.get_by_role("button", name="Remove step 3").click()
    page.wait_for_load_state()
    assert page.locator("input[name=step_start]").evaluate_all("xs => xs.map(x => x.value)") == [
        "00:00",
        "08:00",
        "22:00",
    ]
    page.get_by_label("Step 2: rate").fill("0.38 mg/day")
    shot(page, "program-form")
    page.get_by_label("Step 2: rate").press("Enter")  # Enter reviews (not "Remove")
    page.wait_for_selector("table[aria-label='Old and new']")
    steps_row = page.locator("table[aria-label='Old and new'] tbody tr").first.inner_text()
    assert "00:00 300, 08:00 400, 20:00 350" in steps_row and "00:00 300, 08:00 380, 22:00 336" in steps_row
    check_accessible(page, "the flexible program review")
    shot(page, "program-review")
    for box in page.locator("input[name=ack]").all():
        box.check()
    page.get_by_role("button", name="Send to the pump").click()
    assert page.get_by_role("heading", name="Sent and verified").is_visible()
    with clinic.sessions() as s:
        stored = s.get(m.Pump, pump.id).program
    assert [(x["start"], x["rate_mcg_per_day"]) for x in stored["steps"]] == [
        ("00:00", 300),
        ("08:00", 380),
        ("22:00", 336),
    ]


def test_print_a_vendor_session_report(page: Any, login: Any, clinic: Any) -> None:
    with clinic.sessions() as s:
        session = s.scalars(
            select(m.PumpSession).where(m.PumpSession.kind == "refill").order_by(m.PumpSession.id)
        ).first()
        assert session is not None, "the demo's vendor pumps have refill sessions"
        patient_id = s.get(m.Pump, session.pump_id).patient_id
    login(page, "nurse")
    page.goto(f"/patients/{patient_id}")
    page.locator(f"a[href='/pump-sessions/{session.id}/print']").click()
    page.wait_for_url(f"**/pump-sessions/{session.id}/print")
    text = page.locator("main").inner_text()
    for part in ("Refill session", "born", "serial", "Volume added", "Program", "Low-reservoir alarm", "Recorded by"):
        assert part in text, part
    check_accessible(page, "the printed session report")
    shot(page, "session-print")
    page.goto(f"/pumps/{session.pump_id}/session")
    assert "born" in page.locator(".patient-header").inner_text()  # the session form's header
    check_accessible(page, "the session form with its header")


def test_register_a_vendor_programmed_pump_through_its_review(page: Any, login: Any, clinic: Any) -> None:
    """The review is the registration's dry run: the pump as it would be recorded, the limit its
    program breaks to confirm (else kept as a warning), nothing stored until "Register the pump"."""
    me = clinician(clinic)
    now = clinic.clock()
    patient = clinic.register_patient(me, name="Rui Vale", birth_date=now.date().replace(year=2011), origin="cerebral")
    login(page, "clinician")
    page.goto(f"/patients/{patient.id}/pumps/new?connection=vendor")
    page.select_option("#model", "synchromed-ii")
    page.fill("#pump_serial", "BRW-VND-1")
    page.fill("#reservoir_capacity_ml", "40 mL")
    page.fill("#implanted_on", "2023-04-05")
    page.fill("#session_at", (now - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#reservoir_ml", "30 mL")
    page.fill("#concentration_mcg_per_ml", "500 mcg/mL")
    page.fill("#program", "1200 mcg/day")
    page.get_by_role("button", name="Review").click()
    page.wait_for_load_state()
    assert "Nothing is stored yet" in page.get_by_role("status").inner_text()
    assert "1,200 mcg/day, all day" in page.locator("#first-program").inner_text()
    with clinic.sessions() as s:
        assert s.scalars(select(m.Pump).where(m.Pump.serial == "BRW-VND-1")).first() is None
    confirm = page.locator(".finding", has=page.locator("input[value=maintenance_range]"))
    assert "I confirm (no warning kept)" in confirm.inner_text()
    check_accessible(page, "the vendor pump's review")
    shot(page, "vendor-pump-review")
    page.get_by_role("button", name="Register the pump").click()
    page.wait_for_url(re.compile(r".*\?registered=pump$"))
    with clinic.sessions() as s:
        pump = s.scalars(select(m.Pump).where(m.Pump.serial == "BRW-VND-1")).one()
        (session,) = s.scalars(select(m.PumpSession).where(m.PumpSession.pump_id == pump.id))
    assert [w.split(":")[0] for w in session.warnings] == ["maintenance_range"]  # not confirmed: kept

"""The clinic's pages in a real browser: logins, the worklist, the guided refill, program changes,
the family's page, and what every page must have (no console errors, titled plots).

The fixtures (``conftest.py``) serve one demo clinic whose clock stands at 2026-11-24 09:00.
Tests that change records each work on their own patient (``picks``), so their order is free.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import check_accessible, password

from itb.web import family

STAFF = ("admin", "clinician", "nurse")


def number(text: str) -> float:
    """The first number in ``text`` (thousands separators dropped)."""
    found = re.search(r"-?\d[\d,]*(?:\.\d+)?", text)
    assert found, f"no number in {text!r}"
    return float(found.group(0).replace(",", ""))


def field_of(page: Any, term: str, within: str = "main") -> str:
    """The text of the ``<dd>`` after the ``<dt>`` named ``term``."""
    return page.locator(f"{within} dt:text-is('{term}') + dd").first.inner_text().strip()


def pump_of_chart(page: Any) -> int:
    href = page.locator("a[href$='/refill']").first.get_attribute("href")
    return int(re.search(r"/pumps/(\d+)/refill", href).group(1))


# ---------------------------------------------------------------------------------- logging in


@pytest.mark.parametrize("username", [*STAFF, "parent1"])
def test_each_role_lands_on_its_page(page: Any, login: Any, username: str) -> None:
    login(page, username)
    if username in STAFF:
        assert page.url.endswith("/worklist")
        assert page.locator("h1").first.inner_text().startswith("Worklist")
        assert page.locator("nav a[href='/worklist']").count() == 1
    else:
        assert page.url.endswith("/family")
        assert page.locator("nav a[href='/worklist']").count() == 0
        assert page.locator("nav a[href='/family']").count() == 1
    assert f"{username} (" in page.locator("header").inner_text()


def test_a_wrong_password_is_refused_with_a_message(page: Any, login: Any, problems: Any) -> None:
    problems.expect_status(401)
    login(page, "clinician", "not-the-password")
    assert page.url.endswith("/login")
    assert page.get_by_role("alert").inner_text() == "Wrong username or password."
    page.goto("/worklist")  # still logged out
    assert "/login" in page.url


# ---------------------------------------------------------------------------------- the worklist


def test_the_worklist_shows_urgency_filters_by_it_and_opens_a_chart(page: Any, login: Any, picks: Any) -> None:
    login(page, "nurse")
    rows = page.locator("table[aria-label=Worklist] tbody tr[data-urgency]")
    urgencies = [int(u) for u in rows.evaluate_all("rows => rows.map(r => r.dataset.urgency)")]
    assert len(urgencies) == len(picks.on_worklist) >= 2
    assert urgencies == sorted(urgencies), "the most urgent first"
    assert 0 in urgencies and max(urgencies) > 0
    for k in range(rows.count()):
        row = rows.nth(k)
        assert row.get_attribute("class") == f"u{urgencies[k]}"  # the coloured edge
        tags = row.locator(".tag:not([title])")
        assert tags.count() >= 1, "every item says why it is listed"
        want = {0: "tag bad", 1: "tag warn"}.get(urgencies[k], "tag ")
        assert all(c == want for c in tags.evaluate_all("ts => ts.map(t => t.className)"))

    page.select_option("#urgency", "0")
    page.click("form[action='/worklist'] button[type=submit]")
    assert "urgency=0" in page.url
    assert page.locator("#urgency").input_value() == "0"
    urgent = rows.evaluate_all("rows => rows.map(r => r.dataset.urgency)")
    assert urgent and set(urgent) == {"0"} and len(urgent) == urgencies.count(0)

    link = rows.first.locator("a[href^='/patients/']")
    name = link.inner_text()
    link.click()
    assert re.search(r"/patients/\d+$", page.url)
    assert page.locator("h1").inner_text() == name
    assert page.locator("svg").count() == 3


# ---------------------------------------------------------------------------------- the guided refill


def test_a_guided_refill_changes_the_forecast(page: Any, login: Any, picks: Any) -> None:
    login(page, "nurse")
    page.goto(f"/patients/{picks.refill_patient}")
    alarm_before = field_of(page, "Low-reservoir alarm")
    concentration = number(field_of(page, "Drug"))
    assert concentration < 2000
    page.get_by_role("button", name="Interrogate").click()  # the pump's count, as of now
    page.wait_for_url(f"**/patients/{picks.refill_patient}")
    page.get_by_role("link", name="Refill").click()
    page.wait_for_url("**/refill")

    counted = number(page.locator("form p strong").first.inner_text())
    page.fill("#withdrawn", f"{max(counted - 0.1, 0):.1f} mL")  # what a nurse measures: near the count
    page.fill("#added", "20 mL")
    page.fill("#concentration", f"{concentration * 2:g} mcg/mL")
    page.fill("#lot", "BROWSER-1")
    page.get_by_role("button", name="Review").click()

    assert page.get_by_role("heading", name="After the refill").is_visible()
    expected = number(field_of(page, "Expected in the pump"))
    assert abs(expected - counted) < 0.5
    bridge = field_of(page, "Bridge bolus")
    assert re.match(r"[\d,.]+ mcg over \d+ min", bridge), bridge
    assert page.locator(".finding.refuse").count() == 0
    boxes = page.locator("input[name=ack]")
    for k in range(boxes.count()):
        boxes.nth(k).check()
    page.get_by_role("button", name="Confirm refill").click()

    summary = page.locator("#summary")
    summary.wait_for()
    assert "Refill done" in summary.inner_text()
    assert field_of(page, "Added", "#summary").startswith("20")
    assert "Bridge bolus" in summary.inner_text()
    alarm_after = page.locator("#new-alarm").inner_text().strip()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", alarm_after)
    assert alarm_after != alarm_before, "a new drug, a new forecast"
    assert alarm_after > alarm_before  # 20 mL at twice the concentration lasts longer than what was left

    page.get_by_role("link", name="Back to the chart").click()
    assert field_of(page, "Low-reservoir alarm") == alarm_after
    # booked from the earliest plausible alarm: the pump's learned flow at its upper bound
    earliest = field_of(page, "Earliest plausible alarm")
    assert earliest[:16] < alarm_after and "refills are booked from this" in earliest
    assert "than it counts" in field_of(page, "Learned flow")


def test_a_weaker_drug_shows_its_overshoot_and_the_temporary_program(page: Any, login: Any, picks: Any) -> None:
    """The refill review of a weaker drug (half the strength) says what the old drug in the dead
    volume does if nothing is done and offers the aspiration and the temporary program; nothing
    is sent by the review."""
    login(page, "nurse")
    page.goto(f"/patients/{picks.refill_patient}")
    concentration = number(field_of(page, "Drug"))
    page.get_by_role("link", name="Refill").click()
    page.wait_for_url("**/refill")
    counted = number(page.locator("form p strong").first.inner_text())
    page.fill("#withdrawn", f"{counted:.1f} mL")
    page.fill("#added", "20 mL")
    page.fill("#concentration", f"{concentration / 2:g} mcg/mL")
    page.select_option("#product", "Gablofen")
    page.get_by_role("button", name="Review").click()
    section = page.locator("#concentration-decrease")
    section.wait_for()
    assert re.match(r"2× the dose for about [\d.]+ h: \+[\d.]+ mcg", page.locator("#overshoot").inner_text())
    assert "catheter access port" in section.inner_text()
    assert "then back to" in page.locator("#temporary-program").inner_text()
    # the nurse confirms the way chosen: the finding carries the same numbers
    assert page.locator(".finding", has_text="is lower than the old").locator("input[type=checkbox]").count() == 1


# ---------------------------------------------------------------------------------- program changes


def open_program_form(page: Any, patient_id: int) -> tuple[int, float, int]:
    """The program page of the patient's pump: (pump id, the daily dose now, the program version)."""
    page.goto(f"/patients/{patient_id}")
    pump = pump_of_chart(page)
    page.get_by_role("link", name="Change program").click()
    page.wait_for_url(f"**/pumps/{pump}/program")
    now = page.locator("form p", has_text="Now:").inner_text()
    found = re.search(r"Now: ([\d,.]+) mcg/day \(program version (\d+)\)", now)
    assert found, now
    return pump, float(found.group(1).replace(",", "")), int(found.group(2))


def test_a_program_change_at_a_hard_limit_is_refused(page: Any, login: Any, picks: Any) -> None:
    login(page, "clinician")
    _pump, dose, version = open_program_form(page, picks.program_refused_patient)
    page.fill("#rate", f"{dose * 3:.0f} mcg/day")  # +200 %
    page.get_by_role("button", name="Review").click()
    page.wait_for_selector("table[aria-label='Old and new']")  # the review page, not the form still
    refused = page.locator(".finding.refuse")
    assert refused.count() >= 1
    assert refused.first.inner_text().startswith("Refused:")
    said = " ".join(refused.all_inner_texts())
    assert re.search(r"increase of \+\d+ %", said), said  # the label's largest step (and more may be said)
    assert page.get_by_role("button", name="Send to the pump").count() == 0
    page.goto(f"/patients/{picks.program_refused_patient}")
    assert field_of(page, "Program").startswith(f"version {version}:")


def test_a_program_change_at_a_soft_limit_is_sent_once_acknowledged(page: Any, login: Any, picks: Any) -> None:
    login(page, "clinician")
    pump, dose, version = open_program_form(page, picks.program_confirmed_patient)
    new_dose = round(dose * 0.7)  # a 30 % reduction: more than the usual 20 %, a soft limit
    page.fill("#rate", f"{new_dose} mcg/day")
    page.get_by_role("button", name="Review").click()
    page.wait_for_selector("table[aria-label='Old and new']")
    assert page.locator(".finding.refuse").count() == 0
    assert "Refused" not in page.locator("main").inner_text()
    boxes = page.locator("input[name=ack]")
    codes = boxes.evaluate_all("bs => bs.map(b => b.value)")
    assert "reduction_step_max" in codes
    assert "reduction" in page.locator(".finding", has=page.locator("input[value=reduction_step_max]")).inner_text()
    for k in range(boxes.count()):
        boxes.nth(k).check()
    page.get_by_role("button", name="Send to the pump").click()
    assert page.get_by_role("heading", name="Sent and verified").is_visible()
    assert f"program version {version + 1}" in page.locator("main").inner_text()

    page.get_by_role("link", name="Back to the chart").click()
    page.wait_for_url(f"**/patients/{picks.program_confirmed_patient}")
    program = field_of(page, "Program")
    assert program.startswith(f"version {version + 1}: {new_dose:,} mcg/day"), program
    assert page.locator(f"a[href='/pumps/{pump}/program']").count() == 1


# ---------------------------------------------------------------------------------- the family


def test_a_caregiver_cannot_open_another_childs_chart(page: Any, login: Any, picks: Any, problems: Any) -> None:
    problems.expect_status(404)
    own = picks.caregiver_child["parent1"]
    other = picks.caregiver_child["parent2"]
    login(page, "parent1")
    answer = page.goto(f"/patients/{other}")
    assert answer.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    answer = page.goto("/worklist")
    assert answer.status == 404
    answer = page.goto(f"/patients/{own}")
    assert answer.status == 200


def test_the_family_page_explains_the_alarms_and_takes_a_symptom_report(
    page: Any, login: Any, picks: Any, chromium: Any, server: str
) -> None:
    login(page, "parent2")
    text = page.locator("main").inner_text()
    assert "What the pump's sounds mean" in text
    for alarm in family.ALARM_SOUNDS:
        assert alarm.meaning in text
    assert page.locator(".finding.emergency").count() >= 1  # the sounds that mean "act now"

    form = page.locator("form[action='/family/symptoms']")
    form.get_by_label(family.SYMPTOM_CHOICES[0][1]).check()
    form.locator("textarea[name=note]").fill("Scratching since yesterday evening.")
    form.get_by_role("button", name="Send to the clinic").click()
    page.wait_for_url("**/family?sent=1")
    assert page.get_by_role("status").inner_text().startswith("Thank you. The clinic has your report.")

    staff = chromium.new_context(base_url=server)  # the clinic sees it on the worklist and on the chart
    try:
        clinician = staff.new_page()
        clinician.goto("/login")
        clinician.fill("#username", "clinician")
        clinician.fill("#password", password("clinician"))
        clinician.click("form[action='/login'] button[type=submit]")
        clinician.wait_for_url("**/worklist")
        assert "not yet reviewed" in clinician.locator("main").inner_text()
        clinician.goto(f"/patients/{picks.caregiver_child['parent2']}")
        assert "Scratching since yesterday evening." in clinician.locator("main").inner_text()
    finally:
        staff.close()


# ---------------------------------------------------------------------------------- every page


def test_every_page_loads_without_console_errors_and_passes_axe(
    page: Any, login: Any, picks: Any, problems: Any, clinic: Any
) -> None:
    """Each staff page and the family's page: no console error, htmx loaded, no axe-core violation."""
    from sqlalchemy import select

    from itb.adapters.db import models as m
    from itb.clinic.derived import is_constant_flow

    login(page, "clinician")
    patient = picks.program_refused_patient
    page.goto(f"/patients/{patient}")
    pump = pump_of_chart(page)
    with clinic.sessions() as s:  # the demo's constant-flow patient: its card and a planned dilution
        pumps = s.scalars(select(m.Pump).where(m.Pump.status == "implanted")).all()
        fixed = next(p.patient_id for p in pumps if is_constant_flow(p))
    for path in (
        "/worklist",
        "/worklist?urgency=1",
        "/patients",
        "/appointments",
        f"/patients/{patient}",
        f"/patients/{patient}/screening",
        f"/patients/{patient}/emergency-letter",
        f"/pumps/{pump}/refill",
        f"/pumps/{pump}/program",
        f"/patients/{fixed}",
        f"/patients/{fixed}?target_dose=450&stock=2000+mcg%2FmL&total_ml=35#dilution",
        f"/patients/{fixed}?target_dose=lots&stock=2000#dilution",
        "/notifications",
        "/contacts",
        f"/patients/{patient}/contacts",
    ):
        answer = page.goto(path)
        assert answer.status == 200, path
        page.wait_for_load_state("load")
        assert page.evaluate("typeof htmx") == "object", f"{path}: htmx did not load"
        check_accessible(page, path)
    login(page, "admin")
    assert page.goto("/settings").status == 200  # the clinic's settings: an admin's page
    check_accessible(page, "/settings")
    assert page.goto("/notifications").status == 200  # with the admin's buttons to send now
    check_accessible(page, "/notifications (admin)")
    login(page, "parent1")
    assert page.goto("/family").status == 200
    check_accessible(page, "/family")
    assert page.goto(f"/patients/{picks.caregiver_child['parent1']}/contacts").status == 200
    check_accessible(page, "/patients/{id}/contacts (caregiver)")
    assert not problems.unexpected()  # also checked after every test


def test_every_plot_on_a_chart_has_a_title(page: Any, login: Any, picks: Any) -> None:
    login(page, "clinician")
    for patient in (picks.refill_patient, picks.caregiver_child["parent1"]):
        page.goto(f"/patients/{patient}")
        svgs = page.locator("svg")
        assert svgs.count() == 3
        titles = svgs.evaluate_all(
            "ss => ss.map(s => { const t = s.querySelector(':scope > title'); return t ? t.textContent.trim() : '' })"
        )
        assert all(titles), f"patient {patient}: an <svg> without a <title>: {titles}"

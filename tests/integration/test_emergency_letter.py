"""The family's emergency letter and wallet card, without a browser (both databases): what the
HTML and the PDF say (the child, the pump, the drug, the dose, the alarm date, the sounds, the
signs, "Never stop baclofen abruptly", the clinic's numbers), always made from the record (a
program change shows at once), a caregiver's own child only, no pump, and ids that do not exist.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from test_constant_flow_pages import imported
from test_pages_security import browser
from test_task_pages import text_of

from itb.clinic import views
from itb.clinic.derived import earliest_alarm_at
from itb.clinic.emergency_card import EmergencyRecord, emergency_record
from itb.clinic.services import NotFound
from itb.domain.program import DosingProgram
from itb.web import family
from itb.web.emergency_pages import BLANK, CARD_H_MM, CARD_W_MM, NEVER_STOP, NEVER_STOP_WHY
from itb.web.print_pages import DISCLAIMER

DAY, AFTER_HOURS = "+1 555 0100", "+1 555 0199"
PATHS = ("/emergency-letter", "/emergency-letter.pdf", "/wallet-card", "/wallet-card.pdf")
MM = 72 / 25.4  # PDF points per mm


def pdf_text(content: bytes) -> str:
    """The PDF's text, its whitespace folded to single spaces."""
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())


def pdf_of(client: Any, path: str) -> bytes:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.text[:300])
    assert answer.headers["content-type"] == "application/pdf" and answer.content[:5] == b"%PDF-"
    return answer.content


def set_numbers(clinic: Any, users: Any) -> None:
    clinic.update_clinic_settings(
        users["admin"], name="Hill ITB clinic", day_phone=DAY, after_hours_phone=AFTER_HOURS, expected_version=0
    )


def everything_the_letter_says(clinic: Any, users: Any, pump: Any) -> list[str]:
    alarm = earliest_alarm_at(views.pump_record(clinic, users["clinician"], pump.id))
    assert alarm is not None
    return [
        "Ana B", "2018-05-02", "peristaltic", "20 mL reservoir", "serial SN-1", pump.implanted_at.strftime("%Y-%m-%d"),
        "baclofen", "500 mcg/mL", "100 mcg/day", alarm.strftime("%Y-%m-%d %H:%M"), NEVER_STOP, NEVER_STOP_WHY,
        "Hill ITB clinic", DAY, AFTER_HOURS, "call emergency services", DISCLAIMER,
        *(a.meaning for a in family.ALARM_SOUNDS), *(s.text for s in family.TOO_LITTLE_SIGNS),
        *(s.text for s in family.TOO_MUCH_SIGNS), family.TOO_MUCH_NOTE,
    ]  # fmt: skip


def test_the_letter_names_the_child_pump_dose_alarm_sounds_signs_and_numbers(app, clinic, users, passwords, pump):
    set_numbers(clinic, users)
    page = browser(app, "caregiver", passwords).get(f"/patients/{pump.patient_id}/emergency-letter")
    assert page.status_code == 200
    said = text_of(page.text)
    for part in everything_the_letter_says(clinic, users, pump):
        assert part in said, part
    assert "@media print" in page.text and 'class="never-stop"' in page.text
    assert f'href="{family.tel_href(AFTER_HOURS)}"' in page.text and f'href="{family.tel_href(DAY)}"' in page.text
    # each "call the clinic" carries the numbers, as on the family page
    assert f"call the clinic (day: {DAY}; after hours: {AFTER_HOURS}) now" in re.sub(r" ([;)])", r"\1", said)
    assert f'href="/patients/{pump.patient_id}/emergency-letter.pdf"' in page.text


def test_the_letters_pdf_says_the_same(app, clinic, users, passwords, pump):
    set_numbers(clinic, users)
    said = pdf_text(pdf_of(browser(app, "caregiver", passwords), f"/patients/{pump.patient_id}/emergency-letter.pdf"))
    for part in everything_the_letter_says(clinic, users, pump):
        assert " ".join(part.split()) in said, part
    assert f"call the clinic (day: {DAY}; after hours: {AFTER_HOURS}) now" in said


def test_the_wallet_card_is_card_sized_with_the_summary_and_the_after_hours_number(app, clinic, users, passwords, pump):
    set_numbers(clinic, users)
    content = pdf_of(browser(app, "caregiver", passwords), f"/patients/{pump.patient_id}/wallet-card.pdf")
    said = pdf_text(content)
    for part in ("Ana B", "peristaltic, serial SN-1", "baclofen 500 mcg/mL", "100 mcg/day", AFTER_HOURS,
                 NEVER_STOP.upper(), "Not a certified medical device"):  # fmt: skip
        assert part in said, (part, said)
    page = PdfReader(io.BytesIO(content)).pages[0]
    assert round(float(page.mediabox.width) / MM) == 210  # A4, the cards drawn on it at their size
    stream = page.get_contents().get_data().decode("latin-1")  # type: ignore[union-attr]
    card = f"{CARD_W_MM * MM:.2f} {-CARD_H_MM * MM:.2f} re"
    assert stream.count(card) == 2, "two cards of 85.6 x 54 mm, each in its cut line"
    html_card = browser(app, "caregiver", passwords).get(f"/patients/{pump.patient_id}/wallet-card")
    assert html_card.status_code == 200 and "width:85.6mm; height:54mm" in html_card.text
    assert AFTER_HOURS in text_of(html_card.text)


def test_after_a_program_change_the_letter_and_card_show_the_new_daily_dose(app, clinic, users, passwords, pump, clock):
    carer = browser(app, "caregiver", passwords)
    letter, card = (f"/patients/{pump.patient_id}/{p}" for p in ("emergency-letter", "wallet-card.pdf"))
    assert "100 mcg/day" in text_of(carer.get(letter).text)
    clock.advance(days=2)
    program = DosingProgram.simple_continuous(110)
    clinic.change_program(users["clinician"], pump.id, program, expected_version=pump.version)
    said = text_of(carer.get(letter).text)
    assert "Daily dose 110 mcg/day" in said and "100 mcg/day" not in said
    assert "110 mcg/day" in pdf_text(pdf_of(carer, letter + ".pdf"))
    assert "110 mcg/day" in pdf_text(pdf_of(carer, card))
    alarm = earliest_alarm_at(views.pump_record(clinic, users["clinician"], pump.id))
    assert alarm is not None and alarm.strftime("%Y-%m-%d %H:%M") in said  # the alarm date moved with it


def test_a_caregiver_reads_only_their_own_childs(app, clinic, users, passwords, pump, other_child, make_pump):
    make_pump(other_child.id, serial="SN-ZOE")
    carer = browser(app, "caregiver", passwords)
    for path in PATHS:
        assert carer.get(f"/patients/{pump.patient_id}{path}").status_code == 200, path
        answer = carer.get(f"/patients/{other_child.id}{path}")
        assert answer.status_code == 404 and "Zoe" not in answer.text and "SN-ZOE" not in answer.text, path
    with pytest.raises(NotFound):
        emergency_record(clinic, users["caregiver"], other_child.id)
    nurse = browser(app, "nurse", passwords)
    assert "SN-ZOE" in text_of(nurse.get(f"/patients/{other_child.id}/emergency-letter").text)


def test_a_patient_with_no_pump_gets_a_letter_that_says_so(app, clinic, users, passwords, child):
    record = emergency_record(clinic, users["caregiver"], child.id)
    assert isinstance(record, EmergencyRecord) and record.pump is None
    with pytest.raises(AttributeError):
        record.pump = None  # type: ignore[misc]  # frozen
    carer = browser(app, "caregiver", passwords)
    said = text_of(carer.get(f"/patients/{child.id}/emergency-letter").text)
    assert "No pump is implanted for this child now" in said and "serial" not in said
    assert NEVER_STOP in said and family.TOO_LITTLE_SIGNS[0].text in said
    assert BLANK in said  # no number set: a line to write it on
    pdf = pdf_text(pdf_of(carer, f"/patients/{child.id}/emergency-letter.pdf"))
    assert "No pump is implanted for this child now" in pdf and NEVER_STOP in pdf
    assert "none implanted" in pdf_text(pdf_of(carer, f"/patients/{child.id}/wallet-card.pdf"))


def test_a_constant_flow_pumps_letter_says_it_cannot_beep(app, clinic, users, passwords, clock):
    cf = imported(clinic, users, clock, "CF-1001")
    said = text_of(browser(app, "nurse", passwords).get(f"/patients/{cf.patient_id}/emergency-letter").text)
    assert "It cannot beep" in said and "fixed flow" in said and "1,000 mcg/day" in said
    assert "Runs low (earliest; it has no alarm)" in said
    assert family.ALARM_SOUNDS[0].meaning not in said


def test_an_alarm_date_already_passed_says_to_call_today(app, passwords, pump, clock):
    clock.advance(days=120)
    said = text_of(browser(app, "caregiver", passwords).get(f"/patients/{pump.patient_id}/emergency-letter").text)
    assert "already passed, call the clinic today" in said


@pytest.mark.parametrize(("patient", "status"), [("999999", 404), ("0", 422), ("abc", 422), ("99999999999999", 422)])
def test_an_id_that_does_not_exist_is_a_plain_error_page(app, passwords, child, patient, status):
    nurse = browser(app, "nurse", passwords)
    for path in PATHS:
        answer = nurse.get(f"/patients/{patient}{path}")
        assert answer.status_code == status, (path, answer.status_code)
        assert "<h1>" in answer.text and "Traceback" not in answer.text


def test_the_letter_needs_a_login(app, child):
    anon = browser(app, None, {})
    for path in PATHS:
        answer = anon.get(f"/patients/{child.id}{path}", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next="), path


def test_the_family_page_and_the_chart_link_to_the_letter_and_the_card(app, passwords, pump):
    at = f"/patients/{pump.patient_id}"
    links = (f'href="{at}/emergency-letter"', f'href="{at}/wallet-card.pdf"')
    for role, path in (("caregiver", "/family"), ("nurse", at)):
        page = browser(app, role, passwords).get(path).text
        for link in links:
            assert link in page, (role, link)
        assert "Emergency letter (print / PDF)" in page and "Wallet card (PDF)" in page


def test_the_letter_is_made_at_each_request_and_says_so(app, passwords, pump, clock):
    carer = browser(app, "caregiver", passwords)
    first = text_of(carer.get(f"/patients/{pump.patient_id}/emergency-letter").text)
    clock.advance(hours=3)
    later = text_of(carer.get(f"/patients/{pump.patient_id}/emergency-letter").text)
    made = re.compile(r"Made from the clinic's record on (\d{4}-\d\d-\d\d \d\d:\d\d)")
    before, after = made.search(first), made.search(later)
    assert before and after and after.group(1) != before.group(1)
    assert (clock.now - timedelta(hours=3)).strftime("%Y-%m-%d %H:%M") == before.group(1)


def test_without_dejavu_the_pdfs_are_made_in_helvetica(app, clinic, users, passwords, pump, monkeypatch, tmp_path):
    from itb.web import pdf_style

    set_numbers(clinic, users)
    monkeypatch.setattr(pdf_style, "FONT_DIR", tmp_path / "no-fonts")
    carer = browser(app, "caregiver", passwords)
    letter = pdf_text(pdf_of(carer, f"/patients/{pump.patient_id}/emergency-letter.pdf"))
    assert NEVER_STOP in letter and "The medicine is no longer flowing - this is an emergency" in letter
    card = pdf_text(pdf_of(carer, f"/patients/{pump.patient_id}/wallet-card.pdf"))
    assert AFTER_HOURS in card and NEVER_STOP.upper() in card

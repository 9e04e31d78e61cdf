"""A vendor-programmed pump in a real browser: the clinic's file imported through its preview, then
a refill done on the vendor's programmer recorded through its review ("programmed as reviewed").

Every page of the flow is checked with axe-core (``conftest.check_accessible``). Screenshots of the preview and
of the review go to ``$ITB_SHOTS`` (default ``/tmp/shots``) for a person to look at.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import check_accessible

SHOTS = Path(os.environ.get("ITB_SHOTS", "/tmp/shots"))
#: A clinic's file of its own (refs and serials no other test uses): session ten days ago, 500 mcg/mL at 300 mcg/day.
CSV = (
    "patient_ref,family_name,given_name,birth_date,origin,pump_model,pump_serial,reservoir_capacity_ml,"
    "implanted_on,session_at,reservoir_ml,concentration_mcg_per_ml,program,flow_ml_per_day,vendor_alarm_at,"
    "next_refill_on\n"
    "BRW-0001,Brandt,Lena,1984-02-11,spinal,synchromed-ii,BRW-NGP-1,40,2022-05-01,2026-11-14T10:00,40,500,300,,"
    "2027-01-16T18:00,\n"
    "BRW-0002,Ortiz,Tomas,2012-07-30,cerebral,prometra-ii,BRW-PRO-2,20,2021-09-15,2026-11-03T14:30,19,1000,"
    "00:00=250;08:00=300,,2026-12-01,\n"
)


def test_import_preview_confirm_then_a_refill_programmed_as_reviewed(
    page: Any, login: Any, picks: Any, clinic: Any, tmp_path: Path
) -> None:
    """``picks`` first: the patients imported here are never picked by the other tests."""
    today = clinic.clock()  # the browser clinic's clock stands still
    SHOTS.mkdir(parents=True, exist_ok=True)
    login(page, "clinician")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Import").click()
    page.wait_for_url("**/import")
    check_accessible(page, "the import page")
    csv = tmp_path / "clinic.csv"
    csv.write_text(CSV, encoding="utf-8")
    page.set_input_files("#file", str(csv))
    page.get_by_role("button", name="Preview").click()
    page.wait_for_load_state()
    status = page.get_by_role("status").first.inner_text()
    assert "nothing is stored yet" in status
    rows = page.locator("#preview tbody tr.pump")
    assert rows.count() == 2
    first = rows.nth(0).locator("td").all_inner_texts()
    # 38 mL above the 2 mL alarm at 0.6 mL/day from 2026-11-14 10:00: 63 days 8 h; the vendor printed the same
    assert first[1] == "BRW-0001" and first[4].startswith("2027-01-16 18:00") and first[5] == "2027-01-16 18:00"
    assert first[7] == "none"
    assert "300 mcg/day" in first[3]
    second = rows.nth(1).locator("td").all_inner_texts()
    assert second[7] == "1, below"  # the Prometra's printed alarm is far off: the warning under its row
    assert "differs from ITB's forecast" in page.locator("#preview tr.pump-warnings").inner_text()
    page.screenshot(path=str(SHOTS / "import-preview.png"), full_page=True)
    check_accessible(page, "the import preview")

    page.get_by_role("button", name="Confirm import").click()
    page.wait_for_load_state()
    assert page.locator("#counts dt:text-is('Patients created') + dd").inner_text() == "2"
    check_accessible(page, "the import result")
    page.get_by_role("link", name="BRW-0001").click()
    page.wait_for_url(re.compile(r".*/patients/\d+$"))
    assert page.locator("h1").inner_text() == "Lena Brandt"
    assert page.locator("#sessions tbody tr").count() == 1  # the import's session
    assert page.locator("a[href$='/refill']").count() == 0  # ITB cannot talk to this pump

    page.get_by_role("link", name="Record a refill").click()
    page.wait_for_load_state()
    check_accessible(page, "the session form")
    at = today.replace(hour=8, minute=0)
    page.fill("#at", at.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#withdrawn_ml", "33.9 mL")
    page.fill("#vendor_expected_ml", "34.0 mL")
    page.fill("#added_ml", "40 mL")
    page.fill("#concentration_mcg_per_ml", "500 mcg/mL")
    page.select_option("#product", "Gablofen")
    page.fill("#lot", "GB-2291")
    page.get_by_role("button", name="Review").click()
    page.wait_for_load_state()
    # ITB's count: 40 mL less 0.6 mL/day for 9 days 22 h
    assert page.locator("#itb-expected").inner_text() == "34.05 mL"
    assert page.locator("#vendor-expected").inner_text().startswith("34.00 mL (-0.05 mL")
    alarm = (at + timedelta(days=38 / 0.6)).strftime("%Y-%m-%d %H:%M")  # 40 mL added, alarm at 2 mL
    assert page.locator("#new-alarm").inner_text() == alarm
    booked = datetime.strptime(page.locator("#booked").inner_text(), "%Y-%m-%d %H:%M")
    assert today < booked < at + timedelta(days=38 / 0.6)
    page.screenshot(path=str(SHOTS / "session-review.png"), full_page=True)
    check_accessible(page, "the session review")

    page.get_by_role("button", name="Programmed as reviewed").click()
    page.wait_for_url(re.compile(r".*/patients/\d+\?recorded=\d+$"))
    assert "Recorded: Refill session of 2026-11-24 08:00" in page.locator("#session-recorded").inner_text()
    assert page.locator("#sessions tbody tr").count() == 2
    assert page.locator("main dt:text-is('Low-reservoir alarm') + dd").first.inner_text() == alarm
    page.locator("#sessions-h").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "chart-sessions.png"))
    check_accessible(page, "the chart after the session")

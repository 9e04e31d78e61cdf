"""The chart of a constant-flow pump, without a browser (both databases): its card (the fixed flow,
the dose it gives, what changes the flow) and its dilution planner (the mix for a new dose, every
error by its entry, a link that prefills the refill session and records nothing).
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from test_clinic_import import FILE
from test_pages_security import browser

from itb.adapters.db import models as m
from itb.clinic import views
from itb.domain.constant_flow import flow_conditions

IMPORTED_AT = datetime(2026, 12, 1, 9, 0)


def imported(clinic: Any, users: Any, clock: Any, serial: str) -> m.Pump:
    clock.set(IMPORTED_AT)
    report = clinic.import_clinic(users["clinician"], FILE).json()
    row = next(r for r in report["rows"] if r["pump_serial"] == serial)
    return views.pump_record(clinic, users["clinician"], row["pump_id"])


@pytest.fixture
def cf_pump(clinic, users, clock) -> m.Pump:  # type: ignore[no-untyped-def]
    """The imported CF-1001: a 35 mL constant-flow pump at 0.5 mL/day of 2000 mcg/mL (1000 mcg/day)."""
    return imported(clinic, users, clock, "CF-1001")


def dd(page: str, id_: str) -> str:
    """The plain text of the element with that id."""
    found = re.search(rf'id="{id_}"[^>]*>(.*?)</(?:dd|div|p)>', page, flags=re.S)
    assert found, f"no #{id_}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def plan(client: Any, pump: m.Pump, **params: str) -> Any:
    return client.get(f"/patients/{pump.patient_id}", params=params)


def test_the_card_shows_the_fixed_flow_the_dose_and_what_changes_the_flow(app, passwords, cf_pump):
    nurse = browser(app, "nurse", passwords)
    page = nurse.get(f"/patients/{cf_pump.patient_id}").text
    assert 'id="constant-flow-h">Constant-flow pump</h2>' in page
    assert dd(page, "cf-flow").startswith("0.5 mL/day")
    assert dd(page, "cf-dose") == "1,000 mcg/day at 2,000 mcg/mL"
    assert "the dose changes only through the concentration" in page
    for c in flow_conditions():
        row = re.search(rf'<li id="condition-{c.name}">(.*?)</li>', page, flags=re.S)
        assert row, c.name
        text = html.unescape(row.group(1))
        assert c.direction.value in text and c.clinician in text and c.source in text
    assert "Battery (ERI)" not in page and "Low-reservoir alarm</dt>" not in page  # no battery, no alarm
    assert f"/pumps/{cf_pump.id}/refill" not in page and "Interrogate" not in page  # no telemetry
    # the planner as first opened: the reservoir's capacity as the total, nothing planned
    assert re.search(r'id="plan-total_ml" name="total_ml" value="35 mL"', page)
    assert 'id="dilution-result"' not in page
    assert "Nothing is recorded or sent" in page


def test_the_planner_gives_the_mix_and_a_link_that_prefills_the_refill(app, passwords, db, cf_pump):
    nurse = browser(app, "nurse", passwords)
    before = db.snapshot()
    answer = plan(nurse, cf_pump, target_dose="750", stock="2 mg/mL", total_ml="35 mL")
    assert answer.status_code == 200, answer.text
    assert db.snapshot() == before  # a plan records nothing
    page = answer.text
    assert dd(page, "plan-target").startswith("1,500 mcg/mL")
    assert dd(page, "plan-stock-ml") == "26.3 mL of 2,000 mcg/mL"
    assert dd(page, "plan-diluent-ml") == "8.7 mL preservative-free"
    assert dd(page, "plan-total-ml") == "35.0 mL"
    # 26.3 mL of 2000 mcg/mL in 35 mL: 1502.857 mcg/mL, at 0.5 mL/day 751.43 mcg/day
    assert dd(page, "plan-actual").startswith("1502.9 mcg/mL → 751.4 mcg/day (+0.19 % from the target")
    assert dd(page, "plan-change").startswith("-24.9 %")
    link = html.unescape(re.search(r'<a class="button" href="([^"]+)">Record this refill</a>', page).group(1))
    url = urlsplit(link)
    assert url.path == f"/pumps/{cf_pump.id}/session"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["kind"] == "refill" and query["concentration_mcg_per_ml"] == "1502.86 mcg/mL"
    assert query["added_ml"] == "35 mL"

    session = nurse.get(link)
    assert session.status_code == 200, session.text
    assert 'name="concentration_mcg_per_ml" value="1502.86 mcg/mL"' in session.text
    assert 'name="added_ml" value="35 mL"' in session.text
    assert 'id="planned"' in session.text and "dilution planner" in session.text
    assert db.snapshot() == before  # the session form is not the session either


def test_the_planner_reads_units_and_defaults_the_total_to_the_reservoir(app, passwords, cf_pump):
    nurse = browser(app, "nurse", passwords)
    page = plan(nurse, cf_pump, target_dose="0.45 mg/day", stock="2000").text
    # 450 / 0.5 = 900 mcg/mL; 35 mL × 900 / 2000 = 15.75 → 15.8 mL of stock, 19.2 mL of diluent
    assert dd(page, "plan-target").startswith("900 mcg/mL")
    assert dd(page, "plan-stock-ml").startswith("15.8 mL")
    assert dd(page, "plan-diluent-ml").startswith("19.2 mL")
    assert dd(page, "plan-total-ml") == "35.0 mL"


@pytest.mark.parametrize(
    ("params", "field", "label", "rule"),
    [
        ({"target_dose": "lots", "stock": "2000"}, "target_dose", "Target daily dose", "lots"),
        ({"target_dose": "450 mL", "stock": "2000"}, "target_dose", "Target daily dose", "mcg/day"),
        ({"target_dose": "450", "stock": "2 mg"}, "stock", "Stock concentration", "per mL"),
        ({"target_dose": "450", "stock": ""}, "stock", "Stock concentration", "is required"),
        ({"target_dose": "1500", "stock": "2000"}, "target_dose", "Target daily dose", "above the stock"),
        ({"target_dose": "450", "stock": "2000", "total_ml": "40 mL"}, "total_ml", "Total volume to fill", "overfill"),
        ({"target_dose": "450", "stock": "2000", "total_ml": "-3"}, "total_ml", "Total volume to fill", "negative"),
        ({"target_dose": "0.001", "stock": "2000"}, "target_dose", "Target daily dose", "too weak"),
    ],
)
def test_a_bad_entry_names_its_field_and_its_rule(app, passwords, db, cf_pump, params, field, label, rule):
    nurse = browser(app, "nurse", passwords)
    before = db.snapshot()
    answer = plan(nurse, cf_pump, **params)
    assert answer.status_code == 200 and "Traceback" not in answer.text
    page = html.unescape(answer.text)
    alerts = re.findall(r'<div class="finding refuse" role="alert">(.*?)</div>', page, flags=re.S)
    assert any(a.startswith(f"{label}: ") and rule in a for a in alerts), alerts
    assert re.search(rf'id="plan-{field}" name="{field}" [^>]*aria-invalid="true"', page)
    assert f'id="plan-{field}-error"' in page
    assert 'id="dilution-result"' not in page and "Record this refill" not in page
    assert f'value="{params[field]}"' in page  # the entry as typed, to correct
    assert db.snapshot() == before


def test_every_bad_entry_is_named_at_once(app, passwords, cf_pump):
    page = html.unescape(
        plan(browser(app, "nurse", passwords), cf_pump, target_dose="lots", stock="2000", total_ml="40").text
    )
    alerts = re.findall(r'<div class="finding refuse" role="alert">(.*?)</div>', page, flags=re.S)
    assert [a.split(":")[0] for a in alerts] == ["Target daily dose", "Total volume to fill"]
    assert "never overfill" in alerts[1]


def test_a_programmable_vendor_pump_shows_neither_the_card_nor_the_planner(app, clinic, users, passwords, clock):
    pump = imported(clinic, users, clock, "NGP123456H")
    page = browser(app, "clinician", passwords).get(f"/patients/{pump.patient_id}").text
    assert "Constant-flow pump" not in page and "Dilution planner" not in page and 'id="dilution"' not in page
    assert "Battery (ERI)" in page and "Low-reservoir alarm" in page
    # its session form takes no plan it did not ask for: the refill's own values
    form = browser(app, "nurse", passwords).get(f"/pumps/{pump.id}/session?kind=refill").text
    assert 'name="concentration_mcg_per_ml" value="500 mcg/mL"' in form and 'id="planned"' not in form


def test_a_caregiver_sees_no_planner(app, clinic, users, passwords, cf_pump):
    clinic.link_caregiver(users["admin"], cf_pump.patient_id, users["caregiver"].user_id)
    answer = browser(app, "caregiver", passwords).get(
        f"/patients/{cf_pump.patient_id}", params={"target_dose": "750", "stock": "2000"}
    )
    assert answer.status_code == 200
    assert "Dilution planner" not in answer.text and "Record this refill" not in answer.text

"""The clinic quality report and the complications record (both databases; the demo clinic on SQLite).

The report's page, CSV, PDF and API say the same figures, read in a fixed number of queries; the
staff's only (a caregiver: 404). A complication is recorded through the API or the form, audited,
and refused naming its field. The demo clinic's report counts what its record holds.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import event, func, select
from test_pages_security import browser
from test_task_pages import post, text_of

from itb.adapters.db import models as m
from itb.clinic.quality import quality_report, read_records, settings_of
from itb.clinic.services import SYSTEM
from itb.domain.quality import COLUMNS, Grouping

RANGE = "from=2026-11-01&to=2027-01-31&by=month"


def expect(response, status: int):  # type: ignore[no-untyped-def]
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response


@pytest.fixture
def history(clinic, users, child, pump, clock):  # type: ignore[no-untyped-def]
    """A missed visit (November), a refill booked for 2026-12-30, and a family's emergency report and
    the refill, late, 40 days after the implant (2027-01-02), 3 mL less withdrawn than expected."""
    visit = clinic.book(users["nurse"], child.id, kind="titration", at=clock.now + timedelta(days=2, hours=1))
    clinic.set_appointment_status(users["nurse"], visit.id, "missed")
    clinic.book(users["nurse"], child.id, kind="refill", at=datetime(2026, 12, 30, 10, 0), pump_id=pump.id)
    clock.advance(days=40)  # 2027-01-02: 12 mL left of 20 (0.2 mL/day)
    clinic.report_symptoms(users["caregiver"], child.id, ["high_fever", "confusion"], "since this morning")
    read = clinic.interrogate(users["nurse"], pump.id)
    refill = clinic.refill(
        users["nurse"], pump.id, withdrawn_ml=9.0, added_ml=18, concentration_mcg_per_ml=500,
        expected_version=read.version, acknowledged=("refill_discrepancy",),
    )  # fmt: skip
    return refill


def test_the_api_counts_the_records_of_each_period(client, child, pump, history):  # type: ignore[no-untyped-def]
    body = {"kind": "catheter_occlusion", "at": "2027-01-02T09:00", "refill_id": history.id, "notes": "dye study"}
    made = expect(client("clinician").post(f"/api/patients/{child.id}/complications", json=body), 201).json()
    assert (made["pump_id"], made["refill_id"], made["by"]) == (pump.id, history.id, "clinician")
    answer = expect(client("nurse").get(f"/api/reports/quality?{RANGE}"), 200).json()
    assert answer["columns"] == list(COLUMNS) and (answer["from"], answer["to"], answer["by"]) == (
        "2026-11-01", "2027-01-31", "month",
    )  # fmt: skip
    nov, dec, jan, total = answer["periods"]
    assert [p["period"] for p in answer["periods"]] == ["2026-11", "2026-12", "2027-01", "total"]
    assert (nov["pumps_in_service"], nov["implants"], nov["visits_missed"]) == (1, 1, 1)
    assert nov["pump_years"] == round((7 * 86400 + 15 * 3600) / 86400 / 365.25, 3)  # from 2026-11-23 09:00
    assert (jan["refills"], jan["discrepancies"], jan["discrepancies_not_reviewed"]) == (1, 1, 1)
    assert jan["discrepancy_causes"] == {"catheter_occlusion": 1}
    assert (jan["complications"], jan["complications_catheter_occlusion"], jan["triage_emergency"]) == (1, 1, 1)
    assert dec["refills"] == 0 and total["refills"] == 1 and total["visits_missed"] == 1
    assert (jan["refills_late"], jan["refills_after_booked_day"], jan["near_misses"]) == (1, 1, 0)
    january = expect(client("nurse").get("/api/reports/quality?from=2027-01-01&to=2027-01-31"), 200).json()
    assert january["periods"][0] == jan  # its booking, before the range, is read too


def test_the_page_csv_and_pdf_say_the_apis_figures(app, client, passwords, history):  # type: ignore[no-untyped-def]
    nurse = browser(app, "nurse", passwords)
    page = expect(nurse.get(f"/reports/quality?{RANGE}"), 200).text
    words = text_of(page)
    assert "Clinic quality report" in words and 'href="/reports/quality"' in page  # and the nav link
    assert page.count("<svg") == 3 and "Refills, late refills, near misses and dry episodes" in page
    assert 'id="row-refills"' in page and "Refill discrepancies over the threshold" in words

    answer = client("nurse").get(f"/api/reports/quality?{RANGE}").json()
    sheet = expect(nurse.get(f"/reports/quality.csv?{RANGE}"), 200)
    assert sheet.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == len(answer["periods"])
    for got, said in zip(rows, answer["periods"]):
        assert got["refills"] == str(said["refills"]) and got["pump_years"] == str(said["pump_years"])
        assert got["visits_missed"] == str(said["visits_missed"])

    printed = expect(nurse.get(f"/reports/quality.pdf?{RANGE}"), 200)
    assert printed.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(printed.content)).pages)
    assert "Clinic quality report" in text and "2027-01" in text and "Refills" in text
    assert "2026-11-01 to 2027-01-31, by month" in text


def test_the_report_is_the_staffs(app, client, anonymous, passwords, child):  # type: ignore[no-untyped-def]
    carer = browser(app, "caregiver", passwords)
    for path in ("/reports/quality", "/reports/quality.csv", "/reports/quality.pdf"):
        assert carer.get(path).status_code == 404, path
    assert client("caregiver").get("/api/reports/quality").status_code == 404
    assert anonymous.get("/api/reports/quality").status_code == 401
    assert anonymous.get("/reports/quality", follow_redirects=False).status_code == 303
    assert client("admin").get("/api/reports/quality").status_code == 200  # the 12 months to today


def test_a_bad_range_is_refused_naming_the_field(app, client, passwords):  # type: ignore[no-untyped-def]
    api = client("nurse")
    for query, field in (
        ("from=2026-02-30", "from"), ("from=2027-01-01&to=2026-01-01", "to"), ("from=2010-01-01&to=2026-01-01", "from"),
        ("from=0001-01-01&to=0001-02-01", "from"), ("to=9999-12-31", "to"),
    ):  # fmt: skip
        answer = expect(api.get(f"/api/reports/quality?{query}"), 422).json()
        assert field in str(answer["detail"]), (query, answer)
    assert api.get("/api/reports/quality?by=week").status_code == 422
    page = browser(app, "nurse", passwords).get("/reports/quality?by=week")
    assert page.status_code == 422 and "by" in page.text


def test_the_report_reads_in_seven_queries_whatever_the_records(clinic, engine, pump, make_patient, make_pump):  # type: ignore[no-untyped-def]
    def statements() -> int:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            with clinic.sessions() as s:
                read_records(s, date(2026, 11, 1), date(2027, 1, 31), settings_of(clinic))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    before = statements()
    for n in range(3):
        make_pump(make_patient(f"Pat {n}").id, serial=f"SN-Q{n}")
    assert statements() == before == 7


def test_a_complication_is_recorded_audited_and_refused_naming_its_field(
    client, db, child, other_child, pump, make_pump
):  # type: ignore[no-untyped-def]
    path = f"/api/patients/{child.id}/complications"
    api = client("nurse")
    made = expect(api.post(path, json={"kind": "infection", "at": "2026-11-20T08:00", "pump_id": pump.id}), 201).json()
    (entry,) = [e for e in db.audit() if e.action == "record_complication"]
    assert (entry.entity, entry.entity_id, entry.actor, entry.after["kind"]) == (
        "complication",
        made["id"],
        "nurse",
        "infection",
    )
    assert [c["id"] for c in expect(api.get(path), 200).json()] == [made["id"]]

    theirs = make_pump(other_child.id, serial="SN-OTHER")
    for body, field in (
        ({"kind": "rash", "at": "2026-11-20T08:00"}, "kind"),
        ({"kind": "infection", "at": "2026-11-30T08:00"}, "at"),  # after now
        ({"kind": "infection", "at": "2026-11-20T08:00", "pump_id": theirs.id}, "pump_id"),
        ({"kind": "infection", "at": "2026-11-20T08:00", "notes": "a\x00b"}, "notes"),
    ):
        answer = expect(api.post(path, json=body), 422).json()
        assert field in str(answer["detail"]), (body, answer)
    missing = {"kind": "infection", "at": "2026-11-20T08:00", "refill_id": 2**31 - 1}
    assert api.post(path, json=missing).status_code == 404
    assert db.count(m.Complication) == 1
    assert client("caregiver").post(path, json={"kind": "other", "at": "2026-11-20T08:00"}).status_code == 404
    assert client("caregiver").get(path).status_code == 404
    assert api.get("/api/patients/999999/complications").status_code == 404


def test_the_complications_form_records_one_and_names_a_bad_field(app, passwords, child, pump, db):  # type: ignore[no-untyped-def]
    nurse = browser(app, "nurse", passwords)
    path = f"/patients/{child.id}/complications"
    form = {"kind": "csf_leak", "day": "2026-11-22", "time": "15:30", "pump_id": str(pump.id), "notes": "seroma"}
    done = post(nurse, path, form)
    assert done.status_code == 303
    (stored,) = db.all(m.Complication)
    assert (stored.kind, stored.at, stored.pump_id, stored.notes) == (
        "csf_leak",
        datetime(2026, 11, 22, 15, 30),
        pump.id,
        "seroma",
    )
    assert "CSF leak or seroma" in text_of(nurse.get(done.headers["location"]).text)
    bad = post(nurse, path, {**form, "day": "22/11/2026"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text and "22/11/2026" in bad.text
    assert "Date: must be a date YYYY-MM-DD" in text_of(bad.text)
    assert db.count(m.Complication) == 1
    assert browser(app, "caregiver", passwords).get(path).status_code == 404


# ---------------------------------------------------------------------------------- the demo clinic


@pytest.fixture(scope="module")
def demo(tmp_path_factory):  # type: ignore[no-untyped-def]
    from itb.shell.clinic_setup import open_clinic
    from itb.simulation.demo_clinic import fill_demo_clinic

    clinic, engine = open_clinic(str(tmp_path_factory.mktemp("quality") / "c.db"))
    fill_demo_clinic(clinic, patients=5, today=datetime(2026, 3, 2, 8, 0))
    yield clinic
    engine.dispose()


def test_the_demo_clinics_report_counts_what_its_record_holds(demo):  # type: ignore[no-untyped-def]
    first, last = date(2019, 1, 1), date(2026, 3, 31)
    rows = quality_report(demo, SYSTEM, first, last, Grouping.QUARTER)
    *periods, total = rows
    with demo.sessions() as s:
        refills = s.execute(select(func.count()).select_from(m.Refill)).scalar_one()
        pumps = s.execute(select(func.count()).select_from(m.Pump)).scalar_one()
        missed = s.execute(select(func.count()).where(m.Appointment.status == "missed")).scalar_one()
        unreviewed = s.execute(
            select(func.count()).where(m.Refill.flagged, m.Refill.reviewed_by.is_(None))
        ).scalar_one()
    assert refills > 0 and total.refills == refills == sum(p.refills for p in periods)
    assert total.pumps_in_service == pumps == total.implants
    assert total.visits_missed == missed
    assert total.discrepancies_not_reviewed >= unreviewed >= 1  # the demo's 3 mL discrepancy, not yet reviewed
    assert total.pump_years == pytest.approx(sum(p.pump_years for p in periods))
    assert total.pump_years > 1 and total.dry_episodes == sum(p.dry_episodes for p in periods)


def test_migration_0015_adds_the_complications_and_goes_back(engine):  # type: ignore[no-untyped-def]
    """0015 on this database: the table is there and matches the model; down and up again."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from itb.adapters.db.engine import alembic_config

    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), m.Base.metadata)
    assert [d for d in diffs if "complications" in repr(d)] == []
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    below = ScriptDirectory.from_config(config).get_revision("0015").down_revision
    for target, present in ((below, False), ("head", True)):
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.upgrade if target == "head" else command.downgrade)(config, target)
        engine.dispose()
        assert ("complications" in sa.inspect(engine).get_table_names()) is present

"""Importing an existing clinic through the API (``shared/spec/clinic-import.md``), on SQLite and
PostgreSQL: all rows or none, every error with its row and column, idempotent, a dry run stores
nothing, the pumps are vendor-programmed (never sent a command) and on the worklist with the
forecast the report gave.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from itb.adapters.db import models as m
from itb.clinic.worklist import worklist
from itb.contracts.clinic_import import parse_clinic_csv
from itb.domain.worklist import Reason

FILE = (Path(__file__).parents[1] / "data" / "clinic-import" / "three-pumps.csv").read_text(encoding="utf-8")
CSV = {"content-type": "text/csv"}


def post(client, text: str = FILE, role: str = "clinician", **params):  # type: ignore[no-untyped-def]
    return client(role).post("/api/import", content=text.encode("utf-8"), headers=CSV, params=params)


def test_import_stores_vendor_pumps_with_the_forecast_the_report_gives(client, db):
    """The contract's "What the import does": patients, vendor-programmed pumps, the session, the
    booked refill, the audit entries; the pump's record reports the same alarm and empty instants."""
    answer = post(client)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["created"] == {"patients": 3, "pumps": 3, "sessions": 3, "appointments": 3}
    assert report["unchanged"] == 0 and report["errors"] == [] and report["dry_run"] is False
    rows = {r["pump_serial"]: r for r in report["rows"]}
    for serial, row in rows.items():
        pump = client("clinician").get(f"/api/pumps/{row['pump_id']}").json()
        assert pump["connection"] == "vendor" and pump["serial"] == serial
        assert pump["low_reservoir_alarm_at"] == row["low_reservoir_alarm_at"]
        assert pump["empty_at"] == row["empty_at"]
    assert rows["CF-1001"]["daily_dose_mcg"] == 1000 and rows["CF-1001"]["daily_volume_ml"] == 0.5
    assert rows["PRO-778"]["next_refill_on"] == "2026-12-20"  # next_refill_on as given
    # without next_refill_on: the clinic's own booking rule (7 days before the earliest plausible alarm)
    booked = date.fromisoformat(rows["NGP123456H"]["next_refill_on"])
    assert booked <= (datetime.fromisoformat(rows["NGP123456H"]["low_reservoir_alarm_at"]).date())
    actions = [e.action for e in db.audit()]
    assert actions.count("import_patient") == 3 and actions.count("import_pump") == 3
    assert client("admin").get("/api/audit").json()["chain_intact"] is True


def test_importing_the_same_file_again_stores_nothing_new(client, db):
    assert post(client).status_code == 200
    before, audited = db.snapshot(), db.audit_count()
    again = post(client).json()
    assert again["unchanged"] == 3 and again["created"] == dict.fromkeys(again["created"], 0)
    assert {r["status"] for r in again["rows"]} == {"unchanged"}
    assert db.snapshot() == before and db.audit_count() == audited


def test_a_dry_run_judges_everything_and_stores_nothing(client, db):
    before, audited = db.snapshot(), db.audit_count()
    report = post(client, dry_run="true").json()
    assert report["dry_run"] is True and {r["status"] for r in report["rows"]} == {"valid"}
    assert all(r["patient_id"] is None and r["pump_id"] is None for r in report["rows"])
    assert db.snapshot() == before and db.audit_count() == audited


def test_an_invalid_file_stores_nothing_and_lists_every_error(client, db):
    bad = FILE.replace("2015-04-02", "2015-02-30").replace("prometra-ii", "prometra-x")
    before = db.snapshot()
    answer = post(client, bad)
    assert answer.status_code == 422
    errors = {(e["row"], e["column"]) for e in answer.json()["errors"]}
    assert errors == {(2, "birth_date"), (3, "pump_model")}
    assert db.snapshot() == before


def test_a_known_patient_with_other_details_is_an_error_never_overwritten(client, db):
    assert post(client).status_code == 200
    renamed = FILE.replace("Okafor,Ada", "Okafor,Adaeze").replace("NGP123456H", "NGP000001H")
    answer = post(client, renamed)
    assert answer.status_code == 422
    row2 = {e["column"]: e["message"] for e in answer.json()["errors"] if e["row"] == 2}
    assert "never overwritten" in row2["family_name"]
    assert "implanted: retire it first" in row2["pump_serial"]  # and another pump for the same patient
    assert db.count(m.Pump) == 3


def test_a_vendor_alarm_off_by_more_than_a_day_stays_on_the_worklist_until_reviewed(client, clinic, db, clock):
    late = FILE.replace("2027-01-05", "2027-01-20")
    report = post(client, late).json()
    row = next(r for r in report["rows"] if r["pump_serial"] == "NGP123456H")
    assert row["warnings"] and "check the program and the volume entered" in row["warnings"][0]

    def reasons() -> set[Reason]:
        with db.sessions() as s:
            items = worklist(s, clock.now, clinic.config.booking)
        return next((set(i.reasons) for i in items if i.pump_id == row["pump_id"]), set())

    assert Reason.SESSION_CHECK in reasons()
    (session,) = client("clinician").get(f"/api/pumps/{row['pump_id']}/sessions").json()
    assert session["kind"] == "import" and session["warnings"] == row["warnings"]
    assert client("nurse").post(f"/api/pump-sessions/{session['id']}/review").status_code == 403
    assert client("clinician").post(f"/api/pump-sessions/{session['id']}/review").status_code == 200
    assert Reason.SESSION_CHECK not in reasons()


def test_a_vendor_programmed_pump_is_never_sent_a_command(client):
    report = post(client).json()
    pump_id = report["rows"][0]["pump_id"]
    version = client("nurse").get(f"/api/pumps/{pump_id}").json()["version"]
    for path, body in (
        (f"/api/pumps/{pump_id}/interrogations", None),
        (
            f"/api/pumps/{pump_id}/refills",
            {"withdrawn_ml": 2, "added_ml": 20, "concentration_mcg_per_ml": 500, "version": version},
        ),
    ):
        answer = client("nurse").post(path, json=body) if body else client("nurse").post(path)
        assert answer.status_code == 422, answer.text
        assert "vendor's programmer" in answer.text


def test_only_admins_and_clinicians_import(client, db):
    before = db.snapshot()
    assert post(client, role="nurse").status_code == 403
    assert post(client, role="caregiver").status_code == 403
    assert db.snapshot() == before


def test_a_multipart_upload_is_read_like_a_csv_body(client):
    files = {"file": ("clinic.csv", FILE.encode("utf-8"), "text/csv")}
    answer = client("clinician").post("/api/import", files=files, params={"dry_run": "true"})
    assert answer.status_code == 200 and len(answer.json()["rows"]) == 3


def test_the_imported_patients_charts_and_the_worklist_page_open(client, app, passwords):
    """An imported pump (a constant-flow one too: no battery, no MRI motor) has a chart like any
    other; the chart offers no telemetry buttons for a vendor-programmed pump."""
    from test_pages_security import browser

    report = post(client).json()
    staff = browser(app, "clinician", passwords)
    for row in report["rows"]:
        page = staff.get(f"/patients/{row['patient_id']}")
        assert page.status_code == 200, (row["pump_serial"], page.text[-500:])
        assert row["pump_serial"] in page.text and ">Interrogate<" not in page.text
    assert staff.get("/worklist").status_code == 200


def test_an_mri_for_a_constant_flow_pump_is_a_clear_422_not_a_500(client):
    report = post(client).json()
    row = next(r for r in report["rows"] if r["pump_serial"] == "CF-1001")
    answer = client("clinician").post(f"/api/patients/{row['patient_id']}/mri", json={"at": "2026-12-02T14:00:00"})
    assert answer.status_code == 422 and "constant-flow pump has no MRI checklist" in answer.text


def test_a_family_of_an_imported_patient_opens_its_page(client, clinic, users, app, passwords):
    """The family page of a vendor-programmed (here constant-flow) pump, as for any pump."""
    from test_pages_security import browser

    report = post(client).json()
    row = next(r for r in report["rows"] if r["pump_serial"] == "CF-1001")
    clinic.link_caregiver(users["admin"], row["patient_id"], users["caregiver"].user_id)
    family = browser(app, "caregiver", passwords)
    page = family.get("/family")
    assert page.status_code == 200, page.text[-400:]
    chart = family.get(f"/patients/{row['patient_id']}")
    assert chart.status_code == 200 and "vendor's programmer" in chart.text


# -- the reverse: the export (itb export, GET /api/export) ------------------------------------


def export(client, role: str = "clinician"):  # type: ignore[no-untyped-def]
    return client(role).get("/api/export")


def test_an_export_imports_again_unchanged_with_every_pump_as_it_stands(client, clock, db, pump):
    """The current state of every pump (a vendor pump after a recorded refill, a pump ITB talks to)
    in the import's columns: imported into the same clinic, every row is ``unchanged``."""
    clock.set(datetime(2026, 12, 1, 9, 0))
    rows = {r["pump_serial"]: r for r in post(client).json()["rows"]}
    vendor = rows["NGP123456H"]["pump_id"]
    version = client("nurse").get(f"/api/pumps/{vendor}").json()["version"]
    refill = {"kind": "refill", "at": "2026-12-01T08:30:00", "withdrawn_ml": 15.5, "added_ml": 20,
              "concentration_mcg_per_ml": 500, "version": version}  # fmt: skip
    assert client("nurse").post(f"/api/pumps/{vendor}/sessions", json=refill).status_code == 201
    answer = export(client)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    text = answer.text
    parsed, errors = parse_clinic_csv(text, clock.now.date())
    assert errors == [] and len(parsed) == 4  # the three imported and the one ITB talks to
    before, audited = db.snapshot(), db.audit_count()
    again = post(client, text).json()
    assert again.get("unchanged") == 4, again
    assert db.snapshot() == before and db.audit_count() == audited


def test_an_export_gives_another_clinic_the_same_forecast_to_the_second(client, clock, pump):
    """Each row's own forecast (as another clinic importing it computes it) is the record's."""
    clock.set(datetime(2026, 12, 1, 9, 0))
    post(client)
    parsed, errors = parse_clinic_csv(export(client).text, clock.now.date())
    assert errors == []
    for row in parsed:
        pump_id = next(
            p["id"] for pat in client("clinician").get("/api/patients").json()
            for p in client("clinician").get(f"/api/patients/{pat['id']}").json()["pumps"]
            if p["serial"] == row.values["pump_serial"]
        )  # fmt: skip
        stored = client("clinician").get(f"/api/pumps/{pump_id}").json()
        for name in ("low_reservoir_alarm_at", "empty_at"):
            mine = getattr(row.forecast, name)
            assert abs(mine - datetime.fromisoformat(stored[name])).total_seconds() < 1, (row.values, name)


def test_a_later_session_of_a_vendor_pump_updates_it_an_earlier_one_is_an_error(client, clock, db):
    """A clinic importing again while it moves over: a later state of a vendor pump is its next
    session (the forecast follows it); an earlier one than the record holds is never applied."""
    clock.set(datetime(2026, 12, 1, 9, 0))
    post(client)
    later = FILE.replace("2026-11-20T09:00,20,500,200", "2026-11-30T10:00,18,500,250")
    report = post(client, later).json()
    assert report["created"]["sessions"] == 1 and report["unchanged"] == 2, report
    pump_id = next(r["pump_id"] for r in report["rows"] if r["pump_serial"] == "NGP123456H")
    record = client("clinician").get(f"/api/pumps/{pump_id}").json()
    assert record["daily_dose_mcg"] == 250 and record["reading_reservoir_ml"] == 18
    assert record["program_version"] == 2
    earlier = FILE.replace("2026-11-20T09:00,20,500,200", "2026-11-25T10:00,19,500,200")
    before = db.snapshot()
    bad = post(client, earlier)
    assert bad.status_code == 422
    (error,) = bad.json()["errors"]
    assert error["row"] == 2 and error["column"] == "session_at" and "later session" in error["message"]
    assert db.snapshot() == before


def test_an_export_is_for_the_clinic_staff_who_import(client):
    assert export(client, "nurse").status_code == 403
    assert export(client, "admin").status_code == 200


def _pumps_file(count: int, first: int = 0) -> str:
    header = FILE.splitlines()[0]
    rows = [
        f"MRN-B{i:04d},Family{i},Given{i},1980-01-02,spinal,synchromed-ii,NGP-B{i:04d},20,2021-03-01,"
        f"2026-11-20T09:00,{18 + i % 3},500,{200 + i},,,{'2026-12-20' if i % 2 else ''}"
        for i in range(first, first + count)
    ]
    return "\n".join([header, *rows]) + "\n"


def test_an_import_sends_a_few_sql_statements_for_hundreds_of_rows(clinic, users, db):
    """The rows of a file are read and written together (on PostgreSQL a few statements for
    hundreds of rows, not several per row), and the audit chain is the one entry after entry gives."""
    from sqlalchemy import event

    from itb.clinic.audit import verify_chain

    def statements(text: str):  # type: ignore[no-untyped-def]
        sent: list[str] = []

        def count(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
            sent.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            report = clinic.import_clinic(users["clinician"], text)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(sent), report

    audited = db.audit_count()
    few, report = statements(_pumps_file(20))
    assert report.created["pumps"] == 20
    many, report = statements(_pumps_file(300, first=20))
    assert report.created == {"patients": 300, "pumps": 300, "sessions": 300, "appointments": 300}
    if db.engine.dialect.name == "postgresql":  # each INSERT sends all its rows at once
        assert many <= few + 5 and many <= 300 * 0.1, (few, many)
    else:  # SQLite gives the new records' ids one row at a time; no other statement per row
        assert many <= 300 * 5 + 20, (few, many)
    again, report = statements(_pumps_file(300, first=20))
    assert report.unchanged == 300 and again <= 300 * 0.05, again
    assert db.count(m.Pump) == 320 and db.audit_count() - audited == 320 * 4  # patient, pump, session, booking
    with db.sessions() as s:
        assert verify_chain(s) == []


def test_one_patient_under_two_references_in_a_file_gets_one_pump(clinic, users):
    """``P7`` and ``P07`` are one patient registered in ITB without a reference: the second row
    is refused as a second implanted pump, as if the rows were imported one after the other."""
    from itb.clinic.usecases.imports import ImportInvalid

    patient = clinic.register_patient(users["clinician"], name="Own Patient", birth_date=date(1980, 1, 2),
                                      origin="spinal")  # fmt: skip
    header = FILE.splitlines()[0]
    rows = [
        f"{ref},Patient,Own,1980-01-02,spinal,synchromed-ii,{serial},20,2021-03-01,2026-11-20T09:00,20,500,400,,,"
        for ref, serial in ((f"P{patient.id}", "OWN-1"), (f"P0{patient.id}", "OWN-2"))
    ]
    try:
        clinic.import_clinic(users["clinician"], "\n".join([header, *rows]) + "\n")
    except ImportInvalid as invalid:
        assert [(e.row, e.column) for e in invalid.errors] == [(3, "pump_serial")]
        assert "'OWN-1' implanted: retire it first" in str(invalid)
    else:
        raise AssertionError("the second row was not refused")

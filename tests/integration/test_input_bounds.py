"""Issue 14, "no 500 on any input": every finding of the attack and fuzzing pass, one test each, on
SQLite and PostgreSQL. Each input outside ``itb.contracts.bounds`` is a 422 naming the field (a
page: a 422 page), and a refused request stores nothing; a record already outside the bounds
(stored before them) still shows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from test_pages_security import browser, csrf_of

from itb.adapters.db import models as m
from itb.domain.errors import InvalidInput
from itb.domain.program import DosingProgram, OneTimeBolus, Step
from itb.web.api.answers import InvalidOut, NotSentOut

HUGE = 2**63
JSON = {"Content-Type": "application/json"}
IMPORT_FILE = Path(__file__).parents[1] / "data" / "clinic-import" / "three-pumps.csv"
#: the command line, as the installed ``itb`` runs it
ITB = [sys.executable, "-m", "itb"]


def locs(answer: Any) -> list[list[Any]]:
    """The fields a 422 names (each ``loc``, as FastAPI gives it)."""
    return [e["loc"] for e in answer.json()["detail"]]


def named(answer: Any, field: str) -> bool:
    """A 422 that names ``field`` (last in a ``loc``: ``["body", "note"]`` or ``["note"]``)."""
    return answer.status_code == 422 and any(loc[-1] == field or field in loc for loc in locs(answer))


def page_names(answer: Any, field: str) -> bool:
    """A 422 page (HTML, not JSON) naming ``field``."""
    return answer.status_code == 422 and answer.headers["content-type"].startswith("text/html") and field in answer.text


def patient_body(**fields: Any) -> dict[str, Any]:
    return {"name": "Lea K", "birth_date": "2014-06-01", "origin": "spinal", **fields}


# ---------------------------------------------------------------------------------- integers
def test_an_integer_beyond_64_bits_in_a_path_is_a_422(client, pump):
    doctor = client("clinician")
    for path in (f"/api/patients/{HUGE}", f"/api/pumps/{2**64}", f"/api/pumps/{HUGE}/events", "/api/patients/0"):
        answer = doctor.get(path)
        assert answer.status_code == 422, (path, answer.text)
    assert named(doctor.get(f"/api/patients/{HUGE}/titration"), "patient_id")
    assert named(doctor.get(f"/api/pumps/{pump.id}/events", params={"since": HUGE}), "since")
    assert named(doctor.post(f"/api/pumps/{HUGE}/interrogations"), "pump_id")
    assert doctor.get(f"/api/pumps/{2**31 - 1}").status_code == 404  # the largest id there can be: not found


def test_an_integer_beyond_64_bits_in_a_body_is_a_422(client, child, pump, db):
    doctor = client("clinician")
    before = db.snapshot()
    booking = {"patient_id": HUGE, "kind": "refill", "at": "2026-11-24T10:00:00"}
    assert named(doctor.post("/api/appointments", json=booking), "patient_id")
    refill = {"withdrawn_ml": 1, "added_ml": 10, "concentration_mcg_per_ml": 500, "version": HUGE}
    assert named(doctor.post(f"/api/pumps/{pump.id}/refills", json=refill), "version")
    assert named(doctor.post(f"/api/pumps/{pump.id}/retire", json={"version": -HUGE}), "version")
    assert db.snapshot() == before


def test_an_integer_beyond_64_bits_in_a_page_is_a_422_page(app, users, passwords, child):
    nurse = browser(app, "nurse", passwords)
    assert page_names(nurse.get(f"/patients/{HUGE}"), "patient_id")
    assert page_names(nurse.get(f"/pumps/{HUGE}/refill"), "pump_id")
    assert page_names(nurse.get("/worklist", params={"show": HUGE}), "show")
    csrf = csrf_of(nurse.get(f"/patients/{child.id}").text)
    booking = {"csrf": csrf, "patient_id": str(HUGE), "kind": "refill", "day": "2026-11-24"}
    assert page_names(nurse.post("/appointments/book", data=booking, follow_redirects=False), "patient_id")


def test_the_database_refuses_an_id_beyond_its_columns_as_bad_input(clinic, users):
    """The backstop: a use case given an id no INTEGER column holds (no edge checked it) names it."""
    with pytest.raises(InvalidInput, match="must be a whole number from -2147483648 to 2147483647"):
        clinic.set_phase(users["clinician"], HUGE, "maintenance")


# ---------------------------------------------------------------------------------- statuses and schemas
def test_a_body_that_is_not_utf8_is_a_declared_422(client, db):
    before = db.snapshot()
    answer = client("clinician").post("/api/patients", content=b'{"name": "\xff\xfe"}', headers=JSON)
    assert answer.status_code == 422 and locs(answer) == [["body"]]
    TypeAdapter(InvalidOut).validate_python(answer.json())
    assert db.snapshot() == before


def test_an_unsupported_method_names_every_method_of_its_path(client, child):
    answer = client("clinician").options(f"/api/patients/{child.id}")
    assert answer.status_code == 405
    assert set(answer.headers["allow"].split(", ")) == {"GET", "PATCH"}
    assert set(client("clinician").delete("/api/patients").headers["allow"].split(", ")) == {"GET", "POST"}


def test_a_refusal_by_the_limits_matches_its_declared_model(client, pump, db, spec):
    version = client("clinician").get(f"/api/pumps/{pump.id}").json()["version"]
    before = db.snapshot()
    answer = client("clinician").post(
        f"/api/pumps/{pump.id}/boluses", json={"kind": "single", "dose_mcg": 150, "version": version}
    )
    assert answer.status_code == 422
    refused = TypeAdapter(InvalidOut).validate_python(answer.json())
    assert isinstance(refused, NotSentOut) and "bolus_dose_max" in [f.code for f in refused.findings]
    declared = spec["paths"]["/api/pumps/{pump_id}/boluses"]["post"]["responses"]["422"]
    variants = declared["content"]["application/json"]["schema"]
    refs = {v["$ref"].rsplit("/", 1)[-1] for v in variants.get("anyOf", variants.get("oneOf", []))}
    assert refs == {"FieldsInvalidOut", "NotSentOut"}
    assert db.snapshot() == before


def test_the_schema_states_the_bounds(spec):
    """What the fuzzing pass found refused without the schema saying so is now in the document."""
    schemas = spec["components"]["schemas"]
    patient = schemas["PatientIn"]["properties"]
    assert patient["name"]["maxLength"] == 200 and patient["name"]["pattern"].startswith("^[^\\u0000")
    assert "1900-01-01" in patient["birth_date"]["description"]
    assert schemas["RefillIn"]["properties"]["acknowledged"]["maxItems"] == 64
    assert schemas["RefillIn"]["properties"]["version"]["maximum"] == 2**31 - 1
    assert schemas["SymptomReportIn"]["properties"]["symptoms"]["items"]["enum"]
    assert "synchromed-ii" in schemas["PumpIn"]["properties"]["model"]["enum"]
    assert "48 steps" in schemas["ProgramIn"]["properties"]["program"]["description"]
    path_id = spec["paths"]["/api/pumps/{pump_id}"]["get"]["parameters"][0]["schema"]
    assert (path_id["minimum"], path_id["maximum"]) == (1, 2**31 - 1)


@pytest.fixture
def spec(anonymous) -> dict:
    return anonymous.get("/openapi.json").json()


# ---------------------------------------------------------------------------------- text
def test_a_nul_byte_in_a_note_is_a_422_on_postgresql(app, client, clinic, users, passwords, child, db):
    """On both databases: PostgreSQL cannot store a NUL in text, SQLite would store what no page shows."""
    before = db.snapshot()
    note = {"symptoms": [], "note": "sleepy\x00since noon"}
    assert named(client("caregiver").post(f"/api/patients/{child.id}/symptom-reports", json=note), "note")
    family = browser(app, "caregiver", passwords)
    form = {"csrf": csrf_of(family.get("/family").text), "patient_id": str(child.id), "note": "a\x00b"}
    assert page_names(family.post("/family/symptoms", data=form, follow_redirects=False), "note")
    with pytest.raises(InvalidInput, match="notes: must not contain control characters"):
        clinic.book(users["nurse"], child.id, kind="refill", at=datetime(2026, 11, 24, 10), notes="a\x00b")
    signed = client("clinician").post("/api/auth/token", data={"username": "nurse\x00", "password": "x" * 12})
    assert signed.status_code in (401, 422)
    assert db.snapshot() == before


def test_a_nul_byte_no_edge_checked_is_refused_by_the_database_backstop(clinic, users, other_child, db):
    """A text no edge checks (a caregiver link's relation) reaches the backstop: 422, naming the column."""
    before = db.snapshot()
    with pytest.raises(InvalidInput) as refused:
        clinic.link_caregiver(users["admin"], other_child.id, users["caregiver"].user_id, relation="par\x00ent")
    assert [v.field for v in refused.value.violations] == ["relation"]
    assert db.snapshot() == before


def test_a_nan_or_a_lone_surrogate_in_json_is_a_422(client, child, db):
    doctor = client("clinician")
    before = db.snapshot()
    nan = b'{"name": "Lea K", "birth_date": "2014-06-01", "origin": "spinal", "weight_kg": NaN}'
    answer = doctor.post("/api/patients", content=nan, headers=JSON)
    assert named(answer, "weight_kg")
    surrogate = b'{"name": "Lea \\ud800", "birth_date": "2014-06-01", "origin": "spinal"}'
    answer = doctor.post("/api/patients", content=surrogate, headers=JSON)
    assert named(answer, "name")
    lone = b'{"symptoms": [], "note": "\\udc00"}'
    assert named(doctor.post(f"/api/patients/{child.id}/symptom-reports", content=lone, headers=JSON), "note")
    assert db.snapshot() == before


def test_a_10_mb_string_is_refused(app, client, passwords, db):
    ten_mb = "x" * 10_000_000
    before = db.snapshot()
    assert named(client("clinician").post("/api/patients", json=patient_body(name=ten_mb)), "name")
    nurse = browser(app, "nurse", passwords)
    form = {"name": ten_mb, "birth_date": "2014-06-01", "origin": "spinal"}
    token = csrf_of(nurse.get("/patients/new").text)
    too_long = nurse.post("/patients/new", data={"csrf": token, **form}, follow_redirects=False)
    assert page_names(too_long, "the form could not be read")  # past the forms' 1 MB a field, before any field is read
    one_mb = nurse.post("/patients/new", data={"csrf": token, **form, "name": "x" * 500_000}, follow_redirects=False)
    assert page_names(one_mb, "name")
    assert db.snapshot() == before


# ---------------------------------------------------------------------------------- list sizes
def test_100000_gas_goals_are_refused(client, child, db):
    goal = {"description": "walks to school", "weight": 1, "score": 0}
    before = db.snapshot()
    for count in (100_000, 21):
        body = {"kind": "gas", "data": {"goals": [goal] * count}}
        answer = client("clinician").post(f"/api/patients/{child.id}/assessments", json=body)
        assert named(answer, "goals"), answer.text[:300]
    assert db.snapshot() == before
    body = {"kind": "gas", "data": {"goals": [goal] * 20}}
    assert client("clinician").post(f"/api/patients/{child.id}/assessments", json=body).status_code == 201


def test_200000_acknowledged_codes_are_refused(client, clinic, users, pump, db):
    version = client("clinician").get(f"/api/pumps/{pump.id}").json()["version"]
    before = db.snapshot()
    body = {"kind": "single", "dose_mcg": 20, "version": version, "acknowledged": ["bolus_dose_high"] * 200_000}
    assert named(client("clinician").post(f"/api/pumps/{pump.id}/boluses", json=body), "acknowledged")
    with pytest.raises(InvalidInput, match="acknowledged: must have at most 64 items, got 200000"):
        clinic.give_bolus(
            users["clinician"], pump.id, kind="single", dose_mcg=20, expected_version=version,
            acknowledged=("bolus_dose_high",) * 200_000,
        )  # fmt: skip
    assert db.snapshot() == before


def test_a_1440_step_program_is_refused(client, clinic, users, pump, db):
    version = client("clinician").get(f"/api/pumps/{pump.id}").json()["version"]
    steps = [{"start": f"{i // 60:02d}:{i % 60:02d}", "rate_mcg_per_day": 100} for i in range(1440)]
    before = db.snapshot()
    body = {"program": {"steps": steps}, "version": version}
    answer = client("clinician").post(f"/api/pumps/{pump.id}/programs", json=body)
    assert named(answer, "program") and "at most 48" in answer.text
    every_minute = DosingProgram(tuple(Step(i, 100.0) for i in range(1440)))
    with pytest.raises(InvalidInput, match=r"program\.steps: must have at most 48 items, got 1440"):
        clinic.change_program(users["clinician"], pump.id, every_minute, expected_version=version)
    assert db.snapshot() == before


# ---------------------------------------------------------------------------------- dates
def test_a_birth_date_in_year_1_or_9999_is_refused(client, db):
    before = db.snapshot()
    for day in ("0001-01-01", "9999-12-31", "1899-12-31", "2026-11-24"):
        answer = client("nurse").post("/api/patients", json=patient_body(birth_date=day))
        assert named(answer, "birth_date") and "1900-01-01" in answer.text, day
    assert db.snapshot() == before
    assert client("nurse").post("/api/patients", json=patient_body(birth_date="1900-01-01")).status_code == 201


def test_a_bolus_in_1900_is_refused(client, clinic, users, pump, db):
    version = client("clinician").get(f"/api/pumps/{pump.id}").json()["version"]
    program = {
        "steps": [{"start": "00:00", "rate_mcg_per_day": 100}],
        "one_time_boluses": [{"at": "1900-01-01T08:00:00", "dose_mcg": 20, "duration_minutes": 30}],
    }
    before = db.snapshot()
    answer = client("clinician").post(f"/api/pumps/{pump.id}/programs", json={"program": program, "version": version})
    assert answer.status_code == 422 and ["program", "one_time_boluses[0]", "at"] in locs(answer), answer.text
    old = OneTimeBolus(datetime(1900, 1, 1, 8, 0), 20.0, 30.0)
    with pytest.raises(InvalidInput, match=r"program\.one_time_boluses\[0\]\.at: must be from"):
        clinic.preview_program(users["clinician"], pump.id, DosingProgram((Step(0, 100.0),), one_time_boluses=(old,)))
    assert db.snapshot() == before


def test_a_year_9999_appointment_is_refused(app, client, passwords, child, pump, db):
    before = db.snapshot()
    booking = {"patient_id": child.id, "kind": "refill", "at": "9999-12-31T10:00:00"}
    assert named(client("nurse").post("/api/appointments", json=booking), "at")
    mri = {"at": "9999-12-31T23:59:00", "duration_minutes": 60}
    assert named(client("nurse").post(f"/api/patients/{child.id}/mri", json=mri), "at")
    nurse = browser(app, "nurse", passwords)
    form = {"csrf": csrf_of(nurse.get(f"/patients/{child.id}").text), "patient_id": str(child.id), "kind": "refill"}
    assert page_names(
        nurse.post("/appointments/book", data={**form, "day": "9999-12-31"}, follow_redirects=False), "at"
    )
    assert db.snapshot() == before


def test_a_stored_year_9999_appointment_leaves_the_chart_feed_and_week_up(
    app, client, clinic, users, passwords, child, pump, db
):
    """A record written before the bounds (or by hand) still shows wherever it is listed."""
    with db.sessions.begin() as s:
        for at in (datetime(9999, 12, 31, 23, 45), datetime(1, 1, 1, 0, 0)):
            s.add(m.Appointment(patient_id=child.id, pump_id=pump.id, kind="refill", at=at, by="nurse"))
    nurse = browser(app, "nurse", passwords)
    for path in (f"/patients/{child.id}", "/appointments", "/worklist", f"/patients/{child.id}/appointments.ics"):
        assert nurse.get(path).status_code == 200, path
    assert "99991231T234500" in nurse.get(f"/patients/{child.id}/appointments.ics").text
    secret = clinic.new_calendar_link(users["caregiver"], child.id)
    feed = browser(app, None, passwords).get(f"/calendar/{secret}.ics")
    assert feed.status_code == 200 and "DTSTART" in feed.text
    assert browser(app, "caregiver", passwords).get("/family").status_code == 200
    api = client("nurse")
    assert api.get(f"/api/patients/{child.id}").status_code == 200
    listed = api.get("/api/appointments", params={"start": "0001-01-01", "end": "9999-12-31"})
    assert listed.status_code == 200 and len(listed.json()) == 2


def test_a_bad_week_on_the_appointments_page_is_a_422_page(app, passwords, users):
    nurse = browser(app, "nurse", passwords)
    for week in ("x", "9999-12-27", "0001-01-01", "2026-13-01"):
        assert page_names(nurse.get("/appointments", params={"week": week}), "week"), week
    assert nurse.get("/appointments", params={"week": "2026-11-23"}).status_code == 200


def test_a_bad_patient_id_on_the_family_form_is_a_422_page(app, passwords, child, db):
    family = browser(app, "caregiver", passwords)
    csrf = csrf_of(family.get("/family").text)
    before = db.snapshot()
    for given in ("abc", "", str(HUGE), "-1", "١٢"):
        form = {"csrf": csrf, "patient_id": given, "symptoms": "itching"}
        assert page_names(family.post("/family/symptoms", data=form, follow_redirects=False), "patient_id"), given
    assert db.snapshot() == before


# ---------------------------------------------------------------------------------- whole or nothing
def test_a_refused_mri_booking_stores_nothing(client, child, pump, db):
    """The scan on a clinic day, its check (at the scan's end) on a Saturday: neither is stored."""
    before = db.snapshot()
    friday_evening = {"at": "2026-11-27T20:00:00", "duration_minutes": 480}
    answer = client("nurse").post(f"/api/patients/{child.id}/mri", json=friday_evening)
    assert named(answer, "duration_minutes") and "not a clinic day" in answer.text
    assert db.snapshot() == before
    assert client("nurse").post(f"/api/patients/{child.id}/mri", json={"at": "2026-11-26T10:00:00"}).status_code == 201
    assert db.count(m.Appointment) == before["appointments"] + 2


def test_a_refused_cli_session_stores_nothing(db_url, db, tmp_path, monkeypatch):
    """``itb session`` on a vendor pump: a session in 1900 or a program of 1,440 steps is refused
    (exit 2, the field named) and nothing is stored. The commands run in this process (the
    installed command's own start is tests/cli's)."""
    from typer.testing import CliRunner

    from itb.cli import app

    monkeypatch.setenv("ITB_HOME", str(tmp_path / "cli"))
    monkeypatch.setenv("ITB_DATABASE_URL", db_url)
    runner = CliRunner()

    imported = runner.invoke(app, ["import", str(IMPORT_FILE), "--json"])
    assert imported.exit_code == 0, imported.output
    pump_id = json.loads(imported.stdout)["rows"][0]["pump_id"]
    before = db.snapshot()
    old = runner.invoke(app, ["session", str(pump_id), "bolus", "--at", "1900-01-01T10:00", "--bolus", "20"])
    assert old.exit_code == 2 and "at: must be from" in old.stderr, old.output
    steps = ";".join(f"{i // 60:02d}:{i % 60:02d}=100" for i in range(1440))
    long = runner.invoke(app, ["session", str(pump_id), "program", "--program", steps])
    assert long.exit_code == 2 and "at most 48" in long.stderr, long.output
    assert db.snapshot() == before


def test_a_pump_state_file_with_a_clock_of_1e300_is_refused(tmp_path):
    """``itb pump serve`` on a state file whose clock is 1e300 s: exit 2 naming ``t``, not a traceback."""
    from itb.cli import default_scenario
    from itb.pump.state_file import PumpStore

    state = tmp_path / "pump.json"
    PumpStore(state).create(json.loads(default_scenario().read_text()))
    saved = json.loads(state.read_text())
    state.write_text(json.dumps({**saved, "t": 1e300}))
    served = subprocess.run(
        [*ITB, "pump", "serve", "--state", str(state), "--port", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert served.returncode == 2 and "t: must be >= 0" in served.stderr and "Traceback" not in served.stderr
    state.write_text(json.dumps({**saved, "journal": [{"t": 1e300, "request": {}}]}))
    with pytest.raises(InvalidInput, match=r"journal\[0\]\.t"):
        PumpStore(state).load()


def test_the_bounds_hold_on_the_days_around_today(clinic, users, child, clock):
    """The windows move with the clinic's clock: a booking 5 years ahead is taken, a day more is not."""
    clock.set(datetime(2026, 11, 23, 9, 0))
    last = date(2031, 11, 21)  # a Friday: the clinic is open
    assert clinic.book(users["nurse"], child.id, kind="refill", at=datetime.combine(last, datetime.min.time()))
    with pytest.raises(InvalidInput, match="at: must be from 2006-11-23 to 2031-11-23"):
        clinic.book(users["nurse"], child.id, kind="refill", at=datetime(2031, 11, 24, 10))

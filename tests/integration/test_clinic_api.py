"""The clinic's REST API through httpx (FastAPI's TestClient), on SQLite and PostgreSQL.

Every endpoint, the token flow, who may do what, and what a failed request leaves behind
(nothing: no row, no audit entry, the pump untouched).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from itb.adapters.db import models as m
from itb.contracts.forecast import program_json
from itb.domain.program import DosingProgram
from itb.interop.fhir_bundle import RESOURCE_TYPES

#: Every endpoint of the app (method, path), each exercised below; a new one must be added here and tested.
ENDPOINTS = {
    ("POST", "/api/auth/token"),
    ("GET", "/api/health"),
    ("GET", "/api/patients"),
    ("POST", "/api/patients"),
    ("GET", "/api/patients/{patient_id}"),
    ("POST", "/api/patients/{patient_id}/pumps"),
    ("POST", "/api/patients/{patient_id}/screenings"),
    ("POST", "/api/patients/{patient_id}/phase"),
    ("POST", "/api/patients/{patient_id}/mri"),
    ("GET", "/api/patients/{patient_id}/symptom-reports"),
    ("GET", "/api/patients/{patient_id}/assessments"),
    ("POST", "/api/patients/{patient_id}/assessments"),
    ("GET", "/api/pumps/{pump_id}"),
    ("POST", "/api/pumps/{pump_id}/interrogations"),
    ("POST", "/api/pumps/{pump_id}/programs"),
    ("POST", "/api/pumps/{pump_id}/refills"),
    ("POST", "/api/pumps/{pump_id}/boluses"),
    ("GET", "/api/pumps/{pump_id}/sessions"),
    ("POST", "/api/pumps/{pump_id}/sessions"),
    ("POST", "/api/pump-sessions/{session_id}/review"),
    ("POST", "/api/import"),
    ("GET", "/api/export"),
    ("POST", "/api/pumps/{pump_id}/retire"),
    ("GET", "/api/pumps/{pump_id}/events"),
    ("POST", "/api/pumps/{pump_id}/resolve-regression"),
    ("POST", "/api/pump-changes/{change_id}/review"),
    ("POST", "/api/refills/{refill_id}/review"),
    ("GET", "/api/appointments"),
    ("POST", "/api/appointments"),
    ("POST", "/api/appointments/{appointment_id}/status"),
    ("GET", "/api/worklist"),
    ("GET", "/api/audit"),
    ("GET", "/api/audit/verify"),  # issue 14, the keyed audit chain (tested in test_audit_key.py)
    # issue 13, API parity (tested in test_api_parity.py)
    ("PATCH", "/api/patients/{patient_id}"),
    ("GET", "/api/patients/{patient_id}/titration"),
    ("GET", "/api/patients/{patient_id}/pump-size"),
    ("GET", "/api/pumps/{pump_id}/replacement"),
    ("GET", "/api/pumps/{pump_id}/csf"),
    ("GET", "/api/pumps/{pump_id}/program-versions"),
    ("GET", "/api/refills/{refill_id}"),
    ("GET", "/api/pump-sessions/{session_id}"),
}
#: issue 13, API parity (tested in test_api_parity.py): a family's symptom report, and its review
ENDPOINTS |= {
    ("POST", "/api/patients/{patient_id}/symptom-reports"),
    ("POST", "/api/symptom-reports/{report_id}/review"),
}
#: issue 14, signing out (tested in test_auth_hardening.py)
ENDPOINTS |= {("POST", "/api/auth/logout")}
#: issue 13, the clinic's settings (tested in test_clinic_settings_service.py)
ENDPOINTS |= {
    ("GET", "/api/clinic/contacts"),
    ("GET", "/api/clinic/settings"),
    ("PUT", "/api/clinic/settings"),
}
#: the contacts and the outbox (tested in test_notify_api.py)
ENDPOINTS |= {
    ("GET", "/api/patients/{patient_id}/contacts"),
    ("POST", "/api/patients/{patient_id}/contacts"),
    ("GET", "/api/staff-contacts"),
    ("POST", "/api/staff-contacts"),
    ("PUT", "/api/contacts/{contact_id}"),
    ("POST", "/api/contacts/{contact_id}/remove"),
    ("GET", "/api/notifications"),
    ("POST", "/api/notifications/run"),
    # the quality report and complications (tests/integration/test_quality_report.py)
    ("GET", "/api/reports/quality"),
    ("GET", "/api/patients/{patient_id}/complications"),
    ("POST", "/api/patients/{patient_id}/complications"),
    # the read-only FHIR API (tests/integration/test_fhir_api.py): read and search of each type
    ("GET", "/fhir/metadata"),
    ("GET", "/fhir/Patient/{rid}/$everything"),
    *(("GET", f"/fhir/{kind}{tail}") for kind in RESOURCE_TYPES for tail in ("", "/{rid}")),
}
#: the writes a caregiver may make: signing in and out, and a symptom report for their own child (for
#: another family's child it is "not found"); every other write of the app is the staff's. Their own
#: child's contacts too (another child's: "not found"; the staff's: "not allowed", test_notify_api.py)
FAMILY_WRITES = {
    ("POST", "/api/auth/token"),
    ("POST", "/api/auth/logout"),
    ("POST", "/api/patients/{patient_id}/symptom-reports"),
    ("POST", "/api/patients/{patient_id}/contacts"),
    ("PUT", "/api/contacts/{contact_id}"),
    ("POST", "/api/contacts/{contact_id}/remove"),
}

#: the clinic's settings, as an admin sends them (null: the startup default)
SETTINGS = (
    "name", "day_phone", "after_hours_phone", "clinic_days", "closed_days", "refill_margin_days", "stale_margin_days",
    "smtp_url", "smtp_user", "notify_from", "webhook_url",
)  # fmt: skip


def api_writes(app) -> list[tuple[str, str, Any]]:
    """Every write the app routes under /api (method, path, route), found in the app's own routes."""
    found = [
        (method, r.path, r)
        for r in app.routes
        if getattr(r, "path", "").startswith("/api/")
        for method in r.methods
        if method not in ("GET", "HEAD", "OPTIONS")
    ]
    return sorted(found, key=lambda w: (w[1], w[0]))


def rate(mcg_per_day: float) -> dict:
    return {"steps": [{"start": "00:00", "rate_mcg_per_day": mcg_per_day}]}


PATIENT = {"name": "Ana B", "birth_date": "2018-05-02", "origin": "cerebral", "gmfcs": 4}
PUMP = {
    "model": "peristaltic",
    "serial": "SN-API",
    "reservoir_capacity_ml": 20,
    "catheter_length_cm": 50,
    "reservoir_ml": 20,
    "concentration_mcg_per_ml": 500,
    "program": rate(100),
    "implanted_at": "2026-11-23T08:00:00",
    "acknowledged": ["no_positive_screening"],  # no screening trial is recorded in these tests
}


def expect(response, status: int) -> dict | list:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


def locs(response) -> list[list]:
    return [d["loc"] for d in response.json()["detail"]]


def fill(path: str, **ids: int) -> str:
    return path.format(**ids)


# ---------------------------------------------------------------------------------- the app's surface


def test_openapi_lists_every_endpoint_and_each_is_tested(app, anonymous):
    spec = expect(anonymous.get("/openapi.json"), 200)
    listed = {(method.upper(), path) for path, methods in spec["paths"].items() for method in methods}
    assert listed == ENDPOINTS
    routed = {
        (method, r.path)
        for r in app.routes
        if getattr(r, "path", "").startswith(("/api", "/fhir"))  # (pages are an included router, no such routes)
        for method in r.methods
    }
    assert routed == ENDPOINTS
    assert expect(anonymous.get("/api/health"), 200)["status"] == "ok"


def test_token_flow(anonymous, client, users, passwords):
    answer = expect(anonymous.post("/api/auth/token", data={"username": "nurse", "password": passwords["nurse"]}), 200)
    assert answer["token_type"] == "bearer" and answer["role"] == "nurse"
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["uid"]) == ("nurse", "nurse", users["nurse"].user_id)

    wrong = anonymous.post("/api/auth/token", data={"username": "nurse", "password": "not-the-password"})
    assert wrong.status_code == 401 and "access_token" not in wrong.json()
    assert anonymous.post("/api/auth/token", data={"username": "nobody", "password": "whatever-1"}).status_code == 401
    assert anonymous.post("/api/auth/token", data={"username": "nurse"}).status_code == 422

    assert anonymous.get("/api/patients").status_code == 401  # no token
    for token in (
        "not-a-token",
        jwt.encode({"sub": "admin", "role": "admin", "uid": 1}, "another-secret-" + "x" * 32, algorithm="HS256"),
        jwt.encode({"sub": "admin", "role": "admin", "uid": 1}, None, algorithm="none"),  # unsigned
    ):
        bad = anonymous.get("/api/patients", headers={"Authorization": f"Bearer {token}"})
        assert bad.status_code == 401, token
        assert bad.headers["www-authenticate"] == "Bearer"
    assert expect(client("nurse").get("/api/patients"), 200) == []


def test_an_expired_token_is_refused(app, anonymous, users):
    secret = app.state.secret
    claims = {"sub": "admin", "role": "admin", "uid": users["admin"].user_id, "ver": 0}
    fresh = jwt.encode({**claims, "exp": datetime.now(UTC) + timedelta(minutes=5)}, secret, algorithm="HS256")
    stale = jwt.encode({**claims, "exp": datetime.now(UTC) - timedelta(minutes=5)}, secret, algorithm="HS256")
    assert anonymous.get("/api/audit", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    assert anonymous.get("/api/audit", headers={"Authorization": f"Bearer {stale}"}).status_code == 401


# ---------------------------------------------------------------------------------- every endpoint, in clinic order


def test_the_whole_clinic_over_the_api(client, clock, db):
    admin, doctor, nurse = client("admin"), client("clinician"), client("nurse")

    patient = expect(doctor.post("/api/patients", json=PATIENT), 201)
    assert (patient["name"], patient["phase"], patient["high_risk"]) == ("Ana B", "screening", False)
    pid = patient["id"]
    assert [p["id"] for p in expect(nurse.get("/api/patients"), 200)] == [pid]

    screening = {"dose_mcg": 50, "mas_before": {"hamstrings": "3"}, "mas_after": {"hamstrings": "1+"}}
    trial = expect(doctor.post(f"/api/patients/{pid}/screenings", json=screening), 201)
    assert trial["responded"] is True and trial["mas_after"] == {"hamstrings": "1+"}
    mas = expect(doctor.post(f"/api/patients/{pid}/assessments", json={"kind": "mas", "data": {"hip": "1+"}}), 201)
    assert mas["data"] == {"hip": "1+"}
    listed = expect(nurse.get(f"/api/patients/{pid}/assessments"), 200)
    assert {(a["id"], a["kind"]) for a in listed} == {(mas["id"], "mas"), (trial["id"], "screening")}

    pump = expect(doctor.post(f"/api/patients/{pid}/pumps", json=PUMP), 201)
    assert "virtual_state" not in pump
    assert pump["program"] == rate(100) and pump["program_version"] == 1 and pump["status"] == "implanted"
    assert pump["low_reservoir_alarm_at"] == (clock.now + timedelta(days=90)).isoformat()
    pump_id = pump["id"]
    record = expect(nurse.get(f"/api/patients/{pid}"), 200)
    assert record["phase"] == "titrating" and [p["id"] for p in record["pumps"]] == [pump_id]

    clock.advance(days=1, hours=2)
    pump = expect(nurse.post(f"/api/pumps/{pump_id}/interrogations"), 201)
    assert pump["last_interrogation_at"] == clock.now.isoformat()
    assert pump["reading_reservoir_ml"] == pytest.approx(20 - 0.2 * 26 / 24, abs=1e-6)
    assert pump["estimated_reservoir_ml_now"] == pytest.approx(pump["reading_reservoir_ml"])

    changed = expect(
        doctor.post(f"/api/pumps/{pump_id}/programs", json={"program": rate(110), "version": pump["version"]}), 201
    )
    assert changed["program"] == rate(110) and changed["program_version"] == 2
    assert changed["version"] > pump["version"]

    clock.advance(days=9)
    expected = changed["reading_reservoir_ml"] - 0.22 * 9
    refill = expect(
        nurse.post(
            f"/api/pumps/{pump_id}/refills",
            json={
                "withdrawn_ml": round(expected - 2.5, 3),
                "added_ml": 20,
                "concentration_mcg_per_ml": 500,
                "version": changed["version"],
                "lot": "L-7",
                "acknowledged": ["refill_discrepancy"],
            },
        ),
        201,
    )
    assert refill["flagged"] is True and refill["expected_ml"] == pytest.approx(expected, abs=1e-6)
    assert refill["acknowledged"] == ["refill_discrepancy"] and refill["lot"] == "L-7"

    detail = expect(nurse.get(f"/api/pumps/{pump_id}"), 200)
    assert [r["id"] for r in detail["refills"]] == [refill["id"]]
    assert [(v["version"], v["daily_dose_mcg"]) for v in detail["program_versions"]] == [(1, 100), (2, 110)]
    assert detail["reading_reservoir_ml"] == pytest.approx(20) and detail["pending_changes"] == []

    (booked,) = [a for a in expect(nurse.get("/api/appointments"), 200) if a["kind"] == "refill"]
    assert (booked["kind"], booked["status"], booked["pump_id"]) == ("refill", "booked", pump_id)
    assert datetime.fromisoformat(booked["at"]) < datetime.fromisoformat(detail["low_reservoir_alarm_at"])

    titration = expect(
        nurse.post(
            "/api/appointments",
            json={
                "patient_id": pid,
                "kind": "titration",
                "at": "2026-12-14T11:00:00",
                "notes": "2 weeks after the change",
            },
        ),
        201,
    )
    assert titration["status"] == "booked" and titration["by"] == "nurse"
    window = {"status": "booked", "start": "2026-12-14", "end": "2026-12-14"}
    assert [a["id"] for a in expect(nurse.get("/api/appointments", params=window), 200)] == [titration["id"]]
    assert expect(nurse.get("/api/appointments", params={"status": "done"}), 200) == []
    done = expect(nurse.post(f"/api/appointments/{titration['id']}/status", json={"status": "done"}), 200)
    assert done["status"] == "done"

    (item,) = expect(nurse.get("/api/worklist"), 200)
    assert item["pump_id"] == pump_id and "discrepancy" in item["reasons"]
    # refilled to 20 mL, 0.22 mL a day (90.9 days by the pump's count); the worklist plans from the
    # earliest plausible empty reservoir, the learned flow's upper bound
    learned = expect(nurse.get(f"/api/pumps/{pump_id}"), 200)["flow"]
    earliest_empty = datetime.fromisoformat(learned["earliest_empty_at"])
    assert item["days_until_empty"] == pytest.approx((earliest_empty - clock.now) / timedelta(days=1), abs=1e-3)
    assert 20 / 0.22 / 1.2 < item["days_until_empty"] < 20 / 0.22
    reviewed = expect(doctor.post(f"/api/refills/{refill['id']}/review"), 200)
    assert reviewed["reviewed_by"] == "clinician"
    assert all("discrepancy" not in i["reasons"] for i in expect(nurse.get("/api/worklist"), 200))

    version = expect(nurse.get(f"/api/pumps/{pump_id}"), 200)["version"]
    retired = expect(doctor.post(f"/api/pumps/{pump_id}/retire", json={"version": version, "reason": "ERI"}), 200)
    assert retired["status"] == "explanted" and retired["explanted_at"] == clock.now.isoformat()
    assert expect(nurse.get("/api/worklist"), 200) == []

    audit = expect(admin.get("/api/audit", params={"limit": 1000}), 200)
    assert audit["chain_intact"] is True
    actions = [e["action"] for e in reversed(audit["entries"])]
    assert actions[-3:] == ["appointment_done", "review_discrepancy", "retire_pump"]
    assert len(audit["entries"]) == db.audit_count()
    page = expect(admin.get("/api/audit", params={"limit": 2, "before_id": audit["entries"][0]["id"]}), 200)
    assert [e["id"] for e in page["entries"]] == [e["id"] for e in audit["entries"][1:3]]


# ---------------------------------------------------------------------------------- roles


def test_a_caregiver_sees_only_their_own_child_and_writes_nothing(
    app, client, clinic, users, child, other_child, pump, make_pump, db
):
    """Every write of the app (found in its routes) but a family's own is refused to a caregiver,
    for their own child too, and stores nothing; a new write needs its body here to be sent."""
    theirs = make_pump(other_child.id, serial="SN-OTHER")
    carer = client("caregiver")
    assert [p["id"] for p in expect(carer.get("/api/patients"), 200)] == [child.id]
    assert expect(carer.get(f"/api/patients/{child.id}"), 200)["pumps"][0]["id"] == pump.id
    assert expect(carer.get(f"/api/pumps/{pump.id}"), 200)["id"] == pump.id
    assert carer.get(f"/api/patients/{other_child.id}").status_code == 404
    assert carer.get(f"/api/pumps/{theirs.id}").status_code == 404
    assert carer.get(f"/api/patients/{other_child.id}/assessments").status_code == 404
    assert expect(carer.get(f"/api/patients/{child.id}/assessments"), 200) == []
    assert {i["patient_id"] for i in expect(carer.get("/api/worklist"), 200)} == {child.id}
    assert len(expect(client("nurse").get("/api/worklist"), 200)) == 2
    client("nurse").post(
        "/api/appointments", json={"patient_id": other_child.id, "kind": "refill", "at": "2026-12-01T10:00:00"}
    )
    assert expect(carer.get("/api/appointments"), 200) == []

    report = clinic.report_symptoms(users["caregiver"], child.id, ["itching"], "")  # theirs to make, not to review

    before, audited = db.snapshot(), db.audit_count()
    ids = {
        "patient_id": child.id,
        "pump_id": pump.id,
        "refill_id": 1,
        "appointment_id": 1,
        "change_id": 1,
        "session_id": 1,
        "report_id": report.id,
    }
    bodies = {
        "/api/patients": PATIENT,
        "/api/patients/{patient_id}/pumps": {**PUMP, "serial": "SN-CARER"},
        "/api/patients/{patient_id}/screenings": {"dose_mcg": 50, "mas_before": {"h": "2"}, "mas_after": {"h": "1"}},
        "/api/patients/{patient_id}/assessments": {"kind": "mas", "data": {"h": "2"}},
        "/api/patients/{patient_id}/phase": {"phase": "maintenance"},
        "/api/patients/{patient_id}/mri": {"at": "2026-12-02T14:00:00"},
        "/api/pumps/{pump_id}/programs": {"program": rate(100), "version": pump.version},
        "/api/pumps/{pump_id}/refills": {
            "withdrawn_ml": 20,
            "added_ml": 20,
            "concentration_mcg_per_ml": 500,
            "version": pump.version,
        },
        "/api/pumps/{pump_id}/boluses": {"kind": "single", "dose_mcg": 25, "version": pump.version},
        "/api/pumps/{pump_id}/sessions": {
            "kind": "interrogation",
            "at": "2026-11-23T08:00:00",
            "reservoir_ml": 10,
            "version": pump.version,
        },
        "/api/pumps/{pump_id}/retire": {"version": pump.version},
        "/api/pumps/{pump_id}/resolve-regression": {"version": pump.version, "note": "checked"},
        "/api/pump-changes/{change_id}/review": {"note": "checked"},
        "/api/appointments": {"patient_id": child.id, "kind": "refill", "at": "2026-12-02T10:00:00"},
        "/api/appointments/{appointment_id}/status": {"status": "cancelled"},
        "/api/patients/{patient_id}": {"name": "Ana Carer"},
        "/api/symptom-reports/{report_id}/review": {"note": "called back"},
        "/api/clinic/settings": {**dict.fromkeys(SETTINGS), "version": 0},
        "/api/staff-contacts": {"name": "On Call", "email": "oncall@example.org", "channels": ["email"]},
        "/api/patients/{patient_id}/complications": {"kind": "other", "at": "2026-11-23T08:00:00"},
    }
    writes = [w for w in api_writes(app) if w[:2] not in FAMILY_WRITES]
    assert {w[:2] for w in writes} == {e for e in ENDPOINTS if e[0] != "GET"} - FAMILY_WRITES
    for method, path, route in writes:
        body = bodies.get(path)
        assert body is not None or route.body_field is None, f"{method} {path}: a new write, give it a body here"
        answer = carer.request(method, fill(path, **ids), json=body)
        assert answer.status_code in (403, 404), f"{method} {path}: {answer.status_code} {answer.text}"
    answer = carer.post(f"/api/patients/{other_child.id}/symptom-reports", json={"symptoms": ["itching"]})
    assert answer.status_code == 404  # a family's own write, for another family's child
    assert carer.get("/api/audit").status_code == 403
    assert db.snapshot() == before and db.audit_count() == audited


def test_nurse_refills_and_books_but_only_a_clinician_changes_programs(client, child, pump, db, clock):
    nurse, doctor = client("nurse"), client("clinician")
    clock.advance(days=2)
    before, audited = db.snapshot(), db.audit_count()
    refused = nurse.post(f"/api/pumps/{pump.id}/programs", json={"program": rate(110), "version": pump.version})
    assert refused.status_code == 403
    assert db.snapshot() == before and db.audit_count() == audited

    booked = expect(
        nurse.post(
            "/api/appointments", json={"patient_id": child.id, "kind": "titration", "at": "2026-12-07T10:00:00"}
        ),
        201,
    )
    assert booked["by"] == "nurse"
    refill = expect(
        nurse.post(
            f"/api/pumps/{pump.id}/refills",
            json={"withdrawn_ml": 19.6, "added_ml": 20, "concentration_mcg_per_ml": 500, "version": pump.version},
        ),
        201,
    )
    assert refill["by"] == "nurse" and refill["flagged"] is False

    version = expect(doctor.get(f"/api/pumps/{pump.id}"), 200)["version"]
    changed = expect(
        doctor.post(f"/api/pumps/{pump.id}/programs", json={"program": rate(110), "version": version}), 201
    )
    assert changed["program"] == rate(110)
    assert nurse.post(f"/api/pumps/{pump.id}/retire", json={"version": changed["version"]}).status_code == 403
    assert nurse.post(f"/api/patients/{child.id}/pumps", json=PUMP).status_code == 403
    assert nurse.post("/api/refills/1/review").status_code == 403

    for role in ("clinician", "nurse", "caregiver"):
        assert client(role).get("/api/audit").status_code == 403, role
    assert expect(client("admin").get("/api/audit"), 200)["chain_intact"] is True


# ---------------------------------------------------------------------------------- failed requests store nothing


def test_bad_input_is_422_naming_the_field_and_nothing_is_stored(client, child, pump, db, clock):
    doctor = client("clinician")
    clock.advance(days=2)
    booked = doctor.post(
        "/api/appointments", json={"patient_id": child.id, "kind": "refill", "at": "2026-12-01T10:00:00"}
    ).json()
    p, v = pump.id, pump.version
    cases = [
        ("/api/patients", {**PATIENT, "name": ""}, ["body", "name"]),
        ("/api/patients", {**PATIENT, "birth_date": "2018-13-02"}, ["body", "birth_date"]),
        ("/api/patients", {**PATIENT, "origin": "other"}, ["body", "origin"]),
        ("/api/patients", {**PATIENT, "gmfcs": 6}, ["body", "gmfcs"]),
        ("/api/patients", {**PATIENT, "shoe_size": 30}, ["body", "shoe_size"]),
        ("/api/patients", {k: v for k, v in PATIENT.items() if k != "birth_date"}, ["body", "birth_date"]),
        (
            f"/api/patients/{child.id}/pumps",
            {**PUMP, "serial": "SN-2", "reservoir_capacity_ml": 30},
            ["reservoir_capacity_ml"],
        ),
        (
            f"/api/patients/{child.id}/pumps",
            {**PUMP, "serial": "SN-2", "concentration_mcg_per_ml": 0},
            ["body", "concentration_mcg_per_ml"],
        ),
        (f"/api/patients/{child.id}/pumps", {**PUMP, "serial": "SN-2", "model": "osmotic"}, ["body", "model"]),
        (
            f"/api/patients/{child.id}/screenings",
            {"dose_mcg": 50, "mas_before": {"hamstrings": "3"}, "mas_after": {"hamstrings": "1.5"}},
            ["body", "mas_after", "hamstrings"],  # the schema states the grades
        ),
        (
            f"/api/patients/{child.id}/screenings",
            {"dose_mcg": 500, "mas_before": {"hamstrings": "3"}, "mas_after": {"hamstrings": "1"}},
            ["body", "dose_mcg"],
        ),
        (f"/api/patients/{child.id}/assessments", {"kind": "mas", "data": {"hamstrings": "5"}}, ["data", "hamstrings"]),
        (f"/api/patients/{child.id}/assessments", {"kind": "height", "data": {}}, ["body", "kind"]),
        (f"/api/pumps/{p}/programs", {"program": rate(-5), "version": v}, ["program", "steps[0]", "rate_mcg_per_day"]),
        (f"/api/pumps/{p}/programs", {"program": {"steps": []}, "version": v}, ["program", "steps"]),
        (f"/api/pumps/{p}/programs", {"program": rate(110)}, ["body", "version"]),
        (
            f"/api/pumps/{p}/refills",
            {"withdrawn_ml": -1, "added_ml": 20, "concentration_mcg_per_ml": 500, "version": v},
            ["body", "withdrawn_ml"],
        ),
        (
            f"/api/pumps/{p}/refills",
            {
                "withdrawn_ml": 25,
                "added_ml": 20,
                "concentration_mcg_per_ml": 500,
                "version": v,
                "acknowledged": ["refill_discrepancy"],
            },
            ["withdrawn_ml"],
        ),
        (
            f"/api/pumps/{p}/refills",
            {"withdrawn_ml": 19, "added_ml": 20, "concentration_mcg_per_ml": 5000, "version": v},
            ["body", "concentration_mcg_per_ml"],
        ),
        (f"/api/pumps/{p}/retire", {"reason": "no version"}, ["body", "version"]),
        ("/api/appointments", {"patient_id": child.id, "kind": "refill", "at": "2026-12-05T10:00:00"}, ["at"]),
        (
            "/api/appointments",
            {"patient_id": child.id, "kind": "checkup", "at": "2026-12-01T10:00:00"},
            ["body", "kind"],
        ),
        ("/api/appointments", {"patient_id": child.id, "kind": "refill", "at": "soon"}, ["body", "at"]),
        (f"/api/appointments/{booked['id']}/status", {"status": "booked"}, ["body", "status"]),
    ]
    before, audited = db.snapshot(), db.audit_count()
    for path, body, field in cases:
        answer = doctor.post(path, json=body)
        assert answer.status_code == 422, f"{path} {body}: {answer.status_code} {answer.text}"
        assert field in locs(answer), f"{path} {body}: {answer.text}"
    assert db.snapshot() == before and db.audit_count() == audited
    assert db.get(m.Pump, p).version == v


def test_limits_not_met_are_422_with_findings_and_the_pump_is_untouched(client, pump, db, clock):
    doctor = client("clinician")
    clock.advance(days=2)
    before = expect(doctor.get(f"/api/pumps/{pump.id}"), 200)
    audited, snapshot = db.audit_count(), db.snapshot()

    refused = doctor.post(
        f"/api/pumps/{pump.id}/programs",
        json={"program": rate(500), "version": pump.version, "acknowledged": ["increase_step_max"]},
    )
    assert refused.status_code == 422
    body = refused.json()
    assert "increase_step_max" in [f["code"] for f in body["findings"]]
    assert all(f["severity"] in ("refuse", "confirm") and f["message"] for f in body["findings"])

    small = doctor.post(f"/api/pumps/{pump.id}/programs", json={"program": rate(102), "version": pump.version})
    assert small.status_code == 422 and [f["code"] for f in small.json()["findings"]] == ["increase_step_min"]
    overfill = doctor.post(
        f"/api/pumps/{pump.id}/refills",
        json={"withdrawn_ml": 19.6, "added_ml": 40, "concentration_mcg_per_ml": 500, "version": pump.version},
    )
    assert overfill.status_code == 422 and "refill_overfill" in [f["code"] for f in overfill.json()["findings"]]

    assert expect(doctor.get(f"/api/pumps/{pump.id}"), 200) == before
    assert db.audit_count() == audited and db.snapshot() == snapshot
    interrogated = expect(doctor.post(f"/api/pumps/{pump.id}/interrogations"), 201)
    assert interrogated["program"] == rate(100) and interrogated["program_version"] == 1  # the pump too
    assert interrogated["reading_reservoir_ml"] == pytest.approx(19.6, abs=1e-6)

    confirmed = doctor.post(
        f"/api/pumps/{pump.id}/programs",
        json={"program": rate(102), "version": interrogated["version"], "acknowledged": ["increase_step_min"]},
    )
    assert expect(confirmed, 201)["program"] == rate(102)
    versions = expect(doctor.get(f"/api/pumps/{pump.id}"), 200)["program_versions"]
    assert versions[-1]["acknowledged"] == ["increase_step_min"]


def test_a_stale_version_is_409_and_stores_nothing(client, pump, db, clock):
    doctor, nurse = client("clinician"), client("nurse")
    clock.advance(days=2)
    read = expect(doctor.get(f"/api/pumps/{pump.id}"), 200)["version"]
    expect(doctor.post(f"/api/pumps/{pump.id}/programs", json={"program": rate(110), "version": read}), 201)
    before, audited = db.snapshot(), db.audit_count()
    stale = doctor.post(f"/api/pumps/{pump.id}/programs", json={"program": rate(108), "version": read})
    assert stale.status_code == 409 and "read it again" in stale.json()["detail"]
    assert (
        nurse.post(
            f"/api/pumps/{pump.id}/refills",
            json={"withdrawn_ml": 19.6, "added_ml": 20, "concentration_mcg_per_ml": 500, "version": read},
        ).status_code
        == 409
    )
    assert doctor.post(f"/api/pumps/{pump.id}/retire", json={"version": read}).status_code == 409
    assert db.snapshot() == before and db.audit_count() == audited
    current = expect(doctor.get(f"/api/pumps/{pump.id}"), 200)
    assert current["program"] == program_json(DosingProgram.simple_continuous(110))
    assert [v["daily_dose_mcg"] for v in current["program_versions"]] == [100, 110]


def test_unknown_records_are_404(client):
    doctor = client("clinician")
    assert doctor.get("/api/patients/999").status_code == 404
    assert doctor.get("/api/pumps/999").status_code == 404
    assert doctor.post("/api/pumps/999/interrogations").status_code == 404
    assert doctor.post("/api/refills/999/review").status_code == 404
    assert doctor.post("/api/appointments/999/status", json={"status": "done"}).status_code == 404
    assert doctor.post("/api/patients/999/pumps", json=PUMP).status_code == 404


def test_a_clinician_ends_titration_a_nurse_may_not(client, child, db):
    nurse, doctor = client("nurse"), client("clinician")
    assert nurse.post(f"/api/patients/{child.id}/phase", json={"phase": "maintenance"}).status_code == 403
    bad = doctor.post(f"/api/patients/{child.id}/phase", json={"phase": "done"})
    assert bad.status_code == 422 and "phase" in bad.text
    done = doctor.post(f"/api/patients/{child.id}/phase", json={"phase": "maintenance"})
    assert done.status_code == 200 and done.json()["phase"] == "maintenance"


def test_an_mri_books_the_scan_with_its_checklist_and_a_post_scan_check(client, child, pump, clinic, db, clock):
    """The check is due at the scan's end, on the worklist only from then (it used to be booked
    2 h after the scan and listed before the scan had happened), done by marking it or by an
    interrogation after the scan."""
    from itb.clinic.worklist import worklist
    from itb.domain.worklist import Reason

    def listed() -> bool:
        with clinic.sessions() as s:
            items = [i for i in worklist(s, clock(), clinic.config.booking) if i.pump_id == pump.id]
        return any(Reason.MRI_CHECK in i.reasons for i in items)

    body = {"at": "2026-12-02T14:00:00", "duration_minutes": 45}
    answer = expect(client("nurse").post(f"/api/patients/{child.id}/mri", json=body), 201)
    assert answer["scan"]["kind"] == "mri" and answer["check"]["kind"] == "mri_check"
    assert answer["check"]["at"] == "2026-12-02T14:45:00"
    assert any("interrogate" in step.lower() for step in answer["after"])
    assert not listed()  # the scan has not happened
    clock.set(datetime(2026, 12, 2, 15, 0))
    assert listed()
    client("nurse").post(f"/api/appointments/{answer['check']['id']}/status", json={"status": "done"})
    assert not listed()


def test_an_interrogation_after_the_scan_is_its_post_scan_check(client, child, pump, clinic, db, clock):
    """Device manual: after the scan, interrogate the pump to confirm it runs; that reading is the check."""
    answer = expect(client("nurse").post(f"/api/patients/{child.id}/mri", json={"at": "2026-12-02T14:00:00"}), 201)
    clock.set(datetime(2026, 12, 2, 14, 30))  # during the scan: not done yet
    client("nurse").post(f"/api/pumps/{pump.id}/interrogations")
    assert db.get(m.Appointment, answer["check"]["id"]).status == "booked"
    clock.set(datetime(2026, 12, 2, 15, 10))
    client("nurse").post(f"/api/pumps/{pump.id}/interrogations")
    assert db.get(m.Appointment, answer["check"]["id"]).status == "done"

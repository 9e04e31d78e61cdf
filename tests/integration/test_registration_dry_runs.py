"""A pump's registration as a dry run, on SQLite and PostgreSQL: the same checks, limits and record
as the registration itself, then nothing stored (no row, no audit entry, no virtual pump); the
findings are those the registration meets, and the registration then stores what was reviewed.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from itb.adapters.db import models as m
from itb.clinic.services import NotSent
from itb.domain.program import DosingProgram

PUMP = {
    "model": "peristaltic", "serial": "SN-DRY", "reservoir_capacity_ml": 20, "catheter_length_cm": 50,
    "reservoir_ml": 20, "concentration_mcg_per_ml": 500,
    "program": {"steps": [{"start": "00:00", "rate_mcg_per_day": 100}]},
}  # fmt: skip
VENDOR = {
    "connection": "vendor", "model": "synchromed-ii", "serial": "VND-DRY", "reservoir_capacity_ml": 40,
    "implanted_at": "2024-03-01T00:00:00", "session_at": "2026-11-20T10:00:00", "reservoir_ml": 40,
    "concentration_mcg_per_ml": 500, "program": {"steps": [{"start": "00:00", "rate_mcg_per_day": 1200}]},
}  # fmt: skip
#: what the record keeps of a pump, compared between the dry run and the registration
KEPT = (
    "model", "serial", "connection", "reservoir_capacity_ml", "catheter_length_cm", "catheter_volume_ml",
    "concentration_mcg_per_ml", "program", "daily_dose_mcg", "low_reservoir_alarm_ml", "implanted_at",
    "low_reservoir_alarm_at", "empty_at",
)  # fmt: skip


def expect(response, status: int) -> dict:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


def fields() -> dict:
    return {
        "model": "peristaltic", "serial": "SN-DRY", "reservoir_capacity_ml": 20.0, "catheter_length_cm": 50.0,
        "reservoir_ml": 20.0, "concentration_mcg_per_ml": 500.0, "program": DosingProgram.simple_continuous(100),
    }  # fmt: skip


def test_an_implants_dry_run_stores_nothing_and_finds_what_the_implant_refuses(clinic, users, child, db):
    doctor = users["clinician"]
    before, audited = db.snapshot(), db.audit_count()
    review = clinic.preview_implant(doctor, child.id, **fields())
    assert review.dry_run and not review.would_store
    assert [f.code for f in review.unconfirmed] == ["no_positive_screening"]
    assert review.pump.serial == "SN-DRY" and review.pump.low_reservoir_alarm_at is not None
    assert db.snapshot() == before and db.audit_count() == audited
    with pytest.raises(NotSent) as refused:
        clinic.implant_pump(doctor, child.id, **fields())
    said = [{"code": f.code, "severity": str(f.severity), "message": f.message} for f in review.unconfirmed]
    assert refused.value.findings == said
    assert db.snapshot() == before and db.audit_count() == audited


def test_an_implant_stores_what_its_dry_run_showed(clinic, users, child, db, clock):
    doctor, codes = users["clinician"], ("no_positive_screening",)
    review = clinic.preview_implant(doctor, child.id, **fields(), acknowledged=codes)
    assert review.would_store and review.unconfirmed == ()
    assert db.count(m.Pump) == 0 and db.count(m.VirtualPump) == 0
    pump = clinic.implant_pump(doctor, child.id, **fields(), acknowledged=codes)
    for name in KEPT:
        assert getattr(pump, name) == getattr(review.pump, name), name
    assert db.count(m.Pump) == 1 and db.count(m.VirtualPump) == 1
    assert pump.low_reservoir_alarm_at == datetime(2027, 2, 21, 9, 0)  # 18 mL above the alarm at 0.2 mL/day


def test_a_vendor_pumps_dry_run_shows_the_warnings_and_booking_its_registration_keeps(clinic, users, child, db):
    doctor = users["clinician"]
    cells = {
        "pump_model": "synchromed-ii", "pump_serial": "VND-DRY", "reservoir_capacity_ml": "40",
        "implanted_on": "2024-03-01", "session_at": "2026-11-20T10:00", "reservoir_ml": "40",
        "concentration_mcg_per_ml": "500", "program": "1200",
    }  # fmt: skip
    before, audited = db.snapshot(), db.audit_count()
    review = clinic.preview_vendor_pump(doctor, child.id, cells, None)
    assert review.dry_run and review.would_store and not review.refuses
    assert [f.code for f in review.unconfirmed] == ["maintenance_range"]
    assert [w.split(":")[0] for w in review.warnings] == ["maintenance_range"]
    assert review.booked is not None and review.session is not None and review.session.kind == "registration"
    confirmed = clinic.preview_vendor_pump(doctor, child.id, cells, None, ("maintenance_range",))
    assert confirmed.warnings == [] and confirmed.unconfirmed == ()
    assert db.snapshot() == before and db.audit_count() == audited
    pump = clinic.register_vendor_pump(doctor, child.id, cells, None)
    (session,) = db.all(m.PumpSession)
    (booked,) = db.all(m.Appointment)
    assert session.warnings == review.warnings and booked.at == review.booked.at
    for name in KEPT:
        assert getattr(pump, name) == getattr(review.pump, name), name


def test_the_api_answers_a_dry_run_with_the_record_and_its_findings(client, child, db):
    doctor = client("clinician")
    url = f"/api/patients/{child.id}/pumps"
    before, audited = db.snapshot(), db.audit_count()
    review = expect(doctor.post(url, params={"dry_run": "true"}, json=PUMP), 200)
    assert review["dry_run"] is True and review["would_store"] is False
    assert review["pump"]["id"] is None and review["pump"]["serial"] == "SN-DRY"
    assert review["pump"]["low_reservoir_alarm_at"] == "2027-02-21T09:00:00"
    assert [f["code"] for f in review["unconfirmed"]] == ["no_positive_screening"]
    assert review["warnings"] == [] and review["booked_refill"] is None
    assert db.snapshot() == before and db.audit_count() == audited
    refused = expect(doctor.post(url, json=PUMP), 422)
    assert refused["findings"] == review["unconfirmed"]
    confirmed = {**PUMP, "acknowledged": ["no_positive_screening"]}
    assert expect(doctor.post(url, params={"dry_run": "true"}, json=confirmed), 200)["would_store"] is True
    assert db.snapshot() == before and db.audit_count() == audited
    stored = expect(doctor.post(url, json=confirmed), 201)
    assert stored["low_reservoir_alarm_at"] == review["pump"]["low_reservoir_alarm_at"]


def test_the_api_dry_run_of_a_vendor_pump_names_its_warnings_and_booking(client, child, db):
    doctor = client("clinician")
    url = f"/api/patients/{child.id}/pumps"
    before, audited = db.snapshot(), db.audit_count()
    review = expect(doctor.post(url, params={"dry_run": "true"}, json=VENDOR), 200)
    assert review["would_store"] is True and [w.split(":")[0] for w in review["warnings"]] == ["maintenance_range"]
    assert review["booked_refill"]["on"] and review["pump"]["connection"] == "vendor"
    assert db.snapshot() == before and db.audit_count() == audited
    confirmed = expect(
        doctor.post(url, params={"dry_run": "true"}, json={**VENDOR, "acknowledged": ["maintenance_range"]}), 200
    )
    assert confirmed["warnings"] == [] and confirmed["unconfirmed"] == []
    pump = expect(doctor.post(url, json=VENDOR), 201)
    (session,) = expect(doctor.get(f"/api/pumps/{pump['id']}/sessions"), 200)
    assert session["warnings"] == review["warnings"]
    (booked,) = db.all(m.Appointment)
    assert booked.at.date().isoformat() == review["booked_refill"]["on"]


def test_a_dry_run_is_refused_as_the_registration_is(client, child, make_pump, db):
    make_pump(child.id, serial="SN-TAKEN")
    url = f"/api/patients/{child.id}/pumps"
    before, audited = db.snapshot(), db.audit_count()
    for body in (PUMP, {**PUMP, "serial": "SN-TAKEN"}):
        taken = client("clinician").post(url, params={"dry_run": "true"}, json=body)
        assert taken.status_code == 422, taken.text  # the child has a pump implanted, or the serial is taken
    assert client("nurse").post(url, params={"dry_run": "true"}, json=PUMP).status_code == 403
    assert client("caregiver").post(url, params={"dry_run": "true"}, json=PUMP).status_code == 403
    assert db.snapshot() == before and db.audit_count() == audited

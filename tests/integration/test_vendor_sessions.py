"""Sessions of a vendor-programmed pump (``POST /api/pumps/{id}/sessions``), on both databases.

The record follows reality: what the vendor's programmer gave the device is always recorded,
never refused; every limit it breaks is judged as for a pump ITB talks to and, unless
acknowledged (a hard limit always), kept as a warning on the worklist until a clinician reviews
it. The forecast, the learned flow and the next refill follow from the recorded state.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from test_clinic_import import post as import_file

from itb.adapters.db import models as m
from itb.clinic.worklist import worklist
from itb.domain.worklist import Reason


@pytest.fixture
def vendor_pump(client, clock):  # type: ignore[no-untyped-def]
    """The imported SynchroMed II: 20 mL of 500 mcg/mL at 200 mcg/day from 2026-11-20 09:00."""
    clock.set(datetime(2026, 12, 1, 9, 0))
    report = import_file(client).json()
    return next(r for r in report["rows"] if r["pump_serial"] == "NGP123456H")


def session(client, pump_id: int, role: str = "nurse", **body):  # type: ignore[no-untyped-def]
    version = client(role).get(f"/api/pumps/{pump_id}").json()["version"]
    return client(role).post(f"/api/pumps/{pump_id}/sessions", json={"version": version, **body})


def reasons(clinic, db, clock, pump_id: int) -> set[Reason]:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        items = worklist(s, clock.now, clinic.config.booking)
    return next((set(i.reasons) for i in items if i.pump_id == pump_id), set())


def test_a_refill_session_records_the_refill_books_the_next_and_learns_the_flow(client, vendor_pump, db, clock):
    """ITB's own expected residual (its count from the last session) beside the vendor's; the
    refill row feeds the flow calibration; the next refill is booked from the new forecast."""
    pump_id = vendor_pump["pump_id"]
    clock.advance(days=10)
    at = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    answer = session(
        client, pump_id, kind="refill", at=at, withdrawn_ml=11.5, vendor_expected_ml=11.6, added_ml=20,
        concentration_mcg_per_ml=500, lot="L-9",
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    body = answer.json()
    data = body["session"]["data"]
    days = (datetime.fromisoformat(at) - datetime(2026, 11, 20, 9, 0)) / timedelta(days=1)  # since the import
    assert data["itb_expected_ml"] == pytest.approx(20 - 0.4 * days, abs=1e-6)  # 0.4 mL a day
    assert data["vendor_expected_ml"] == 11.6 and body["session"]["warnings"] == []
    pump = body["pump"]
    assert pump["reading_reservoir_ml"] == 20 and pump["flow"]["refills"] == 1
    (refill,) = db.all(m.Refill)
    assert refill.withdrawn_ml == 11.5 and refill.lot == "L-9"
    booked = [a for a in db.all(m.Appointment) if a.status == "booked" and a.kind == "refill" and a.pump_id == pump_id]
    assert len(booked) == 1 and booked[0].at < datetime.fromisoformat(pump["flow"]["earliest_alarm_at"])


def test_a_program_set_beyond_the_limits_is_recorded_and_flagged_never_refused(client, clinic, db, clock, vendor_pump):
    """The record follows reality: +50 % in one step (above the label's step) is what the device
    got, so it is recorded, the forecast follows it, and the hard limit is a warning on the
    worklist until a clinician reviews it, even when acknowledged."""
    pump_id = vendor_pump["pump_id"]
    at = (clock.now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    program = {"steps": [{"start": "00:00", "rate_mcg_per_day": 300}]}
    answer = session(client, pump_id, role="clinician", kind="program", at=at, program=program,
                     acknowledged=["increase_step_max"])  # fmt: skip
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["pump"]["daily_dose_mcg"] == 300 and body["pump"]["program_version"] == 2
    assert any(w.startswith("increase_step_max:") for w in body["session"]["warnings"])
    assert Reason.SESSION_CHECK in reasons(clinic, db, clock, pump_id)
    review = client("clinician").post(f"/api/pump-sessions/{body['session']['id']}/review")
    assert review.status_code == 200
    assert Reason.SESSION_CHECK not in reasons(clinic, db, clock, pump_id)


def test_an_interrogation_session_with_a_vendor_alarm_a_week_off_is_a_warning(client, vendor_pump, clock):
    pump_id = vendor_pump["pump_id"]
    at = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    answer = session(
        client, pump_id, kind="interrogation", at=at, reservoir_ml=15.0, vendor_alarm_at="2027-03-01T00:00:00"
    )
    assert answer.status_code == 201
    (warning,) = answer.json()["session"]["warnings"]
    assert warning.startswith("vendor_alarm:") and "check the program and the volume entered" in warning
    assert answer.json()["pump"]["reading_reservoir_ml"] == 15.0


def test_bad_sessions_name_the_field_and_store_nothing(client, vendor_pump, db, clock):
    pump_id = vendor_pump["pump_id"]
    before = db.snapshot()
    at = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    future = (clock.now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    for body, field in (
        ({"kind": "refill", "at": at, "added_ml": 20, "concentration_mcg_per_ml": 500}, "withdrawn_ml"),
        ({"kind": "interrogation", "at": future, "reservoir_ml": 10}, "at"),
        ({"kind": "interrogation", "at": at, "reservoir_ml": 25}, "reservoir_ml"),
        ({"kind": "program", "at": at}, "program"),
    ):
        answer = session(client, pump_id, **body)
        assert answer.status_code == 422 and field in answer.text, (body, answer.text)
    assert db.snapshot() == before


def test_a_pump_itb_talks_to_takes_no_session(client, pump):
    answer = session(client, pump.id, kind="interrogation", at="2026-11-23T08:00:00", reservoir_ml=10)
    assert answer.status_code == 409


def test_a_reviewed_session_stores_nothing_and_answers_as_the_record_would(client, vendor_pump, db, clock):
    """Plan in ITB, then program the device, then confirm: the review (``dry_run``) judges the
    same limits and computes the same forecast and booking as recording it, and stores nothing."""
    pump_id = vendor_pump["pump_id"]
    clock.advance(days=10)
    at = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    body = {"kind": "refill", "at": at, "withdrawn_ml": 8.0, "added_ml": 20, "concentration_mcg_per_ml": 500}
    counts = {kind: len(db.all(kind)) for kind in (m.PumpSession, m.Refill, m.Appointment, m.AuditEntry)}
    version = client("nurse").get(f"/api/pumps/{pump_id}").json()["version"]
    review = client("nurse").post(f"/api/pumps/{pump_id}/sessions?dry_run=true", json={"version": version, **body})
    assert review.status_code == 200, review.text
    reviewed = review.json()
    assert reviewed["dry_run"] is True and reviewed["session"]["id"] is None
    assert any(f["code"] == "refill_discrepancy" for f in reviewed["findings"])  # 8 mL withdrawn of ~16 expected
    assert {kind: len(db.all(kind)) for kind in counts} == counts
    assert client("nurse").get(f"/api/pumps/{pump_id}").json()["version"] == version
    recorded = client("nurse").post(f"/api/pumps/{pump_id}/sessions", json={"version": version, **body})
    assert recorded.status_code == 201, recorded.text
    done = recorded.json()
    assert done["findings"] == reviewed["findings"] and done["booked_refill"] == reviewed["booked_refill"]
    assert done["pump"]["low_reservoir_alarm_at"] == reviewed["pump"]["low_reservoir_alarm_at"]
    assert done["session"]["warnings"] == reviewed["session"]["warnings"]


def test_a_second_increase_within_a_day_is_judged_from_the_recorded_history(client, vendor_pump, clock):
    """The label's one increase per 24 h holds for a vendor pump too: the sessions are its history."""
    pump_id = vendor_pump["pump_id"]
    first = (clock.now - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S")
    second = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    step = {"steps": [{"start": "00:00", "rate_mcg_per_day": 210}]}
    again = {"steps": [{"start": "00:00", "rate_mcg_per_day": 220}]}
    one = session(client, pump_id, role="clinician", kind="program", at=first, program=step)
    assert one.status_code == 201 and one.json()["session"]["warnings"] == []
    two = session(client, pump_id, role="clinician", kind="program", at=second, program=again)
    assert two.status_code == 201, two.text
    assert any(w.startswith("max_one_increase_per_24h:") for w in two.json()["session"]["warnings"])


def constant_flow_pump(client):  # type: ignore[no-untyped-def]
    """The imported constant-flow pump: 35 mL of 2000 mcg/mL at 0.5 mL/day from 2026-11-01 10:00."""
    report = import_file(client).json()
    return next(r for r in report["rows"] if r["pump_serial"] == "CF-1001")


def test_a_constant_flow_pumps_dose_changes_only_through_its_concentration(client, clock):
    """0.5 mL/day of 2000 mcg/mL is 1000 mcg/day; refilled with 1500 mcg/mL it gives 750 mcg/day
    at the same flow, recorded as a program version and judged as a dose change. A program or a
    bolus session is an error naming the kind: such a pump has none."""
    clock.set(datetime(2026, 12, 1, 9, 0))
    pump_id = constant_flow_pump(client)["pump_id"]
    at = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    program = {"steps": [{"start": "00:00", "rate_mcg_per_day": 900}]}
    refused = session(client, pump_id, role="clinician", kind="program", at=at, program=program)
    assert refused.status_code == 422 and "constant-flow" in refused.text and "kind" in refused.text
    answer = session(client, pump_id, kind="refill", at=at, withdrawn_ml=20.0, added_ml=35,
                     concentration_mcg_per_ml=1500)  # fmt: skip
    assert answer.status_code == 201, answer.text
    pump = answer.json()["pump"]
    assert pump["daily_dose_mcg"] == pytest.approx(750) and pump["program_version"] == 2
    empty = datetime.fromisoformat(pump["empty_at"])
    assert (empty - datetime.fromisoformat(at)) / timedelta(days=1) == pytest.approx(35 / 0.5, abs=1e-3)


def register(client, **pump):  # type: ignore[no-untyped-def]
    patient = client("clinician").post(
        "/api/patients", json={"name": "Ines Duarte", "birth_date": "1984-02-11", "origin": "spinal"}
    )
    assert patient.status_code in (200, 201), patient.text
    return client("clinician").post(f"/api/patients/{patient.json()['id']}/pumps", json=pump)


VENDOR_PUMP = {
    "connection": "vendor", "model": "synchromed-ii", "serial": "NGP-API-1", "reservoir_capacity_ml": 40,
    "implanted_at": "2022-05-03T00:00:00", "session_at": "2026-11-25T10:30:00", "reservoir_ml": 38,
    "concentration_mcg_per_ml": 1000, "program": {"steps": [{"start": "00:00", "rate_mcg_per_day": 500}]},
}  # fmt: skip


def test_a_vendor_pump_registered_through_the_api_is_forecast_from_its_last_session(client, clock, db):
    """``"connection": "vendor"``: the pump as its last session left it, by the import's rules; the
    exact forecast runs from ``session_at`` (38 mL at 0.5 mL/day, alarm at 2 mL after 72 days)."""
    clock.set(datetime(2026, 12, 1, 9, 0))
    answer = register(client, **VENDOR_PUMP)
    assert answer.status_code == 201, answer.text
    pump = answer.json()
    assert pump["connection"] == "vendor" and pump["reading_at"].startswith("2026-11-25T10:30")
    alarm = datetime.fromisoformat(pump["low_reservoir_alarm_at"])
    assert alarm - datetime(2026, 11, 25, 10, 30) == timedelta(days=72)
    (registered,) = [x for x in db.all(m.PumpSession) if x.pump_id == pump["id"]]
    assert registered.kind == "registration" and registered.warnings == []
    assert any(a.kind == "refill" and a.pump_id == pump["id"] for a in db.all(m.Appointment))
    refused = client("clinician").post(f"/api/pumps/{pump['id']}/interrogations")
    assert refused.status_code in (409, 422) and "vendor" in refused.text


def test_a_vendor_pump_program_beyond_the_limits_is_registered_with_a_warning(client, clock):
    """The record follows reality: the device already runs it, so it is recorded, flagged."""
    clock.set(datetime(2026, 12, 1, 9, 0))
    program = {"steps": [{"start": "00:00", "rate_mcg_per_day": 1200}]}  # above the spinal usual 300-800
    answer = register(client, **{**VENDOR_PUMP, "program": program})
    assert answer.status_code == 201, answer.text
    sessions = client("clinician").get(f"/api/pumps/{answer.json()['id']}/sessions").json()
    assert any(w.startswith("maintenance_range:") for w in sessions[0]["warnings"])


def test_a_bad_vendor_registration_names_each_field_and_stores_nothing(client, clock, db):
    clock.set(datetime(2026, 12, 1, 9, 0))
    bad = {**VENDOR_PUMP, "reservoir_capacity_ml": 30, "reservoir_ml": 45, "session_at": "2026-11-25T10:30:15"}
    answer = register(client, **bad)
    assert answer.status_code == 422
    assert "session_at" in answer.text and "minute" in answer.text
    answer = register(client, **{**VENDOR_PUMP, "reservoir_capacity_ml": 30, "program": None, "serial": "X-2"})
    fields = {e["loc"][0] for e in answer.json()["detail"]}
    assert answer.status_code == 422 and {"reservoir_capacity_ml", "program"} <= fields, answer.text
    telemetry = register(client, **{**VENDOR_PUMP, "connection": "telemetry", "serial": "X-3"})
    assert telemetry.status_code == 422 and "session_at" in telemetry.text
    assert not [p for p in db.all(m.Pump) if p.serial.startswith(("NGP-API", "X-"))]


def test_a_constant_flow_pump_registered_through_the_api_runs_at_its_flow(client, clock):
    clock.set(datetime(2026, 12, 1, 9, 0))
    pump = {**VENDOR_PUMP, "model": "constant-flow", "serial": "CF-API", "reservoir_capacity_ml": 35,
            "reservoir_ml": 35, "program": None, "flow_ml_per_day": 1.0, "concentration_mcg_per_ml": 500}  # fmt: skip
    answer = register(client, **pump)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["daily_dose_mcg"] == pytest.approx(500)
    assert datetime.fromisoformat(body["empty_at"]) - datetime(2026, 11, 25, 10, 30) == timedelta(days=35)


def test_a_vendor_pump_with_no_session_for_its_interval_and_a_margin_is_stale(client, clinic, db, clock, vendor_pump):
    """ITB cannot read a vendor pump: past its alarm plus ``stale_margin_days`` with no session, a
    session on the vendor's programmer may be missing from the record; recording one clears it."""
    pump_id = vendor_pump["pump_id"]
    alarm = datetime.fromisoformat(client("nurse").get(f"/api/pumps/{pump_id}").json()["flow"]["earliest_alarm_at"])
    clock.set(alarm + timedelta(days=clinic.config.booking.stale_margin_days - 1))
    assert Reason.STALE not in reasons(clinic, db, clock, pump_id)
    clock.advance(days=2)
    assert Reason.STALE in reasons(clinic, db, clock, pump_id)
    at = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert session(client, pump_id, kind="interrogation", at=at, reservoir_ml=2.0).status_code == 201
    assert Reason.STALE not in reasons(clinic, db, clock, pump_id)


def test_a_refills_drug_passes_the_same_drug_limits_as_any_refill(client, vendor_pump, clock):
    """The product named must be known (422 naming ``product``); a strength it is not sold in is a
    soft limit (a dilution to confirm), a warning until acknowledged, as at any refill."""
    pump_id = vendor_pump["pump_id"]
    at = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    refill = {"kind": "refill", "at": at, "withdrawn_ml": 15.6, "added_ml": 20, "concentration_mcg_per_ml": 1000}
    unknown = session(client, pump_id, product="Baclofen-X", **refill)
    assert unknown.status_code == 422 and "product" in unknown.text
    diluted = session(client, pump_id, product="Lioresal Intrathecal", **refill)
    assert diluted.status_code == 201, diluted.text
    assert any(w.startswith("concentration_not_in_product:") for w in diluted.json()["session"]["warnings"])


def test_the_vendors_eri_reading_puts_the_replacement_on_the_worklist(client, clinic, db, clock, vendor_pump):
    """The ERI the vendor's programmer shows is the pump's: within the warning window it is
    ``eri_soon``; on or before the session, ``eri_reached`` (the pump stops about 90 days later)."""
    pump_id = vendor_pump["pump_id"]
    at = (clock.now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    eri = (clock.now + timedelta(days=100)).strftime("%Y-%m-%dT00:00:00")
    assert session(client, pump_id, kind="interrogation", at=at, reservoir_ml=15.0, eri_at=eri).status_code == 201
    assert client("nurse").get(f"/api/pumps/{pump_id}").json()["eri_at"].startswith(eri[:10])
    assert Reason.ERI_SOON in reasons(clinic, db, clock, pump_id)
    later = (clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert session(client, pump_id, kind="interrogation", at=later, reservoir_ml=15.0, eri_at=at).status_code == 201
    assert Reason.ERI_REACHED in reasons(clinic, db, clock, pump_id)

"""The clinic's record and the pump never disagree: pending first, settled from the pump's log.

Each test runs on SQLite and on PostgreSQL. Faults are planted where a real server meets them: a
database error after the pump was changed, a process that dies between the send and the record
(or before the send), a pump state that went backwards, a change made to the pump behind the
clinic's back, two server processes at one pump.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import OperationalError

from itb.adapters.db import models as m
from itb.bootstrap import clinic_on
from itb.clinic.audit import verify_chain
from itb.clinic.ports import ChangeStatus, PumpChange
from itb.clinic.services import Conflict, Forbidden, RecordIncomplete
from itb.clinic.worklist import worklist
from itb.domain.errors import InvalidInput
from itb.domain.program import DosingProgram
from itb.domain.worklist import Reason
from itb.programmer.link import new_key

P = DosingProgram.simple_continuous
REFILL = {"withdrawn_ml": 19.6, "added_ml": 20.0, "concentration_mcg_per_ml": 500.0}


class Crash(BaseException):
    """The server process dies here (nothing after this line of the request runs)."""


def pump_log(clinic, pump_id: int) -> list[dict]:
    with clinic.gateway.connect(pump_id) as connection:
        return connection.read().log


def keyed(log: list[dict], event_type: str) -> list[str]:
    return [e["key"] for e in log if e["type"] == event_type and e.get("key")]


def record_matches_pump(clinic, db, pump_id: int) -> None:
    """Every refill and program change in the pump's log has one record and one audit entry, and back."""
    log = pump_log(clinic, pump_id)
    refills = [r.change_key for r in db.all(m.Refill, m.Refill.pump_id == pump_id)]
    versions = [v.change_key for v in db.all(m.ProgramVersion, m.ProgramVersion.pump_id == pump_id) if v.version > 1]
    audited = {
        action: [e.after.get("change_key") for e in db.all(m.AuditEntry, m.AuditEntry.action == action)]
        for action in ("refill", "change_program")
    }
    assert sorted(keyed(log, "refill")) == sorted(refills) == sorted(audited["refill"])
    assert sorted(keyed(log, "program_changed")) == sorted(versions) == sorted(audited["change_program"])
    open_changes = db.count(m.PumpChange, m.PumpChange.status.in_(("pending", "uncertain")))
    assert open_changes == 0
    with db.sessions() as s:
        assert verify_chain(s) == []


def test_a_database_error_after_the_send_is_written_from_the_pump_log_at_the_next_reading(
    clinic, users, pump, db, clock, monkeypatch
):
    clock.advance(days=2)
    settle = clinic._settle

    def failing(actor, pump_id, reading, results, audit_action):
        if results:  # the request's own settling: the database fails after the pump was changed
            raise OperationalError("INSERT INTO refills", {}, Exception("server closed the connection"))
        return settle(actor, pump_id, reading, results, audit_action)

    monkeypatch.setattr(clinic, "_settle", failing)
    with pytest.raises(RecordIncomplete):
        clinic.refill(users["nurse"], pump.id, expected_version=db.get(m.Pump, pump.id).version, **REFILL)
    assert keyed(pump_log(clinic, pump.id), "refill")  # the pump was refilled
    assert db.count(m.Refill) == 0
    (pending,) = db.all(m.PumpChange)
    assert pending.status == "pending" and pending.command == "refill"

    monkeypatch.setattr(clinic, "_settle", settle)
    clock.advance(hours=1)
    clinic.interrogate(users["nurse"], pump.id)
    (refill,) = db.all(m.Refill)
    assert refill.change_key == pending.key and refill.withdrawn_ml == 19.6 and refill.by == "nurse"
    settled = db.get(m.PumpChange, pending.id)
    assert settled.status == "applied" and "settled afterwards" in settled.detail
    assert db.get(m.Pump, pump.id).reading_reservoir_ml == pytest.approx(20 - 0.2 / 24, abs=1e-6)
    assert db.count(m.Appointment, m.Appointment.kind == "refill", m.Appointment.status == "booked") == 1
    clinic.interrogate(users["nurse"], pump.id)  # never twice
    assert db.count(m.Refill) == 1
    record_matches_pump(clinic, db, pump.id)


def test_the_api_answers_503_when_the_record_could_not_be_written(client, clinic, pump, db, clock, monkeypatch):
    def failing(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(clinic, "_settle", failing)
    body = {**REFILL, "version": db.get(m.Pump, pump.id).version}
    answer = client("nurse").post(f"/api/pumps/{pump.id}/refills", json=body)
    assert answer.status_code == 503 and "next reading" in answer.json()["detail"]
    monkeypatch.undo()
    detail = client("nurse").get(f"/api/pumps/{pump.id}").json()
    assert [c["status"] for c in detail["pending_changes"]] == ["pending"]
    client("nurse").post(f"/api/pumps/{pump.id}/interrogations")
    assert client("nurse").get(f"/api/pumps/{pump.id}").json()["pending_changes"] == []
    assert db.count(m.Refill) == 1


def test_a_crash_between_the_send_and_the_record_is_settled_at_server_start(clinic, engine, users, pump, db, clock):
    clock.advance(days=1)
    original = clinic._settle_or_leave

    def crash(*args, **kwargs):
        raise Crash

    clinic._settle_or_leave = crash
    with pytest.raises(Crash):
        clinic.change_program(users["clinician"], pump.id, P(105), expected_version=db.get(m.Pump, pump.id).version)
    clinic._settle_or_leave = original
    assert db.count(m.ProgramVersion) == 1 and db.get(m.Pump, pump.id).program_version == 1
    assert keyed(pump_log(clinic, pump.id), "program_changed")

    restarted = clinic_on(engine, clinic.config, clock)  # a new server process on the same database
    assert restarted.reconcile_all() == 1
    (_, v2) = db.all(m.ProgramVersion, order_by=m.ProgramVersion.version)
    assert (v2.version, v2.daily_dose_mcg, v2.by) == (2, 105, "clinician")
    assert db.get(m.Pump, pump.id).program_version == 2
    assert restarted.reconcile_all() == 0
    record_matches_pump(restarted, db, pump.id)


def test_a_crash_before_the_send_is_settled_as_never_applied(clinic, users, pump, db, clock, monkeypatch):
    clock.advance(days=1)
    connect = clinic.gateway.connect

    class Dying:
        def __init__(self, connection):
            self.connection = connection

        def read(self):
            return self.connection.read()

        def send(self, change):
            raise Crash  # the process dies after the pending row was committed, before the radio sends

    from contextlib import contextmanager

    @contextmanager
    def dying_connect(pump_id):
        with connect(pump_id) as connection:
            yield Dying(connection)

    monkeypatch.setattr(clinic.gateway, "connect", dying_connect)
    with pytest.raises(Crash):
        clinic.refill(users["nurse"], pump.id, expected_version=db.get(m.Pump, pump.id).version, **REFILL)
    monkeypatch.setattr(clinic.gateway, "connect", connect)
    assert db.all(m.PumpChange)[0].status == "pending"

    clinic.interrogate(users["nurse"], pump.id)  # the next request for this pump settles it
    (change,) = db.all(m.PumpChange)
    assert change.status == "not_applied" and "never applied" in change.detail
    assert db.count(m.Refill) == 0 and not keyed(pump_log(clinic, pump.id), "refill")
    assert [e.action for e in db.audit()].count("change_not_applied") == 1
    record_matches_pump(clinic, db, pump.id)


def test_a_pump_whose_state_went_backwards_is_flagged_and_refused_until_a_clinician_resolves_it(
    clinic, users, pump, db, clock, engine
):
    clock.advance(days=2)
    clinic.refill(users["nurse"], pump.id, expected_version=db.get(m.Pump, pump.id).version, **REFILL)
    clock.advance(hours=2)
    with engine.begin() as c:  # the pump's memory restored from an older copy: its last change is gone
        last = c.execute(select(func.max(m.VirtualPumpJournal.n)).where(m.VirtualPumpJournal.pump_id == pump.id))
        c.execute(delete(m.VirtualPumpJournal).where(m.VirtualPumpJournal.n == last.scalar_one()))
    before = db.get(m.Pump, pump.id)
    flagged = clinic.interrogate(users["nurse"], pump.id)
    assert flagged.regressed_at == clock.now and "log holds" in flagged.regression_detail
    assert flagged.reading_reservoir_ml == before.reading_reservoir_ml  # its numbers are not adopted
    with db.sessions() as s:
        (item,) = worklist(s, clock.now, clinic.config.booking)
    assert item.reasons[0] is Reason.RECORD_CHECK and item.urgency == 0 and "went backwards" in item.details[0]
    with pytest.raises(Conflict, match="went backwards"):
        clinic.change_program(users["clinician"], pump.id, P(105), expected_version=flagged.version)
    with pytest.raises(Forbidden):
        clinic.resolve_regression(users["nurse"], pump.id, expected_version=flagged.version, note="checked")
    with pytest.raises(InvalidInput):
        clinic.resolve_regression(users["clinician"], pump.id, expected_version=flagged.version, note=" ")
    resolved = clinic.resolve_regression(
        users["clinician"], pump.id, expected_version=flagged.version, note="interrogated with the family: refilled"
    )
    assert resolved.regressed_at is None
    assert db.all(m.AuditEntry, m.AuditEntry.action == "resolve_regression")[0].after["events_removed"]
    clock.advance(days=1)
    changed = clinic.change_program(users["clinician"], pump.id, P(105), expected_version=resolved.version)
    assert changed.program_version == 2


def test_a_change_in_the_pump_log_with_no_record_is_flagged_for_review(clinic, client, users, pump, db, clock):
    clock.advance(days=1)
    with clinic.gateway.connect(pump.id) as connection:  # another programmer refilled the pump
        since = connection.read().log_size
        result = connection.send(PumpChange(new_key(), "refill", REFILL, log_since=since))
    assert result.status is ChangeStatus.APPLIED
    clinic.interrogate(users["nurse"], pump.id)
    (change,) = db.all(m.PumpChange)
    assert change.status == "unrecorded" and change.command == "refill"
    with db.sessions() as s:
        (item,) = worklist(s, clock.now, clinic.config.booking)
    assert item.reasons[0] is Reason.RECORD_CHECK and "no record" in item.details[0]
    listed = client("nurse").get(f"/api/pumps/{pump.id}").json()["pending_changes"]
    assert [c["status"] for c in listed] == ["unrecorded"]
    with pytest.raises(Forbidden):
        clinic.review_unrecorded_change(users["nurse"], change.id, "seen")
    reviewed = client("clinician").post(f"/api/pump-changes/{change.id}/review", json={"note": "refilled at the ED"})
    assert reviewed.status_code == 200 and reviewed.json()["reviewed_by"] == "clinician"
    again = client("clinician").post(f"/api/pump-changes/{change.id}/review", json={"note": "twice"})
    assert again.status_code == 409  # reviewed once: the request does not fit the record's state
    with db.sessions() as s:
        assert all(Reason.RECORD_CHECK not in i.reasons for i in worklist(s, clock.now, clinic.config.booking))


def test_a_serial_number_is_never_a_path(clinic, make_patient, make_pump, db, tmp_path):
    first = make_pump(make_patient("A").id, serial="x/../pump-OTHER")
    second = make_pump(make_patient("B").id, serial="../../..")
    assert {p.serial for p in db.all(m.Pump)} == {"x/../pump-OTHER", "../../.."}
    assert {r.pump_id for r in db.all(m.VirtualPump, order_by=m.VirtualPump.pump_id)} == {first.id, second.id}
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert not any(name.startswith("pump-") and name.endswith(".json") for name in written)
    with pytest.raises(InvalidInput) as bad:
        make_pump(make_patient("C").id, serial="SN\x00-1")
    assert {v.field for v in bad.value.violations} == {"serial"}


def test_the_limits_judge_the_age_today_not_the_age_at_implant(clinic, users, make_patient, make_pump, clock):
    born = (clock.now - timedelta(days=round(11.5 * 365.25))).date()
    patient = make_patient("Teo", birth_date=born, origin="spinal")
    pump = make_pump(patient.id, program=P(100))
    clock.advance(days=2)
    as_child = clinic.preview_program(users["clinician"], pump.id, P(125))
    assert "increase_step_max" in {f.code for f in as_child.assessment.findings}  # children: +5 to 15 %
    clock.advance(days=3 * 365)
    as_teenager = clinic.preview_program(users["clinician"], pump.id, P(125))
    assert as_teenager.view.patient.age_years == pytest.approx(14.5, abs=0.02)
    assert "increase_step_max" not in {f.code for f in as_teenager.assessment.findings}  # spinal: +10 to 30 %


def test_the_reservoir_now_is_estimated_from_the_last_reading(client, pump, clock):
    clock.advance(days=10)
    detail = client("nurse").get(f"/api/pumps/{pump.id}").json()
    assert detail["reading_reservoir_ml"] == pytest.approx(20)  # read at the implant, 10 days ago
    assert detail["estimated_reservoir_ml_now"] == pytest.approx(18.0, abs=1e-9)  # 0.2 mL/day since
    assert detail["estimated_at"] == clock.now.isoformat()


def test_the_pump_events_are_the_log_the_clinic_stored(client, clinic, users, pump, db, clock):
    clock.advance(days=2)
    refill = clinic.refill(users["nurse"], pump.id, expected_version=db.get(m.Pump, pump.id).version, **REFILL)
    events = client("nurse").get(f"/api/pumps/{pump.id}/events").json()
    assert [e["type"] for e in events][-1] == "refill"
    assert events[-1]["fields"]["key"] == refill.change_key
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    later = client("nurse").get(f"/api/pumps/{pump.id}/events", params={"since": events[-1]["seq"]}).json()
    assert later == []
    assert client("caregiver").get(f"/api/pumps/{pump.id}/events").status_code == 200  # their own child
    other = client("nurse").get("/api/pumps/9999/events")
    assert other.status_code == 404


def test_two_server_processes_at_one_pump_one_wins_and_the_pump_agrees(clinic, engine, db_url, users, pump, clock, db):
    """Two clinics on their own engines (two processes' worth of connections) send at once."""
    from itb.adapters.db.engine import make_engine

    other_engine = make_engine(db_url)
    other = clinic_on(other_engine, clinic.config, clock)
    clock.advance(days=2)
    version = db.get(m.Pump, pump.id).version
    start = threading.Barrier(2)
    results: dict[int, object] = {}

    def change(server, rate: int) -> None:
        with suppress(threading.BrokenBarrierError):
            start.wait(timeout=2)
        try:
            results[rate] = server.change_program(users["clinician"], pump.id, P(rate), expected_version=version)
        except Exception as exc:
            results[rate] = exc

    threads = [threading.Thread(target=change, args=a) for a in ((clinic, 105), (other, 108))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    other_engine.dispose()
    won = [rate for rate, r in results.items() if isinstance(r, m.Pump)]
    lost = [r for r in results.values() if not isinstance(r, m.Pump)]
    assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], Conflict), results
    assert db.count(m.ProgramVersion) == 2
    (applied,) = [e for e in pump_log(clinic, pump.id) if e["type"] == "program_changed" and e.get("key")]
    assert applied["daily_dose_mcg"] == won[0]
    record_matches_pump(clinic, db, pump.id)


def test_the_chart_shows_a_pump_that_went_backwards_and_a_clinician_accepts_it_there(
    app, clinic, users, passwords, pump, db, clock, engine
):
    from test_pages_security import browser, csrf_of

    clock.advance(days=2)
    clinic.refill(users["nurse"], pump.id, expected_version=db.get(m.Pump, pump.id).version, **REFILL)
    with engine.begin() as c:
        c.execute(delete(m.VirtualPumpJournal).where(m.VirtualPumpJournal.pump_id == pump.id))
    clinic.interrogate(users["nurse"], pump.id)
    nurse, doctor = browser(app, "nurse", passwords), browser(app, "clinician", passwords)
    seen = nurse.get(f"/patients/{pump.patient_id}").text
    assert "the record and the pump may disagree" in seen and "went backwards" in seen
    assert "Accept the pump's state" not in seen  # a nurse cannot accept it
    page = doctor.get(f"/patients/{pump.patient_id}").text
    form = {"csrf": csrf_of(page), "version": db.get(m.Pump, pump.id).version, "note": "checked with the family"}
    assert doctor.post(f"/pumps/{pump.id}/resolve-regression", data=form).status_code == 200
    assert db.get(m.Pump, pump.id).regressed_at is None
    assert "may disagree" not in doctor.get(f"/patients/{pump.patient_id}").text


def test_a_commit_whose_answer_was_lost_still_answers_with_the_change(clinic, client, pump, db, monkeypatch):
    settle = clinic._settle
    calls = []

    def committed_then_lost(actor, pump_id, reading, results, audit_action):
        done = settle(actor, pump_id, reading, results, audit_action)
        if results and not calls:  # the commit went through, its answer did not come back
            calls.append(1)
            raise OperationalError("COMMIT", {}, Exception("connection lost after commit"))
        return done

    monkeypatch.setattr(clinic, "_settle", committed_then_lost)
    body = {**REFILL, "version": db.get(m.Pump, pump.id).version}
    answer = client("nurse").post(f"/api/pumps/{pump.id}/refills", json=body)
    assert answer.status_code == 201, answer.text
    assert db.count(m.Refill) == 1 and answer.json()["change_key"] == db.all(m.Refill)[0].change_key


def test_a_request_sent_again_under_its_idempotency_key_is_answered_not_made_twice(client, clinic, pump, db, clock):
    clock.advance(days=2)
    nurse = client("nurse")
    body = {**REFILL, "version": db.get(m.Pump, pump.id).version}
    key = {"Idempotency-Key": "refill-2026-11-25-ana"}
    first = nurse.post(f"/api/pumps/{pump.id}/refills", json=body, headers=key)
    again = nurse.post(f"/api/pumps/{pump.id}/refills", json=body, headers=key)  # its answer was lost: sent again
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and db.count(m.Refill) == 1
    assert len(keyed(pump_log(clinic, pump.id), "refill")) == 1
    other = nurse.post(f"/api/pumps/{pump.id}/refills", json={**body, "added_ml": 18}, headers=key)
    assert other.status_code == 422 and other.json()["detail"][0]["loc"] == ["idempotency_key"]
    bad = nurse.post(f"/api/pumps/{pump.id}/refills", json=body, headers={"Idempotency-Key": "x"})
    assert bad.status_code == 422
    doctor = client("clinician")
    version = db.get(m.Pump, pump.id).version
    program = {"program": {"steps": [{"start": "00:00", "rate_mcg_per_day": 105}]}, "version": version}
    once = doctor.post(f"/api/pumps/{pump.id}/programs", json=program, headers={"Idempotency-Key": "program-1-ana"})
    twice = doctor.post(f"/api/pumps/{pump.id}/programs", json=program, headers={"Idempotency-Key": "program-1-ana"})
    assert once.status_code == twice.status_code == 201 and db.count(m.ProgramVersion) == 2


def test_a_refill_form_sent_twice_refills_once(app, users, passwords, pump, db, clock):
    import re

    from test_pages_security import browser, csrf_of

    clock.advance(days=2)
    nurse = browser(app, "nurse", passwords)
    page = nurse.get(f"/pumps/{pump.id}/refill").text
    entered = {"csrf": csrf_of(page), "withdrawn": "19.6 mL", "added": "20 mL", "concentration": "500 mcg/mL"}
    review = nurse.post(f"/pumps/{pump.id}/refill", data=entered).text
    key = re.search(r'name="request_key" value="([0-9a-f]+)"', review).group(1)  # type: ignore[union-attr]
    confirm = {**entered, "step": "confirm", "version": db.get(m.Pump, pump.id).version, "request_key": key}
    assert nurse.post(f"/pumps/{pump.id}/refill", data=confirm).status_code == 200
    assert nurse.post(f"/pumps/{pump.id}/refill", data=confirm).status_code == 200  # a double click
    assert db.count(m.Refill) == 1


def test_a_lot_with_a_nul_byte_is_refused_before_anything_reaches_the_pump(client, clinic, pump, db):
    body = {**REFILL, "version": db.get(m.Pump, pump.id).version, "lot": "L\u00007"}
    answer = client("nurse").post(f"/api/pumps/{pump.id}/refills", json=body)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "lot"]
    assert not keyed(pump_log(clinic, pump.id), "refill") and db.count(m.PumpChange) == 0

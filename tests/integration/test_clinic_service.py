"""The clinic's use cases end to end, on SQLite and PostgreSQL: what each stores, and what a refused one does not."""

from __future__ import annotations

import threading
from contextlib import suppress
from datetime import date, datetime, timedelta

import pytest

from itb.adapters.db import models as m
from itb.clinic.services import DEFAULT_APPOINTMENT_TIME, Conflict, Forbidden, NotFound, NotSent
from itb.clinic.worklist import worklist
from itb.contracts.forecast import parse_program, program_json
from itb.domain.calibration import DEFAULT_FLOW, device_prior
from itb.domain.devices import PERISTALTIC
from itb.domain.errors import InvalidInput
from itb.domain.forecast import ReservoirState, forecast_reservoir
from itb.domain.program import DosingProgram
from itb.domain.scheduling import refill_booking_date
from itb.domain.worklist import Reason

P = DosingProgram.simple_continuous


def fields_of(exc: pytest.ExceptionInfo) -> set[str]:
    return {v.field for v in exc.value.violations}


def stored_forecast_matches(pump: m.Pump) -> None:
    """The forecast kept with the pump record is the exact forecast of the record's own state."""
    errs: list = []
    program = parse_program(pump.program, "program", errs)
    assert not errs
    state = ReservoirState(
        at=pump.reading_at,
        reservoir_capacity_ml=pump.reservoir_capacity_ml,
        reservoir_ml=pump.reading_reservoir_ml,
        concentration_mcg_per_ml=pump.concentration_mcg_per_ml,
        low_reservoir_alarm_ml=pump.low_reservoir_alarm_ml,
        empty_ml=pump.empty_ml,
    )
    expected = forecast_reservoir(state, program)
    assert pump.low_reservoir_alarm_at == expected.low_reservoir_alarm_at
    assert pump.empty_at == expected.empty_at
    assert pump.daily_dose_mcg == pytest.approx(expected.daily_dose_mcg)


def new_entries(db, since: int) -> list[m.AuditEntry]:
    return [e for e in db.audit() if e.id > since]


# ---------------------------------------------------------------------------------- patients, screening


def test_register_patient_stores_it_and_audits(clinic, users, db):
    patient = clinic.register_patient(users["nurse"], name="Ana B", birth_date=date(2018, 5, 2), origin="cerebral")
    stored = db.get(m.Patient, patient.id)
    assert (stored.name, stored.birth_date, stored.origin, stored.phase) == (
        "Ana B",
        date(2018, 5, 2),
        "cerebral",
        "screening",
    )
    entry = db.audit()[-1]
    assert (entry.actor, entry.action, entry.entity, entry.entity_id) == (
        "nurse",
        "register_patient",
        "patient",
        patient.id,
    )
    assert entry.before is None and entry.after["name"] == "Ana B"

    before = db.snapshot()
    with pytest.raises(Forbidden):
        clinic.register_patient(users["caregiver"], name="X", birth_date=date(2019, 1, 1), origin="spinal")
    assert db.snapshot() == before


def test_screening_trial_mas_with_1_plus_and_the_response_rule(clinic, users, child, db):
    doctor = users["clinician"]
    # average 2.5 -> 1.25: a drop of 1.25 points, a response
    trial = clinic.record_screening(
        doctor,
        child.id,
        dose_mcg=50,
        mas_before={"hamstrings": "3", "adductors": "2"},
        mas_after={"hamstrings": "1+", "adductors": "1"},
        effect_hours=6,
    )
    stored = db.get(m.ScreeningTrial, trial.id)
    assert stored.responded is True
    assert stored.mas_after == {"hamstrings": "1+", "adductors": "1"}  # 1+ kept as its own grade, not 1.5
    assert (stored.dose_mcg, stored.effect_hours, stored.by) == (50, 6, "clinician")
    # exactly one point (2 -> 1) is a response; half a point (1+ -> 1) is not
    assert clinic.record_screening(doctor, child.id, dose_mcg=75, mas_before={"h": "2"}, mas_after={"h": "1"}).responded
    assert not clinic.record_screening(
        doctor, child.id, dose_mcg=100, mas_before={"h": "1+"}, mas_after={"h": "1"}
    ).responded
    assert not clinic.record_screening(
        doctor, child.id, dose_mcg=100, mas_before={"h": "2"}, mas_after={"h": "1+"}
    ).responded

    before, audited = db.snapshot(), db.audit_count()
    with pytest.raises(InvalidInput) as bad:
        clinic.record_screening(doctor, child.id, dose_mcg=50, mas_before={"h": "3"}, mas_after={"h": "1.5"})
    assert fields_of(bad) == {"mas_after.h"}
    with pytest.raises(InvalidInput) as bad:
        clinic.record_screening(doctor, child.id, dose_mcg=50, mas_before={"h": "3"}, mas_after={"k": "1"})
    assert "mas_after" in fields_of(bad)
    with pytest.raises(Forbidden):
        clinic.record_screening(users["nurse"], child.id, dose_mcg=50, mas_before={"h": "3"}, mas_after={"h": "1"})
    with pytest.raises(NotFound):
        clinic.record_screening(doctor, 9999, dose_mcg=50, mas_before={"h": "3"}, mas_after={"h": "1"})
    assert db.snapshot() == before and db.audit_count() == audited


# ---------------------------------------------------------------------------------- implant, interrogate


def test_implant_creates_a_virtual_pump_and_stores_the_exact_forecast(clinic, users, child, make_pump, db, clock):
    pump = make_pump(child.id, implanted_at=clock.now - timedelta(hours=2))
    stored = db.get(m.Pump, pump.id)
    assert clinic.gateway.exists(pump.id)  # its virtual pump, addressed by the clinic's id
    assert (stored.status, stored.serial, stored.model) == ("implanted", "SN-1", "peristaltic")
    assert stored.reading_reservoir_ml == 20
    assert stored.implanted_at == clock.now - timedelta(hours=2)
    assert stored.program == program_json(P(100)) and stored.program_version == 1
    assert stored.reading_at == clock.now
    assert stored.catheter_volume_ml == pytest.approx(0.19 + 50 * 0.0026)
    # 20 mL at 0.2 mL/day: the 2 mL alarm in 90 days, empty in 100
    assert stored.low_reservoir_alarm_at == clock.now + timedelta(days=90)
    assert stored.empty_at == clock.now + timedelta(days=100)
    stored_forecast_matches(stored)
    versions = db.all(m.ProgramVersion)
    assert [(v.pump_id, v.version, v.daily_dose_mcg, v.by) for v in versions] == [(pump.id, 1, 100, "clinician")]
    assert db.get(m.Patient, child.id).phase == "titrating"
    assert db.count(m.Interrogation) == 1
    assert "implant_pump" in [e.action for e in db.audit()]

    before, audited = db.snapshot(), db.audit_count()
    with pytest.raises(InvalidInput) as bad:
        make_pump(child.id, serial="SN-2")  # one implanted pump per patient
    assert fields_of(bad) == {"patient"}
    with pytest.raises(InvalidInput) as bad:
        make_pump(child.id, serial="SN-1")
    assert fields_of(bad) == {"serial"}
    with pytest.raises(InvalidInput) as bad:
        make_pump(child.id, serial="SN-3", reservoir_capacity_ml=30, reservoir_ml=25)
    assert fields_of(bad) == {"reservoir_capacity_ml"}
    with pytest.raises(Forbidden):
        clinic.implant_pump(
            users["nurse"],
            child.id,
            model="peristaltic",
            serial="SN-4",
            reservoir_capacity_ml=20,
            catheter_length_cm=50,
            reservoir_ml=20,
            concentration_mcg_per_ml=500,
            program=P(100),
        )
    assert db.snapshot() == before and db.audit_count() == audited


def test_interrogation_stores_each_pump_event_once(clinic, users, pump, db, clock):
    clock.advance(days=2)
    changed = clinic.change_program(users["clinician"], pump.id, P(110), expected_version=pump.version)
    clock.advance(hours=3)
    clinic.refill(
        users["nurse"],
        pump.id,
        withdrawn_ml=19.5,
        added_ml=20,
        concentration_mcg_per_ml=500,
        expected_version=changed.version,
    )
    first = [(e.id, e.seq, e.type) for e in db.all(m.PumpEvent)]
    assert [(seq, kind) for _, seq, kind in first] == [(1, "program_changed"), (2, "refill")]

    for hours in (1, 5):
        clock.advance(hours=hours)
        interrogated = clinic.interrogate(users["nurse"], pump.id)
        assert [(e.id, e.seq, e.type) for e in db.all(m.PumpEvent)] == first  # nothing new, nothing repeated
        assert interrogated.last_interrogation_at == clock.now
    with clinic.gateway.connect(pump.id) as connection:
        assert [e["seq"] for e in connection.read().log] == [seq for _, seq, _ in first]

    stored = db.get(m.Pump, pump.id)
    assert stored.reading_at == clock.now
    assert stored.reading_reservoir_ml == pytest.approx(20 - 0.22 * (6 / 24), abs=1e-6)
    stored_forecast_matches(stored)
    assert db.count(m.Interrogation, m.Interrogation.pump_id == pump.id) == 5  # implant, change, refill, 2 visits
    assert [e.action for e in db.audit()][-2:] == ["interrogate", "interrogate"]
    with pytest.raises(Forbidden):
        clinic.interrogate(users["caregiver"], pump.id)


# ---------------------------------------------------------------------------------- program changes


def test_program_change_versions_history_and_acknowledged_codes(clinic, users, pump, db, clock):
    doctor = users["clinician"]
    clock.advance(days=1, hours=1)
    first = clinic.change_program(doctor, pump.id, P(110), expected_version=pump.version)
    assert (first.program_version, first.daily_dose_mcg, first.last_program_change_at) == (2, 110, clock.now)
    stored_forecast_matches(db.get(m.Pump, pump.id))

    # +1.8 %: below the usual +5 % step for a child, sent only once acknowledged
    clock.advance(days=1, hours=1)
    before, audited = db.snapshot(), db.audit_count()
    with pytest.raises(NotSent) as refused:
        clinic.change_program(doctor, pump.id, P(112), expected_version=first.version)
    assert [f["code"] for f in refused.value.findings] == ["increase_step_min"]
    assert db.snapshot() == before and db.audit_count() == audited
    assert db.get(m.Pump, pump.id).version == first.version

    second = clinic.change_program(
        doctor, pump.id, P(112), expected_version=first.version, acknowledged=("increase_step_min",)
    )
    assert second.program_version == 3 and second.program == program_json(P(112))
    history = db.all(m.ProgramVersion, m.ProgramVersion.pump_id == pump.id, order_by=m.ProgramVersion.version)
    assert [(v.version, v.daily_dose_mcg, v.by, v.acknowledged) for v in history] == [
        (1, 100, "clinician", []),
        (2, 110, "clinician", []),
        (3, 112, "clinician", ["increase_step_min"]),
    ]
    assert history[2].program == program_json(P(112)) and history[2].at == clock.now
    entry = db.audit()[-1]
    assert (entry.actor, entry.action, entry.entity_id) == ("clinician", "change_program", pump.id)
    assert entry.before["daily_dose_mcg"] == 110 and entry.after["daily_dose_mcg"] == 112
    assert entry.after["acknowledged"] == ["increase_step_min"]

    # a hard limit is never sent, acknowledged or not; a nurse may not change the program
    clock.advance(days=2)
    before, audited = db.snapshot(), db.audit_count()
    with pytest.raises(NotSent) as refused:
        clinic.change_program(
            doctor, pump.id, P(300), expected_version=second.version, acknowledged=("increase_step_max",)
        )
    assert "increase_step_max" in [f["code"] for f in refused.value.findings]
    with pytest.raises(Forbidden):
        clinic.change_program(users["nurse"], pump.id, P(115), expected_version=second.version)
    assert db.snapshot() == before and db.audit_count() == audited
    clinic.interrogate(users["nurse"], pump.id)
    assert db.get(m.Pump, pump.id).program == program_json(P(112))  # the pump itself was not changed


def test_no_increase_in_the_first_24_hours(clinic, users, pump, db, clock):
    clock.advance(hours=20)
    with pytest.raises(NotSent) as refused:
        clinic.change_program(users["clinician"], pump.id, P(110), expected_version=pump.version)
    assert "no_increase_first_24h" in [f["code"] for f in refused.value.findings]
    assert db.count(m.ProgramVersion) == 1


def test_two_changes_from_the_same_version_the_second_is_a_conflict(clinic, users, pump, db, clock):
    clock.advance(days=2)
    read = db.get(m.Pump, pump.id).version
    clinic.change_program(users["clinician"], pump.id, P(110), expected_version=read)
    before, audited = db.snapshot(), db.audit_count()
    with pytest.raises(Conflict):
        clinic.change_program(users["admin"], pump.id, P(90), expected_version=read)
    with pytest.raises(Conflict):
        clinic.refill(
            users["nurse"], pump.id, withdrawn_ml=19, added_ml=20, concentration_mcg_per_ml=500, expected_version=read
        )
    with pytest.raises(Conflict):
        clinic.retire_pump(users["clinician"], pump.id, expected_version=read)
    assert db.snapshot() == before and db.audit_count() == audited
    assert db.get(m.Pump, pump.id).program == program_json(P(110))


def test_truly_concurrent_changes_one_wins_and_the_pump_agrees(clinic, users, pump, db, clock):
    """Both requests read version v before either writes: one is stored, the other is a Conflict,
    and the pump runs the program of the one that was stored (never the loser's)."""
    clock.advance(days=2)
    read = db.get(m.Pump, pump.id).version
    both_read = threading.Barrier(2)
    hold = clinic.locks.hold

    def hold_after_both_read(pump_id, wait_s=None):
        # Wait for the other request to get this far too, so both ask for the pump at once with
        # the same version: the pump lock lets one in, the other then finds its version stale.
        with suppress(threading.BrokenBarrierError):
            both_read.wait(timeout=0.5)
        return hold(pump_id, wait_s)

    clinic.locks.hold = hold_after_both_read
    results: dict[int, object] = {}

    def change(rate: int) -> None:
        try:
            results[rate] = clinic.change_program(users["clinician"], pump.id, P(rate), expected_version=read)
        except Exception as exc:
            results[rate] = exc

    threads = [threading.Thread(target=change, args=(rate,)) for rate in (108, 110)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    clinic.locks.hold = hold
    won = [rate for rate, r in results.items() if isinstance(r, m.Pump)]
    lost = [r for r in results.values() if not isinstance(r, m.Pump)]
    assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], Conflict), results
    assert db.count(m.ProgramVersion) == 2
    assert db.get(m.Pump, pump.id).program == program_json(P(won[0]))
    clinic.interrogate(users["nurse"], pump.id)
    assert db.get(m.Pump, pump.id).program == program_json(P(won[0]))
    assert [e.action for e in db.audit()].count("change_program") == 1


# ---------------------------------------------------------------------------------- refills


def test_refill_records_it_and_books_the_next_refill_before_the_alarm(clinic, users, pump, db, clock):
    nurse = users["nurse"]
    clock.advance(days=10, hours=1)  # Thursday 3 December, 10:00: 2.0083 mL used
    expected = 20 - 0.2 * (10 + 1 / 24)
    refill = clinic.refill(
        nurse,
        pump.id,
        withdrawn_ml=round(expected - 1.9, 3),
        added_ml=20,
        concentration_mcg_per_ml=500,
        expected_version=pump.version,
        lot="L-1",
    )
    stored = db.get(m.Refill, refill.id)
    assert stored.expected_ml == pytest.approx(expected, abs=1e-6)
    assert stored.discrepancy_ml == pytest.approx(-1.9, abs=1e-3)
    assert stored.flagged is False  # within 2 mL
    assert (stored.added_ml, stored.lot, stored.by, stored.at, stored.reviewed_by) == (
        20,
        "L-1",
        "nurse",
        clock.now,
        None,
    )
    after = db.get(m.Pump, pump.id)
    assert after.reading_reservoir_ml == pytest.approx(20) and after.last_refill_at == clock.now
    stored_forecast_matches(after)
    assert after.low_reservoir_alarm_at == clock.now + timedelta(days=90)

    (booked,) = db.all(m.Appointment)
    day = booked.at.date()
    assert (booked.kind, booked.status, booked.pump_id, booked.patient_id) == (
        "refill",
        "booked",
        pump.id,
        pump.patient_id,
    )
    assert clinic.config.calendar.is_open(day) and booked.at.time() == DEFAULT_APPOINTMENT_TIME
    # Booked 7 days before the earliest plausible alarm (the learned flow's upper bound), which
    # comes before the pump's own date (Wednesday 3 March)
    assert after.low_reservoir_alarm_at.date() == date(2027, 3, 3)
    earliest = after.plausible_alarm_at
    assert earliest is not None and earliest < after.low_reservoir_alarm_at
    assert day <= (earliest - timedelta(days=7)).date()
    assert day == refill_booking_date(
        clock.now.date(), clock.now.date(), earliest, clinic.config.calendar, clinic.config.booking
    )
    actions = [e.action for e in db.audit()]
    assert actions[-2:] == ["book_appointment", "refill"]

    # more than 2 mL off: confirmed, stored and flagged; the booking is replaced
    clock.advance(days=20)
    version = db.get(m.Pump, pump.id).version
    before, audited = db.snapshot(), db.audit_count()
    with pytest.raises(NotSent) as refused:
        clinic.refill(
            nurse, pump.id, withdrawn_ml=13.5, added_ml=20, concentration_mcg_per_ml=500, expected_version=version
        )
    assert [f["code"] for f in refused.value.findings] == ["refill_discrepancy"]
    assert db.snapshot() == before and db.audit_count() == audited
    flagged = clinic.refill(
        nurse,
        pump.id,
        withdrawn_ml=13.5,
        added_ml=20,
        concentration_mcg_per_ml=500,
        expected_version=version,
        acknowledged=("refill_discrepancy",),
    )
    stored = db.get(m.Refill, flagged.id)
    assert stored.flagged is True and stored.discrepancy_ml == pytest.approx(13.5 - 16.0, abs=1e-6)
    assert stored.acknowledged == ["refill_discrepancy"]
    old, new = db.all(m.Appointment)
    assert (old.id, old.status) == (booked.id, "cancelled")
    assert new.status == "booked" and clinic.config.calendar.is_open(new.at.date())
    assert new.at < db.get(m.Pump, pump.id).low_reservoir_alarm_at
    assert db.count(m.Appointment, m.Appointment.status == "booked") == 1

    with pytest.raises(Forbidden):
        clinic.review_discrepancy(nurse, flagged.id)
    reviewed = clinic.review_discrepancy(users["clinician"], flagged.id)
    assert db.get(m.Refill, reviewed.id).reviewed_by == "clinician"
    with pytest.raises(Forbidden):
        clinic.refill(
            users["caregiver"],
            pump.id,
            withdrawn_ml=19,
            added_ml=20,
            concentration_mcg_per_ml=500,
            expected_version=db.get(m.Pump, pump.id).version,
        )


def test_an_overfill_is_refused_and_nothing_is_stored(clinic, users, pump, db, clock):
    clock.advance(days=5)
    before, audited = db.snapshot(), db.audit_count()
    with pytest.raises(NotSent) as refused:
        clinic.refill(
            users["nurse"],
            pump.id,
            withdrawn_ml=19,
            added_ml=25,
            concentration_mcg_per_ml=500,
            expected_version=pump.version,
            acknowledged=("refill_overfill",),
        )
    assert "refill_overfill" in [f["code"] for f in refused.value.findings]
    assert db.snapshot() == before and db.audit_count() == audited
    clinic.interrogate(users["nurse"], pump.id)
    assert db.get(m.Pump, pump.id).reading_reservoir_ml == pytest.approx(19, abs=1e-6)  # the pump was not refilled


# ---------------------------------------------------------------------------------- appointments, retiring


def test_appointments_book_done_missed_cancelled_and_closed_days(clinic, users, child, other_child, pump, db, clock):
    nurse = users["nurse"]
    tuesday = datetime(2026, 12, 1, 10, 0)
    made = [
        clinic.book(nurse, child.id, kind=kind, at=tuesday + timedelta(hours=i), pump_id=pump.id)
        for i, kind in enumerate(("titration", "refill", "mri_check"))
    ]
    assert [a.status for a in db.all(m.Appointment)] == ["booked"] * 3
    for appointment, status in zip(made, ("done", "missed", "cancelled")):
        clinic.set_appointment_status(nurse, appointment.id, status)
        entry = db.audit()[-1]
        assert (entry.action, entry.before["status"], entry.after["status"]) == (
            f"appointment_{status}",
            "booked",
            status,
        )
    assert [a.status for a in db.all(m.Appointment)] == ["done", "missed", "cancelled"]

    before, audited = db.snapshot(), db.audit_count()
    with pytest.raises(InvalidInput) as bad:
        clinic.book(nurse, child.id, kind="refill", at=datetime(2026, 12, 5, 10, 0))  # a Saturday
    assert fields_of(bad) == {"at"}
    with pytest.raises(InvalidInput) as bad:
        clinic.book(nurse, child.id, kind="checkup", at=tuesday)
    assert fields_of(bad) == {"kind"}
    with pytest.raises(InvalidInput) as bad:
        clinic.book(nurse, other_child.id, kind="refill", at=tuesday, pump_id=pump.id)
    assert fields_of(bad) == {"pump_id"}
    with pytest.raises(Conflict, match="is already done"):  # the record's state: 409
        clinic.set_appointment_status(nurse, made[0].id, "missed")
    with pytest.raises(InvalidInput):
        clinic.set_appointment_status(nurse, made[0].id, "booked")
    with pytest.raises(NotFound):
        clinic.set_appointment_status(nurse, 9999, "done")
    with pytest.raises(Forbidden):
        clinic.book(users["caregiver"], child.id, kind="refill", at=tuesday)
    assert db.snapshot() == before and db.audit_count() == audited


def test_retire_a_pump(clinic, users, child, pump, make_pump, db, clock):
    clinic.book(users["nurse"], child.id, kind="refill", at=datetime(2026, 12, 1, 10, 0), pump_id=pump.id)
    clock.advance(days=3)
    with pytest.raises(Forbidden):
        clinic.retire_pump(users["nurse"], pump.id, expected_version=pump.version)
    retired = clinic.retire_pump(users["clinician"], pump.id, expected_version=pump.version, reason="infection")
    stored = db.get(m.Pump, pump.id)
    assert (stored.status, stored.explanted_at) == ("explanted", clock.now)
    assert [a.status for a in db.all(m.Appointment)] == ["cancelled"]
    entry = db.audit()[-1]
    assert (entry.action, entry.before["status"], entry.after["status"], entry.after["reason"]) == (
        "retire_pump",
        "implanted",
        "explanted",
        "infection",
    )
    with pytest.raises(Conflict, match="is not implanted"):
        clinic.retire_pump(users["clinician"], pump.id, expected_version=retired.version)
    assert worklist_items(clinic, db, clock) == []  # a retired pump is off the worklist
    replacement = make_pump(child.id, serial="SN-2")  # the patient may have a new one
    assert replacement.status == "implanted"


# ---------------------------------------------------------------------------------- who sees what


def test_a_caregiver_sees_only_their_own_child(clinic, users, child, other_child, pump, make_pump, db):
    theirs = make_pump(other_child.id, serial="SN-9")
    carer = users["caregiver"]
    with db.sessions() as s:
        assert [p.id for p in s.execute(clinic.visible_patients(s, carer)).scalars()] == [child.id]
        assert clinic.patient(s, carer, child.id).id == child.id
        assert clinic.pump(s, carer, pump.id).id == pump.id
        with pytest.raises(NotFound):
            clinic.patient(s, carer, other_child.id)
        with pytest.raises(NotFound):
            clinic.pump(s, carer, theirs.id)
        assert {p.id for p in s.execute(clinic.visible_patients(s, users["nurse"])).scalars()} == {
            child.id,
            other_child.id,
        }


# ---------------------------------------------------------------------------------- the worklist


def worklist_items(clinic, db, clock):
    with db.sessions() as s:
        return worklist(s, clock.now, clinic.config.booking)


def reasons_by_pump(items) -> dict[int, set[Reason]]:
    return {i.pump_id: set(i.reasons) for i in items}


def test_worklist_alarm_before_the_booked_refill(clinic, users, child, pump, db, clock):
    late = pump.low_reservoir_alarm_at + timedelta(days=3)
    late = datetime.combine(clinic.config.calendar.on_or_after(late.date()), DEFAULT_APPOINTMENT_TIME)
    clinic.book(users["nurse"], child.id, kind="refill", at=late, pump_id=pump.id)
    (item,) = worklist_items(clinic, db, clock)
    assert Reason.ALARM_BEFORE_REFILL in item.reasons and Reason.NO_REFILL_BOOKED not in item.reasons

    # a refill booked in time takes it off that reason
    clock.advance(days=2)
    version = db.get(m.Pump, pump.id).version
    clinic.refill(
        users["nurse"], pump.id, withdrawn_ml=19.6, added_ml=20, concentration_mcg_per_ml=500, expected_version=version
    )
    items = worklist_items(clinic, db, clock)
    assert all(Reason.ALARM_BEFORE_REFILL not in i.reasons and Reason.NO_REFILL_BOOKED not in i.reasons for i in items)


def test_worklist_overdue_missed_and_titration_due(clinic, users, child, pump, db, clock):
    nurse = users["nurse"]
    clinic.book(nurse, child.id, kind="mri_check", at=datetime(2026, 11, 25, 10, 0), pump_id=pump.id)
    missed = clinic.book(nurse, child.id, kind="titration", at=datetime(2026, 11, 26, 10, 0))
    clock.set(datetime(2026, 11, 27, 9, 0))
    clinic.set_appointment_status(nurse, missed.id, "missed")
    (item,) = worklist_items(clinic, db, clock)
    assert {Reason.OVERDUE, Reason.MISSED} <= set(item.reasons)
    assert Reason.TITRATION_DUE not in item.reasons

    clock.set(datetime(2026, 12, 8, 9, 0))  # 15 days after the implant (the last change): a visit is due
    (item,) = worklist_items(clinic, db, clock)
    assert Reason.TITRATION_DUE in item.reasons
    clinic.book(nurse, child.id, kind="titration", at=datetime(2026, 12, 10, 10, 0))
    (item,) = worklist_items(clinic, db, clock)
    assert Reason.TITRATION_DUE not in item.reasons


def test_worklist_discrepancy_until_reviewed(clinic, users, pump, db, clock):
    clock.advance(days=10)
    refill = clinic.refill(
        users["nurse"],
        pump.id,
        withdrawn_ml=15,
        added_ml=20,
        concentration_mcg_per_ml=500,
        expected_version=pump.version,
        acknowledged=("refill_discrepancy",),
    )
    assert refill.flagged
    assert Reason.DISCREPANCY in reasons_by_pump(worklist_items(clinic, db, clock))[pump.id]
    clinic.review_discrepancy(users["clinician"], refill.id)
    assert Reason.DISCREPANCY not in reasons_by_pump(worklist_items(clinic, db, clock)).get(pump.id, set())


def test_worklist_is_ordered_by_days_until_empty(clinic, users, make_patient, make_pump, db, clock):
    fills = {"Ann": 12.0, "Ben": 4.0, "Cat": 18.0}
    pumps = {}
    for i, (name, ml) in enumerate(fills.items()):
        patient = make_patient(name)
        pumps[name] = make_pump(patient.id, serial=f"SN-{i}", reservoir_ml=ml).id
    items = worklist_items(clinic, db, clock)
    assert [i.pump_id for i in items] == [pumps["Ben"], pumps["Ann"], pumps["Cat"]]
    # to the earliest plausible empty reservoir: a new pump is planned at the edge of its label
    own = [20, 60, 90]
    for item, days in zip(items, own):
        ratio = device_prior(PERISTALTIC).upper(DEFAULT_FLOW, days - 2 / 0.2)
        assert item.days_until_empty == pytest.approx(days / ratio, abs=1e-4)
    assert items[0].urgency == 1 and items[-1].urgency == 2


def test_a_missed_visit_leaves_the_worklist_once_a_later_one_is_done(clinic, users, child, pump, db, clock):
    nurse = users["nurse"]
    missed = clinic.book(nurse, child.id, kind="titration", at=datetime(2026, 11, 26, 10, 0))
    later = clinic.book(nurse, child.id, kind="titration", at=datetime(2026, 11, 30, 10, 0))
    clock.set(datetime(2026, 11, 27, 9, 0))
    clinic.set_appointment_status(nurse, missed.id, "missed")
    assert Reason.MISSED in reasons_by_pump(worklist_items(clinic, db, clock))[pump.id]
    clock.set(datetime(2026, 11, 30, 11, 0))
    clinic.set_appointment_status(nurse, later.id, "done")
    assert Reason.MISSED not in reasons_by_pump(worklist_items(clinic, db, clock)).get(pump.id, set())


def test_clinic_days_and_closures_come_from_the_environment():
    from datetime import date

    import pytest

    from itb.shell.clinic_setup import SetupError, calendar_from_env

    calendar = calendar_from_env({"ITB_CLINIC_DAYS": "mon, Wednesday ,fri", "ITB_CLOSED_DAYS": "2026-12-25"})
    assert calendar.weekdays == frozenset({0, 2, 4})
    assert not calendar.is_open(date(2026, 12, 25))
    assert calendar_from_env({}).weekdays == frozenset(range(5))
    with pytest.raises(SetupError, match="ITB_CLINIC_DAYS"):
        calendar_from_env({"ITB_CLINIC_DAYS": "mon,funday"})
    with pytest.raises(SetupError, match="ITB_CLOSED_DAYS"):
        calendar_from_env({"ITB_CLOSED_DAYS": "25/12/2026"})


def test_linking_a_caregiver_twice_is_refused_not_a_crash(clinic, users, child):
    import pytest

    from itb.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match="already linked"):
        clinic.link_caregiver(users["admin"], child.id, users["caregiver"].user_id)


def test_a_change_while_titrating_books_the_next_titration_visit_in_2_to_3_weeks(clinic, users, pump, db, clock):
    clock.advance(days=2)
    clinic.change_program(
        users["clinician"], pump.id, DosingProgram.simple_continuous(110), expected_version=pump.version
    )
    (visit,) = [a for a in db.all(m.Appointment) if a.kind == "titration"]
    days_after = (visit.at.date() - clock().date()).days
    assert 14 <= days_after <= 21 and visit.at.weekday() < 5
    assert "titration planner" in visit.notes


def test_pain_is_an_outcome_scale_0_to_10(clinic, users, child):
    import pytest

    from itb.domain.errors import InvalidInput

    saved = clinic.record_assessment(users["clinician"], child.id, "pain", {"score": 6, "during": "spasms at night"})
    assert saved.data == {"score": 6, "during": "spasms at night"}
    with pytest.raises(InvalidInput, match=r"data\.score"):
        clinic.record_assessment(users["clinician"], child.id, "pain", {"score": 11})


def test_learned_flow_books_the_refill_and_lists_a_drifting_pump(clinic, users, pump, db, clock):
    """shared/domain.md, "Refills": the pump only counts, and a fixed margin does not cover a pump
    that runs fast within its tolerance. A pump giving 10 % more than it counts is learned from
    its refills' withdrawals, booked from its earliest plausible alarm, and listed as drifting."""
    for _ in range(3):
        clock.advance(days=30)
        read = clinic.interrogate(users["nurse"], pump.id)
        counted = 20.0 - read.reading_reservoir_ml  # 0.2 mL a day, 6 mL counted
        clinic.refill(
            users["nurse"],
            pump.id,
            withdrawn_ml=round(20.0 - 1.10 * counted, 3),
            added_ml=20,
            concentration_mcg_per_ml=500,
            expected_version=read.version,
        )
    after = db.get(m.Pump, pump.id)
    assert after.flow_refills == 3 and after.flow_ratio == pytest.approx(1.10, abs=0.02)
    # the earliest plausible alarm: 18 mL to the alarm at about 1.1 x 0.2 mL a day, not 90 days
    assert after.low_reservoir_alarm_at == clock.now + timedelta(days=90)
    assert timedelta(days=70) < after.plausible_alarm_at - clock.now < timedelta(days=18 / 0.22)
    booked = [a for a in db.all(m.Appointment) if a.status == "booked" and a.kind == "refill"]
    assert [a.at.date() for a in booked] == [
        refill_booking_date(
            clock.now.date(), clock.now.date(), after.plausible_alarm_at, clinic.config.calendar, clinic.config.booking
        )
    ]
    assert booked[0].at.date() <= (after.plausible_alarm_at - timedelta(days=7)).date()
    assert "earliest plausible" in booked[0].notes
    item = {i.pump_id: i for i in worklist_items(clinic, db, clock)}[pump.id]
    assert Reason.FLOW_DRIFT in item.reasons
    assert any("more than it counts (learned from 3 refills)" in d and "pocket fill" in d for d in item.details)

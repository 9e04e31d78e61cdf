"""Worklist items clear when their cause is resolved, and a family's symptom report is a worklist
row until a staff member reviews it (issue 13), on SQLite and PostgreSQL.

- a family's unreviewed report is the reason ``symptom_report`` (named, in plain words, an
  emergency first), in ``GET /api/worklist`` too; a patient with no implanted pump is listed;
- ``review_symptom_report`` (staff) stores who, when and the note, audited; the report leaves;
- any refill (ITB's own, a vendor refill session) closes a past-due refill booking of the pump
  ("done by the refill of <date>") and ends a missed refill's follow-up, a walk-in too;
- a booked replacement quiets ``eri_soon`` (and is said with ``eri_reached``);
- a reviewed discrepancy leaves.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from test_clinic_import import FILE as IMPORT_FILE

from itb.adapters.db import models as m
from itb.adapters.db.engine import alembic_config
from itb.clinic.services import Conflict, Forbidden, NotFound
from itb.clinic.worklist import worklist
from itb.domain.errors import InvalidInput
from itb.domain.worklist import Reason

#: 2026-11-30, a Monday: a week after the implant (the conftest's MONDAY)
BOOKED = datetime(2026, 11, 30, 10, 0)
#: two days later: the booking has passed
LATER = datetime(2026, 12, 2, 9, 0)


def items(clinic, db, clock):  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return worklist(s, clock.now, clinic.config.booking)


def item_of(clinic, db, clock, patient_id: int):  # type: ignore[no-untyped-def]
    return next((i for i in items(clinic, db, clock) if i.patient_id == patient_id), None)


def reasons(clinic, db, clock, patient_id: int) -> set[Reason]:  # type: ignore[no-untyped-def]
    item = item_of(clinic, db, clock, patient_id)
    return set() if item is None else set(item.reasons)


def refill(clinic, users, db, pump_id: int, withdrawn_ml: float, **more):  # type: ignore[no-untyped-def]
    version = db.get(m.Pump, pump_id).version
    return clinic.refill(
        users["nurse"], pump_id, withdrawn_ml=withdrawn_ml, added_ml=20, concentration_mcg_per_ml=500,
        expected_version=version, **more,
    )  # fmt: skip


@pytest.fixture
def calm(clinic, users, child, pump):  # type: ignore[no-untyped-def]
    """The child's pump with its next refill booked (2027-01-22, before its earliest alarm): not listed."""
    return clinic.book(users["nurse"], child.id, kind="refill", at=datetime(2027, 1, 22, 10, 0), pump_id=pump.id)


# ---------------------------------------------------------------------------------- symptom reports


def test_symptom_report_is_a_worklist_row_named_in_plain_words(clinic, users, child, pump, db, clock, client, calm):
    assert item_of(clinic, db, clock, child.id) is None  # a calm pump: not listed
    report = clinic.report_symptoms(users["caregiver"], child.id, ["stiffness_returning", "itching"], "since noon")
    assert report.urgency == 1
    item = item_of(clinic, db, clock, child.id)
    assert item is not None and item.reasons == (Reason.SYMPTOM_REPORT,)
    assert item.patient_name == "Ana B" and item.pump_id == pump.id and item.urgency == 1
    assert item.symptom_report_ids == (report.id,)
    words = item.details[0]
    assert "stiffness or spasms coming back, itching" in words and "stiffness_returning" not in words
    assert "call the clinic today" in words and "possible withdrawal" in words and "“since noon”" in words
    assert report.triage is not None and report.triage["instruction"] in words
    # the API and the CLI build the same list
    (row,) = client("nurse").get("/api/worklist").json()
    assert row["reasons"] == ["symptom_report"] and row["patient_name"] == "Ana B" and row["urgency"] == 1
    assert row["details"] == list(item.details)


def test_symptom_report_emergency_is_first_above_the_soonest_empty(
    clinic, users, child, pump, make_patient, make_pump, db, clock, calm
):
    other = make_patient("Ben Low")
    low = make_pump(other.id, serial="SN-LOW", reservoir_ml=3.0)  # empty in days: first without a report
    assert [i.pump_id for i in items(clinic, db, clock)] == [low.id]
    clinic.report_symptoms(users["caregiver"], child.id, ["high_fever", "rigidity"])
    first, second = items(clinic, db, clock)
    assert (first.patient_id, first.urgency, first.reasons) == (child.id, 0, (Reason.SYMPTOM_REPORT,))
    assert second.pump_id == low.id
    assert "Emergency: call the family now" in first.details[0] and "high fever, rigid muscles" in first.details[0]


def test_symptom_report_of_a_patient_with_no_pump_is_listed(clinic, users, child, db, clock, client):
    """A child with no implanted pump (screening) who reports is listed for the report alone."""
    assert items(clinic, db, clock) == []
    report = clinic.report_symptoms(users["caregiver"], child.id, ["seizure"])
    (item,) = items(clinic, db, clock)
    assert item.pump_id is None and item.reasons == (Reason.SYMPTOM_REPORT,) and item.urgency == 0
    assert "seizure" in item.details[0] and "No implanted pump" in item.details[0]
    (row,) = client("nurse").get("/api/worklist").json()
    assert row["pump_id"] is None and row["reasons"] == ["symptom_report"]
    clinic.review_symptom_report(users["nurse"], report.id, "called back: seen in the emergency department")
    assert items(clinic, db, clock) == []


def test_review_symptom_report_stores_who_when_and_the_note_audited_and_it_leaves(
    clinic, users, child, pump, db, clock, client, calm
):
    report = clinic.report_symptoms(users["caregiver"], child.id, ["fever"])
    clock.advance(hours=1)
    audited = db.audit_count()
    reviewed = clinic.review_symptom_report(users["nurse"], report.id, "  called back: fever gone, no other sign  ")
    assert reviewed.reviewed_by == "nurse" and reviewed.reviewed_at == clock.now
    assert reviewed.review_note == "called back: fever gone, no other sign"
    stored = db.get(m.SymptomReport, report.id)
    assert (stored.reviewed_by, stored.reviewed_at, stored.review_note) == (
        "nurse", clock.now, "called back: fever gone, no other sign",
    )  # fmt: skip
    entry = db.audit()[-1]
    assert db.audit_count() == audited + 1
    assert (entry.action, entry.entity, entry.entity_id, entry.actor) == (
        "review_symptom_report", "symptom_report", report.id, "nurse",
    )  # fmt: skip
    assert entry.before["reviewed_by"] is None and entry.after["review_note"].startswith("called back")
    assert item_of(clinic, db, clock, child.id) is None
    # the report's view carries the review (the chart, GET /api/patients/{id}/symptom-reports)
    (shown,) = client("clinician").get(f"/api/patients/{child.id}/symptom-reports").json()
    assert shown["reviewed_by"] == "nurse" and shown["review_note"].startswith("called back")
    # reviewed once: the first review stands
    with pytest.raises(Conflict):
        clinic.review_symptom_report(users["clinician"], report.id, "called back again")
    assert db.get(m.SymptomReport, report.id).reviewed_by == "nurse"


@pytest.mark.parametrize("role", ["admin", "clinician", "nurse"])
def test_review_symptom_report_by_any_staff_role(clinic, users, child, db, role):
    report = clinic.report_symptoms(users["caregiver"], child.id, ["headache"])
    assert clinic.review_symptom_report(users[role], report.id, "reviewed").reviewed_by == role


def test_review_symptom_report_refuses_a_caregiver_an_empty_note_and_an_unknown_report(clinic, users, child, db):
    report = clinic.report_symptoms(users["caregiver"], child.id, ["headache"])
    audited = db.audit_count()
    with pytest.raises(Forbidden):
        clinic.review_symptom_report(users["caregiver"], report.id, "all fine")
    with pytest.raises(InvalidInput):
        clinic.review_symptom_report(users["nurse"], report.id, "   ")
    with pytest.raises(InvalidInput):
        clinic.review_symptom_report(users["nurse"], report.id, "x" * 2001)
    with pytest.raises(NotFound):
        clinic.review_symptom_report(users["nurse"], report.id + 1000, "called back")
    assert db.get(m.SymptomReport, report.id).reviewed_by is None and db.audit_count() == audited


# ---------------------------------------------------------------------------------- refills close bookings


def test_refill_closes_a_past_due_booking(clinic, users, child, pump, db, clock):
    """A late refill (two days after its booking) closes the booking: done, "done by the refill of
    <date>"; the overdue reason leaves."""
    booking = clinic.book(users["nurse"], child.id, kind="refill", at=BOOKED, pump_id=pump.id)
    clock.set(LATER)
    assert Reason.OVERDUE in reasons(clinic, db, clock, child.id)
    refill(clinic, users, db, pump.id, withdrawn_ml=18.2)
    closed = db.get(m.Appointment, booking.id)
    assert closed.status == "done" and closed.notes == "done by the refill of 2026-12-02"
    assert Reason.OVERDUE not in reasons(clinic, db, clock, child.id)
    booked = db.all(m.Appointment, m.Appointment.kind == "refill", m.Appointment.status == "booked")
    assert len(booked) == 1 and booked[0].at > clock.now  # the next one


def test_refill_closes_a_past_due_booking_made_for_the_patient(clinic, users, child, pump, db, clock):
    """A refill booked for the patient with no pump named is closed by the pump's refill too."""
    booking = clinic.book(users["nurse"], child.id, kind="refill", at=BOOKED, notes="after school")
    clock.set(LATER)
    refill(clinic, users, db, pump.id, withdrawn_ml=18.2)
    closed = db.get(m.Appointment, booking.id)
    assert closed.status == "done" and closed.notes == "after school; done by the refill of 2026-12-02"


@pytest.fixture
def vendor_pump(clinic, users, clock):  # type: ignore[no-untyped-def]
    """The imported SynchroMed II: 20 mL of 500 mcg/mL at 200 mcg/day from 2026-11-20 09:00."""
    clock.set(datetime(2026, 12, 1, 9, 0))
    report = clinic.import_clinic(users["clinician"], IMPORT_FILE).json()
    return next(r for r in report["rows"] if r["pump_serial"] == "NGP123456H")


def test_vendor_refill_session_closes_a_past_due_booking(clinic, users, db, clock, vendor_pump):
    pump_id, patient_id = vendor_pump["pump_id"], vendor_pump["patient_id"]
    booking = clinic.book(users["nurse"], patient_id, kind="refill", at=datetime(2026, 12, 2, 10, 0), pump_id=pump_id)
    clock.set(datetime(2026, 12, 4, 9, 0))
    assert Reason.OVERDUE in reasons(clinic, db, clock, patient_id)
    outcome = clinic.record_session(
        users["nurse"], pump_id, kind="refill", at=clock.now - timedelta(hours=1),
        expected_version=db.get(m.Pump, pump_id).version, withdrawn_ml=14.4, added_ml=20,
        concentration_mcg_per_ml=500,
    )  # fmt: skip
    assert outcome.booked is not None and outcome.booked.at > clock.now
    closed = db.get(m.Appointment, booking.id)
    assert closed.status == "done" and closed.notes.endswith("done by the refill of 2026-12-04")
    assert Reason.OVERDUE not in reasons(clinic, db, clock, patient_id)


def test_missed_refill_leaves_once_a_later_refill_is_done(clinic, users, child, pump, db, clock):
    """The missed follow-up: a missed refill is followed up until a later refill is done, a walk-in
    with no booking too (the rule looks at the refills themselves)."""
    booking = clinic.book(users["nurse"], child.id, kind="refill", at=BOOKED, pump_id=pump.id)
    clock.set(LATER)
    clinic.set_appointment_status(users["nurse"], booking.id, "missed")
    assert Reason.MISSED in reasons(clinic, db, clock, child.id)
    clock.advance(hours=3)  # the family walks in the same day, with nothing booked
    booked_today = db.count(m.Appointment, m.Appointment.status == "booked", m.Appointment.at < clock.now)
    assert booked_today == 0
    refill(clinic, users, db, pump.id, withdrawn_ml=18.2)
    assert Reason.MISSED not in reasons(clinic, db, clock, child.id)
    assert db.get(m.Appointment, booking.id).status == "missed"  # the record of the miss stays


def test_missed_refill_stays_while_no_later_refill_is_done(clinic, users, child, pump, db, clock):
    booking = clinic.book(users["nurse"], child.id, kind="refill", at=BOOKED, pump_id=pump.id)
    clock.set(LATER)
    clinic.set_appointment_status(users["nurse"], booking.id, "missed")
    clinic.book(users["nurse"], child.id, kind="refill", at=datetime(2026, 12, 3, 10, 0), pump_id=pump.id)
    assert Reason.MISSED in reasons(clinic, db, clock, child.id)  # booked again, not done yet


# ---------------------------------------------------------------------------------- replacement, discrepancy


def _eri_in(db, pump_id: int, at: datetime, reached: bool = False) -> None:  # type: ignore[no-untyped-def]
    with db.sessions.begin() as s:
        p = s.get(m.Pump, pump_id)
        p.eri_at, p.eri_reached = at, reached


def test_replacement_booked_quiets_eri_soon(clinic, users, child, pump, db, clock):
    _eri_in(db, pump.id, clock.now + timedelta(days=100))
    item = item_of(clinic, db, clock, child.id)
    assert item is not None and Reason.ERI_SOON in item.reasons
    assert "plan the pump replacement" in item.details[item.reasons.index(Reason.ERI_SOON)]
    clinic.book(users["nurse"], child.id, kind="replacement", at=datetime(2027, 1, 11, 8, 0), pump_id=pump.id)
    item = item_of(clinic, db, clock, child.id)
    assert item is not None and Reason.ERI_SOON in item.reasons and item.urgency == 2
    words = item.details[item.reasons.index(Reason.ERI_SOON)]
    assert words.startswith("Replacement booked for 2027-01-11") and "plan the pump replacement" not in words


def test_replacement_booked_is_said_with_eri_reached(clinic, users, child, pump, db, clock):
    _eri_in(db, pump.id, clock.now - timedelta(days=5), reached=True)
    clinic.book(users["nurse"], child.id, kind="replacement", at=datetime(2026, 12, 14, 8, 0), pump_id=pump.id)
    item = item_of(clinic, db, clock, child.id)
    assert item is not None and Reason.ERI_REACHED in item.reasons
    assert "Replacement booked for 2026-12-14" in item.details[item.reasons.index(Reason.ERI_REACHED)]


def test_reviewed_discrepancy_leaves(clinic, users, child, pump, db, clock):
    clock.advance(days=10)
    flagged = refill(clinic, users, db, pump.id, withdrawn_ml=15, acknowledged=("refill_discrepancy",))
    assert flagged.flagged and Reason.DISCREPANCY in reasons(clinic, db, clock, child.id)
    clinic.review_discrepancy(users["clinician"], flagged.id)
    assert Reason.DISCREPANCY not in reasons(clinic, db, clock, child.id)


# ---------------------------------------------------------------------------------- the migration


def test_migration_0007_adds_the_review_columns_and_goes_back(engine):
    """0007 on this database: the columns are there and match the model; down to 0006 and up again."""

    def columns() -> set[str]:
        return {c["name"] for c in sa.inspect(engine).get_columns("symptom_reports")}

    assert {"reviewed_at", "review_note"} <= columns()
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), m.Base.metadata)
    assert [d for d in diffs if "symptom_reports" in repr(d)] == []
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    for target, present in (("0006", False), ("head", True)):
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if target == "0006" else command.upgrade)(config, target)
        engine.dispose()
        assert ({"reviewed_at", "review_note"} <= columns()) is present
        assert "urgency" in columns()

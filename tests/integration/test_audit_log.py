"""The audit log on SQLite and PostgreSQL: every write leaves entries, the hash chain verifies, and
changing, deleting or reordering an entry behind the service's back is detected."""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import JSON, DateTime, bindparam, event, text

from itb.adapters.db import models as m
from itb.clinic.audit import GENESIS, verify_chain
from itb.clinic.audit import record as audit_record
from itb.clinic.services import SYSTEM, Conflict, Forbidden, NotSent
from itb.clinic.users import create_user
from itb.domain.errors import InvalidInput
from itb.domain.program import DosingProgram

P = DosingProgram.simple_continuous


def problems(db) -> list[str]:
    with db.sessions() as s:
        return verify_chain(s)


def execute(db, sql: str, **params) -> None:
    statement = text(sql)
    typed = {"before": JSON, "after": JSON, "at": DateTime}
    statement = statement.bindparams(*(bindparam(k, type_=typed[k]) for k in params if k in typed))
    with db.engine.begin() as connection:
        connection.execute(statement, params)


def ids(db) -> list[int]:
    return [e.id for e in db.audit()]


@pytest.fixture
def history(clinic, users, child, other_child, pump, db, clock) -> list[m.AuditEntry]:
    """A few days of clinic work, then its audit log."""
    clock.advance(days=2)
    changed = clinic.change_program(users["clinician"], pump.id, P(110), expected_version=pump.version)
    clock.advance(days=5)
    clinic.refill(
        users["nurse"],
        pump.id,
        withdrawn_ml=18.4,
        added_ml=20,
        concentration_mcg_per_ml=500,
        expected_version=changed.version,
    )
    clinic.book(users["nurse"], other_child.id, kind="screening", at=datetime(2026, 12, 4, 10, 0))
    entries = db.audit()
    assert len(entries) >= 12 and problems(db) == []
    return entries


# ---------------------------------------------------------------------------------- what is written


def test_every_write_adds_entries_with_actor_action_before_and_after(clinic, users, db, clock, sessions):
    admin, doctor, nurse = users["admin"], users["clinician"], users["nurse"]
    state: dict = {}

    def new_user():
        with sessions.begin() as s:
            create_user(s, "nurse2", "pebble-forest-tango-27", "nurse", by=admin, at=clock())

    def register():
        state["patient"] = clinic.register_patient(nurse, name="Ana B", birth_date=date(2018, 5, 2), origin="cerebral")

    def link():
        clinic.link_caregiver(admin, state["patient"].id, users["caregiver"].user_id)

    def screen():
        clinic.record_screening(doctor, state["patient"].id, dose_mcg=50, mas_before={"h": "3"}, mas_after={"h": "1+"})

    def assess():
        clinic.record_assessment(doctor, state["patient"].id, "mas", {"h": "1+"})

    def implant():
        state["pump"] = clinic.implant_pump(
            doctor,
            state["patient"].id,
            model="peristaltic",
            serial="SN-A",
            reservoir_capacity_ml=20,
            catheter_length_cm=50,
            reservoir_ml=20,
            concentration_mcg_per_ml=500,
            program=P(100),
            acknowledged=("no_positive_screening",),
        )

    def interrogate():
        clock.advance(days=2)
        state["pump"] = clinic.interrogate(nurse, state["pump"].id)

    def change():
        state["pump"] = clinic.change_program(doctor, state["pump"].id, P(110), expected_version=state["pump"].version)

    def refill():
        clock.advance(days=3)
        state["refill"] = clinic.refill(
            nurse,
            state["pump"].id,
            withdrawn_ml=15,
            added_ml=20,
            concentration_mcg_per_ml=500,
            expected_version=state["pump"].version,
            acknowledged=("refill_discrepancy",),
        )

    def review():
        clinic.review_discrepancy(doctor, state["refill"].id)

    def book():
        state["appointment"] = clinic.book(nurse, state["patient"].id, kind="titration", at=datetime(2026, 12, 9, 10))

    def missed():
        clinic.set_appointment_status(nurse, state["appointment"].id, "missed")

    def retire():
        pump = db.get(m.Pump, state["pump"].id)
        clinic.retire_pump(doctor, pump.id, expected_version=pump.version, reason="infection")

    writes = [  # (the write, its actor, the actions it records, whether each records a "before")
        (new_user, "admin", ["create_user"], False),
        (register, "nurse", ["register_patient"], False),
        (link, "admin", ["link_caregiver"], False),
        (screen, "clinician", ["record_screening"], False),
        (assess, "clinician", ["record_assessment"], False),
        (implant, "clinician", ["implant_pump"], False),
        (interrogate, "nurse", ["interrogate"], True),
        (change, "clinician", ["change_program", "book_appointment"], None),  # + the next titration visit
        (refill, "nurse", ["book_appointment", "refill"], None),
        (review, "clinician", ["review_discrepancy"], True),
        (book, "nurse", ["book_appointment"], False),
        (missed, "nurse", ["appointment_missed"], True),
        (retire, "clinician", ["retire_pump"], True),
    ]
    for write, actor, actions, has_before in writes:
        last = db.audit()[-1].id
        write()
        added = [e for e in db.audit() if e.id > last]
        assert [e.action for e in added] == actions, write.__name__
        for e in added:
            assert e.actor == actor and e.after, write.__name__
            assert e.at == clock.now and e.entity and e.entity_id is not None
            if has_before is not None:
                assert (e.before is not None) is has_before, write.__name__
        assert problems(db) == [], write.__name__

    refill_entry = db.all(m.AuditEntry, m.AuditEntry.action == "refill")[0]
    assert refill_entry.before["reading_reservoir_ml"] < 20
    assert refill_entry.after["reading_reservoir_ml"] == pytest.approx(20)
    assert refill_entry.after["refill"]["flagged"] is True
    user_entry = db.all(m.AuditEntry, m.AuditEntry.action == "create_user")[-1]
    assert user_entry.after == {"username": "nurse2", "role": "nurse"}  # never the password or its hash


def test_a_refused_write_adds_no_entry_and_the_chain_goes_on(clinic, users, child, pump, db, clock):
    clock.advance(days=2)
    count = db.audit_count()
    with pytest.raises(NotSent):
        clinic.change_program(users["clinician"], pump.id, P(500), expected_version=pump.version)
    with pytest.raises(Forbidden):
        clinic.change_program(users["nurse"], pump.id, P(110), expected_version=pump.version)
    with pytest.raises(Conflict):
        clinic.change_program(users["clinician"], pump.id, P(110), expected_version=pump.version - 1)
    with pytest.raises(InvalidInput):
        clinic.book(users["nurse"], child.id, kind="refill", at=datetime(2026, 12, 6, 10))  # a Sunday
    assert db.audit_count() == count
    with db.sessions() as s:
        head = s.get(m.AuditHead, 1)
        assert head.count == count and head.last_hash == db.audit()[-1].hash
    clinic.change_program(users["clinician"], pump.id, P(110), expected_version=pump.version)
    assert db.audit_count() == count + 2 and problems(db) == []  # the change and the next titration visit


def test_the_chain_links_each_entry_to_the_one_before(history):
    assert history[0].prev_hash == GENESIS
    for before, entry in pairwise(history):
        assert entry.prev_hash == before.hash
    assert len({e.hash for e in history}) == len(history)


def test_the_service_never_updates_or_deletes_an_entry(clinic, users, child, pump, db, clock, engine):
    kept = [(e.id, e.hash, e.after, e.before) for e in db.audit()]
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        clock.advance(days=2)
        changed = clinic.change_program(users["clinician"], pump.id, P(110), expected_version=pump.version)
        clock.advance(days=2)
        refill = clinic.refill(
            users["nurse"],
            pump.id,
            withdrawn_ml=19.2,
            added_ml=20,
            concentration_mcg_per_ml=500,
            expected_version=changed.version,
        )
        clinic.interrogate(users["nurse"], pump.id)
        booked = clinic.book(users["nurse"], child.id, kind="mri_check", at=datetime(2026, 12, 10, 10))
        clinic.set_appointment_status(users["nurse"], booked.id, "cancelled")
        clinic.review_discrepancy(users["clinician"], refill.id)
        with pytest.raises(NotSent):
            clinic.change_program(users["clinician"], pump.id, P(900), expected_version=db.get(m.Pump, pump.id).version)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    writes = [s for s in statements if re.match(r"\s*(UPDATE|DELETE)\b", s, re.I) and "audit_log" in s]
    assert writes == []
    assert any(re.match(r"\s*INSERT INTO audit_log", s, re.I) for s in statements)
    assert [(e.id, e.hash, e.after, e.before) for e in db.audit()][: len(kept)] == kept
    assert problems(db) == []


def test_concurrent_writers_never_fork_the_chain(clinic, users, db):
    errors: list[BaseException] = []

    def register(n: int) -> None:
        try:
            for i in range(3):
                clinic.register_patient(users["nurse"], name=f"P{n}-{i}", birth_date=date(2015, 1, 1), origin="spinal")
        except BaseException as exc:
            errors.append(exc)

    count = db.audit_count()
    threads = [threading.Thread(target=register, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert db.audit_count() == count + 12 and db.count(m.Patient) == 12
    assert problems(db) == []


# ---------------------------------------------------------------------------------- what is detected


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("after", {"name": "Someone Else"}),
        ("before", {"status": "booked"}),
        ("actor", "nobody"),
        ("action", "nothing_happened"),
        ("at", datetime(2020, 1, 1)),
    ],
)
def test_changing_an_entry_is_detected(history, db, column, value):
    target = history[len(history) // 2]
    execute(db, f"UPDATE audit_log SET {column} = :{column} WHERE id = :id", id=target.id, **{column: value})
    assert getattr(db.get(m.AuditEntry, target.id), column) == value  # it was changed
    found = problems(db)
    assert found and all(str(target.id) in p and "changed" in p for p in found)


def test_storing_the_same_content_again_is_not_flagged(history, db):
    """The hash covers the content, not its spelling: the same JSON stored again verifies."""
    target = history[3]
    execute(
        db,
        "UPDATE audit_log SET after = :after WHERE id = :id",
        id=target.id,
        after=dict(reversed(list(target.after.items()))),
    )
    assert problems(db) == []


def test_changing_an_entry_and_its_hash_is_detected_by_the_next(history, db):
    target = history[4]
    execute(
        db,
        "UPDATE audit_log SET after = :after, hash = :hash WHERE id = :id",
        id=target.id,
        after={"forged": True},
        hash="f" * 64,
    )
    found = problems(db)
    assert any(f"audit entry {target.id}:" in p for p in found)
    assert any(f"audit entry {history[5].id}:" in p and "does not follow" in p for p in found)


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_deleting_an_entry_is_detected(history, db, which):
    target = {"first": history[0], "middle": history[len(history) // 2], "last": history[-1]}[which]
    execute(db, "DELETE FROM audit_log WHERE id = :id", id=target.id)
    assert target.id not in ids(db)
    found = problems(db)
    assert found
    if which == "last":
        assert found == ["audit log: entries are missing at its end"]
    else:
        assert any("does not follow" in p for p in found)


def test_reordering_entries_is_detected(history, db):
    a, b = history[2], history[6]
    execute(db, "UPDATE audit_log SET id = :id WHERE id = :old", id=-1, old=a.id)
    execute(db, "UPDATE audit_log SET id = :id WHERE id = :old", id=a.id, old=b.id)
    execute(db, "UPDATE audit_log SET id = :id WHERE id = :old", id=b.id, old=-1)
    assert db.get(m.AuditEntry, a.id).hash == b.hash
    found = problems(db)
    assert any(f"audit entry {a.id}:" in p and "does not follow" in p for p in found)


def test_the_api_reports_a_broken_chain(client, history, db):
    admin = client("admin")
    assert admin.get("/api/audit").json()["chain_intact"] is True
    execute(db, "UPDATE audit_log SET after = :after WHERE id = :id", id=history[1].id, after={"x": 1})
    assert admin.get("/api/audit").json()["chain_intact"] is False


def test_users_are_audited_by_whoever_created_them(sessions, db, clock, users):
    with sessions.begin() as s:
        create_user(s, "clin2", "clinician-2-pw", "clinician", by=SYSTEM, at=clock.now + timedelta(minutes=1))
    entry = db.audit()[-1]
    assert (entry.actor, entry.action, entry.entity, entry.after) == (
        "system",
        "create_user",
        "user",
        {"username": "clin2", "role": "clinician"},
    )
    assert problems(db) == []


def test_a_transaction_locks_the_head_once_for_all_its_entries(sessions, db, clock, engine):
    """Three entries in one transaction: the head is locked by the first and held for the others
    (the lock is an update of the head that changes nothing, ``itb.clinic.audit_chain.lock_head``;
    the head's new values are written once, when the transaction ends)."""
    locks: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "SET count=audit_head.count" in statement or "FOR UPDATE" in statement:
            locks.append(statement)

    count = db.audit_count()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with sessions.begin() as s:
            for n in range(3):
                audit_record(s, at=clock.now, actor="system", action="note", entity="test", entity_id=n)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(locks) == (2 if engine.dialect.name == "postgresql" else 1)  # and a SELECT ... FOR UPDATE
    assert db.audit_count() == count + 3 and problems(db) == []


def test_a_head_locked_in_a_savepoint_rolled_back_is_locked_again(sessions, db, clock):
    """A savepoint rolled back gives up the lock it took (and its entry): the next entry of the
    transaction locks the head again and follows the last entry kept."""
    count = db.audit_count()
    with sessions.begin() as s:
        savepoint = s.begin_nested()
        audit_record(s, at=clock.now, actor="system", action="dropped", entity="test", entity_id=1)
        savepoint.rollback()
        audit_record(s, at=clock.now, actor="system", action="kept", entity="test", entity_id=2)
        with s.begin_nested():  # a savepoint kept: the head locked outside it is used inside
            audit_record(s, at=clock.now, actor="system", action="kept", entity="test", entity_id=3)
    assert [e.action for e in db.audit()[count:]] == ["kept", "kept"]
    assert problems(db) == []

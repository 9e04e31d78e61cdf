"""The keyed audit chain on SQLite and PostgreSQL: someone with the database but not the audit key
cannot rewrite the log unseen, a verification reads only what is new since its last signed
checkpoint, an unkeyed log from before the key keeps verifying, and two processes writing at once
still make one chain. Each finding names its entry or checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import MONDAY
from sqlalchemy import insert, select, text
from test_audit_log import execute

from itb.adapters.db import models as m
from itb.adapters.db.engine import alembic_config, make_engine, migrate, session_factory
from itb.bootstrap import clinic_on
from itb.clinic import audit, views
from itb.clinic.audit_chain import GENESIS, chain_value
from itb.clinic.audit_check import Verification, verify
from itb.clinic.services import SYSTEM, ClinicConfig

ANOTHER_KEY = b"a-key-that-is-not-the-clinics-" * 2


def check(sessions, *, full: bool = False, save: bool = True) -> Verification:
    with sessions.begin() as s:
        return verify(s, full=full, save=save)


def register(clinic, count: int, name: str = "P") -> None:
    """``count`` new audit entries (one per patient registered)."""
    for i in range(count):
        clinic.register_patient(SYSTEM, name=f"{name} {i}", birth_date=date(2015, 1, 1), origin="spinal")


def rewrite(db, target_id: int, after: dict, key: bytes | None = None) -> None:
    """What someone with the database but not the key can do: change an entry, then recompute every
    chain value from it on (plain SHA-256, or an HMAC under a key of their own) and the head."""
    prev = GENESIS
    for e in db.audit():
        if e.id < target_id:
            prev = e.hash
            continue
        content = after if e.id == target_id else e.after
        value = chain_value(prev, e.at, e.actor, e.action, e.entity, e.entity_id, e.before, content, key=key)
        sql = "UPDATE audit_log SET after = :after, prev_hash = :prev, hash = :value WHERE id = :id"
        execute(db, sql, after=content, prev=prev, value=value, id=e.id)
        prev = value
    execute(db, "UPDATE audit_head SET last_hash = :value WHERE id = 1", value=prev)


def first_entry_problem(result: Verification):
    return next(p for p in result.problems if p.entry_id is not None)


@pytest.fixture
def checked(clinic, users, sessions) -> Verification:
    """A clinic's log of a few entries, verified once (its checkpoint signed), then 4 more entries."""
    register(clinic, 3, "before")
    first = check(sessions)
    assert first.intact and first.checkpoint_id is not None
    register(clinic, 4, "after")
    return first


# ---------------------------------------------------------------------------------- what is detected


@pytest.mark.parametrize("their_key", [None, ANOTHER_KEY], ids=["sha256", "own-key"])
def test_rewriting_an_entry_and_recomputing_every_hash_without_the_key_is_detected_with_its_id(
    checked, db, sessions, their_key
):
    new = [e for e in db.audit() if e.id > checked.last_entry_id]
    target = new[1]
    rewrite(db, target.id, {"name": "Someone Else"}, key=their_key)
    for full in (False, True):
        found = check(sessions, full=full)
        assert not found.intact and found.checkpoint_id is None
        problem = first_entry_problem(found)
        assert problem.entry_id == target.id and "changed" in problem.what, found.problems

    older = db.audit()[2]  # before the checkpoint: the incremental check sees its checkpoint's entry change
    rewrite(db, older.id, {"name": "Earlier"}, key=their_key)
    quick = check(sessions)
    assert any(p.checkpoint_id == checked.checkpoint_id and "pinned" in p.what for p in quick.problems)
    assert first_entry_problem(check(sessions, full=True)).entry_id == older.id


def test_deleting_an_entry_is_detected_with_the_id_of_the_entry_after_it(checked, db, sessions):
    new = [e for e in db.audit() if e.id > checked.last_entry_id]
    execute(db, "DELETE FROM audit_log WHERE id = :id", id=new[1].id)
    found = check(sessions)
    assert any(p.entry_id == new[2].id and "does not follow" in p.what for p in found.problems), found.problems

    execute(db, "DELETE FROM audit_log WHERE id = :id", id=checked.last_entry_id)  # the checkpoint's own entry
    found = check(sessions)
    assert any(
        (p.entry_id, p.checkpoint_id) == (checked.last_entry_id, checked.checkpoint_id) and "missing" in p.what
        for p in found.problems
    ), found.problems


def test_a_wrong_key_is_detected(checked, db, engine):
    stranger = session_factory(engine, ANOTHER_KEY)
    for full in (False, True):
        found = check(stranger, full=full)
        assert not found.intact and found.checkpoint_id is None
        seal = found.problems[0]
        assert seal.checkpoint_id is not None and "(the seal)" in seal.what and "audit key" in seal.what
        assert any(p.entry_id == db.audit()[0].id and "changed" in p.what for p in found.problems)
    assert db.count(m.AuditCheckpoint) == 2  # the seal and the one verified checkpoint: nothing signed since


def test_a_forged_checkpoint_is_detected_and_the_entries_it_hides_are_still_checked(checked, db, sessions):
    new = [e for e in db.audit() if e.id > checked.last_entry_id]
    rewrite(db, new[0].id, {"name": "Someone Else"})
    last = db.audit()[-1]
    execute(
        db,
        "INSERT INTO audit_checkpoints (kind, entry_id, entry_count, chain_value, at, mac)"
        " VALUES ('verified', :entry_id, :count, :value, :at, :mac)",
        entry_id=last.id,
        count=db.audit_count(),
        value=last.hash,
        at=last.at,
        mac="f" * 64,
    )
    forged = db.all(m.AuditCheckpoint)[-1]
    found = check(sessions)
    assert any(p.checkpoint_id == forged.id and "signature" in p.what for p in found.problems), found.problems
    assert first_entry_problem(found).entry_id == new[0].id  # checked from the last genuine checkpoint

    execute(db, "DELETE FROM audit_checkpoints WHERE id = :id", id=forged.id)
    execute(db, "UPDATE audit_checkpoints SET entry_id = 1 WHERE id = :id", id=checked.checkpoint_id)
    moved = check(sessions, full=True)
    assert any(p.checkpoint_id == checked.checkpoint_id and "signature" in p.what for p in moved.problems)


def test_deleting_the_seal_is_detected(checked, db, sessions):
    seal = db.all(m.AuditCheckpoint)[0]
    execute(db, "DELETE FROM audit_checkpoints WHERE id = :id", id=seal.id)
    found = check(sessions, full=True)
    assert any("seal is missing" in p.what for p in found.problems), found.problems


# ---------------------------------------------------------------------------------- incremental


def test_incremental_verification_reads_only_the_entries_since_its_checkpoint(clinic, users, db, sessions):
    register(clinic, 5)
    first = check(sessions)
    assert (first.checked, first.from_entry_id) == (db.audit_count(), 0)
    assert first.intact and first.last_entry_id == db.audit()[-1].id
    again = check(sessions)
    assert (again.checked, again.from_entry_id, again.checkpoint_id) == (0, first.last_entry_id, None)
    register(clinic, 3)
    third = check(sessions)
    assert (third.checked, third.from_entry_id) == (3, first.last_entry_id) and third.intact
    assert third.checkpoint_id is not None and third.last_entry_id == db.audit()[-1].id
    whole = check(sessions, full=True)
    assert whole.intact and whole.checked == db.audit_count() == whole.entries


def test_the_audit_page_signs_a_checkpoint_only_once_100_entries_are_new(clinic, users, db, sessions):
    register(clinic, 3)
    verified = db.count(m.AuditCheckpoint, m.AuditCheckpoint.kind == "verified")
    assert views.audit_page(clinic, SYSTEM).chain_intact
    assert db.count(m.AuditCheckpoint, m.AuditCheckpoint.kind == "verified") == verified  # 7 new: not yet
    with sessions.begin() as s:
        row = {"at": MONDAY, "actor": "nurse", "action": "note", "entity": "patient", "entity_id": 1}
        audit.record_many(s, [{**row, "before": None, "after": {"n": k}} for k in range(100)])
    assert views.audit_page(clinic, SYSTEM).chain_intact
    signed = db.all(m.AuditCheckpoint)[-1]
    assert (signed.kind, signed.entry_id, signed.entry_count) == ("verified", db.audit()[-1].id, db.audit_count())


def test_a_verification_without_saving_writes_nothing(clinic, users, db, sessions):
    register(clinic, 2)
    before = db.count(m.AuditCheckpoint)
    assert check(sessions, save=False).intact and check(sessions, full=True, save=False).intact
    assert db.count(m.AuditCheckpoint) == before


# ---------------------------------------------------------------------------------- the upgrade


def migrate_to(engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def unkeyed_log(engine, count: int) -> list[str]:
    """An audit log as release 0010 wrote it (plain SHA-256 values): its values, in order."""
    prev, rows = GENESIS, []
    for i in range(count):
        entry = {
            "at": datetime(2026, 1, 1 + i, 9),
            "actor": "nurse",
            "action": "register_patient",
            "entity": "patient",
            "entity_id": i + 1,
            "before": None,
            "after": {"id": i + 1, "name": f"Old {i}"},
        }
        value = chain_value(prev, **entry)
        rows.append({**entry, "prev_hash": prev, "hash": value})
        prev = value
    with engine.begin() as c:
        c.execute(insert(m.AuditEntry.__table__), rows)
        c.execute(insert(m.AuditHead.__table__), [{"id": 1, "last_hash": prev, "count": count}])
    return [r["hash"] for r in rows]


@pytest.mark.parametrize("first", ["write", "verify"])
def test_upgrading_from_an_unkeyed_chain_keeps_it_verifying(empty_db_url, tmp_path, first):
    engine = make_engine(empty_db_url)
    try:
        migrate_to(engine, "0010")
        old = unkeyed_log(engine, 6)
        migrate(engine)
        with engine.connect() as connection:  # the migration makes the tables the models describe
            diffs = compare_metadata(MigrationContext.configure(connection), m.Base.metadata)
        assert [d for d in diffs if "audit" in repr(d)] == []
        clinic = clinic_on(engine, ClinicConfig(data_dir=tmp_path / "data"))
        before = check(clinic.sessions, full=True, save=False)
        assert before.intact and before.sealed_at_entry_id is None  # not sealed until the first write
        if first == "verify":
            sealing = check(clinic.sessions)
            assert sealing.intact and sealing.checked == 6 and sealing.sealed_at_entry_id == 6
        register(clinic, 2)
        with clinic.sessions() as s:
            entries = list(s.execute(select(m.AuditEntry).order_by(m.AuditEntry.id)).scalars())
            seals = s.execute(select(m.AuditCheckpoint).where(m.AuditCheckpoint.kind == "seal")).scalars().all()
        assert [e.hash for e in entries[:6]] == old  # the old entries keep their values
        assert entries[6].prev_hash == old[-1]  # the first keyed entry chains from the last old one
        assert entries[6].hash != chain_value(entries[6].prev_hash, **_content(entries[6]))  # and is keyed
        assert [(s.entry_id, s.chain_value) for s in seals] == [(entries[5].id, old[-1])]
        whole = check(clinic.sessions, full=True)
        assert whole.intact and whole.sealed_at_entry_id == entries[5].id and whole.entries == 8

        rewrite(_DB(engine), entries[2].id, {"id": 3, "name": "Rewritten"})  # the old part, recomputed
        found = check(clinic.sessions, full=True)
        assert not found.intact and any(p.entry_id == entries[5].id and "pinned" in p.what for p in found.problems)
    finally:
        engine.dispose()


def _content(e: m.AuditEntry) -> dict:
    fields = ("at", "actor", "action", "entity", "entity_id", "before", "after")
    return {f: getattr(e, f) for f in fields}


class _DB:
    """The few reads :func:`rewrite` and :func:`execute` make, on a bare engine."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def audit(self) -> list[m.AuditEntry]:
        with session_factory(self.engine)() as s:
            return list(s.execute(select(m.AuditEntry).order_by(m.AuditEntry.id)).scalars())


# ---------------------------------------------------------------------------------- concurrency

WRITER = """
import sys, time
from datetime import date
from pathlib import Path
from itb.adapters.db.engine import make_engine
from itb.bootstrap import clinic_on
from itb.clinic.services import SYSTEM, ClinicConfig
url, data, name = sys.argv[1:]
clinic = clinic_on(make_engine(url), ClinicConfig(data_dir=Path(data)))
(Path(data) / f"ready-{name}").touch()
deadline = time.monotonic() + 60
while not (Path(data) / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
for i in range(15):
    clinic.register_patient(SYSTEM, name=f"{name} {i}", birth_date=date(2015, 1, 1), origin="spinal")
"""


def test_two_processes_writing_at_once_make_one_chain(db_url, tmp_path):
    """Two server processes on one fresh database, each writing as fast as it can, the first
    writes racing to seal the chain and to make the key: one seal, one chain, every entry keyed."""
    engine = make_engine(db_url)
    migrate(engine)
    data = tmp_path / "data"
    data.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "ITB_AUDIT_KEY"}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, db_url, str(data), name], env=env, stderr=subprocess.PIPE)
        for name in ("one", "two")
    ]
    deadline = time.monotonic() + 60
    while not all((data / f"ready-{n}").exists() for n in ("one", "two")) and time.monotonic() < deadline:
        time.sleep(0.01)
    (data / "go").touch()
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err.decode()
    clinic = clinic_on(engine, ClinicConfig(data_dir=data))
    with clinic.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM audit_checkpoints WHERE kind = 'seal'")).scalar_one() == 1
    found = check(clinic.sessions, full=True)
    assert found.intact and found.entries == found.checked == 30, found.problems
    engine.dispose()


# ---------------------------------------------------------------------------------- the API


def test_the_api_verifies_and_reports_a_tampered_chain_with_ids_never_failing(client, checked, db):
    assert client("clinician").get("/api/audit/verify").status_code == 403
    admin = client("admin")
    answer = admin.get("/api/audit/verify")
    assert answer.status_code == 200 and answer.json()["intact"] is True
    assert answer.json()["checked"] == 4 and answer.json()["from_entry_id"] == checked.last_entry_id
    assert admin.get("/api/audit/verify", params={"full": "true"}).json()["checked"] == db.audit_count()

    target, last = db.audit()[-2:]  # the latest checkpoint pins the last entry
    rewrite(db, target.id, {"forged": True})
    for params, named in (({}, last.id), ({"full": "true"}, target.id)):
        answer = admin.get("/api/audit/verify", params=params)
        assert answer.status_code == 200 and answer.json()["intact"] is False
        assert answer.json()["problems"][0]["entry_id"] == named, answer.json()["problems"]
    page = admin.get("/api/audit")
    assert page.status_code == 200 and page.json()["chain_intact"] is False
    assert target.id in [p["entry_id"] for p in page.json()["problems"]]

    if db.engine.dialect.name == "sqlite":  # a column holding what it cannot hold (PostgreSQL refuses it)
        with db.engine.begin() as c:
            c.execute(text("UPDATE audit_log SET at = 'not a date' WHERE id = :id"), {"id": target.id})
        for path in ("/api/audit/verify", "/api/audit"):
            answer = admin.get(path)
            assert answer.status_code == 200, answer.text
            assert False in (answer.json().get("intact"), answer.json().get("chain_intact"))

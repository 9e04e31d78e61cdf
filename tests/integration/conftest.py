"""Fixtures for the clinic's integration and API tests, each run on SQLite and on PostgreSQL.

Every test gets its own database: a file in ``tmp_path`` for SQLite, a fresh schema
(``itb_t_<uuid>``, dropped afterwards) for PostgreSQL. PostgreSQL is found at
``$ITB_TEST_POSTGRES_URL`` (default: the local trust-auth ``test`` database); when it cannot be
reached, its variants are skipped, or fail when ``$CI`` is set. The clinic's clock is a
:class:`Clock` the test moves; users of every role exist, and ``client(role)`` is a TestClient
logged in through the token endpoint.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from itb.adapters.audit_key import audit_key as load_audit_key
from itb.adapters.db import models as m
from itb.adapters.db.engine import make_engine, migrate, session_factory
from itb.bootstrap import clinic_on
from itb.clinic import users as users_module
from itb.clinic.services import SYSTEM, Actor, Clinic, ClinicConfig
from itb.domain.program import DosingProgram

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: A Monday: the clinic is open (Monday to Friday by default).
MONDAY = datetime(2026, 11, 23, 9, 0)
SECRET = "integration-test-secret-" + "k" * 40
ROLES = ("admin", "clinician", "nurse", "caregiver")
#: one strong password per role (the clinic's rule: 12 characters or more, hard to guess, not the username)
PASSWORDS = {
    "admin": "quartz-lantern-orbit-52",
    "clinician": "copper-heron-valley-83",
    "nurse": "maple-drift-comet-19",
    "caregiver": "lilac-anchor-summit-64",
}

# ---------------------------------------------------------------------------------- the database


def postgres_url() -> str:
    return os.environ.get("ITB_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


_postgres_problem: list[str | None] = []


def _postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used (None when it can); asked once per session."""
    if not _postgres_problem:
        engine = create_engine(postgres_url(), connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            _postgres_problem.append(None)
        except Exception as exc:  # any failure to connect means "not available"
            _postgres_problem.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        finally:
            engine.dispose()
    return _postgres_problem[0]


def _require_postgres() -> str:
    """The PostgreSQL URL, or the test is skipped (it fails when ``$CI`` is set)."""
    base = postgres_url()
    problem = _postgres_unreachable()
    if problem is not None:
        where = make_url(base).render_as_string(hide_password=True)
        message = f"PostgreSQL not reachable at {where} ({problem}); set ITB_TEST_POSTGRES_URL"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: the PostgreSQL variants must run)")
        pytest.skip(message)
    return base


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of its own (SQLite file, or a fresh PostgreSQL schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'clinic.db'}"
        return
    base = _require_postgres()
    schema = f"itb_t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest schema once per test process: each test's database
    starts as a copy of it (a file copy takes a millisecond, the migrations a seventh of a second)."""
    path = tmp_path_factory.mktemp("template") / "clinic.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as connection:  # the write-ahead log folded into the file before it is copied
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    """A PostgreSQL database migrated to the newest schema once per test process: each test's
    database is made from it as a template (``CREATE DATABASE … TEMPLATE``, a file copy)."""
    base = _require_postgres()
    name = f"itb_tmpl_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(base).set(database=name).render_as_string(hide_password=False))
    migrate(engine)
    engine.dispose()  # a template must have no connection when it is copied
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a database of its own at the newest schema: a copy of the migrated SQLite file,
    or a PostgreSQL database made from the migrated template (``empty_db_url``: no tables)."""
    if request.param == "sqlite":
        path = tmp_path / "clinic.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("migrated_postgres")
    base = postgres_url()
    name = f"itb_t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The test's database, at the newest schema."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def audit_key(tmp_path: Path) -> bytes:
    """The audit key of the clinic fixture (its data directory's, or ``$ITB_AUDIT_KEY``)."""
    return load_audit_key(tmp_path / "data")


@pytest.fixture
def sessions(engine: Engine, audit_key: bytes) -> sessionmaker[Session]:
    """Sessions carrying the clinic's audit key (a test may write audited records through them)."""
    return session_factory(engine, audit_key)


class DB:
    """Plain reads for the tests' assertions (each in a session of its own)."""

    def __init__(self, sessions: sessionmaker[Session], engine: Engine) -> None:
        self.sessions = sessions
        self.engine = engine

    def count(self, model: Any, *where: Any) -> int:
        with self.sessions() as s:
            return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()

    def all(self, model: Any, *where: Any, order_by: Any = None) -> list[Any]:
        with self.sessions() as s:
            query = select(model).where(*where).order_by(order_by if order_by is not None else model.id)
            return list(s.execute(query).scalars())

    def get(self, model: Any, key: Any) -> Any:
        with self.sessions() as s:
            return s.get(model, key)

    def audit(self) -> list[m.AuditEntry]:
        return self.all(m.AuditEntry)

    def audit_count(self) -> int:
        return self.count(m.AuditEntry)

    def snapshot(self) -> dict[str, int]:
        """How many rows each clinic table holds."""
        with self.sessions() as s:
            return {
                table.name: s.execute(select(func.count()).select_from(table)).scalar_one()
                for table in m.Base.metadata.sorted_tables
            }


@pytest.fixture
def db(sessions: sessionmaker[Session], engine: Engine) -> DB:
    return DB(sessions, engine)


# ---------------------------------------------------------------------------------- the clinic


@dataclass
class Clock:
    """The clinic's "now", moved by the test."""

    now: datetime = MONDAY

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, at: datetime) -> datetime:
        self.now = at
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def clinic(engine: Engine, clock: Clock, tmp_path: Path) -> Clinic:
    return clinic_on(engine, ClinicConfig(data_dir=tmp_path / "data"), clock=clock)


@pytest.fixture
def users(sessions: sessionmaker[Session], clock: Clock, monkeypatch: pytest.MonkeyPatch) -> dict[str, Actor]:
    """One user of each role (username = role), as the actor the service takes.

    Hashing stays argon2, with light parameters: the default ones take ~0.1 s per hash.
    """
    monkeypatch.setattr(users_module, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    out = {}
    with sessions.begin() as s:
        for role in ROLES:
            user = users_module.create_user(s, role, PASSWORDS[role], role, by=SYSTEM, at=clock())
            out[role] = Actor(user.username, user.role, user.id)
    return out


@pytest.fixture
def passwords() -> dict[str, str]:
    return dict(PASSWORDS)


@pytest.fixture
def make_patient(clinic: Clinic, users: dict[str, Actor]) -> Callable[..., m.Patient]:
    def make(name: str = "Ana B", **fields: Any) -> m.Patient:
        fields = {"birth_date": date(2018, 5, 2), "origin": "cerebral", "gmfcs": 4, **fields}
        return clinic.register_patient(users["admin"], name=name, **fields)

    return make


@pytest.fixture
def make_pump(clinic: Clinic, users: dict[str, Actor]) -> Callable[..., m.Pump]:
    """Implants a 20 mL peristaltic pump: 20 mL of 500 mcg/mL at 100 mcg/day (alarm in 90 days)."""

    def make(patient_id: int, serial: str = "SN-1", **fields: Any) -> m.Pump:
        fields = {
            "model": "peristaltic",
            "reservoir_capacity_ml": 20.0,
            "catheter_length_cm": 50.0,
            "reservoir_ml": 20.0,
            "concentration_mcg_per_ml": 500.0,
            "program": DosingProgram.simple_continuous(100),
            # no screening trial is recorded in these tests: the clinician confirms it
            "acknowledged": ("no_positive_screening",),
            **fields,
        }
        return clinic.implant_pump(users["clinician"], patient_id, serial=serial, **fields)

    return make


@pytest.fixture
def child(clinic: Clinic, users: dict[str, Actor], make_patient: Callable[..., m.Patient]) -> m.Patient:
    """The caregiver's child."""
    patient = make_patient("Ana B")
    clinic.link_caregiver(users["admin"], patient.id, users["caregiver"].user_id)
    return patient


@pytest.fixture
def other_child(make_patient: Callable[..., m.Patient]) -> m.Patient:
    """Another family's child."""
    return make_patient("Zoe C", birth_date=date(2016, 1, 9))


@pytest.fixture
def pump(child: m.Patient, make_pump: Callable[..., m.Pump]) -> m.Pump:
    return make_pump(child.id)


# ---------------------------------------------------------------------------------- the API


@pytest.fixture
def app(clinic: Clinic) -> Any:
    from itb.web.app import create_app

    return create_app(clinic, SECRET)


@pytest.fixture
def anonymous(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def client(app: Any, users: dict[str, Actor], anonymous: Any) -> Iterator[Callable[[str], Any]]:
    """``client(role)``: a TestClient carrying a bearer token got with that role's password."""
    from fastapi.testclient import TestClient

    made: dict[str, TestClient] = {}

    def get(role: str) -> TestClient:
        if role not in made:
            answer = anonymous.post("/api/auth/token", data={"username": role, "password": PASSWORDS[role]})
            assert answer.status_code == 200, answer.text
            token = answer.json()["access_token"]
            made[role] = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        return made[role]

    yield get
    for c in made.values():
        c.close()

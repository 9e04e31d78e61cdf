"""Fixtures for the clinic's integration and API tests, each run on SQLite and on PostgreSQL.

Every test gets a database to itself: a copy of a migrated file in ``tmp_path`` for SQLite; for
PostgreSQL, the test process's own database (``itb_w_<uuid>``, one per xdist worker), put back as
the migrations left it after each test (:class:`WorkerPostgres`), or, for ``empty_db_url``, a
fresh schema (``itb_t_<uuid>``, dropped afterwards). PostgreSQL is found at
``$ITB_TEST_POSTGRES_URL`` (default: the local trust-auth ``test`` database); when it cannot be
reached, its variants are skipped, or fail when ``$CI`` is set. The clinic's clock is a
:class:`Clock` the test moves; users of every role exist, and ``client(role)`` is a TestClient
logged in through the token endpoint.
"""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, literal, select, text, union_all
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from itb.adapters.audit_key import audit_key as load_audit_key
from itb.adapters.db import models as m
from itb.adapters.db.engine import make_engine, migrate, session_factory
from itb.bootstrap import clinic_on
from itb.clinic import users as users_module
from itb.clinic.password_policy import password_violations
from itb.clinic.services import SYSTEM, Actor, Clinic, ClinicConfig
from itb.domain.errors import Violation
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


@event.listens_for(Engine, "connect")
def _no_sync_to_disk(dbapi_connection: Any, _record: Any) -> None:
    """A test's SQLite file is not waited onto the disk at each commit (``synchronous=OFF``): what
    a commit makes visible, and to whom, is unchanged; only a power cut could lose it, and the
    file is the test's own. The PostgreSQL databases do the same (``synchronous_commit = off``)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


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


#: every object of the clinic's schema (tables, columns, indexes, constraints, types, triggers) and
#: its migration: the same text before and after a test means the test changed rows only
_SHAPE = text(
    """
    SELECT concat_ws('|',
      (SELECT string_agg(concat_ws(':', oid, relname, relkind, relnatts), ',' ORDER BY oid)
         FROM pg_class WHERE relnamespace = 'public'::regnamespace),
      (SELECT md5(string_agg(concat_ws(':', a.attrelid, a.attname, a.atttypid, a.attnotnull, a.attisdropped),
                             ',' ORDER BY a.attrelid, a.attnum))
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0),
      (SELECT string_agg(oid::text, ',' ORDER BY oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace),
      (SELECT string_agg(oid::text, ',' ORDER BY oid) FROM pg_type WHERE typnamespace = 'public'::regnamespace),
      (SELECT count(*) FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
        WHERE t.typnamespace = 'public'::regnamespace),
      (SELECT string_agg(t.oid::text, ',' ORDER BY t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = 'public'::regnamespace),
      (SELECT string_agg(version_num, ',') FROM public.alembic_version))
    """
)
_TABLES = text(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY tablename"
)
_SEQUENCES = text(
    "SELECT sequencename, coalesce(last_value, start_value), last_value IS NOT NULL"
    " FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
)
_OTHERS = text(
    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


class WorkerPostgres:
    """This test process's own PostgreSQL database at the newest schema, emptied after each test.

    Making a database per test (``CREATE DATABASE … TEMPLATE`` and ``DROP DATABASE``) costs one to
    two seconds on a small machine; putting one back as the migrations left it costs milliseconds:
    every table emptied (``DELETE``: ``TRUNCATE`` writes new files, twenty times slower here),
    the rows the migrations wrote put back (copied aside in the schema ``itb_seed``) and every
    sequence set back. A test that changed the schema itself (a migration test going down and up)
    is seen by :data:`_SHAPE`, and the database is then made again from nothing.
    """

    def __init__(self, base: str) -> None:
        self.admin = create_engine(base, isolation_level="AUTOCOMMIT")
        self.name = f"itb_w_{uuid.uuid4().hex[:16]}"
        self.url = make_url(base).set(database=self.name).render_as_string(hide_password=False)
        self._make()

    def _make(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
            # a commit is not waited onto the disk (visibility and locking are unchanged; see _no_sync_to_disk)
            connection.execute(text(f'ALTER DATABASE "{self.name}" SET synchronous_commit = off'))
        migrated = make_engine(self.url)
        migrate(migrated)
        migrated.dispose()
        self.own = create_engine(self.url, pool_size=1, max_overflow=0)  # one connection, kept
        with self.own.begin() as connection:
            tables = list(connection.execute(_TABLES).scalars())
            seeded = [t for t in tables if connection.execute(text(f'SELECT EXISTS (SELECT FROM "{t}")')).scalar()]
            connection.execute(text("CREATE SCHEMA itb_seed"))
            for table in seeded:
                connection.execute(text(f'CREATE TABLE itb_seed."{table}" AS TABLE public."{table}"'))
            sequences = connection.execute(_SEQUENCES).all()
            self.shape = connection.execute(_SHAPE).scalar_one()
        self._reset_sql = self._reset_statements(tables, seeded, sequences)

    @staticmethod
    def _reset_statements(tables: list[str], seeded: list[str], sequences: list[Any]) -> str:
        """One script: every table emptied (those that refer to others first), seeds and sequences back."""
        referring_first = [t.name for t in reversed(m.Base.metadata.sorted_tables)]
        order = [t for t in tables if t not in referring_first] + [t for t in referring_first if t in tables]
        statements = [f'DELETE FROM public."{t}"' for t in order]
        statements += [f'INSERT INTO public."{t}" OVERRIDING SYSTEM VALUE SELECT * FROM itb_seed."{t}"' for t in seeded]
        statements += [  # setval, not ALTER SEQUENCE … RESTART (which writes the sequence a new file)
            f"SELECT setval('public.\"{name}\"', {int(value)}, {'true' if called else 'false'})"
            for name, value, called in sequences
        ]
        return ";\n".join(statements)

    def reset(self) -> None:
        """The database as the migrations left it (made again when the test changed its schema)."""
        with self.own.begin() as connection:
            connection.execute(_OTHERS)  # whatever the test left connected (a child process, an engine)
            same = connection.execute(_SHAPE).scalar_one() == self.shape
            if same:
                connection.exec_driver_sql(self._reset_sql)
        if not same:
            self._drop()
            self._make()

    def _drop(self) -> None:
        self.own.dispose()
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    def close(self) -> None:
        self._drop()
        self.admin.dispose()


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[WorkerPostgres]:
    """The PostgreSQL database of this test process (one per xdist worker), at the newest schema."""
    database = WorkerPostgres(_require_postgres())
    try:
        yield database
    finally:
        database.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a database the test has to itself, at the newest schema: a copy of the migrated
    SQLite file, or this process's PostgreSQL database, put back as the migrations left it after
    the test (``empty_db_url``: no tables)."""
    if request.param == "sqlite":
        database: WorkerSqlite = request.getfixturevalue("worker_sqlite")
        try:
            yield database.start()
        finally:
            database.end()
        return
    database: WorkerPostgres = request.getfixturevalue("migrated_postgres")
    try:
        yield database.url
    finally:
        database.reset()


#: This test process's engines, one per database URL, kept from one test to the next with their
#: connections closed: SQLAlchemy compiles each statement once per engine, and a new engine for each
#: test compiled every statement of every test again (a tenth of an integration test's time).
_ENGINES: dict[str, Engine] = {}


class WorkerSqlite:
    """Where this test process's SQLite tests have their database, one after another: a copy of
    the migrated file under the same name each time (so that :func:`engine` keeps its engine).

    A test that left a connection to its file open (a command run in the test's process, an
    engine of its own) leaves the file's write-ahead log behind: that name is then not used again
    (a copy under an open connection would not be read as a new file), the next test gets another."""

    def __init__(self, folder: Path, template: Path) -> None:
        self.folder, self.template, self.used = folder, template, 0

    def _path(self) -> Path:
        return self.folder / f"clinic-{self.used}.db"

    def start(self) -> str:
        shutil.copyfile(self.template, self._path())
        return f"sqlite:///{self._path()}"

    def end(self) -> None:
        path = self._path()
        if any(path.with_name(path.name + end).exists() for end in ("-wal", "-shm")):
            kept = _ENGINES.pop(f"sqlite:///{path}", None)
            if kept is not None:
                kept.dispose()
            self.used += 1


@pytest.fixture(scope="session")
def worker_sqlite(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path) -> WorkerSqlite:
    return WorkerSqlite(tmp_path_factory.mktemp("sqlite"), migrated_sqlite)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The test's database, at the newest schema (an engine of this process's, its pool empty)."""
    engine = _ENGINES.get(db_url)
    if engine is None:
        engine = _ENGINES[db_url] = make_engine(db_url)
    listeners = _listener_counts(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        if _listener_counts(engine) != listeners:  # a test's own listener left on it: not kept
            del _ENGINES[db_url]


def _listener_counts(engine: Engine) -> dict[str, int]:
    return {name: len(getattr(engine.dispatch, name)) for name in engine.dispatch._event_names}


@pytest.fixture
def audit_key(tmp_path: Path) -> bytes:
    """The audit key of the clinic fixture (its data directory's, or ``$ITB_AUDIT_KEY``)."""
    return load_audit_key(tmp_path / "data")


@pytest.fixture
def sessions(engine: Engine, audit_key: bytes) -> sessionmaker[Session]:
    """Sessions carrying the clinic's audit key (a test may write audited records through them)."""
    return session_factory(engine, audit_key)


_ROW_COUNTS = union_all(
    *(select(literal(table.name).label("name"), func.count().label("rows")).select_from(table)
      for table in m.Base.metadata.sorted_tables)
)  # fmt: skip


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
        """How many rows each clinic table holds (one statement: a count per table, together)."""
        with self.sessions() as s:
            return dict(s.execute(_ROW_COUNTS).tuples().all())


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


@functools.cache
def _judged(password: str, username: str, field: str) -> tuple[Violation, ...]:
    """The password policy's answer for one of :data:`PASSWORDS`, asked once per test process."""
    return tuple(password_violations(password, username, field))


def _password_violations_once(password: str, username: str, field: str = "password") -> list[Violation]:
    return list(_judged(password, username, field))


@pytest.fixture
def users(sessions: sessionmaker[Session], clock: Clock, monkeypatch: pytest.MonkeyPatch) -> dict[str, Actor]:
    """One user of each role (username = role), as the actor the service takes.

    Hashing is argon2 at light parameters (the suite's, conftest.py). The policy's strength
    estimate of these four passwords (~70 ms each) is made once per process and remembered while
    they are created (the same answer: the estimate is a function of the password and the
    username); every other password, and these in the test itself, meet the policy anew.
    """
    out = {}
    with monkeypatch.context() as creating, sessions.begin() as s:
        creating.setattr(users_module, "password_violations", _password_violations_once)
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


class TestsClinic:
    """The clinic of the test running now, standing in for it in the app this process's tests share.

    Building the app (its ~60 page routes and their parameter validators) costs about a tenth of
    a second, a third of an ordinary test's own cost; the app holds nothing of a clinic but the
    clinic itself (its caches are keyed by content), so one app per process serves every test,
    each attribute read passed on to the test's clinic. A test that needs an app of its own (other
    options, a count of what one app did) calls ``create_app`` itself.
    """

    def __init__(self) -> None:
        self.current: Clinic | None = None

    def __getattr__(self, name: str) -> Any:
        current = self.__dict__["current"]
        if current is None:
            raise RuntimeError("no test's clinic is set")
        return getattr(current, name)


@functools.cache
def _shared_app() -> tuple[Any, TestsClinic]:
    from itb.web.app import create_app

    stand_in = TestsClinic()
    return create_app(stand_in, SECRET), stand_in  # type: ignore[arg-type]


@pytest.fixture
def app(clinic: Clinic) -> Iterator[Any]:
    """The web app on the test's clinic (one app per test process; see :class:`TestsClinic`)."""
    shared, stand_in = _shared_app()
    stand_in.current = clinic
    try:
        yield shared
    finally:
        stand_in.current = None


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

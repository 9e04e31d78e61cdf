"""Where the clinic's database is, and bringing it up to date (Alembic migrations).

SQLite is the embedded default: ``clinic.db`` in the user's data directory, or ``--db PATH``.
``ITB_DATABASE_URL`` (e.g. ``postgresql+psycopg://user@127.0.0.1:5432/itb``) selects another.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from itb.adapters.db.value_guard import install_value_guard

MIGRATIONS = Path(__file__).with_name("migrations")


def data_dir() -> Path:
    """The user's data directory for itb (``$ITB_HOME``, else ``~/.local/share/itb``)."""
    return Path(os.environ.get("ITB_HOME") or Path.home() / ".local" / "share" / "itb")


def database_url(db_path: str | None = None) -> str:
    if db_path:
        return f"sqlite:///{Path(db_path).expanduser().resolve()}"
    url = os.environ.get("ITB_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{data_dir() / 'clinic.db'}"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    install_value_guard(engine)  # no value either database cannot store reaches it (a 422, never a 500)
    return engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Create or upgrade every table to the newest migration."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


#: the key under which a session carries the audit log's key in ``Session.info`` (:func:`session_factory`)
AUDIT_KEY = "audit_key"


def session_factory(engine: Engine, audit_key: bytes | None = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; with ``audit_key`` (``itb.adapters.audit_key``), sessions that may
    write and verify the audit log (``itb.clinic.audit`` refuses a session without it)."""
    return sessionmaker(engine, expire_on_commit=False, info={} if audit_key is None else {AUDIT_KEY: audit_key})

"""Opening the clinic: the database (migrated to the newest schema), its data directory, the service."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from itb.adapters.db.engine import data_dir, database_url, make_engine, migrate, session_factory
from itb.clinic.services import Clinic, ClinicConfig


def open_clinic(db_path: str | None = None) -> tuple[Clinic, Engine]:
    """The clinic on ``--db PATH`` (SQLite), ``$ITB_DATABASE_URL``, or the default SQLite file.

    Virtual pumps' state files live beside a SQLite database, or in the data directory.
    """
    url = database_url(db_path)
    engine = make_engine(url)
    migrate(engine)
    where = Path(url.removeprefix("sqlite:///")).parent if url.startswith("sqlite:///") else data_dir()
    return Clinic(session_factory(engine), ClinicConfig(data_dir=where)), engine

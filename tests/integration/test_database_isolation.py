"""Each test has the database to itself, as the migrations left it (``db_url`` in conftest.py).

On PostgreSQL one database serves every test of a process and is put back after each; these
rounds (several per process whichever worker runs them) each find it as new, change it, and
leave the putting back to the fixture: rows written, ids used up, a column added.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from itb.adapters.db import models as m

ROUNDS = range(4)


@pytest.fixture(scope="module")
def as_migrated(migrated_sqlite) -> dict[str, int]:
    """Rows per table of a newly migrated database (the migrations seed a few)."""
    engine = sa.create_engine(f"sqlite:///{migrated_sqlite}")
    with engine.connect() as connection:
        counts = {
            t.name: connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in m.Base.metadata.sorted_tables
        }
    engine.dispose()
    return counts


@pytest.mark.parametrize("round_", ROUNDS)
def test_a_test_finds_the_rows_and_ids_as_migrated(round_, db, as_migrated, request):
    assert db.snapshot() == as_migrated
    first = request.getfixturevalue("make_patient")(f"Round {round_}")  # the users first, then the patient
    assert first.id == 1  # the ids the test before used are given again
    assert db.count(m.AuditEntry) > as_migrated["audit_log"]


@pytest.mark.parametrize("round_", ROUNDS)
def test_a_test_finds_the_schema_as_migrated(round_, engine):
    assert "isolation_probe" not in {c["name"] for c in sa.inspect(engine).get_columns("patients")}
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE patients ADD COLUMN isolation_probe INTEGER"))
    engine.dispose()
    assert "isolation_probe" in {c["name"] for c in sa.inspect(engine).get_columns("patients")}

"""What a PostgreSQL integration test's own database costs: made per test from a template, or
one per test process put back after each test (``tests/integration/conftest.py``), as a ratio.

    ITB_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python benchmarks/db_reset.py [--rounds N]

The two are timed in turn, round by round, in one run (the machine's drift falls on both):
``CREATE DATABASE … TEMPLATE`` and ``DROP DATABASE`` (what each test paid before), against
``WorkerPostgres.reset()`` after a test's worth of rows (a patient, a pump, their audit entries).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import text

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests" / "integration")]
from conftest import DEFAULT_POSTGRES_URL, WorkerPostgres  # noqa: E402

from itb.adapters.audit_key import audit_key  # noqa: E402
from itb.adapters.db.engine import make_engine  # noqa: E402
from itb.bootstrap import clinic_on  # noqa: E402
from itb.clinic.services import SYSTEM, ClinicConfig  # noqa: E402


def a_tests_worth_of_rows(url: str, data: Path) -> None:
    """What a typical test leaves: a patient and its audit entries."""
    engine = make_engine(url)
    clinic = clinic_on(engine, ClinicConfig(data_dir=data), clock=lambda: datetime(2026, 11, 23, 9))
    audit_key(data)
    clinic.register_patient(SYSTEM, name="Ana B", birth_date=date(2018, 5, 2), origin="cerebral", gmfcs=4)
    engine.dispose()


def copy_and_drop(database: WorkerPostgres) -> float:
    name = f"itb_bench_{uuid.uuid4().hex[:12]}"
    database.own.dispose()  # a template must have no connection when it is copied
    started = time.perf_counter()
    with database.admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{database.name}"'))
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    return time.perf_counter() - started


def reset(database: WorkerPostgres, data: Path) -> float:
    a_tests_worth_of_rows(database.url, data)
    started = time.perf_counter()
    database.reset()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    database = WorkerPostgres(os.environ.get("ITB_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    data = Path(f"/tmp/itb-bench-reset-{uuid.uuid4().hex[:8]}")
    try:
        pairs = [(copy_and_drop(database), reset(database, data)) for _ in range(args.rounds)]
    finally:
        database.close()
    made, put_back = (statistics.median(p[i] for p in pairs) for i in (0, 1))
    ratio = statistics.median(a / b for a, b in pairs)
    print(f"{args.rounds} rounds, medians: a database per test {made * 1e3:.0f} ms, put back {put_back * 1e3:.0f} ms")
    print(f"ratio (made per test / put back), median of the pairs: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Import speed: an existing clinic of N pumps into PostgreSQL (``shared/spec/clinic-import.md``).

    python benchmarks/clinic_import.py [--rows N [N ...]] [--url URL] [--seed S]

For each N (default: 1,000 and 10,000), in one run: writes N valid rows (SynchroMed II,
Prometra II and constant-flow pumps, simple and flexible programs), creates a database of its
own on the server of ``--url``, migrates it, and times reading and judging the file alone (the
floor: no database), a dry run (the file and the record judged, nothing stored), the import
itself, and a second import of the same file (every row ``unchanged``). Prints rows per second,
each as a ratio of the floor, and the SQL statements each sent per row (counted by an event
listener on the engine; an ``executemany`` counts once).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import event

from crash_campaign import temporary_database
from itb.adapters.db.engine import make_engine, migrate
from itb.bootstrap import clinic_on
from itb.clinic.services import SYSTEM, ClinicConfig
from itb.contracts.clinic_import import parse_clinic_csv

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
COLUMNS = (
    "patient_ref,family_name,given_name,birth_date,origin,pump_model,pump_serial,reservoir_capacity_ml,"
    "implanted_on,session_at,reservoir_ml,concentration_mcg_per_ml,program,flow_ml_per_day,vendor_alarm_at"
)


def clinic_file(rows: int, today: date, seed: int) -> str:
    rng = random.Random(seed)
    lines = [COLUMNS]
    for i in range(rows):
        kind = rng.choices(("synchromed-ii", "prometra-ii", "constant-flow"), (7, 2, 1))[0]
        capacity = rng.choice((20, 40)) if kind != "constant-flow" else rng.choice((16, 35, 50))
        session = datetime.combine(today - timedelta(days=rng.randint(1, 60)), datetime.min.time()) + timedelta(
            hours=rng.randint(8, 16)
        )
        conc = rng.choice((500, 1000, 2000))
        if kind == "constant-flow":
            program, flow = "", f"{rng.choice((0.5, 1.0, 1.5))}"
        elif rng.random() < 0.7:
            program, flow = f"{rng.randint(100, 800)}", ""
        else:
            day, night = rng.randint(200, 700), rng.randint(100, 500)
            program, flow = f"00:00={night};07:00={day};22:00={night}", ""
        born = date(1950, 1, 1) + timedelta(days=rng.randint(0, 25000))
        implanted = max(born + timedelta(days=800), date(2015, 1, 1))
        lines.append(
            f"MRN-{i:06d},Family{i},Given{i},{born.isoformat()},{rng.choice(('spinal', 'cerebral'))},{kind},"
            f"SN-{i:06d},{capacity},{implanted.isoformat()},{session:%Y-%m-%dT%H:%M},{capacity},{conc},{program},{flow},"
        )
    return "\n".join(lines) + "\n"


def timed(work) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure(rows: int, server_url: str, seed: int) -> None:
    """One size: its own database, the four timings, printed."""
    today = date.today()
    text = clinic_file(rows, today, seed)
    with temporary_database(server_url) as url, tempfile.TemporaryDirectory() as home:
        engine = make_engine(url)
        migrate(engine)
        clinic = clinic_on(engine, ClinicConfig(data_dir=Path(home)))
        sent = [0]

        @event.listens_for(engine, "before_cursor_execute")
        def count(*_: object) -> None:
            sent[0] += 1

        def counted(work):  # type: ignore[no-untyped-def]
            before = sent[0]
            seconds = timed(work)
            return seconds, sent[0] - before

        parse_clinic_csv("\n".join(text.splitlines()[:50]), today)  # warm: the floor is not the first call
        floor = counted(lambda: parse_clinic_csv(text, today))
        dry = counted(lambda: clinic.import_clinic(SYSTEM, text, dry_run=True))
        stored = counted(lambda: clinic.import_clinic(SYSTEM, text))
        again = counted(lambda: clinic.import_clinic(SYSTEM, text))
        engine.dispose()
    print(f"{rows} rows into PostgreSQL ({len(text) / 1e6:.1f} MB of CSV)")
    for name, (seconds, statements) in (
        ("read and judge the file (floor)", floor),
        ("dry run", dry),
        ("import", stored),
        ("import again (unchanged)", again),
    ):
        print(
            f"{name:>32}: {seconds:7.2f} s, {rows / seconds:9.0f} rows/s, {seconds / floor[0]:5.1f}x the floor,"
            f" {statements / rows:6.3f} SQL statements/row"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--seed", type=int, default=20270104)
    args = parser.parse_args(argv)
    for rows in args.rows:
        measure(rows, args.url, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

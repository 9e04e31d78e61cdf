"""Import speed: an existing clinic of N pumps into PostgreSQL (``shared/spec/clinic-import.md``).

    python benchmarks/clinic_import.py [--rows N] [--url URL] [--seed S]

Writes N valid rows (SynchroMed II, Prometra II and constant-flow pumps, simple and flexible
programs), creates a database of its own on the server of ``--url``, migrates it, and times in
one run: reading and judging the file alone (the floor: no database), a dry run (the file and
the record judged, nothing stored), the import itself, and a second import of the same file
(every row ``unchanged``). Prints rows per second and each as a ratio of the floor.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--seed", type=int, default=20270104)
    args = parser.parse_args(argv)
    today = date.today()
    text = clinic_file(args.rows, today, args.seed)
    with temporary_database(args.url) as url, tempfile.TemporaryDirectory() as home:
        engine = make_engine(url)
        migrate(engine)
        clinic = clinic_on(engine, ClinicConfig(data_dir=Path(home)))
        floor = timed(lambda: parse_clinic_csv(text, today))
        dry = timed(lambda: clinic.import_clinic(SYSTEM, text, dry_run=True))
        stored = timed(lambda: clinic.import_clinic(SYSTEM, text))
        again = timed(lambda: clinic.import_clinic(SYSTEM, text))
        engine.dispose()
    print(f"{args.rows} rows into PostgreSQL ({len(text) / 1e6:.1f} MB of CSV)")
    for name, seconds in (
        ("read and judge the file (floor)", floor),
        ("dry run", dry),
        ("import", stored),
        ("import again (unchanged)", again),
    ):
        print(f"{name:>32}: {seconds:7.2f} s, {args.rows / seconds:9.0f} rows/s, {seconds / floor:5.1f}x the floor")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Audit verification cost: the incremental check (from the last signed checkpoint) against a full one.

    python benchmarks/audit_verify.py [--entries N [N ...]] [--new K] [--runs R] [--url URL]

For each N (default: 2,000 and 20,000), in one run: a clinic of its own (SQLite in a temporary
directory, or a fresh database on the PostgreSQL server of ``--url``) gets N keyed audit entries
of realistic size (a pump's columns before and after), written through ``audit.record_many`` in
batches, and is verified once (the first checkpoint). Then R times: a full verification (every
entry, nothing written); K new entries (a morning's work); the admin's ``GET /api/audit`` work (a
page of 100 entries checked, and the K new ones verified: fewer than 100, so no checkpoint); an
incremental verification as ``itb audit verify`` makes it (the K new entries, a checkpoint
signed, its commit timed apart). Prints the median of each, the entries each read, and the
full/incremental ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from crash_campaign import temporary_database
from itb.adapters.db.engine import make_engine, migrate
from itb.bootstrap import clinic_on
from itb.clinic import audit, views
from itb.clinic.audit_check import Verification, verify
from itb.clinic.services import SYSTEM, Clinic, ClinicConfig

T = TypeVar("T")
BATCH = 1_000
START = datetime(2026, 1, 5, 8, 0)


def pump_row(rng: random.Random, pump_id: int, at: datetime) -> dict:
    """A pump's columns as the audit log keeps them (about 0.5 kB of JSON)."""
    return {
        "id": pump_id,
        "model": "synchromed-ii",
        "serial": f"SN-{pump_id:06d}",
        "status": "implanted",
        "version": rng.randint(1, 40),
        "reservoir_capacity_ml": 40.0,
        "reading_reservoir_ml": round(rng.uniform(2, 40), 2),
        "concentration_mcg_per_ml": rng.choice((500, 1000, 2000)),
        "program": {"steps": [{"start": "00:00", "rate_mcg_per_day": rng.randint(100, 800)}], "boluses": []},
        "reading_at": at.isoformat(),
        "low_reservoir_alarm_at": (at + timedelta(days=rng.randint(20, 90))).isoformat(),
    }


def entries(rng: random.Random, count: int, first: int) -> list[dict]:
    out = []
    for k in range(first, first + count):
        at = START + timedelta(minutes=7 * k)
        pump = rng.randint(1, 400)
        before = pump_row(rng, pump, at - timedelta(days=30))
        after = {**before, "reading_reservoir_ml": 40.0, "version": before["version"] + 1}
        out.append(
            {"at": at, "actor": "nurse", "action": "refill", "entity": "pump", "entity_id": pump}
            | {"before": audit.jsonable(before), "after": audit.jsonable(after)}
        )
    return out


def write(clinic: Clinic, rng: random.Random, count: int, first: int) -> None:
    for start in range(0, count, BATCH):
        with clinic.transaction() as s:
            audit.record_many(s, entries(rng, min(BATCH, count - start), first + start))


def timed(work: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    result = work()
    return (time.perf_counter() - t0) * 1000, result


def full_check(clinic: Clinic) -> tuple[float, Verification]:
    """A full verification, nothing written (ms)."""
    with clinic.sessions() as s:
        return timed(lambda: verify(s, full=True, save=False))


def incremental(clinic: Clinic) -> tuple[float, float, Verification]:
    """An incremental verification as ``itb audit verify`` makes it: its reads, then the commit of
    the checkpoint it signs (ms)."""
    t0 = time.perf_counter()
    with clinic.transaction() as s:
        reads, result = timed(lambda: verify(s, at=clinic.clock()))
    return reads, (time.perf_counter() - t0) * 1000 - reads, result


@contextlib.contextmanager
def database(url: str | None, home: Path) -> Iterator[str]:
    if url is None:
        yield f"sqlite:///{home / 'clinic.db'}"
    else:
        with temporary_database(url) as made:
            yield made


def measure(n: int, new: int, runs: int, url: str | None) -> None:
    rng = random.Random(n)
    times: dict[str, list[float]] = {"full": [], "incremental": [], "commit": [], "page": []}
    with tempfile.TemporaryDirectory() as home, database(url, Path(home)) as db_url:
        engine = make_engine(db_url)
        migrate(engine)
        clinic = clinic_on(engine, ClinicConfig(data_dir=Path(home)), clock=lambda: START)
        write(clinic, rng, n, 0)
        first_ms, _, first = incremental(clinic)
        for run in range(runs):
            full_ms, whole = full_check(clinic)
            write(clinic, rng, new, n + run * new)
            page_ms, page = timed(lambda: views.audit_page(clinic, SYSTEM, 100))  # reads the new ones, signs nothing
            reads_ms, commit_ms, since = incremental(clinic)  # reads them too, and signs
            assert whole.intact and since.intact and page.chain_intact
            for name, ms in zip(times, (full_ms, reads_ms, commit_ms, page_ms), strict=True):
                times[name].append(ms)
        engine.dispose()
    full, incr, commit, page_ms = (statistics.median(v) for v in times.values())
    print(f"{n:,} entries on {'PostgreSQL' if url else 'SQLite'} (median of {runs}):")
    print(f"  first verification (all, from the seal)   {first_ms:8.1f} ms  {first.checked:>7,} entries read")
    print(f"  full verification                         {full:8.1f} ms  {whole.checked:>7,} entries read")
    print(f"  incremental, {new} new entries              {incr:8.1f} ms  {since.checked:>7,} entries read")
    print(f"    + the commit of its signed checkpoint   {commit:8.1f} ms")
    print(f"  GET /api/audit's work (a page of 100)     {page_ms:8.1f} ms")
    print(f"  full / incremental                        {full / incr:8.0f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[2_000, 20_000])
    parser.add_argument("--new", type=int, default=20, help="entries written between two incremental checks")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url", default=None, help="a PostgreSQL server (default: SQLite)")
    args = parser.parse_args(argv)
    for n in args.entries:
        measure(n, args.new, args.runs, args.url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
